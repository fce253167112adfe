package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/patient"
)

// The records JSON API (documented in openapi/30-records.json). Handlers
// decode, call the service with the request's principal and encode; the
// service decides, audits and decrypts.
func (s *Server) routesRecordsAPI(mux Mux) {
	if s.records == nil {
		return
	}
	h := func(pattern string, fn func(http.ResponseWriter, *http.Request, *access.Principal)) {
		s.phi(mux, pattern, auditedByService, func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			if p == nil {
				w.Header().Set("WWW-Authenticate", `Bearer realm="custodia"`)
				WriteProblem(w, r, http.StatusUnauthorized, "Sign in or send an API token.")
				return
			}
			fn(w, r, p)
		})
	}
	h("GET /api/v1/patients", s.apiListPatients)
	h("POST /api/v1/patients", s.apiCreatePatient)
	h("POST /api/v1/patients/search", s.apiSearchPatients)
	h("GET /api/v1/patients/{id}", s.apiGetPatient)
	h("PUT /api/v1/patients/{id}", s.apiUpdatePatient)
	h("GET /api/v1/patients/{id}/summary", s.apiPatientSummary)
	h("GET /api/v1/patients/{id}/care-team", s.apiCareTeam)
	h("POST /api/v1/patients/{id}/care-team", s.apiAddCareTeam)
	h("DELETE /api/v1/patients/{id}/care-team/{userID}", s.apiRemoveCareTeam)
	h("GET /api/v1/patients/{id}/representatives", s.apiRepresentatives)
	h("POST /api/v1/patients/{id}/representatives", s.apiAddRepresentative)
	h("POST /api/v1/patients/{id}/portal-invitations", s.apiInvitePortal)
	h("POST /api/v1/patients/{id}/break-glass", s.apiBreakGlass)
	h("GET /api/v1/patients/{id}/cases", s.apiListCases)
	h("POST /api/v1/patients/{id}/cases", s.apiCreateCase)
	h("GET /api/v1/cases/{id}", s.apiGetCase)
	h("PATCH /api/v1/cases/{id}", s.apiUpdateCase)
	h("GET /api/v1/cases/{id}/revisions", s.apiCaseRevisions)
	h("POST /api/v1/cases/{id}/comments", s.apiAddComment)
	h("PUT /api/v1/cases/{id}/comments/{commentID}", s.apiEditComment)
	h("POST /api/v1/cases/{id}/collaborators", s.apiAddCollaborator)
	h("DELETE /api/v1/cases/{id}/collaborators/{userID}", s.apiRemoveCollaborator)
	h("PUT /api/v1/cases/{id}/sharing", s.apiShareCase)
	h("GET /api/v1/break-glass/reviews", s.apiReviews)
	h("POST /api/v1/break-glass/reviews/{id}", s.apiMarkReviewed)
	h("POST /api/v1/break-glass/changes/{id}", s.apiDecideChange)
	h("GET /api/v1/me/patient", s.apiMyProfile)
	h("GET /api/v1/me/cases", s.apiMyCases)
}

type patientJSON struct {
	ID         string           `json:"id"`
	Version    int              `json:"version"`
	CreatedAt  time.Time        `json:"created_at"`
	UpdatedAt  time.Time        `json:"updated_at"`
	Limited    bool             `json:"limited"`
	BreakGlass bool             `json:"break_glass"`
	Profile    *patient.Profile `json:"profile,omitempty"`
	Summary    patient.Summary  `json:"summary"`
}

func toPatientJSON(x *patient.Patient) patientJSON {
	j := patientJSON{ID: x.ID, Version: x.Version, CreatedAt: x.CreatedAt.UTC(), UpdatedAt: x.UpdatedAt.UTC(),
		Limited: x.Limited, BreakGlass: x.BreakGlass, Summary: x.Summary}
	if !x.Limited {
		prof := x.Profile
		j.Profile = &prof
	}
	return j
}

type listedJSON struct {
	ID        string          `json:"id"`
	CreatedAt time.Time       `json:"created_at"`
	Summary   patient.Summary `json:"summary"`
}

