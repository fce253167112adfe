package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/browsertest"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// signInAs signs the browser in as a demo account through the sign-in page
// (after clearing any earlier session) and waits for the landing page.
func signInAs(env *apptest.Env, email, landing string) chromedp.Tasks {
	return chromedp.Tasks{
		network.ClearBrowserCookies(),
		chromedp.Navigate(env.Server.URL + "/signin"),
		chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", app.DemoPassword),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible(landing),
	}
}

// layoutFits reports whether the page fits 1280 px: the header on one line
// (its height that of one row) and nothing wider than the window.
func layoutFits(t *testing.T, b *browsertest.Browser, page string) {
	t.Helper()
	var m struct {
		Header, NavOverflow, PageWidth, Window float64
	}
	b.Run(t, chromedp.Evaluate(`(() => {
		const h = document.querySelector("header.top"), ul = document.querySelector("header.top nav ul");
		return {Header: h.getBoundingClientRect().height, NavOverflow: ul ? ul.scrollWidth - ul.clientWidth : 0,
			PageWidth: document.documentElement.scrollWidth, Window: window.innerWidth};
	})()`, &m))
	if m.Header > 64 || m.NavOverflow > 0 {
		t.Errorf("%s: the header does not fit one line at %v px (height %v, navigation %v px too wide)", page, m.Window, m.Header, m.NavOverflow)
	}
	if m.PageWidth > m.Window {
		t.Errorf("%s: the page is %v px wide in a %v px window", page, m.PageWidth, m.Window)
	}
}

