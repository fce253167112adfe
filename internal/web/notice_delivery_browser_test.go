package web_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/mail"
)

// refusingMailer bounces mail to one address and keeps the rest.
type refusingMailer struct {
	refuse string
	sent   []string
}

func (m *refusingMailer) Send(_ context.Context, msg mail.Message) error {
	if msg.To == m.refuse {
		return &mail.PermanentError{Code: 550, Stage: "RCPT TO"}
	}
	m.sent = append(m.sent, msg.To)
	return nil
}

// TestPrivacyOfficerSeesNoticeDeliveryAndRecordsAnInPersonDelivery: after a
// material change to the practice's notice (published 61 days ago, so its
// deadline has passed), the sweep mails everyone; the patient's address
// bounces. The privacy officer opens the delivery page in Chromium at
// 1280 px, sees the progress and the patient overdue by name, and records
// that the notice was given in person. With CUSTODIA_SHOTS=DIR the page is
// saved as delivery-progress.png and delivery-recorded.png.
func TestPrivacyOfficerSeesNoticeDeliveryAndRecordsAnInPersonDelivery(t *testing.T) {
	b := browsertest.New(t)
	env := demoEnv(t)
	ctx := context.Background()
	ws, _ := demoWorkspace(t, env)
	published := time.Now().Add(-61 * 24 * time.Hour)
	d := env.App.DB
	if _, err := d.Write.Exec(`INSERT INTO notice_versions (id, workspace_id, version, material, title, body, summary, published_at, published_by)
		VALUES ('nv_delivery_test', $1, 1, 1, 'Privacy notice of the demo practice', 'Text.', 'We now use a new lab.', $2, '')`, ws, published.UnixMicro()); err != nil {
		t.Fatal(err)
	}
	// The people it applies to existed before it was published.
	for _, table := range []string{"users", "memberships", "patient_users"} {
		if _, err := d.Write.Exec(`UPDATE `+table+` SET created_at = $1`, published.Add(-time.Hour).UnixMicro()); err != nil {
			t.Fatal(err)
		}
	}
	// The officer accepted it at the gate already, so sign-in goes on to the landing page.
	var po string
	if err := d.Read.QueryRow(`SELECT user_id FROM member_roles WHERE workspace_id = $1 AND role = 'privacy_officer'`, ws).Scan(&po); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write.Exec(`INSERT INTO notice_acceptances (user_id, notice_id, workspace_id, version, accepted_at) VALUES ($1, 'nv_delivery_test', $2, 1, $3)`,
		po, ws, time.Now().UnixMicro()); err != nil {
		t.Fatal(err)
	}
	m := &refusingMailer{refuse: app.DemoPatientAccount.Email}
	rep, err := env.App.NoticeDeliveryVia(m).Sweep(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Bounced != 1 || rep.Sent == 0 || rep.InApp != 1 {
		t.Fatalf("sweep %+v", rep)
	}
	dir := os.Getenv("CUSTODIA_SHOTS")
	shot := func(name string) {
		if dir == "" {
			return
		}
		var png []byte
		b.Run(t, chromedp.FullScreenshot(&png, 100))
		if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var page, after string
	b.Run(t, chromedp.EmulateViewport(1280, 900), signInAs(env, "privacy@demo.custodia.example", "#breakglass-queue"),
		chromedp.Click(`a[href="/privacy/notice-delivery"]`),
		chromedp.WaitVisible(`button[value="in_person"]`),
		chromedp.Text("main", &page))
	page = strings.ReplaceAll(page, "\u00a0", " ")
	layoutFits(t, b, "notice delivery")
	shot("delivery-progress.png")
	for _, want := range []string{"Version 1: Privacy notice of the demo practice", "The legal deadline", "has passed",
		app.DemoPatientAccount.Name, "The email bounced", "Record delivery in person", "1 bounced"} {
		if !strings.Contains(strings.Join(strings.Fields(page), " "), want) {
			t.Errorf("page lacks %q:\n%s", want, page)
		}
	}
	if strings.Contains(page, "nv_delivery_test") {
		t.Error("the page shows an id")
	}
	b.Run(t, chromedp.Click(`button[value="in_person"]`),
		chromedp.WaitVisible(`.flash, [role="status"]`),
		chromedp.Text("main", &after))
	shot("delivery-recorded.png")
	after = strings.ReplaceAll(after, "\u00a0", " ") // names do not break
	if !strings.Contains(after, "The delivery was recorded") || !strings.Contains(after, "Given in person or by post") ||
		!strings.Contains(after, "Pat Demo (privacy officer)") || strings.Contains(after, "The email bounced") {
		t.Errorf("after recording:\n%s", after)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %v", p)
	}
}
