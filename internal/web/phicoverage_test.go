package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
	"github.com/custodia-health/custodia/internal/patient"
	"github.com/custodia-health/custodia/internal/rehab/rehabtest"
	"github.com/custodia-health/custodia/internal/web"
)

// This file is the suite-level guarantee of issue 4: every route the real
// program registers is either on a short public/non-PHI list with a reason,
// or has scenarios that prove which audit entries it appends, exactly. A
// new route without an entry in coverage fails TestEveryRouteIsClassified
// with a message saying what to add.

// coverCanary is the family name of the seeded patient. It must never show
// in the answer to a refused request, nor in any log line.
const coverCanary = "Qzxcanaryfamilyvw"

// The accounts of the walk. Workspace A holds the patient; workspace B is
// another clinic whose clinician must see nothing of it.
const (
	asDoc     = "doc"     // clinician in A who created the patient (care team)
	asER      = "er"      // clinician in A, not on the care team
	asAdmin   = "admin"   // admin of A
	asOfficer = "officer" // privacy officer of A
	asStaff   = "staff"   // staff of A
	asOther   = "other"   // clinician of workspace B
	asPatient = "patient" // the patient's own portal account
)

// coverCall is one request of a scenario and what it must leave in the audit
// log: Entries lists, in order, "action decision" for every entry the
// request appends, and nothing else may be appended.
type coverCall struct {
	As      string
	Method  string
	Path    string // {patient}, {case}, {file}, {dicom}, {series} (a series view's grant), {upload}, {comment}, {grant}, {consent}, {user}, {ws}, {ws-other} are replaced by the fixture's ids
	Body    any    // url.Values: a form; []byte: raw; anything else: JSON
	Header  map[string]string
	Status  int
	Entries []string
	// Unaudited explains a request that appends no entry of its own: a
	// success that releases no PHI, or a refusal (403, 404) that touches no
	// record. Empty means successes and refusals must be audited.
	Unaudited string
}

// coveredRoute classifies one registered pattern. Exactly one of Public and Calls
// is set.
type coveredRoute struct {
	Pattern string
	Public  string // why the route releases no PHI
	Calls   []coverCall
}

// coverFixture is the program with its seeded data.
type coverFixture struct {
	env  *apptest.Env
	as   map[string]*apptest.Account
	ids  map[string]string
	stl  []byte
	repl *strings.Replacer
}

