package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/rehab"
	"github.com/custodia-health/custodia/internal/rehab/rehabtest"
	"github.com/custodia-health/custodia/internal/web"
)

const (
	rWS      = "ws-1"
	rPatient = "a11ce000000000000000000000000001"
)

var (
	rTherapist = &access.Principal{UserID: "u-therapist", WorkspaceID: rWS, Role: access.RoleClinician}
	rOther     = &access.Principal{UserID: "u-other", WorkspaceID: rWS, Role: access.RoleClinician}
	rForeign   = &access.Principal{UserID: "u-foreign", WorkspaceID: "ws-2", Role: access.RoleClinician}
	rStaff     = &access.Principal{UserID: "u-staff", WorkspaceID: rWS, Role: access.RoleStaff}
	rSelf      = &access.Principal{UserID: "u-patient", Role: access.RolePatient, PatientID: rPatient}
	rDevice    = &access.Principal{UserID: "u-therapist", TokenID: "tok-1", Scopes: []string{"rehab:ingest"}, WorkspaceID: rWS, Role: access.RoleClinician}
	rReadOnly  = &access.Principal{UserID: "u-therapist", TokenID: "tok-2", Scopes: []string{"records:read"}, WorkspaceID: rWS, Role: access.RoleClinician}
)

// syncBuffer collects log output from concurrent requests.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type rehabEnv struct {
	f    *rehabtest.Fixture
	srv  *web.Server
	logs *syncBuffer
}

// newRehabEnv builds the server on a real SQLite database, key ring and
// audit log. Until identity is merged, each test server signs every request
// in as one principal (as).
func newRehabEnv(t testing.TB, wrap func(audit.Appender) audit.Appender) *rehabEnv {
	t.Helper()
	d := dbtest.SQLite(t)
	// The app hands its services the audit log through web.AuditReceipts,
	// whose allow entries are the PHI guard's receipts.
	f := rehabtest.New(t, d, func(a audit.Appender) audit.Appender {
		if wrap != nil {
			a = wrap(a)
		}
		return web.AuditReceipts(a)
	}, rehab.Options{})
	f.Facts.AddPatient(rPatient, rWS, rTherapist.UserID)
	f.Facts.AddPatient("patient-2", rWS, rOther.UserID)
	logs := &syncBuffer{}
	s, err := web.New(web.Deps{DB: d, Log: slog.New(slog.NewTextHandler(logs, nil)), Version: "test", Rehab: f.Service})
	if err != nil {
		t.Fatal(err)
	}
	return &rehabEnv{f: f, srv: s, logs: logs}
}

func (e *rehabEnv) as(t testing.TB, p *access.Principal) *httptest.Server {
	t.Helper()
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p != nil {
			r = r.WithContext(access.WithPrincipal(r.Context(), p))
		}
		e.srv.ServeHTTP(w, r)
	}))
	t.Cleanup(ts.Close)
	return ts
}

func post(t testing.TB, url string, body []byte) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func get(t testing.TB, url string) (*http.Response, []byte) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res, b
}

func recentStart() time.Time { return time.Now().UTC().AddDate(0, 0, -40).Truncate(24 * time.Hour) }

func TestRehabIngestAPIIsIdempotentAndReportsDuplicates(t *testing.T) {
	e := newRehabEnv(t, nil)
	dev := e.as(t, rDevice)
	url := dev.URL + "/api/v1/patients/" + rPatient + "/rehab/ingest"
	body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 4, Exercises: 3, Start: recentStart()})
	for i, want := range []string{`"created":4`, `"duplicates":["s-0","s-1","s-2","s-3"]`} {
		res, b := post(t, url, body)
		if res.StatusCode != 200 || !strings.Contains(string(b), want) {
			t.Fatalf("upload %d: %d %s", i+1, res.StatusCode, b)
		}
	}
	res, b := get(t, e.as(t, rTherapist).URL+"/api/v1/patients/"+rPatient+"/rehab/sessions?range=all&limit=10")
	var out struct{ Sessions []rehab.Session }
	if res.StatusCode != 200 || json.Unmarshal(b, &out) != nil || len(out.Sessions) != 4 || len(out.Sessions[0].Exercises) != 3 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
}

