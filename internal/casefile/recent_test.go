package casefile_test

import (
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// TestRecentListsOnlyTheCasesAClinicianWorksOn: the care-team clinician
// gets their cases newest first with comment counts; a collaborator from
// another practice gets only the case they collaborate on; staff and a
// clinician of another workspace get nothing, and nothing is audited for
// them; each case shown is one case.recent entry.
func TestRecentListsOnlyTheCasesAClinicianWorksOn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := setup(t, d)
		if _, err := w.e.Cases.AddComment(ctx, w.doc, w.caseA.ID, "", "Plan agreed", ""); err != nil {
			t.Fatal(err)
		}
		before := len(w.e.Entries(t))
		got, err := w.e.Cases.Recent(ctx, w.doc, 10)
		if err != nil || len(got) != 3 {
			t.Fatalf("care team: %d cases, %v", len(got), err)
		}
		if got[0].Title != "Rhinoplasty" || got[0].Comments != 1 || got[0].LastCommentBy != "doc1" || got[0].PatientID != w.anna.ID {
			t.Errorf("newest (just commented): %+v", got[0])
		}
		n := 0
		for _, e := range w.e.Entries(t)[before:] {
			if e.Action == "case.recent" && e.Decision == "allow" {
				n++
			}
		}
		if n != 3 {
			t.Errorf("%d case.recent entries, want 3", n)
		}
		colleague := pt.Clinician("ws-other", "surgeon9")
		if err := w.e.Cases.AddCollaborator(ctx, w.doc, w.caseB.ID, "surgeon9"); err != nil {
			t.Fatal(err)
		}
		if got, err := w.e.Cases.Recent(ctx, colleague, 10); err != nil || len(got) != 1 || got[0].ID != w.caseB.ID {
			t.Fatalf("collaborator: %+v %v", got, err)
		}
		before = len(w.e.Entries(t))
		for _, p := range []*access.Principal{pt.Member("ws1", "staff", access.RoleStaff), pt.Clinician("ws2", "x")} {
			if got, err := w.e.Cases.Recent(ctx, p, 10); err != nil || len(got) != 0 {
				t.Errorf("%s: %d cases, %v", p.Role, len(got), err)
			}
		}
		if after := len(w.e.Entries(t)); after != before {
			t.Errorf("%d entries for people with no cases", after-before)
		}
	})
}