func newCoverFixture(t *testing.T) *coverFixture {
	t.Helper()
	env := apptest.New(t, "")
	ctx := context.Background()
	pw := app.DemoPassword
	a := env.Workspace(t, "Clinic A",
		identity.DemoMember{Name: "Dora Doc", Email: "doc@a.example", Password: pw, Role: access.RoleClinician},
		identity.DemoMember{Name: "Emil Er", Email: "er@a.example", Password: pw, Role: access.RoleClinician},
		identity.DemoMember{Name: "Ada Admin", Email: "admin@a.example", Password: pw, Role: access.RoleAdmin},
		identity.DemoMember{Name: "Otto Officer", Email: "officer@a.example", Password: pw, Role: access.RolePrivacyOfficer},
		identity.DemoMember{Name: "Stan Staff", Email: "staff@a.example", Password: pw, Role: access.RoleStaff})
	b := env.Workspace(t, "Clinic B",
		identity.DemoMember{Name: "Olga Other", Email: "other@b.example", Password: pw, Role: access.RoleClinician})
	f := &coverFixture{env: env, ids: map[string]string{}, as: map[string]*apptest.Account{
		asDoc: a["doc@a.example"], asER: a["er@a.example"], asAdmin: a["admin@a.example"],
		asOfficer: a["officer@a.example"], asStaff: a["staff@a.example"], asOther: b["other@b.example"]}}
	doc := f.as[asDoc].Principal

	prof := patient.Profile{GivenName: "Anna", FamilyName: coverCanary, BirthDate: "1980-04-12", Email: "anna@example.org",
		BiologicalSex: "female", Laterality: "right", HeightCM: 168}
	pat, err := env.App.Patients.Create(ctx, doc, prof)
	if err != nil {
		t.Fatal(err)
	}
	f.ids["patient"] = pat.ID
	title, notes := "Rhinoplasty", "Notes about "+coverCanary
	cs, err := env.App.Cases.Create(ctx, doc, pat.ID, casefile.Input{Title: &title, Notes: &notes})
	if err != nil {
		t.Fatal(err)
	}
	f.ids["case"] = cs.ID
	if err := env.App.Cases.Share(ctx, doc, cs.ID, casefile.Sharing{Shared: true}); err != nil {
		t.Fatal(err)
	}
	c, err := env.App.Cases.AddComment(ctx, doc, cs.ID, casefile.KindComment, "Plan agreed with "+coverCanary, "")
	if err != nil {
		t.Fatal(err)
	}
	f.ids["comment"] = c.ID
	g, err := env.App.Patients.BreakGlass(ctx, f.as[asER].Principal, pat.ID, "emergency", "Collapsed at reception")
	if err != nil {
		t.Fatal(err)
	}
	f.ids["grant"] = g.ID
	// Care-team changes the ER clinician asks for under the grant: they
	// wait for the privacy officer (one for the API, one for the page).
	for key, user := range map[string]string{"change": f.as[asER].Principal.UserID, "change-page": f.as[asStaff].Principal.UserID} {
		var wait *patient.AwaitingApproval
		if err := env.App.Patients.AddToCareTeam(ctx, f.as[asER].Principal, pat.ID, user); !errors.As(err, &wait) {
			t.Fatalf("care-team change under break-glass: %v", err)
		}
		f.ids[key] = wait.ChangeID
	}

	// A file on the case, uploaded through the media service, and a second
	// upload left open for the upload routes.
	f.stl = mediatest.BinarySTL(40)
	f.ids["file"] = f.upload(t, doc, f.stl, media.SlotMesh, true)
	f.ids["upload"] = f.upload(t, doc, f.stl, media.SlotMesh, false)
	// An image series whose header names the patient: its renditions are
	// PHI and the canary must not leak through them.
	f.ids["dicom"] = f.upload(t, doc, mediatest.DICOMGray16(32, 32, 2, 2000, 1000, 2000, coverCanary+"^Anna"), media.SlotDICOM, true)
	// The series view the clinician opened on it: its images are fetched
	// under the grant, covered by that view's entry.
	sv, err := env.App.Media.ViewSeries(ctx, doc, f.ids["dicom"])
	if err != nil {
		t.Fatal(err)
	}
	f.ids["series"] = sv.Grant

	// Rehabilitation data the clinician ingests for the patient.
	batch := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "seed", Sessions: 3, Exercises: 2, Start: time.Now().AddDate(0, 0, -10)})
	if _, err := env.App.Rehab.Ingest(ctx, doc, pat.ID, bytes.NewReader(batch)); err != nil {
		t.Fatalf("ingest: %v", err)
	}

	// The patient's portal account, and a consent the patient grants.
	f.as[asPatient] = env.PatientAccount(t, f.as[asDoc], access.RolePatient, pat.ID, "Anna Portal", "anna.portal@example.org", pw)
	ev, err := env.App.Consent.Record(ctx, f.as[asPatient].Principal, consent.Change{PatientID: pat.ID, Purpose: consent.CareCoordination,
		Action: consent.Grant, Method: consent.Portal})
	if err != nil {
		t.Fatalf("grant consent: %v", err)
	}
	f.ids["portal-consent"] = ev.ID
	// A consent the clinician records from a signed paper form.
	ev, err = env.App.Consent.Record(ctx, doc, consent.Change{PatientID: pat.ID, Purpose: consent.PatientSafety,
		Action: consent.Grant, Method: consent.PaperForm, Form: strings.NewReader("%PDF-1.4\n% signed\n"), FormType: "application/pdf"})
	if err != nil {
		t.Fatalf("record paper consent: %v", err)
	}
	f.ids["consent"] = ev.ID
	// The patient's own 3D capture, and a connection to their doctor so the
	// doctor may see it.
	capt, _, err := env.App.Captures.Upload(ctx, f.as[asPatient].Principal, bytes.NewReader(mediatest.BinarySTL(12)))
	if err != nil {
		t.Fatalf("upload capture: %v", err)
	}
	f.ids["capture"] = capt.ID
	conn, err := env.App.Captures.Connect(ctx, f.as[asPatient].Principal, "doc@a.example")
	if err != nil {
		t.Fatalf("connect: %v", err)
	}
	f.ids["connection"] = conn.ID
	f.ids["user"] = f.as[asStaff].Principal.UserID
	f.ids["ws"], f.ids["ws-other"] = doc.WorkspaceID, f.as[asOther].Principal.WorkspaceID
	var kv []string
	for k, v := range f.ids {
		kv = append(kv, "{"+k+"}", v)
	}
	f.repl = strings.NewReplacer(kv...)
	return f
}

