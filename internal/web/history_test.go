package web_test

import (
	"context"
	"encoding/csv"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/web"
)

func TestAuditViewsRefuseTheWrongPrincipal(t *testing.T) {
	clinician := &access.Principal{UserID: "u-doc", Role: access.RoleClinician, WorkspaceID: "w-1"}
	tests := []struct {
		target string
		p      *access.Principal
		status int
		denied bool // a denial entry is recorded
	}{
		{"/api/v1/me/access-history", nil, http.StatusUnauthorized, false},
		{"/me/access-history", nil, http.StatusSeeOther, false}, // to the sign-in page
		{"/api/v1/audit", nil, http.StatusUnauthorized, false},
		{"/api/v1/me/access-history", clinician, http.StatusForbidden, true},
		{"/api/v1/audit", clinician, http.StatusForbidden, true},
		{"/privacy/audit", patientP, http.StatusForbidden, true},
		{"/privacy/audit.csv", clinician, http.StatusForbidden, true},
		{"/api/v1/audit", &access.Principal{UserID: "u-po2", Role: access.RolePrivacyOfficer}, http.StatusForbidden, true},
	}
	for _, tt := range tests {
		env := newPHIEnv(t, web.Deps{})
		seedAccess(t, env)
		before := env.head(t)
		w := env.do(t, "GET", tt.target, tt.p)
		if w.Code != tt.status || strings.Contains(w.Body.String(), "u-canary-clinician") {
			t.Errorf("%s as %v: %d, want %d and no data", tt.target, tt.p, w.Code, tt.status)
			continue
		}
		got := env.entriesAfter(t, before)
		if tt.denied != (len(got) == 1) || (tt.denied && (got[0].Decision != "deny" || got[0].ActorUserID != tt.p.UserID)) {
			t.Errorf("%s as %v: audit entries %+v, want denial recorded = %v", tt.target, tt.p, got, tt.denied)
		}
	}
}