// TestBrowserClinicianLandsOnTheirWorkAndOpensAPatient: the demo clinician
// signs in, lands on their patients, recent cases and new uploads and
// comments, and opens a patient from there.
func TestBrowserClinicianLandsOnTheirWorkAndOpensAPatient(t *testing.T) {
	b := browsertest.New(t)
	env := demoEnv(t)
	var heading, cases, activity, name string
	b.Run(t, signInAs(env, "clinician@demo.custodia.example", "#my-patients"),
		chromedp.Text("main h1", &heading),
		chromedp.Text("#recent-cases", &cases),
		chromedp.Text("#activity", &activity),
	)
	if heading != "My work" || !strings.Contains(cases, "Rhinoplasty") || !strings.Contains(cases, "Alma Demoson") || !strings.Contains(activity, "uploaded") {
		t.Fatalf("landing: %q / %q / %q", heading, cases, activity)
	}
	layoutFits(t, b, "clinician landing")
	b.Run(t,
		chromedp.Click(`//section[@id="my-patients"]//a[normalize-space(.)="Alma Demoson"]`, chromedp.BySearch),
		chromedp.WaitVisible("#prof-h"),
		chromedp.Text("main h1", &name),
	)
	if name != "Alma Demoson" {
		t.Fatalf("opened %q", name)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

// TestBrowserPatientSeesHerRecordAndChangesAConsentWithConfirmation: the
// demo patient signs in to the portal, sees her record and her consents,
// cancels a change at the confirmation, then confirms it and sees what
// changed.
func TestBrowserPatientSeesHerRecordAndChangesAConsentWithConfirmation(t *testing.T) {
	b := browsertest.New(t)
	env := demoEnv(t)
	var hello, shared, record string
	b.Run(t, signInAs(env, app.DemoPatientAccount.Email, "#my-record"),
		chromedp.Text("main h1", &hello),
		chromedp.Text("#shared-with-me", &shared),
		chromedp.Click(`#my-record a.button`),
		chromedp.WaitVisible("#me-h"),
		chromedp.Text("main", &record),
	)
	if hello != "Hello, Alma Demoson" || !strings.Contains(shared, "Rhinoplasty") || !strings.Contains(record, "1986-03-14") {
		t.Fatalf("portal: %q / %q / %q", hello, shared, record)
	}
	layoutFits(t, b, "patient record")
	const button = `form[data-purpose="sms"][data-category="general"] button`
	var question, state, flash string
	b.Run(t,
		chromedp.Navigate(env.Server.URL+"/"),
		chromedp.WaitVisible("#my-consents"),
		chromedp.Click(`#my-consents a.button`),
		chromedp.WaitVisible("#group-contact"),
		chromedp.Click(button),
		chromedp.WaitVisible("#confirm-dialog-q"),
		chromedp.Text("#confirm-dialog-q", &question),
		chromedp.Click("#confirm-dialog-no"),
		chromedp.WaitNotVisible("#confirm-dialog"),
		chromedp.Text(`#purpose-sms td[data-category="general"] .state`, &state),
	)
	if !strings.HasPrefix(question, "Give consent to “Text messages”") || state != "Not given" {
		t.Fatalf("before confirming: question %q, state %q", question, state)
	}
	layoutFits(t, b, "consent page")
	b.Run(t,
		chromedp.Click(button),
		chromedp.WaitVisible("#confirm-dialog-yes"),
		chromedp.Click("#confirm-dialog-yes"),
		chromedp.WaitVisible("#consent-changed"),
		chromedp.Text(".flash", &flash),
		chromedp.Text(`#purpose-sms td[data-category="general"] .state`, &state),
	)
	if !strings.Contains(flash, "You gave consent to “Text messages”") || !strings.HasPrefix(state, "Given on") {
		t.Fatalf("after confirming: flash %q, state %q", flash, state)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

// TestBrowserClinicianPlansARehabProgramme: the clinician (the patient's
// therapist) plans a programme on the rehabilitation page and sees it with
// the exercises by name.
func TestBrowserClinicianPlansARehabProgramme(t *testing.T) {
	b := browsertest.New(t)
	env := demoEnv(t)
	alma := demoPatientID(t, env)
	var flash, table string
	b.Run(t, signInAs(env, "clinician@demo.custodia.example", "#my-patients"),
		chromedp.Navigate(env.Server.URL+"/patients/"+alma+"/rehab"),
		chromedp.WaitVisible("#plan-name"),
		chromedp.SendKeys("#plan-name", "Wrist recovery"),
		chromedp.SetValue("#type-0", "wrist_flexion", chromedp.ByID),
		chromedp.SetValue("#side-0", "left", chromedp.ByID),
		chromedp.SetValue("#level-0", "2", chromedp.ByID),
		chromedp.SetValue("#freq-0", "5", chromedp.ByID),
		chromedp.SetValue("#type-1", "finger_tapping", chromedp.ByID),
		chromedp.Click("#plan-save"),
		chromedp.WaitVisible("#programme-table"),
		chromedp.Text(".flash", &flash),
		chromedp.Text("#programme-table", &table),
	)
	if !strings.Contains(flash, "The programme was saved") || !strings.Contains(table, "Wrist flexion") || !strings.Contains(table, "Finger tapping") {
		t.Fatalf("after saving: %q / %q", flash, table)
	}
	layoutFits(t, b, "rehab page")
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

// TestBrowserMainPagesFitAt1280 opens every main page as the role that
// uses it and checks that it fits a 1280-px window with the navigation on
// one line. With CUSTODIA_SHOTS=DIR it saves a full-page screenshot of
// each into DIR.
func TestBrowserMainPagesFitAt1280(t *testing.T) {
	b := browsertest.New(t)
	env := demoEnv(t)
	alma := demoPatientID(t, env)
	ctx := context.Background()
	cs, err := env.App.Cases.List(ctx, pt.Clinician(demoWorkspace(t, env)), alma)
	if err != nil || len(cs) == 0 {
		t.Fatalf("demo cases: %v", err)
	}
	caseID := cs[len(cs)-1].ID // the first one made: Rhinoplasty
	dir := os.Getenv("CUSTODIA_SHOTS")
	if dir != "" {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	shot := func(name string) {
		layoutFits(t, b, name)
		if dir == "" {
			return
		}
		var png []byte
		b.Run(t, chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	visit := func(name, path, wait string) {
		b.Run(t, chromedp.Navigate(env.Server.URL+path), chromedp.WaitVisible(wait))
		shot(name)
	}
	b.Run(t, chromedp.Navigate(env.Server.URL+"/"), chromedp.WaitVisible(".hero"))
	shot("00-welcome")
	visit("01-signin", "/signin", "#email")

	b.Run(t, signInAs(env, "clinician@demo.custodia.example", "#my-patients"))
	shot("10-clinician-landing")
	visit("11-patients", "/patients", "#list-h")
	visit("12-patient", "/patients/"+alma, "#prof-h")
	visit("13-rehab", "/patients/"+alma+"/rehab", "#programme-h")
	visit("14-case", "/cases/"+caseID, "main h1")
	visit("15-consents-clinician", "/patients/"+alma+"/consents", "#group-service")
	visit("16-consent-paper", "/patients/"+alma+"/consents/paper", "#representative")
	visit("17-account", "/account", "#mfa")
	visit("18-invite-patient", "/workspace/patients/invite", "main h1")

	b.Run(t, signInAs(env, "privacy@demo.custodia.example", "#breakglass-queue"))
	shot("20-privacy-landing")
	visit("21-breakglass", "/privacy/break-glass", "main h1")
	visit("22-audit", "/privacy/audit", "main h1")

	b.Run(t, signInAs(env, "admin@demo.custodia.example", "#admin-members"))
	shot("30-admin-landing")
	visit("31-members", "/workspace/members", "main h1")
	visit("32-access-matrix", "/access/matrix", "main h1")

	b.Run(t, signInAs(env, app.DemoPatientAccount.Email, "#my-record"))
	shot("40-patient-landing")
	visit("41-my-record", "/me", "#me-h")
	visit("42-my-consents", "/patients/"+alma+"/consents", "#group-contact")
	visit("43-my-progress", "/my/progress", "#programme-h")
	visit("44-access-history", "/me/access-history", "main h1")
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
	if dir != "" {
		t.Logf("screenshots in %s", dir)
	}
}

// demoWorkspace returns the demo workspace and its clinician's user id.
func demoWorkspace(t *testing.T, env *apptest.Env) (string, string) {
	t.Helper()
	ws, ids, err := env.App.Identity.EnsureDemoWorkspace(context.Background(), app.DemoWorkspaceName, app.DemoAccounts)
	if err != nil {
		t.Fatal(err)
	}
	return ws, ids[0]
}
