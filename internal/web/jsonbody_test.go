package web_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/web"
)

// TestJSONBodiesRefuseWrongContentTypeDuplicatesBadUTF8AndBidi drives
// DecodeJSON, the one helper every JSON-body endpoint decodes with: a body
// that is not application/json is refused with 415 before it is read, and
// duplicate names, bytes that are not UTF-8 and control or bidi-override
// characters are refused naming the field, where encoding/json alone would
// keep the last duplicate and quietly replace bad bytes.
func TestJSONBodiesRefuseWrongContentTypeDuplicatesBadUTF8AndBidi(t *testing.T) {
	type input struct {
		Name    string `json:"name"`
		Notes   string `json:"notes"`
		Profile struct {
			FamilyName string `json:"family_name"`
		} `json:"profile"`
		Items []string `json:"items"`
	}
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var in input
		if web.DecodeJSON(w, r, &in) {
			web.WriteJSON(w, http.StatusOK, in)
		}
	}))
	defer ts.Close()
	const ok = `{"name":"Ada","notes":"line one\nline two\tend"}`
	for _, c := range []struct {
		name, contentType, body string
		status                  int
		field                   string // the field the problem must name
	}{
		{"json", "application/json", ok, 200, ""},
		{"json with charset", "application/json; charset=UTF-8", ok, 200, ""},
		{"text/plain", "text/plain", ok, 415, ""},
		{"form-encoded", "application/x-www-form-urlencoded", "name=Ada", 415, ""},
		{"no content type", "", ok, 415, ""},
		{"suffix type", "application/merge-patch+json", ok, 415, ""},
		{"other charset", "application/json; charset=latin1", ok, 415, ""},
		{"duplicate key", "application/json", `{"name":"Ada","name":"Eve"}`, 422, "name"},
		{"duplicate key differing in case", "application/json", `{"name":"Ada","Name":"Eve"}`, 422, "Name"},
		{"nested duplicate", "application/json", `{"profile":{"family_name":"A","family_name":"B"}}`, 422, "profile.family_name"},
		{"invalid UTF-8", "application/json", "{\"name\":\"Ad\xffa\"}", 400, "name"},
		{"bidi override in a name", "application/json", `{"name":"Ada \u202egnp.exe"}`, 422, "name"},
		{"bidi isolate, raw", "application/json", "{\"profile\":{\"family_name\":\"x\u2067y\"}}", 422, "profile.family_name"},
		{"control character", "application/json", `{"notes":"a\u0000b"}`, 422, "notes"},
		{"control character in an array", "application/json", `{"items":["fine","bell\u0007"]}`, 422, "items[1]"},
		{"control character in a member name", "application/json", `{"na\u0001me":"Ada"}`, 422, "body"},
		{"unknown field", "application/json", `{"nom":"Ada"}`, 400, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			req, _ := http.NewRequest("POST", ts.URL, strings.NewReader(c.body))
			if c.contentType != "" {
				req.Header.Set("Content-Type", c.contentType)
			}
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(res.Body)
			res.Body.Close()
			if res.StatusCode != c.status {
				t.Fatalf("status %d, want %d: %s", res.StatusCode, c.status, body)
			}
			if c.status == 200 {
				return
			}
			if ct := res.Header.Get("Content-Type"); ct != "application/problem+json" {
				t.Errorf("Content-Type %q", ct)
			}
			var p web.Problem
			if err := json.Unmarshal(body, &p); err != nil {
				t.Fatal(err)
			}
			if c.field != "" && p.Errors[c.field] == "" {
				t.Errorf("the problem does not name %q: %s", c.field, body)
			}
			if strings.Contains(string(body), "gnp.exe") || strings.Contains(string(body), "Eve") {
				t.Errorf("the problem echoes the value: %s", body)
			}
		})
	}
}

// TestJSONEndpointsOfTheProgramAnswer415AndNameBidiFields checks the same
// through a real endpoint: a patient sent as text/plain or with a bidi
// override in the family name is refused before the records service sees
// it, so nothing is stored and nothing is audited.
func TestJSONEndpointsOfTheProgramAnswer415AndNameBidiFields(t *testing.T) {
	env := apptest.New(t, "")
	doc := env.Workspace(t, "Clinic J", identity.DemoMember{Name: "Jo Json", Email: "jo@j.example", Password: app.DemoPassword, Role: access.RoleClinician})["jo@j.example"]
	for _, c := range []struct {
		contentType, body string
		status            int
	}{
		{"text/plain", `{"given_name":"Carla","family_name":"Nadir","birth_date":"1990-01-02"}`, 415},
		{"application/json", `{"given_name":"Carla","family_name":"Nadir\u202e","birth_date":"1990-01-02"}`, 422},
		{"application/json", `{"given_name":"Carla","given_name":"Other","family_name":"Nadir","birth_date":"1990-01-02"}`, 422},
	} {
		before := env.Head(t)
		req, _ := http.NewRequest("POST", env.Server.URL+"/api/v1/patients", strings.NewReader(c.body))
		req.Header.Set("Content-Type", c.contentType)
		res, err := doc.Client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != c.status {
			t.Errorf("%s %s: status %d, want %d: %s", c.contentType, c.body, res.StatusCode, c.status, body)
		}
		if es := env.Entries(t, before); len(es) != 0 {
			t.Errorf("%s %s: a refused body was audited as an access: %+v", c.contentType, c.body, es)
		}
	}
}
