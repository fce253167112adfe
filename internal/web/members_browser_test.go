package web_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// shot saves a full-page screenshot of the current page as name.png into
// $CUSTODIA_SHOTS, when that is set (the pages at 1280 px, for review).
func shot(t *testing.T, b *browsertest.Browser, name string) {
	t.Helper()
	dir := os.Getenv("CUSTODIA_SHOTS")
	if dir == "" {
		return
	}
	var png []byte
	b.Run(t, chromedp.FullScreenshot(&png, 100))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestBrowserAdminInvitesAClinicianWhoAcceptsAndSignsIn: the founder opens
// the members page, invites a colleague (clinician by default), sees the
// invitation pending; the colleague opens the link from the development
// outbox, creates an account, signs in, enrols a second factor and is in
// the practice as a clinician.
func TestBrowserAdminInvitesAClinicianWhoAcceptsAndSignsIn(t *testing.T) {
	b := browsertest.New(t)
	a := newAuthServer(t)
	const founder, colleague = "dr.quimby@clinic.example", "dr.park@clinic.example"
	codes := a.user(t, founder)
	b.Run(t, chromedp.Navigate(a.ts.URL+"/signup"), chromedp.WaitVisible("#password-criteria"))
	shot(t, b, "signup")
	var role, flash, pending, heading string
	b.Run(t,
		chromedp.Navigate(a.ts.URL+"/signin"),
		chromedp.WaitVisible("#email"),
		chromedp.SendKeys("#email", founder),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#code"),
		chromedp.SendKeys("#code", codes[0]),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#admin-members"), // signed in, on the admin's landing page
		// Rename the practice, as sign-up promised.
		chromedp.Navigate(a.ts.URL+"/workspace/members"),
		chromedp.WaitVisible("#ws-name"),
		chromedp.Evaluate(`document.querySelector('#ws-name').value = ''`, nil),
		chromedp.SendKeys("#ws-name", "Harbour Street Practice"),
		chromedp.Click(`form[action="/workspace/settings/name"] button`),
		chromedp.WaitVisible(".flash"),
		chromedp.Text("main h1", &heading),
		chromedp.Value("#role", &role),
		chromedp.SendKeys("#email", colleague),
		chromedp.Click(`form[action="/workspace/members/invite"] button`),
		chromedp.WaitVisible("#pending-h + table"),
		chromedp.Text(".flash", &flash),
		chromedp.Text("#pending-h + table", &pending),
	)
	if heading != "Members of Harbour Street Practice" {
		t.Fatalf("after renaming: %q", heading)
	}
	if role != "clinician" {
		t.Fatalf("the invite form's role is %q, want clinician by default", role)
	}
	if !strings.Contains(flash, "on its way") || !strings.Contains(pending, colleague) || !strings.Contains(pending, "Clinician") || !strings.Contains(pending, "Ada Quimby") {
		t.Fatalf("after inviting: flash %q, pending %q", flash, pending)
	}
	shot(t, b, "members")

	items, err := a.outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	if it := items[0]; it.To != colleague || !strings.Contains(it.Subject, "Ada Quimby") || !strings.Contains(it.Subject, "Harbour Street Practice") {
		t.Fatalf("the invitation mail: %q to %q", it.Subject, it.To)
	}
	link := a.link(t, colleague, "/invitations/accept")
	var intro, secret, nav string
	b.Run(t,
		chromedp.Click(`header form[action="/signout"] button`),
		// The members page shows a flash too: wait for the signed-out
		// header, or the next navigation aborts the sign-out's redirect.
		chromedp.WaitVisible(`header a[href="/signin"]`),
		chromedp.Navigate(link),
		chromedp.WaitVisible("#name"),
		chromedp.Text("main p", &intro),
		chromedp.SendKeys("#name", "Cy Park"),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible(".flash"),
		chromedp.SendKeys("#email", colleague),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		// Clinicians of a workspace that requires it enrol a second factor.
		chromedp.WaitVisible("#totp-secret"),
		chromedp.Text("#totp-secret", &secret),
	)
	b.Run(t,
		chromedp.SendKeys("#code", totpCode(t, secret)),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#recovery-codes"),
		chromedp.Click("main a.button"),
		chromedp.WaitVisible("#mfa"),
		chromedp.Text("header", &nav),
	)
	if !strings.Contains(intro, "Harbour Street Practice") || !strings.Contains(intro, "Clinician") {
		t.Fatalf("the invitation page: %q", intro)
	}
	if !strings.Contains(nav, "Cy Park") || !strings.Contains(nav, "Harbour Street Practice") || !strings.Contains(nav, "Patients") || strings.Contains(nav, "Members") {
		t.Fatalf("the clinician's navigation: %q", nav)
	}
	for _, p := range b.Problems() {
		t.Errorf("console problem: %s", p)
	}
}

// TestBrowserPatientSignsUpAndLandsOnThePortal: a patient creates their own
// account, confirms the address from the outbox, signs in and lands on the
// page that says what the account can do, and asks a doctor to take them on.
func TestBrowserPatientSignsUpAndLandsOnThePortal(t *testing.T) {
	b := browsertest.New(t)
	a := newAuthServer(t)
	a.user(t, "dr.quimby@clinic.example")
	const email = "pia@home.example"
	var heading string
	b.Run(t,
		chromedp.Navigate(a.ts.URL+"/signup"),
		chromedp.WaitVisible(`a[href="/signup/patient"]`),
		chromedp.Click(`a[href="/signup/patient"]`),
		chromedp.WaitVisible("#password-criteria"),
	)
	shot(t, b, "signup_patient")
	b.Run(t,
		chromedp.SendKeys("#name", "Pia Holm"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#message"),
		chromedp.Text("main h1", &heading),
	)
	if heading != "Check your email" {
		t.Fatalf("after the patient's sign-up: %q", heading)
	}
	var flash, page string
	b.Run(t,
		chromedp.Navigate(a.link(t, email, "/verify")),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible(".flash"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#ask-h"),
		chromedp.Text("main h1", &heading),
	)
	if heading != "Welcome, Pia Holm" {
		t.Fatalf("the patient landed on %q", heading)
	}
	shot(t, b, "portal")
	b.Run(t,
		chromedp.SendKeys("#email", "dr.quimby@clinic.example"),
		chromedp.Click(`form[action="/portal/practice-request"] button`),
		chromedp.WaitVisible(".flash"),
		chromedp.Text(".flash", &flash),
		chromedp.Text("main", &page),
	)
	if !strings.Contains(flash, "they have your request") {
		t.Fatalf("after asking a doctor: %q", flash)
	}
	a.svc.Wait()
	items, _ := a.outbox.List()
	if it := items[0]; it.To != "dr.quimby@clinic.example" || !strings.Contains(it.Subject, "Pia Holm") {
		t.Fatalf("the doctor's mail: %q to %q", it.Subject, it.To)
	}
	for _, p := range b.Problems() {
		t.Errorf("console problem: %s", p)
	}
}

// TestBrowserRolePagesReadWell renders, as the front desk and as an admin
// without the clinician role, the pages their roles change: the new-patient
// form (registered for a clinician), the admin's view of a patient (no
// emergency access) and a refusal. It checks their words, and saves
// screenshots when CUSTODIA_SHOTS is set.
func TestBrowserRolePagesReadWell(t *testing.T) {
	b := browsertest.New(t)
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	var text string
	for _, c := range []struct{ as, path, name, want string }{
		{"staff", "/patients/new", "patient_new_front_desk", "Registered for"},
		{"admin", "/patients/" + f.anna.ID, "patient_admin_only", "needs the clinician role"},
		{"admin", "/patients/" + f.anna.ID + "/edit", "refusal_admin_edit", "give yourself or a colleague a role"},
	} {
		b.Run(t,
			network.SetExtraHTTPHeaders(network.Headers{asHeader: c.as}),
			chromedp.Navigate(f.ts.URL+c.path),
			chromedp.WaitVisible("main h1"),
			chromedp.Text("main", &text),
		)
		if !strings.Contains(text, c.want) {
			t.Errorf("%s as %s does not say %q: %q", c.path, c.as, c.want, text)
		}
		shot(t, b, c.name)
	}
}