type pageJSON struct {
	Patients []listedJSON `json:"patients"`
	Next     string       `json:"next,omitempty"`
	More     bool         `json:"more,omitempty"`
}

func toPageJSON(pg *patient.Page) pageJSON {
	j := pageJSON{Patients: []listedJSON{}, Next: pg.Next, More: pg.More}
	for _, l := range pg.Patients {
		j.Patients = append(j.Patients, listedJSON{ID: l.ID, CreatedAt: l.CreatedAt.UTC(), Summary: l.Summary})
	}
	return j
}

func (s *Server) apiListPatients(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	pg, err := s.records.Patients.List(r.Context(), p, r.URL.Query().Get("cursor"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPageJSON(pg))
}

func (s *Server) apiCreatePatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in patient.Profile
	if !DecodeJSON(w, r, &in) {
		return
	}
	x, err := s.records.Patients.Create(r.Context(), p, in)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/patients/"+x.ID)
	WriteJSON(w, http.StatusCreated, toPatientJSON(x))
}

func (s *Server) apiSearchPatients(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var q patient.Query
	if !DecodeJSON(w, r, &q) {
		return
	}
	pg, err := s.records.Patients.Search(r.Context(), p, q)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPageJSON(pg))
}

func (s *Server) apiGetPatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	x, err := s.records.Patients.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPatientJSON(x))
}

func (s *Server) apiPatientSummary(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	x, err := s.records.Patients.GetSummary(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPatientJSON(x))
}

func (s *Server) apiUpdatePatient(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in struct {
		Version int             `json:"version"`
		Profile patient.Profile `json:"profile"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if in.Version < 1 {
		WriteValidation(w, r, "Some fields need attention.", map[string]string{"version": "send the version you read"})
		return
	}
	x, err := s.records.Patients.Update(r.Context(), p, r.PathValue("id"), in.Version, in.Profile)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPatientJSON(x))
}

type memberJSON struct {
	UserID  string    `json:"user_id"`
	AddedBy string    `json:"added_by"`
	AddedAt time.Time `json:"added_at"`
}

type userRef struct {
	UserID string `json:"user_id"`
}

func (s *Server) apiCareTeam(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	ms, err := s.records.Patients.CareTeam(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := []memberJSON{}
	for _, m := range ms {
		out = append(out, memberJSON{UserID: m.UserID, AddedBy: m.AddedBy, AddedAt: m.AddedAt.UTC()})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (s *Server) apiAddCareTeam(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in userRef
	if !DecodeJSON(w, r, &in) {
		return
	}
	s.careTeamAnswer(w, r, s.records.Patients.AddToCareTeam(r.Context(), p, r.PathValue("id"), in.UserID))
}

func (s *Server) apiRemoveCareTeam(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.careTeamAnswer(w, r, s.records.Patients.RemoveFromCareTeam(r.Context(), p, r.PathValue("id"), r.PathValue("userID")))
}

// careTeamAnswer is 204 for a change made, 202 with the request's id for a
// change asked for under break-glass, which waits for a privacy officer.
func (s *Server) careTeamAnswer(w http.ResponseWriter, r *http.Request, err error) {
	var wait *patient.AwaitingApproval
	switch {
	case errors.As(err, &wait):
		WriteJSON(w, http.StatusAccepted, map[string]string{"status": "pending", "change_id": wait.ChangeID, "detail": pendingMessage})
	case err != nil:
		s.apiError(w, r, err)
	default:
		w.WriteHeader(http.StatusNoContent)
	}
}

func (s *Server) apiRepresentatives(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	reps, err := s.records.Patients.Representatives(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	if reps == nil {
		reps = []patient.Representative{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"representatives": reps})
}

func (s *Server) apiAddRepresentative(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in struct {
		Relationship string `json:"relationship"`
		Name         string `json:"name"`
		Email        string `json:"email"`
		UserID       string `json:"user_id"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	rep, err := s.records.Patients.AddRepresentative(r.Context(), p, r.PathValue("id"),
		patient.Representative{Relationship: in.Relationship, Name: in.Name, Email: in.Email, UserID: in.UserID})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, rep)
}

