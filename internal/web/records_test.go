package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
	"github.com/custodia-health/custodia/internal/web"
)

// The records tests sign people in with a test-only middleware: the
// X-Test-As header names a principal of the fixture, which the middleware
// puts into the request context the way identity's authentication does.
// The server is built without identity, so nothing else authenticates.
const asHeader = "X-Test-As"

// canary is a string that must never appear at rest or in logs.
const canary = "Zqxcanaryvbw"

type recordsFixture struct {
	env       *pt.Env
	srv       *web.Server
	ts        *httptest.Server
	logs      *syncBuffer
	as        map[string]*access.Principal
	anna, ben *patient.Patient
	shared    *casefile.Case // Anna's, shared with her
	private   *casefile.Case // Anna's, not shared
	benCase   *casefile.Case
	commentID string
	dir       string
	grantID   string
}

func newRecordsFixture(t *testing.T, d *db.DB, dir string) *recordsFixture {
	t.Helper()
	f := &recordsFixture{env: pt.New(t, d), logs: &syncBuffer{}, dir: dir}
	f.env.Audit.AfterAppend = web.CountReceipt
	log := slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := web.New(web.Deps{DB: d, Log: log, Version: "test", Records: &web.Records{Patients: f.env.Patients, Cases: f.env.Cases}})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = s
	ctx := context.Background()
	doc := pt.Clinician("ws1", "doc1")
	prof := pt.Profile("Anna", canary)
	prof.Email, prof.MRN = "anna."+strings.ToLower(canary)+"@example.org", "MRN-"+canary
	if f.anna, err = f.env.Patients.Create(ctx, doc, prof); err != nil {
		t.Fatal(err)
	}
	if f.ben, err = f.env.Patients.Create(ctx, doc, pt.Profile("Ben", "Jones")); err != nil {
		t.Fatal(err)
	}
	title, notes := "Rhinoplasty "+canary, "Notes "+canary
	if f.shared, err = f.env.Cases.Create(ctx, doc, f.anna.ID, casefile.Input{Title: &title, Notes: &notes}); err != nil {
		t.Fatal(err)
	}
	if err := f.env.Cases.Share(ctx, doc, f.shared.ID, casefile.Sharing{Shared: true}); err != nil {
		t.Fatal(err)
	}
	if f.private, err = f.env.Cases.Create(ctx, doc, f.anna.ID, casefile.Input{Title: &title}); err != nil {
		t.Fatal(err)
	}
	bt := "Knee"
	if f.benCase, err = f.env.Cases.Create(ctx, doc, f.ben.ID, casefile.Input{Title: &bt}); err != nil {
		t.Fatal(err)
	}
	c, err := f.env.Cases.AddComment(ctx, doc, f.shared.ID, "", "Comment "+canary, "")
	if err != nil {
		t.Fatal(err)
	}
	f.commentID = c.ID
	if err := f.env.Cases.AddCollaborator(ctx, doc, f.shared.ID, "surgeon9"); err != nil {
		t.Fatal(err)
	}
	g, err := f.env.Patients.BreakGlass(ctx, pt.Clinician("ws1", "er1"), f.ben.ID, "emergency", "Bleeding heavily, "+canary)
	if err != nil {
		t.Fatal(err)
	}
	f.grantID = g.ID
	f.as = map[string]*access.Principal{
		"doc1":     doc,
		"doc2":     pt.Clinician("ws1", "doc2"),
		"er1":      pt.Clinician("ws1", "er1"),
		"other":    pt.Clinician("ws2", "doc9"),
		"surgeon9": pt.Clinician("ws-other", "surgeon9"),
		"staff":    pt.Member("ws1", "staff1", access.RoleStaff),
		"admin":    pt.Member("ws1", "admin1", access.RoleAdmin),
		"po":       pt.Member("ws1", "po1", access.RolePrivacyOfficer),
		"anna":     pt.PatientUser("u-anna", f.anna.ID),
		"mum":      pt.Representative("u-mum", f.anna.ID),
		"ben":      pt.PatientUser("u-ben", f.ben.ID),
	}
	f.ts = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p, ok := f.as[r.Header.Get(asHeader)]; ok {
			r = r.WithContext(access.WithPrincipal(r.Context(), p))
		}
		s.ServeHTTP(w, r)
	}))
	t.Cleanup(f.ts.Close)
	return f
}

