package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/web"
)

// discardAudit is a test stand-in for the audit log, which another package
// provides; identity's own tests check the events themselves.
type discardAudit struct{}

func (discardAudit) Append(context.Context, audit.Event) (audit.Receipt, error) {
	return audit.Receipt{}, nil
}

type authServer struct {
	srv    *web.Server
	ts     *httptest.Server
	svc    *identity.Service
	outbox *mail.Outbox
}

func newAuthServer(t *testing.T) *authServer {
	t.Helper()
	d := dbtest.SQLite(t)
	ts := httptest.NewUnstartedServer(nil)
	base := "http://" + ts.Listener.Addr().String()
	ob := mail.NewOutbox("custodia@localhost")
	acct, err := keys.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	svc, err := identity.New(d, ob, discardAudit{}, identity.Config{BaseURL: base, SealingKey: make([]byte, 32), AccountKey: acct,
		Hash: identity.HashParams{Memory: 1024, Time: 1, Threads: 1}})
	if err != nil {
		t.Fatal(err)
	}
	s, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Identity: svc, Outbox: ob, BaseURL: base})
	if err != nil {
		t.Fatal(err)
	}
	ts.Config.Handler = s
	ts.Start()
	t.Cleanup(func() { svc.Wait(); ts.Close() })
	return &authServer{srv: s, ts: ts, svc: svc, outbox: ob}
}

const pw = "violet tractor harbour lantern"

// link returns the newest emailed link to path for to, from the outbox.
func (a *authServer) link(t *testing.T, to, path string) string {
	t.Helper()
	a.svc.Wait()
	items, err := a.outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`https?://\S+` + regexp.QuoteMeta(path) + `\?token=[a-z0-9]+`)
	for _, it := range items {
		if it.To == to {
			if l := re.FindString(it.Text); l != "" {
				return l
			}
		}
	}
	t.Fatalf("no %s link in the outbox", path)
	return ""
}

