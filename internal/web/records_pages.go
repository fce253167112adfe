package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/patient"
)

func init() {
	funcs["age"] = func(s patient.Summary) int { return s.Age(time.Now()) }
	funcs["date"] = func(t time.Time) string { return t.UTC().Format("2006-01-02 15:04 UTC") }
	funcs["mark"] = func(d access.Decision) string { return d.Mark() }
	funcs["heightValue"] = func(n int) string {
		if n == 0 {
			return ""
		}
		return strconv.Itoa(n)
	}
	// dict builds a map for a sub-template: (dict "Name" "x" "Label" "y").
	funcs["dict"] = func(kv ...any) map[string]any {
		m := make(map[string]any, len(kv)/2)
		for i := 0; i+1 < len(kv); i += 2 {
			k, _ := kv[i].(string)
			m[k] = kv[i+1]
		}
		return m
	}
}

// The records pages: clinicians' patient list, search, profile and case
// pages; the patient's own profile and shared cases; the privacy officer's
// break-glass reviews; the access matrix.
func (s *Server) routesRecordsPages(mux Mux) {
	if s.records == nil {
		return
	}
	// form registers a page that reads no record (an empty form, a static
	// reference); h registers a PHI page, under the guard.
	wrap := func(fn func(http.ResponseWriter, *http.Request, *access.Principal)) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			if p == nil {
				s.renderError(w, r, http.StatusUnauthorized, "Sign in to see patient records.")
				return
			}
			if r.Method == http.MethodPost {
				r.Body = http.MaxBytesReader(w, r.Body, 256<<10)
				if err := r.ParseForm(); err != nil {
					s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
					return
				}
			}
			fn(w, r, p)
		}
	}
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, *access.Principal)) {
		s.phi(mux, pattern, auditedByService, wrap(fn))
	}
	form := func(pattern string, fn func(http.ResponseWriter, *http.Request, *access.Principal)) {
		mux.HandleFunc(pattern, wrap(fn))
	}
	h("GET /patients", s.pagePatients)
	h("POST /patients/search", s.pageSearch)
	form("GET /patients/new", s.pageNewPatient)
	h("POST /patients", s.pageCreatePatient)
	h("GET /patients/{id}", s.pagePatient)
	h("GET /patients/{id}/edit", s.pageEditPatient)
	h("POST /patients/{id}/edit", s.pageUpdatePatient)
	h("POST /patients/{id}/care-team", s.pageCareTeam)
	h("POST /patients/{id}/break-glass", s.pageBreakGlass)
	h("POST /patients/{id}/portal-invitation", s.pagePortalInvite)
	h("POST /patients/{id}/cases", s.pageCreateCase)
	h("GET /cases/{id}", s.pageCase)
	h("POST /cases/{id}/edit", s.pageUpdateCase)
	h("GET /cases/{id}/history", s.pageCaseHistory)
	h("POST /cases/{id}/comments", s.pageAddComment)
	h("POST /cases/{id}/collaborators", s.pageCollaborators)
	h("POST /cases/{id}/sharing", s.pageShare)
	h("GET /me", s.pageMe)
	h("GET /privacy/break-glass", s.pageReviews)
	h("POST /privacy/break-glass/{id}", s.pageMarkReviewed)
	h("POST /privacy/break-glass/changes/{id}", s.pageDecideChange)
	form("GET /access/matrix", s.pageMatrix)
}

func fieldsOf(err error) map[string]string {
	var inv *patient.InvalidError
	if errors.As(err, &inv) {
		return inv.Fields
	}
	return nil
}

type patientsView struct {
	Page     *patient.Page
	Query    patient.Query
	Searched bool
	Errors   map[string]string
}

