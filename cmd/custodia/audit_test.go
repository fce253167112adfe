package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

func TestAuditVerifyExitsNonZeroAtTheFirstBreak(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	d, err := db.Open(ctx, "sqlite:"+filepath.Join(dir, "custodia.db"), dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	master, _, err := keys.LoadOrCreateMaster(dir, "")
	if err != nil {
		t.Fatal(err)
	}
	signer, err := app.AuditSigner(ctx, keys.NewKeyring(d, master))
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(ctx, d, signer, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	for range 5 {
		if _, err := l.Append(ctx, audit.Event{ActorUserID: "u-1", Action: "patient.read", PatientID: "p-1"}); err != nil {
			t.Fatal(err)
		}
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}

	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"audit", "verify", "-data-dir", dir}, &out, &errOut); code != 0 ||
		!strings.Contains(out.String(), "checked 5 entries") || !strings.Contains(out.String(), "1 signed checkpoints") {
		t.Fatalf("intact log: exit %d: %s %s", code, out.String(), errOut.String())
	}

	// Someone with the database file drops the guard and edits entry 3.
	for _, q := range []string{`DROP TRIGGER audit_entries_no_update`, `UPDATE audit_entries SET patient_id = 'p-2' WHERE seq = 3`} {
		if _, err := d.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	out.Reset()
	if code := run(ctx, []string{"audit", "verify", "-data-dir", dir}, &out, &errOut); code != 1 || !strings.Contains(out.String(), "BROKEN at entry 3") {
		t.Fatalf("tampered log: exit %d: %s", code, out.String())
	}
}