// user creates a verified admin with TOTP enrolled and returns the
// recovery codes.
func (a *authServer) user(t *testing.T, email string) []string {
	t.Helper()
	ctx := context.Background()
	if err := a.svc.SignUp(ctx, identity.SignUpInput{Name: "Ada Quimby", Email: email, Password: pw}, identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(a.link(t, email, "/verify"))
	if err := a.svc.VerifyEmail(ctx, u.Query().Get("token"), identity.Meta{}); err != nil {
		t.Fatal(err)
	}
	res, err := a.svc.SignIn(ctx, email, pw, identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	// Founders are admins, who must enrol MFA before anything else.
	sess, _, _ := a.svc.Authenticate(ctx, res.Token, identity.Meta{})
	en, err := a.svc.BeginTOTP(ctx, sess.UserID)
	if err != nil {
		t.Fatal(err)
	}
	codes, _, err := a.svc.ConfirmTOTP(ctx, sess, totpCode(t, en.Secret), identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	return codes
}

type client struct {
	*http.Client
	base string
}

func (a *authServer) client() *client {
	jar, _ := cookiejar.New(nil)
	return &client{&http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, a.ts.URL}
}

func (c *client) do(t *testing.T, method, path string, body any, hdr ...string) (*http.Response, string) {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, c.base+path, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, string(b)
}

// withoutRequestID removes the per-request id so two answers can be compared.
func withoutRequestID(s string) string {
	return regexp.MustCompile(`(urn:request:|<code>)[0-9a-f]+`).ReplaceAllString(s, "$1")
}

func TestUnknownAndKnownEmailGetTheSameAnswer(t *testing.T) {
	a := newAuthServer(t)
	a.user(t, "ada@clinic.example")
	c := a.client()
	for _, tc := range []struct {
		name   string
		method string
		path   string
		body   func(email string) any
	}{
		{"API sign-in", "POST", "/api/v1/auth/signin", func(e string) any { return map[string]string{"email": e, "password": "wrong password here!"} }},
		{"page sign-in", "POST", "/signin", func(e string) any { return url.Values{"password": {"wrong password here!"}, "email": {"x"}} }},
		{"API forgot password", "POST", "/api/v1/auth/forgot", func(e string) any { return map[string]string{"email": e} }},
		{"page forgot password", "POST", "/forgot", func(e string) any { return url.Values{"email": {e}} }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rk, bk := c.do(t, tc.method, tc.path, tc.body("ada@clinic.example"))
			ru, bu := c.do(t, tc.method, tc.path, tc.body("nobody@clinic.example"))
			if rk.StatusCode != ru.StatusCode || withoutRequestID(bk) != withoutRequestID(bu) {
				t.Fatalf("known %d %q\nunknown %d %q", rk.StatusCode, bk, ru.StatusCode, bu)
			}
			if rk.StatusCode >= 500 {
				t.Fatalf("status %d", rk.StatusCode)
			}
		})
	}
}

func TestPageSignInEchoesEmailButSameMessage(t *testing.T) {
	a := newAuthServer(t)
	a.user(t, "ada@clinic.example")
	c := a.client()
	rk, bk := c.do(t, "POST", "/signin", url.Values{"email": {"ada@clinic.example"}, "password": {"nope nope nope nope"}})
	ru, bu := c.do(t, "POST", "/signin", url.Values{"email": {"ada@clinic.example"}, "password": {"nope nope nope nope"}})
	_ = ru
	if rk.StatusCode != http.StatusUnauthorized || !strings.Contains(bk, "The email address or password is not right") || withoutRequestID(bk) != withoutRequestID(bu) {
		t.Fatalf("%d %s", rk.StatusCode, bk)
	}
}

func TestThrottledSignInAnswers429WithRetryAfter(t *testing.T) {
	a := newAuthServer(t)
	c := a.client()
	var last *http.Response
	for range 8 {
		last, _ = c.do(t, "POST", "/api/v1/auth/signin", map[string]string{"email": "nobody@clinic.example", "password": "wrong password here!"})
		if last.StatusCode == http.StatusTooManyRequests {
			break
		}
	}
	if last.StatusCode != http.StatusTooManyRequests || last.Header.Get("Retry-After") == "" {
		t.Fatalf("got %d, Retry-After %q", last.StatusCode, last.Header.Get("Retry-After"))
	}
	res, body := c.do(t, "POST", "/signin", url.Values{"email": {"nobody@clinic.example"}, "password": {"x"}})
	if res.StatusCode != http.StatusTooManyRequests || !strings.Contains(body, "Too many failed attempts") {
		t.Fatalf("page: %d", res.StatusCode)
	}
}

func TestSignedOutPagesRedirectAndAPIAnswers401(t *testing.T) {
	a := newAuthServer(t)
	c := a.client()
	res, _ := c.do(t, "GET", "/account", nil)
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/signin?next=%2Faccount" {
		t.Fatalf("page: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	res, _ = c.do(t, "GET", "/api/v1/me", nil)
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("api: %d", res.StatusCode)
	}
	res, _ = c.do(t, "GET", "/api/v1/me", nil, "Authorization", "Bearer cus_nonsense")
	if res.StatusCode != http.StatusUnauthorized || res.Header.Get("WWW-Authenticate") == "" {
		t.Fatalf("bad bearer: %d", res.StatusCode)
	}
}

func TestSessionCookieIsHttpOnlyLaxAndAPITokensWork(t *testing.T) {
	a := newAuthServer(t)
	codes := a.user(t, "ada@clinic.example")
	c := a.client()
	res, body := c.do(t, "POST", "/api/v1/auth/signin", map[string]string{"email": "ada@clinic.example", "password": pw})
	if res.StatusCode != 200 || !strings.Contains(body, `"mfa"`) {
		t.Fatalf("sign-in: %d %s", res.StatusCode, body)
	}
	var ck *http.Cookie
	for _, x := range res.Cookies() {
		if x.Name == web.SessionCookie {
			ck = x
		}
	}
	if ck == nil || !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Path != "/" || ck.Secure {
		t.Fatalf("cookie %+v (non-Secure is right only for http on loopback)", ck)
	}
	if res, _ := c.do(t, "GET", "/api/v1/me", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("MFA still due but /me answered %d", res.StatusCode)
	}
	if res, body := c.do(t, "POST", "/api/v1/auth/mfa", map[string]string{"code": codes[0]}); res.StatusCode != 200 {
		t.Fatalf("mfa: %d %s", res.StatusCode, body)
	}
	if res, _ := c.do(t, "GET", "/api/v1/me", nil); res.StatusCode != 200 {
		t.Fatalf("/me after MFA: %d", res.StatusCode)
	}
	res, body = c.do(t, "POST", "/api/v1/me/tokens", map[string]any{"name": "Rehab tablet", "scopes": []string{"rehab:ingest"}, "lifetime_days": 30})
	var tok struct{ ID, Secret string }
	_ = json.Unmarshal([]byte(body), &tok)
	if res.StatusCode != http.StatusCreated || !strings.HasPrefix(tok.Secret, "cus_") {
		t.Fatalf("create token: %d %s", res.StatusCode, body)
	}
	bearer := func(method, path string, body any) int {
		r, _ := a.client().do(t, method, path, body, "Authorization", "Bearer "+tok.Secret)
		return r.StatusCode
	}
	if got := bearer("GET", "/api/v1/me", nil); got != 200 {
		t.Fatalf("bearer /me: %d", got)
	}
	if got := bearer("POST", "/api/v1/me/tokens", map[string]any{"name": "x", "scopes": []string{"records:read"}}); got != http.StatusForbidden {
		t.Fatalf("a token minted a token: %d", got)
	}
	if _, body := c.do(t, "GET", "/api/v1/me/tokens", nil); strings.Contains(body, tok.Secret) || !strings.Contains(body, tok.ID) {
		t.Fatalf("token list: %s", body)
	}
	if res, _ := c.do(t, "DELETE", "/api/v1/me/tokens/"+tok.ID, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d", res.StatusCode)
	}
	if got := bearer("GET", "/api/v1/me", nil); got != http.StatusUnauthorized {
		t.Fatalf("revoked token: %d", got)
	}
	// Sign out everywhere ends the cookie session too.
	if res, _ := c.do(t, "DELETE", "/api/v1/me/sessions", nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("sign out everywhere: %d", res.StatusCode)
	}
	stolen := &http.Cookie{Name: web.SessionCookie, Value: ck.Value}
	req, _ := http.NewRequest("GET", a.ts.URL+"/api/v1/me", nil)
	req.AddCookie(stolen)
	if r, err := http.DefaultClient.Do(req); err != nil || r.StatusCode != http.StatusUnauthorized {
		t.Fatalf("stolen cookie after sign-out everywhere: %v %v", r.StatusCode, err)
	}
}

// TestEveryIdentityAPIRouteIsDocumented is main's route-coverage test for a
// server that has the identity service (so the identity routes exist).
func TestEveryIdentityAPIRouteIsDocumented(t *testing.T) {
	a := newAuthServer(t)
	_, body := a.client().do(t, "GET", "/api/v1/openapi.json", nil)
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, pattern := range a.srv.Patterns() {
		m, p, _ := strings.Cut(pattern, " ")
		if !strings.HasPrefix(p, "/api/v1/") {
			continue
		}
		n++
		if _, ok := doc.Paths[p][strings.ToLower(m)]; !ok {
			t.Errorf("openapi lacks %s", pattern)
		}
	}
	if n < 19 {
		t.Fatalf("only %d API routes registered", n)
	}
}

// The development outbox holds sign-up, invitation and reset links: only a
// client on this machine, not through a proxy, may read it.
func TestDevOutboxAnswersOnlyLoopbackClients(t *testing.T) {
	a := newAuthServer(t)
	if err := a.outbox.Send(context.Background(), mail.Message{To: "ann@example.org", Subject: "Reset your password", Text: "http://x/reset?token=secret-token-1"}); err != nil {
		t.Fatal(err)
	}
	items, err := a.outbox.List()
	if err != nil || len(items) != 1 {
		t.Fatalf("outbox %v %v", items, err)
	}
	for _, c := range []struct {
		remote, forwarded string
		want              int
	}{
		{"127.0.0.1:40000", "", http.StatusOK},
		{"[::1]:40000", "", http.StatusOK},
		{"192.0.2.7:40000", "", http.StatusNotFound},
		{"[2001:db8::7]:40000", "", http.StatusNotFound},
		{"10.0.0.5:40000", "", http.StatusNotFound},
		{"127.0.0.1:40000", "192.0.2.7", http.StatusNotFound},
	} {
		for _, path := range []string{"/dev/outbox", "/dev/outbox/" + items[0].Name} {
			r := httptest.NewRequest("GET", path, nil)
			r.RemoteAddr = c.remote
			if c.forwarded != "" {
				r.Header.Set("X-Forwarded-For", c.forwarded)
			}
			w := httptest.NewRecorder()
			a.srv.ServeHTTP(w, r)
			if w.Code != c.want {
				t.Errorf("%s from %s (forwarded %q): %d, want %d", path, c.remote, c.forwarded, w.Code, c.want)
			}
			if c.want != http.StatusOK && strings.Contains(w.Body.String(), "secret-token-1") {
				t.Errorf("%s from %s: the refused answer holds the link", path, c.remote)
			}
		}
	}
}
