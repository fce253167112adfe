package web_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/web"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	t.Cleanup(ts.Close)
	return ts
}

func TestEveryResponseCarriesSecurityHeaders(t *testing.T) {
	ts := newServer(t)
	for _, path := range []string{"/", "/healthz", "/nowhere", "/api/v1/nowhere"} {
		res, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		h := res.Header
		for name, want := range map[string]string{
			"Cache-Control":          "no-store",
			"X-Content-Type-Options": "nosniff",
			"X-Frame-Options":        "DENY",
			"Referrer-Policy":        "no-referrer",
		} {
			if got := h.Get(name); got != want {
				t.Errorf("%s: %s = %q, want %q", path, name, got, want)
			}
		}
		csp := h.Get("Content-Security-Policy")
		if !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("%s: weak CSP %q", path, csp)
		}
		if h.Get("X-Request-Id") == "" {
			t.Errorf("%s: no request id", path)
		}
	}
}

func TestAPIErrorsAreProblemJSON(t *testing.T) {
	ts := newServer(t)
	res, err := http.Get(ts.URL + "/api/v1/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	if res.StatusCode != 404 || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
	var p web.Problem
	if err := json.NewDecoder(res.Body).Decode(&p); err != nil {
		t.Fatal(err)
	}
	if p.Status != 404 || p.Detail == "" || !strings.HasPrefix(p.Instance, "urn:request:") {
		t.Fatalf("problem: %+v", p)
	}
}

func TestPagesErrorsAreReadableHTML(t *testing.T) {
	ts := newServer(t)
	res, err := http.Get(ts.URL + "/nowhere")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 404 || !strings.Contains(string(body), "There is no page at this address") {
		t.Fatalf("got %d: %s", res.StatusCode, body)
	}
}

func TestCrossSiteFormPostIsRefused(t *testing.T) {
	ts := newServer(t)
	req, _ := http.NewRequest("POST", ts.URL+"/", strings.NewReader("a=b"))
	req.Header.Set("Sec-Fetch-Site", "cross-site")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusForbidden {
		t.Fatalf("cross-site POST got %d, want 403", res.StatusCode)
	}
}

func TestHealthAndReadiness(t *testing.T) {
	ts := newServer(t)
	for _, p := range []string{"/healthz", "/readyz", "/api/v1/openapi.json"} {
		res, err := http.Get(ts.URL + p)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != 200 {
			t.Errorf("%s: %d", p, res.StatusCode)
		}
	}
}

func TestOpenAPIDocumentIsValidJSON(t *testing.T) {
	ts := newServer(t)
	res, err := http.Get(ts.URL + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var doc struct {
		OpenAPI string         `json:"openapi"`
		Paths   map[string]any `json:"paths"`
	}
	if err := json.NewDecoder(res.Body).Decode(&doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI == "" || len(doc.Paths) == 0 {
		t.Fatal("openapi.json has no version or paths")
	}
}

func TestBrowserShellLoadsWithoutCSPViolations(t *testing.T) {
	b := browsertest.New(t)
	ts := newServer(t)
	var title, css string
	b.Run(t,
		chromedp.Navigate(ts.URL+"/"),
		chromedp.WaitVisible("main h1"),
		chromedp.Title(&title),
		chromedp.Evaluate(`getComputedStyle(document.querySelector('.top')).borderBottomStyle`, &css),
	)
	if title != "Custodia" {
		t.Errorf("title %q", title)
	}
	if css != "solid" {
		t.Errorf("stylesheet not applied (border %q)", css)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

// TestEveryAPIRouteIsDocumented walks the registered /api/v1 routes and
// checks each appears in the OpenAPI document with its method.
func TestEveryAPIRouteIsDocumented(t *testing.T) {
	b, err := web.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	s, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, pattern := range s.Patterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		ops, found := doc.Paths[path]
		if !found {
			t.Errorf("%s is not in the OpenAPI document", pattern)
			continue
		}
		if _, found := ops[strings.ToLower(method)]; !found {
			t.Errorf("%s: method %s not documented", path, method)
		}
	}
}

func TestLogsNameTheRoutePatternNotThePath(t *testing.T) {
	var buf strings.Builder
	s, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.NewTextHandler(&lockedWriter{w: &buf}, nil)), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s)
	defer ts.Close()
	res, err := http.Get(ts.URL + "/healthz?q=secret-term")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	ts.Close()
	out := buf.String()
	if !strings.Contains(out, `route="GET /healthz"`) {
		t.Fatalf("log does not name the route pattern: %s", out)
	}
	if strings.Contains(out, "secret-term") {
		t.Fatalf("log holds the query string: %s", out)
	}
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
