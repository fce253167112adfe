package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/notice"
)

// The operator publishes the platform notice; one missing a required
// section is refused with the section named (page and API); a visitor's
// /privacy shows the notice with its effective date, version and the
// processors, the BAA in words; each version has its own page.
func TestOperatorPublishesAPlatformNoticeWithEveryRequiredSection(t *testing.T) {
	w := newConsentWorld(t)
	ctx := context.Background()
	noContact := strings.Replace(notice.ExampleBody, "# Contact\n", "# Elsewhere\n", 1)

	res, body := w.postForm(cwOperator.UserID, "/admin/notices", url.Values{"title": {"Platform notice"}, "body": {noContact}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "“Contact”") || !strings.Contains(body, "# Elsewhere") {
		t.Fatalf("page refusal %d, want the section named and the text kept:\n%s", res.StatusCode, body)
	}
	b, _ := json.Marshal(map[string]any{"title": "Platform notice", "body": noContact})
	res, body = w.do(cwOperator.UserID, "POST", "/api/v1/notices", "application/json", strings.NewReader(string(b)))
	var prob struct {
		Errors map[string]string `json:"errors"`
	}
	_ = json.Unmarshal([]byte(body), &prob)
	if res.StatusCode != 422 || res.Header.Get("Content-Type") != "application/problem+json" || prob.Errors["section.contact"] == "" {
		t.Fatalf("API refusal %d %s", res.StatusCode, body)
	}
	if _, err := w.notices.Current(ctx, ""); err == nil {
		t.Fatal("a refused notice was published")
	}
	res, _ = w.postForm(cwOperator.UserID, "/admin/notices", url.Values{"title": {"Platform notice"}, "body": {notice.ExampleBody}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("publish: %d", res.StatusCode)
	}
	// A workspace member may not publish the platform's notice through the API: it publishes their workspace's.
	res, body = w.do(cwOfficer.UserID, "POST", "/api/v1/notices", "application/json", strings.NewReader(string(b[:0])+`{"title":"Clinic","body":`+string(mustJSON(notice.ExampleBody))+`}`))
	if res.StatusCode != 201 || !strings.Contains(body, `"scope":"workspace"`) {
		t.Fatalf("officer publish %d %s", res.StatusCode, body)
	}
	for _, p := range []notice.Processor{
		{Name: "Mailer Inc", Purpose: "Email", BAA: true, ReceivesPHI: true, DataCategories: "email address", Location: "EU"},
		{Name: "Backup Co", Purpose: "Backups", ReceivesPHI: true, DataCategories: "encrypted backups", Location: "US"},
		{Name: "Status Page", Purpose: "Uptime", DataCategories: "none", Location: "US"},
	} {
		if _, err := w.notices.AddProcessor(ctx, cwOperator, p); err != nil {
			t.Fatal(err)
		}
	}
	res, body = w.do("", "GET", "/privacy", "", nil)
	for _, want := range []string{"Version 1, effective 1 January 2026", "Mailer Inc", "In place", "Backup Co", "Missing: it receives health information without an agreement", "Status Page", "Not needed: it receives no health information"} {
		if res.StatusCode != 200 || !strings.Contains(body, want) {
			t.Fatalf("visitor's /privacy lacks %q:\n%s", want, body)
		}
	}
	if strings.Contains(body, "notice-workspace") {
		t.Fatal("a visitor was shown a workspace's notice")
	}
	// A member sees their workspace's notice and the platform's.
	res, body = w.do(cwDoctor.UserID, "GET", "/privacy", "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, `id="notice-workspace"`) || !strings.Contains(body, `id="notice-platform"`) {
		t.Fatalf("member's /privacy %d:\n%s", res.StatusCode, body)
	}
	v, _ := w.notices.Current(ctx, "")
	res, body = w.do("", "GET", "/privacy/versions/"+v.ID, "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "version 1") || !strings.Contains(body, "in force now") {
		t.Fatalf("version page %d:\n%s", res.StatusCode, body)
	}
	if res, _ := w.do("", "GET", "/privacy/versions/nv_nope", "", nil); res.StatusCode != 404 {
		t.Fatalf("unknown version: %d", res.StatusCode)
	}
}

func mustJSON(s string) []byte { b, _ := json.Marshal(s); return b }
