package consent_test

import (
	"context"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/notice"
)

// Each consent event and consent text remembers the privacy notice version
// in force when it was recorded: the workspace's, else the platform's, and
// nothing when none was published.
func TestConsentRemembersTheNoticeItWasGivenUnder(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		e := newEnv(t, d)
		ns := notice.New(d, e.log)
		ns.SetClock(e.clock)
		e.svc.SetNoticeInForce(ns.InForceID)
		operator := &access.Principal{UserID: "u_op", Role: access.RoleOperator}
		admin := memberP("u_admin", access.RoleAdmin)

		before := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Grant})
		if before.NoticeID != "" {
			t.Fatalf("no notice published, event remembers %q", before.NoticeID)
		}
		e.advance(1e9)
		platform, err := ns.Publish(ctx, operator, notice.NewVersion{Title: "Platform", Body: notice.ExampleBody})
		if err != nil {
			t.Fatal(err)
		}
		e.advance(1e9)
		underPlatform := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Withdraw})
		txt, err := e.svc.PublishText(ctx, operator, consent.NewText{Purpose: consent.ScientificResearch, Body: "New research wording"})
		if err != nil {
			t.Fatal(err)
		}
		e.advance(1e9)
		clinic, err := ns.Publish(ctx, admin, notice.NewVersion{WorkspaceID: ws, Title: "Clinic", Body: notice.ExampleBody})
		if err != nil {
			t.Fatal(err)
		}
		e.advance(1e9)
		underClinic := e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Grant})
		if underPlatform.NoticeID != platform.ID || underClinic.NoticeID != clinic.ID || txt.NoticeID != platform.ID {
			t.Fatalf("event under platform %q (want %q), under clinic %q (want %q), text %q", underPlatform.NoticeID, platform.ID, underClinic.NoticeID, clinic.ID, txt.NoticeID)
		}
		// The stored rows say the same when read back.
		o, err := e.svc.Overview(ctx, patientP(adult), adult)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, ev := range o.History {
			got[ev.ID] = ev.NoticeID
		}
		if got[before.ID] != "" || got[underPlatform.ID] != platform.ID || got[underClinic.ID] != clinic.ID {
			t.Fatalf("history notice ids %v", got)
		}
		texts, err := e.svc.Texts(ctx, consent.ScientificResearch)
		if err != nil || len(texts) != 2 || texts[0].NoticeID != "" || texts[1].NoticeID != platform.ID {
			t.Fatalf("texts %+v %v", texts, err)
		}
	})
}
