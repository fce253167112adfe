package web_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// TestFrontDeskRegistersAPatientAndInvitesThemButCannotOpenACase: staff
// register a patient with demographics and send the portal invitation from
// the patient page, and a case or its comments are not found for them.
func TestFrontDeskRegistersAPatientAndInvitesThemButCannotOpenACase(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	v := url.Values{"given_name": {"Dora"}, "family_name": {"Desk"}, "birth_date": {"1990-01-02"}, "email": {"dora@example.org"},
		"phone": {"+44 20 7946 0001"}, "line1": {"1 High Street"}, "city": {"Leeds"}}
	loc := postForm(t, f, "staff", "/patients", v)
	if !strings.HasPrefix(loc, "/patients/") {
		t.Fatalf("registering a patient redirected to %q", loc)
	}
	status, body := f.do(t, "staff", "GET", loc, nil)
	if status != 200 || !strings.Contains(body, "Invite to the patient portal") || !strings.Contains(body, "Edit profile") {
		t.Fatalf("patient page for the front desk: %d %s", status, body)
	}
	if strings.Contains(body, "Open emergency access") || strings.Contains(body, "Open case") {
		t.Fatalf("the front desk is offered clinical actions: %s", body)
	}
	before := len(f.env.Invites.Sent)
	status, body = f.do(t, "staff", "POST", loc+"/portal-invitation", nil)
	if status != 200 || !strings.Contains(body, "portal invitation is on its way") {
		t.Fatalf("portal invitation: %d %s", status, body)
	}
	if got := f.env.Invites.Sent[before:]; len(got) != 1 || got[0].Email != "dora@example.org" || got[0].Relationship != "self" {
		t.Fatalf("invitations sent: %+v", got)
	}
	for _, path := range []string{"/cases/" + f.shared.ID, "/api/v1/cases/" + f.shared.ID, "/api/v1/patients/" + f.anna.ID + "/cases"} {
		if status, _ := f.do(t, "staff", "GET", path, nil); status != 404 && status != 403 {
			t.Errorf("GET %s as the front desk: %d, want 404 or 403", path, status)
		}
	}
	if status, _ := f.do(t, "staff", "POST", "/cases/"+f.shared.ID+"/comments", url.Values{"text": {"hi"}}); status != 404 && status != 403 {
		t.Errorf("the front desk commented: %d", status)
	}
}

// TestAdminWithoutClinicianIsNotOfferedBreakGlassAndRefusalsSayWhy: an
// admin (without the clinician role) opening a patient sees the name and
// what to do instead of a break-glass form; the founder (admin and
// clinician) is offered it; refusals name the missing role or relationship.
func TestAdminWithoutClinicianIsNotOfferedBreakGlassAndRefusalsSayWhy(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	f.as["founder"] = &access.Principal{UserID: "founder1", WorkspaceID: "ws1", Role: access.RoleClinician, Roles: []access.Role{access.RoleClinician, access.RoleAdmin}}
	status, body := f.do(t, "admin", "GET", "/patients/"+f.anna.ID, nil)
	if status != 200 {
		t.Fatalf("admin opens a patient: %d %s", status, body)
	}
	if strings.Contains(body, "break-glass") || strings.Contains(body, "Open emergency access") {
		t.Fatalf("an admin without the clinician role was offered emergency access: %s", body)
	}
	for _, want := range []string{"needs the clinician role", "Your roles in this workspace: Admin", "Add to care team"} {
		if !strings.Contains(body, want) {
			t.Errorf("the admin's patient page does not say %q", want)
		}
	}
	status, body = f.do(t, "founder", "GET", "/patients/"+f.anna.ID, nil)
	if status != 200 || !strings.Contains(body, "Open emergency access") {
		t.Fatalf("the founder (admin + clinician) off the care team is not offered emergency access: %d", status)
	}
	for _, c := range []struct {
		name, as, method, path string
		status                 int
		says                   []string
	}{
		{"a clinician off the care team", "doc2", "POST", "/patients/" + f.anna.ID + "/portal-invitation", 403,
			[]string{"not on this patient's care team", "Ask a clinician on the care team or an admin"}},
		{"an admin editing a profile", "admin", "GET", "/patients/" + f.anna.ID + "/edit", 403,
			[]string{"This needs one of these roles: Clinician, Privacy officer or Front desk.", "Your roles in this workspace: Admin.", "give yourself or a colleague a role on the Members page"}},
		{"a privacy officer registering a patient", "po", "POST", "/patients", 403,
			[]string{"This needs one of these roles: Clinician, Admin or Front desk.", "Your roles in this workspace: Privacy officer.", "Ask an admin of your practice"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := f.do(t, c.as, c.method, c.path, url.Values{"given_name": {"Eli"}, "family_name": {"Ode"}, "birth_date": {"1990-01-02"}})
			body = html.UnescapeString(body)
			if status != c.status {
				t.Fatalf("status %d, want %d: %s", status, c.status, body)
			}
			for _, s := range c.says {
				if !strings.Contains(body, s) {
					t.Errorf("the refusal does not say %q: %s", s, body)
				}
			}
		})
	}
}

