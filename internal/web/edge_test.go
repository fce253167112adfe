package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/web"
)

// TestWrongMethodAnswers405WithAllow: the catch-all routes match every
// method, so a known path asked with the wrong method used to answer 404.
func TestWrongMethodAnswers405WithAllow(t *testing.T) {
	a := newAuthServer(t)
	for _, c := range []struct {
		method, path, allow string
		problem             bool
	}{
		{"DELETE", "/api/v1/openapi.json", "GET, HEAD", true},
		{"GET", "/api/v1/auth/signin", "POST", true},
		{"PUT", "/signin", "GET, HEAD, POST", false},
		{"POST", "/healthz", "GET, HEAD", false},
	} {
		req, _ := http.NewRequest(c.method, a.ts.URL+c.path, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusMethodNotAllowed || res.Header.Get("Allow") != c.allow {
			t.Errorf("%s %s: %d Allow %q, want 405 Allow %q", c.method, c.path, res.StatusCode, res.Header.Get("Allow"), c.allow)
			continue
		}
		ct := res.Header.Get("Content-Type")
		if c.problem && ct != "application/problem+json" {
			t.Errorf("%s %s: Content-Type %q, want a problem", c.method, c.path, ct)
		}
		if !c.problem && (!strings.HasPrefix(ct, "text/html") || !bytes.Contains(body, []byte("<main"))) {
			t.Errorf("%s %s: Content-Type %q, want a page: %s", c.method, c.path, ct, body)
		}
	}
	// A path no route has stays 404, whatever the method.
	for _, p := range []string{"/api/v1/nowhere", "/nowhere"} {
		req, _ := http.NewRequest("DELETE", a.ts.URL+p, nil)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNotFound || res.Header.Get("Allow") != "" {
			t.Errorf("DELETE %s: %d Allow %q, want 404", p, res.StatusCode, res.Header.Get("Allow"))
		}
	}
}

// TestStaticDoesNotListDirectories: /static/ served a listing of the
// embedded files; a directory now answers 404 and files still load.
func TestStaticDoesNotListDirectories(t *testing.T) {
	ts := newServer(t)
	for path, want := range map[string]int{"/static/": 404, "/static/.": 404, "/static/app.css": 200} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, res.StatusCode, want)
		}
		if want == 404 && bytes.Contains(body, []byte("dicomviewer.js")) {
			t.Errorf("%s lists the directory: %s", path, body)
		}
	}
}

