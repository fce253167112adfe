package app_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/patient"
)

// The account canaries: names and addresses that must never be found at
// rest or in the logs, whatever the account (a clinic's founder, a
// clinician invited as a member, a patient invited to the portal).
const (
	founderName, founderEmail = "Kestrel Qvortleby", "kestrel.qvortleby@clinic.example"
	clinName, clinEmail       = "Ivo Plenderwick", "ivo.plenderwick@clinic.example"
	patName, patEmail         = "Wren Jhaxmorrow", "wren.jhaxmorrow@home.example"
)

// accountCanaries are the strings searched for: each full name and address
// and each rare family name on its own, in the case written and lower case.
var accountCanaries = []string{founderName, founderEmail, clinName, clinEmail, patName, patEmail,
	"Qvortleby", "Plenderwick", "Jhaxmorrow"}

// postgresSchemaURL creates a fresh schema on the CUSTODIA_TEST_POSTGRES
// server, dropped when the test ends, and returns the URL that uses it.
func postgresSchemaURL(t *testing.T) string {
	t.Helper()
	base := os.Getenv(dbtest.PostgresEnv)
	if base == "" {
		t.Skipf("PostgreSQL tests skipped: set %s", dbtest.PostgresEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		if a, err := sql.Open("pgx", base); err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

type jsonClient struct {
	t    *testing.T
	base string
	c    *http.Client
}

func newJSONClient(t *testing.T, base string) *jsonClient {
	jar, _ := cookiejar.New(nil)
	return &jsonClient{t: t, base: base, c: &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

func (j *jsonClient) do(method, path string, body any) (int, string) {
	j.t.Helper()
	var r io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		r = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, j.base+path, r)
	req.Header.Set("Content-Type", "application/json")
	res, err := j.c.Do(req)
	if err != nil {
		j.t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

var linkToken = regexp.MustCompile(`(/[a-z/]+)\?token=([a-z0-9]+)`)

// mailedToken is the token of the newest development-outbox message to to
// whose link has path.
func mailedToken(t *testing.T, e *apptest.Env, to, path string) string {
	t.Helper()
	e.App.Identity.Wait()
	items, err := e.App.Outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		if m := linkToken.FindStringSubmatch(it.Text); it.To == to && m != nil && m[1] == path {
			return m[2]
		}
	}
	t.Fatalf("no %s link mailed", path)
	return ""
}

// userID signs email in and returns the account's id.
func userID(t *testing.T, e *apptest.Env, email, password string) string {
	t.Helper()
	res, err := e.App.Identity.SignIn(context.Background(), email, password, identity.Meta{ClientAddr: "127.0.0.1", RequestID: "canary"})
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	return res.Session.UserID
}

// TestAccountCanaryNeverReachesDiskOrLogs drives every path that stores or
// mails an account's name or address, for a clinician and a patient portal
// account, and then searches the whole data directory's raw bytes (the
// SQLite file and its WAL, the master key, blobs, anything else) and, on
// PostgreSQL, every row of every table of the schema, and the server log.
// The paths: sign-up, the unverified sign-in that mails a new link, email
// verification, a repeated sign-up (the notice mail), a member invitation
// accepted through the API, a patient portal invitation accepted by the
// patient, a password reset, /api/v1/me, the member list and the display
// names the audit pages show.
func TestAccountCanaryNeverReachesDiskOrLogs(t *testing.T) {
	for _, backend := range []string{"sqlite", "postgres"} {
		t.Run(backend, func(t *testing.T) {
			dsn := ""
			if backend == "postgres" {
				dsn = postgresSchemaURL(t)
			}
			e := apptest.New(t, dsn)
			ctx := context.Background()
			pw := app.DemoPassword
			m := identity.Meta{ClientAddr: "127.0.0.1", RequestID: "canary"}

			founder := newJSONClient(t, e.Server.URL)
			if code, body := founder.do("POST", "/api/v1/auth/signup", map[string]string{"name": founderName, "email": founderEmail, "password": pw,
				"workspace_name": "Harbour Clinic"}); code != http.StatusAccepted {
				t.Fatalf("sign up: %d %s", code, body)
			}
			if code, _ := founder.do("POST", "/api/v1/auth/signin", map[string]string{"email": founderEmail, "password": pw}); code != http.StatusForbidden {
				t.Fatalf("unverified sign-in: %d", code)
			}
			if code, body := founder.do("POST", "/api/v1/auth/verify-email", map[string]string{"token": mailedToken(t, e, founderEmail, "/verify")}); code != http.StatusNoContent {
				t.Fatalf("verify: %d %s", code, body)
			}
			if code, _ := founder.do("POST", "/api/v1/auth/signup", map[string]string{"name": founderName, "email": founderEmail, "password": pw}); code != http.StatusAccepted {
				t.Fatalf("repeated sign-up: %d", code)
			}
			founderID := userID(t, e, founderEmail, pw)
			var ws string
			if err := e.App.DB.Read.QueryRow(`SELECT workspace_id FROM memberships WHERE user_id = $1`, founderID).Scan(&ws); err != nil {
				t.Fatal(err)
			}
			admin := &access.Principal{UserID: founderID, WorkspaceID: ws, Role: access.RoleAdmin, ClientAddr: "127.0.0.1", RequestID: "canary"}

			if _, err := e.App.Identity.Invite(ctx, admin, ws, identity.InviteInput{Kind: identity.InviteMember, Email: clinEmail, Role: access.RoleClinician}, m); err != nil {
				t.Fatal(err)
			}
			clin := newJSONClient(t, e.Server.URL)
			if code, body := clin.do("POST", "/api/v1/invitations/accept", map[string]string{"token": mailedToken(t, e, clinEmail, "/invitations/accept"),
				"name": clinName, "password": pw}); code >= 300 {
				t.Fatalf("accept the member invitation: %d %s", code, body)
			}
			clinID := userID(t, e, clinEmail, pw)
			clinP := &access.Principal{UserID: clinID, WorkspaceID: ws, Role: access.RoleClinician, ClientAddr: "127.0.0.1", RequestID: "canary"}
			pat, err := e.App.Patients.Create(ctx, clinP, patient.Profile{GivenName: "Nora", FamilyName: "Example", BirthDate: "1980-04-12", BiologicalSex: "female"})
			if err != nil {
				t.Fatal(err)
			}
			patAcct := e.PatientAccount(t, &apptest.Account{Principal: clinP}, access.RolePatient, pat.ID, patName, patEmail, pw)

			portal := newJSONClient(t, e.Server.URL)
			if code, _ := portal.do("POST", "/api/v1/auth/forgot", map[string]string{"email": strings.ToUpper(patEmail)}); code >= 300 {
				t.Fatalf("forgot: %d", code)
			}
			const newPW = "quiet amber lighthouse wanders"
			if code, body := portal.do("POST", "/api/v1/auth/reset", map[string]string{"token": mailedToken(t, e, patEmail, "/reset"), "password": newPW}); code >= 300 {
				t.Fatalf("reset: %d %s", code, body)
			}
			if code, body := portal.do("POST", "/api/v1/auth/signin", map[string]string{"email": patEmail, "password": newPW}); code != http.StatusOK {
				t.Fatalf("patient sign-in after reset: %d %s", code, body)
			}
			// The reads must show the canaries, or the scan proves nothing.
			if code, body := portal.do("GET", "/api/v1/me", nil); code != http.StatusOK || !strings.Contains(body, patName) || !strings.Contains(body, patEmail) {
				t.Fatalf("/api/v1/me: %d %s", code, body)
			}
			members, err := e.App.Identity.Members(ctx, admin, ws)
			if err != nil || len(members) != 2 {
				t.Fatalf("members %v %v", members, err)
			}
			names := e.App.Identity.DisplayNames(ctx, []string{founderID, clinID, patAcct.Principal.UserID})
			if names[founderID] != founderName || names[clinID] != clinName || names[patAcct.Principal.UserID] != patName {
				t.Fatalf("display names %v", names)
			}
			if items, _ := e.App.Outbox.List(); len(items) < 6 {
				t.Fatalf("only %d messages mailed", len(items))
			}

			scanDataDir(t, e.App.Config.DataDir)
			if backend == "sqlite" {
				// Move the WAL into the database file and scan again: the
				// pages the checkpoint writes must be clean too.
				if _, err := e.App.DB.Write.Exec(`PRAGMA wal_checkpoint(TRUNCATE)`); err != nil {
					t.Fatal(err)
				}
				scanDataDir(t, e.App.Config.DataDir)
			} else {
				scanPostgres(t, e.App.DB)
			}
			logs := e.Logs.String()
			if len(e.Logs.Lines("msg=request")) < 5 {
				t.Fatal("the request log was not captured, so its scan proves nothing")
			}
			for _, c := range accountCanaries {
				if strings.Contains(strings.ToLower(logs), strings.ToLower(c)) {
					t.Errorf("the log holds %q", c)
				}
			}
		})
	}
}

// scanDataDir fails if any file under dir holds an account canary.
func scanDataDir(t *testing.T, dir string) {
	t.Helper()
	files := 0
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		files++
		lower := bytes.ToLower(b)
		for _, c := range accountCanaries {
			if bytes.Contains(lower, []byte(strings.ToLower(c))) {
				t.Errorf("%s holds %q", filepath.Base(path), c)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if files == 0 {
		t.Fatal("the data directory is empty")
	}
}

// scanPostgres fails if any row of any table in the test's schema, as JSON
// text, holds an account canary.
func scanPostgres(t *testing.T, d *db.DB) {
	t.Helper()
	rows, err := d.Read.Query(`SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`)
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 10 {
		t.Fatalf("found only %d tables", len(tables))
	}
	for _, table := range tables {
		rs, err := d.Read.Query(`SELECT row_to_json(t)::text FROM "` + table + `" t`)
		if err != nil {
			t.Fatal(err)
		}
		for rs.Next() {
			var row string
			if err := rs.Scan(&row); err != nil {
				t.Fatal(err)
			}
			for _, c := range accountCanaries {
				if strings.Contains(strings.ToLower(row), strings.ToLower(c)) {
					t.Errorf("table %s holds %q", table, c)
				}
			}
		}
		rs.Close()
	}
}

// A production server (an https base URL or TLS) without an SMTP relay has
// no development outbox: nothing is kept in memory or written to the data
// directory, /dev/outbox does not exist, and mail fails with ErrNoRelay
// instead of vanishing. Outside production the outbox exists, in memory.
func TestProductionServerHasNoOutboxAndWritesNoMail(t *testing.T) {
	for _, tc := range []struct {
		name, baseURL string
		outbox        bool
	}{
		{"production", "https://custodia.example", false},
		{"development", "http://127.0.0.1", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), BaseURL: tc.baseURL, MailFrom: "custodia@localhost",
				LogLevel: "info", LogFormat: "text", MaxUpload: 1 << 20, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9}
			if err := cfg.Validate(); err != nil {
				t.Fatal(err)
			}
			a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { a.Close() })
			ctx := context.Background()
			ws, ids, err := a.Identity.EnsureDemoWorkspace(ctx, "Clinic", []identity.DemoMember{
				{Name: "Ada Admin", Email: "ada@clinic.example", Password: app.DemoPassword, Role: access.RoleAdmin}})
			if err != nil {
				t.Fatal(err)
			}
			admin := &access.Principal{UserID: ids[0], WorkspaceID: ws, Role: access.RoleAdmin, ClientAddr: "127.0.0.1", RequestID: "r"}
			_, err = a.Identity.Invite(ctx, admin, ws, identity.InviteInput{Kind: identity.InviteMember, Email: "bo@clinic.example", Role: access.RoleStaff},
				identity.Meta{ClientAddr: "127.0.0.1", RequestID: "r"})
			if err := a.Identity.SignUp(ctx, identity.SignUpInput{Name: "Cy Doc", Email: "cy@clinic.example", Password: app.DemoPassword}, identity.Meta{}); err != nil {
				t.Fatal(err)
			}
			a.Identity.Wait()
			rec := httptest.NewRecorder()
			req := httptest.NewRequest("GET", "http://127.0.0.1/dev/outbox", nil)
			req.RemoteAddr = "127.0.0.1:40000"
			a.Handler.ServeHTTP(rec, req)
			if tc.outbox {
				if err != nil || a.Outbox == nil || rec.Code != http.StatusOK {
					t.Fatalf("development: invite %v, outbox %v, /dev/outbox %d", err, a.Outbox != nil, rec.Code)
				}
				if items, _ := a.Outbox.List(); len(items) != 2 {
					t.Fatalf("development outbox holds %d messages, want 2", len(items))
				}
			} else if !errors.Is(err, mail.ErrNoRelay) || a.Outbox != nil || rec.Code != http.StatusNotFound {
				t.Fatalf("production: invite %v, outbox %v, /dev/outbox %d", err, a.Outbox != nil, rec.Code)
			}
			// Neither mode writes mail to disk.
			filepath.WalkDir(cfg.DataDir, func(path string, d os.DirEntry, err error) error {
				if err == nil && (d.Name() == "outbox" || strings.HasSuffix(d.Name(), ".eml")) {
					t.Errorf("mail on disk: %s", path)
				}
				return err
			})
		})
	}
}

// An upgraded server: accounts and an invitation stored before migration
// 0120 hold their names and addresses in clear. Starting the server seals
// them before it answers anything, and afterwards neither the running
// server's database file and WAL nor the closed database holds them.
func TestStartUpSealsAccountsStoredInClearBeforeTheUpgrade(t *testing.T) {
	dir := t.TempDir()
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: dir, BaseURL: "http://127.0.0.1", MailFrom: "custodia@localhost",
		LogLevel: "info", LogFormat: "text", MaxUpload: 1 << 20, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	a, err := app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	// Rows as the code before 0120 wrote them.
	d, err := db.Open(ctx, "", dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, password_at) VALUES ('u-old', '` + clinEmail + `', '` + clinName + `', 'x', 1, 1, 1)`,
		`INSERT INTO workspaces (id, name, mfa_required, created_at) VALUES ('w-old', 'Old Clinic', 1, 1)`,
		`INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ('w-old', 'u-old', 'admin', 1)`,
		`INSERT INTO invitations (id, token_hash, kind, workspace_id, email, role, invited_by, created_at, expires_at)
			VALUES ('i-old', 'h', 'member', 'w-old', '` + patEmail + `', 'staff', 'u-old', 1, 2)`,
	} {
		if _, err := d.Write.Exec(q); err != nil {
			t.Fatal(err)
		}
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "custodia.db")); !bytes.Contains(b, []byte(clinName)) {
		t.Fatal("the legacy rows are not in the file, so the scans below prove nothing")
	}

	a, err = app.New(ctx, cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	scanDataDir(t, dir)
	u, err := a.Identity.User(ctx, "u-old")
	if err != nil || u.Name != clinName || u.Email != clinEmail {
		t.Fatalf("the sealed account reads %+v %v", u, err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	scanDataDir(t, dir)
}
