package web_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/patient"
)

// TestPaperConsentFindsTheRepresentativeByName: the paper-consent form
// lists the patient's personal representatives by name and finds the one
// who signed by the name or email typed, never a user id; a name not on
// record is a readable field error and records nothing.
func TestPaperConsentFindsTheRepresentativeByName(t *testing.T) {
	env := apptest.New(t, "")
	ctx := context.Background()
	pw := app.DemoPassword
	a := env.Workspace(t, "Paper clinic", identity.DemoMember{Name: "Dora Doc", Email: "doc@paper.example", Password: pw, Role: access.RoleClinician})
	doc := a["doc@paper.example"]
	minor, err := env.App.Patients.Create(ctx, doc.Principal, patient.Profile{GivenName: "Mia", FamilyName: "Young", BirthDate: "2016-05-01"})
	if err != nil {
		t.Fatal(err)
	}
	parent := env.PatientAccount(t, doc, access.RoleRepresentative, minor.ID, "Rita Young", "rita.young@example.org", pw)
	if _, err := env.App.Patients.AddRepresentative(ctx, doc.Principal, minor.ID, patient.Representative{Relationship: "parent",
		Name: "Rita Young", Email: "rita.young@example.org", UserID: parent.Principal.UserID}); err != nil {
		t.Fatal(err)
	}
	if _, err := env.App.Patients.AddRepresentative(ctx, doc.Principal, minor.ID, patient.Representative{Relationship: "guardian",
		Name: "Gus Young", Email: "gus.young@example.org"}); err != nil {
		t.Fatal(err)
	}
	page := "/patients/" + minor.ID + "/consents/paper"
	res, err := doc.Client.Get(env.Server.URL + page)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	body := string(b)
	if res.StatusCode != 200 || !strings.Contains(body, `<option value="Rita Young">parent · rita.young@example.org</option>`) ||
		!strings.Contains(body, "Gus Young (guardian), no account yet") || strings.Contains(body, parent.Principal.UserID) {
		t.Fatalf("paper form %d: representatives not listed by name", res.StatusCode)
	}
	post := func(rep, purpose string) (int, string) {
		ct, buf := multipartBody(t, [][2]string{{"purpose", purpose}, {"action", "grant"}, {"representative", rep}}, []byte("%PDF-1.4"))
		req, _ := http.NewRequest("POST", env.Server.URL+page, buf)
		req.Header.Set("Content-Type", ct)
		res, err := doc.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res.StatusCode, string(b)
	}
	for _, c := range []struct{ rep, want string }{
		{"Nobody Known", "No personal representative of this patient has this name"},
		{parent.Principal.UserID, "No personal representative of this patient has this name"},
		{"gus young", "Gus Young has no Custodia account yet"},
	} {
		if status, body := post(c.rep, "publications"); status != http.StatusUnprocessableEntity || !strings.Contains(body, c.want) {
			t.Errorf("representative %q: %d, want 422 with %q", c.rep, status, c.want)
		}
	}
	if d, _ := env.App.Consent.Allows(ctx, minor.ID, consent.Publications, time.Now()); d.Allowed {
		t.Fatal("a refused form recorded consent")
	}
	// Found by name (case and spacing ignored) and by email.
	if status, _ := post("  rita   YOUNG ", "publications"); status != http.StatusSeeOther {
		t.Fatalf("by name: %d", status)
	}
	if status, _ := post("rita.young@example.org", "sms"); status != http.StatusSeeOther {
		t.Fatalf("by email: %d", status)
	}
	o, err := env.App.Consent.Overview(ctx, doc.Principal, minor.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range o.History {
		if e.DecidedBy != consent.ByRepresentative || e.Representative != parent.Principal.UserID {
			t.Errorf("event %s decided by %q (%q)", e.Purpose, e.DecidedBy, e.Representative)
		}
	}
	if len(o.History) != 2 {
		t.Fatalf("%d events, want 2", len(o.History))
	}
}