// TestOversizedBodyWithExpectContinueGets413Problem sends a JSON body over
// the limit the way careful clients do, announcing it with Expect:
// 100-continue: the server must answer 413 problem+json without asking
// for the body, not reset the connection halfway through it.
func TestOversizedBodyWithExpectContinueGets413Problem(t *testing.T) {
	a := newAuthServer(t)
	client := &http.Client{Transport: &http.Transport{ExpectContinueTimeout: 10 * time.Second}}
	body := bytes.Repeat([]byte(" "), 8<<20)
	copy(body, `{"email":"a@example.org","password":"x"}`)
	sent := &countingReader{r: bytes.NewReader(body)}
	req, _ := http.NewRequest("POST", a.ts.URL+"/api/v1/auth/signin", sent)
	req.ContentLength = int64(len(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Expect", "100-continue")
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("the request failed instead of answering 413: %v", err)
	}
	defer res.Body.Close()
	var p web.Problem
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestEntityTooLarge || res.Header.Get("Content-Type") != "application/problem+json" || p.Status != 413 {
		t.Fatalf("got %d %s %+v, want a 413 problem", res.StatusCode, res.Header.Get("Content-Type"), p)
	}
	if sent.n != 0 {
		t.Errorf("the server asked for the body and the client sent %d bytes of it", sent.n)
	}
}

type countingReader struct {
	r io.Reader
	n int
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += n
	return n, err
}

// TestSessionCookieHasHostPrefixOverTLS: with an https base URL or a TLS
// connection the session cookie is __Host-custodia_session (Secure, Path=/,
// no Domain), and only that name is read; plain loopback development keeps
// custodia_session.
func TestSessionCookieHasHostPrefixOverTLS(t *testing.T) {
	for _, c := range []struct {
		name, base string
		tls        bool
		cookie     string
	}{
		{"https base URL", "https://custodia.example", false, web.SecureSessionCookie},
		{"TLS connection", "", true, web.SecureSessionCookie},
		{"plain loopback", "", false, web.SessionCookie},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := dbtest.SQLite(t)
			acct, err := keys.NewRandomKey()
			if err != nil {
				t.Fatal(err)
			}
			svc, err := identity.New(d, discardMailer{}, discardAudit{}, identity.Config{BaseURL: "http://127.0.0.1", SealingKey: make([]byte, 32), AccountKey: acct,
				Hash: identity.HashParams{Memory: 1024, Time: 1, Threads: 1}})
			if err != nil {
				t.Fatal(err)
			}
			s, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Identity: svc, BaseURL: c.base})
			if err != nil {
				t.Fatal(err)
			}
			ts := httptest.NewUnstartedServer(s)
			if c.tls {
				ts.StartTLS()
			} else {
				ts.Start()
			}
			t.Cleanup(func() { svc.Wait(); ts.Close() })
			const email = "cookie@c.example"
			if _, _, err := svc.EnsureDemoWorkspace(context.Background(), "Clinic C", []identity.DemoMember{{Name: "Cai Cookie", Email: email, Password: pw, Role: access.RoleClinician}}); err != nil {
				t.Fatal(err)
			}
			client := ts.Client()
			req, _ := http.NewRequest("POST", ts.URL+"/api/v1/auth/signin", strings.NewReader(`{"email":"`+email+`","password":"`+pw+`"}`))
			req.Header.Set("Content-Type", "application/json")
			res, err := client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			var got *http.Cookie
			for _, ck := range res.Cookies() {
				if strings.HasSuffix(ck.Name, web.SessionCookie) {
					got = ck
				}
			}
			if got == nil || got.Name != c.cookie || got.Path != "/" || got.Domain != "" || got.Secure != (c.cookie == web.SecureSessionCookie) {
				t.Fatalf("sign-in set %+v, want %s with Path=/ and no Domain", got, c.cookie)
			}
			for _, name := range []string{web.SessionCookie, web.SecureSessionCookie} {
				req, _ := http.NewRequest("GET", ts.URL+"/api/v1/me", nil)
				req.AddCookie(&http.Cookie{Name: name, Value: got.Value})
				res, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				res.Body.Close()
				if want := map[bool]int{true: 200, false: 401}[name == c.cookie]; res.StatusCode != want {
					t.Errorf("GET /api/v1/me with the cookie named %s: %d, want %d", name, res.StatusCode, want)
				}
			}
		})
	}
}

type discardMailer struct{}

func (discardMailer) Send(context.Context, mail.Message) error { return nil }

// TestMetricsAreNotOnTheMainHandler: /metrics needed no sign-in on the
// public listener; it is now only on the handler the command serves on a
// loopback-only address (-metrics-addr).
func TestMetricsAreNotOnTheMainHandler(t *testing.T) {
	s, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	main := httptest.NewServer(s)
	defer main.Close()
	metrics := httptest.NewServer(s.MetricsHandler())
	defer metrics.Close()
	if _, err := http.Get(main.URL + "/healthz"); err != nil {
		t.Fatal(err)
	}
	res, err := http.Get(main.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Errorf("main handler /metrics: %d, want 404", res.StatusCode)
	}
	res, err = http.Get(metrics.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Contains(body, []byte(`custodia_http_requests_total{code="200",route="GET /healthz"}`)) {
		t.Errorf("metrics handler: %d %.300s", res.StatusCode, body)
	}
}
