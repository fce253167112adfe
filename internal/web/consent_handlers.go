package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/consent"
)

func init() { routeSets = append(routeSets, (*Server).routesConsent) }

// withConsent runs h for a signed-in principal once the consent service is
// there; consentReady and consentPrincipal answer every other case.
func (s *Server) withConsent(h func(http.ResponseWriter, *http.Request, *access.Principal)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !s.consentReady(w, r) {
			return
		}
		p, ok := s.consentPrincipal(w, r)
		if !ok {
			return
		}
		h(w, r, p)
	}
}

// routesConsent registers consent per purpose: the patient's consent page,
// staff recording a signed paper form, and the JSON API.
func (s *Server) routesConsent(mux Mux) {
	mux.HandleFunc("GET /api/v1/consent/purposes", s.apiConsentPurposes)
	s.phi(mux, "GET /api/v1/patients/{id}/consents", auditedByService, s.withConsent(s.apiConsents))
	s.phi(mux, "POST /api/v1/patients/{id}/consents", auditedByService, s.withConsent(s.apiRecordConsent))
	s.phi(mux, "GET /patients/{id}/consents", auditedByService, s.withConsent(s.consentPage))
	s.phi(mux, "POST /patients/{id}/consents", auditedByService, s.withConsent(s.consentPost))
	s.phi(mux, "GET /patients/{id}/consents/paper", auditedByService, s.withConsent(s.paperConsentPage))
	s.phi(mux, "POST /patients/{id}/consents/paper", auditedByService, s.withConsent(s.paperConsentPost))
	s.phi(mux, "GET /patients/{id}/consents/{event}/form", auditedByService, s.withConsent(s.consentForm))
}

// consentPrincipal returns the signed-in principal, or answers 401 (API) or
// a readable page and returns false.
func (s *Server) consentPrincipal(w http.ResponseWriter, r *http.Request) (*access.Principal, bool) {
	p, ok := access.PrincipalFrom(r.Context())
	if ok {
		return p, true
	}
	if wantsHTML(r) {
		s.renderError(w, r, http.StatusUnauthorized, "Sign in to see and change consents.")
	} else {
		WriteProblem(w, r, http.StatusUnauthorized, "Sign in first: send the session cookie or an API token.")
	}
	return nil, false
}

func (s *Server) consentReady(w http.ResponseWriter, r *http.Request) bool {
	if s.consent != nil {
		return true
	}
	if wantsHTML(r) {
		s.renderError(w, r, http.StatusServiceUnavailable, "Consent management is not configured on this server.")
	} else {
		WriteProblem(w, r, http.StatusServiceUnavailable, "Consent management is not configured on this server.")
	}
	return false
}

// consentErrorMessage maps a consent error to a status and a message fit to
// show (no PHI: the errors hold codes and field names only).
func consentErrorMessage(err error) (int, string) {
	var de *consent.DeniedError
	switch {
	case errors.As(err, &de) && de.Visible:
		return http.StatusForbidden, "You may not see or change this patient's consents."
	case errors.As(err, &de):
		return http.StatusNotFound, "There is no such patient, or you may not see them."
	case errors.Is(err, consent.ErrMinorNeedsRepresentative):
		return http.StatusForbidden, "This patient is a minor: a personal representative must decide on their consent."
	case errors.Is(err, consent.ErrNotRepresentative):
		return http.StatusForbidden, "Only the patient's personal representative may decide for them."
	case errors.Is(err, consent.ErrTextNotCurrent):
		return http.StatusConflict, "The consent text changed since the page was loaded. Read the new text and decide again."
	case errors.Is(err, consent.ErrNotFound):
		return http.StatusNotFound, "Not found."
	case errors.Is(err, audit.ErrUnavailable):
		return http.StatusServiceUnavailable, "The audit log cannot be written right now, so nothing was shown or changed. Try again in a moment."
	}
	return unexpectedStatus(err)
}

func (s *Server) consentAPIError(w http.ResponseWriter, r *http.Request, err error) {
	var ve *consent.ValidationError
	if errors.As(err, &ve) {
		WriteValidation(w, r, "The consent request is not valid.", ve.Fields)
		return
	}
	status, msg := consentErrorMessage(err)
	if status == http.StatusInternalServerError {
		s.log.Error("consent", "request_id", RequestID(r.Context()), "route", r.Pattern, "err", err.Error())
	}
	WriteProblem(w, r, status, msg)
}

