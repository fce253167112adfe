package casefile_test

import (
	"testing"

	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// BenchmarkPatientPageReads compares the patient page's reads done as three
// calls that each load the patient row (View, CareTeam, List) with one
// load shared by all three (ViewRecord, ListFor). Both write the same three
// audit entries; compare the two in one run.
func BenchmarkPatientPageReads(b *testing.B) {
	d := dbtest.SQLite(b)
	w := setup(b, d)
	b.Run("three-loads", func(b *testing.B) {
		for b.Loop() {
			x, err := w.e.Patients.View(ctx, w.doc, w.anna.ID)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.e.Patients.CareTeam(ctx, w.doc, x.ID); err != nil {
				b.Fatal(err)
			}
			if _, err := w.e.Cases.List(ctx, w.doc, x.ID); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("one-load", func(b *testing.B) {
		for b.Loop() {
			rec, err := w.e.Patients.ViewRecord(ctx, w.doc, w.anna.ID)
			if err != nil {
				b.Fatal(err)
			}
			if _, err := w.e.Cases.ListFor(ctx, w.doc, rec.Standing); err != nil {
				b.Fatal(err)
			}
		}
	})
}