func (s *Server) pagePatients(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	pg, err := s.records.Patients.List(r.Context(), p, r.URL.Query().Get("cursor"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "patients", View{Title: "Patients", Data: patientsView{Page: pg}})
}

// pageSearch takes the terms from a POST body, never a URL, so they stay
// out of logs, history and referrers.
func (s *Server) pageSearch(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	q := patient.Query{Name: r.PostFormValue("name"), BirthDate: r.PostFormValue("birth_date"), MRN: r.PostFormValue("mrn"), Email: r.PostFormValue("email")}
	pg, err := s.records.Patients.Search(r.Context(), p, q)
	if f := fieldsOf(err); f != nil {
		s.renderView(w, r, http.StatusUnprocessableEntity, "patients", View{Title: "Search patients", Error: "Check the search fields.",
			Data: patientsView{Query: q, Searched: true, Errors: f, Page: &patient.Page{}}})
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "patients", View{Title: "Search results", Data: patientsView{Page: pg, Query: q, Searched: true}})
}

type patientFormView struct {
	Action       string
	ID           string
	Version      int
	Profile      patient.Profile
	Errors       map[string]string
	Sexes        []string
	Lateralities []string
	// New patients: the email of the clinician they are registered for,
	// asked of those who do not treat patients themselves.
	AskTreating bool
	Treating    string
}

func (s *Server) renderPatientForm(w http.ResponseWriter, r *http.Request, status int, v patientFormView, msg string) {
	v.Sexes, v.Lateralities = patient.Sexes, patient.Lateralities
	title := "New patient"
	if v.ID != "" {
		title = "Edit patient"
	}
	s.renderView(w, r, status, "patient_form", View{Title: title, Data: v, Error: msg})
}

func (s *Server) pageNewPatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.renderPatientForm(w, r, http.StatusOK, patientFormView{Action: "/patients", AskTreating: !p.Has(access.RoleClinician)}, "")
}

// profileFromForm reads a profile; a height that is not a number is a field
// error of its own.
func profileFromForm(r *http.Request) (patient.Profile, map[string]string) {
	f := r.PostFormValue
	pr := patient.Profile{GivenName: f("given_name"), FamilyName: f("family_name"), Email: f("email"), Phone: f("phone"),
		BirthDate: f("birth_date"), Gender: f("gender"), BiologicalSex: f("biological_sex"), Race: f("race"),
		EyeColour: f("eye_colour"), Laterality: f("laterality"), MRN: f("mrn"),
		Address: patient.Address{Line1: f("address.line1"), Line2: f("address.line2"), City: f("address.city"),
			Region: f("address.region"), PostalCode: f("address.postal_code"), Country: f("address.country")}}
	if h := strings.TrimSpace(f("height_cm")); h != "" {
		n, err := strconv.Atoi(h)
		if err != nil {
			return pr, map[string]string{"height_cm": "must be a whole number of centimetres"}
		}
		pr.HeightCM = n
	}
	return pr, nil
}

func (s *Server) pageCreatePatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	pr, bad := profileFromForm(r)
	v := patientFormView{Action: "/patients", Profile: pr, Errors: bad, AskTreating: !p.Has(access.RoleClinician),
		Treating: strings.TrimSpace(r.PostFormValue("treating"))}
	treating := ""
	if v.Treating != "" && s.identity != nil {
		uid, ok := s.identity.ClinicianByEmail(r.Context(), v.Treating, p.WorkspaceID)
		if !ok {
			if bad == nil {
				bad = map[string]string{}
			}
			bad["treating"] = "No clinician of this practice signs in with this email address. Check it, or leave it empty and add the care team later."
			v.Errors = bad
		}
		treating = uid
	}
	if bad != nil {
		s.renderPatientForm(w, r, http.StatusUnprocessableEntity, v, "Some fields need attention.")
		return
	}
	x, err := s.records.Patients.CreateFor(r.Context(), p, pr, treating)
	if f := fieldsOf(err); f != nil {
		v.Errors = f
		s.renderPatientForm(w, r, http.StatusUnprocessableEntity, v, "Some fields need attention.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+x.ID, http.StatusSeeOther)
}

func (s *Server) pageEditPatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	x, err := s.records.Patients.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderPatientForm(w, r, http.StatusOK, patientFormView{Action: "/patients/" + x.ID + "/edit", ID: x.ID, Version: x.Version, Profile: x.Profile}, "")
}

