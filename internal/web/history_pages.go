package web

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/labels"
	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/patient"
)

// The pages of the audit log and of a patient's access history show people
// by name and codes in words (labels); ids stay in URLs and in the CSV's
// machine columns.

// Audit actions of the audit pages' own reads of patients' names.
const (
	actionPatientNames = "audit.patient_names"
	actionPersonSearch = "audit.person_search"
)

func init() { routeSets = append(routeSets, (*Server).auditPageRoutes) }

func (s *Server) auditPageRoutes(mux Mux) {
	s.phi(mux, "POST /privacy/audit/find", actionPersonSearch, s.requireUser(s.findAuditPerson))
}

// personName is how a page names the actor of an entry: never an id.
func personName(id, role string, names map[string]string) string {
	switch {
	case role == "system" || id == "system":
		return labels.Role("system")
	case id == "":
		return "Someone not signed in"
	case names[id] != "" && names[id] != id:
		return names[id]
	}
	return "An account that no longer exists"
}

// patientNames names the patients entries are about, for the privacy
// officer: each patient named is an audited summary read. known holds
// names read before (an export's earlier pages), so a patient is read once.
func (s *Server) patientNames(ctx context.Context, p *access.Principal, entries []audit.Entry, known map[string]string) (map[string]string, error) {
	if known == nil {
		known = map[string]string{}
	}
	var ids []string
	for _, e := range entries {
		if e.PatientID != "" {
			if _, ok := known[e.PatientID]; !ok {
				ids = append(ids, e.PatientID)
				known[e.PatientID] = "" // asked once, even if refused
			}
		}
	}
	if len(ids) == 0 || s.records == nil || s.records.Patients == nil {
		return known, nil
	}
	got, err := s.records.Patients.Names(ctx, p, ids, actionPatientNames)
	if err != nil {
		return nil, err
	}
	for id, n := range got {
		known[id] = n
	}
	return known, nil
}

// auditRow is an audit entry as the officer's page shows it: words, names
// and the ids only in links.
type auditRow struct {
	Seq         int64
	Time        time.Time
	Who         string
	WhoID       string
	Role        string
	OnBehalfOf  string
	Action      string
	ActionCode  string
	Resource    string
	Patient     string
	PatientID   string
	Purpose     string
	Decision    string
	Refused     bool
	Reason      string
	BreakGlass  bool
	Outcome     string
	ClientAddr  string
	RequestID   string
	PatientGone bool // an entry about a patient whose name cannot be shown
}

func toAuditRows(entries []audit.Entry, names, patients map[string]string) []auditRow {
	rows := make([]auditRow, 0, len(entries))
	for _, e := range entries {
		row := auditRow{Seq: e.Seq, Time: e.Time, Who: personName(e.ActorUserID, e.ActorRole, names), WhoID: e.ActorUserID,
			Role: labels.Role(e.ActorRole), Action: labels.Action(e.Action), ActionCode: e.Action,
			Resource: labels.Resource(e.ResourceType), PatientID: e.PatientID, Purpose: labels.Purpose(e.Purpose),
			Decision: labels.Decision(e.Decision), Refused: e.Decision == "deny", Reason: labels.Reason(e.Reason),
			BreakGlass: e.BreakGlass, Outcome: labels.Outcome(e.Outcome), ClientAddr: e.ClientAddr, RequestID: e.RequestID}
		if e.OnBehalfOf != "" {
			row.OnBehalfOf = personName(e.OnBehalfOf, "", names)
		}
		if e.PatientID != "" {
			row.Patient = patients[e.PatientID]
			row.PatientGone = row.Patient == ""
		}
		if e.ActorUserID == "system" || e.ActorRole == "system" {
			row.WhoID, row.Role = "", "" // "Custodia (automatic)" says it all
		}
		rows = append(rows, row)
	}
	return rows
}