func (s *Server) apiInvitePortal(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	invs, err := s.records.Patients.InvitePortal(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := []map[string]string{}
	for _, inv := range invs {
		out = append(out, map[string]string{"relationship": inv.Relationship})
	}
	WriteJSON(w, http.StatusAccepted, map[string]any{"invitations": out})
}

type breakGlassIn struct {
	ReasonCode string `json:"reason_code"`
	Reason     string `json:"reason"`
	Password   string `json:"password"` // re-authentication (RULES §4)
}

func (s *Server) apiBreakGlass(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in breakGlassIn
	if !DecodeJSON(w, r, &in) {
		return
	}
	if msg := s.reauthenticate(r, p, r.PathValue("id"), in.Password); msg != "" {
		WriteValidation(w, r, "Emergency access needs your password again.", map[string]string{"password": msg})
		return
	}
	g, err := s.records.Patients.BreakGlass(r.Context(), p, r.PathValue("id"), in.ReasonCode, in.Reason)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"grant_id": g.ID, "patient_id": g.PatientID, "reason_code": g.ReasonCode,
		"created_at": g.CreatedAt.UTC(), "expires_at": g.ExpiresAt.UTC()})
}

type caseInJSON struct {
	Title   *string `json:"title"`
	Date    *string `json:"date"`
	Status  *string `json:"status"`
	Notes   *string `json:"notes"`
	Version int     `json:"version,omitempty"`
}

type commentJSON struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	AuthorID  string    `json:"author_id"`
	CreatedAt time.Time `json:"created_at"`
	Versions  int       `json:"versions"`
	Text      string    `json:"text"`
	Anchor    string    `json:"anchor,omitempty"`
}

type caseJSON struct {
	ID            string        `json:"id"`
	PatientID     string        `json:"patient_id"`
	Title         string        `json:"title"`
	Date          string        `json:"date,omitempty"`
	Status        string        `json:"status"`
	Notes         string        `json:"notes,omitempty"`
	Shared        bool          `json:"shared"`
	NotesShared   bool          `json:"notes_shared"`
	Version       int           `json:"version"`
	CreatedBy     string        `json:"created_by"`
	CreatedAt     time.Time     `json:"created_at"`
	UpdatedAt     time.Time     `json:"updated_at"`
	Limited       bool          `json:"limited"`
	BreakGlass    bool          `json:"break_glass"`
	Comments      []commentJSON `json:"comments,omitempty"`
	Collaborators []memberJSON  `json:"collaborators,omitempty"`
}

func toCaseJSON(c *casefile.Case) caseJSON {
	j := caseJSON{ID: c.ID, PatientID: c.PatientID, Title: c.Title, Date: c.Date, Status: c.Status, Notes: c.Notes,
		Shared: c.Shared, NotesShared: c.NotesShared, Version: c.Version, CreatedBy: c.CreatedBy,
		CreatedAt: c.CreatedAt.UTC(), UpdatedAt: c.UpdatedAt.UTC(), Limited: c.Limited, BreakGlass: c.BreakGlass}
	for _, m := range c.Comments {
		j.Comments = append(j.Comments, toCommentJSON(&m))
	}
	for _, m := range c.Collaborators {
		j.Collaborators = append(j.Collaborators, memberJSON{UserID: m.UserID, AddedBy: m.AddedBy, AddedAt: m.AddedAt.UTC()})
	}
	return j
}

func toCommentJSON(m *casefile.Comment) commentJSON {
	return commentJSON{ID: m.ID, Kind: m.Kind, AuthorID: m.AuthorID, CreatedAt: m.CreatedAt.UTC(), Versions: m.Versions, Text: m.Text, Anchor: m.Anchor}
}

type listedCaseJSON struct {
	ID        string    `json:"id"`
	Title     string    `json:"title"`
	Date      string    `json:"date,omitempty"`
	Status    string    `json:"status"`
	Shared    bool      `json:"shared"`
	UpdatedAt time.Time `json:"updated_at"`
}

