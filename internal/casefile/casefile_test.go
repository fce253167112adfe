package casefile_test

import (
	"context"
	"errors"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

var ctx = context.Background()

func s(v string) *string { return &v }

type world struct {
	e            *pt.Env
	doc          *access.Principal
	anna, ben    *patient.Patient
	caseA, caseB *casefile.Case // both Anna's; caseA is shared
	caseBen      *casefile.Case
}

func setup(t testing.TB, d *db.DB) *world {
	t.Helper()
	w := &world{e: pt.New(t, d), doc: pt.Clinician("ws1", "doc1")}
	var err error
	if w.anna, err = w.e.Patients.Create(ctx, w.doc, pt.Profile("Anna", "Smith")); err != nil {
		t.Fatal(err)
	}
	if w.ben, err = w.e.Patients.Create(ctx, w.doc, pt.Profile("Ben", "Jones")); err != nil {
		t.Fatal(err)
	}
	mk := func(pid, title string) *casefile.Case {
		c, err := w.e.Cases.Create(ctx, w.doc, pid, casefile.Input{Title: s(title), Date: s("2026-03-01"), Notes: s("pre-op notes")})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	w.caseA, w.caseB, w.caseBen = mk(w.anna.ID, "Rhinoplasty"), mk(w.anna.ID, "Private consult"), mk(w.ben.ID, "Knee")
	if err := w.e.Cases.Share(ctx, w.doc, w.caseA.ID, casefile.Sharing{Shared: true}); err != nil {
		t.Fatal(err)
	}
	return w
}

func TestEditsKeepEveryRevision(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := setup(t, d)
		c, err := w.e.Cases.Update(ctx, w.doc, w.caseA.ID, 1, casefile.Input{Notes: s("post-op: healing well")})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Cases.Update(ctx, w.doc, w.caseA.ID, 1, casefile.Input{Title: s("lost update")}); !errors.Is(err, patient.ErrConflict) {
			t.Fatalf("stale edit: %v", err)
		}
		if _, err := w.e.Cases.Update(ctx, w.doc, w.caseA.ID, c.Version, casefile.Input{Status: s("done")}); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("bad status: %v", err)
		}
		if _, err := w.e.Cases.Update(ctx, w.doc, w.caseA.ID, c.Version, casefile.Input{Status: s("closed"), Title: s("Rhinoplasty (closed)")}); err != nil {
			t.Fatal(err)
		}
		revs, err := w.e.Cases.Revisions(ctx, w.doc, w.caseA.ID)
		if err != nil || len(revs) != 3 {
			t.Fatalf("revisions %d %v", len(revs), err)
		}
		if revs[2].Notes != "pre-op notes" || revs[1].Notes != "post-op: healing well" || revs[0].Status != "closed" || revs[0].Title != "Rhinoplasty (closed)" {
			t.Fatalf("history %+v", revs)
		}
		got, _ := w.e.Cases.Get(ctx, w.doc, w.caseA.ID)
		if got.Version != 3 || got.Status != "closed" || got.Notes != "post-op: healing well" {
			t.Fatalf("current %+v", got)
		}
	})
}

func TestCommentsAreAppendOnlyAndOnlyTheirAuthorEditsThem(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := setup(t, d)
		c, err := w.e.Cases.AddComment(ctx, w.doc, w.caseA.ID, "", "Swelling looks normal", "")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Cases.AddComment(ctx, w.doc, w.caseA.ID, "annotation", "here", ""); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("annotation without anchor: %v", err)
		}
		if _, err := w.e.Cases.AddComment(ctx, w.doc, w.caseA.ID, "annotation", "nasal hump", "file:abc#x=1,y=2"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Cases.EditComment(ctx, w.doc, w.caseA.ID, c.ID, "Swelling looks normal for day 3", ""); err != nil {
			t.Fatal(err)
		}
		if err := w.e.Patients.AddToCareTeam(ctx, w.doc, w.anna.ID, "doc2"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Cases.EditComment(ctx, pt.Clinician("ws1", "doc2"), w.caseA.ID, c.ID, "rewritten", ""); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("edit by another: %v", err)
		}
		got, _ := w.e.Cases.Get(ctx, w.doc, w.caseA.ID)
		if len(got.Comments) != 2 || got.Comments[0].Text != "Swelling looks normal for day 3" || got.Comments[0].Versions != 2 || got.Comments[1].Anchor == "" {
			t.Fatalf("comments %+v", got.Comments)
		}
		var n int
		d.Read.QueryRow(`SELECT COUNT(*) FROM case_comments WHERE id = $1`, c.ID).Scan(&n)
		if n != 2 {
			t.Fatalf("%d stored versions, want both kept", n)
		}
	})
}