// entryNames names the actors and on-behalf-of users of entries.
func (s *Server) entryNames(r *http.Request, entries []audit.Entry) map[string]string {
	more := make([]audit.Entry, 0, len(entries))
	for _, e := range entries {
		more = append(more, e)
		if e.OnBehalfOf != "" {
			more = append(more, audit.Entry{Event: audit.Event{ActorUserID: e.OnBehalfOf}})
		}
	}
	return s.names(r, more)
}

// filterLink is the audit page with q's filters and one changed.
func filterLink(q url.Values, key, value string) string {
	nq := url.Values{}
	for k, v := range q {
		if k != "before" {
			nq[k] = v
		}
	}
	if value == "" {
		nq.Del(key)
	} else {
		nq.Set(key, value)
	}
	if len(nq) == 0 {
		return "/privacy/audit"
	}
	return "/privacy/audit?" + nq.Encode()
}

// auditPageData is what privacy_audit.html shows.
type auditPageData struct {
	Rows    []auditRow
	Next    string
	Export  string
	Actions []labels.Code
	Action  string
	From    string
	To      string
	// The person filter, by name: the search box's text and the person
	// the page is filtered on, with a link that clears it.
	Who          string
	FilterUser   string
	FilterUserID string
	FilterPat    string
	FilterPatID  string
	ClearUser    string
	ClearPatient string
	Hidden       url.Values // the other filters, carried through the person search
	Choices      []personChoice
	Searched     bool
	// The officer's own use of the log, hidden by default.
	OwnHidden  int
	ShowingOwn bool
	OwnToggle  string
}

// personChoice is one person a name search found.
type personChoice struct {
	Name   string
	Detail string
	Link   string
}

func (s *Server) pageAudit(w http.ResponseWriter, r *http.Request) {
	p, f, ok := s.officerFilter(w, r)
	if !ok {
		return
	}
	q := r.URL.Query()
	// The officer's own use of the log (each view names patients, and is
	// itself an entry) would fill the first page after a few views: hidden
	// unless asked for, or unless the filter asks for exactly that.
	hideOwn := q.Get("own") != "1" && f.ActorUserID == "" && f.Action == ""
	var skip func(audit.Entry) bool
	if hideOwn {
		skip = func(e audit.Entry) bool { return ownLogUse(e, p.UserID) }
	}
	page, hidden, ok := s.officerPage(w, r, p, f, skip)
	if !ok {
		return
	}
	d := s.auditPage(r, q, f)
	d.OwnHidden, d.ShowingOwn = hidden, q.Get("own") == "1"
	d.OwnToggle = filterLink(q, "own", "1")
	if d.ShowingOwn {
		d.OwnToggle = filterLink(q, "own", "")
	}
	// The patient the page is filtered on is named with the rows' patients.
	probe := page.Entries
	if f.PatientID != "" {
		probe = append(probe, audit.Entry{Event: audit.Event{PatientID: f.PatientID}})
	}
	patients, err := s.patientNames(r.Context(), p, probe, nil)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	names := s.entryNames(r, page.Entries)
	d.Rows = toAuditRows(page.Entries, names, patients)
	if f.PatientID != "" {
		d.FilterPat = patients[f.PatientID]
		if d.FilterPat == "" {
			d.FilterPat = "a patient whose name cannot be shown"
		}
	}
	if page.Next != 0 {
		d.Next = filterLink(q, "before", cursorString(page.Next))
	}
	s.renderView(w, r, http.StatusOK, "privacy_audit", View{Title: "Audit log", Data: d})
}

// ownLogUse is an entry of the officer's own use of the audit log.
func ownLogUse(e audit.Entry, officer string) bool {
	return e.ActorUserID == officer && (strings.HasPrefix(e.Action, "audit.") || e.Action == "patient.search")
}

