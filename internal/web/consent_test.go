package web_test

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/browsertest"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/consent/consenttest"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/notice"
	"github.com/custodia-health/custodia/internal/web"
)

// consentWorld is a server with consent and notices on a real database and
// audit log. Identity is not merged yet, so a test-only middleware puts the
// principal named by the X-Test-Principal header (or the default one) into
// the request context, where authentication will put it.
type consentWorld struct {
	t        *testing.T
	d        *db.DB
	srv      *web.Server
	ts       *httptest.Server
	consent  *consent.Service
	notices  *notice.Service
	log      *audit.Log
	blobDir  string
	subjects *consenttest.Subjects

	mu         sync.Mutex
	principals map[string]*access.Principal
	def        string
}

var (
	cwOperator = &access.Principal{UserID: "u_operator", Role: access.RoleOperator}
	cwPatient  = &access.Principal{UserID: "u_pat", Role: access.RolePatient, PatientID: "ad0000000000000000000000000000a1"}
	cwMinor    = &access.Principal{UserID: "u_kid", Role: access.RolePatient, PatientID: "b00000000000000000000000000000a2"}
	cwParent   = &access.Principal{UserID: "u_parent", Role: access.RoleRepresentative, PatientID: "b00000000000000000000000000000a2"}
	cwOfficer  = &access.Principal{UserID: "u_po", Role: access.RolePrivacyOfficer, WorkspaceID: "ws_a"}
	cwDoctor   = &access.Principal{UserID: "u_doc", Role: access.RoleClinician, WorkspaceID: "ws_a"}
)

func newConsentWorld(t *testing.T) *consentWorld {
	t.Helper()
	ctx := context.Background()
	d := dbtest.SQLite(t)
	_, sk, _ := ed25519.GenerateKey(rand.Reader)
	l, err := audit.Open(ctx, d, sk, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	master, _, err := keys.LoadOrCreateMaster(t.TempDir(), "")
	if err != nil {
		t.Fatal(err)
	}
	blobDir := filepath.Join(t.TempDir(), "blobs")
	blobs, err := blob.NewLocal(blobDir)
	if err != nil {
		t.Fatal(err)
	}
	subj := consenttest.New()
	subj.Add("ad0000000000000000000000000000a1", consenttest.Patient{WorkspaceID: "ws_a", CareTeam: map[string]bool{"u_doc": true}})
	subj.Add("b00000000000000000000000000000a2", consenttest.Patient{WorkspaceID: "ws_a", MinorUntil: time.Now().AddDate(5, 0, 0),
		Representatives: map[string]bool{"u_parent": true}})
	cs := consent.New(d, web.AuditReceipts(l), keys.NewKeyring(d, master), blobs, subj)
	if err := cs.Seed(ctx); err != nil {
		t.Fatal(err)
	}
	ns := notice.New(d, l)
	srv, err := web.New(web.Deps{DB: d, Log: slog.New(slog.DiscardHandler), Version: "test", Consent: cs, Notices: ns})
	if err != nil {
		t.Fatal(err)
	}
	w := &consentWorld{t: t, d: d, srv: srv, consent: cs, notices: ns, log: l, blobDir: blobDir, subjects: subj,
		principals: map[string]*access.Principal{}}
	for _, p := range []*access.Principal{cwOperator, cwPatient, cwMinor, cwParent, cwOfficer, cwDoctor} {
		w.principals[p.UserID] = p
	}
	w.ts = httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		name := r.Header.Get("X-Test-Principal")
		w.mu.Lock()
		if name == "" {
			name = w.def
		}
		p := w.principals[name]
		w.mu.Unlock()
		if p != nil {
			r = r.WithContext(access.WithPrincipal(r.Context(), p))
		}
		srv.ServeHTTP(rw, r)
	}))
	t.Cleanup(w.ts.Close)
	return w
}

