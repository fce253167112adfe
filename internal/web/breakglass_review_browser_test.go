package web_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/browsertest"
)

// TestPrivacyOfficerApprovesACareTeamChangeInABrowser: the officer opens the
// review queue in Chromium at 1280 px, sees what the clinician did under the
// grant, and approves the care-team change the clinician asked for. With
// CUSTODIA_SCREENSHOT_DIR set, the page is saved there as
// breakglass_review.png before and breakglass_review_approved.png after.
func TestPrivacyOfficerApprovesACareTeamChangeInABrowser(t *testing.T) {
	b := browsertest.New(t)
	f := newReviewFixture(t)
	if status, _ := f.do(t, "er1", "GET", "/patients/"+f.patientID, nil); status != 200 {
		t.Fatalf("record under break-glass: %d", status)
	}
	if status, _ := f.do(t, "er1", "POST", "/patients/"+f.patientID+"/care-team", url.Values{"user_id": {"er1"}}); status != http.StatusAccepted {
		t.Fatalf("care-team request: %d", status)
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/test/as/"); ok {
			http.SetCookie(w, &http.Cookie{Name: "test-as", Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie("test-as"); err == nil {
			if p := f.as[c.Value]; p != nil {
				r = r.WithContext(access.WithPrincipal(r.Context(), p))
			}
		}
		f.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	var before, after []byte
	var page, flash string
	b.Run(t,
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(ts.URL+"/test/as/po"),
		chromedp.Navigate(ts.URL+"/privacy/break-glass"),
		chromedp.WaitVisible(`button[value="approve"]`),
		chromedp.Text("main", &page),
		chromedp.FullScreenshot(&before, 100),
		chromedp.Click(`button[value="approve"]`),
		chromedp.WaitVisible(`.flash, [role="status"]`),
		chromedp.Text("main", &flash),
		chromedp.FullScreenshot(&after, 100),
	)
	for _, want := range []string{"Emil Er opened Ben Jones", "Opened the patient's record", "Add Emil Er to the care team"} {
		if !strings.Contains(page, want) {
			t.Errorf("review page lacks %q:\n%s", want, page)
		}
	}
	if !strings.Contains(flash, "now in effect") || !strings.Contains(flash, "Approved by Otto Officer") {
		t.Errorf("after approving:\n%s", flash)
	}
	if dir := os.Getenv("CUSTODIA_SCREENSHOT_DIR"); dir != "" {
		for name, img := range map[string][]byte{"breakglass_review.png": before, "breakglass_review_approved.png": after} {
			if err := os.WriteFile(filepath.Join(dir, name), img, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %v", p)
	}
}
