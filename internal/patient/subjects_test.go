package patient_test

import (
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// TestAgeCheckIsAuditedAsASystemDecision proves the consent rules' age
// check writes a complete entry: the system as actor, an allow decision
// with the policy reason and purpose, the request that caused it, and no
// PHI (no name, no birth date) in any field.
func TestAgeCheckIsAuditedAsASystemDecision(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		doc := pt.Clinician("ws1", "doc1")
		prof := pt.Profile("Anna", "Qzxagecheck")
		prof.BirthDate = "2015-03-04"
		x := create(t, e, doc, prof)
		minor, err := patient.Subjects{S: e.Patients}.IsMinor(access.WithPrincipal(ctx, doc), x.ID, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil || !minor {
			t.Fatalf("IsMinor = %v, %v; want a minor", minor, err)
		}
		en := last(t, e)
		if en.Action != "patient.age_check" || en.ActorUserID != patient.SystemActor || en.ActorRole != patient.SystemActor ||
			en.Decision != "allow" || en.Outcome != "success" || en.Reason != string(access.AllowSystemConsentRules) ||
			en.Purpose != patient.PurposeConsentCapacity || en.PatientID != x.ID || en.ResourceType != "patient" ||
			en.ResourceID != x.ID || en.WorkspaceID != "ws1" || en.RequestID != doc.RequestID || en.ClientAddr != doc.ClientAddr {
			t.Fatalf("age check audited as %+v", en.Event)
		}
		all := strings.Join([]string{en.Action, en.ActorUserID, en.ActorTokenID, en.ActorRole, en.WorkspaceID, en.OnBehalfOf,
			en.ResourceType, en.ResourceID, en.PatientID, en.Purpose, en.Decision, en.Reason, en.ClientAddr, en.RequestID, en.Outcome}, "|")
		for _, phi := range []string{"Anna", "Qzxagecheck", "2015"} {
			if strings.Contains(all, phi) {
				t.Errorf("the entry holds %q: %s", phi, all)
			}
		}
	})
}