func (s *Server) pageUpdatePatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	pr, bad := profileFromForm(r)
	v := patientFormView{Action: "/patients/" + id + "/edit", ID: id, Version: version, Profile: pr, Errors: bad}
	if bad != nil {
		s.renderPatientForm(w, r, http.StatusUnprocessableEntity, v, "Some fields need attention.")
		return
	}
	_, err := s.records.Patients.Update(r.Context(), p, id, version, pr)
	if f := fieldsOf(err); f != nil {
		v.Errors = f
		s.renderPatientForm(w, r, http.StatusUnprocessableEntity, v, "Some fields need attention.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id, http.StatusSeeOther)
}

type patientView struct {
	Patient     *patient.Patient
	CareTeam    []patient.Member
	Cases       []casefile.Listed
	CanCases    bool
	ReasonCodes []string
	Glass       map[string]string // break-glass form errors
	GlassReason string
	GlassCode   string
	CaseErrors  map[string]string
	CaseTitle   string
	CaseDate    string
	TeamErrors  map[string]string
	// CanBreakGlass: emergency access is offered only to those the policy
	// would let open it (clinicians), never as a form ending in a 403.
	CanBreakGlass bool
	// CanManageTeam: the care-team forms are shown to those who may use them.
	CanManageTeam bool
	Roles         string // the viewer's roles in words, for the explanation
}

// pagePatient shows what p may see: the full profile, care team and cases,
// or the summary with the break-glass form. Each part is its own audited read.
func (s *Server) pagePatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.showPatient(w, r, p, http.StatusOK, patientView{}, "", "")
}

func (s *Server) showPatient(w http.ResponseWriter, r *http.Request, p *access.Principal, status int, v patientView, flash, msg string) {
	ctx := r.Context()
	// One load of the patient row; the profile, the care team and the
	// cases are still three audited reads.
	rec, err := s.records.Patients.ViewRecord(ctx, p, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.Patient, v.CareTeam, v.ReasonCodes = rec.Patient, rec.CareTeam, patient.ReasonCodes
	v.CanBreakGlass = access.Decide(p, access.BreakGlass, rec.Standing.Resource()).Allow
	v.CanManageTeam = access.Decide(p, access.CareTeamManage, rec.Standing.Resource()).Allow || rec.Patient.BreakGlass
	var names []string
	for _, role := range heldRoles(p) {
		names = append(names, roleLabel(role))
	}
	v.Roles = strings.Join(names, ", ")
	if !rec.Patient.Limited {
		v.Cases, err = s.records.Cases.ListFor(ctx, p, rec.Standing)
		switch {
		case err == nil:
			v.CanCases = true
		case errors.Is(err, patient.ErrForbidden), errors.Is(err, patient.ErrNotFound):
			// A privacy officer reads the profile but not the cases.
		default:
			s.pageError(w, r, err)
			return
		}
	}
	s.renderView(w, r, status, "patient", View{Title: "Patient", Data: v, Flash: flash, Error: msg})
}

// pagePortalInvite invites the patient (or, for a minor, each linked
// representative) to the portal at the address on the profile: the front
// desk's job as much as the clinician's.
func (s *Server) pagePortalInvite(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	invs, err := s.records.Patients.InvitePortal(r.Context(), p, r.PathValue("id"))
	if f := fieldsOf(err); f != nil {
		msg := "The invitation was not sent"
		for _, reason := range f {
			msg += ": " + reason
		}
		msg += "."
		s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{}, "", msg)
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	flash := "The portal invitation is on its way to the address on the profile. The link works once, for 7 days."
	if len(invs) > 0 && invs[0].Relationship == "representative" {
		flash = "The patient is under 18: each linked representative has been invited to the portal. The link works once, for 7 days."
	}
	s.showPatient(w, r, p, http.StatusOK, patientView{}, flash, "")
}

func (s *Server) pageCareTeam(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id, user := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("user_id"))
	if email := strings.TrimSpace(r.PostFormValue("email")); user == "" && s.identity != nil {
		uid, ok := s.identity.ClinicianByEmail(r.Context(), email, p.WorkspaceID)
		if !ok {
			s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{TeamErrors: map[string]string{
				"email": "No clinician of this workspace signs in with this email address. Check the address, or ask an admin to invite them first."}},
				"", "The care team was not changed.")
			return
		}
		user = uid
	}
	var err error
	if r.PostFormValue("op") == "remove" {
		err = s.records.Patients.RemoveFromCareTeam(r.Context(), p, id, user)
	} else {
		err = s.records.Patients.AddToCareTeam(r.Context(), p, id, user)
	}
	if f := fieldsOf(err); f != nil {
		s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{TeamErrors: f}, "", "The care team was not changed.")
		return
	}
	if errors.As(err, new(*patient.AwaitingApproval)) {
		s.showPatient(w, r, p, http.StatusAccepted, patientView{}, pendingMessage, "")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/patients/"+id, http.StatusSeeOther)
}

