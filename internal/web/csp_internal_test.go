package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/browsertest"
)

// TestBrowserHarnessSeesCSPViolations proves the shell test's "no CSP
// violation" means something: an inline script under our policy is reported.
func TestBrowserHarnessSeesCSPViolations(t *testing.T) {
	b := browsertest.New(t)
	ts := httptest.NewServer(secure(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/" {
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "text/html")
		_, _ = w.Write([]byte(`<!doctype html><link rel="icon" href="data:,"><h1>x</h1><script>document.title="ran"</script>`))
	})))
	defer ts.Close()
	var title string
	b.Run(t, chromedp.Navigate(ts.URL+"/"), chromedp.WaitVisible("h1"), chromedp.Title(&title))
	if title == "ran" {
		t.Fatal("inline script ran despite the CSP")
	}
	found := false
	for _, l := range b.Problems() {
		if strings.Contains(strings.ToLower(l), "content security policy") {
			found = true
		}
	}
	if !found {
		t.Fatalf("no CSP violation reported; console: %q", b.Console())
	}
}
