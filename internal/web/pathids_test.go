package web_test

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/web"
)

// TestMalformedPathIDsAnswer404AndAreAuditedWithoutTheString walks every
// registered route with an id in its path and sends, signed in, a name
// ("Jane Doe") and a 1,500-character string where the id goes. Each must
// answer 404 with one deny entry whose reason is malformed_id, and neither
// string may appear anywhere in the audit log: before, the name was kept
// verbatim as resource_id for six years and the long string answered 500.
func TestMalformedPathIDsAnswer404AndAreAuditedWithoutTheString(t *testing.T) {
	env := apptest.New(t, "")
	as := env.Workspace(t, "Clinic M", identity.DemoMember{Name: "Mia Malformed", Email: "mia@m.example", Password: app.DemoPassword, Role: access.RoleClinician})["mia@m.example"]
	srv := env.App.Handler.(interface{ Patterns() []string })
	const name = "Jane Doe"
	long := "Lengthy" + strings.Repeat("z", 1493)
	walked := 0
	for _, pattern := range srv.Patterns() {
		method, path, ok := strings.Cut(pattern, " ")
		if !ok || !strings.Contains(strings.ReplaceAll(path, "{$}", ""), "{") {
			continue
		}
		for _, bad := range []string{name, long} {
			target, hasID := fillPath(path, bad)
			if !hasID {
				continue // only non-id wildcards
			}
			walked++
			before := env.Head(t)
			req, _ := http.NewRequest(method, env.Server.URL+target, strings.NewReader("{}"))
			req.Header.Set("Content-Type", "application/json")
			res, err := as.Client.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			res.Body.Close()
			if res.StatusCode != http.StatusNotFound {
				t.Errorf("%s with a %d-character id: status %d, want 404", pattern, len(bad), res.StatusCode)
			}
			es := env.Entries(t, before)
			if len(es) != 1 || es[0].Decision != "deny" || es[0].Reason != web.ReasonMalformedID || es[0].ResourceID != "" ||
				es[0].ActorUserID != as.Principal.UserID || es[0].RequestID == "" {
				t.Errorf("%s with a %d-character id: audit entries %+v, want one deny with reason %s", pattern, len(bad), es, web.ReasonMalformedID)
			}
		}
	}
	if walked < 40 {
		t.Fatalf("walked only %d requests: the route list is not what this test expects", walked)
	}
	for _, e := range env.Entries(t, 0) {
		if s := fmt.Sprintf("%+v", e); strings.Contains(s, name) || strings.Contains(s, "Lengthy") {
			t.Errorf("the audit log holds the string from the path: %.200s", s)
		}
	}
}

// fillPath puts bad, escaped, in place of every id wildcard of path, and a
// harmless value in the others; hasID says whether it had an id wildcard.
func fillPath(path, bad string) (filled string, hasID bool) {
	var out []string
	for _, seg := range strings.Split(path, "/") {
		switch {
		case seg == "{$}":
			seg = ""
		case seg == "{name}":
			seg = "message.eml"
		case seg == "{token}":
			// A signed unsubscribe token, not an id: its handler checks the
			// signature (the outreach tests refuse forged tokens).
			seg = "not-a-signed-token"
		case strings.HasPrefix(seg, "{"):
			seg, hasID = url.PathEscape(bad), true
		}
		out = append(out, seg)
	}
	return strings.Join(out, "/"), hasID
}
