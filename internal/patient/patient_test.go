package patient_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

var ctx = context.Background()

func create(t *testing.T, e *pt.Env, p *access.Principal, prof patient.Profile) *patient.Patient {
	t.Helper()
	x, err := e.Patients.Create(ctx, p, prof)
	if err != nil {
		t.Fatalf("create patient: %v", err)
	}
	return x
}

func last(t *testing.T, e *pt.Env) audit.Entry {
	t.Helper()
	es := e.Entries(t)
	return es[len(es)-1]
}

// wantFailed checks that the last audit entry records an allowed action by
// actor on resource id that did not complete.
func wantFailed(t *testing.T, e *pt.Env, action, id, actor string) {
	t.Helper()
	en := last(t, e)
	if en.Action != action || en.ResourceID != id || en.ActorUserID != actor || en.Decision != "allow" || en.Outcome != "failure" {
		t.Fatalf("refused %s audited as %+v", action, en.Event)
	}
}

func TestCreatedPatientIsReadByItsCreatorAndAudited(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		prof := pt.Profile("Anna", "Smith")
		prof.Email = "anna@example.org"
		prof.MRN = "MRN-1"
		x := create(t, e, doc, prof)
		got, err := e.Patients.Get(ctx, doc, x.ID)
		if err != nil {
			t.Fatal(err)
		}
		if got.Profile != prof || got.Limited || got.BreakGlass {
			t.Fatalf("read back %+v, want %+v", got.Profile, prof)
		}
		en := last(t, e)
		if en.Action != "patient.read" || en.PatientID != x.ID || en.ResourceID != x.ID || en.Decision != "allow" ||
			en.Reason != string(access.AllowCareTeam) || en.Purpose != "treatment" || en.Outcome != "success" || en.ActorUserID != "doc1" {
			t.Fatalf("audit entry %+v", en.Event)
		}
		team, err := e.Patients.CareTeam(ctx, doc, x.ID)
		if err != nil || len(team) != 1 || team[0].UserID != "doc1" {
			t.Fatalf("care team %v %v", team, err)
		}
	})
}

func TestProfileValidationNamesEachBadField(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, c := range []struct {
		name  string
		edit  func(*patient.Profile)
		field string
	}{
		{"missing given name", func(p *patient.Profile) { p.GivenName = "" }, "given_name"},
		{"missing family name", func(p *patient.Profile) { p.FamilyName = " " }, "family_name"},
		{"birth date not a real day", func(p *patient.Profile) { p.BirthDate = "2001-02-30" }, "birth_date"},
		{"birth date in the future", func(p *patient.Profile) { p.BirthDate = "2030-01-01" }, "birth_date"},
		{"birth date missing", func(p *patient.Profile) { p.BirthDate = "" }, "birth_date"},
		{"email without domain", func(p *patient.Profile) { p.Email = "anna@" }, "email"},
		{"email with display name", func(p *patient.Profile) { p.Email = "Anna <anna@example.org>" }, "email"},
		{"phone with letters", func(p *patient.Profile) { p.Phone = "call me" }, "phone"},
		{"height in metres", func(p *patient.Profile) { p.HeightCM = 2 }, "height_cm"},
		{"height absurd", func(p *patient.Profile) { p.HeightCM = 400 }, "height_cm"},
		{"laterality unknown", func(p *patient.Profile) { p.Laterality = "both" }, "laterality"},
		{"sex unknown value", func(p *patient.Profile) { p.BiologicalSex = "x" }, "biological_sex"},
		{"mrn with spaces", func(p *patient.Profile) { p.MRN = "a b" }, "mrn"},
		{"control characters in a name", func(p *patient.Profile) { p.GivenName = "An\x00na" }, "given_name"},
	} {
		t.Run(c.name, func(t *testing.T) {
			p := pt.Profile("Anna", "Smith")
			c.edit(&p)
			p.Normalise()
			err := p.Validate(now)
			var inv *patient.InvalidError
			if !errors.As(err, &inv) || inv.Fields[c.field] == "" || !errors.Is(err, patient.ErrInvalid) {
				t.Fatalf("got %v, want a reason for %s", err, c.field)
			}
		})
	}
	ok := pt.Profile("Anna", "Smith")
	ok.Email, ok.Phone, ok.HeightCM, ok.MRN = "anna@example.org", "+44 (20) 7946-0958", 172, "A-12/3"
	if err := ok.Validate(now); err != nil {
		t.Fatalf("valid profile refused: %v", err)
	}
}

