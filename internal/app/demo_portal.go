package app

import (
	"context"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/patient"
)

// DemoPatientAccount is the demo's patient portal account: the fictional
// patient Alma Demoson (the first demo patient), linked to her record, so
// the portal can be seen at once. She signs in with DemoPassword.
var DemoPatientAccount = struct{ Name, Email string }{Name: "Alma Demoson", Email: "patient@demo.custodia.example"}

// loadDemoPortal gives the first demo patient her portal account and shares
// her first case with her (as clinician p, through the audited case
// service), so her portal has a record, a shared case and consents to show.
// Running it again changes nothing.
func (a *App) loadDemoPortal(ctx context.Context, p *access.Principal) error {
	first := demoPatients[0]
	pg, err := a.Patients.Search(ctx, p, patient.Query{MRN: first.profile.MRN})
	if err != nil {
		return fmt.Errorf("look for demo patient: %w", err)
	}
	if len(pg.Patients) == 0 {
		return fmt.Errorf("demo portal: the demo patient %s is missing", first.profile.MRN)
	}
	id := pg.Patients[0].ID
	if _, err := a.Identity.EnsureDemoPatientAccount(ctx, p.WorkspaceID, id, identity.DemoMember{Name: DemoPatientAccount.Name, Email: DemoPatientAccount.Email, Password: DemoPassword, Role: access.RolePatient}); err != nil {
		return err
	}
	cs, err := a.Cases.List(ctx, p, id)
	if err != nil {
		return fmt.Errorf("list demo cases: %w", err)
	}
	for _, c := range cs {
		if c.Title == first.cases[0][0] && !c.Shared {
			if err := a.Cases.Share(ctx, p, c.ID, casefile.Sharing{Shared: true}); err != nil {
				return fmt.Errorf("share demo case: %w", err)
			}
		}
	}
	return nil
}