func TestRehabIngestAPINamesBadFieldsAndStoresNothing(t *testing.T) {
	e := newRehabEnv(t, nil)
	dev := e.as(t, rDevice)
	body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 5, Exercises: 2, Start: recentStart()})
	// sessions[3].exercises[1] is the 8th exercise: sides go left, right.
	bad := bytes.Replace(body, []byte(`"side":"right"`), []byte(`"side":"sideways"`), 4)
	res, b := post(t, dev.URL+"/api/v1/patients/"+rPatient+"/rehab/ingest", bad)
	var p web.Problem
	if res.StatusCode != 422 || res.Header.Get("Content-Type") != "application/problem+json" || json.Unmarshal(b, &p) != nil {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	if p.Errors["sessions[3].exercises[1].side"] != "must be left, right or both" || len(p.Errors) != 4 {
		t.Fatalf("errors %v", p.Errors)
	}
	var n int
	if err := e.f.DB.Read.QueryRow(`SELECT COUNT(*) FROM rehab_sessions`).Scan(&n); err != nil || n != 0 {
		t.Fatalf("%d sessions stored from a rejected batch (%v)", n, err)
	}
	for name, c := range map[string]struct {
		ctype string
		body  []byte
		want  int
	}{
		"not JSON":           {"application/json", []byte(`{"sessions":[{`), 400},
		"the wrong type":     {"text/plain", body, 415},
		"more than 5 000":    {"application/json", rehabtest.Batch(rehabtest.BatchSpec{Prefix: "x", Sessions: 101, Exercises: 49, Start: recentStart()}), 413},
		"an unknown top key": {"application/json", []byte(`{"visits":[]}`), 400},
	} {
		res, err := http.Post(dev.URL+"/api/v1/patients/"+rPatient+"/rehab/ingest", c.ctype, bytes.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", name, res.StatusCode, c.want)
		}
	}
}

func TestRehabRoutesFollowThePolicy(t *testing.T) {
	e := newRehabEnv(t, nil)
	post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest",
		rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 2, Exercises: 2, Start: recentStart()}))
	ingest := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "t", Sessions: 1, Exercises: 1, Start: recentStart()})
	cases := []struct {
		name   string
		p      *access.Principal
		method string
		path   string
		want   int
	}{
		{"therapist reads the page", rTherapist, "GET", "/patients/" + rPatient + "/rehab", 200},
		{"therapist reads progress", rTherapist, "GET", "/api/v1/patients/" + rPatient + "/rehab/progress?range=all", 200},
		{"another therapist's patient is not there", rOther, "GET", "/api/v1/patients/" + rPatient + "/rehab/sessions", 404},
		{"another therapist's patient page is not there", rOther, "GET", "/patients/" + rPatient + "/rehab", 404},
		{"another workspace sees nothing", rForeign, "GET", "/api/v1/patients/" + rPatient + "/rehab/progress", 404},
		{"staff see nothing", rStaff, "GET", "/api/v1/patients/" + rPatient + "/rehab/sessions", 404},
		{"staff see no page", rStaff, "GET", "/patients/" + rPatient + "/rehab", 404},
		{"the patient sees their own", rSelf, "GET", "/api/v1/patients/" + rPatient + "/rehab/sessions", 200},
		{"the patient's portal page", rSelf, "GET", "/my/progress", 200},
		{"the patient's export", rSelf, "GET", "/my/progress.csv?range=all", 200},
		{"the patient does not see another patient", rSelf, "GET", "/api/v1/patients/patient-2/rehab/sessions", 404},
		{"a clinician has no portal page", rTherapist, "GET", "/my/progress", 404},
		{"nobody signed in", nil, "GET", "/api/v1/patients/" + rPatient + "/rehab/sessions", 401},
		{"a device token cannot read", rDevice, "GET", "/api/v1/patients/" + rPatient + "/rehab/sessions", 404},
		{"a read token cannot ingest", rReadOnly, "POST", "/api/v1/patients/" + rPatient + "/rehab/ingest", 403},
		{"the patient cannot set the programme", rSelf, "POST", "/api/v1/patients/" + rPatient + "/rehab/programme", 403},
		{"an unknown range", rTherapist, "GET", "/api/v1/patients/" + rPatient + "/rehab/progress?range=2024-01-01", 422},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ts := e.as(t, c.p)
			var res *http.Response
			switch {
			case c.method == "GET":
				res, _ = get(t, ts.URL+c.path)
			case strings.HasSuffix(c.path, "/ingest"):
				res, _ = post(t, ts.URL+c.path, ingest)
			default:
				res, _ = post(t, ts.URL+c.path, []byte(`{"name":"Hand","exercises":[{"type":"wrist","level":1,"side":"left","frequency_per_week":3}]}`))
			}
			if res.StatusCode != c.want {
				t.Fatalf("%s %s: %d, want %d", c.method, c.path, res.StatusCode, c.want)
			}
		})
	}
}