func TestInvalidCreateChangesNothingAndIsNotAudited(t *testing.T) {
	d := dbtest.SQLite(t)
	e := pt.New(t, d)
	p := pt.Profile("Anna", "")
	if _, err := e.Patients.Create(ctx, pt.Clinician("ws1", "doc1"), p); !errors.Is(err, patient.ErrInvalid) {
		t.Fatalf("got %v", err)
	}
	var n int
	d.Read.QueryRow(`SELECT COUNT(*) FROM patients`).Scan(&n)
	if n != 0 || len(e.Entries(t)) != 0 {
		t.Fatalf("%d patients, %d entries after a refused create", n, len(e.Entries(t)))
	}
}

func TestWhoSeesWhatOfAPatient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		x := create(t, e, doc, pt.Profile("Anna", "Smith"))
		y := create(t, e, doc, pt.Profile("Ben", "Jones"))
		for _, c := range []struct {
			name       string
			p          *access.Principal
			full, summ error
			wantReason access.Reason
		}{
			{"creator", doc, nil, nil, access.AllowCareTeam},
			{"clinician of the workspace not on the care team", pt.Clinician("ws1", "doc2"), patient.ErrForbidden, nil, access.DenyNotCareTeam},
			{"clinician of another workspace", pt.Clinician("ws2", "doc9"), patient.ErrNotFound, patient.ErrNotFound, access.DenyOtherWorkspace},
			{"front desk (demographics, nothing clinical)", pt.Member("ws1", "staff1", access.RoleStaff), nil, nil, access.AllowWorkspaceRole},
			{"admin", pt.Member("ws1", "admin1", access.RoleAdmin), patient.ErrForbidden, nil, access.DenyRole},
			{"privacy officer", pt.Member("ws1", "po1", access.RolePrivacyOfficer), nil, nil, access.AllowWorkspaceRole},
			{"the patient", pt.PatientUser("u-anna", x.ID), nil, nil, access.AllowSelf},
			{"their representative", pt.Representative("u-mum", x.ID), nil, nil, access.AllowRepresentative},
			{"another patient", pt.PatientUser("u-ben", y.ID), patient.ErrNotFound, patient.ErrNotFound, access.DenyNotSelf},
			{"nobody", nil, patient.ErrNotFound, patient.ErrNotFound, access.DenyNoPrincipal},
			{"operator", &access.Principal{UserID: "op", Role: access.RoleOperator}, patient.ErrNotFound, patient.ErrNotFound, access.DenyOperator},
		} {
			t.Run(c.name, func(t *testing.T) {
				got, err := e.Patients.Get(ctx, c.p, x.ID)
				if !errors.Is(err, c.full) && !(c.full == nil && err == nil) {
					t.Fatalf("full read: %v, want %v", err, c.full)
				}
				if err == nil && got.Profile.GivenName != "Anna" {
					t.Fatal("wrong record")
				}
				if err != nil && got != nil {
					t.Fatal("a denied read returned data")
				}
				en := last(t, e)
				if en.Reason != string(c.wantReason) || en.PatientID != x.ID || (err == nil) != (en.Decision == "allow") {
					t.Fatalf("audit %+v", en.Event)
				}
				if err != nil && en.Outcome != "denied" {
					t.Fatalf("denied read audited as %q", en.Outcome)
				}
				s, err := e.Patients.GetSummary(ctx, c.p, x.ID)
				if !errors.Is(err, c.summ) && !(c.summ == nil && err == nil) {
					t.Fatalf("summary read: %v, want %v", err, c.summ)
				}
				if err == nil && (s.Summary.Name() != "Anna Smith" || !s.Limited || s.Profile.Laterality != "") {
					t.Fatalf("summary %+v", s)
				}
			})
		}
		if _, err := e.Patients.Get(ctx, doc, "0123456789abcdef0123456789abcdef"); !errors.Is(err, patient.ErrNotFound) {
			t.Fatalf("unknown id: %v", err)
		}
		if en := last(t, e); en.Reason != patient.ReasonNotFound || en.Decision != "deny" {
			t.Fatalf("unknown id audited as %+v", en.Event)
		}
	})
}

