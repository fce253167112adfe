package web_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/notice"
)

// TestBrowserVisitorReadsThePlatformNoticeWithItsProcessors: an operator
// created as `custodia operator create` does publishes the platform notice
// (through the service, as the operator principal: the browser sign-in would
// first need TOTP enrolment) and a visitor reads /privacy with the
// processors and their agreements in words, then opens the version page.
func TestBrowserVisitorReadsThePlatformNoticeWithItsProcessors(t *testing.T) {
	b := browsertest.New(t)
	env := apptest.New(t, "")
	ctx := context.Background()
	uid, _, err := env.App.Identity.CreateOperator(ctx, identity.OperatorInput{Email: "ops@example.org"}, identity.Meta{})
	if err != nil {
		t.Fatal(err)
	}
	op := &access.Principal{UserID: uid, Role: access.RoleOperator}
	if _, err := env.App.Notices.Publish(ctx, op, notice.NewVersion{Title: "Custodia privacy notice", Body: notice.ExampleBody}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []notice.Processor{
		{Name: "Mailer Inc", Purpose: "Sending email", BAA: true, ReceivesPHI: true, DataCategories: "email address, appointment reminders", Location: "EU"},
		{Name: "Backup Co", Purpose: "Off-site backups", ReceivesPHI: true, DataCategories: "encrypted database backups", Location: "US"},
		{Name: "Status Page", Purpose: "Uptime page", DataCategories: "no personal data", Location: "US"},
	} {
		if _, err := env.App.Notices.AddProcessor(ctx, op, p); err != nil {
			t.Fatal(err)
		}
	}
	var table, meta string
	b.Run(t, chromedp.Navigate(env.Server.URL+"/privacy"), chromedp.WaitVisible("table.processors"),
		chromedp.Text("table.processors", &table), chromedp.Text(".notice-meta", &meta))
	for _, want := range []string{"Mailer Inc", "In place", "Missing: it receives health information without an agreement", "Not needed: it receives no health information"} {
		if !strings.Contains(table, want) {
			t.Fatalf("processor table lacks %q: %q", want, table)
		}
	}
	if !strings.Contains(meta, "Version 1, effective 1 January 2026") {
		t.Fatalf("meta %q", meta)
	}
	shot(t, b, "notices-privacy")
	var h1 string
	b.Run(t, chromedp.Click(".notice-meta a"), chromedp.WaitVisible("main h1"), chromedp.Text("main", &h1))
	if !strings.Contains(h1, "in force now") {
		t.Fatalf("version page %q", h1)
	}
	shot(t, b, "notices-version")
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}