// postForm posts a same-origin form as the named principal and returns the
// redirect's location, failing unless the answer is 303.
func postForm(t *testing.T, f *recordsFixture, as, path string, v url.Values) string {
	t.Helper()
	req, _ := http.NewRequest("POST", f.ts.URL+path, strings.NewReader(v.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set(asHeader, as)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("POST %s as %s: %d, want 303", path, as, res.StatusCode)
	}
	return res.Header.Get("Location")
}

// TestMembersAPISetsRoleSetsAndManagesInvitations: the founder's /me names
// both roles; PATCH sets a member's set of roles (the last admin keeps
// admin); pending invitations are listed, resent and withdrawn; the
// workspace is renamed.
func TestMembersAPISetsRoleSetsAndManagesInvitations(t *testing.T) {
	a := newAuthServer(t)
	codes := a.user(t, "ada@clinic.example")
	c := a.client()
	c.do(t, "POST", "/api/v1/auth/signin", map[string]string{"email": "ada@clinic.example", "password": pw})
	if res, body := c.do(t, "POST", "/api/v1/auth/mfa", map[string]string{"code": codes[0]}); res.StatusCode != 200 {
		t.Fatalf("mfa: %d %s", res.StatusCode, body)
	}
	var me struct {
		UserID      string   `json:"id"`
		WorkspaceID string   `json:"workspace_id"`
		Role        string   `json:"role"`
		Roles       []string `json:"roles"`
	}
	_, body := c.do(t, "GET", "/api/v1/me", nil)
	if err := json.Unmarshal([]byte(body), &me); err != nil || me.Role != "clinician" || strings.Join(me.Roles, " ") != "clinician admin" {
		t.Fatalf("/me: %s %v", body, err)
	}
	ws := "/api/v1/workspaces/" + me.WorkspaceID
	if res, body := c.do(t, "PATCH", ws+"/members/"+me.UserID, map[string]any{"roles": []string{"clinician"}}); res.StatusCode != http.StatusConflict {
		t.Fatalf("the last admin dropped admin: %d %s", res.StatusCode, body)
	}
	if res, body := c.do(t, "PATCH", ws+"/members/"+me.UserID, map[string]any{"roles": []string{"admin", "clinician", "privacy_officer"}}); res.StatusCode != http.StatusNoContent {
		t.Fatalf("adding a role: %d %s", res.StatusCode, body)
	}
	if _, body := c.do(t, "GET", ws+"/members", nil); !strings.Contains(body, `"roles":["clinician","admin","privacy_officer"]`) {
		t.Fatalf("members: %s", body)
	}
	if res, body := c.do(t, "POST", ws+"/invitations", map[string]string{"kind": "member", "email": "cy@clinic.example"}); res.StatusCode != http.StatusCreated || !strings.Contains(body, `"role":"clinician"`) {
		t.Fatalf("invite: %d %s", res.StatusCode, body)
	}
	var list struct {
		Invitations []struct {
			ID, Email, Role string
		} `json:"invitations"`
	}
	_, body = c.do(t, "GET", ws+"/invitations", nil)
	if err := json.Unmarshal([]byte(body), &list); err != nil || len(list.Invitations) != 1 || list.Invitations[0].Email != "cy@clinic.example" {
		t.Fatalf("pending: %s %v", body, err)
	}
	id := list.Invitations[0].ID
	if res, body := c.do(t, "POST", ws+"/invitations/"+id+"/resend", nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("resend: %d %s", res.StatusCode, body)
	}
	if res, body := c.do(t, "DELETE", ws+"/invitations/"+id, nil); res.StatusCode != http.StatusNoContent {
		t.Fatalf("revoke: %d %s", res.StatusCode, body)
	}
	if res, _ := c.do(t, "DELETE", ws+"/invitations/"+id, nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("revoking twice: %d", res.StatusCode)
	}
	if res, body := c.do(t, "PATCH", ws, map[string]string{"name": "Quimby Clinic"}); res.StatusCode != http.StatusNoContent {
		t.Fatalf("rename: %d %s", res.StatusCode, body)
	}
	if _, body := c.do(t, "GET", "/workspace/members", nil); !strings.Contains(body, "Members of Quimby Clinic") {
		t.Fatal("the members page does not show the new name")
	}
}