// officerPage reads a page of the log for the officer, leaving out the
// entries skip names and reading on until the page is full (at most ten
// reads), then records the read. Next is the seq to continue before.
func (s *Server) officerPage(w http.ResponseWriter, r *http.Request, p *access.Principal, f audit.Filter, skip func(audit.Entry) bool) (audit.Page, int, bool) {
	if skip == nil {
		page, ok := s.officerRead(w, r, p, f, actionAuditRead)
		return page, 0, ok
	}
	want := f.Limit
	if want <= 0 {
		want = 50
	}
	var out audit.Page
	hidden := 0
	full := false
	for range 10 {
		page, err := s.audit.Query(r.Context(), f)
		if err != nil {
			s.log.Error("query audit log", "request_id", RequestID(r.Context()), "err", err.Error())
			s.answer(w, r, http.StatusServiceUnavailable, "The audit log could not be read. Try again shortly.")
			return audit.Page{}, 0, false
		}
		for i, e := range page.Entries {
			if skip(e) {
				hidden++
				continue
			}
			out.Entries = append(out.Entries, e)
			if len(out.Entries) == want {
				if i < len(page.Entries)-1 || page.Next != 0 {
					out.Next = e.Seq
				}
				full = true
				break
			}
		}
		if full || page.Next == 0 {
			break
		}
		f.Cursor, out.Next = page.Next, page.Next
	}
	if _, ok := s.recordAccess(w, r, p, audit.Event{Action: actionAuditRead, ResourceType: "audit_log", ResourceID: p.WorkspaceID,
		PatientID: f.PatientID, Purpose: "operations", Reason: "privacy_officer"}); !ok {
		return audit.Page{}, 0, false
	}
	return out, hidden, true
}

// auditPage fills the filter part of the audit page.
func (s *Server) auditPage(r *http.Request, q url.Values, f audit.Filter) auditPageData {
	eq := url.Values{}
	for k, v := range q {
		if k != "before" {
			eq[k] = v
		}
	}
	d := auditPageData{Export: "/privacy/audit.csv", Actions: labels.Actions(), Action: f.Action,
		From: q.Get("from"), To: q.Get("to"), FilterUserID: f.ActorUserID, FilterPatID: f.PatientID,
		ClearUser: filterLink(q, "user", ""), ClearPatient: filterLink(q, "patient", ""), Hidden: url.Values{}}
	if len(eq) > 0 {
		d.Export += "?" + eq.Encode()
	}
	for _, k := range []string{"action", "from", "to"} {
		if v := q.Get(k); v != "" {
			d.Hidden.Set(k, v)
		}
	}
	if f.ActorUserID != "" {
		d.FilterUser = personName(f.ActorUserID, "", s.names(r, []audit.Entry{{Event: audit.Event{ActorUserID: f.ActorUserID}}}))
	}
	return d
}