// do sends a request as the named principal. Form bodies (url.Values) go
// as a same-origin form post, anything else as JSON.
func (f *recordsFixture) do(t *testing.T, as, method, path string, body any) (int, string) {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := body.(type) {
	case nil:
	case url.Values:
		rd, ct = strings.NewReader(b.Encode()), "application/x-www-form-urlencoded"
	default:
		j, _ := json.Marshal(b)
		rd, ct = bytes.NewReader(j), "application/json"
	}
	req, _ := http.NewRequest(method, f.ts.URL+path, rd)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
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

func TestGuessedIDsLookLikeNothingIsThere(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	for _, c := range []struct{ name, as, path string }{
		{"another workspace's patient", "other", "/api/v1/patients/" + f.anna.ID},
		{"another workspace's patient summary", "other", "/api/v1/patients/" + f.anna.ID + "/summary"},
		{"another workspace's case", "other", "/api/v1/cases/" + f.shared.ID},
		{"another patient's case", "ben", "/api/v1/cases/" + f.shared.ID},
		{"another patient's profile", "ben", "/api/v1/patients/" + f.anna.ID},
		{"own unshared case", "anna", "/api/v1/cases/" + f.private.ID},
		{"representative, unshared case", "mum", "/api/v1/cases/" + f.private.ID},
		{"collaborator, the patient's other case", "surgeon9", "/api/v1/cases/" + f.private.ID},
		{"collaborator, another patient's case", "surgeon9", "/api/v1/cases/" + f.benCase.ID},
		{"front desk, case", "staff", "/api/v1/cases/" + f.shared.ID},
		{"front desk, page of a case", "staff", "/cases/" + f.shared.ID},
		{"made-up id", "doc1", "/api/v1/patients/0123456789abcdef0123456789abcdef"},
		{"page: another workspace's patient", "other", "/patients/" + f.anna.ID},
		{"page: another patient's case", "ben", "/cases/" + f.shared.ID},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := f.do(t, c.as, "GET", c.path, nil)
			if status != http.StatusNotFound {
				t.Fatalf("status %d, want 404", status)
			}
			if strings.Contains(body, canary) || strings.Contains(body, "Anna") {
				t.Fatal("a not-found answer held PHI")
			}
		})
	}
	for _, c := range []struct {
		name, as, path string
		want           int
		show           string
	}{
		{"collaborator reads the case", "surgeon9", "/api/v1/cases/" + f.shared.ID, 200, canary},
		{"collaborator reads the summary", "surgeon9", "/api/v1/patients/" + f.anna.ID + "/summary", 200, "Anna"},
		{"collaborator may not read the profile", "surgeon9", "/api/v1/patients/" + f.anna.ID, 403, ""},
		{"patient reads own profile", "anna", "/api/v1/me/patient", 200, "MRN-" + canary},
		{"patient reads the shared case", "anna", "/api/v1/cases/" + f.shared.ID, 200, canary},
		{"representative reads the shared case", "mum", "/api/v1/cases/" + f.shared.ID, 200, canary},
		{"clinician of the workspace sees the summary only", "doc2", "/api/v1/patients/" + f.anna.ID, 403, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			status, body := f.do(t, c.as, "GET", c.path, nil)
			if status != c.want || !strings.Contains(body, c.show) {
				t.Fatalf("status %d body %s", status, body)
			}
		})
	}
	status, body := f.do(t, "anna", "GET", "/api/v1/cases/"+f.shared.ID, nil)
	if status != 200 || strings.Contains(body, "Comment "+canary) || strings.Contains(body, "Notes "+canary) {
		t.Fatalf("patient view showed comments or unshared notes: %s", body)
	}
	_, body = f.do(t, "anna", "GET", "/api/v1/me/cases", nil)
	if strings.Contains(body, f.private.ID) || !strings.Contains(body, f.shared.ID) {
		t.Fatalf("my cases: %s", body)
	}
}