func TestPatientSeesOnlyTheirOwnHistoryWithBreakGlassMarked(t *testing.T) {
	env := newPHIEnv(t, web.Deps{ActorNames: func(_ context.Context, ids []string) map[string]string {
		return map[string]string{"u-doc": "Dr Example"}
	}})
	env.append(t, audit.Event{ActorUserID: "u-doc", ActorRole: "clinician", WorkspaceID: "w-1", Action: "patient.read",
		PatientID: "p-1", Purpose: "treatment", BreakGlass: true, Decision: "allow", Outcome: "success", ClientAddr: "10.1.2.3"})
	env.append(t, audit.Event{ActorUserID: "u-other", ActorRole: "clinician", WorkspaceID: "w-1", Action: "patient.read",
		PatientID: "p-2", Decision: "allow", Outcome: "success"})

	w := env.do(t, "GET", "/api/v1/me/access-history", patientP)
	var body struct {
		Entries []map[string]any `json:"entries"`
	}
	if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	// The clinician's read; the patient's own read of the history is
	// recorded after the page was read, so it shows next time.
	if len(body.Entries) != 1 {
		t.Fatalf("entries %v", body.Entries)
	}
	e := body.Entries[0]
	if e["actor_name"] != "Dr Example" || e["break_glass"] != true || e["purpose"] != "treatment" {
		t.Fatalf("entry %v", e)
	}
	if _, ok := e["client_addr"]; ok {
		t.Fatal("the patient view shows client addresses")
	}
	if strings.Contains(w.Body.String(), "u-other") || strings.Contains(w.Body.String(), "p-2") {
		t.Fatal("another patient's history leaked")
	}

	// The patient's own reads of this history are hidden unless asked for.
	page := env.do(t, "GET", "/me/access-history?all=1", patientP).Body.String()
	for _, want := range []string{"Dr Example", "Emergency access", "You"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

func TestPrivacyOfficerQueriesOnlyTheirWorkspaceAndPages(t *testing.T) {
	env := newPHIEnv(t, web.Deps{})
	for i := range 5 {
		env.append(t, audit.Event{ActorUserID: "u-doc", ActorRole: "clinician", WorkspaceID: "w-1", Action: "patient.read",
			PatientID: "p-1", RequestID: "r-" + string(rune('a'+i))})
	}
	env.append(t, audit.Event{ActorUserID: "u-elsewhere", WorkspaceID: "w-2", Action: "patient.read", PatientID: "p-1"})

	var seen []float64
	target := "/api/v1/audit?patient=p-1&limit=2"
	for range 10 {
		w := env.do(t, "GET", target, officerP)
		if w.Code != http.StatusOK {
			t.Fatalf("%s: %d %s", target, w.Code, w.Body)
		}
		var body struct {
			Entries []map[string]any `json:"entries"`
			Next    string           `json:"next_cursor"`
		}
		if err := json.Unmarshal(w.Body.Bytes(), &body); err != nil {
			t.Fatal(err)
		}
		for _, e := range body.Entries {
			if e["workspace_id"] != "w-1" {
				t.Fatalf("entry from another workspace: %v", e)
			}
			seen = append(seen, e["seq"].(float64))
		}
		if body.Next == "" {
			break
		}
		target = "/api/v1/audit?patient=p-1&limit=2&before=" + body.Next
	}
	// The five seeded reads plus the officer's own audit.read entries of
	// p-1 made by the earlier pages, newest first, no repeats.
	for i := 1; i < len(seen); i++ {
		if seen[i] >= seen[i-1] {
			t.Fatalf("pages not strictly newest first: %v", seen)
		}
	}
	if len(seen) < 5 {
		t.Fatalf("saw %v, want the five seeded entries", seen)
	}

	w := env.do(t, "GET", "/api/v1/audit?from=yesterday&limit=0", officerP)
	var p web.Problem
	if err := json.Unmarshal(w.Body.Bytes(), &p); err != nil || w.Code != http.StatusUnprocessableEntity || p.Errors["from"] == "" || p.Errors["limit"] == "" {
		t.Fatalf("bad filters: %d %+v", w.Code, p)
	}
}

func TestAuditExportIsCSVAndIsItselfAudited(t *testing.T) {
	env := newPHIEnv(t, web.Deps{})
	env.append(t, audit.Event{ActorUserID: "u-doc", WorkspaceID: "w-1", Action: "patient.read", PatientID: "p-1",
		Reason: "=HYPERLINK(\"http://x\")"})
	before := env.head(t)
	w := env.do(t, "GET", "/privacy/audit.csv?patient=p-1", officerP)
	if w.Code != http.StatusOK || !strings.HasPrefix(w.Header().Get("Content-Type"), "text/csv") ||
		!strings.Contains(w.Header().Get("Content-Disposition"), "attachment") {
		t.Fatalf("%d %v", w.Code, w.Header())
	}
	recs, err := csv.NewReader(w.Body).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 2 || recs[0][0] != "seq" || recs[0][13] != "actor_user_id" || recs[1][13] != "u-doc" ||
		recs[1][10] != "'=HYPERLINK(\"http://x\")" || recs[1][24] != "'=HYPERLINK(\"http://x\")" {
		t.Fatalf("csv %q", recs)
	}
	got := env.entriesAfter(t, before)
	if len(got) != 1 || got[0].Action != "audit.export" || got[0].PatientID != "p-1" || got[0].WorkspaceID != "w-1" {
		t.Fatalf("export entry %+v", got)
	}
}

func TestPrivacyAuditPageShowsFiltersAndEntries(t *testing.T) {
	b := browsertest.New(t)
	env := newPHIEnv(t, web.Deps{ActorNames: func(_ context.Context, ids []string) map[string]string {
		return map[string]string{"u-canary-clinician": "Dr Canary"}
	}})
	seedAccess(t, env)
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		env.Server.ServeHTTP(w, r.WithContext(access.WithPrincipal(r.Context(), officerP)))
	}))
	defer ts.Close()
	var cell string
	b.Run(t,
		chromedp.Navigate(ts.URL+"/privacy/audit?patient=p-1"),
		chromedp.WaitVisible("table.audit"),
		chromedp.Text("table.audit tbody tr:last-child td:nth-child(2)", &cell),
	)
	cell = strings.ReplaceAll(cell, "\u00a0", " ") // names do not break across lines
	if !strings.Contains(cell, "Dr Canary") || !strings.Contains(cell, "Clinician") || strings.Contains(cell, "u-canary") {
		t.Errorf("who cell %q", cell)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}