// findAuditPerson resolves the officer's name-or-email search to accounts
// and patients. The text comes in a POST body, never a URL; the search of
// patients is audited by the patient service (patient.search), and one
// match goes straight to the log filtered on that person's id.
func (s *Server) findAuditPerson(w http.ResponseWriter, r *http.Request) {
	p, ok := s.principal(w, r)
	if !ok {
		return
	}
	if p.Role != access.RolePrivacyOfficer || p.WorkspaceID == "" {
		s.recordDenial(r, p, audit.Event{ResourceType: "audit_log", Reason: "not_privacy_officer"})
		s.answer(w, r, http.StatusForbidden, "Only the workspace's privacy officer can search the audit log.")
		return
	}
	if err := r.ParseForm(); err != nil {
		s.answer(w, r, http.StatusBadRequest, "The search could not be read.")
		return
	}
	keep := url.Values{}
	for _, k := range []string{"action", "from", "to"} {
		if v := strings.TrimSpace(r.PostForm.Get(k)); v != "" && len(v) <= 200 {
			keep.Set(k, v)
		}
	}
	who := strings.TrimSpace(r.PostForm.Get("who"))
	if who == "" {
		http.Redirect(w, r, filterLink(keep, "", ""), http.StatusSeeOther)
		return
	}
	d := s.auditPage(r, keep, audit.Filter{Action: keep.Get("action")})
	d.Who, d.Searched = who, true
	if len(who) > 200 {
		releasesNoPHI(r)
		s.renderView(w, r, http.StatusUnprocessableEntity, "privacy_audit", View{Title: "Audit log", Error: "The name or email is too long.", Data: d})
		return
	}
	var choices []personChoice
	if s.identity != nil {
		people, err := s.identity.FindPeople(r.Context(), p, p.WorkspaceID, who)
		if err != nil {
			s.log.Error("find people", "request_id", RequestID(r.Context()), "err", err.Error())
			s.answer(w, r, http.StatusServiceUnavailable, "The search could not be run. Try again shortly.")
			return
		}
		for _, pe := range people {
			detail := "account"
			if pe.Email != "" {
				detail = pe.Email
			}
			choices = append(choices, personChoice{Name: cmpOr(pe.Name, "An account without a name"), Detail: detail + " · what they did",
				Link: filterLink(keep, "user", pe.UserID)})
		}
	}
	if s.records != nil && s.records.Patients != nil {
		q := patientQuery(who)
		pg, err := s.records.Patients.Search(r.Context(), principal(r), q)
		if err != nil && fieldsOf(err) == nil {
			s.pageError(w, r, err)
			return
		}
		if err == nil {
			for _, x := range pg.Patients {
				choices = append(choices, personChoice{Name: strings.TrimSpace(x.Summary.GivenName + " " + x.Summary.FamilyName),
					Detail: "patient, born " + x.Summary.BirthDate + " · accesses to their record", Link: filterLink(keep, "patient", x.ID)})
			}
		}
	}
	// The search itself is on record, with no terms in it: the guard needs
	// this receipt when no patient was searched or found.
	if _, ok := s.recordAccess(w, r, p, audit.Event{ResourceType: "audit_log", ResourceID: p.WorkspaceID,
		Purpose: "operations", Reason: "privacy_officer"}); !ok {
		return
	}
	if len(choices) == 1 {
		http.Redirect(w, r, choices[0].Link, http.StatusSeeOther)
		return
	}
	d.Choices = choices
	s.renderView(w, r, http.StatusOK, "privacy_audit", View{Title: "Find a person in the audit log", Data: d})
}