func (s *Server) consentPageError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := consentErrorMessage(err)
	if status == http.StatusInternalServerError {
		s.log.Error("consent", "request_id", RequestID(r.Context()), "route", r.Pattern, "err", err.Error())
	}
	s.renderError(w, r, status, msg)
}

// --- JSON API ---

type purposeJSON struct {
	Code             consent.PurposeCode `json:"code"`
	Title            string              `json:"title"`
	Description      string              `json:"description"`
	ExpressConsent   bool                `json:"express_consent_required"`
	ImpairmentNeedsX bool                `json:"impairment_data_requires_express_consent"`
	CurrentText      *textJSON           `json:"current_text,omitempty"`
}

type textJSON struct {
	ID          string     `json:"id"`
	Version     int        `json:"version"`
	Material    bool       `json:"material"`
	Body        string     `json:"body"`
	PublishedAt time.Time  `json:"published_at"`
	ValidUntil  *time.Time `json:"valid_until,omitempty"`
}

func toTextJSON(t consent.Text) *textJSON {
	if t.ID == "" {
		return nil
	}
	j := &textJSON{ID: t.ID, Version: t.Version, Material: t.Material, Body: t.Body, PublishedAt: t.PublishedAt}
	if !t.ValidUntil.IsZero() {
		v := t.ValidUntil
		j.ValidUntil = &v
	}
	return j
}

func (s *Server) apiConsentPurposes(w http.ResponseWriter, r *http.Request) {
	if !s.consentReady(w, r) {
		return
	}
	out := []purposeJSON{}
	for _, p := range consent.Purposes() {
		j := purposeJSON{Code: p.Code, Title: p.Title, Description: p.Description,
			ExpressConsent: p.NeedsExpressConsent(consent.General), ImpairmentNeedsX: p.NeedsExpressConsent(consent.Impairment)}
		t, err := s.consent.CurrentText(r.Context(), p.Code, time.Now())
		if err != nil && !errors.Is(err, consent.ErrNotFound) {
			s.consentAPIError(w, r, err)
			return
		}
		j.CurrentText = toTextJSON(t)
		out = append(out, j)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"purposes": out})
}

type eventJSON struct {
	ID             string    `json:"id"`
	Purpose        string    `json:"purpose"`
	Category       string    `json:"category"`
	Action         string    `json:"action"`
	TextID         string    `json:"text_id"`
	TextVersion    int       `json:"text_version"`
	Method         string    `json:"method"`
	DecidedBy      string    `json:"decided_by"`
	Representative string    `json:"representative,omitempty"`
	RecordedBy     string    `json:"recorded_by"`
	OnBehalfOf     string    `json:"on_behalf_of,omitempty"`
	HasForm        bool      `json:"has_form"`
	FormType       string    `json:"form_type,omitempty"`
	Note           string    `json:"note,omitempty"`
	RecordedAt     time.Time `json:"recorded_at"`
}

func toEventJSON(e consent.Event) eventJSON {
	return eventJSON{ID: e.ID, Purpose: string(e.Purpose), Category: string(e.Category), Action: string(e.Action),
		TextID: e.TextID, TextVersion: e.TextVersion, Method: string(e.Method), DecidedBy: string(e.DecidedBy),
		Representative: e.Representative, RecordedBy: e.RecordedBy, OnBehalfOf: e.OnBehalfOf, HasForm: e.HasForm(),
		FormType: e.FormType, Note: e.Note, RecordedAt: e.RecordedAt}
}

type standingJSON struct {
	Category string     `json:"category"`
	Required bool       `json:"express_consent_required"`
	Allowed  bool       `json:"allowed"`
	Reason   string     `json:"reason"`
	GrantID  string     `json:"grant_id,omitempty"`
	Since    *time.Time `json:"since,omitempty"`
}

