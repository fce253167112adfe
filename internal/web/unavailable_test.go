package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/web"
)

// lockClock is a clock the test moves forward, so sessions come due for
// their last-seen write.
type lockClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *lockClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *lockClock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestLockedDatabaseAnswers503ProblemWithOnlyTheRequestID holds SQLite's
// write lock from another handle, as another process would, with a short
// busy timeout, and checks that signed-in requests fail closed with 503:
// the session's last-seen write (which answered 500 "touch session:
// database is locked"), an API token's last-used write (which answered
// 401, telling the app its good token was bad), and a handler's own write.
// The problem carries a fixed detail and the request id, nothing of the
// driver's text; pages get a readable 503 page.
func TestLockedDatabaseAnswers503ProblemWithOnlyTheRequestID(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLiteBusyAfter(t, 50)
	_, signer, _ := ed25519.GenerateKey(rand.Reader)
	alog, err := audit.Open(ctx, d, signer, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { alog.Close() })
	ob := mail.NewOutbox("custodia@localhost")
	acct, err := keys.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	clock := &lockClock{t: time.Now()}
	svc, err := identity.New(d, ob, alog, identity.Config{BaseURL: "http://127.0.0.1", SealingKey: make([]byte, 32), AccountKey: acct,
		Hash: identity.HashParams{Memory: 1024, Time: 1, Threads: 1}, Now: clock.Now})
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Identity: svc, Audit: alog, BaseURL: "http://127.0.0.1"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(func() { svc.Wait(); ts.Close() })

	const email = "lock.doc@a.example"
	ws, uids, err := svc.EnsureDemoWorkspace(ctx, "Clinic L", []identity.DemoMember{{Name: "Lena Lock", Email: email, Password: pw, Role: access.RoleClinician}})
	if err != nil {
		t.Fatal(err)
	}
	stale, err := svc.SignIn(ctx, email, pw, identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	_, token, err := svc.CreateToken(ctx, &access.Principal{UserID: uids[0], WorkspaceID: ws, Role: access.RoleClinician},
		identity.TokenInput{Name: "lock test", Scopes: []string{"records:read"}}, identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	clock.Add(time.Minute) // the session and the token are due for their last-seen write
	fresh, err := svc.SignIn(ctx, email, pw, identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}

	dbtest.HoldWriteLock(t, d)
	for _, c := range []struct {
		name, method, path, body string
		header                   map[string]string
		page                     bool
	}{
		{name: "session touch, API", method: "GET", path: "/api/v1/me", header: map[string]string{"Cookie": web.SessionCookie + "=" + stale.Token}},
		{name: "session touch, page", method: "GET", path: "/account", header: map[string]string{"Cookie": web.SessionCookie + "=" + stale.Token}, page: true},
		{name: "token touch", method: "GET", path: "/api/v1/me", header: map[string]string{"Authorization": "Bearer " + token}},
		{name: "handler write", method: "POST", path: "/api/v1/me/tokens", body: `{"name":"another","scopes":["records:read"]}`,
			header: map[string]string{"Cookie": web.SessionCookie + "=" + fresh.Token, "Content-Type": "application/json"}},
		{name: "sign-in (audit append, session write)", method: "POST", path: "/api/v1/auth/signin", body: `{"email":"` + email + `","password":"` + pw + `"}`,
			header: map[string]string{"Content-Type": "application/json"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest(c.method, ts.URL+c.path, strings.NewReader(c.body))
			for k, v := range c.header {
				req.Header.Set(k, v)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503: %s", res.StatusCode, body)
			}
			for _, leak := range []string{"locked", "busy", "sqlite", "touch", "SQL"} {
				if strings.Contains(string(body), leak) {
					t.Errorf("the answer holds %q: %s", leak, body)
				}
			}
			rid := res.Header.Get("X-Request-Id")
			if c.page {
				if ct := res.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") || !strings.Contains(string(body), rid) {
					t.Errorf("page answer %s without the request id: %s", ct, body)
				}
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p map[string]any
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if p["instance"] != "urn:request:"+rid || p["status"] != float64(503) {
				t.Errorf("problem does not name the request %s: %s", rid, body)
			}
			for k := range p {
				switch k {
				case "type", "title", "status", "detail", "instance":
				default:
					t.Errorf("problem has %q: %s", k, body)
				}
			}
		})
	}
}
