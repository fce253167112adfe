package consent_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestUnsubscribeWithdrawsMarketingOnlyOnceAndIsAudited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		ctx := context.Background()
		e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.Marketing, Action: consent.Grant})
		e.mustRecord(patientP(adult), consent.Change{PatientID: adult, Purpose: consent.ScientificResearch, Action: consent.Grant})
		before := e.advance(time.Minute)
		if !e.allows(adult, consent.Marketing, before).Allowed {
			t.Fatal("marketing not allowed after the grant")
		}
		e.advance(time.Minute)
		done, err := e.svc.RecordUnsubscribe(ctx, adult, consent.Marketing)
		if err != nil || !done {
			t.Fatalf("unsubscribe: %v %v", done, err)
		}
		after := e.advance(time.Minute)
		if dec := e.allows(adult, consent.Marketing, after); dec.Allowed || dec.Reason != consent.ReasonWithdrawn {
			t.Fatalf("after unsubscribe: %+v", dec)
		}
		// Earlier use stays lawful; other purposes are untouched.
		if !e.allows(adult, consent.Marketing, before).Allowed || !e.allows(adult, consent.ScientificResearch, after).Allowed {
			t.Fatal("the withdrawal reached back in time or beyond marketing")
		}
		// A second click (a link scanner, a double click) records nothing.
		if again, err := e.svc.RecordUnsubscribe(ctx, adult, consent.Marketing); err != nil || again {
			t.Fatalf("second unsubscribe: %v %v", again, err)
		}
		o, err := e.svc.Overview(ctx, patientP(adult), adult)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, ev := range o.History {
			if ev.Method == consent.UnsubscribeLink {
				n++
				if ev.Action != consent.Withdraw || ev.DecidedBy != consent.ByPatient || ev.RecordedBy != consent.UnsubscribeRecorder || ev.Purpose != consent.Marketing {
					t.Errorf("ledger row %+v", ev)
				}
			}
		}
		if n != 1 {
			t.Fatalf("%d unsubscribe rows, want 1", n)
		}
		pg, err := e.log.Query(ctx, audit.Filter{PatientID: adult, WorkspaceID: ws})
		if err != nil {
			t.Fatal(err)
		}
		found := false
		for _, a := range pg.Entries {
			if a.Action == "consent.withdraw" && a.Reason == string(consent.UnsubscribeLink) && a.Purpose == string(consent.Marketing) {
				found = true
			}
		}
		if !found {
			t.Fatal("no audit entry for the unsubscribe")
		}
	})
}

func TestUnsubscribeNeverWithdrawsCarePurposes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		for _, p := range []consent.PurposeCode{consent.ProvidingService, consent.ScientificResearch, consent.CareCoordination, "nonsense"} {
			if _, err := e.svc.RecordUnsubscribe(context.Background(), adult, p); !errors.Is(err, consent.ErrNotUnsubscribable) {
				t.Errorf("%s: %v", p, err)
			}
		}
	})
}

// A withdrawal needs no representative: a minor's own click stops news.
func TestUnsubscribeWorksForAMinorAndWithoutAGrant(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newEnv(t, d)
		if done, err := e.svc.RecordUnsubscribe(context.Background(), minor, consent.Marketing); err != nil || !done {
			t.Fatalf("minor: %v %v", done, err)
		}
		if dec := e.allows(minor, consent.Marketing, e.advance(time.Second)); dec.Allowed {
			t.Fatalf("minor after unsubscribe: %+v", dec)
		}
	})
}