func TestBreakGlassNeedsAReasonGrantsTimedAccessAndQueuesAReview(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		x := create(t, e, pt.Clinician("ws1", "doc1"), pt.Profile("Anna", "Smith"))
		er := pt.Clinician("ws1", "er1")
		for _, c := range []struct{ code, reason, field string }{
			{"", "patient unconscious in ER", "reason_code"},
			{"vibes", "patient unconscious in ER", "reason_code"},
			{"emergency", "short", "reason"},
			{"emergency", "          x", "reason"},
		} {
			var inv *patient.InvalidError
			if _, err := e.Patients.BreakGlass(ctx, er, x.ID, c.code, c.reason); !errors.As(err, &inv) || inv.Fields[c.field] == "" {
				t.Fatalf("%+v: %v", c, err)
			}
		}
		if _, err := e.Patients.Get(ctx, er, x.ID); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("before break-glass: %v", err)
		}
		g, err := e.Patients.BreakGlass(ctx, er, x.ID, "emergency", "Unconscious in the emergency room")
		if err != nil {
			t.Fatal(err)
		}
		if en := last(t, e); en.Action != "breakglass.open" || en.Decision != "allow" {
			t.Fatalf("open audited as %+v", en.Event)
		}
		if got := g.ExpiresAt.Sub(g.CreatedAt); got != 4*time.Hour {
			t.Fatalf("grant lasts %v", got)
		}
		got, err := e.Patients.Get(ctx, er, x.ID)
		if err != nil || !got.BreakGlass || got.Profile.GivenName != "Anna" {
			t.Fatalf("under break-glass: %v %+v", err, got)
		}
		en := last(t, e)
		if !en.BreakGlass || en.Purpose != "break_glass" || en.Reason != string(access.AllowBreakGlass) {
			t.Fatalf("break-glass read audited as %+v", en.Event)
		}
		if len(e.Alerts.Sent) != 1 || e.Alerts.Sent[0].GrantID != g.ID {
			t.Fatalf("alerts %+v", e.Alerts.Sent)
		}
		// The care team member cannot break glass: nothing to break.
		if _, err := e.Patients.BreakGlass(ctx, pt.Clinician("ws1", "doc1"), x.ID, "emergency", "Unconscious in the emergency room"); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("care team break-glass: %v", err)
		}
		po := pt.Member("ws1", "po1", access.RolePrivacyOfficer)
		rs, err := e.Patients.Reviews(ctx, po)
		if err != nil || len(rs) != 1 || rs[0].Status != "pending" || rs[0].Reason != "Unconscious in the emergency room" || rs[0].UserID != "er1" {
			t.Fatalf("reviews %+v %v", rs, err)
		}
		if _, err := e.Patients.Reviews(ctx, er); !errors.Is(err, patient.ErrNotFound) && !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("clinician read the review queue: %v", err)
		}
		if err := e.Patients.MarkReviewed(ctx, po, g.ID, "Confirmed with the ER rota."); err != nil {
			t.Fatal(err)
		}
		rs, _ = e.Patients.Reviews(ctx, po)
		if rs[0].Status != "reviewed" || rs[0].ReviewedBy != "po1" || rs[0].Notes != "Confirmed with the ER rota." {
			t.Fatalf("after review %+v", rs[0])
		}
		if err := e.Patients.MarkReviewed(ctx, po, g.ID, "again"); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("second review: %v", err)
		}
		wantFailed(t, e, "breakglass.review", g.ID, "po1")
		// The grant runs out.
		later := patient.New(patient.Config{DB: d, Keys: e.Keys, Audit: e.Audit, Now: func() time.Time { return time.Now().Add(5 * time.Hour) }})
		if _, err := later.Get(ctx, er, x.ID); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("after expiry: %v", err)
		}
	})
}

