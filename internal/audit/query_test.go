package audit

import (
	"context"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestQueryFiltersAndPagesNewestFirst(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		base := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		l := openLog(t, d, newKey(t), Options{})
		ctx := context.Background()
		for i := range 60 {
			e := event(i)
			e.Time = base.Add(time.Duration(i) * time.Hour)
			if _, err := l.Append(ctx, e); err != nil {
				t.Fatal(err)
			}
		}
		// Patient p-3 has entries i = 3, 14, 25, 36, 47, 58 (seq = i+1).
		var got []int64
		f := Filter{PatientID: "p-3", Limit: 4}
		for {
			p, err := l.Query(ctx, f)
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range p.Entries {
				if e.PatientID != "p-3" || e.Action != "patient.read" || !e.Time.Equal(base.Add(time.Duration(e.Seq-1)*time.Hour)) {
					t.Fatalf("entry %+v", e)
				}
				got = append(got, e.Seq)
			}
			if p.Next == 0 {
				break
			}
			f.Cursor = p.Next
		}
		want := []int64{59, 48, 37, 26, 15, 4}
		if len(got) != len(want) {
			t.Fatalf("got %v, want %v", got, want)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("got %v, want %v", got, want)
			}
		}
		// Combined filters and a time window [from, to).
		p, err := l.Query(ctx, Filter{ActorUserID: "u-1", WorkspaceID: "w-1", From: base.Add(10 * time.Hour), To: base.Add(50 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		// i ≡ 1 mod 7 and i ≡ 1 mod 3 → i ≡ 1 mod 21: i = 22, 43 in [10, 50).
		if len(p.Entries) != 2 || p.Entries[0].Seq != 44 || p.Entries[1].Seq != 23 || p.Next != 0 {
			t.Fatalf("combined filter: %+v", p)
		}
		if p.Entries[0].WorkspaceID != "w-1" || p.Entries[0].ActorUserID != "u-1" {
			t.Fatalf("entry fields: %+v", p.Entries[0])
		}
		if p, err := l.Query(ctx, Filter{Action: "nothing.like.this"}); err != nil || len(p.Entries) != 0 {
			t.Fatalf("no match: %+v %v", p, err)
		}
	})
}
