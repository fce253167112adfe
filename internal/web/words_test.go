package web_test

import (
	"bytes"
	"context"
	"encoding/csv"
	"html"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/app"
	"github.com/custodia-health/custodia/internal/app/apptest"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/mediatest"
	"github.com/custodia-health/custodia/internal/patient"
)

// wordsFixture is the whole program with a practice whose log has the
// accesses people read about: Dana Demo (clinician) made Anna Rossi's
// record and case "Rhinoplasty", uploaded eight images and viewed each;
// Sam Other (clinician, not on the care team) was refused her record; Anna
// has a portal account and gave a consent (so the system checked her age).
type wordsFixture struct {
	env                       *apptest.Env
	dana, sam, officer, anna  *apptest.Account
	patientID, caseID, danaID string
}

func newWordsFixture(t *testing.T) *wordsFixture {
	t.Helper()
	env := apptest.New(t, "")
	ctx := context.Background()
	pw := app.DemoPassword
	ws := env.Workspace(t, "Harbour Street Practice",
		identity.DemoMember{Name: "Dana Demo", Email: "dana@harbour.example", Password: pw, Role: access.RoleClinician},
		identity.DemoMember{Name: "Sam Other", Email: "sam@harbour.example", Password: pw, Role: access.RoleClinician},
		identity.DemoMember{Name: "Pia Privacy", Email: "pia@harbour.example", Password: pw, Role: access.RolePrivacyOfficer})
	f := &wordsFixture{env: env, dana: ws["dana@harbour.example"], sam: ws["sam@harbour.example"], officer: ws["pia@harbour.example"]}
	f.danaID = f.dana.Principal.UserID
	doc := f.dana.Principal
	pat, err := env.App.Patients.Create(ctx, doc, patient.Profile{GivenName: "Anna", FamilyName: "Rossi", BirthDate: "1980-04-12",
		Email: "anna@example.org", BiologicalSex: "female"})
	if err != nil {
		t.Fatal(err)
	}
	f.patientID = pat.ID
	title := "Rhinoplasty"
	cs, err := env.App.Cases.Create(ctx, doc, pat.ID, casefile.Input{Title: &title})
	if err != nil {
		t.Fatal(err)
	}
	f.caseID = cs.ID
	if err := env.App.Cases.Share(ctx, doc, cs.ID, casefile.Sharing{Shared: true}); err != nil {
		t.Fatal(err)
	}
	var files []string
	for range 8 {
		dcm := mediatest.DICOMGray16(16, 16, 1, 1000, 500, 1000, "Rossi^Anna")
		file, _, err := env.App.Media.UploadSmall(ctx, doc, cs.ID, media.SlotDICOM, bytes.NewReader(dcm), int64(len(dcm)))
		if err != nil {
			t.Fatalf("upload: %v", err)
		}
		files = append(files, file.ID)
	}
	for _, id := range files {
		if _, err := env.App.Media.OpenFile(ctx, doc, id, access.FileView); err != nil {
			t.Fatalf("view: %v", err)
		}
	}
	if _, err := env.App.Patients.Get(ctx, f.sam.Principal, pat.ID); err == nil {
		t.Fatal("Sam, not on the care team, read the record")
	}
	f.anna = env.PatientAccount(t, f.dana, access.RolePatient, pat.ID, "Anna Rossi", "anna.portal@example.org", pw)
	if _, err := env.App.Consent.Record(ctx, f.anna.Principal, consent.Change{PatientID: pat.ID, Purpose: consent.CareCoordination,
		Action: consent.Grant, Method: consent.Portal}); err != nil {
		t.Fatalf("grant consent: %v", err)
	}
	return f
}