func (s *Server) apiConsents(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	o, err := s.consent.Overview(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.consentAPIError(w, r, err)
		return
	}
	type purposeState struct {
		Code        string         `json:"purpose"`
		TextID      string         `json:"text_id"`
		TextVersion int            `json:"text_version"`
		Standings   []standingJSON `json:"standings"`
	}
	ps := []purposeState{}
	for _, pu := range o.Purposes {
		st := purposeState{Code: string(pu.Code), TextID: pu.Text.ID, TextVersion: pu.Text.Version}
		for _, sd := range pu.Standings {
			j := standingJSON{Category: string(sd.Category), Required: sd.Required, Allowed: sd.Allowed, Reason: sd.Reason, GrantID: sd.GrantID}
			if !sd.Since.IsZero() {
				t := sd.Since
				j.Since = &t
			}
			st.Standings = append(st.Standings, j)
		}
		ps = append(ps, st)
	}
	hist := []eventJSON{}
	for _, e := range o.History {
		hist = append(hist, toEventJSON(e))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"patient_id": o.PatientID, "minor": o.Minor, "purposes": ps, "history": hist})
}

type recordConsentJSON struct {
	Purpose  string `json:"purpose"`
	Category string `json:"category"`
	Action   string `json:"action"`
	TextID   string `json:"text_id"`
	Note     string `json:"note"`
}

func (s *Server) apiRecordConsent(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in recordConsentJSON
	if !DecodeJSON(w, r, &in) {
		return
	}
	ev, err := s.consent.Record(r.Context(), p, consent.Change{PatientID: r.PathValue("id"), Purpose: consent.PurposeCode(in.Purpose),
		Category: consent.DataCategory(in.Category), Action: consent.Action(in.Action), TextID: in.TextID, Note: in.Note, Method: consent.Portal})
	if err != nil {
		s.consentAPIError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, toEventJSON(ev))
}

// --- pages ---

type consentCell struct {
	Category string
	Label    string
	Required bool
	State    string
	Action   string // "grant", "withdraw" or "" when nothing can be done
	Button   string
	Aria     string
	Confirm  string // the question the confirmation step asks
}

type consentRow struct {
	Code        string
	Title       string
	Description string
	TextID      string
	TextVersion int
	TextBody    string
	Cells       []consentCell
}

type consentHistoryRow struct {
	ID, When, Purpose, Category, Action, Version, How, DecidedBy, RecordedBy, Note string
	HasForm                                                                        bool
	NoticeID, NoticeWords                                                          string // the privacy notice it was given under
}

// consentGroup is a section of the consent page: a few purposes with a
// plain explanation of what they have in common.
type consentGroup struct {
	Key, Title, Explanation string
	Rows                    []consentRow
	Given                   int // uses with consent given for either kind of information
}

type consentPageData struct {
	PatientID  string
	Groups     []consentGroup
	Changed    string // "purpose/category" of the change just made, highlighted
	Minor      bool
	SelfView   bool // the patient or their representative is looking
	CanDecide  bool // may click grant/withdraw
	IsMember   bool // staff view: may record a paper form
	ShowForms  bool
	Rows       []consentRow
	History    []consentHistoryRow
	Categories []string
}

func categoryLabel(c consent.DataCategory) string {
	if c == consent.Impairment {
		return "Information about impairments"
	}
	return "Your health information"
}

func when(t time.Time) string { return t.UTC().Format("2 Jan 2006 15:04 UTC") }

func stateWords(sd consent.Standing) string {
	switch sd.Reason {
	case consent.ReasonNotRequired:
		return "Not needed: this is part of the service"
	case consent.ReasonGranted:
		return "Given on " + when(sd.Since)
	case consent.ReasonWithdrawn:
		return "Withdrawn on " + when(sd.Since)
	case consent.ReasonSuperseded:
		return "Please decide again: the consent text changed"
	case consent.ReasonExpired:
		return "Please decide again: the consent text expired"
	}
	return "Not given"
}

func purposeTitle(code consent.PurposeCode) string {
	if p, ok := consent.Lookup(code); ok {
		return p.Title
	}
	return string(code)
}