func TestSearchFindsByNameTokenBirthDateMRNAndEmailWithinTheWorkspaceOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		a := pt.Profile("Anna Maria", "Smith-Jones")
		a.Email, a.MRN, a.BirthDate = "Anna.Smith@Example.org", "MRN-7", "1975-06-01"
		x := create(t, e, doc, a)
		create(t, e, doc, pt.Profile("Ben", "Smith"))
		create(t, e, pt.Clinician("ws2", "doc2"), pt.Profile("Anna", "Smith"))
		for _, c := range []struct {
			name string
			q    patient.Query
			want int
		}{
			{"one name word finds both Smiths", patient.Query{Name: "smith"}, 2},
			{"first name", patient.Query{Name: "ANNA"}, 1},
			{"every word must match", patient.Query{Name: "anna smith"}, 1},
			{"part of a double-barrelled name", patient.Query{Name: "jones"}, 1},
			{"middle name", patient.Query{Name: "maria"}, 1},
			{"no prefix matching", patient.Query{Name: "smi"}, 0},
			{"birth date", patient.Query{BirthDate: "1975-06-01"}, 1},
			{"mrn case-insensitive", patient.Query{MRN: "mrn-7"}, 1},
			{"email case-insensitive", patient.Query{Email: "anna.smith@example.org"}, 1},
			{"name and wrong date", patient.Query{Name: "anna", BirthDate: "1980-04-12"}, 0},
		} {
			t.Run(c.name, func(t *testing.T) {
				pg, err := e.Patients.Search(ctx, doc, c.q)
				if err != nil {
					t.Fatal(err)
				}
				if len(pg.Patients) != c.want {
					t.Fatalf("found %d, want %d", len(pg.Patients), c.want)
				}
				if c.want == 1 && c.q.Name != "jones" && pg.Patients[0].ID != x.ID && c.name != "first name" {
					t.Fatalf("found the wrong patient")
				}
			})
		}
		if _, err := e.Patients.Search(ctx, doc, patient.Query{}); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("empty query: %v", err)
		}
		if _, err := e.Patients.Search(ctx, &access.Principal{UserID: "op", Role: access.RoleOperator}, patient.Query{Name: "smith"}); err == nil {
			t.Fatal("an operator without a grant searched patients")
		}
	})
}

func TestListAuditsTheRequestAndEachPatientShown(t *testing.T) {
	e := pt.New(t, dbtest.SQLite(t))
	doc := pt.Clinician("ws1", "doc1")
	for i := 0; i < patient.PageSize+3; i++ {
		create(t, e, doc, pt.Profile("P", "N"))
	}
	before := len(e.Entries(t))
	pg, err := e.Patients.List(ctx, doc, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(pg.Patients) != patient.PageSize || pg.Next == "" {
		t.Fatalf("page of %d, next %q", len(pg.Patients), pg.Next)
	}
	es := e.Entries(t)[before:]
	if len(es) != patient.PageSize+1 {
		t.Fatalf("%d entries for a page of %d", len(es), patient.PageSize)
	}
	perPatient := map[string]bool{}
	for _, en := range es {
		if en.Action != "patient.list" || en.Decision != "allow" {
			t.Fatalf("entry %+v", en.Event)
		}
		if en.ResourceType == "patient" {
			perPatient[en.PatientID] = true
		}
	}
	for _, l := range pg.Patients {
		if !perPatient[l.ID] {
			t.Fatalf("patient %s shown without an entry", l.ID)
		}
	}
	pg2, err := e.Patients.List(ctx, doc, pg.Next)
	if err != nil || len(pg2.Patients) != 3 || pg2.Next != "" {
		t.Fatalf("second page %d %q %v", len(pg2.Patients), pg2.Next, err)
	}
	if _, err := e.Patients.List(ctx, doc, "bogus"); !errors.Is(err, patient.ErrInvalid) {
		t.Fatalf("bad cursor: %v", err)
	}
}

func TestNoAuditNoData(t *testing.T) {
	e := pt.New(t, dbtest.SQLite(t))
	doc := pt.Clinician("ws1", "doc1")
	x := create(t, e, doc, pt.Profile("Anna", "Smith"))
	e.Audit.Down()
	defer e.Audit.Up()
	if got, err := e.Patients.Get(ctx, doc, x.ID); !errors.Is(err, audit.ErrUnavailable) || got != nil {
		t.Fatalf("get: %v %v", got, err)
	}
	if got, err := e.Patients.List(ctx, doc, ""); !errors.Is(err, audit.ErrUnavailable) || got != nil {
		t.Fatalf("list: %v", err)
	}
	if got, err := e.Patients.Search(ctx, doc, patient.Query{Name: "anna"}); !errors.Is(err, audit.ErrUnavailable) || got != nil {
		t.Fatalf("search: %v", err)
	}
	if _, err := e.Patients.Create(ctx, doc, pt.Profile("Ben", "Jones")); !errors.Is(err, audit.ErrUnavailable) {
		t.Fatalf("create: %v", err)
	}
}

func TestUpdateReindexesAndRefusesAStaleVersion(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		x := create(t, e, doc, pt.Profile("Anna", "Smith"))
		p := x.Profile
		p.FamilyName = "Brown"
		up, err := e.Patients.Update(ctx, doc, x.ID, 1, p)
		if err != nil || up.Version != 2 {
			t.Fatalf("update: %v", err)
		}
		if _, err := e.Patients.Update(ctx, doc, x.ID, 1, p); !errors.Is(err, patient.ErrConflict) {
			t.Fatalf("stale update: %v", err)
		}
		for q, want := range map[string]int{"smith": 0, "brown": 1} {
			pg, _ := e.Patients.Search(ctx, doc, patient.Query{Name: q})
			if len(pg.Patients) != want {
				t.Fatalf("%s: %d", q, len(pg.Patients))
			}
		}
		other := pt.Profile("Ben", "Jones")
		other.MRN = "M1"
		create(t, e, doc, other)
		p.MRN = "m1"
		if _, err := e.Patients.Update(ctx, doc, x.ID, 2, p); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("duplicate MRN: %v", err)
		}
	})
}