func TestRehabPagesSendTheSignedOutToSignIn(t *testing.T) {
	e := newRehabEnv(t, nil)
	c := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, path := range []string{"/patients/" + rPatient + "/rehab", "/my/progress"} {
		res, err := c.Get(e.as(t, nil).URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusSeeOther || !strings.HasPrefix(res.Header.Get("Location"), "/signin?next=") {
			t.Errorf("%s: %d %s", path, res.StatusCode, res.Header.Get("Location"))
		}
	}
}

func TestRehabProgrammeAPIAndPage(t *testing.T) {
	e := newRehabEnv(t, nil)
	th := e.as(t, rTherapist)
	res, b := post(t, th.URL+"/api/v1/patients/"+rPatient+"/rehab/programme",
		[]byte(`{"name":"Hand &amp; wrist","exercises":[{"type":"wrist_flexion","level":2,"side":"left","frequency_per_week":5}]}`))
	if res.StatusCode != 201 {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	res, b = post(t, th.URL+"/api/v1/patients/"+rPatient+"/rehab/programme", []byte(`{"name":"","exercises":[]}`))
	if res.StatusCode != 422 || !strings.Contains(string(b), `"exercises":"must plan at least one exercise"`) {
		t.Fatalf("%d %s", res.StatusCode, b)
	}
	_, page := get(t, e.as(t, rSelf).URL+"/my/progress")
	if !strings.Contains(string(page), "Hand &amp;amp; wrist") || !strings.Contains(string(page), "Wrist flexion") || strings.Contains(string(page), "wrist_flexion<") {
		t.Fatalf("the patient does not see the programme: %s", page)
	}
}

func TestRehabAuditOutageIs503AndReleasesNothing(t *testing.T) {
	var down bool
	var mu sync.Mutex
	e := newRehabEnv(t, func(l audit.Appender) audit.Appender {
		return appenderFunc(func(ctx context.Context, ev audit.Event) (audit.Receipt, error) {
			mu.Lock()
			d := down
			mu.Unlock()
			if d {
				return audit.Receipt{}, fmt.Errorf("append: %w", audit.ErrUnavailable)
			}
			return l.Append(ctx, ev)
		})
	})
	post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest",
		rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: 2, Exercises: 2, Start: recentStart(), DeviceID: "dev-visible"}))
	mu.Lock()
	down = true
	mu.Unlock()
	th := e.as(t, rTherapist)
	res, b := get(t, th.URL+"/api/v1/patients/"+rPatient+"/rehab/sessions")
	if res.StatusCode != 503 || strings.Contains(string(b), "dev-visible") {
		t.Fatalf("API: %d %s", res.StatusCode, b)
	}
	res, b = get(t, th.URL+"/patients/"+rPatient+"/rehab")
	if res.StatusCode != 503 || strings.Contains(string(b), "dev-visible") || !strings.Contains(string(b), "audit log") {
		t.Fatalf("page: %d %s", res.StatusCode, b)
	}
	res, _ = post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest",
		rehabtest.Batch(rehabtest.BatchSpec{Prefix: "late", Sessions: 1, Exercises: 1, Start: recentStart()}))
	if res.StatusCode != 503 {
		t.Fatalf("ingest: %d", res.StatusCode)
	}
}

