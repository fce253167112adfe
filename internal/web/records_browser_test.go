package web_test

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
	"github.com/custodia-health/custodia/internal/web"
)

// TestClinicianAndPatientFlowsInABrowser drives the main clinician flow
// (create a patient, find them by search, open them, open a case, add a note
// and a comment, share the case) and then the patient's view of the shared
// case in Chromium. Until sessions are used here, a test-only middleware
// signs the browser in: GET /test/as/NAME sets a cookie naming a principal,
// and each request carries that principal in its context.
func TestClinicianAndPatientFlowsInABrowser(t *testing.T) {
	b := browsertest.New(t)
	env := pt.New(t, dbtest.SQLite(t))
	env.Audit.AfterAppend = web.CountReceipt
	s, err := web.New(web.Deps{DB: env.DB, Log: discard(), Version: "test", Records: &web.Records{Patients: env.Patients, Cases: env.Cases}})
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	as := map[string]*access.Principal{"doc1": pt.Clinician("ws1", "doc1")}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if name, ok := strings.CutPrefix(r.URL.Path, "/test/as/"); ok {
			http.SetCookie(w, &http.Cookie{Name: "test-as", Value: name, Path: "/", HttpOnly: true, SameSite: http.SameSiteStrictMode})
			http.Redirect(w, r, "/", http.StatusSeeOther)
			return
		}
		if c, err := r.Cookie("test-as"); err == nil {
			mu.Lock()
			p := as[c.Value]
			mu.Unlock()
			if p != nil {
				r = r.WithContext(access.WithPrincipal(r.Context(), p))
			}
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)

	// Each wait names something only the page after the action has, so no
	// step acts on the page the browser is leaving.
	var found, caseText, notes, location string
	b.Run(t,
		chromedp.Navigate(ts.URL+"/test/as/doc1"),
		chromedp.Navigate(ts.URL+"/patients/new"),
		chromedp.WaitVisible("#f-given_name"),
		chromedp.SendKeys("#f-given_name", "Greta"),
		chromedp.SendKeys("#f-family_name", "Lindqvist"),
		chromedp.SetValue("#f-birth_date", "1984-09-30"),
		chromedp.SendKeys("#f-email", "greta@example.org"),
		chromedp.Submit("#f-given_name"),
		chromedp.WaitVisible("#prof-h"),
		chromedp.Navigate(ts.URL+"/patients"),
		chromedp.SendKeys("#s-name", "lindqvist"),
		chromedp.Submit("#s-name"),
		chromedp.WaitVisible(`[data-searched="true"]`),
		chromedp.Text("table tbody", &found),
		chromedp.Click("table tbody a"),
		chromedp.WaitVisible("#case-title"),
		chromedp.Location(&location),
		chromedp.SendKeys("#case-title", "Septoplasty"),
		chromedp.SetValue("#case-date", "2026-04-02"),
		chromedp.Submit("#case-title"),
		chromedp.WaitVisible("#c-notes"),
		chromedp.SendKeys("#c-notes", "Day 1: mild swelling."),
		chromedp.Click("#save-case"),
		chromedp.WaitVisible(`[data-version="2"]`),
		chromedp.SendKeys("#comment-text", "Looks as expected."),
		chromedp.Click("#add-comment"),
		chromedp.WaitVisible("ol.comments li"),
		chromedp.Text("main", &caseText),
		chromedp.Evaluate(`document.querySelector("#c-notes").value`, &notes),
		chromedp.Click(`input[name="notes_shared"]`),
		chromedp.Click("#save-sharing"),
		// The checked attribute (not property) exists only in the page the
		// server renders after saving, so this waits for the reload.
		chromedp.WaitVisible(`input[name="notes_shared"][checked]`),
	)
	if !strings.Contains(found, "Greta Lindqvist") {
		t.Fatalf("search results: %q", found)
	}
	if notes != "Day 1: mild swelling." {
		t.Fatalf("saved notes: %q", notes)
	}
	for _, want := range []string{"Septoplasty", "Looks as expected.", "version 2"} {
		if !strings.Contains(caseText, want) {
			t.Fatalf("case page lacks %q: %q", want, caseText)
		}
	}
	patientID := location[strings.LastIndex(location, "/")+1:]
	mu.Lock()
	as["greta"] = pt.PatientUser("u-greta", patientID)
	mu.Unlock()
	var mine, shared string
	b.Run(t,
		chromedp.Navigate(ts.URL+"/test/as/greta"),
		chromedp.Navigate(ts.URL+"/me"),
		chromedp.WaitVisible("#mycases-h"),
		chromedp.Text("main", &mine),
		chromedp.Click("main ul a"),
		chromedp.WaitVisible("#notes-h"),
		chromedp.Text("main", &shared),
	)
	if !strings.Contains(mine, "greta@example.org") || !strings.Contains(mine, "Septoplasty") {
		t.Fatalf("my record: %q", mine)
	}
	if !strings.Contains(shared, "Day 1: mild swelling.") || strings.Contains(shared, "Looks as expected.") {
		t.Fatalf("patient's case view: %q", shared)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

func discard() *slog.Logger { return slog.New(slog.DiscardHandler) }
