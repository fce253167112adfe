// Package apptest builds the whole program, as cmd/custodia does, on a
// temporary data directory, for end-to-end tests: the real identity,
// audit log, records, media, rehabilitation and consent services behind the
// real HTTP handler, with the server's log captured so a test can scan it.
package apptest

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/web"
)

// Env is a running program and the means to talk to it.
type Env struct {
	App    *app.App
	Server *httptest.Server
	Logs   *Logs
}

// New builds the program on a fresh data directory with SQLite (or the
// database url given, e.g. a PostgreSQL test database) and serves it on
// loopback until the test ends. Logs go to Env.Logs at debug level.
func New(t testing.TB, databaseURL string) *Env {
	t.Helper()
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), DatabaseURL: databaseURL, BaseURL: "http://127.0.0.1",
		MailFrom: "custodia@localhost", LogLevel: "debug", LogFormat: "text", MaxUpload: 64 << 20,
		IdleTimeout: 15 * time.Minute, Absolute: 12 * time.Hour}
	logs := &Logs{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	a, err := app.New(context.Background(), cfg, log)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler)
	t.Cleanup(func() {
		srv.Close()
		if err := a.Close(); err != nil {
			t.Errorf("close app: %v", err)
		}
	})
	return &Env{App: a, Server: srv, Logs: logs}
}

// Account is a signed-in user: a client whose cookie jar holds a real
// session made by identity's sign-in, and the principal it acts as.
type Account struct {
	Client    *http.Client
	Principal *access.Principal
}

// Workspace creates (through identity's demo path, which makes verified
// accounts without MFA) a workspace with the given members and signs each
// one in with the real password sign-in. Member emails must be unique
// across the test.
func (e *Env) Workspace(t testing.TB, name string, members ...identity.DemoMember) map[string]*Account {
	t.Helper()
	ctx := context.Background()
	ws, ids, err := e.App.Identity.EnsureDemoWorkspace(ctx, name, members)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*Account{}
	for i, m := range members {
		res, err := e.App.Identity.SignIn(ctx, m.Email, m.Password, identity.Meta{ClientAddr: "127.0.0.1", RequestID: "apptest-signin"})
		if err != nil {
			t.Fatalf("sign in %s: %v", m.Email, err)
		}
		out[m.Email] = &Account{Client: e.client(res.Token),
			Principal: &access.Principal{UserID: ids[i], WorkspaceID: ws, Role: m.Role,
				ClientAddr: "127.0.0.1", RequestID: "apptest-seed"},
		}
	}
	return out
}

// Entries returns the audit entries with a sequence number above after,
// oldest first.
func (e *Env) Entries(t testing.TB, after int64) []audit.Entry {
	t.Helper()
	var out []audit.Entry
	f := audit.Filter{Limit: audit.MaxLimit}
	for {
		p, err := e.App.Audit.Query(context.Background(), f)
		if err != nil {
			t.Fatal(err)
		}
		done := false
		for _, en := range p.Entries {
			if en.Seq <= after {
				done = true
				break
			}
			out = append(out, en)
		}
		if done || p.Next == 0 {
			break
		}
		f.Cursor = p.Next
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Head is the sequence number of the newest audit entry (0: none).
func (e *Env) Head(t testing.TB) int64 {
	t.Helper()
	p, err := e.App.Audit.Query(context.Background(), audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) == 0 {
		return 0
	}
	return p.Entries[0].Seq
}

// Logs is a goroutine-safe buffer for the server's log.
type Logs struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Lines returns the log lines that contain s.
func (l *Logs) Lines(s string) []string {
	var out []string
	for _, line := range strings.Split(l.String(), "\n") {
		if strings.Contains(line, s) {
			out = append(out, line)
		}
	}
	return out
}

var _ io.Writer = (*Logs)(nil)

func mustURL(s string) *url.URL {
	u, err := url.Parse(s)
	if err != nil {
		panic(err)
	}
	return u
}

var tokenInLink = regexp.MustCompile(`token=([A-Za-z0-9_\-]+)`)

// PatientAccount gives a patient (or, with access.RoleRepresentative, a
// representative) a portal account the way the product does: the patient
// records decide and audit that inviter may invite for the patient,
// inviter sends a portal invitation through identity, the holder takes the link from the
// development outbox, accepts it with a password and signs in.
func (e *Env) PatientAccount(t testing.TB, inviter *Account, role access.Role, patientID, name, email, password string) *Account {
	t.Helper()
	ctx := context.Background()
	m := identity.Meta{ClientAddr: "127.0.0.1", RequestID: "apptest-invite"}
	rc, err := e.App.Patients.AuthorizePortalInvite(ctx, inviter.Principal, patientID)
	if err != nil {
		t.Fatalf("authorize the portal invitation: %v", err)
	}
	if _, err := e.App.Identity.Invite(ctx, inviter.Principal, inviter.Principal.WorkspaceID,
		identity.InviteInput{Kind: identity.InvitePatient, Email: email, Role: role, PatientID: patientID, Receipt: rc}, m); err != nil {
		t.Fatalf("invite patient: %v", err)
	}
	e.App.Identity.Wait()
	items, err := e.App.Outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	tok := ""
	for _, it := range items {
		if it.To == email {
			if m := tokenInLink.FindStringSubmatch(it.Text); m != nil {
				tok = m[1]
				break
			}
		}
	}
	if tok == "" {
		t.Fatalf("no invitation mail to %s in the outbox", email)
	}
	uid, err := e.App.Identity.AcceptInvitation(ctx, identity.AcceptInput{Token: tok, Name: name, Password: password}, m)
	if err != nil {
		t.Fatalf("accept invitation: %v", err)
	}
	res, err := e.App.Identity.SignIn(ctx, email, password, m)
	if err != nil {
		t.Fatalf("sign in %s: %v", email, err)
	}
	return &Account{Client: e.client(res.Token),
		Principal: &access.Principal{UserID: uid, Role: role, PatientID: patientID, ClientAddr: "127.0.0.1", RequestID: "apptest-seed"}}
}

// client is an HTTP client that sends the session cookie and does not
// follow redirects (a test checks the 303 itself).
func (e *Env) client(token string) *http.Client {
	jar, _ := cookiejar.New(nil)
	jar.SetCookies(mustURL(e.Server.URL), []*http.Cookie{{Name: web.SessionCookie, Value: token, Path: "/"}})
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}