// route is one request to a records route and the audit entry it must write.
type route struct {
	pattern    string
	method     string
	path       string
	body       any
	as         string
	wantStatus int
	action     string // the audit action of the decisive entry
	decision   string
}

// routes exercises every records route, API and pages. Order matters: some
// change state that later ones read.
func (f *recordsFixture) routes() []route {
	a, b, sc, pc := f.anna.ID, f.ben.ID, f.shared.ID, f.private.ID
	prof := pt.Profile("Carla", canary)
	prof.Email = "carla@example.org"
	upd := f.anna.Profile
	upd.Phone = "+44 20 7946 0000"
	form := func(kv ...string) url.Values {
		v := url.Values{}
		for i := 0; i+1 < len(kv); i += 2 {
			v.Set(kv[i], kv[i+1])
		}
		return v
	}
	return []route{
		{"GET /api/v1/patients", "GET", "/api/v1/patients", nil, "doc1", 200, "patient.list", "allow"},
		{"GET /api/v1/patients", "GET", "/api/v1/patients", nil, "anna", 404, "patient.list", "deny"},
		{"POST /api/v1/patients", "POST", "/api/v1/patients", prof, "doc1", 201, "patient.create", "allow"},
		{"POST /api/v1/patients", "POST", "/api/v1/patients", prof, "po", 403, "patient.create", "deny"},
		{"POST /api/v1/patients/search", "POST", "/api/v1/patients/search", map[string]string{"name": canary}, "doc1", 200, "patient.search", "allow"},
		{"POST /api/v1/patients/search", "POST", "/api/v1/patients/search", map[string]string{"name": canary}, "anna", 404, "patient.search", "deny"},
		{"GET /api/v1/patients/{id}", "GET", "/api/v1/patients/" + a, nil, "doc1", 200, "patient.read", "allow"},
		{"GET /api/v1/patients/{id}", "GET", "/api/v1/patients/" + a, nil, "other", 404, "patient.read", "deny"},
		{"PUT /api/v1/patients/{id}", "PUT", "/api/v1/patients/" + a, map[string]any{"version": 1, "profile": upd}, "doc1", 200, "patient.update", "allow"},
		{"PUT /api/v1/patients/{id}", "PUT", "/api/v1/patients/" + a, map[string]any{"version": 2, "profile": upd}, "doc2", 403, "patient.update", "deny"},
		{"GET /api/v1/patients/{id}/summary", "GET", "/api/v1/patients/" + a + "/summary", nil, "surgeon9", 200, "patient.read_summary", "allow"},
		{"GET /api/v1/patients/{id}/summary", "GET", "/api/v1/patients/" + a + "/summary", nil, "other", 404, "patient.read_summary", "deny"},
		{"GET /api/v1/patients/{id}/care-team", "GET", "/api/v1/patients/" + a + "/care-team", nil, "doc1", 200, "careteam.read", "allow"},
		{"GET /api/v1/patients/{id}/care-team", "GET", "/api/v1/patients/" + a + "/care-team", nil, "doc2", 403, "careteam.read", "deny"},
		{"POST /api/v1/patients/{id}/care-team", "POST", "/api/v1/patients/" + a + "/care-team", map[string]string{"user_id": "d0c000000000000000000000000000d3"}, "doc1", 204, "careteam.add", "allow"},
		{"POST /api/v1/patients/{id}/care-team", "POST", "/api/v1/patients/" + a + "/care-team", map[string]string{"user_id": "doc2"}, "doc2", 403, "careteam.add", "deny"},
		{"DELETE /api/v1/patients/{id}/care-team/{userID}", "DELETE", "/api/v1/patients/" + a + "/care-team/d0c000000000000000000000000000d3", nil, "admin", 204, "careteam.remove", "allow"},
		{"DELETE /api/v1/patients/{id}/care-team/{userID}", "DELETE", "/api/v1/patients/" + a + "/care-team/d0c000000000000000000000000000d1", nil, "other", 404, "careteam.remove", "deny"},
		{"POST /api/v1/patients/{id}/representatives", "POST", "/api/v1/patients/" + a + "/representatives", map[string]string{"relationship": "parent", "name": "Mum " + canary, "email": "mum@example.org"}, "doc1", 201, "patient.representative_add", "allow"},
		{"POST /api/v1/patients/{id}/representatives", "POST", "/api/v1/patients/" + a + "/representatives", map[string]string{"relationship": "parent", "name": "X", "email": "x@example.org"}, "doc2", 403, "patient.representative_add", "deny"},
		{"GET /api/v1/patients/{id}/representatives", "GET", "/api/v1/patients/" + a + "/representatives", nil, "doc1", 200, "patient.representative_read", "allow"},
		{"GET /api/v1/patients/{id}/representatives", "GET", "/api/v1/patients/" + a + "/representatives", nil, "other", 404, "patient.representative_read", "deny"},
		{"POST /api/v1/patients/{id}/portal-invitations", "POST", "/api/v1/patients/" + a + "/portal-invitations", nil, "doc1", 202, "patient.portal_invite", "allow"},
		{"POST /api/v1/patients/{id}/portal-invitations", "POST", "/api/v1/patients/" + a + "/portal-invitations", nil, "doc2", 403, "patient.portal_invite", "deny"},
		{"POST /api/v1/patients/{id}/break-glass", "POST", "/api/v1/patients/" + a + "/break-glass", map[string]string{"reason_code": "emergency", "reason": "Collapsed at reception " + canary}, "er1", 201, "breakglass.open", "allow"},
		{"POST /api/v1/patients/{id}/break-glass", "POST", "/api/v1/patients/" + a + "/break-glass", map[string]string{"reason_code": "emergency", "reason": "Collapsed at reception"}, "other", 404, "breakglass.open", "deny"},
		{"GET /api/v1/patients/{id}/cases", "GET", "/api/v1/patients/" + a + "/cases", nil, "doc1", 200, "case.list", "allow"},
		{"GET /api/v1/patients/{id}/cases", "GET", "/api/v1/patients/" + a + "/cases", nil, "surgeon9", 403, "case.list", "deny"},
		{"POST /api/v1/patients/{id}/cases", "POST", "/api/v1/patients/" + a + "/cases", map[string]string{"title": "Revision " + canary, "date": "2026-05-01"}, "doc1", 201, "case.create", "allow"},
		{"POST /api/v1/patients/{id}/cases", "POST", "/api/v1/patients/" + a + "/cases", map[string]string{"title": "x"}, "staff", 404, "case.create", "deny"},
		{"GET /api/v1/cases/{id}", "GET", "/api/v1/cases/" + sc, nil, "surgeon9", 200, "case.read", "allow"},
		{"GET /api/v1/cases/{id}", "GET", "/api/v1/cases/" + pc, nil, "anna", 404, "case.read", "deny"},
		{"PATCH /api/v1/cases/{id}", "PATCH", "/api/v1/cases/" + sc, map[string]any{"version": 1, "notes": "Edited " + canary}, "doc1", 200, "case.update", "allow"},
		{"PATCH /api/v1/cases/{id}", "PATCH", "/api/v1/cases/" + sc, map[string]any{"version": 2, "notes": "x"}, "surgeon9", 403, "case.update", "deny"},
		{"GET /api/v1/cases/{id}/revisions", "GET", "/api/v1/cases/" + sc + "/revisions", nil, "doc1", 200, "case.revisions", "allow"},
		{"GET /api/v1/cases/{id}/revisions", "GET", "/api/v1/cases/" + sc + "/revisions", nil, "anna", 404, "case.revisions", "deny"},
		{"POST /api/v1/cases/{id}/comments", "POST", "/api/v1/cases/" + sc + "/comments", map[string]string{"text": "Agree " + canary}, "surgeon9", 201, "case.comment", "allow"},
		{"POST /api/v1/cases/{id}/comments", "POST", "/api/v1/cases/" + sc + "/comments", map[string]string{"text": "hi"}, "anna", 403, "case.comment", "deny"},
		{"PUT /api/v1/cases/{id}/comments/{commentID}", "PUT", "/api/v1/cases/" + sc + "/comments/" + f.commentID, map[string]string{"text": "Edited comment " + canary}, "doc1", 200, "case.comment_edit", "allow"},
		{"PUT /api/v1/cases/{id}/comments/{commentID}", "PUT", "/api/v1/cases/" + sc + "/comments/" + f.commentID, map[string]string{"text": "mine now"}, "surgeon9", 403, "case.comment_edit", "deny"},
		{"POST /api/v1/cases/{id}/collaborators", "POST", "/api/v1/cases/" + sc + "/collaborators", map[string]string{"user_id": "5e000000000000000000000000000008"}, "doc1", 204, "case.collaborator_add", "allow"},
		{"POST /api/v1/cases/{id}/collaborators", "POST", "/api/v1/cases/" + sc + "/collaborators", map[string]string{"user_id": "surgeon7"}, "surgeon9", 403, "case.collaborator_add", "deny"},
		{"DELETE /api/v1/cases/{id}/collaborators/{userID}", "DELETE", "/api/v1/cases/" + sc + "/collaborators/5e000000000000000000000000000008", nil, "doc1", 204, "case.collaborator_remove", "allow"},
		{"DELETE /api/v1/cases/{id}/collaborators/{userID}", "DELETE", "/api/v1/cases/" + sc + "/collaborators/5e000000000000000000000000000009", nil, "staff", 404, "case.collaborator_remove", "deny"},
		{"PUT /api/v1/cases/{id}/sharing", "PUT", "/api/v1/cases/" + sc + "/sharing", map[string]bool{"shared": true, "notes_shared": true}, "doc1", 204, "case.share", "allow"},
		{"PUT /api/v1/cases/{id}/sharing", "PUT", "/api/v1/cases/" + pc + "/sharing", map[string]bool{"shared": true}, "anna", 404, "case.share", "deny"},
		{"GET /api/v1/break-glass/reviews", "GET", "/api/v1/break-glass/reviews", nil, "po", 200, "breakglass.review_read", "allow"},
		{"GET /api/v1/break-glass/reviews", "GET", "/api/v1/break-glass/reviews", nil, "doc1", 404, "breakglass.review_list", "deny"},
		{"POST /api/v1/break-glass/reviews/{id}", "POST", "/api/v1/break-glass/reviews/" + f.grantID, map[string]string{"notes": "Checked " + canary}, "po", 204, "breakglass.review", "allow"},
		{"POST /api/v1/break-glass/reviews/{id}", "POST", "/api/v1/break-glass/reviews/" + f.grantID, map[string]string{"notes": "x"}, "doc1", 404, "breakglass.review", "deny"},
		{"POST /api/v1/patients/{id}/care-team", "POST", "/api/v1/patients/" + b + "/care-team", map[string]string{"user_id": "er1"}, "er1", 202, "careteam.add_request", "allow"},
		{"POST /api/v1/break-glass/changes/{id}", "POST", "/api/v1/break-glass/changes/0123456789abcdef0123456789abcdef", map[string]string{"decision": "approve"}, "po", 404, "careteam.change_approve", "deny"},
		{"GET /api/v1/me/patient", "GET", "/api/v1/me/patient", nil, "mum", 200, "patient.read", "allow"},
		{"GET /api/v1/me/cases", "GET", "/api/v1/me/cases", nil, "anna", 200, "case.list", "allow"},
		// Pages.
		{"GET /patients", "GET", "/patients", nil, "doc1", 200, "patient.list", "allow"},
		{"GET /patients", "GET", "/patients", nil, "anna", 404, "patient.list", "deny"},
		{"POST /patients/search", "POST", "/patients/search", form("name", canary), "doc1", 200, "patient.search", "allow"},
		{"GET /patients/new", "GET", "/patients/new", nil, "doc1", 200, "", ""},
		{"POST /patients", "POST", "/patients", form("given_name", "Dora", "family_name", canary, "birth_date", "1990-01-02", "height_cm", "170"), "doc1", 303, "patient.create", "allow"},
		{"GET /patients/{id}", "GET", "/patients/" + a, nil, "doc1", 200, "case.list", "allow"},
		{"GET /patients/{id}", "GET", "/patients/" + b, nil, "doc2", 200, "patient.read_summary", "allow"},
		{"GET /patients/{id}/edit", "GET", "/patients/" + a + "/edit", nil, "doc1", 200, "patient.read", "allow"},
		{"POST /patients/{id}/edit", "POST", "/patients/" + a + "/edit", form("version", "2", "given_name", "Anna", "family_name", canary, "birth_date", "1980-04-12", "email", "anna@example.org"), "doc1", 303, "patient.update", "allow"},
		{"POST /patients/{id}/care-team", "POST", "/patients/" + a + "/care-team", form("user_id", "doc4"), "doc1", 303, "careteam.add", "allow"},
		{"POST /patients/{id}/portal-invitation", "POST", "/patients/" + a + "/portal-invitation", nil, "staff", 200, "patient.portal_invite", "allow"},
		{"POST /patients/{id}/portal-invitation", "POST", "/patients/" + a + "/portal-invitation", nil, "doc2", 403, "patient.portal_invite", "deny"},
		{"POST /patients/{id}/break-glass", "POST", "/patients/" + b + "/break-glass", form("reason_code", "emergency", "reason", "Unconscious in the ER"), "doc2", 200, "case.list", "allow"},
		{"POST /patients/{id}/cases", "POST", "/patients/" + a + "/cases", form("title", "Follow-up "+canary, "date", "2026-06-01"), "doc1", 303, "case.create", "allow"},
		{"GET /cases/{id}", "GET", "/cases/" + sc, nil, "doc1", 200, "patient.read_summary", "allow"},
		{"GET /cases/{id}", "GET", "/cases/" + sc, nil, "anna", 200, "case.read", "allow"},
		{"POST /cases/{id}/edit", "POST", "/cases/" + sc + "/edit", form("version", "2", "title", "Rhinoplasty "+canary, "status", "open", "notes", "Page note "+canary), "doc1", 303, "case.update", "allow"},
		{"GET /cases/{id}/history", "GET", "/cases/" + sc + "/history", nil, "doc1", 200, "case.revisions", "allow"},
		{"POST /cases/{id}/comments", "POST", "/cases/" + sc + "/comments", form("text", "Page comment "+canary), "doc1", 303, "case.comment", "allow"},
		{"POST /cases/{id}/collaborators", "POST", "/cases/" + sc + "/collaborators", form("user_id", "surgeon5"), "doc1", 303, "case.collaborator_add", "allow"},
		{"POST /cases/{id}/sharing", "POST", "/cases/" + sc + "/sharing", form("shared", "on"), "doc1", 303, "case.share", "allow"},
		{"GET /me", "GET", "/me", nil, "anna", 200, "case.list", "allow"},
		{"GET /privacy/break-glass", "GET", "/privacy/break-glass", nil, "po", 200, "breakglass.review_read", "allow"},
		{"POST /privacy/break-glass/{id}", "POST", "/privacy/break-glass/" + f.grantID, form("notes", "again"), "po", 422, "breakglass.review", "allow"},
		{"POST /privacy/break-glass/changes/{id}", "POST", "/privacy/break-glass/changes/0123456789abcdef0123456789abcdef", form("decision", "reject"), "po", 404, "careteam.change_reject", "deny"},
		{"GET /access/matrix", "GET", "/access/matrix", nil, "admin", 200, "", ""},
	}
}

