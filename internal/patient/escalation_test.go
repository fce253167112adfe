package patient_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

func careTeamIDs(t *testing.T, e *pt.Env, p *access.Principal, patientID string) []string {
	t.Helper()
	ms, err := e.Patients.CareTeam(ctx, p, patientID)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range ms {
		ids = append(ids, m.UserID)
	}
	return ids
}

// TestBreakGlassCareTeamChangeIsOnlyARequest: a clinician under an emergency
// grant who adds themselves (or anyone) to the care team changes nothing;
// the change waits, audited and flagged as break-glass, in the review queue,
// and a second ask returns the same request.
func TestBreakGlassCareTeamChangeIsOnlyARequest(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		er := pt.Clinician("ws1", "er1")
		x := create(t, e, doc, pt.Profile("Anna", "Smith"))
		g, err := e.Patients.BreakGlass(ctx, er, x.ID, "emergency", "Unconscious in the emergency room")
		if err != nil {
			t.Fatal(err)
		}
		var wait *patient.AwaitingApproval
		if err := e.Patients.AddToCareTeam(ctx, er, x.ID, "er1"); !errors.As(err, &wait) || wait.ChangeID == "" {
			t.Fatalf("self-add under break-glass: %v, want AwaitingApproval", err)
		}
		en := last(t, e)
		if en.Action != "careteam.add_request" || !en.BreakGlass || en.Purpose != "break_glass" || en.ActorUserID != "er1" || en.PatientID != x.ID {
			t.Fatalf("request audited as %+v", en.Event)
		}
		var again *patient.AwaitingApproval
		if err := e.Patients.AddToCareTeam(ctx, er, x.ID, "er1"); !errors.As(err, &again) || again.ChangeID != wait.ChangeID {
			t.Fatalf("second ask: %v, want the same request %s", err, wait.ChangeID)
		}
		if err := e.Patients.RemoveFromCareTeam(ctx, er, x.ID, "doc1"); !errors.As(err, new(*patient.AwaitingApproval)) {
			t.Fatalf("removing the treating doctor under break-glass: %v", err)
		}
		if ids := careTeamIDs(t, e, doc, x.ID); !slices.Equal(ids, []string{"doc1"}) {
			t.Fatalf("care team changed under break-glass: %v", ids)
		}
		// Representatives and portal access are lasting access too.
		rep := patient.Representative{Relationship: "parent", Name: "Ruth Smith", Email: "ruth@example.org"}
		if _, err := e.Patients.AddRepresentative(ctx, er, x.ID, rep); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("representative added under break-glass: %v", err)
		}
		if en := last(t, e); en.Reason != string(access.DenyGlassNoLasting) || !en.BreakGlass || en.Decision != "deny" {
			t.Fatalf("refused representative audited as %+v", en.Event)
		}
		// So are collaborators and sharing: the case is readable, not givable.
		title := "Knee"
		cs, err := e.Cases.Create(ctx, doc, x.ID, casefile.Input{Title: &title})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Cases.Get(ctx, er, cs.ID); err != nil {
			t.Fatalf("reading the case under break-glass: %v", err)
		}
		if err := e.Cases.AddCollaborator(ctx, er, cs.ID, "surgeon9"); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("collaborator invited under break-glass: %v", err)
		}
		if err := e.Cases.Share(ctx, er, cs.ID, casefile.Sharing{Shared: true}); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("case shared under break-glass: %v", err)
		}
		po := pt.Member("ws1", "po1", access.RolePrivacyOfficer)
		rs, err := e.Patients.Reviews(ctx, po)
		if err != nil || len(rs) != 1 || rs[0].ID != g.ID {
			t.Fatalf("reviews %+v %v", rs, err)
		}
		if n := rs[0].PendingChanges(); n != 2 || rs[0].Changes[0].UserID != "er1" || rs[0].Changes[0].Op != "add" || rs[0].PatientName != "Anna Smith" {
			t.Fatalf("review shows %d pending changes: %+v", n, rs[0])
		}
	})
}

// TestPrivacyOfficerApprovalMakesACareTeamChangeEffective: the requester
// cannot approve their own change, nor can another clinician; a privacy
// officer's approval adds the clinician, whose access is then ordinary
// (not flagged), and a rejected change changes nothing.
func TestPrivacyOfficerApprovalMakesACareTeamChangeEffective(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		er := pt.Clinician("ws1", "er1")
		x := create(t, e, doc, pt.Profile("Anna", "Smith"))
		if _, err := e.Patients.BreakGlass(ctx, er, x.ID, "emergency", "Unconscious in the emergency room"); err != nil {
			t.Fatal(err)
		}
		var add, remove *patient.AwaitingApproval
		if err := e.Patients.AddToCareTeam(ctx, er, x.ID, "er1"); !errors.As(err, &add) {
			t.Fatal(err)
		}
		if err := e.Patients.RemoveFromCareTeam(ctx, er, x.ID, "doc1"); !errors.As(err, &remove) {
			t.Fatal(err)
		}
		// The requester, even were they a privacy officer, may not approve.
		if err := e.Patients.DecideCareTeamChange(ctx, er, add.ChangeID, true); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("self-approval: %v", err)
		}
		if en := last(t, e); en.Action != "careteam.change_approve" || en.Reason != patient.ReasonSelfApproval || en.Decision != "deny" {
			t.Fatalf("self-approval audited as %+v", en.Event)
		}
		erAsOfficer := pt.Member("ws1", "er1", access.RolePrivacyOfficer)
		if err := e.Patients.DecideCareTeamChange(ctx, erAsOfficer, add.ChangeID, true); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("self-approval as privacy officer: %v", err)
		}
		if err := e.Patients.DecideCareTeamChange(ctx, doc, add.ChangeID, true); !errors.Is(err, patient.ErrForbidden) && !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("a clinician approved: %v", err)
		}
		otherPO := pt.Member("ws2", "po2", access.RolePrivacyOfficer)
		if err := e.Patients.DecideCareTeamChange(ctx, otherPO, add.ChangeID, true); !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("another workspace's privacy officer: %v", err)
		}
		po := pt.Member("ws1", "po1", access.RolePrivacyOfficer)
		if err := e.Patients.DecideCareTeamChange(ctx, po, remove.ChangeID, false); err != nil {
			t.Fatal(err)
		}
		if err := e.Patients.DecideCareTeamChange(ctx, po, add.ChangeID, true); err != nil {
			t.Fatal(err)
		}
		if en := last(t, e); en.Action != "careteam.change_approve" || en.ActorUserID != "po1" || en.Decision != "allow" || en.ResourceID != add.ChangeID {
			t.Fatalf("approval audited as %+v", en.Event)
		}
		if err := e.Patients.DecideCareTeamChange(ctx, po, add.ChangeID, true); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("deciding twice: %v", err)
		}
		if ids := careTeamIDs(t, e, doc, x.ID); !slices.Equal(ids, []string{"doc1", "er1"}) {
			t.Fatalf("care team after approval: %v", ids)
		}
		got, err := e.Patients.Get(ctx, er, x.ID)
		if err != nil || got.BreakGlass {
			t.Fatalf("after approval the access is ordinary: %v %+v", err, got)
		}
		rs, _ := e.Patients.Reviews(ctx, po)
		if rs[0].PendingChanges() != 0 || rs[0].Changes[0].Status != "approved" || rs[0].Changes[1].Status != "rejected" || rs[0].Changes[0].DecidedBy != "po1" {
			t.Fatalf("changes after decisions: %+v", rs[0].Changes)
		}
	})
}
