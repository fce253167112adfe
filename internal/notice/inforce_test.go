package notice_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/notice"
)

func forEachDB(t *testing.T, f func(t *testing.T, s *notice.Service)) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) { f(t, newService(t, d)) })
}

func TestInForceIsTheWorkspacesNoticeElseThePlatformsAtThatTime(t *testing.T) {
	forEachDB(t, func(t *testing.T, s *notice.Service) {
		ctx := context.Background()
		clock := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		s.SetClock(func() time.Time { return clock })
		if _, err := s.InForce(ctx, "ws_a", clock); !errors.Is(err, notice.ErrNotFound) {
			t.Fatalf("nothing published: %v", err)
		}
		if id, err := s.InForceID(ctx, "ws_a", clock); id != "" || err != nil {
			t.Fatalf("InForceID with nothing published = %q, %v", id, err)
		}
		p1, err := s.Publish(ctx, operator, notice.NewVersion{Title: "Platform", Body: notice.ExampleBody})
		if err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Hour)
		w1, err := s.Publish(ctx, wsAdmin, notice.NewVersion{WorkspaceID: "ws_a", Title: "Clinic", Body: notice.ExampleBody})
		if err != nil {
			t.Fatal(err)
		}
		clock = clock.Add(time.Hour)
		w2, err := s.Publish(ctx, wsAdmin, notice.NewVersion{WorkspaceID: "ws_a", Title: "Clinic", Body: notice.ExampleBody + "v2"})
		if err != nil {
			t.Fatal(err)
		}
		for _, tc := range []struct {
			name string
			ws   string
			at   time.Time
			want string
		}{
			{"before the workspace published, the platform's", "ws_a", w1.PublishedAt.Add(-time.Minute), p1.ID},
			{"the workspace's first version", "ws_a", w1.PublishedAt.Add(time.Minute), w1.ID},
			{"the workspace's current version", "ws_a", w2.PublishedAt, w2.ID},
			{"another workspace gets the platform's", "ws_b", w2.PublishedAt, p1.ID},
			{"no workspace gets the platform's", "", w2.PublishedAt, p1.ID},
		} {
			v, err := s.InForce(ctx, tc.ws, tc.at)
			if err != nil || v.ID != tc.want {
				t.Errorf("%s: got %s %v, want %s", tc.name, v.ID, err, tc.want)
			}
		}
	})
}

func TestProcessorBAAIsMissingUnlessItReceivesNoPHI(t *testing.T) {
	for _, tc := range []struct {
		name     string
		baa, phi bool
		state    string
	}{
		{"agreement in place", true, true, notice.BAAInPlace},
		{"agreement in place, no PHI", true, false, notice.BAAInPlace},
		{"PHI without agreement", false, true, notice.BAAMissing},
		{"no PHI, no agreement", false, false, notice.BAANotNeeded},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forEachDB(t, func(t *testing.T, s *notice.Service) {
				ctx := context.Background()
				if _, err := s.AddProcessor(ctx, wsAdmin, notice.Processor{WorkspaceID: "ws_a", Name: "P", Purpose: "x", BAA: tc.baa, ReceivesPHI: tc.phi, DataCategories: "d", Location: "EU"}); err != nil {
					t.Fatal(err)
				}
				list, err := s.Processors(ctx, "ws_a")
				if err != nil || len(list) != 1 {
					t.Fatalf("%v %v", list, err)
				}
				if got := list[0].BAAState(); got != tc.state {
					t.Fatalf("state %s, want %s (%s)", got, tc.state, list[0].BAAWords())
				}
			})
		})
	}
}