func TestEveryRecordsRouteAuditsTheAccessBeforeAnswering(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newRecordsFixture(t, d, "")
		rs := f.routes()
		covered := map[string]bool{}
		for _, r := range rs {
			covered[r.pattern] = true
		}
		for _, p := range recordsPatterns(t, f.srv) {
			if !covered[p] {
				t.Errorf("route %s is not exercised", p)
			}
		}
		for _, r := range rs {
			before := len(f.env.Entries(t))
			status, body := f.do(t, r.as, r.method, r.path, r.body)
			if status != r.wantStatus {
				t.Fatalf("%s %s as %s: status %d, want %d: %s", r.method, r.path, r.as, status, r.wantStatus, body)
			}
			es := f.env.Entries(t)[before:]
			if r.action == "" {
				if len(es) != 0 {
					t.Fatalf("%s wrote %d entries, want none", r.pattern, len(es))
				}
				continue
			}
			found, failed := false, false
			for _, e := range es {
				if e.Action == r.action && e.Decision == r.decision && e.ActorUserID == f.as[r.as].UserID && e.RequestID != "" {
					found = found || e.Outcome == "success" || e.Outcome == "denied"
					failed = failed || e.Outcome == "failure"
				}
				// An allowed action that then fails (a 422 after the
				// decision) is followed by a second entry saying so.
				if e.Decision == "deny" && e.Outcome != "denied" || e.Decision == "allow" && e.Outcome != "success" && !(e.Outcome == "failure" && r.wantStatus >= 400) {
					t.Fatalf("%s: entry %+v", r.pattern, e.Event)
				}
			}
			if !found {
				t.Fatalf("%s %s as %s: no %s/%s entry among %d", r.method, r.path, r.as, r.action, r.decision, len(es))
			}
			if r.decision == "allow" && r.wantStatus == http.StatusUnprocessableEntity && !failed {
				t.Fatalf("%s %s as %s: refused with 422 after an allowed %s, but no failure entry", r.method, r.path, r.as, r.action)
			}
		}
	})
}