// upload stores f.stl on the case through media's upload path; complete
// false leaves the upload open and returns its id.
func (f *coverFixture) upload(t *testing.T, p *access.Principal, data []byte, slot media.Slot, complete bool) string {
	t.Helper()
	ctx := context.Background()
	m := f.env.App.Media
	u, err := m.CreateUpload(ctx, p, f.ids["case"], int64(len(data)), slot)
	if err != nil {
		t.Fatalf("create upload: %v", err)
	}
	if !complete {
		return u.ID
	}
	rng := media.ContentRange{Start: 0, End: int64(len(data)) - 1, Total: int64(len(data))}
	if _, err := m.PutChunk(ctx, p, u.ID, rng, bytes.NewReader(data)); err != nil {
		t.Fatalf("put chunk: %v", err)
	}
	file, _, err := m.CompleteUpload(ctx, p, u.ID)
	if err != nil {
		t.Fatalf("complete upload: %v", err)
	}
	return file.ID
}

// do sends c and returns the status and body.
func (f *coverFixture) do(t *testing.T, c coverCall) (int, string) {
	t.Helper()
	var rd io.Reader
	ct := ""
	switch b := c.Body.(type) {
	case nil:
	case url.Values:
		v := url.Values{}
		for k, vs := range b {
			for _, x := range vs {
				v.Add(k, f.repl.Replace(x))
			}
		}
		rd, ct = strings.NewReader(v.Encode()), "application/x-www-form-urlencoded"
	case []byte:
		rd = bytes.NewReader(b)
	case string:
		rd, ct = strings.NewReader(f.repl.Replace(b)), "application/json"
	default:
		j, _ := json.Marshal(b)
		rd, ct = strings.NewReader(f.repl.Replace(string(j))), "application/json"
	}
	req, err := http.NewRequest(c.Method, f.env.Server.URL+f.repl.Replace(c.Path), rd)
	if err != nil {
		t.Fatal(err)
	}
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range c.Header {
		req.Header.Set(k, f.repl.Replace(v))
	}
	acct, ok := f.as[c.As]
	if !ok {
		t.Fatalf("no account %q", c.As)
	}
	res, err := acct.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(body)
}

func coverForm(kv ...string) url.Values {
	v := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		v.Add(kv[i], kv[i+1])
	}
	return v
}

// TestEveryRouteIsClassified fails for a registered route that is neither
// public nor walked with its audit entries, and for a classification of a
// route that no longer exists.
func TestEveryRouteIsClassified(t *testing.T) {
	env := apptest.New(t, "")
	srv, ok := env.App.Handler.(interface{ Patterns() []string })
	if !ok {
		t.Fatal("the app's handler does not list its routes")
	}
	known := map[string]coveredRoute{}
	for _, r := range coverage {
		if _, dup := known[r.Pattern]; dup {
			t.Errorf("route %q is classified twice", r.Pattern)
		}
		if (r.Public == "") == (len(r.Calls) == 0) {
			t.Errorf("route %q: set exactly one of Public (a reason) and Calls (scenarios)", r.Pattern)
		}
		known[r.Pattern] = r
	}
	registered := map[string]bool{}
	for _, p := range srv.Patterns() {
		registered[p] = true
		if _, ok := known[p]; !ok {
			t.Errorf("route %q is not classified: add it to coverage in internal/web/phicoverage_test.go, either with "+
				"Public: \"why it releases no PHI\" or with Calls that request it as an allowed and a refused user and list "+
				"the exact audit entries (\"action decision\") each request appends", p)
		}
	}
	for p := range known {
		if !registered[p] {
			t.Errorf("route %q is classified but not registered: remove it from coverage", p)
		}
	}
}