func (s *Server) pageBreakGlass(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	code, reason := r.PostFormValue("reason_code"), r.PostFormValue("reason")
	if msg := s.reauthenticate(r, p, id, r.PostFormValue("password")); msg != "" {
		s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{Glass: map[string]string{"password": msg}, GlassReason: reason, GlassCode: code},
			"", "Emergency access was not opened.")
		return
	}
	_, err := s.records.Patients.BreakGlass(r.Context(), p, id, code, reason)
	if f := fieldsOf(err); f != nil {
		s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{Glass: f, GlassReason: reason, GlassCode: code}, "", "Emergency access was not opened.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.showPatient(w, r, p, http.StatusOK, patientView{}, "Emergency access is open for 4 hours. Every view is recorded and the privacy officer will review it.", "")
}

func (s *Server) pageCreateCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	title, date, notes := r.PostFormValue("title"), r.PostFormValue("date"), r.PostFormValue("notes")
	c, err := s.records.Cases.Create(r.Context(), p, id, casefile.Input{Title: &title, Date: &date, Notes: &notes})
	if f := fieldsOf(err); f != nil {
		s.showPatient(w, r, p, http.StatusUnprocessableEntity, patientView{CaseErrors: f, CaseTitle: title, CaseDate: date}, "", "The case was not opened.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cases/"+c.ID, http.StatusSeeOther)
}

type caseView struct {
	Case        *casefile.Case
	Patient     *patient.Patient
	Errors      map[string]string
	Form        casefile.Body
	Status      string
	Comment     string
	CommentErrs map[string]string
	CollabErrs  map[string]string
	Files       caseFiles
}

func (s *Server) pageCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.showCase(w, r, p, http.StatusOK, caseView{}, "")
}

func (s *Server) showCase(w http.ResponseWriter, r *http.Request, p *access.Principal, status int, v caseView, msg string) {
	c, err := s.records.Cases.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	v.Case = c
	if v.Errors == nil {
		v.Form, v.Status = c.Body, c.Status
	}
	if !c.Limited {
		// The minimum a collaborator needs about the patient.
		if v.Patient, err = s.records.Patients.GetSummary(r.Context(), p, c.PatientID); err != nil {
			s.pageError(w, r, err)
			return
		}
	}
	v.Files = s.loadCaseFiles(r.Context(), p, c.ID)
	s.renderView(w, r, status, "case", View{Title: "Case", Data: v, Error: msg})
}