// recordsPatterns are the routes the records services add: those of a
// server with them that a server without them lacks.
func recordsPatterns(t *testing.T, with *web.Server) []string {
	t.Helper()
	without, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	base := map[string]bool{}
	for _, p := range without.Patterns() {
		base[p] = true
	}
	var out []string
	for _, p := range with.Patterns() {
		if !base[p] {
			out = append(out, p)
		}
	}
	if len(out) < 40 {
		t.Fatalf("only %d records routes found", len(out))
	}
	return out
}

func TestRecordsRoutesAnswer503WithoutPHIWhenTheAuditLogIsDown(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	f.env.Audit.Down()
	defer f.env.Audit.Up()
	for _, r := range f.routes() {
		if r.action == "" || r.decision != "allow" {
			continue
		}
		status, body := f.do(t, r.as, r.method, r.path, r.body)
		if status != http.StatusServiceUnavailable {
			t.Fatalf("%s %s: %d, want 503", r.method, r.path, status)
		}
		if strings.Contains(body, canary) || strings.Contains(body, "Anna") {
			t.Fatalf("%s %s: PHI in the 503 answer", r.method, r.path)
		}
		if strings.HasPrefix(r.path, "/api/") && !strings.Contains(body, `"status":503`) {
			t.Fatalf("%s: not problem+json: %s", r.path, body)
		}
	}
}

