package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/keys"
)

// openDemo opens the program on dir (loading the demo data when load is
// set) and returns a demo clinician and one of their patients' ids.
func openDemo(t *testing.T, dir string, load bool) (*app.App, *access.Principal, string) {
	t.Helper()
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: dir, MailFrom: "custodia@localhost", LogLevel: "info", LogFormat: "text",
		MaxUpload: 1 << 20, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if load {
		if err := a.LoadDemo(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	var ws, doc, pid string
	if err := a.DB.Read.QueryRow(`SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		WHERE w.name = $1 AND m.role = 'clinician'`, app.DemoWorkspaceName).Scan(&ws, &doc); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Read.QueryRow(`SELECT id FROM patients ORDER BY created_at LIMIT 1`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	return a, &access.Principal{UserID: doc, WorkspaceID: ws, Role: access.RoleClinician}, pid
}

func TestKeysRotateKeepsDataReadableUnderTheNewKeyOnly(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _, _ := openDemo(t, dir, true)
	a.Close()
	old, err := os.ReadFile(filepath.Join(dir, keys.MasterKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"keys", "rotate", "-data-dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("rotate: exit %d: %s %s", code, out.String(), errOut.String())
	}
	now, _ := os.ReadFile(filepath.Join(dir, keys.MasterKeyFile))
	if bytes.Equal(old, now) || !strings.Contains(out.String(), "Rewrapped") {
		t.Fatalf("the key file did not change: %s", out.String())
	}
	if fi, _ := os.Stat(filepath.Join(dir, keys.MasterKeyFile)); fi.Mode().Perm() != 0o600 {
		t.Fatalf("new key file mode %v", fi.Mode().Perm())
	}
	a, p, pid := openDemo(t, dir, false)
	if _, err := a.Patients.Get(ctx, p, pid); err != nil {
		t.Fatalf("read after rotation: %v", err)
	}
	a.Close()
	t.Setenv("CUSTODIA_MASTER_KEY", strings.TrimSpace(string(old)))
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: dir, MailFrom: "custodia@localhost", LogLevel: "info", LogFormat: "text",
		MaxUpload: 1 << 20, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9, MasterKey: strings.TrimSpace(string(old))}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	if _, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler)); !errors.Is(err, keys.ErrWrongMaster) {
		t.Fatalf("the old key still opens the store: %v", err)
	}
}

func TestKeysShredMakesThePatientUnreadable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	a, _, pid := openDemo(t, dir, true)
	a.Close()
	var out, errOut bytes.Buffer
	if code := run(ctx, []string{"keys", "shred", "-patient", pid, "-data-dir", dir}, &out, &errOut); code == 0 {
		t.Fatal("shred ran without -yes")
	}
	if code := run(ctx, []string{"keys", "shred", "-patient", pid, "-yes", "-data-dir", dir}, &out, &errOut); code != 0 {
		t.Fatalf("shred: exit %d: %s", code, errOut.String())
	}
	a, p, _ := openDemo(t, dir, false)
	defer a.Close()
	if _, err := a.Patients.Get(ctx, p, pid); err == nil || !errors.Is(err, keys.ErrShredded) {
		t.Fatalf("read after shredding: %v", err)
	}
	var n int
	if err := a.DB.Read.QueryRow(`SELECT COUNT(*) FROM audit_entries WHERE action = 'patient.key_shred' AND patient_id = $1`, pid).Scan(&n); err != nil || n != 1 {
		t.Fatalf("shredding not audited: %d %v", n, err)
	}
}
