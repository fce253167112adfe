package app

import (
	"context"
	"testing"

	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

func TestDemoRecordsLoadOnce(t *testing.T) {
	e := pt.New(t, dbtest.SQLite(t))
	doc := pt.Clinician("ws-demo", "demo-doc")
	ctx := context.Background()
	for i := 0; i < 2; i++ {
		if err := LoadDemoRecords(ctx, e.Patients, e.Cases, doc); err != nil {
			t.Fatal(err)
		}
	}
	pg, err := e.Patients.List(ctx, doc, "")
	if err != nil || len(pg.Patients) != len(demoPatients) {
		t.Fatalf("%v patients after two loads: %v", len(pg.Patients), err)
	}
	if pg, _ := e.Patients.Search(ctx, doc, patient.Query{Name: "demoson"}); len(pg.Patients) != 1 {
		t.Fatal("demo patient not searchable")
	}
}