func TestRecordsAPIRoutesAreDocumented(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	b, _ := web.OpenAPI()
	var doc struct {
		Paths map[string]map[string]any `json:"paths"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, p := range f.srv.Patterns() {
		m, path, _ := strings.Cut(p, " ")
		if !strings.HasPrefix(path, "/api/v1/") {
			continue
		}
		n++
		if _, ok := doc.Paths[path][strings.ToLower(m)]; !ok {
			t.Errorf("openapi lacks %s", p)
		}
	}
	if n < 27 {
		t.Fatalf("only %d API routes", n)
	}
}

func TestValidationErrorsNameTheFieldsAndChangeNothing(t *testing.T) {
	f := newRecordsFixture(t, dbtest.SQLite(t), "")
	status, body := f.do(t, "doc1", "POST", "/api/v1/patients", map[string]any{"given_name": "X", "family_name": "Y", "birth_date": "2001-02-30", "height_cm": 999})
	if status != 422 || !strings.Contains(body, `"birth_date"`) || !strings.Contains(body, `"height_cm"`) {
		t.Fatalf("%d %s", status, body)
	}
	status, body = f.do(t, "doc1", "POST", "/patients", url.Values{"given_name": {""}, "family_name": {"Y"}, "birth_date": {"1990-01-01"}, "height_cm": {"tall"}})
	if status != 422 || !strings.Contains(body, "must be a whole number of centimetres") {
		t.Fatalf("%d", status)
	}
	status, body = f.do(t, "doc1", "POST", "/patients", url.Values{"given_name": {""}, "family_name": {"Y"}, "birth_date": {"1990-01-01"}})
	if status != 422 || !strings.Contains(body, "is required") || !strings.Contains(body, `aria-invalid="true"`) {
		t.Fatalf("%d", status)
	}
	status, body = f.do(t, "doc2", "POST", "/patients/"+f.anna.ID+"/break-glass", url.Values{"reason_code": {"emergency"}, "reason": {"hurry"}})
	if status != 422 || !strings.Contains(body, "at least 10 characters") {
		t.Fatalf("break-glass page: %d", status)
	}
	var n int
	f.env.DB.Read.QueryRow(`SELECT COUNT(*) FROM patients`).Scan(&n)
	if n != 2 {
		t.Fatalf("%d patients after refused creates", n)
	}
}

// TestCanaryNeverReachesDiskOrLogs puts a unique string into a patient's
// name, email, MRN, case title and notes, comments and break-glass reasons,
// drives every records route, closes the database and scans the raw bytes of
// every file in the data directory (database, WAL, anything else) and the
// captured logs.
func TestCanaryNeverReachesDiskOrLogs(t *testing.T) {
	dir := t.TempDir()
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(dir, "custodia.db"), dir)
	if err != nil {
		t.Fatal(err)
	}
	f := newRecordsFixture(t, d, dir)
	for _, r := range f.routes() {
		f.do(t, r.as, r.method, r.path, r.body)
	}
	// The reads must actually have shown the canary, or the scan proves nothing.
	if _, body := f.do(t, "doc1", "GET", "/api/v1/patients/"+f.anna.ID, nil); !strings.Contains(body, canary) {
		t.Fatal("the canary is not readable through the API")
	}
	f.ts.Close()
	if err := f.env.Audit.Log.Close(); err != nil {
		t.Fatal(err)
	}
	// Read the WAL before closing: a clean close checkpoints and removes it.
	scanned := 0
	scan := func() {
		filepath.WalkDir(dir, func(path string, e os.DirEntry, err error) error {
			if err != nil || e.IsDir() {
				return err
			}
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			scanned++
			for _, needle := range [][]byte{[]byte(canary), []byte(strings.ToLower(canary))} {
				if bytes.Contains(b, needle) {
					t.Errorf("canary found in %s", filepath.Base(path))
				}
			}
			return nil
		})
	}
	scan()
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	scan()
	if scanned < 2 {
		t.Fatalf("scanned only %d files", scanned)
	}
	logs := []byte(f.logs.String())
	if len(logs) == 0 || bytes.Contains(logs, []byte(canary)) || bytes.Contains(logs, []byte(strings.ToLower(canary))) {
		t.Fatalf("canary in logs (or no logs captured: %d bytes)", len(logs))
	}
}

// The patient page reads the profile, the care team and the cases: three
// audited reads, but the patient row itself is loaded once.
func TestPatientPageLoadsThePatientRowOnce(t *testing.T) {
	d, tr := dbtest.TracedSQLite(t)
	f := newRecordsFixture(t, d, t.TempDir())
	before := len(f.env.Entries(t))
	tr.Reset()
	status, body := f.do(t, "doc1", "GET", "/patients/"+f.anna.ID, nil)
	if status != http.StatusOK || !strings.Contains(body, "Rhinoplasty") {
		t.Fatalf("patient page %d", status)
	}
	loads := tr.Count(func(q string) bool {
		return strings.Contains(q, "FROM patients p ") && strings.Contains(q, "WHERE p.id = ")
	})
	if loads != 1 {
		t.Errorf("the patient row was loaded %d times for one page", loads)
	}
	var got []string
	for _, e := range f.env.Entries(t)[before:] {
		got = append(got, e.Action+" "+e.Decision)
	}
	if want := []string{"patient.read allow", "careteam.read allow", "case.list allow"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("audit entries %q, want %q", got, want)
	}
}