func (s *Server) consentPageView(p *access.Principal, o consent.Overview) consentPageData {
	self := p.Role == access.RolePatient || p.Role == access.RoleRepresentative
	d := consentPageData{PatientID: o.PatientID, Minor: o.Minor, SelfView: self,
		CanDecide: self && (!o.Minor || p.Role == access.RoleRepresentative), IsMember: !self}
	d.ShowForms = d.IsMember
	for _, c := range consent.Categories {
		d.Categories = append(d.Categories, categoryLabel(c))
	}
	for _, pu := range o.Purposes {
		row := consentRow{Code: string(pu.Code), Title: pu.Title, Description: pu.Description, TextID: pu.Text.ID,
			TextVersion: pu.Text.Version, TextBody: pu.Text.Body}
		for _, sd := range pu.Standings {
			c := consentCell{Category: string(sd.Category), Label: categoryLabel(sd.Category), Required: sd.Required, State: stateWords(sd)}
			if sd.Required && d.CanDecide {
				if sd.Allowed {
					c.Action, c.Button = "withdraw", "Withdraw consent"
				} else {
					c.Action, c.Button = "grant", "Give consent"
				}
				c.Aria = c.Button + ": " + pu.Title + ", " + strings.ToLower(c.Label)
				c.Confirm = consentChangeWords(string(pu.Code), string(sd.Category), c.Action, false)
			}
			row.Cells = append(row.Cells, c)
		}
		d.Rows = append(d.Rows, row)
	}
	byCode := map[string]consentRow{}
	for _, row := range d.Rows {
		byCode[row.Code] = row
	}
	for _, g := range consent.Groups() {
		cg := consentGroup{Key: g.Key, Title: g.Title, Explanation: g.Explanation}
		for _, c := range g.Purposes {
			if row, ok := byCode[string(c)]; ok {
				cg.Rows = append(cg.Rows, row)
				for _, cell := range row.Cells {
					if strings.HasPrefix(cell.State, "Given") {
						cg.Given++
						break
					}
				}
			}
		}
		if len(cg.Rows) > 0 {
			d.Groups = append(d.Groups, cg)
		}
	}
	for _, e := range o.History {
		h := consentHistoryRow{ID: e.ID, When: when(e.RecordedAt), Purpose: purposeTitle(e.Purpose), Category: categoryLabel(e.Category),
			Action: "Given", Version: "version " + strconv.Itoa(e.TextVersion), Note: e.Note, HasForm: e.HasForm(), NoticeID: e.NoticeID}
		if e.Action == consent.Withdraw {
			h.Action = "Withdrawn"
		}
		h.How = "in the portal"
		if e.Method == consent.PaperForm {
			h.How = "signed paper form"
		} else if e.Method == consent.UnsubscribeLink {
			h.How = "unsubscribe link in an email"
		}
		h.DecidedBy = "the patient"
		if e.DecidedBy == consent.ByRepresentative {
			h.DecidedBy = "a personal representative"
		}
		switch {
		case e.RecordedBy == p.UserID:
			h.RecordedBy = "you"
		case e.Method == consent.PaperForm:
			h.RecordedBy = "clinic staff"
		default:
			h.RecordedBy = h.DecidedBy
		}
		d.History = append(d.History, h)
	}
	return d
}

var consentFlash = map[string]string{
	"grant":    "Your consent was recorded.",
	"withdraw": "Your consent was withdrawn. It stops any use from now on.",
	"paper":    "The signed form was stored and the consent recorded.",
}

// consentChangeWords says in words what a grant or withdrawal changes, for
// the confirmation step and for the message after it; "" for an unknown
// purpose, category or action.
func consentChangeWords(purpose, category, action string, done bool) string {
	pu, ok := consent.Lookup(consent.PurposeCode(purpose))
	if !ok || (category != "" && !consent.DataCategory(category).Valid()) {
		return ""
	}
	cat := consent.General
	if category != "" {
		cat = consent.DataCategory(category)
	}
	what := "“" + pu.Title + "” (" + strings.ToLower(categoryLabel(cat)) + ")"
	switch {
	case action == "grant" && done:
		return "You gave consent to " + what + ". You can withdraw it here at any time."
	case action == "grant":
		return "Give consent to " + what + "? From now on your information may be used for this: " + pu.Description
	case action == "withdraw" && done:
		return "You withdrew consent to " + what + ". It is not used for this from now on; use made while your consent stood is not undone."
	case action == "withdraw":
		return "Withdraw consent to " + what + "? From now on your information is no longer used for this. Use made while your consent stood is not undone."
	}
	return ""
}