// TestEveryWalkedPHIRouteIsGuarded fails for a route the walk classifies as
// PHI that was registered with plain mux.Handle instead of s.phi: such a
// route has no guard, so a handler that forgot its audit would still answer
// with data. A guarded route must in turn be classified as PHI.
func TestEveryWalkedPHIRouteIsGuarded(t *testing.T) {
	env := apptest.New(t, "")
	srv, ok := env.App.Handler.(interface{ PHIRoutes() []web.PHIRoute })
	if !ok {
		t.Fatal("the app's handler does not list its PHI routes")
	}
	guarded := map[string]bool{}
	for _, r := range srv.PHIRoutes() {
		guarded[r.Pattern] = true
	}
	for _, r := range coverage {
		switch {
		case len(r.Calls) > 0 && !guarded[r.Pattern]:
			t.Errorf("route %q releases PHI but is not registered through s.phi: register it with s.phi(mux, pattern, action, handler)", r.Pattern)
		case r.Public != "" && guarded[r.Pattern]:
			t.Errorf("route %q is registered through s.phi but classified as public in coverage", r.Pattern)
		}
	}
}

// TestEveryPHIRouteAppendsExactlyItsAuditEntries walks the PHI routes in
// order against the real program and checks, per request, the status and
// the exact audit entries appended; refused requests must not carry the
// canary, and no log line may ever hold it.
func TestEveryPHIRouteAppendsExactlyItsAuditEntries(t *testing.T) {
	f := newCoverFixture(t)
	discover := os.Getenv("CUSTODIA_PHICOVER_DISCOVER") != ""
	for _, r := range coverage {
		for i, c := range r.Calls {
			before := f.env.Head(t)
			status, body := f.do(t, c)
			var got []string
			for _, e := range f.env.Entries(t, before) {
				// Identity's own events (an invitation sent) carry no
				// decision: they are listed by action alone.
				// An allowed action that did not complete is followed by
				// a second entry with outcome "failure": "... allow failed".
				failed := e.Decision == "allow" && e.Outcome == "failure"
				switch {
				case e.Decision == "":
					got = append(got, e.Action)
				case failed:
					got = append(got, e.Action+" allow failed")
				default:
					got = append(got, e.Action+" "+e.Decision)
				}
				wantOutcome := map[string]string{"allow": "success", "deny": "denied", "": "success"}[e.Decision]
				if e.Outcome != wantOutcome && !failed {
					t.Errorf("%s #%d: entry %s has outcome %q", r.Pattern, i, e.Action, e.Outcome)
				}
				// The system acts inside a request too (the consent rules'
				// age check): it must name the request, not the user.
				actor := f.as[c.As].Principal.UserID
				if e.ActorRole == "system" {
					actor = "system"
				}
				if e.ActorUserID != actor || e.RequestID == "" {
					t.Errorf("%s #%d: entry %s does not name the actor and the request: %+v", r.Pattern, i, e.Action, e.Event)
				}
			}
			if discover {
				fmt.Printf("%-55s %-8s %d %q %.200s\n", r.Pattern, c.As, status, got, body)
				continue
			}
			if status != c.Status {
				t.Errorf("%s #%d as %s: status %d, want %d: %.300q", r.Pattern, i, c.As, status, c.Status, body)
			}
			if !slices.Equal(got, c.Entries) {
				t.Errorf("%s #%d as %s: audit entries %q, want %q", r.Pattern, i, c.As, got, c.Entries)
			}
			if status >= 200 && status < 400 && len(got) == 0 && c.Unaudited == "" {
				t.Errorf("%s #%d as %s: answered %d without an audit entry", r.Pattern, i, c.As, status)
			}
			if status == http.StatusForbidden || status == http.StatusNotFound {
				if strings.Contains(body, coverCanary) {
					t.Errorf("%s #%d as %s: the refused answer holds the patient's name", r.Pattern, i, c.As)
				}
				denied := false
				for _, g := range got {
					denied = denied || strings.HasSuffix(g, " deny")
				}
				if !denied && c.Unaudited == "" {
					t.Errorf("%s #%d as %s: refused with %d but no deny entry", r.Pattern, i, c.As, status)
				}
			}
		}
	}
	if len(f.env.Logs.Lines("msg=request")) < 100 {
		t.Errorf("the server's request log was not captured, so the scan below proves nothing")
	}
	if lines := f.env.Logs.Lines(coverCanary); len(lines) > 0 {
		t.Errorf("the log holds the patient's name:\n%s", strings.Join(lines, "\n"))
	}
}
