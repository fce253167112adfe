package patient_test

import (
	"errors"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

func TestNamesDecryptsUnderThePolicyAndAuditsEachPatientNamed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		a := create(t, e, doc, pt.Profile("Anna", "Smith"))
		b := create(t, e, doc, pt.Profile("Ben", "Jones"))
		other := create(t, e, pt.Clinician("ws2", "doc2"), pt.Profile("Cleo", "Other"))
		officer := pt.Member("ws1", "po1", access.RolePrivacyOfficer)
		before := len(e.Entries(t))
		names, err := e.Patients.Names(ctx, officer, []string{a.ID, b.ID, a.ID, other.ID, "unknown"}, "audit.patient_names")
		if err != nil {
			t.Fatal(err)
		}
		if len(names) != 2 || names[a.ID] != "Anna Smith" || names[b.ID] != "Ben Jones" {
			t.Fatalf("names %v, want Anna Smith and Ben Jones only (the other workspace's patient is not named)", names)
		}
		got := map[string]bool{}
		for _, en := range e.Entries(t)[before:] {
			if en.Action != "audit.patient_names" || en.Decision != "allow" || en.ActorUserID != "po1" || en.ResourceID != en.PatientID {
				t.Errorf("unexpected entry %+v", en.Event)
			}
			got[en.PatientID] = true
		}
		if len(got) != 2 || !got[a.ID] || !got[b.ID] {
			t.Fatalf("audited patients %v, want exactly the two named", got)
		}

		// The platform operator may not read the name: refused and audited, nobody
		// named.
		outsider := pt.Member("ws1", "op1", access.RoleOperator)
		names, err = e.Patients.Names(ctx, outsider, []string{a.ID}, "audit.patient_names")
		if err != nil || len(names) != 0 {
			t.Fatalf("the operator got names %v, %v", names, err)
		}
		if en := last(t, e); en.Decision != "deny" || en.PatientID != a.ID {
			t.Fatalf("refusal audited as %+v", en.Event)
		}

		// No audit, no names.
		e.Audit.Down()
		defer e.Audit.Up()
		if _, err := e.Patients.Names(ctx, officer, []string{a.ID}, "audit.patient_names"); !errors.Is(err, audit.ErrUnavailable) {
			t.Fatalf("with the audit log down: %v, want ErrUnavailable", err)
		}
	})
}