func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	o, err := s.consent.Overview(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.consentPageError(w, r, err)
		return
	}
	q := r.URL.Query()
	d := s.consentPageView(p, o)
	s.describeNotices(r.Context(), d.History)
	flash := consentFlash[q.Get("saved")]
	// What changed is the newest entry, when the viewer made it just now.
	if saved := q.Get("saved"); (saved == "grant" || saved == "withdraw") && len(o.History) > 0 {
		e := o.History[0]
		if e.RecordedBy == p.UserID && string(e.Action) == saved && time.Since(e.RecordedAt) < 10*time.Minute {
			if words := consentChangeWords(string(e.Purpose), string(e.Category), saved, true); words != "" {
				flash, d.Changed = words, string(e.Purpose)+"/"+string(e.Category)
			}
		}
	}
	s.renderView(w, r, http.StatusOK, "consent", View{Title: s.patientTitle(r, "Consents", "Consents of %s", r.PathValue("id")), Data: d, Flash: flash})
}

// consentConfirmData is the confirmation step of a portal consent change.
type consentConfirmData struct {
	PatientID, Purpose, Category, Action, TextID, Question, Button string
}

func (s *Server) consentPost(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	id := r.PathValue("id")
	action := consent.Action(r.PostForm.Get("action"))
	purpose, category := r.PostForm.Get("purpose"), r.PostForm.Get("category")
	// A change is made only once confirmed: the page's dialog (confirm.js)
	// sends confirm=yes; without script the same question comes as a step
	// page. The step reads the consents (audited) to prove the asker may.
	if q := consentChangeWords(purpose, category, string(action), false); q != "" && r.PostForm.Get("confirm") != "yes" {
		if _, err := s.consent.Overview(r.Context(), p, id); err != nil {
			s.consentPageError(w, r, err)
			return
		}
		button := "Give consent"
		if action == consent.Withdraw {
			button = "Withdraw consent"
		}
		s.renderView(w, r, http.StatusOK, "consent_confirm", View{Title: "Confirm your choice", Data: consentConfirmData{PatientID: id,
			Purpose: purpose, Category: category, Action: string(action), TextID: r.PostForm.Get("text_id"), Question: q, Button: button}})
		return
	}
	_, err := s.consent.Record(r.Context(), p, consent.Change{PatientID: id, Purpose: consent.PurposeCode(r.PostForm.Get("purpose")),
		Category: consent.DataCategory(r.PostForm.Get("category")), Action: action, TextID: r.PostForm.Get("text_id"), Method: consent.Portal})
	if err != nil {
		var ve *consent.ValidationError
		if !errors.As(err, &ve) && !errors.Is(err, consent.ErrMinorNeedsRepresentative) && !errors.Is(err, consent.ErrTextNotCurrent) && !errors.Is(err, consent.ErrNotRepresentative) {
			s.consentPageError(w, r, err)
			return
		}
		// Show the page again with the reason at the top.
		msg := "The consent could not be recorded: " + firstReason(ve)
		if ve == nil {
			_, msg = consentErrorMessage(err)
		}
		o, oerr := s.consent.Overview(r.Context(), p, id)
		if oerr != nil {
			s.consentPageError(w, r, oerr)
			return
		}
		s.renderView(w, r, http.StatusUnprocessableEntity, "consent", View{Title: "Consents", Data: s.consentPageView(p, o), Error: msg})
		return
	}
	// The page after names the change from the ledger's newest entry, so the
	// URL carries no more than the kind of change.
	http.Redirect(w, r, "/patients/"+id+"/consents?saved="+string(action)+"#consent-changed", http.StatusSeeOther)
}

func firstReason(ve *consent.ValidationError) string {
	if ve == nil {
		return ""
	}
	for _, k := range []string{"purpose", "category", "action", "text_id", "method", "representative", "form", "note"} {
		if m := ve.Fields[k]; m != "" {
			return m
		}
	}
	for _, m := range ve.Fields {
		return m
	}
	return ""
}

type paperPageData struct {
	PatientID string
	Purposes  []consent.Purpose
	// Representatives are the patient's personal representatives on
	// record, named for the representative field's suggestions.
	Representatives []paperRepresentative
	RepsKnown       bool // the list could be read (records are configured)
	Fields          map[string]string
	Values          map[string]string
	MaxMiB          int
}