func (s *Server) pageUpdateCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	version, _ := strconv.Atoi(r.PostFormValue("version"))
	title, date, status, notes := r.PostFormValue("title"), r.PostFormValue("date"), r.PostFormValue("status"), r.PostFormValue("notes")
	_, err := s.records.Cases.Update(r.Context(), p, id, version, casefile.Input{Title: &title, Date: &date, Status: &status, Notes: &notes})
	if f := fieldsOf(err); f != nil {
		s.showCase(w, r, p, http.StatusUnprocessableEntity, caseView{Errors: f, Form: casefile.Body{Title: title, Date: date, Notes: notes}, Status: status}, "The case was not saved.")
		return
	}
	if errors.Is(err, patient.ErrConflict) {
		s.showCase(w, r, p, http.StatusConflict, caseView{}, "Someone else saved this case since you opened it. Their version is shown; make your change again.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

func (s *Server) pageCaseHistory(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	revs, err := s.records.Cases.Revisions(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "case_history", View{Title: "Case history", Data: map[string]any{"ID": r.PathValue("id"), "Revisions": revs}})
}

func (s *Server) pageAddComment(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	text := r.PostFormValue("text")
	_, err := s.records.Cases.AddComment(r.Context(), p, id, r.PostFormValue("kind"), text, r.PostFormValue("anchor"))
	if f := fieldsOf(err); f != nil {
		s.showCase(w, r, p, http.StatusUnprocessableEntity, caseView{CommentErrs: f, Comment: text}, "The comment was not added.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cases/"+id+"#comments", http.StatusSeeOther)
}

func (s *Server) pageCollaborators(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id, user := r.PathValue("id"), strings.TrimSpace(r.PostFormValue("user_id"))
	if email := strings.TrimSpace(r.PostFormValue("email")); user == "" && s.identity != nil {
		uid, ok := s.identity.ClinicianByEmail(r.Context(), email, "")
		if !ok {
			s.showCase(w, r, p, http.StatusUnprocessableEntity, caseView{CollabErrs: map[string]string{
				"email": "No doctor signs in to Custodia with this email address. Ask them to sign up (it is free for their practice), then add them here."}},
				"The collaborators were not changed.")
			return
		}
		user = uid
	}
	var err error
	if r.PostFormValue("op") == "remove" {
		err = s.records.Cases.RemoveCollaborator(r.Context(), p, id, user)
	} else {
		err = s.records.Cases.AddCollaborator(r.Context(), p, id, user)
	}
	if f := fieldsOf(err); f != nil {
		s.showCase(w, r, p, http.StatusUnprocessableEntity, caseView{CollabErrs: f}, "The collaborators were not changed.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

func (s *Server) pageShare(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	id := r.PathValue("id")
	sh := casefile.Sharing{Shared: r.PostFormValue("shared") == "on", NotesShared: r.PostFormValue("notes_shared") == "on"}
	if sh.NotesShared {
		sh.Shared = true
	}
	if err := s.records.Cases.Share(r.Context(), p, id, sh); err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/cases/"+id, http.StatusSeeOther)
}

// pageMe is the patient's (or representative's) own record: the profile
// and the cases shared with them.
func (s *Server) pageMe(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if p.PatientID == "" {
		s.renderError(w, r, http.StatusNotFound, "This page is for patients. Clinicians find patients under Patients.")
		return
	}
	x, err := s.records.Patients.Get(r.Context(), p, p.PatientID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	cs, err := s.records.Cases.List(r.Context(), p, p.PatientID)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "me", View{Title: "My record", Data: map[string]any{"Patient": x, "Cases": cs}})
}

func (s *Server) pageReviews(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	flash := ""
	switch r.URL.Query().Get("decided") {
	case "approved":
		flash = "The care-team change was approved and is now in effect."
	case "rejected":
		flash = "The care-team change was rejected; the care team is unchanged."
	case "reviewed":
		flash = "The review was saved."
	}
	s.renderReviews(w, r, p, http.StatusOK, flash, "")
}

func (s *Server) pageMarkReviewed(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	err := s.records.Patients.MarkReviewed(r.Context(), p, r.PathValue("id"), r.PostFormValue("notes"))
	if fieldsOf(err) != nil {
		s.renderReviews(w, r, p, http.StatusUnprocessableEntity, "", "The review was not saved: "+strings.Join(reasons(fieldsOf(err)), "; "))
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/privacy/break-glass?decided=reviewed", http.StatusSeeOther)
}

func reasons(f map[string]string) []string {
	var out []string
	for k, v := range f {
		out = append(out, k+" "+v)
	}
	return out
}

// WorkspaceMember is one row of the members table on the matrix page.
type WorkspaceMember struct {
	UserID string
	Name   string
	Role   access.Role   // the primary role
	Roles  []access.Role // every role held
}

func (s *Server) pageMatrix(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	// Admins and privacy officers see who holds each role today; others
	// see the policy alone.
	var members []WorkspaceMember
	listed := false
	if s.identity != nil && p.WorkspaceID != "" {
		if ms, err := s.identity.Members(r.Context(), p, p.WorkspaceID); err == nil {
			listed = true
			for _, m := range ms {
				members = append(members, WorkspaceMember{UserID: m.UserID, Name: m.Name, Role: m.Role, Roles: m.Roles})
			}
		}
	}
	s.renderView(w, r, http.StatusOK, "access_matrix", View{Title: "Who may do what", Data: map[string]any{
		"Actions": access.Actions, "Rows": policyMatrix(), "Scopes": scopeMatrix(), "Members": members, "MembersWired": listed}})
}

var scopeMatrix = sync.OnceValue(access.ScopeMatrix)

// policyMatrix is the policy evaluated for every role and relationship; it
// never changes while the server runs, so it is built once.
var policyMatrix = sync.OnceValue(access.Matrix)
