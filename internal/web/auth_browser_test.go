package web_test

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/custodia-health/custodia/internal/browsertest"
)

func totpCodeAt(t *testing.T, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(strings.TrimSpace(secret), at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func totpCode(t *testing.T, secret string) string { return totpCodeAt(t, secret, time.Now()) }

// TestBrowserSignUpVerifyEnrolAndSignInWithTOTP walks the whole first-run
// path a doctor takes, in Chromium, reading email from the development outbox.
func TestBrowserSignUpVerifyEnrolAndSignInWithTOTP(t *testing.T) {
	b := browsertest.New(t)
	a := newAuthServer(t)
	const email = "dr.quimby@clinic.example"
	var heading, secret, criteria string
	b.Run(t,
		chromedp.Navigate(a.ts.URL+"/signup"),
		chromedp.WaitVisible("#password-criteria"),
		chromedp.Text("#password-criteria", &criteria),
		chromedp.SendKeys("#name", "Ada Quimby"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#workspace", "Harbour Street Practice"),
		chromedp.SendKeys("#password", "short"),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible(".field-error"),
		chromedp.Text(".field-error", &heading),
	)
	if !strings.Contains(criteria, "At least 15 characters") {
		t.Fatalf("criteria not shown before typing: %q", criteria)
	}
	if !strings.Contains(heading, "at least 15 characters") {
		t.Fatalf("short password error: %q", heading)
	}
	b.Run(t,
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#message"),
		chromedp.Text("main h1", &heading),
	)
	if heading != "Check your email" {
		t.Fatalf("after sign-up: %q", heading)
	}
	// The development outbox page lists the message too.
	var outbox string
	b.Run(t, chromedp.Navigate(a.ts.URL+"/dev/outbox"), chromedp.WaitVisible("main table"), chromedp.Text("main table", &outbox))
	if !strings.Contains(outbox, "Confirm your email address") {
		t.Fatalf("outbox page: %q", outbox)
	}
	verify := a.link(t, email, "/verify")
	var flash string
	b.Run(t,
		chromedp.Navigate(verify),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible(".flash"),
		chromedp.Text(".flash", &flash),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#totp-secret"),
		chromedp.Text("#totp-secret", &secret),
	)
	if !strings.Contains(flash, "confirmed") {
		t.Fatalf("after verification: %q", flash)
	}
	var codes string
	b.Run(t,
		chromedp.SendKeys("#code", totpCode(t, secret)),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#recovery-codes"),
		chromedp.Text("#recovery-codes", &codes),
		chromedp.Click("main a.button"),
		chromedp.WaitVisible("#mfa"),
		chromedp.Click(`header form[action="/signout"] button`),
		chromedp.WaitVisible(`header a[href="/signin"]`),
		chromedp.WaitVisible(".flash"),
		chromedp.SendKeys("#email", email),
		chromedp.SendKeys("#password", pw),
		chromedp.Click("main button[type=submit]"),
		chromedp.WaitVisible("#code"),
		// The enrolment code's time step is spent; the next step's code is
		// within the accepted clock skew.
		chromedp.SendKeys("#code", totpCodeAt(t, secret, time.Now().Add(30*time.Second))),
		chromedp.Click("main button[type=submit]"),
		// Signed in, the admin lands on their practice's page.
		chromedp.WaitVisible("#admin-members"),
		chromedp.Text("main h1", &heading),
	)
	if len(strings.Fields(codes)) != 10 {
		t.Fatalf("recovery codes: %q", codes)
	}
	if heading != "Harbour Street Practice" {
		t.Fatalf("after MFA sign-in: %q", heading)
	}
	var nav string
	b.Run(t, chromedp.Text("header", &nav))
	if !strings.Contains(nav, "Ada Quimby") || !strings.Contains(nav, "Harbour Street Practice") || !strings.Contains(nav, "Members") {
		t.Fatalf("navigation: %q", nav)
	}
	// The one expected line is Chromium noting the deliberate 422 answer to
	// the too-short password; anything else (CSP, script errors) fails.
	var problems []string
	for _, p := range b.Problems() {
		if !strings.Contains(p, "status of 422") {
			problems = append(problems, p)
		}
	}
	if len(problems) > 0 {
		t.Errorf("console problems: %q", problems)
	}
}