// paperRepresentative is a personal representative as the paper form
// names them: name, relationship and email, never their user id.
type paperRepresentative struct {
	Name, Relationship, Email string
	HasAccount                bool
	userID                    string
}

// paperRepresentatives reads the patient's personal representatives through
// the records service (audited: patient.representative_read). ok is false
// when the server has no records service to ask.
func (s *Server) paperRepresentatives(ctx context.Context, p *access.Principal, patientID string) (reps []paperRepresentative, ok bool, err error) {
	if s.records == nil {
		return nil, false, nil
	}
	rs, err := s.records.Patients.Representatives(ctx, p, patientID)
	if err != nil {
		return nil, true, err
	}
	for _, x := range rs {
		reps = append(reps, paperRepresentative{Name: x.Name, Relationship: strings.ReplaceAll(x.Relationship, "_", " "), Email: x.Email,
			HasAccount: x.UserID != "", userID: x.UserID})
	}
	return reps, true, nil
}

// findRepresentative picks, by name or email (case and spacing ignored),
// the representative who signed. It returns their user id, or a message
// for the field saying what to do.
func findRepresentative(reps []paperRepresentative, known bool, query string) (string, string) {
	q := strings.Join(strings.Fields(strings.ToLower(query)), " ")
	if q == "" {
		return "", ""
	}
	if !known {
		return "", "Representatives cannot be looked up on this server. Leave this empty if the patient signed."
	}
	var found []paperRepresentative
	for _, x := range reps {
		if strings.Join(strings.Fields(strings.ToLower(x.Name)), " ") == q || strings.ToLower(x.Email) == q {
			found = append(found, x)
		}
	}
	switch {
	case len(found) == 0:
		if len(reps) == 0 {
			return "", "No personal representative is on record for this patient. Add them on the patient's record first."
		}
		return "", "No personal representative of this patient has this name or email address. Choose one of those on record."
	case len(found) > 1:
		return "", "More than one representative has this name: enter their email address instead."
	case !found[0].HasAccount:
		return "", found[0].Name + " has no Custodia account yet. Invite them to the patient portal, then record the form."
	}
	return found[0].userID, ""
}

func (s *Server) paperConsentPage(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	// The read of the patient's consents is what proves the recorder may
	// act on this patient; it is audited.
	id := r.PathValue("id")
	if _, err := s.consent.Overview(r.Context(), p, id); err != nil {
		s.consentPageError(w, r, err)
		return
	}
	reps, known, err := s.paperRepresentatives(r.Context(), p, id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "consent_paper", View{Title: s.patientTitle(r, "Record a signed consent form", "Record a signed consent form for %s", id),
		Data: paperPageData{PatientID: id, Purposes: consent.Purposes(), MaxMiB: consent.MaxFormBytes >> 20, Representatives: reps, RepsKnown: known}})
}

// sniffForm decides a signed form's type from its first bytes, not from
// what the browser claims: PDF by its magic number, JPEG and PNG by
// http.DetectContentType. Anything else is refused.
func sniffForm(head []byte) (string, bool) {
	if bytes.HasPrefix(head, []byte("%PDF-")) {
		return "application/pdf", true
	}
	switch t := http.DetectContentType(head); t {
	case "image/jpeg", "image/png":
		return t, true
	}
	return "", false
}

