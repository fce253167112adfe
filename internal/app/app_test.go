package app_test

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/config"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/patient"
)

// newDemoApp builds the whole program as `serve -demo` does, on a temporary
// data directory, and serves it on loopback.
func newDemoApp(t *testing.T) (*app.App, *httptest.Server) {
	t.Helper()
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MailFrom: "custodia@localhost", LogLevel: "info", LogFormat: "text",
		MaxUpload: 1 << 30, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	if err := a.LoadDemo(context.Background()); err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(a.Handler)
	t.Cleanup(ts.Close)
	return a, ts
}

// signIn returns a client holding a session for email.
func signIn(t *testing.T, ts *httptest.Server, email string) *http.Client {
	t.Helper()
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := c.Post(ts.URL+"/api/v1/auth/signin", "application/json",
		strings.NewReader(`{"email":"`+email+`","password":"`+app.DemoPassword+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.Contains(string(b), `"full"`) && !strings.Contains(string(b), `"stage"`) {
		t.Fatalf("sign in %s: %d %s", email, res.StatusCode, b)
	}
	return c
}

func TestDemoLoadsOnceAndItsClinicianSeesThePatients(t *testing.T) {
	a, ts := newDemoApp(t)
	if err := a.LoadDemo(context.Background()); err != nil {
		t.Fatalf("second load: %v", err)
	}
	c := signIn(t, ts, "clinician@demo.custodia.example")
	res, err := c.Get(ts.URL + "/api/v1/patients")
	if err != nil {
		t.Fatal(err)
	}
	var page struct {
		Patients []json.RawMessage `json:"patients"`
	}
	_ = json.NewDecoder(res.Body).Decode(&page)
	res.Body.Close()
	if res.StatusCode != 200 || len(page.Patients) != 3 {
		t.Fatalf("demo patients: status %d, %d patients (want 3, loaded once)", res.StatusCode, len(page.Patients))
	}
	// The front desk finds the practice's patients but not their cases.
	var first struct {
		ID string `json:"id"`
	}
	_ = json.Unmarshal(page.Patients[0], &first)
	staff := signIn(t, ts, "staff@demo.custodia.example")
	res, err = staff.Get(ts.URL + "/api/v1/patients")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("the front desk listed patients: %d", res.StatusCode)
	}
	res, err = staff.Get(ts.URL + "/api/v1/patients/" + first.ID + "/cases")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 404 && res.StatusCode != 403 {
		t.Fatalf("the front desk listed a patient's cases: %d", res.StatusCode)
	}
}

func TestCollaboratorIsAddedByEmailFromAnotherPractice(t *testing.T) {
	a, ts := newDemoApp(t)
	ctx := context.Background()
	_, ids, err := a.Identity.EnsureDemoWorkspace(ctx, "Other practice", []identity.DemoMember{
		{Name: "Oli Other", Email: "oli@other.example", Password: app.DemoPassword, Role: access.RoleClinician}})
	if err != nil {
		t.Fatal(err)
	}
	var ws, doc string
	if err := a.DB.Read.QueryRow(`SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		WHERE w.name = $1 AND m.role = 'clinician'`, app.DemoWorkspaceName).Scan(&ws, &doc); err != nil {
		t.Fatal(err)
	}
	p := &access.Principal{UserID: doc, WorkspaceID: ws, Role: access.RoleClinician}
	pg, err := a.Patients.Search(ctx, p, patient.Query{MRN: "DEMO-0001"})
	if err != nil || len(pg.Patients) != 1 {
		t.Fatalf("demo patient: %v", err)
	}
	cases, err := a.Cases.List(ctx, p, pg.Patients[0].ID)
	if err != nil || len(cases) == 0 {
		t.Fatalf("demo cases: %v", err)
	}
	caseID := cases[0].ID
	c := signIn(t, ts, "clinician@demo.custodia.example")
	post := func(email string) (int, string) {
		res, err := c.PostForm(ts.URL+"/cases/"+caseID+"/collaborators", url.Values{"email": {email}})
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(res.Body)
		res.Body.Close()
		return res.StatusCode, string(b)
	}
	if code, body := post("nobody@nowhere.example"); code != http.StatusUnprocessableEntity || !strings.Contains(body, "No doctor signs in") {
		t.Fatalf("unknown email: %d", code)
	}
	if code, _ := post("OLI@other.example"); code != http.StatusSeeOther {
		t.Fatalf("add by email: %d", code)
	}
	var otherWS string
	_ = a.DB.Read.QueryRow(`SELECT workspace_id FROM memberships WHERE user_id = $1`, ids[0]).Scan(&otherWS)
	oli := &access.Principal{UserID: ids[0], WorkspaceID: otherWS, Role: access.RoleClinician}
	if _, err := a.Cases.Get(ctx, oli, caseID); err != nil {
		t.Fatalf("collaborator cannot read the case: %v", err)
	}
	if _, err := a.Patients.Get(ctx, oli, pg.Patients[0].ID); err == nil {
		t.Fatal("collaborator read the full profile")
	}
}

func TestBreakGlassNeedsThePasswordAndAlertsThePrivacyOfficer(t *testing.T) {
	a, ts := newDemoApp(t)
	ctx := context.Background()
	// A second clinician of the demo practice, not on any care team.
	if _, _, err := a.Identity.EnsureDemoWorkspace(ctx, app.DemoWorkspaceName, []identity.DemoMember{
		{Name: "Casey Cover", Email: "cover@demo.custodia.example", Password: app.DemoPassword, Role: access.RoleClinician}}); err != nil {
		t.Fatal(err)
	}
	var pid string
	if err := a.DB.Read.QueryRow(`SELECT id FROM patients ORDER BY created_at LIMIT 1`).Scan(&pid); err != nil {
		t.Fatal(err)
	}
	c := signIn(t, ts, "cover@demo.custodia.example")
	open := func(password string) int {
		res, err := c.Post(ts.URL+"/api/v1/patients/"+pid+"/break-glass", "application/json", strings.NewReader(
			`{"reason_code":"emergency","reason":"patient unconscious in the emergency room","password":"`+password+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if code := open("not my password at all"); code != http.StatusUnprocessableEntity {
		t.Fatalf("wrong password: %d", code)
	}
	if code := open(app.DemoPassword); code != http.StatusCreated {
		t.Fatalf("break-glass: %d", code)
	}
	a.Identity.Wait()
	mail, err := a.Outbox.List()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, it := range mail {
		b := it.To + "\n" + it.Subject + "\n" + it.Text
		if strings.Contains(b, "privacy@demo.custodia.example") && strings.Contains(b, "break-glass") {
			found = true
			if strings.Contains(b, "Demoson") || strings.Contains(b, "unconscious") {
				t.Fatal("the alert email carries PHI")
			}
		}
	}
	if !found {
		t.Fatalf("no alert mailed to the privacy officer among %d messages", len(mail))
	}
}

func TestJanitorDiscardsExpiredUploads(t *testing.T) {
	a, _ := newDemoApp(t)
	ctx := context.Background()
	var ws, doc, caseID string
	if err := a.DB.Read.QueryRow(`SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		WHERE w.name = $1 AND m.role = 'clinician'`, app.DemoWorkspaceName).Scan(&ws, &doc); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Read.QueryRow(`SELECT id FROM cases ORDER BY created_at LIMIT 1`).Scan(&caseID); err != nil {
		t.Fatal(err)
	}
	p := &access.Principal{UserID: doc, WorkspaceID: ws, Role: access.RoleClinician}
	u, err := a.Media.CreateUpload(ctx, p, caseID, 1000, media.SlotMesh)
	if err != nil {
		t.Fatal(err)
	}
	a.Media.Store.Now = func() time.Time { return time.Now().Add(72 * time.Hour) }
	jctx, stop := context.WithCancel(ctx)
	a.StartJanitor(jctx)
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := a.Media.Store.Upload(ctx, u.ID, doc); errors.Is(err, media.ErrNotFound) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the expired upload was not discarded")
		}
		time.Sleep(20 * time.Millisecond)
	}
	stop()
}

// The demo case comes with a synthetic DICOM series and a 3D model, uploaded
// through media's audited path as the demo clinician, once: a second load
// adds nothing, and the viewers can show them.
func TestDemoCaseHoldsADICOMSeriesAndAModelOnce(t *testing.T) {
	a, ts := newDemoApp(t)
	ctx := context.Background()
	if err := a.LoadDemo(ctx); err != nil {
		t.Fatalf("second load: %v", err)
	}
	var ws, doc, caseID string
	if err := a.DB.Read.QueryRow(`SELECT w.id, m.user_id FROM workspaces w JOIN memberships m ON m.workspace_id = w.id
		WHERE w.name = $1 AND m.role = 'clinician'`, app.DemoWorkspaceName).Scan(&ws, &doc); err != nil {
		t.Fatal(err)
	}
	if err := a.DB.Read.QueryRow(`SELECT case_id FROM media_files GROUP BY case_id`).Scan(&caseID); err != nil {
		t.Fatalf("the demo files are not on one case: %v", err)
	}
	p := &access.Principal{UserID: doc, WorkspaceID: ws, Role: access.RoleClinician}
	files, err := a.Media.CaseFiles(ctx, p, caseID)
	if err != nil {
		t.Fatal(err)
	}
	kinds := map[media.Kind]int{}
	var dicom string
	for _, f := range files {
		kinds[f.Kind]++
		if f.UploaderID != doc {
			t.Errorf("file %s uploaded by %s, not the demo clinician", f.ID, f.UploaderID)
		}
		if f.Kind == media.KindDICOM && dicom == "" {
			dicom = f.ID
		}
	}
	if kinds[media.KindDICOM] != app.DemoSeriesLength+1 || kinds[media.KindSTL] != 1 || len(files) != app.DemoSeriesLength+2 {
		t.Fatalf("demo case files after two loads: %v", kinds)
	}
	// Both scroll modes can be tried: a series of many instances and a
	// file of many frames.
	stacks := map[int]bool{}
	for _, f := range files {
		if f.Kind != media.KindDICOM {
			continue
		}
		v, err := a.Media.ViewSeries(ctx, p, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		stacks[len(v.Images)*10+v.Instances] = true // images and instances
	}
	if !stacks[app.DemoSeriesLength*10+app.DemoSeriesLength] || !stacks[app.DemoCineFrames*10+1] || len(stacks) != 2 {
		t.Fatalf("demo series (images*10+instances): %v", stacks)
	}
	// The program's media service sits behind the web layer's receipt
	// counter; small files must still be committed in their audit entry's
	// transaction (audit.Log.AppendWith), not through the slower path.
	type appenderWith interface {
		AppendWith(ctx context.Context, e audit.Event, fn func(ctx context.Context, tx *sql.Tx) error) (audit.Receipt, error, error)
		Shares(d *db.DB) bool
	}
	if aw, ok := a.Media.Audit.(appenderWith); !ok || !aw.Shares(a.DB) {
		t.Fatalf("the media service's audit log (%T) cannot commit a file with its entry", a.Media.Audit)
	}
	pg, err := a.Audit.Query(ctx, audit.Filter{ActorUserID: doc, Action: "file.upload", Limit: 100})
	if err != nil || len(pg.Entries) != app.DemoSeriesLength+2 {
		t.Fatalf("file.upload entries: %d %v", len(pg.Entries), err)
	}
	c := signIn(t, ts, "clinician@demo.custodia.example")
	res, err := c.Get(ts.URL + "/api/v1/files/" + dicom + "/render")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !strings.HasPrefix(res.Header.Get("Content-Type"), "image/") || len(body) == 0 {
		t.Fatalf("render a demo slice: %d %s", res.StatusCode, res.Header.Get("Content-Type"))
	}
}

// TestCloseWritesTheFinalAuditCheckpointToTheWitness: after a clean stop
// the witness beside the data directory holds a checkpoint of the last
// audit entry, so the next verify finds nothing left uncovered.
func TestCloseWritesTheFinalAuditCheckpointToTheWitness(t *testing.T) {
	cfg := &config.Config{Addr: "127.0.0.1:0", DataDir: t.TempDir(), MailFrom: "custodia@localhost", LogLevel: "info", LogFormat: "text",
		MaxUpload: 1 << 30, IdleTimeout: 15 * 60e9, Absolute: 12 * 3600e9}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	a, err := app.New(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := a.Audit.Append(context.Background(), audit.Event{ActorUserID: "u-1", Action: "test.event"}); err != nil {
		t.Fatal(err)
	}
	var head int64
	if err := a.DB.Read.QueryRow(`SELECT MAX(seq) FROM audit_entries`).Scan(&head); err != nil {
		t.Fatal(err)
	}
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Clean(cfg.DataDir) + ".audit-witness")
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	// The final checkpoint (kind 1), unless a batch already carried one of
	// the head (kind 0) because the start took longer than the interval.
	if last := lines[len(lines)-1]; err != nil || !strings.Contains(last, `"seq":`+strconv.FormatInt(head, 10)+`,`) {
		t.Fatalf("witness after close (head %d): %q, %v", head, b, err)
	}
}
