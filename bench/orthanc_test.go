package main

import (
	"context"
	"os"
	"testing"
	"time"
)

// TestOrthancSideBySide runs the Orthanc comparison on its own. Gated:
// CUSTODIA_BENCH_ORTHANC=1 (installs the Debian orthanc package if absent).
func TestOrthancSideBySide(t *testing.T) {
	if os.Getenv("CUSTODIA_BENCH_ORTHANC") == "" {
		t.Skip("set CUSTODIA_BENCH_ORTHANC=1 to compare DICOM stores with Orthanc")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	rows, err := orthancRows(ctx, config{quick: os.Getenv("CUSTODIA_BENCH_QUICK") != "", work: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rows {
		t.Logf("%s: ours %s, reference %s, ratio %s (%s)", r.Workload, r.Ours, r.Reference, r.Ratio, r.Note)
	}
}