func TestMinorGetsPortalAccessOnlyThroughARepresentative(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		kid := pt.Profile("Tom", "Small")
		kid.BirthDate = time.Now().AddDate(-10, 0, 0).Format("2006-01-02")
		kid.Email = "tom@example.org"
		x := create(t, e, doc, kid)
		var inv *patient.InvalidError
		if _, err := e.Patients.InvitePortal(ctx, doc, x.ID); !errors.As(err, &inv) || inv.Fields["representative"] == "" {
			t.Fatalf("minor without representative: %v", err)
		}
		wantFailed(t, e, "patient.portal_invite", x.ID, "doc1")
		if len(e.Invites.Sent) != 0 {
			t.Fatalf("invited %+v", e.Invites.Sent)
		}
		if _, err := e.Patients.AddRepresentative(ctx, doc, x.ID, patient.Representative{Relationship: "uncle", Name: "X", Email: "x@example.org"}); !errors.Is(err, patient.ErrInvalid) {
			t.Fatalf("bad relationship: %v", err)
		}
		if _, err := e.Patients.AddRepresentative(ctx, doc, x.ID, patient.Representative{Relationship: "parent", Name: "Mary Small", Email: "mary@example.org"}); err != nil {
			t.Fatal(err)
		}
		invs, err := e.Patients.InvitePortal(ctx, doc, x.ID)
		if err != nil || len(invs) != 1 || invs[0].Email != "mary@example.org" || invs[0].Relationship != "representative" {
			t.Fatalf("invitations %+v %v", invs, err)
		}
		adult := pt.Profile("Ann", "Big")
		adult.Email = "ann@example.org"
		y := create(t, e, doc, adult)
		invs, err = e.Patients.InvitePortal(ctx, doc, y.ID)
		if err != nil || len(invs) != 1 || invs[0].Relationship != "self" {
			t.Fatalf("adult invitations %+v %v", invs, err)
		}
		if _, err := e.Patients.InvitePortal(ctx, pt.Clinician("ws1", "doc2"), y.ID); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("not on care team: %v", err)
		}
		z := create(t, e, doc, pt.Profile("Noel", "Mail")) // an adult with no email
		if _, err := e.Patients.InvitePortal(ctx, doc, z.ID); !errors.As(err, &inv) || inv.Fields["email"] == "" {
			t.Fatalf("adult without email: %v", err)
		}
		wantFailed(t, e, "patient.portal_invite", z.ID, "doc1")
	})
}