func (s *Server) writeCaseList(w http.ResponseWriter, r *http.Request, p *access.Principal, patientID string) {
	ls, err := s.records.Cases.List(r.Context(), p, patientID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	out := []listedCaseJSON{}
	for _, l := range ls {
		out = append(out, listedCaseJSON{ID: l.ID, Title: l.Title, Date: l.Date, Status: l.Status, Shared: l.Shared, UpdatedAt: l.UpdatedAt.UTC()})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"cases": out})
}

func (s *Server) apiListCases(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.writeCaseList(w, r, p, r.PathValue("id"))
}

func (s *Server) apiCreateCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in caseInJSON
	if !DecodeJSON(w, r, &in) {
		return
	}
	c, err := s.records.Cases.Create(r.Context(), p, r.PathValue("id"), casefile.Input{Title: in.Title, Date: in.Date, Status: in.Status, Notes: in.Notes})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/cases/"+c.ID)
	WriteJSON(w, http.StatusCreated, toCaseJSON(c))
}

func (s *Server) apiGetCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	c, err := s.records.Cases.Get(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toCaseJSON(c))
}

func (s *Server) apiUpdateCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in caseInJSON
	if !DecodeJSON(w, r, &in) {
		return
	}
	if in.Version < 1 {
		WriteValidation(w, r, "Some fields need attention.", map[string]string{"version": "send the version you read"})
		return
	}
	c, err := s.records.Cases.Update(r.Context(), p, r.PathValue("id"), in.Version, casefile.Input{Title: in.Title, Date: in.Date, Status: in.Status, Notes: in.Notes})
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toCaseJSON(c))
}

func (s *Server) apiCaseRevisions(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	revs, err := s.records.Cases.Revisions(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	type revJSON struct {
		Version  int       `json:"version"`
		Status   string    `json:"status"`
		EditedBy string    `json:"edited_by"`
		EditedAt time.Time `json:"edited_at"`
		Title    string    `json:"title"`
		Date     string    `json:"date,omitempty"`
		Notes    string    `json:"notes,omitempty"`
	}
	out := []revJSON{}
	for _, v := range revs {
		out = append(out, revJSON{Version: v.Version, Status: v.Status, EditedBy: v.EditedBy, EditedAt: v.EditedAt.UTC(), Title: v.Title, Date: v.Date, Notes: v.Notes})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"revisions": out})
}

type commentIn struct {
	Kind   string `json:"kind"`
	Text   string `json:"text"`
	Anchor string `json:"anchor"`
}

func (s *Server) apiAddComment(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in commentIn
	if !DecodeJSON(w, r, &in) {
		return
	}
	c, err := s.records.Cases.AddComment(r.Context(), p, r.PathValue("id"), in.Kind, in.Text, in.Anchor)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, toCommentJSON(c))
}

func (s *Server) apiEditComment(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in commentIn
	if !DecodeJSON(w, r, &in) {
		return
	}
	c, err := s.records.Cases.EditComment(r.Context(), p, r.PathValue("id"), r.PathValue("commentID"), in.Text, in.Anchor)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toCommentJSON(c))
}