func TestCollaboratorSeesTheCaseAndSummaryOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := setup(t, d)
		colleague := pt.Clinician("ws-other", "surgeon9")
		if _, err := w.e.Cases.Get(ctx, colleague, w.caseA.ID); !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("before being added: %v", err)
		}
		if err := w.e.Cases.AddCollaborator(ctx, w.doc, w.caseA.ID, "surgeon9"); err != nil {
			t.Fatal(err)
		}
		got, err := w.e.Cases.Get(ctx, colleague, w.caseA.ID)
		if err != nil || got.Title != "Rhinoplasty" || len(got.Collaborators) != 1 {
			t.Fatalf("collaborator read: %v %+v", err, got)
		}
		if _, err := w.e.Cases.AddComment(ctx, colleague, w.caseA.ID, "", "I agree", ""); err != nil {
			t.Fatalf("collaborator comment: %v", err)
		}
		if sum, err := w.e.Patients.GetSummary(ctx, colleague, w.anna.ID); err != nil || sum.Summary.Name() != "Anna Smith" {
			t.Fatalf("summary: %v", err)
		}
		if _, err := w.e.Patients.Get(ctx, colleague, w.anna.ID); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("full profile: %v", err)
		}
		for _, id := range []string{w.caseB.ID, w.caseBen.ID} {
			if _, err := w.e.Cases.Get(ctx, colleague, id); !errors.Is(err, patient.ErrNotFound) {
				t.Fatalf("other case: %v", err)
			}
		}
		if _, err := w.e.Cases.List(ctx, colleague, w.anna.ID); err == nil {
			t.Fatal("collaborator listed the patient's cases")
		}
		if _, err := w.e.Cases.Update(ctx, colleague, w.caseA.ID, 1, casefile.Input{Title: s("x")}); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("collaborator edit: %v", err)
		}
		if err := w.e.Cases.RemoveCollaborator(ctx, w.doc, w.caseA.ID, "surgeon9"); err != nil {
			t.Fatal(err)
		}
		if _, err := w.e.Cases.Get(ctx, colleague, w.caseA.ID); !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("after removal: %v", err)
		}
		// Removing someone who is not (any longer) a collaborator is refused
		// and the log says the allowed removal did not happen.
		if err := w.e.Cases.RemoveCollaborator(ctx, w.doc, w.caseA.ID, "surgeon9"); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("remove twice: %v", err)
		}
		es := w.e.Entries(t)
		if en := es[len(es)-1]; en.Action != "case.collaborator_remove" || en.ResourceID != w.caseA.ID || en.Decision != "allow" || en.Outcome != "failure" {
			t.Fatalf("refused removal audited as %+v", en.Event)
		}
	})
}

func TestPatientAndRepresentativeSeeOnlySharedCases(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		w := setup(t, d)
		for _, p := range []*access.Principal{pt.PatientUser("u-anna", w.anna.ID), pt.Representative("u-mum", w.anna.ID)} {
			ls, err := w.e.Cases.List(ctx, p, w.anna.ID)
			if err != nil || len(ls) != 1 || ls[0].ID != w.caseA.ID {
				t.Fatalf("%s list: %v %+v", p.Role, err, ls)
			}
			got, err := w.e.Cases.Get(ctx, p, w.caseA.ID)
			if err != nil || !got.Limited || got.Notes != "" || got.Comments != nil || got.Title != "Rhinoplasty" {
				t.Fatalf("%s shared case: %v %+v", p.Role, err, got)
			}
			// An unshared case is invisible to the patient: not even its existence shows.
			if _, err := w.e.Cases.Get(ctx, p, w.caseB.ID); !errors.Is(err, patient.ErrNotFound) {
				t.Fatalf("%s unshared own case: %v", p.Role, err)
			}
			if _, err := w.e.Cases.Get(ctx, p, w.caseBen.ID); !errors.Is(err, patient.ErrNotFound) {
				t.Fatalf("%s another patient's case: %v", p.Role, err)
			}
			if _, err := w.e.Cases.Revisions(ctx, p, w.caseA.ID); !errors.Is(err, patient.ErrNotFound) {
				t.Fatalf("%s history: %v", p.Role, err)
			}
			if _, err := w.e.Cases.AddComment(ctx, p, w.caseA.ID, "", "hello", ""); err == nil {
				t.Fatalf("%s commented", p.Role)
			}
		}
		if err := w.e.Cases.Share(ctx, w.doc, w.caseA.ID, casefile.Sharing{Shared: true, NotesShared: true}); err != nil {
			t.Fatal(err)
		}
		got, _ := w.e.Cases.Get(ctx, pt.PatientUser("u-anna", w.anna.ID), w.caseA.ID)
		if got.Notes != "pre-op notes" {
			t.Fatalf("shared notes not shown: %+v", got)
		}
		if err := w.e.Cases.Share(ctx, w.doc, w.caseA.ID, casefile.Sharing{NotesShared: true}); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("notes without case: %v", err)
		}
	})
}

