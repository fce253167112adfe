package main

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

// auditedDataDir is a data directory whose log holds two runs of a server
// of n entries each (checkpoints at n and 2n), witnessed beside it as serve
// does by default. It returns the directory and its database.
func auditedDataDir(t *testing.T, n int) (string, *db.DB) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "custodia.db"), dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	master, _, err := keys.LoadOrCreateMaster(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := app.AuditSigner(ctx, keys.NewKeyring(d, master))
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		l, err := audit.Open(ctx, d, signer, audit.Options{Witness: []string{dir + ".audit-witness"}})
		if err != nil {
			t.Fatal(err)
		}
		for range n {
			if _, err := l.Append(ctx, audit.Event{ActorUserID: "u-1", Action: "patient.read", PatientID: "p-1"}); err != nil {
				t.Fatal(err)
			}
		}
		if err := l.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return dir, d
}

// verifyCmd runs "custodia audit verify" on dir with more flags, returning
// the exit code and everything printed.
func verifyCmd(t *testing.T, dir string, flags ...string) (int, string) {
	t.Helper()
	var out, errOut bytes.Buffer
	code := run(context.Background(), append([]string{"audit", "verify", "-data-dir", dir}, flags...), &out, &errOut)
	return code, out.String() + errOut.String()
}

func TestAuditVerifyExitsNonZeroAtTheFirstBreak(t *testing.T) {
	dir, d := auditedDataDir(t, 5)
	if code, out := verifyCmd(t, dir); code != 0 || !strings.Contains(out, "checked 10 entries") ||
		!strings.Contains(out, "2 signed checkpoints") || !strings.Contains(out, "compared 2 checkpoints with the witness") {
		t.Fatalf("intact log: exit %d: %s", code, out)
	}

	// Someone with the database file drops the guard and edits entry 3.
	for _, q := range []string{`DROP TRIGGER audit_entries_no_update`, `UPDATE audit_entries SET patient_id = 'p-2' WHERE seq = 3`} {
		if _, err := d.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if code, out := verifyCmd(t, dir); code != 1 || !strings.Contains(out, "BROKEN at entry 3") {
		t.Fatalf("tampered log: exit %d: %s", code, out)
	}
}

func TestAuditVerifyFindsTheTailCutOffWithItsCheckpointsInTheWitness(t *testing.T) {
	dir, d := auditedDataDir(t, 5)
	// The second run's entries and its checkpoint go, triggers first: the
	// database alone is a consistent, signed log of five entries.
	for _, q := range []string{`DROP TRIGGER audit_entries_no_delete`, `DROP TRIGGER audit_checkpoints_no_delete`,
		`DELETE FROM audit_entries WHERE seq > 5`, `DELETE FROM audit_checkpoints WHERE seq > 5`} {
		if _, err := d.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	code, out := verifyCmd(t, dir)
	if code != 1 || !strings.Contains(out, "BROKEN at entry 6") || !strings.Contains(out, "records checkpoint #2 at seq 10") ||
		!strings.Contains(out, "cut off together with its checkpoints") {
		t.Fatalf("truncated log: exit %d: %s", code, out)
	}
	// Without the witness the same database verifies: that is what the
	// witness is for.
	if code, out := verifyCmd(t, dir, "-audit-witness", "none"); code != 0 || !strings.Contains(out, "no witness configured") {
		t.Fatalf("truncated log, no witness: exit %d: %s", code, out)
	}
	// A removed witness is reported, not passed over.
	if err := os.Remove(dir + ".audit-witness"); err != nil {
		t.Fatal(err)
	}
	if code, out := verifyCmd(t, dir); code != 1 || !strings.Contains(out, "BROKEN: the witness file") || !strings.Contains(out, "does not exist") {
		t.Fatalf("removed witness: exit %d: %s", code, out)
	}
}
