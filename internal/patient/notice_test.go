package patient_test

import (
	"database/sql"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/notice"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// A new patient record stores the privacy notice in force for its
// workspace when it was collected; none before any notice was published.
func TestNewPatientRecordRemembersTheNoticeInForce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := pt.New(t, d)
		ns := notice.New(d, e.Audit.Log)
		svc := patient.New(patient.Config{DB: d, Keys: e.Keys, Audit: e.Audit, NoticeInForce: ns.InForceID})
		doc := pt.Clinician("ws1", "doc1")
		stored := func(id string) string {
			var n sql.NullString
			if err := d.Read.QueryRowContext(ctx, `SELECT notice_id FROM patients WHERE id = $1`, id).Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n.String
		}
		first, err := svc.Create(ctx, doc, pt.Profile("Ann", "Before"))
		if err != nil {
			t.Fatal(err)
		}
		admin := &access.Principal{UserID: "adm", Role: access.RoleAdmin, WorkspaceID: "ws1"}
		v, err := ns.Publish(ctx, admin, notice.NewVersion{WorkspaceID: "ws1", Title: "Clinic", Body: notice.ExampleBody})
		if err != nil {
			t.Fatal(err)
		}
		second, err := svc.Create(ctx, doc, pt.Profile("Bea", "After"))
		if err != nil {
			t.Fatal(err)
		}
		if got := stored(first.ID); got != "" {
			t.Fatalf("patient created before any notice remembers %q", got)
		}
		if got := stored(second.ID); got != v.ID || second.NoticeID != v.ID {
			t.Fatalf("patient remembers %q (returned %q), want %q", got, second.NoticeID, v.ID)
		}
	})
}