func TestStaffAndOtherWorkspacesSeeNoCase(t *testing.T) {
	w := setup(t, dbtest.SQLite(t))
	for _, p := range []*access.Principal{pt.Member("ws1", "staff", access.RoleStaff), pt.Clinician("ws2", "x"), pt.Member("ws1", "adm", access.RoleAdmin)} {
		if _, err := w.e.Cases.Get(ctx, p, w.caseA.ID); !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("%s: %v", p.Role, err)
		}
		if _, err := w.e.Cases.Create(ctx, p, w.anna.ID, casefile.Input{Title: s("x")}); err == nil {
			t.Fatalf("%s created a case", p.Role)
		}
	}
	es := w.e.Entries(t)
	if en := es[len(es)-1]; en.Decision != "deny" || en.Action != "case.create" {
		t.Fatalf("denied create audited as %+v", en.Event)
	}
}

func TestCaseReadsAreAuditedAndNeedTheLog(t *testing.T) {
	w := setup(t, dbtest.SQLite(t))
	if _, err := w.e.Cases.Get(ctx, w.doc, w.caseA.ID); err != nil {
		t.Fatal(err)
	}
	es := w.e.Entries(t)
	en := es[len(es)-1]
	if en.Action != "case.read" || en.ResourceID != w.caseA.ID || en.PatientID != w.anna.ID || en.Decision != "allow" {
		t.Fatalf("entry %+v", en.Event)
	}
	w.e.Audit.Down()
	defer w.e.Audit.Up()
	if got, err := w.e.Cases.Get(ctx, w.doc, w.caseA.ID); !errors.Is(err, audit.ErrUnavailable) || got != nil {
		t.Fatalf("audit down: %v", err)
	}
}

func TestBreakGlassOpensCasesAndMarksEveryEntry(t *testing.T) {
	w := setup(t, dbtest.SQLite(t))
	er := pt.Clinician("ws1", "er")
	if _, err := w.e.Cases.Get(ctx, er, w.caseA.ID); !errors.Is(err, patient.ErrNotFound) {
		t.Fatalf("before: %v", err)
	}
	if _, err := w.e.Patients.BreakGlass(ctx, er, w.anna.ID, "emergency", "Bleeding after surgery, on call"); err != nil {
		t.Fatal(err)
	}
	got, err := w.e.Cases.Get(ctx, er, w.caseA.ID)
	if err != nil || !got.BreakGlass {
		t.Fatalf("under break-glass: %v", err)
	}
	es := w.e.Entries(t)
	if en := es[len(es)-1]; !en.BreakGlass || en.Purpose != "break_glass" {
		t.Fatalf("entry %+v", en.Event)
	}
}

func TestListForTakesOnlyAStandingLoadedForTheSamePrincipal(t *testing.T) {
	w := setup(t, dbtest.SQLite(t))
	rec, err := w.e.Patients.ViewRecord(ctx, w.doc, w.anna.ID)
	if err != nil || len(rec.CareTeam) != 1 || rec.Patient.Limited {
		t.Fatalf("record %+v %v", rec, err)
	}
	got, err := w.e.Cases.ListFor(ctx, w.doc, rec.Standing)
	if err != nil || len(got) != 2 {
		t.Fatalf("cases %+v %v", got, err)
	}
	es := w.e.Entries(t)
	if en := es[len(es)-1]; en.Action != "case.list" || en.Decision != "allow" || en.PatientID != w.anna.ID {
		t.Fatalf("list audited as %+v", en.Event)
	}
	n := len(es)
	if _, err := w.e.Cases.ListFor(ctx, pt.Clinician("ws1", "doc2"), rec.Standing); err == nil {
		t.Fatal("a standing loaded for doc1 listed cases for doc2")
	}
	if _, err := w.e.Cases.ListFor(ctx, w.doc, patient.Standing{}); err == nil {
		t.Fatal("an empty standing listed cases")
	}
	if len(w.e.Entries(t)) != n {
		t.Fatal("a refused ListFor released an entry")
	}
}