// patientQuery searches patients by email when the text is one, else by
// the words of their name.
func patientQuery(who string) patient.Query {
	if strings.Contains(who, "@") {
		return patient.Query{Email: who}
	}
	return patient.Query{Name: who}
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// exportAudit streams the matching entries as CSV, newest first: the
// columns people read (names and words) first, then the ids and codes for
// machines. The first page is read, and its patients named, before the
// export is recorded as released, so a database failure is a clean 503;
// the export entry is durable before any row leaves.
func (s *Server) exportAudit(w http.ResponseWriter, r *http.Request) {
	p, f, ok := s.officerFilter(w, r)
	if !ok {
		return
	}
	f.Limit = audit.MaxLimit
	page, ok := s.officerRead(w, r, p, f, actionAuditExport)
	if !ok {
		return
	}
	patients, err := s.patientNames(r.Context(), p, page.Entries, nil)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	w.Header().Set("Content-Type", "text/csv; charset=utf-8")
	w.Header().Set("Content-Disposition", `attachment; filename="audit-`+time.Now().UTC().Format("20060102-150405")+`.csv"`)
	w.WriteHeader(http.StatusOK)
	cw := csv.NewWriter(w)
	_ = cw.Write(csvHeader)
	written := 0
	for {
		names := s.entryNames(r, page.Entries)
		for i, row := range toAuditRows(page.Entries, names, patients) {
			e := page.Entries[i]
			_ = cw.Write([]string{strconv.FormatInt(e.Seq, 10), e.Time.UTC().Format(time.RFC3339Nano),
				cell(row.Who), cell(row.Role), cell(row.OnBehalfOf), cell(row.Action), cell(row.Resource), cell(row.Patient),
				cell(row.Purpose), cell(row.Decision), cell(row.Reason), cell(row.Outcome), strconv.FormatBool(e.BreakGlass),
				cell(e.ActorUserID), cell(e.ActorTokenID), cell(e.ActorRole), cell(e.WorkspaceID), cell(e.OnBehalfOf),
				cell(e.Action), cell(e.ResourceType), cell(e.ResourceID), cell(e.PatientID), cell(e.Purpose),
				cell(e.Decision), cell(e.Reason), cell(e.Outcome), cell(e.ClientAddr), cell(e.RequestID)})
			written++
		}
		if page.Next == 0 || written >= maxExport {
			break
		}
		f.Cursor = page.Next
		if page, err = s.audit.Query(r.Context(), f); err == nil {
			patients, err = s.patientNames(r.Context(), p, page.Entries, patients)
		}
		if err != nil {
			// The status is already sent; the short file is the signal.
			s.log.Error("export audit log", "request_id", RequestID(r.Context()), "err", err.Error())
			break
		}
	}
	cw.Flush()
}

// csvHeader: the readable columns, then the machine columns (ids, codes).
var csvHeader = []string{"seq", "time_utc", "who", "role", "on_behalf_of", "action", "resource", "patient", "purpose",
	"decision", "reason", "outcome", "break_glass",
	"actor_user_id", "actor_token_id", "actor_role_code", "workspace_id", "on_behalf_of_id", "action_code",
	"resource_type", "resource_id", "patient_id", "purpose_code", "decision_code", "reason_code", "outcome_code",
	"client_addr", "request_id"}

// cell neutralises spreadsheet formulas: a cell a spreadsheet would
// evaluate gets a leading apostrophe.
func cell(v string) string {
	if v != "" && strings.ContainsRune("=+-@\t\r", rune(v[0])) {
		return "'" + v
	}
	return v
}

// historyLine is one line of a patient's "who accessed my record": one
// access, or a run of identical ones by the same person to the same thing,
// in plain words.
type historyLine struct {
	Time       time.Time // the latest access of the run
	First      time.Time // the earliest, when the run has more than one
	Who        string
	You        bool
	Role       string
	OnBehalfOf string
	Sentence   string
	Purpose    string
	Refused    bool
	Reason     string
	BreakGlass bool
	Count      int
	Automatic  bool
}

// fileFacts is what a line needs to know about a file: its case and kind.
type fileFacts struct {
	caseID string
	kind   media.Kind
}

// historyObjects resolves the files and cases the entries name, so lines
// can say "8 images of your case Rhinoplasty": the files' cases and kinds
// (no PHI) from the media store, and the titles of the patient's own
// cases through the case service (an audited case.list by the patient,
// which shows only the cases shared with them).
func (s *Server) historyObjects(r *http.Request, p *access.Principal, entries []audit.Entry) (map[string]fileFacts, map[string]string) {
	files := map[string]fileFacts{}
	titles := map[string]string{}
	wantCases := false
	ms, _ := s.media.(*media.Service)
	for _, e := range entries {
		switch e.ResourceType {
		case "file", "series": // a series is opened from one of its files, whose id it carries
			if _, ok := files[e.ResourceID]; ok || ms == nil || ms.Store == nil {
				continue
			}
			f, err := ms.Store.File(r.Context(), e.ResourceID)
			if err != nil {
				files[e.ResourceID] = fileFacts{}
				continue
			}
			files[e.ResourceID] = fileFacts{caseID: f.CaseID, kind: f.Kind}
			wantCases = true
		case "case":
			wantCases = true
		}
	}
	if wantCases && s.records != nil && s.records.Cases != nil {
		if cs, err := s.records.Cases.List(r.Context(), principal(r), p.PatientID); err == nil {
			for _, c := range cs {
				titles[c.ID] = c.Title
			}
		}
	}
	return files, titles
}

// lineKey says which entries make one line: the same person doing the
// same thing to the same object with the same result.
type lineKey struct {
	actor, onBehalf, action, decision, object, purpose string
	glass                                              bool
}

func (s *Server) historyLines(r *http.Request, p *access.Principal, entries []audit.Entry, showAll bool) ([]historyLine, int) {
	files, titles := s.historyObjects(r, p, entries)
	names := s.entryNames(r, entries)
	object := func(e audit.Entry) string {
		switch e.ResourceType {
		case "file", "series":
			if c := files[e.ResourceID].caseID; c != "" {
				return "case:" + c
			}
		case "case":
			return "case:" + e.ResourceID
		}
		return e.ResourceType + ":" + e.ResourceID
	}
	type run struct {
		key   lineKey
		line  historyLine
		files map[string]media.Kind
		first audit.Entry
	}
	// The viewer's own visits to this page, and what those visits read to
	// name things (their case list), share the visit's request id.
	visits := map[string]bool{}
	for _, e := range entries {
		if e.ActorUserID == p.UserID && e.ResourceType == "access_history" && e.RequestID != "" {
			visits[e.RequestID] = true
		}
	}
	var runs []*run
	hidden := 0
	for _, e := range entries {
		auto := labels.Bookkeeping(e.Action, e.Purpose, e.ActorRole) ||
			(e.ActorUserID == p.UserID && (e.ResourceType == "access_history" || visits[e.RequestID]))
		if auto && !showAll {
			hidden++
			continue
		}
		k := lineKey{e.ActorUserID, e.OnBehalfOf, e.Action, e.Decision, object(e), e.Purpose, e.BreakGlass}
		if n := len(runs); n > 0 && runs[n-1].key == k {
			last := runs[n-1]
			last.line.Count++
			last.line.First = e.Time
			if e.ResourceType == "file" {
				last.files[e.ResourceID] = files[e.ResourceID].kind
			}
			continue
		}
		you := e.ActorUserID == p.UserID
		who := personName(e.ActorUserID, e.ActorRole, names)
		if you {
			who = "You"
		}
		l := historyLine{Time: e.Time, Who: who, You: you, Role: labels.Role(e.ActorRole), Purpose: labels.Purpose(e.Purpose),
			Refused: e.Decision == "deny", Reason: strings.ReplaceAll(labels.Reason(e.Reason), "the patient's", "your"), BreakGlass: e.BreakGlass, Count: 1, Automatic: auto}
		if e.OnBehalfOf != "" {
			l.OnBehalfOf = personName(e.OnBehalfOf, "", names)
		}
		ru := &run{key: k, line: l, files: map[string]media.Kind{}, first: e}
		if e.ResourceType == "file" {
			ru.files[e.ResourceID] = files[e.ResourceID].kind
		}
		runs = append(runs, ru)
	}
	out := make([]historyLine, 0, len(runs))
	for _, ru := range runs {
		e := ru.first
		what := objectWords(e, ru.files, files, titles)
		if e.Action == "file.upload" && e.ResourceType == "case" {
			// An upload's entry names the case the file went to.
			what = countNoun(ru.line.Count, "file") + " to " + what
			ru.line.Count = 1
		}
		ru.line.Sentence = sentence(ru.line.Who, e, what, ru.line.Count, len(ru.files))
		if ru.line.Count == 1 || ru.line.First.Truncate(time.Minute).Equal(ru.line.Time.Truncate(time.Minute)) {
			ru.line.First = time.Time{} // a run within one minute shows one time
		}
		out = append(out, ru.line)
	}
	return out, hidden
}

// objectWords names what an entry touched, from the patient's side.
func objectWords(e audit.Entry, run map[string]media.Kind, files map[string]fileFacts, titles map[string]string) string {
	caseWords := func(id string) string {
		if t := titles[id]; t != "" {
			return "your case " + t
		}
		return "one of your cases"
	}
	switch e.ResourceType {
	case "file":
		of := "your record"
		if c := files[e.ResourceID].caseID; c != "" {
			of = caseWords(c)
		}
		return countNoun(max(len(run), 1), fileNoun(run)) + " of " + of
	case "series":
		of := "your record"
		if c := files[e.ResourceID].caseID; c != "" {
			of = caseWords(c)
		}
		return "a series of images of " + of
	case "case":
		return caseWords(e.ResourceID)
	case "capture":
		return "one of your 3D captures"
	case "rehab":
		return "your rehabilitation progress"
	case "consent", "consent_text":
		return "your consents"
	case "access_history":
		return "who accessed your record"
	}
	return "your record"
}

// countNoun is "a file", "8 files".
func countNoun(n int, noun string) string {
	if n == 1 {
		return article(noun) + " " + noun
	}
	return strconv.Itoa(n) + " " + noun + "s"
}

func fileNoun(kinds map[string]media.Kind) string {
	noun := ""
	for _, k := range kinds {
		n := "file"
		switch {
		case k == media.KindDICOM || k.IsImage():
			n = "image"
		case k.IsMesh():
			n = "3D model"
		}
		if noun != "" && noun != n {
			return "file"
		}
		noun = n
	}
	if noun == "" {
		return "file"
	}
	return noun
}

func article(noun string) string {
	if strings.ContainsRune("aeiou", rune(noun[0])) {
		return "an"
	}
	return "a"
}

// sentence is the line in words: "Dana Demo viewed 8 images of your case
// Rhinoplasty", "Sam Other tried to reach your record and was refused".
func sentence(who string, e audit.Entry, what string, count, files int) string {
	var b strings.Builder
	b.WriteString(who)
	b.WriteByte(' ')
	switch {
	case e.Decision == "deny" && labels.HasObject(e.Action):
		b.WriteString("tried to reach " + what + " and was refused")
	case e.Decision == "deny":
		b.WriteString("was refused: " + strings.ToLower(labels.Action(e.Action)))
	case labels.HasObject(e.Action):
		b.WriteString(strings.Replace(labels.Phrase(e.Action), "%s", what, 1))
	default:
		b.WriteString(labels.Phrase(e.Action))
	}
	if count > 1 && count != files {
		b.WriteString(", " + strconv.Itoa(count) + " times")
	}
	if e.Outcome == "failure" {
		b.WriteString(" (it did not complete)")
	}
	return b.String()
}

func (s *Server) pageMyAccessHistory(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("limit") == "" {
		// A page of lines, after hiding the automatic checks and grouping
		// runs, needs more entries than a page of the API.
		q.Set("limit", "200")
		r.URL.RawQuery = q.Encode()
	}
	p, page, ok := s.myHistory(w, r)
	if !ok {
		return
	}
	showAll := q.Get("all") == "1"
	lines, hidden := s.historyLines(r, p, page.Entries, showAll)
	next := ""
	if page.Next != 0 {
		nq := url.Values{"before": {cursorString(page.Next)}}
		if showAll {
			nq.Set("all", "1")
		}
		next = "/me/access-history?" + nq.Encode()
	}
	hiddenText := ""
	switch {
	case hidden == 1:
		hiddenText = "1 entry is hidden: "
	case hidden > 1:
		hiddenText = strconv.Itoa(hidden) + " entries are hidden: "
	}
	toggle := "/me/access-history?all=1"
	if showAll {
		toggle = "/me/access-history"
	}
	s.renderView(w, r, http.StatusOK, "access_history", View{Title: "Who accessed my record",
		Data: map[string]any{"Lines": lines, "Next": next, "ShowAll": showAll, "Hidden": hidden, "HiddenText": hiddenText, "Toggle": toggle}})
}