func TestCiphertextMovedToAnotherRowDoesNotOpen(t *testing.T) {
	d := dbtest.SQLite(t)
	e := pt.New(t, d)
	doc := pt.Clinician("ws1", "doc1")
	x := create(t, e, doc, pt.Profile("Anna", "Smith"))
	y := create(t, e, doc, pt.Profile("Ben", "Jones"))
	if _, err := d.Write.Exec(`UPDATE patients SET profile = (SELECT profile FROM patients WHERE id = $1) WHERE id = $2`, x.ID, y.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Patients.Get(ctx, doc, y.ID); err == nil {
		t.Fatal("a profile copied from another patient opened")
	}
}

func TestCareTeamIsManagedByPolicy(t *testing.T) {
	e := pt.New(t, dbtest.SQLite(t))
	doc := pt.Clinician("ws1", "doc1")
	x := create(t, e, doc, pt.Profile("Anna", "Smith"))
	doc2 := pt.Clinician("ws1", "doc2")
	if err := e.Patients.AddToCareTeam(ctx, doc2, x.ID, "doc2"); !errors.Is(err, patient.ErrForbidden) {
		t.Fatalf("self-added to care team: %v", err)
	}
	if err := e.Patients.AddToCareTeam(ctx, doc, x.ID, "doc2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Patients.Get(ctx, doc2, x.ID); err != nil {
		t.Fatalf("added member: %v", err)
	}
	admin := pt.Member("ws1", "adm", access.RoleAdmin)
	if err := e.Patients.RemoveFromCareTeam(ctx, admin, x.ID, "doc2"); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Patients.Get(ctx, doc2, x.ID); !errors.Is(err, patient.ErrForbidden) {
		t.Fatalf("removed member: %v", err)
	}
	if err := e.Patients.RemoveFromCareTeam(ctx, admin, x.ID, "doc2"); !errors.Is(err, patient.ErrInvalid) {
		t.Fatalf("remove twice: %v", err)
	}
	wantFailed(t, e, "careteam.remove", x.ID, "adm")
}

// TestOnlyAClinicianJoinsTheCareTeamOfAPatientTheyRegister: the front desk
// and an admin register patients for the practice without thereby being on
// their care team; a clinician (also one who is admin too) joins it.
func TestOnlyAClinicianJoinsTheCareTeamOfAPatientTheyRegister(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		founder := &access.Principal{UserID: "doc1", WorkspaceID: "ws1", Role: access.RoleClinician, Roles: []access.Role{access.RoleClinician, access.RoleAdmin}}
		for _, c := range []struct {
			name string
			p    *access.Principal
			team bool
		}{
			{"front desk", pt.Member("ws1", "desk1", access.RoleStaff), false},
			{"admin", pt.Member("ws1", "admin1", access.RoleAdmin), false},
			{"clinician", pt.Clinician("ws1", "doc2"), true},
			{"admin and clinician", founder, true},
		} {
			t.Run(c.name, func(t *testing.T) {
				x := create(t, e, c.p, pt.Profile("Cara", "Lind"))
				f, err := e.Patients.Facts(ctx, c.p, x.ID)
				if err != nil {
					t.Fatal(err)
				}
				if f.CareTeam != c.team {
					t.Fatalf("on the care team: %v, want %v", f.CareTeam, c.team)
				}
			})
		}
	})
}

// TestFrontDeskRegistersAPatientForTheTreatingClinician: the clinician a
// patient is registered for starts on the care team and reads the record;
// the front desk who registered them does not join it.
func TestFrontDeskRegistersAPatientForTheTreatingClinician(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		desk := pt.Member("ws1", "desk1", access.RoleStaff)
		x, err := e.Patients.CreateFor(ctx, desk, pt.Profile("Cara", "Lind"), "doc7")
		if err != nil {
			t.Fatal(err)
		}
		doc := pt.Clinician("ws1", "doc7")
		if _, err := e.Patients.Get(ctx, doc, x.ID); err != nil {
			t.Fatalf("the treating clinician cannot read the record: %v", err)
		}
		if f, _ := e.Patients.Facts(ctx, desk, x.ID); f.CareTeam {
			t.Fatal("the front desk joined the care team")
		}
		if _, err := e.Patients.Get(ctx, pt.Clinician("ws1", "doc8"), x.ID); !errors.Is(err, patient.ErrForbidden) {
			t.Fatalf("another clinician read the record: %v", err)
		}
	})
}
