package app

import (
	"bytes"
	"context"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/sample"
	"github.com/custodia-health/custodia/internal/patient"
)

// DemoWorkspaceName is the workspace LoadDemo fills with fictional records.
const DemoWorkspaceName = "Demo clinic"

// DemoPassword is the password of every fictional demo account.
const DemoPassword = "harbour lantern orchid meadow"

// DemoAccounts are the fictional people of the demo workspace, one per
// workspace role, all signing in with DemoPassword.
var DemoAccounts = []identity.DemoMember{
	{Name: "Dana Demo (clinician)", Email: "clinician@demo.custodia.example", Password: DemoPassword, Role: access.RoleClinician},
	{Name: "Avery Demo (admin)", Email: "admin@demo.custodia.example", Password: DemoPassword, Role: access.RoleAdmin},
	{Name: "Pat Demo (privacy officer)", Email: "privacy@demo.custodia.example", Password: DemoPassword, Role: access.RolePrivacyOfficer},
	{Name: "Sam Demo (staff)", Email: "staff@demo.custodia.example", Password: DemoPassword, Role: access.RoleStaff},
}

// LoadDemo fills the store with fictional demo data: a workspace named
// DemoWorkspaceName with one account per role (DemoAccounts), patients
// with cases created by the clinician, and on the first patient's first
// case a synthetic DICOM study (a 60-slice CT series and a multi-frame
// cine loop) and an STL model (LoadDemoMedia). It is
// idempotent: a second run finds the accounts, the demo patients (by their
// MRN's blind index) and the case's files, and adds nothing.
func (a *App) LoadDemo(ctx context.Context) error {
	if a.Identity == nil || a.Patients == nil {
		return nil
	}
	ws, ids, err := a.Identity.EnsureDemoWorkspace(ctx, DemoWorkspaceName, DemoAccounts)
	if err != nil {
		return err
	}
	doc := &access.Principal{UserID: ids[0], WorkspaceID: ws, Role: access.RoleClinician, RequestID: "demo-load"}
	if err := LoadDemoRecords(ctx, a.Patients, a.Cases, doc); err != nil {
		return err
	}
	if err := a.loadDemoPortal(ctx, doc); err != nil {
		return err
	}
	if a.Media != nil {
		if err := LoadDemoMedia(ctx, a.Patients, a.Cases, a.Media, doc); err != nil {
			return err
		}
	}
	a.Log.Info("demo data loaded: sign in as clinician@demo.custodia.example (or admin@, privacy@, staff@, or the patient portal as patient@) with the password \""+DemoPassword+"\"",
		"workspace", ws)
	return nil
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

// DemoSeriesLength is the number of slices in the demo case's CT series.
const DemoSeriesLength = 60

// DemoCineFrames is the number of frames of the demo case's multi-frame
// file (a cine loop in the same study).
const DemoCineFrames = 30

// LoadDemoMedia gives the first demo patient's first case a synthetic
// study of two series — a CT of DemoSeriesLength 256×256 slices through a
// head phantom, and a multi-frame cine loop of DemoCineFrames 128×128
// frames (under 1 MiB, so a server run with a small -max-upload still
// takes it; one with a smaller limit goes without it) — and
// a synthetic STL model (a sphere), uploaded as clinician p through media's
// audited upload like any clinician's files, so the DICOM viewer's two
// scroll modes (through a series' instances, through a file's frames) and
// the 3D viewer have something to show. It uploads only what the case
// lacks (the series' remaining slices, the cine loop or the model if there
// is none), so running it again adds nothing and an interrupted run is
// completed.
func LoadDemoMedia(ctx context.Context, patients *patient.Service, cases *casefile.Service, files *media.Service, p *access.Principal) error {
	first := demoPatients[0]
	pg, err := patients.Search(ctx, p, patient.Query{MRN: first.profile.MRN})
	if err != nil {
		return fmt.Errorf("look for demo patient: %w", err)
	}
	if len(pg.Patients) == 0 {
		return fmt.Errorf("load demo files: the demo patient %s is missing", first.profile.MRN)
	}
	cs, err := cases.List(ctx, p, pg.Patients[0].ID)
	if err != nil {
		return fmt.Errorf("list demo cases: %w", err)
	}
	caseID := ""
	for _, c := range cs {
		if c.Title == first.cases[0][0] {
			caseID = c.ID
		}
	}
	if caseID == "" {
		return fmt.Errorf("load demo files: the demo case %q is missing", first.cases[0][0])
	}
	have, err := files.CaseFiles(ctx, p, caseID)
	if err != nil {
		return fmt.Errorf("list demo case files: %w", err)
	}
	slices, cine, models := 0, 0, 0
	for _, f := range have {
		switch {
		case f.DICOM != nil && f.DICOM.SeriesInstanceUID == sample.CTSeriesUID:
			slices++
		case f.DICOM != nil && f.DICOM.SeriesInstanceUID == sample.CineUID:
			cine++
		case f.Kind.IsMesh():
			models++
		}
	}
	upload := func(slot media.Slot, b []byte) error {
		if _, _, err := files.UploadSmall(ctx, p, caseID, slot, bytes.NewReader(b), int64(len(b))); err != nil {
			return fmt.Errorf("upload demo file: %w", err)
		}
		return nil
	}
	name := first.profile.FamilyName + "^" + first.profile.GivenName
	if slices < DemoSeriesLength {
		// Uploaded in instance order, so the first ones present are the
		// ones an interrupted run got through.
		for _, b := range sample.CTSeries(DemoSeriesLength, 256, name)[slices:] {
			if err := upload(media.SlotDICOM, b); err != nil {
				return err
			}
		}
	}
	if loop := sample.CineLoop(DemoCineFrames, 128, name); cine == 0 && int64(len(loop)) <= files.Store.Limits.MaxUploadBytes() {
		if err := upload(media.SlotDICOM, loop); err != nil {
			return err
		}
	}
	if models == 0 {
		if err := upload(media.SlotMesh, sample.SphereSTL(40, 16, 32)); err != nil {
			return err
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