// get fetches path as acct and returns the status, the Location and the body.
func (f *wordsFixture) get(t *testing.T, acct *apptest.Account, path string) (int, string, string) {
	t.Helper()
	res, err := acct.Client.Get(f.env.Server.URL + path)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

func (f *wordsFixture) post(t *testing.T, acct *apptest.Account, path string, form url.Values) (int, string, string) {
	t.Helper()
	req, _ := http.NewRequest("POST", f.env.Server.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", f.env.Server.URL)
	res, err := acct.Client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, res.Header.Get("Location"), string(b)
}

var (
	hexID   = regexp.MustCompile(`\b[0-9a-f]{32}\b`)
	tags    = regexp.MustCompile(`(?s)<[^>]*>`)
	mainRe  = regexp.MustCompile(`(?s)<main[^>]*>(.*)</main>`)
	tableRe = regexp.MustCompile(`(?s)<table.*</table>`)
	spaceRe = regexp.MustCompile(`\s+`)
)

// readable is the text a person reads in a page's main part: no tags, so
// no attributes (ids in links are for the browser, not the reader).
func readable(page string) string {
	m := mainRe.FindStringSubmatch(page)
	if m == nil {
		m = []string{page, page}
	}
	text := strings.ReplaceAll(html.UnescapeString(tags.ReplaceAllString(m[1], " ")), "\u00a0", " ")
	return spaceRe.ReplaceAllString(text, " ")
}

func TestAuditPageAndCSVShowNamesAndLabelsNotIds(t *testing.T) {
	f := newWordsFixture(t)
	status, _, page := f.get(t, f.officer, "/privacy/audit")
	if status != http.StatusOK {
		t.Fatalf("audit page: %d", status)
	}
	// The table only: the filter's list of actions holds every label.
	text := readable(tableRe.FindString(page))
	// Sam's refusal is older than the first page: the page filtered on him.
	_, _, samPage := f.get(t, f.officer, "/privacy/audit?user="+f.sam.Principal.UserID)
	text += readable(tableRe.FindString(samPage))
	for _, want := range []string{"Dana Demo", "Sam Other", "Anna Rossi", "Viewed a file", "Opened a patient's full record",
		"Treatment", "Refused", "not on the patient's care team", "Clinician", "Custodia (automatic)"} {
		if !strings.Contains(text, want) {
			t.Errorf("audit page lacks %q", want)
		}
	}
	for _, code := range []string{"file.view", "patient.read", "not_on_care_team", "treatment "} {
		if strings.Contains(text, code) {
			t.Errorf("audit page shows the code %q", code)
		}
	}
	if id := hexID.FindString(readable(page)); id != "" {
		t.Errorf("audit page shows an id %s to read", id)
	}
	if !strings.Contains(page, `<time class="when" datetime="`) {
		t.Error("times are not <time> elements")
	}

	status, _, body := f.get(t, f.officer, "/privacy/audit.csv")
	if status != http.StatusOK {
		t.Fatalf("export: %d", status)
	}
	recs, err := csv.NewReader(strings.NewReader(body)).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	col := map[string]int{}
	for i, h := range recs[0] {
		col[h] = i
	}
	sawDana := false
	for _, r := range recs[1:] {
		for _, h := range []string{"who", "role", "on_behalf_of", "action", "resource", "patient", "purpose", "decision", "reason", "outcome"} {
			if hexID.MatchString(r[col[h]]) {
				t.Errorf("CSV column %s holds an id: %q", h, r[col[h]])
			}
		}
		if r[col["actor_user_id"]] == f.danaID && r[col["action_code"]] == "file.view" {
			sawDana = true
			if r[col["who"]] != "Dana Demo" || r[col["patient"]] != "Anna Rossi" || r[col["action"]] != "Viewed a file" ||
				r[col["purpose"]] != "Treatment" || r[col["patient_id"]] != f.patientID || r[col["role"]] != "Clinician" {
				t.Errorf("CSV row %q", r)
			}
		}
	}
	if !sawDana {
		t.Error("the CSV lacks Dana's views")
	}
}

func TestAuditFilterByNameFindsAPersonsAccesses(t *testing.T) {
	f := newWordsFixture(t)
	for _, c := range []struct{ who, wantQuery string }{
		{"dana", "user=" + f.danaID},                 // part of a member's name, any case
		{"dana@harbour.example", "user=" + f.danaID}, // a member's email
		{"Rossi", "patient=" + f.patientID},          // a patient's last name
		{"anna@example.org", "patient=" + f.patientID},
	} {
		status, loc, _ := f.post(t, f.officer, "/privacy/audit/find", url.Values{"who": {c.who}, "action": {"file.view"}})
		if status != http.StatusSeeOther || !strings.Contains(loc, c.wantQuery) || !strings.Contains(loc, "action=file.view") {
			t.Errorf("find %q: %d to %q, want a redirect with %s and the other filters kept", c.who, status, loc, c.wantQuery)
		}
		if strings.Contains(loc, strings.ToLower(c.who)) {
			t.Errorf("find %q: the search text is in the URL %q", c.who, loc)
		}
	}
	status, loc, _ := f.post(t, f.officer, "/privacy/audit/find", url.Values{"who": {"Dana"}})
	if status != http.StatusSeeOther {
		t.Fatalf("find Dana: %d", status)
	}
	_, _, page := f.get(t, f.officer, loc)
	text := readable(page)
	if !strings.Contains(text, "Showing what Dana Demo did") || !strings.Contains(text, "Viewed a file") {
		t.Fatalf("Dana's accesses: %q", text)
	}
	if strings.Contains(text, "Sam Other") || strings.Contains(text, "Pia Privacy") {
		t.Errorf("the filtered log shows other people's entries: %q", text)
	}

	// Several matches ask which person; none says so in words.
	status, _, page = f.post(t, f.officer, "/privacy/audit/find", url.Values{"who": {"a"}})
	if status != http.StatusOK || !strings.Contains(page, "More than one person matches") || !strings.Contains(page, "Dana Demo") ||
		!strings.Contains(page, "Sam Other") {
		t.Errorf("ambiguous search: %d %q", status, readable(page))
	}
	status, _, page = f.post(t, f.officer, "/privacy/audit/find", url.Values{"who": {"Zebedee"}})
	if status != http.StatusOK || !strings.Contains(page, "No member, account or patient of this workspace matches") {
		t.Errorf("no match: %d %q", status, readable(page))
	}
	// Only the privacy officer may search, and the terms never reach the log.
	if status, _, _ := f.post(t, f.dana, "/privacy/audit/find", url.Values{"who": {"Rossi"}}); status != http.StatusForbidden {
		t.Errorf("a clinician's search: %d, want 403", status)
	}
	if strings.Contains(f.env.Logs.String(), "Rossi") || strings.Contains(f.env.Logs.String(), "Zebedee") {
		t.Error("a search term reached the logs")
	}
	// Searching patients by name is a PHI read of the workspace: audited.
	found := false
	for _, e := range f.env.Entries(t, 0) {
		if e.Action == "patient.search" && e.ActorUserID == f.officer.Principal.UserID && e.PatientID == f.patientID {
			found = true
		}
	}
	if !found {
		t.Error("the officer's patient search is not audited per patient shown")
	}
}

func TestAccessHistoryHidesSystemRowsAndSaysWhatHappenedInWords(t *testing.T) {
	f := newWordsFixture(t)
	status, _, page := f.get(t, f.anna, "/me/access-history")
	if status != http.StatusOK {
		t.Fatalf("history: %d", status)
	}
	text := readable(page)
	for _, want := range []string{
		"Dana Demo viewed 8 images of your case Rhinoplasty",
		"Dana Demo created your record",
		"Sam Other tried to reach your record and was refused",
		"Show automatic checks too",
	} {
		if !strings.Contains(text, want) {
			t.Errorf("history lacks %q: %q", want, text)
		}
	}
	for _, hidden := range []string{"checked your age", "Custodia (automatic)"} {
		if strings.Contains(text, hidden) {
			t.Errorf("history shows the system's own check %q by default", hidden)
		}
	}
	if id := hexID.FindString(text); id != "" {
		t.Errorf("history shows an id %s", id)
	}
	// A second visit: the first visit's own reads (the history, the case
	// list it named cases from) are the viewer's bookkeeping, hidden too.
	_, _, page = f.get(t, f.anna, "/me/access-history")
	if text := readable(page); strings.Contains(text, "You looked at the list of your cases") || strings.Contains(text, "You read who accessed") {
		t.Errorf("the patient's own visits show as accesses: %q", text)
	}
	_, _, page = f.get(t, f.anna, "/me/access-history?all=1")
	if text := readable(page); !strings.Contains(text, "checked your age for the consent rules") || !strings.Contains(text, "Hide automatic checks") ||
		!strings.Contains(text, "You looked at the list of your cases") {
		t.Errorf("history with automatic checks: %q", text)
	}
}

func TestInvitePatientPageNamesThePatientAndAsksForNoID(t *testing.T) {
	f := newWordsFixture(t)
	status, _, page := f.get(t, f.dana, "/workspace/patients/invite")
	if status != http.StatusOK || !strings.Contains(page, "First, find the patient") || strings.Contains(page, `name="patient_id"`) {
		t.Fatalf("invite page without a patient: %d %q", status, readable(page))
	}
	_, _, patientPage := f.get(t, f.dana, "/patients/"+f.patientID)
	// The patient's page offers the invitation in one click (a form that
	// sends it to the address on record); the invite page above is the way
	// in from elsewhere.
	if !strings.Contains(patientPage, `action="/patients/`+f.patientID+`/portal-invitation"`) {
		t.Fatal("the patient's page does not offer the portal invitation")
	}
	before := f.env.Head(t)
	status, _, page = f.get(t, f.dana, "/workspace/patients/invite?patient="+f.patientID)
	text := readable(page)
	if status != http.StatusOK || !strings.Contains(text, "Anna Rossi") || strings.Contains(text, f.patientID) ||
		!strings.Contains(page, `type="hidden" name="patient_id"`) {
		t.Fatalf("invite page for Anna: %d %q", status, text)
	}
	es := f.env.Entries(t, before)
	if len(es) != 1 || es[0].Action != "patient.read_summary" || es[0].PatientID != f.patientID || es[0].Decision != "allow" {
		t.Fatalf("naming the patient is not one audited summary read: %+v", es)
	}
}

func TestRehabAndConsentHeadingsNameThePatient(t *testing.T) {
	f := newWordsFixture(t)
	for path, want := range map[string]string{
		"/patients/" + f.patientID + "/rehab":          "Rehabilitation: Anna Rossi",
		"/patients/" + f.patientID + "/consents":       "Consents of Anna Rossi",
		"/patients/" + f.patientID + "/consents/paper": "Record a signed consent form for Anna Rossi",
	} {
		status, _, page := f.get(t, f.dana, path)
		h1 := readable(regexp.MustCompile(`(?s)<h1>.*?</h1>`).FindString(page))
		if status != http.StatusOK || strings.TrimSpace(h1) != want {
			t.Errorf("%s: %d, heading %q, want %q", path, status, h1, want)
		}
		if text := readable(page); strings.Contains(text, f.patientID) {
			t.Errorf("%s shows the patient's id to read", path)
		}
	}
	// The patient's own consent page keeps its plain heading.
	_, _, page := f.get(t, f.anna, "/patients/"+f.patientID+"/consents")
	if h1 := readable(regexp.MustCompile(`(?s)<h1>.*?</h1>`).FindString(page)); strings.TrimSpace(h1) != "Consents" {
		t.Errorf("the patient's own consent heading %q", h1)
	}
}

func TestAuditPageHidesTheOfficersOwnUseOfTheLogUnlessAsked(t *testing.T) {
	f := newWordsFixture(t)
	for range 3 {
		f.get(t, f.officer, "/privacy/audit")
	}
	_, _, page := f.get(t, f.officer, "/privacy/audit")
	if text := readable(tableRe.FindString(page)); strings.Contains(text, "Saw the patient's name in the audit log") ||
		strings.Contains(text, "Read the audit log") {
		t.Fatalf("the officer's own use of the log fills the page: %q", text)
	}
	if !strings.Contains(page, "Your own use of this log") {
		t.Error("the page does not say it hides the officer's own use")
	}
	_, _, page = f.get(t, f.officer, "/privacy/audit?own=1")
	if text := readable(tableRe.FindString(page)); !strings.Contains(text, "Saw the patient's name in the audit log") {
		t.Fatalf("asked for, the officer's own use is still hidden: %q", text)
	}

	// Pages of three, own use hidden: every other entry once, newest first.
	want := 0
	for _, e := range f.env.Entries(t, 0) {
		if e.WorkspaceID == f.officer.Principal.WorkspaceID &&
			!(e.ActorUserID == f.officer.Principal.UserID && (strings.HasPrefix(e.Action, "audit.") || e.Action == "patient.search")) {
			want++
		}
	}
	seen, last := 0, int64(0)
	target := "/privacy/audit?limit=3"
	for range 100 {
		_, _, page := f.get(t, f.officer, target)
		rows := strings.Count(tableRe.FindString(page), "<tr") - 1
		seen += max(rows, 0)
		m := regexp.MustCompile(`href="(/privacy/audit\?[^"]*before=(\d+)[^"]*)">Older entries`).FindStringSubmatch(page)
		if m == nil {
			break
		}
		var before int64
		for _, c := range m[2] {
			before = before*10 + int64(c-'0')
		}
		if last != 0 && before >= last {
			t.Fatalf("cursor %d after %d: not moving back", before, last)
		}
		last, target = before, html.UnescapeString(m[1])
	}
	// The page views above add entries of the officer only, so the count
	// of everyone else's entries is what the pages must show in all.
	if seen != want {
		t.Fatalf("paged through %d entries, want %d", seen, want)
	}
}