// paperConsentPost streams the multipart upload: the fields come first and
// the file last (the form is laid out that way), so the file goes straight
// into the encrypting blob writer and never touches disk in plaintext (no
// ParseMultipartForm temp files).
func (s *Server) paperConsentPost(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	r.Body = http.MaxBytesReader(w, r.Body, consent.MaxFormBytes+(1<<20))
	data := paperPageData{PatientID: id, Purposes: consent.Purposes(), Fields: map[string]string{}, Values: map[string]string{},
		MaxMiB: consent.MaxFormBytes >> 20}
	fail := func(status int, msg string) {
		s.renderView(w, r, status, "consent_paper", View{Title: "Record a signed consent form", Data: data, Error: msg})
	}
	mr, err := r.MultipartReader()
	if err != nil {
		fail(http.StatusBadRequest, "The upload could not be read. Choose the file again and resend the form.")
		return
	}
	var recordErr error
	recorded := false
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				data.Fields["form"] = "The signed form is too large."
				fail(http.StatusRequestEntityTooLarge, "The signed form is too large.")
				return
			}
			fail(http.StatusBadRequest, "The upload could not be read. Choose the file again and resend the form.")
			return
		}
		name := part.FormName()
		if name != "form" {
			v, err := io.ReadAll(io.LimitReader(part, consent.MaxNoteBytes+1))
			part.Close()
			if err != nil {
				fail(http.StatusBadRequest, "The upload could not be read.")
				return
			}
			data.Values[name] = string(v)
			continue
		}
		if recorded {
			part.Close()
			continue
		}
		recorded = true
		// The fields came first: find the representative they name.
		repUID, repMsg, err := s.paperSigner(r.Context(), p, id, &data)
		if err != nil {
			part.Close()
			s.pageError(w, r, err)
			return
		}
		if repMsg != "" {
			data.Fields["representative"] = repMsg
		}
		br := bufio.NewReaderSize(part, 512)
		head, _ := br.Peek(512)
		change := s.paperChange(id, data.Values, repUID)
		if typ, ok := sniffForm(head); ok {
			change.Form, change.FormType = br, typ
		} else if len(head) > 0 {
			data.Fields["form"] = "The signed form must be a PDF, JPEG or PNG file."
		}
		if data.Fields["form"] == "" {
			_, recordErr = s.consent.Record(r.Context(), p, change)
		}
		part.Close()
	}
	if !recorded && len(data.Fields) == 0 {
		repUID, repMsg, err := s.paperSigner(r.Context(), p, id, &data)
		if err != nil {
			s.pageError(w, r, err)
			return
		}
		if repMsg != "" {
			data.Fields["representative"] = repMsg
		} else {
			_, recordErr = s.consent.Record(r.Context(), p, s.paperChange(id, data.Values, repUID))
		}
	}
	var ve *consent.ValidationError
	switch {
	case len(data.Fields) > 0:
		fail(http.StatusUnprocessableEntity, "The consent was not recorded. Correct the fields marked below.")
	case errors.As(recordErr, &ve):
		data.Fields = ve.Fields
		fail(http.StatusUnprocessableEntity, "The consent was not recorded. Correct the fields marked below.")
	case recordErr != nil:
		status, msg := consentErrorMessage(recordErr)
		if status == http.StatusInternalServerError {
			s.log.Error("record paper consent", "request_id", RequestID(r.Context()), "err", recordErr.Error())
		}
		fail(status, "The consent was not recorded. "+msg)
	default:
		http.Redirect(w, r, "/patients/"+id+"/consents?saved=paper", http.StatusSeeOther)
	}
}

// paperSigner resolves the representative the form's field names (by name
// or email, among the patient's representatives; an audited read), and
// keeps the list for the page if it is shown again.
func (s *Server) paperSigner(ctx context.Context, p *access.Principal, patientID string, data *paperPageData) (string, string, error) {
	q := strings.TrimSpace(data.Values["representative"])
	if q == "" {
		return "", "", nil
	}
	reps, known, err := s.paperRepresentatives(ctx, p, patientID)
	if err != nil {
		return "", "", err
	}
	data.Representatives, data.RepsKnown = reps, known
	uid, msg := findRepresentative(reps, known, q)
	return uid, msg, nil
}

func (s *Server) paperChange(patientID string, v map[string]string, representative string) consent.Change {
	return consent.Change{PatientID: patientID, Purpose: consent.PurposeCode(v["purpose"]), Category: consent.DataCategory(v["category"]),
		Action: consent.Action(v["action"]), Method: consent.PaperForm, Representative: representative,
		Note: strings.TrimSpace(v["note"])}
}

func (s *Server) consentForm(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	rc, typ, err := s.consent.Form(r.Context(), p, r.PathValue("id"), r.PathValue("event"))
	if err != nil {
		s.consentPageError(w, r, err)
		return
	}
	defer rc.Close()
	w.Header().Set("Content-Type", typ)
	w.Header().Set("Content-Disposition", `attachment; filename="signed-consent-form"`)
	if _, err := io.Copy(w, rc); err != nil {
		// Headers are gone; a truncated or tampered object ends the response early.
		s.log.Warn("stream signed form", "request_id", RequestID(r.Context()), "err", err.Error())
	}
}