func (w *consentWorld) setDefault(user string) {
	w.mu.Lock()
	w.def = user
	w.mu.Unlock()
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

// do sends a request as user ("" = anonymous) and returns status, headers and body.
func (w *consentWorld) do(user, method, path, contentType string, body io.Reader) (*http.Response, string) {
	w.t.Helper()
	req, err := http.NewRequest(method, w.ts.URL+path, body)
	if err != nil {
		w.t.Fatal(err)
	}
	if user != "" {
		req.Header.Set("X-Test-Principal", user)
	} else {
		req.Header.Set("X-Test-Principal", "nobody")
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	res, err := noRedirect.Do(req)
	if err != nil {
		w.t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func (w *consentWorld) postForm(user, path string, v url.Values) (*http.Response, string) {
	return w.do(user, "POST", path, "application/x-www-form-urlencoded", strings.NewReader(v.Encode()))
}

func (w *consentWorld) publish(material bool, body string) notice.Version {
	w.t.Helper()
	v, err := w.notices.Publish(context.Background(), cwOperator, notice.NewVersion{Title: "Privacy notice", Body: body + "\n\n" + notice.ExampleBody, Material: material})
	if err != nil {
		w.t.Fatal(err)
	}
	return v
}

// concrete turns a route pattern into a method and a path that matches it.
func concrete(pattern string) (string, string) {
	method, path, ok := strings.Cut(pattern, " ")
	if !ok {
		method, path = "GET", pattern
	}
	path = strings.ReplaceAll(path, "{$}", "")
	for strings.Contains(path, "{") {
		i := strings.Index(path, "{")
		j := strings.Index(path[i:], "}")
		path = path[:i] + "x1" + path[i+j+1:]
	}
	switch {
	case path == "/":
		path = "/somewhere"
	case path == "/static/":
		path = "/static/app.css"
	case strings.HasSuffix(path, "/"):
		path += "x1"
	}
	return method, path
}

// exemptFromNotice lists what a held user may still reach.
func exemptFromNotice(path string) bool {
	switch path {
	case "/notices/accept", "/privacy", "/signout", "/api/v1/auth/signout", "/healthz", "/readyz", "/api/v1/notices/current", "/api/v1/notices/x1/accept":
		return true
	}
	return strings.HasPrefix(path, "/static/")
}

// held reports whether the response is the notice gate's.
func held(res *http.Response, body string) bool {
	if res.StatusCode == http.StatusSeeOther && res.Header.Get("Location") == "/notices/accept" {
		return true
	}
	return res.StatusCode == http.StatusForbidden && strings.Contains(body, web.NoticeAcceptanceProblem)
}

func (w *consentWorld) walk(user string, wantHeld bool) {
	w.t.Helper()
	n := 0
	for _, pattern := range w.srv.Patterns() {
		method, path := concrete(pattern)
		var body io.Reader
		ct := ""
		if method == "POST" {
			body, ct = strings.NewReader(""), "application/x-www-form-urlencoded"
		}
		res, b := w.do(user, method, path, ct, body)
		got := held(res, b)
		want := wantHeld && !exemptFromNotice(path)
		if got != want {
			w.t.Errorf("%s (%s %s): held=%v, want %v (status %d)", pattern, method, path, got, want, res.StatusCode)
		}
		if got && strings.HasPrefix(path, "/api/") {
			if res.Header.Get("Content-Type") != "application/problem+json" || !strings.Contains(res.Header.Get("Link"), "/notices/accept") {
				w.t.Errorf("%s: API hold without problem+json and link: %v", pattern, res.Header)
			}
		}
		n++
	}
	if n < 15 {
		w.t.Fatalf("walked only %d routes", n)
	}
}

func TestUnacceptedMaterialNoticeHoldsTheUserOnEveryRoute(t *testing.T) {
	w := newConsentWorld(t)
	// No material notice yet: nobody is held.
	w.walk(cwDoctor.UserID, false)
	v1 := w.publish(true, "# Who we are\nCustodia.")
	w.walk(cwDoctor.UserID, true)
	// Anonymous visitors are not held (they have nothing to accept yet).
	if res, b := w.do("", "GET", "/", "", nil); held(res, b) {
		t.Fatal("an anonymous visitor was held")
	}
	// The acceptance page shows the notice; accepting without ticking the box changes nothing.
	res, body := w.do(cwDoctor.UserID, "GET", "/notices/accept", "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "Who we are") || !strings.Contains(body, v1.ID) {
		t.Fatalf("acceptance page %d", res.StatusCode)
	}
	if res, _ := w.postForm(cwDoctor.UserID, "/notices/accept", url.Values{"notice": {v1.ID}}); res.StatusCode != http.StatusUnprocessableEntity {
		t.Fatalf("accept without the box ticked: %d", res.StatusCode)
	}
	w.walk(cwDoctor.UserID, true)
	res, _ = w.postForm(cwDoctor.UserID, "/notices/accept", url.Values{"notice": {v1.ID}, "agree": {"yes"}})
	if res.StatusCode != http.StatusSeeOther || res.Header.Get("Location") != "/" {
		t.Fatalf("accept: %d %s", res.StatusCode, res.Header.Get("Location"))
	}
	w.walk(cwDoctor.UserID, false)

	// A non-material version holds no one who accepted the material one.
	w.publish(false, "# Who we are\nCustodia, with a typo fixed.")
	w.walk(cwDoctor.UserID, false)

	// A workspace's material notice holds its members, not patients outside it.
	ws, err := w.notices.Publish(context.Background(), cwOfficer, notice.NewVersion{WorkspaceID: "ws_a", Title: "Clinic A", Body: notice.ExampleBody + "Our clinic.", Material: true})
	if err != nil {
		t.Fatal(err)
	}
	w.walk(cwDoctor.UserID, true)
	// The API way out: read the pending ids, accept each.
	res, body = w.do(cwDoctor.UserID, "GET", "/api/v1/notices/current", "", nil)
	var cur struct {
		Pending []string `json:"pending"`
	}
	if err := json.Unmarshal([]byte(body), &cur); err != nil || res.StatusCode != 200 || len(cur.Pending) != 1 || cur.Pending[0] != ws.ID {
		t.Fatalf("current: %d %s", res.StatusCode, body)
	}
	if res, b := w.do(cwDoctor.UserID, "POST", "/api/v1/notices/"+ws.ID+"/accept", "", nil); res.StatusCode != 200 {
		t.Fatalf("API accept: %d %s", res.StatusCode, b)
	}
	w.walk(cwDoctor.UserID, false)
}

func TestPatientGrantsAndWithdrawsOnTheConsentPage(t *testing.T) {
	w := newConsentWorld(t)
	page := "/patients/ad0000000000000000000000000000a1/consents"
	res, body := w.do(cwPatient.UserID, "GET", page, "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "Scientific research") || !strings.Contains(body, "No consent has been given") {
		t.Fatalf("page %d", res.StatusCode)
	}
	form := url.Values{"purpose": {"scientific_research"}, "category": {"general"}, "action": {"grant"}, "confirm": {"yes"}}
	res, _ = w.postForm(cwPatient.UserID, page, form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("grant: %d", res.StatusCode)
	}
	ctx := context.Background()
	if d, _ := w.consent.Allows(ctx, "ad0000000000000000000000000000a1", consent.ScientificResearch, time.Now()); !d.Allowed {
		t.Fatalf("after grant: %+v", d)
	}
	form.Set("action", "withdraw")
	if res, _ = w.postForm(cwPatient.UserID, page, form); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("withdraw: %d", res.StatusCode)
	}
	if d, _ := w.consent.Allows(ctx, "ad0000000000000000000000000000a1", consent.ScientificResearch, time.Now()); d.Allowed || d.Reason != consent.ReasonWithdrawn {
		t.Fatalf("after withdrawal: %+v", d)
	}
	res, body = w.do(cwPatient.UserID, "GET", page+"?saved=withdraw", "", nil)
	if res.StatusCode != 200 || strings.Count(body, "<td class=\"decision\">") != 2 || !strings.Contains(body, "Withdrawn") {
		t.Fatalf("history not shown: %d", res.StatusCode)
	}
	// Bad input: a readable error, nothing recorded.
	res, body = w.postForm(cwPatient.UserID, page, url.Values{"purpose": {"astrology"}, "action": {"grant"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "Choose one of the listed purposes") {
		t.Fatalf("bad purpose: %d", res.StatusCode)
	}
	// Someone else's consents are not found; anonymous is told to sign in.
	if res, _ := w.do(cwMinor.UserID, "GET", page, "", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("other patient: %d", res.StatusCode)
	}
	if res, _ := w.do("", "GET", page, "", nil); res.StatusCode != http.StatusUnauthorized {
		t.Fatalf("anonymous: %d", res.StatusCode)
	}
}

// TestConsentChangeAsksForConfirmationFirst: a portal change without
// confirm=yes (no script, or a hand-made post) gets the confirmation step
// and changes nothing; the confirmed change is made and the page after it
// names what changed and marks it.
func TestConsentChangeAsksForConfirmationFirst(t *testing.T) {
	w := newConsentWorld(t)
	page := "/patients/ad0000000000000000000000000000a1/consents"
	form := url.Values{"purpose": {"publications"}, "category": {"impairment"}, "action": {"grant"}}
	res, body := w.postForm(cwPatient.UserID, page, form)
	if res.StatusCode != http.StatusOK || !strings.Contains(body, "Give consent to “Publications” (information about impairments)?") ||
		!strings.Contains(body, `name="confirm" value="yes"`) {
		t.Fatalf("confirmation step: %d", res.StatusCode)
	}
	ctx := context.Background()
	if d, _ := w.consent.Allows(ctx, "ad0000000000000000000000000000a1", consent.Publications, time.Now(), consent.Impairment); d.Allowed {
		t.Fatal("consent recorded before it was confirmed")
	}
	form.Set("confirm", "yes")
	res, _ = w.postForm(cwPatient.UserID, page, form)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("confirmed: %d", res.StatusCode)
	}
	loc := res.Header.Get("Location")
	if strings.Contains(loc, "publications") {
		t.Errorf("the redirect names the purpose: %s", loc)
	}
	if d, _ := w.consent.Allows(ctx, "ad0000000000000000000000000000a1", consent.Publications, time.Now(), consent.Impairment); !d.Allowed {
		t.Fatalf("after confirmation: %+v", d)
	}
	res, body = w.do(cwPatient.UserID, "GET", strings.Split(loc, "#")[0], "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "You gave consent to “Publications” (information about impairments)") ||
		!strings.Contains(body, `class="changed" id="consent-changed"`) {
		t.Fatalf("page after the change: %d", res.StatusCode)
	}
	// The purposes come in sections with their explanations.
	for _, g := range consent.Groups() {
		if !strings.Contains(body, `id="group-`+g.Key+`"`) || !strings.Contains(body, g.Explanation) {
			t.Errorf("section %q missing", g.Title)
		}
	}
}

func TestMinorSeesThatTheirRepresentativeMustConsent(t *testing.T) {
	w := newConsentWorld(t)
	page := "/patients/b00000000000000000000000000000a2/consents"
	res, body := w.do(cwMinor.UserID, "GET", page, "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "your personal representative") || strings.Contains(body, "Give consent") {
		t.Fatalf("minor's page %d: %v", res.StatusCode, strings.Contains(body, "Give consent"))
	}
	res, body = w.postForm(cwMinor.UserID, page, url.Values{"purpose": {"marketing"}, "action": {"grant"}, "confirm": {"yes"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "personal representative must decide") {
		t.Fatalf("minor grants: %d", res.StatusCode)
	}
	res, body = w.do(cwParent.UserID, "GET", page, "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "Give consent") {
		t.Fatalf("representative's page %d", res.StatusCode)
	}
	if res, _ := w.postForm(cwParent.UserID, page, url.Values{"purpose": {"marketing"}, "action": {"grant"}, "confirm": {"yes"}}); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("representative grants: %d", res.StatusCode)
	}
}

func multipartBody(t *testing.T, fields [][2]string, file []byte) (string, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	for _, f := range fields {
		_ = mw.WriteField(f[0], f[1])
	}
	fw, err := mw.CreateFormFile("form", "scan.bin")
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(file)
	mw.Close()
	return mw.FormDataContentType(), &buf
}

func TestStaffRecordPaperConsentWithASniffedSignedForm(t *testing.T) {
	w := newConsentWorld(t)
	fields := [][2]string{{"purpose", "publications"}, {"category", "general"}, {"action", "grant"}, {"note", "Signed at reception"}}
	png := append([]byte("\x89PNG\r\n\x1a\n"), bytes.Repeat([]byte{0}, 100)...)
	cases := []struct {
		name   string
		file   []byte
		status int
	}{
		{"a GIF claiming to be a scan", []byte("GIF89a......"), http.StatusUnprocessableEntity},
		{"HTML", []byte("<html><script>alert(1)</script>"), http.StatusUnprocessableEntity},
		{"no file", nil, http.StatusUnprocessableEntity},
		{"a PDF", []byte("%PDF-1.7\n1 0 obj"), http.StatusSeeOther},
		{"a PNG", png, http.StatusSeeOther},
	}
	for _, tc := range cases {
		ct, body := multipartBody(t, fields, tc.file)
		res, b := w.do(cwOfficer.UserID, "POST", "/patients/ad0000000000000000000000000000a1/consents/paper", ct, body)
		if res.StatusCode != tc.status {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		if tc.status == http.StatusUnprocessableEntity && !strings.Contains(b, "field-error") {
			t.Errorf("%s: no readable field error", tc.name)
		}
	}
	var n int
	if err := w.d.Read.QueryRow(`SELECT COUNT(*) FROM consent_events WHERE method = 'paper_form'`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("%d paper events (%v), want 2", n, err)
	}
	// A minor's form needs the representative named.
	ct, body := multipartBody(t, [][2]string{{"purpose", "publications"}, {"action", "grant"}}, []byte("%PDF-1.4"))
	res, b := w.do(cwOfficer.UserID, "POST", "/patients/b00000000000000000000000000000a2/consents/paper", ct, body)
	if res.StatusCode != http.StatusForbidden || !strings.Contains(b, "personal representative") {
		t.Fatalf("minor's own form: %d", res.StatusCode)
	}
	// A typed user id is not a way to name the representative (they are
	// found by name among the patient's: TestPaperConsentFindsTheRepresentativeByName).
	ct, body = multipartBody(t, [][2]string{{"purpose", "publications"}, {"action", "grant"}, {"representative", "u_parent"}}, []byte("%PDF-1.4"))
	if res, b := w.do(cwOfficer.UserID, "POST", "/patients/b00000000000000000000000000000a2/consents/paper", ct, body); res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(b, "field-error") {
		t.Fatalf("representative named by user id: %d", res.StatusCode)
	}
	// The officer sees the note and a link to the form, and can download it.
	res, page := w.do(cwOfficer.UserID, "GET", "/patients/ad0000000000000000000000000000a1/consents", "", nil)
	if res.StatusCode != 200 || !strings.Contains(page, "Signed at reception") || !strings.Contains(page, "/form\">Signed form") {
		t.Fatalf("officer's view %d", res.StatusCode)
	}
	i := strings.Index(page, "/patients/ad0000000000000000000000000000a1/consents/ce_")
	link := page[i : i+strings.Index(page[i:], "\"")]
	res, got := w.do(cwOfficer.UserID, "GET", link, "", nil)
	if res.StatusCode != 200 || (got != "%PDF-1.7\n1 0 obj" && got != string(png)) {
		t.Fatalf("form download %d %q", res.StatusCode, got)
	}
	// The paper form page itself needs consent.read on the patient.
	if res, _ := w.do(cwDoctor.UserID, "GET", "/patients/b00000000000000000000000000000a2/consents/paper", "", nil); res.StatusCode != http.StatusNotFound {
		t.Fatalf("clinician off the care team: %d", res.StatusCode)
	}
}

func TestConsentAPI(t *testing.T) {
	w := newConsentWorld(t)
	res, body := w.do("", "GET", "/api/v1/consent/purposes", "", nil)
	var pr struct {
		Purposes []struct {
			Code    string `json:"code"`
			Express bool   `json:"express_consent_required"`
			Text    struct {
				ID string `json:"id"`
			} `json:"current_text"`
		} `json:"purposes"`
	}
	if err := json.Unmarshal([]byte(body), &pr); err != nil || res.StatusCode != 200 || len(pr.Purposes) != 19 || pr.Purposes[0].Code != "service" || pr.Purposes[0].Express || pr.Purposes[0].Text.ID == "" {
		t.Fatalf("purposes %d %s", res.StatusCode, body)
	}
	res, body = w.do(cwPatient.UserID, "POST", "/api/v1/patients/ad0000000000000000000000000000a1/consents", "application/json",
		strings.NewReader(`{"purpose":"sms","action":"grant","note":"by text please"}`))
	if res.StatusCode != 201 || !strings.Contains(body, `"decided_by":"patient"`) {
		t.Fatalf("grant: %d %s", res.StatusCode, body)
	}
	res, body = w.do(cwPatient.UserID, "POST", "/api/v1/patients/ad0000000000000000000000000000a1/consents", "application/json",
		strings.NewReader(`{"purpose":"sms","action":"perhaps"}`))
	if res.StatusCode != 422 || !strings.Contains(body, `"action"`) {
		t.Fatalf("bad action: %d %s", res.StatusCode, body)
	}
	res, body = w.do(cwDoctor.UserID, "GET", "/api/v1/patients/ad0000000000000000000000000000a1/consents", "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, `"reason":"express_consent"`) || !strings.Contains(body, "by text please") {
		t.Fatalf("care team read: %d %s", res.StatusCode, body)
	}
	if res, _ := w.do(cwDoctor.UserID, "GET", "/api/v1/patients/b00000000000000000000000000000a2/consents", "", nil); res.StatusCode != 404 {
		t.Fatalf("off care team: %d", res.StatusCode)
	}
	if res, _ := w.do(cwMinor.UserID, "POST", "/api/v1/patients/b00000000000000000000000000000a2/consents", "application/json",
		strings.NewReader(`{"purpose":"sms","action":"grant"}`)); res.StatusCode != 403 {
		t.Fatalf("minor alone: %d", res.StatusCode)
	}
	// Reads are audited, with the purpose on changes.
	page, err := w.log.Query(context.Background(), audit.Filter{PatientID: "ad0000000000000000000000000000a1", Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, e := range page.Entries {
		seen[e.Action+"/"+e.Purpose] = true
	}
	if !seen["consent.grant/sms"] || !seen["consent.read/"] {
		t.Fatalf("audit entries %v", seen)
	}
	// With the audit log down, nothing is read or changed: 503.
	w.log.Close()
	if res, _ := w.do(cwPatient.UserID, "GET", "/api/v1/patients/ad0000000000000000000000000000a1/consents", "", nil); res.StatusCode != 503 {
		t.Fatalf("audit down: %d", res.StatusCode)
	}
}

func TestPrivacyPageListsProcessorsAndStatesCookies(t *testing.T) {
	w := newConsentWorld(t)
	ctx := context.Background()
	v := w.publish(true, "# Our promise\nWe keep your data safe.\n\n<script>alert('x')</script>")
	for _, p := range []*access.Principal{cwOperator, cwDoctor} {
		if _, err := w.notices.Accept(ctx, p, v.ID); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := w.notices.AddProcessor(ctx, cwOperator, notice.Processor{Name: "Mailer Inc", Purpose: "Email", BAA: true, DataCategories: "email address", Location: "EU"}); err != nil {
		t.Fatal(err)
	}
	res, body := w.do("", "GET", "/privacy", "", nil)
	if res.StatusCode != 200 || !strings.Contains(body, "Mailer Inc") || !strings.Contains(body, "no non-essential cookies") ||
		!strings.Contains(body, "<h3>Our promise</h3>") || strings.Contains(body, "<script>alert") {
		t.Fatalf("privacy page %d:\n%s", res.StatusCode, body)
	}
	// The operator manages it from the admin page; others may not.
	res, _ = w.postForm(cwOperator.UserID, "/admin/processors", url.Values{"name": {"Backup Co"}, "purpose": {"Backups"}, "data_categories": {"encrypted backups"}, "location": {"US"}})
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("add processor: %d", res.StatusCode)
	}
	if _, err := w.notices.Acceptances(ctx, cwOperator.UserID); err != nil {
		t.Fatal(err)
	}
	res, body = w.postForm(cwOperator.UserID, "/admin/processors", url.Values{"name": {"Half"}})
	if res.StatusCode != http.StatusUnprocessableEntity || !strings.Contains(body, "This field is required") {
		t.Fatalf("bad processor: %d", res.StatusCode)
	}
	if res, _ := w.do(cwDoctor.UserID, "GET", "/admin/notices", "", nil); res.StatusCode != http.StatusForbidden {
		t.Fatalf("clinician on admin page: %d", res.StatusCode)
	}
}

// TestBrowserPatientGrantsAndWithdrawsResearchConsent drives Chromium: the
// patient is first held at the new privacy notice, accepts it, then gives
// and withdraws consent to scientific research and sees both in the history.
func TestBrowserPatientGrantsAndWithdrawsResearchConsent(t *testing.T) {
	b := browsertest.New(t)
	w := newConsentWorld(t)
	w.setDefault(cwPatient.UserID)
	w.publish(true, "# What changed\nWe added a research programme.")
	const button = `form[data-purpose="scientific_research"][data-category="general"] button`
	var url1, state, history, flash string
	b.Run(t,
		chromedp.Navigate(w.ts.URL+"/patients/ad0000000000000000000000000000a1/consents"),
		chromedp.WaitVisible(`#accept-notices`),
		chromedp.Location(&url1),
		chromedp.Click(`#agree`),
		chromedp.Click(`#accept-notices button[type=submit]`),
		chromedp.WaitNotPresent(`#accept-notices`),
		chromedp.WaitVisible(`main h1`),
		chromedp.Navigate(w.ts.URL+"/patients/ad0000000000000000000000000000a1/consents"),
		chromedp.WaitVisible(button),
		chromedp.Click(button),
		chromedp.WaitVisible(`#confirm-dialog-yes`),
		chromedp.Click(`#confirm-dialog-yes`),
		chromedp.WaitVisible(`//p[contains(@class, "flash") and contains(., "gave consent")]`, chromedp.BySearch),
		chromedp.Text(`.flash`, &flash),
		chromedp.Text(`#purpose-scientific_research td[data-category="general"] .state`, &state),
	)
	if !strings.HasSuffix(url1, "/notices/accept") {
		t.Fatalf("not held at the notice: %s", url1)
	}
	if !strings.Contains(flash, "You gave consent to “Scientific research”") || !strings.HasPrefix(state, "Given on") {
		t.Fatalf("after grant: flash %q state %q", flash, state)
	}
	var label string
	b.Run(t,
		chromedp.AttributeValue(button, "aria-label", &label, nil),
		chromedp.Click(button),
		chromedp.WaitVisible(`#confirm-dialog-yes`),
		chromedp.Click(`#confirm-dialog-yes`),
		chromedp.WaitVisible(`//p[contains(@class, "flash") and contains(., "withdrew")]`, chromedp.BySearch),
		chromedp.Text(`.flash`, &flash),
		chromedp.Text(`#purpose-scientific_research td[data-category="general"] .state`, &state),
		chromedp.Text(`#consent-history tbody`, &history),
	)
	if label != "Withdraw consent: Scientific research, your health information" {
		t.Errorf("button label %q", label)
	}
	if !strings.Contains(flash, "You withdrew consent to “Scientific research”") || !strings.HasPrefix(state, "Withdrawn on") {
		t.Fatalf("after withdrawal: flash %q state %q", flash, state)
	}
	if strings.Count(history, "Scientific research") != 2 || !strings.Contains(history, "Withdrawn") || !strings.Contains(history, "Given") {
		t.Fatalf("history %q", history)
	}
	if p := b.Problems(); len(p) > 0 {
		t.Errorf("console problems: %q", p)
	}
}

func FuzzSniffForm(f *testing.F) {
	for _, s := range []string{"%PDF-1.7", "\x89PNG\r\n\x1a\n", "\xff\xd8\xff\xe0", "GIF89a", "<html>", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		typ, ok := web.SniffForm(head)
		if !ok {
			if typ != "" {
				t.Fatalf("refused with type %q", typ)
			}
			return
		}
		switch typ {
		case "application/pdf":
			if !bytes.HasPrefix(head, []byte("%PDF-")) {
				t.Fatalf("PDF without magic: %q", head)
			}
		case "image/png":
			if !bytes.HasPrefix(head, []byte("\x89PNG\r\n\x1a\n")) {
				t.Fatalf("PNG without magic: %q", head)
			}
		case "image/jpeg":
			if !bytes.HasPrefix(head, []byte("\xff\xd8\xff")) {
				t.Fatalf("JPEG without magic: %q", head)
			}
		default:
			t.Fatalf("accepted type %q", typ)
		}
	})
}
