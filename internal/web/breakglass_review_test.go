package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
	"github.com/custodia-health/custodia/internal/web"
)

// reviewFixture is the records stack behind the real server with the audit
// log and people's names wired, as the review page needs them.
type reviewFixture struct {
	env       *pt.Env
	srv       *web.Server
	ts        *httptest.Server
	as        map[string]*access.Principal
	patientID string
	grantID   string
}

var reviewNames = map[string]string{"doc1": "Dora Doc", "er1": "Emil Er", "po1": "Otto Officer"}

func newReviewFixture(t *testing.T) *reviewFixture {
	t.Helper()
	d := dbtest.SQLite(t)
	env := pt.New(t, d)
	env.Audit.AfterAppend = web.CountReceipt
	s, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Audit: env.Audit.Log,
		Records: &web.Records{Patients: env.Patients, Cases: env.Cases},
		ActorNames: func(_ context.Context, ids []string) map[string]string {
			out := map[string]string{}
			for _, id := range ids {
				out[id] = reviewNames[id]
			}
			return out
		}})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	f := &reviewFixture{env: env, srv: s, as: map[string]*access.Principal{
		"doc1": pt.Clinician("ws1", "doc1"), "er1": pt.Clinician("ws1", "er1"), "po": pt.Member("ws1", "po1", access.RolePrivacyOfficer)}}
	x, err := env.Patients.Create(ctx, f.as["doc1"], pt.Profile("Ben", "Jones"))
	if err != nil {
		t.Fatal(err)
	}
	f.patientID = x.ID
	g, err := env.Patients.BreakGlass(ctx, f.as["er1"], x.ID, "emergency", "Bleeding heavily in the waiting room")
	if err != nil {
		t.Fatal(err)
	}
	f.grantID = g.ID
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := f.as[r.Header.Get(asHeader)]; ok {
			r = r.WithContext(access.WithPrincipal(r.Context(), p))
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(f.ts.Close)
	return f
}

func (f *reviewFixture) do(t *testing.T, as, method, path string, form url.Values) (int, string) {
	t.Helper()
	var rd io.Reader
	if form != nil {
		rd = strings.NewReader(form.Encode())
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, rd)
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	req.Header.Set(asHeader, as)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// TestBreakGlassReviewPageListsActionsAndApprovingWorks: the clinician under
// the grant opens the record and asks to join the care team from the page;
// the privacy officer's review page names the clinician and the patient and
// lists each action in words, the officer approves from it, and afterwards
// the clinician's access is ordinary.
func TestBreakGlassReviewPageListsActionsAndApprovingWorks(t *testing.T) {
	f := newReviewFixture(t)
	if status, body := f.do(t, "er1", "GET", "/patients/"+f.patientID, nil); status != 200 || !strings.Contains(body, "break-glass") {
		t.Fatalf("record under break-glass: %d", status)
	}
	status, body := f.do(t, "er1", "POST", "/patients/"+f.patientID+"/care-team", url.Values{"user_id": {"er1"}})
	if status != http.StatusAccepted || !strings.Contains(body, "privacy officer") {
		t.Fatalf("self-add under break-glass: %d", status)
	}
	status, body = f.do(t, "po", "GET", "/privacy/break-glass", nil)
	if status != 200 {
		t.Fatalf("review page: %d", status)
	}
	for _, want := range []string{"Emil Er opened Ben Jones", "Opened emergency access", "Opened the patient&#39;s record",
		"Viewed the care team", "Asked to add someone to the care team", "Add Emil Er to the care team", "Emergency", "Approve"} {
		if !strings.Contains(body, want) {
			t.Errorf("review page lacks %q", want)
		}
	}
	for _, id := range []string{"er1", "doc1", "po1", f.patientID} {
		if strings.Contains(body, ">"+id+"<") || strings.Contains(body, "<code>"+id) {
			t.Errorf("review page shows the id %s where a name belongs", id)
		}
	}
	// The API lists the same change; its id is what the form posts.
	req, _ := http.NewRequest("GET", f.ts.URL+"/api/v1/break-glass/reviews", nil)
	req.Header.Set(asHeader, "po")
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	var got struct {
		Reviews []struct {
			GrantID string `json:"grant_id"`
			Changes []struct {
				ID, Status string
			} `json:"care_team_changes"`
			Actions []struct{ Action string } `json:"actions"`
		} `json:"reviews"`
	}
	json.NewDecoder(res.Body).Decode(&got)
	res.Body.Close()
	if len(got.Reviews) != 1 || len(got.Reviews[0].Changes) != 1 || got.Reviews[0].Changes[0].Status != "pending" || len(got.Reviews[0].Actions) < 3 {
		t.Fatalf("API reviews: %+v", got)
	}
	change := got.Reviews[0].Changes[0].ID
	if !strings.Contains(body, `action="/privacy/break-glass/changes/`+change+`"`) {
		t.Fatal("the review page has no approve form for the change")
	}
	if status, _ := f.do(t, "er1", "POST", "/privacy/break-glass/changes/"+change, url.Values{"decision": {"approve"}}); status != http.StatusForbidden && status != http.StatusNotFound {
		t.Fatalf("the requester approved their own change: %d", status)
	}
	if status, _ := f.do(t, "po", "POST", "/privacy/break-glass/changes/"+change, url.Values{"decision": {"approve"}}); status != http.StatusSeeOther {
		t.Fatalf("approve: %d", status)
	}
	status, body = f.do(t, "po", "GET", "/privacy/break-glass?decided=approved", nil)
	if status != 200 || !strings.Contains(body, "Approved by Otto Officer") || !strings.Contains(body, "now in effect") {
		t.Fatalf("after approval the page does not say so: %d", status)
	}
	if status, body := f.do(t, "er1", "GET", "/patients/"+f.patientID, nil); status != 200 || strings.Contains(body, "emergency (break-glass) access") {
		t.Fatalf("after approval the clinician's access is still break-glass: %d", status)
	}
}