type appenderFunc func(context.Context, audit.Event) (audit.Receipt, error)

func (f appenderFunc) Append(ctx context.Context, e audit.Event) (audit.Receipt, error) {
	return f(ctx, e)
}

func TestRehabCanaryNeverReachesTheLogs(t *testing.T) {
	const canary = "CANARY-91c2-weblog"
	e := newRehabEnv(t, nil)
	body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: canary, Sessions: 3, Exercises: 2, Start: recentStart(), Type: canary, DeviceID: canary})
	res, _ := post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest", body)
	if res.StatusCode != 200 {
		t.Fatal(res.StatusCode)
	}
	post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest", bytes.Replace(body, []byte(`"side":"left"`), []byte(`"side":"`+canary+`"`), 1))
	_, page := get(t, e.as(t, rTherapist).URL+"/patients/"+rPatient+"/rehab?range=all")
	if !strings.Contains(string(page), canary) {
		t.Fatal("the page does not show the uploaded exercise type")
	}
	_, csv := get(t, e.as(t, rTherapist).URL+"/patients/"+rPatient+"/rehab/progress.csv?range=all")
	if !strings.Contains(string(csv), canary) {
		t.Fatalf("the export lacks the data: %s", csv)
	}
	if logs := e.logs.String(); strings.Contains(logs, "CANARY-91c2") || logs == "" {
		t.Fatalf("logs hold the canary (or nothing was logged):\n%s", logs)
	}
}

// TestBrowserRehabProgressChartsShowTheUploadedSessions loads the
// therapist's page and the patient's portal page in Chromium and counts the
// chart's points: one per uploaded session (a day each, so the 90-day view
// aggregates by day).
func TestBrowserRehabProgressChartsShowTheUploadedSessions(t *testing.T) {
	b := browsertest.New(t)
	e := newRehabEnv(t, nil)
	const sessions = 12
	res, body := post(t, e.as(t, rDevice).URL+"/api/v1/patients/"+rPatient+"/rehab/ingest",
		rehabtest.Batch(rehabtest.BatchSpec{Prefix: "s", Sessions: sessions, Exercises: 2, Type: "grip", Start: recentStart()}))
	if res.StatusCode != 200 {
		t.Fatalf("%d %s", res.StatusCode, body)
	}
	for _, c := range []struct {
		who  string
		p    *access.Principal
		path string
	}{{"therapist", rTherapist, "/patients/" + rPatient + "/rehab"}, {"patient", rSelf, "/my/progress"}} {
		t.Run(c.who, func(t *testing.T) {
			ts := e.as(t, c.p)
			var activity, perf, rows int
			var title string
			b.Run(t,
				chromedp.Navigate(ts.URL+c.path),
				chromedp.WaitVisible("#chart-activity-figure svg"),
				chromedp.Evaluate(`document.querySelectorAll('#chart-activity-figure svg .pt').length`, &activity),
				chromedp.Evaluate(`document.querySelectorAll('#chart-performance-figure svg .pt').length`, &perf),
				chromedp.Evaluate(`document.querySelectorAll('#sessions-table tbody tr').length`, &rows),
				chromedp.Evaluate(`document.querySelector('#chart-performance-figure svg title').textContent`, &title),
				// Leave the page before this subtest's server closes, so no
				// late request of the page meets a closed port.
				chromedp.Navigate("about:blank"),
			)
			// Two exercises a session, on the left and the right: two series.
			if activity != sessions || perf != 2*sessions || rows != 10 {
				t.Fatalf("activity points %d (want %d), performance points %d (want %d), session rows %d (want 10)",
					activity, sessions, perf, 2*sessions, rows)
			}
			if title != "Performance by exercise and side" {
				t.Fatalf("chart title %q", title)
			}
		})
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}