func (s *Server) apiAddCollaborator(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in userRef
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.records.Cases.AddCollaborator(r.Context(), p, r.PathValue("id"), in.UserID); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRemoveCollaborator(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if err := s.records.Cases.RemoveCollaborator(r.Context(), p, r.PathValue("id"), r.PathValue("userID")); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiShareCase(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in struct {
		Shared      bool `json:"shared"`
		NotesShared bool `json:"notes_shared"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.records.Cases.Share(r.Context(), p, r.PathValue("id"), casefile.Sharing{Shared: in.Shared, NotesShared: in.NotesShared}); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiReviews(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	rs, err := s.records.Patients.Reviews(r.Context(), p)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	type reviewJSON struct {
		GrantID    string     `json:"grant_id"`
		PatientID  string     `json:"patient_id"`
		UserID     string     `json:"user_id"`
		ReasonCode string     `json:"reason_code"`
		Reason     string     `json:"reason"`
		CreatedAt  time.Time  `json:"created_at"`
		ExpiresAt  time.Time  `json:"expires_at"`
		Status     string     `json:"status"`
		ReviewedBy string     `json:"reviewed_by,omitempty"`
		ReviewedAt *time.Time `json:"reviewed_at,omitempty"`
		Notes      string     `json:"notes,omitempty"`
		// Changes are the care-team changes asked for under the grant;
		// Actions every audited action done under it, oldest first.
		Changes []changeJSON   `json:"care_team_changes"`
		Actions []reviewAction `json:"actions"`
	}
	out := []reviewJSON{}
	for _, v := range s.reviewViews(r.Context(), p, rs) {
		j := reviewJSON{GrantID: v.ID, PatientID: v.PatientID, UserID: v.UserID, ReasonCode: v.ReasonCode, Reason: v.Reason,
			CreatedAt: v.CreatedAt.UTC(), ExpiresAt: v.ExpiresAt.UTC(), Status: v.Status, ReviewedBy: v.ReviewedBy, Notes: v.Notes,
			Changes: []changeJSON{}, Actions: v.Actions}
		if j.Actions == nil {
			j.Actions = []reviewAction{}
		}
		for _, c := range v.Changes {
			cj := changeJSON{ID: c.ID, Op: c.Op, UserID: c.UserID, RequestedBy: c.RequestedBy, RequestedAt: c.RequestedAt.UTC(), Status: c.Status, DecidedBy: c.DecidedBy}
			if !c.DecidedAt.IsZero() {
				t := c.DecidedAt.UTC()
				cj.DecidedAt = &t
			}
			j.Changes = append(j.Changes, cj)
		}
		if !v.ReviewedAt.IsZero() {
			t := v.ReviewedAt.UTC()
			j.ReviewedAt = &t
		}
		out = append(out, j)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"reviews": out})
}

// changeJSON is a care-team change asked for under a break-glass grant.
type changeJSON struct {
	ID          string     `json:"id"`
	Op          string     `json:"op"`
	UserID      string     `json:"user_id"`
	RequestedBy string     `json:"requested_by"`
	RequestedAt time.Time  `json:"requested_at"`
	Status      string     `json:"status"`
	DecidedBy   string     `json:"decided_by,omitempty"`
	DecidedAt   *time.Time `json:"decided_at,omitempty"`
}

func (s *Server) apiMarkReviewed(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in struct {
		Notes string `json:"notes"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.records.Patients.MarkReviewed(r.Context(), p, r.PathValue("id"), in.Notes); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMyProfile(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if p.PatientID == "" {
		WriteProblem(w, r, http.StatusNotFound, "You are not signed in as a patient.")
		return
	}
	x, err := s.records.Patients.Get(r.Context(), p, p.PatientID)
	if err != nil {
		s.apiError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, toPatientJSON(x))
}

func (s *Server) apiMyCases(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if p.PatientID == "" {
		WriteProblem(w, r, http.StatusNotFound, "You are not signed in as a patient.")
		return
	}
	s.writeCaseList(w, r, p, p.PatientID)
}

// reauthenticate checks p's password again before emergency access to a
// patient; it returns "" when it holds, else the message for the field. It
// asks only someone the policy would let break the glass: anyone else goes
// straight to BreakGlass, which refuses and audits the attempt like any
// other (and a stranger learns nothing from a password prompt). Without an
// identity service (tests of the records pages alone) it does not ask.
func (s *Server) reauthenticate(r *http.Request, p *access.Principal, patientID, password string) string {
	if s.identity == nil {
		return ""
	}
	facts, err := s.records.Patients.Facts(r.Context(), p, patientID)
	if err != nil || !access.Decide(p, access.BreakGlass, facts).Allow {
		return ""
	}
	if password == "" {
		return "Enter your password to confirm it is you."
	}
	if err := s.identity.Reauthenticate(r.Context(), p.UserID, password, meta(r)); err != nil {
		return "That is not your password."
	}
	return ""
}
