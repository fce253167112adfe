package main

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/config"
)

// operator create makes an operator account whose password comes from
// stdin (never argv) or a printed one-time link, and who must enrol MFA.
func TestOperatorCreateMakesAnOperatorWhoMustEnrolMFA(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	if code := run(context.Background(), []string{"operator", "create", "ops@example.org", "-data-dir", dir, "-log-level", "error"}, &out, io.Discard); code != 0 {
		t.Fatalf("exit %d: %s", code, out.String())
	}
	if !strings.Contains(out.String(), "/reset?token=") {
		t.Fatalf("no set-password link printed:\n%s", out.String())
	}
	stdin = strings.NewReader("Quiet-Harbour-Lantern-7731\n")
	defer func() { stdin = nil }()
	out.Reset()
	if code := run(context.Background(), []string{"operator", "create", "ops2@example.org", "-password-stdin", "-data-dir", dir, "-log-level", "error"}, &out, &out); code != 0 {
		t.Fatalf("stdin exit %d: %s", code, out.String())
	}
	if strings.Contains(out.String(), "token=") {
		t.Fatalf("a link was printed though the password came from stdin:\n%s", out.String())
	}
	if code := run(context.Background(), []string{"operator", "create", "ops@example.org", "-data-dir", dir, "-log-level", "error"}, io.Discard, io.Discard); code == 0 {
		t.Fatal("a second account with the same address was created")
	}
	cfg := &config.Config{DataDir: dir}
	a, err := app.New(context.Background(), cfg, app.NewLogger(cfg, nil))
	if err != nil {
		t.Skipf("cannot reopen the app directly: %v", err)
	}
	defer a.Close()
	var n int
	if err := a.DB.Read.QueryRow(`SELECT COUNT(*) FROM users WHERE operator = 1`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("operators %d %v", n, err)
	}
	var uid string
	_ = a.DB.Read.QueryRow(`SELECT id FROM users WHERE operator = 1 LIMIT 1`).Scan(&uid)
	if req, err := a.Identity.MFARequired(context.Background(), uid); err != nil || !req {
		t.Fatalf("MFA required for operator = %v %v", req, err)
	}
}
