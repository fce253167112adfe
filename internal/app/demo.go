package app

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/patient"
)

// DemoWorkspaceName is the workspace LoadDemo fills with fictional records.
const DemoWorkspaceName = "Demo clinic"

// LoadDemo fills the store with fictional demo data. It is idempotent: a
// second run finds the demo patients (by their MRN's blind index) and adds
// nothing.
//
// TODO(lead/identity): the demo workspace and its clinician (with known
// demo credentials) must come from identity, which has no demo hook yet.
// Until then LoadDemo fills a workspace named DemoWorkspaceName if one
// exists with a clinician member, and otherwise logs that and does nothing.
func (a *App) LoadDemo(ctx context.Context) error {
	if a.Patients == nil {
		return nil
	}
	var ws, user string
	err := a.DB.Read.QueryRowContext(ctx, `SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		WHERE w.name = $1 AND m.role = 'clinician' ORDER BY m.created_at LIMIT 1`, DemoWorkspaceName).Scan(&ws, &user)
	if errors.Is(err, sql.ErrNoRows) {
		a.Log.Warn("demo records not loaded: create a workspace named \"" + DemoWorkspaceName + "\" with a clinician first")
		return nil
	}
	if err != nil {
		return fmt.Errorf("find demo workspace: %w", err)
	}
	return LoadDemoRecords(ctx, a.Patients, a.Cases, &access.Principal{UserID: user, WorkspaceID: ws, Role: access.RoleClinician, RequestID: "demo-load"})
}

// LoadDemoRecords creates the fictional demo patients and cases as clinician
// p, skipping any patient whose MRN is already there.
func LoadDemoRecords(ctx context.Context, patients *patient.Service, cases *casefile.Service, p *access.Principal) error {
	for _, d := range demoPatients {
		pg, err := patients.Search(ctx, p, patient.Query{MRN: d.profile.MRN})
		if err != nil {
			return fmt.Errorf("look for demo patient: %w", err)
		}
		if len(pg.Patients) > 0 {
			continue
		}
		x, err := patients.Create(ctx, p, d.profile)
		if err != nil {
			return fmt.Errorf("create demo patient: %w", err)
		}
		for _, c := range d.cases {
			title, date, notes := c[0], c[1], c[2]
			cs, err := cases.Create(ctx, p, x.ID, casefile.Input{Title: &title, Date: &date, Notes: &notes})
			if err != nil {
				return fmt.Errorf("create demo case: %w", err)
			}
			if _, err := cases.AddComment(ctx, p, cs.ID, casefile.KindComment, "Demo comment: plan reviewed with the patient.", ""); err != nil {
				return fmt.Errorf("comment on demo case: %w", err)
			}
		}
	}
	return nil
}

// demoPatients are fictional people; any resemblance is coincidence.
var demoPatients = []struct {
	profile patient.Profile
	cases   [][3]string // title, date, notes
}{
	{patient.Profile{GivenName: "Alma", FamilyName: "Demoson", BirthDate: "1986-03-14", Email: "alma.demoson@example.org", Phone: "+1 555 0100",
		BiologicalSex: "female", Laterality: "right", HeightCM: 168, EyeColour: "brown", MRN: "DEMO-0001",
		Address: patient.Address{Line1: "1 Example Street", City: "Springfield", Country: "US"}},
		[][3]string{{"Rhinoplasty", "2026-02-10", "Fictional demo case. Pre-op assessment done."}, {"Follow-up", "2026-03-10", "Healing as expected."}}},
	{patient.Profile{GivenName: "Bruno", FamilyName: "Samplewood", BirthDate: "1972-11-02", Email: "bruno.samplewood@example.org",
		BiologicalSex: "male", Laterality: "left", HeightCM: 181, MRN: "DEMO-0002"},
		[][3]string{{"ACL reconstruction", "2026-01-20", "Fictional demo case. Physiotherapy from week 2."}}},
	{patient.Profile{GivenName: "Chloe", FamilyName: "Testa", BirthDate: "2015-06-30", BiologicalSex: "female", Laterality: "ambidextrous", HeightCM: 140, MRN: "DEMO-0003"},
		[][3]string{{"Otoplasty consultation", "2026-04-05", "Fictional demo case. Minor: portal access through a parent only."}}},
}
