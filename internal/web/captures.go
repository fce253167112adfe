package web

import (
	"context"
	"errors"
	"html/template"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/capture"
	"github.com/custodia-health/custodia/internal/media"
)

func init() { routeSets = append(routeSets, (*Server).routesCaptures) }

func (s *Server) routesCaptures(mux Mux) {
	if s.captures == nil {
		return
	}
	for _, t := range s.pages.sets {
		t.Funcs(template.FuncMap{"capturesConnected": func(patientID, userID string) bool {
			// Only the link depends on this; the captures page decides and audits.
			ok, err := s.captures.Connected(context.Background(), patientID, userID)
			return err == nil && ok
		}})
	}
	api := func(pattern string, fn func(http.ResponseWriter, *http.Request, *access.Principal)) {
		s.phi(mux, pattern, auditedByService, func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			if p == nil {
				WriteProblem(w, r, http.StatusUnauthorized, "Sign in to use this endpoint.")
				return
			}
			fn(w, r, p)
		})
	}
	api("POST /api/v1/me/captures", s.apiUploadCapture)
	api("GET /api/v1/me/captures", s.apiMyCaptures)
	api("GET /api/v1/me/connections", s.apiConnections)
	api("POST /api/v1/me/connections", s.apiConnect)
	api("DELETE /api/v1/me/connections/{id}", s.apiRevoke)
	api("GET /api/v1/patients/{id}/captures", s.apiPatientCaptures)
	api("GET /api/v1/captures/{id}/view", s.apiCaptureView)
	api("POST /api/v1/captures/{id}/attach", s.apiAttachCapture)

	page := func(pattern string, fn func(http.ResponseWriter, *http.Request, *access.Principal)) {
		s.phi(mux, pattern, auditedByService, func(w http.ResponseWriter, r *http.Request) {
			p := principal(r)
			if p == nil {
				s.renderError(w, r, http.StatusUnauthorized, "Sign in to see captures.")
				return
			}
			fn(w, r, p)
		})
	}
	page("GET /me/captures", s.pageMyCaptures)
	page("POST /me/captures", s.pageUploadCapture)
	page("POST /me/connections", s.pageConnect)
	page("POST /me/connections/{id}/revoke", s.pageRevoke)
	page("GET /patients/{id}/captures", s.pagePatientCaptures)
	page("POST /captures/{id}/attach", s.pageAttachCapture)
}

// captureStatus maps the captures domain's errors to a status and a
// message that is safe to show: fixed text or a parser's reason, which
// never quotes file content.
func captureStatus(err error) (int, string, map[string]string) {
	var rej *media.Rejection
	switch {
	case errors.Is(err, capture.ErrAuditUnavailable):
		return http.StatusServiceUnavailable, "The audit log cannot be written right now, so the request was refused. Try again shortly.", nil
	case errors.Is(err, capture.ErrAttachBusy):
		return http.StatusConflict, "This capture is being attached to the case right now. Reload in a moment to see it.", nil
	case errors.Is(err, capture.ErrNotFound):
		return http.StatusNotFound, "No such capture, patient or connection.", nil
	case errors.Is(err, capture.ErrForbidden):
		return http.StatusForbidden, "You may not do this with these captures.", nil
	case errors.Is(err, capture.ErrNotPatient):
		return http.StatusForbidden, "Only a patient signed in to their own account has captures and connections.", nil
	case errors.As(err, &rej):
		return http.StatusUnprocessableEntity, "The file was refused.", map[string]string{"file": rej.Reason}
	case errors.Is(err, capture.ErrNoClinician):
		return http.StatusUnprocessableEntity, "The connection was refused.", map[string]string{"email": "no doctor of your practice signs in with this email"}
	case errors.Is(err, capture.ErrWrongPatient):
		return http.StatusUnprocessableEntity, "The capture was not attached.", map[string]string{"case_id": "is a case of another patient"}
	}
	status, msg := unexpectedStatus(err)
	return status, msg, nil
}

func writeCaptureError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg, fields := captureStatus(err)
	if fields != nil {
		WriteValidation(w, r, msg, fields)
		return
	}
	WriteProblem(w, r, status, msg)
}

// captureSummary is what the API says about a capture.
type captureSummary struct {
	ID        string    `json:"id"`
	Kind      string    `json:"kind"`
	Size      int64     `json:"size"`
	Vertices  int64     `json:"vertices,omitempty"`
	Faces     int64     `json:"faces,omitempty"`
	CreatedAt time.Time `json:"created_at"`
	Cases     []string  `json:"attached_cases"`
	View      string    `json:"view"`
}

func summarizeCapture(c capture.Capture, info media.Info) captureSummary {
	cs := captureSummary{ID: c.ID, Kind: string(c.Kind), Size: c.Size, Vertices: info.Vertices, Faces: info.Faces,
		CreatedAt: c.CreatedAt, Cases: c.Cases, View: "/api/v1/captures/" + c.ID + "/view"}
	if cs.Cases == nil {
		cs.Cases = []string{}
	}
	return cs
}

func summarizeCaptures(cs []capture.Capture) []captureSummary {
	out := make([]captureSummary, 0, len(cs))
	for _, c := range cs {
		out = append(out, summarizeCapture(c, media.Info{}))
	}
	return out
}

// apiUploadCapture takes the capture as the raw request body, streamed
// straight into encrypted storage.
func (s *Server) apiUploadCapture(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	c, info, err := s.captures.Upload(r.Context(), p, r.Body)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/captures/"+c.ID+"/view")
	WriteJSON(w, http.StatusCreated, summarizeCapture(c, info))
}

func (s *Server) apiMyCaptures(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	cs, err := s.captures.List(r.Context(), p, p.PatientID)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"captures": summarizeCaptures(cs)})
}

func (s *Server) apiPatientCaptures(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	cs, err := s.captures.List(r.Context(), p, r.PathValue("id"))
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"captures": summarizeCaptures(cs)})
}

func (s *Server) apiConnections(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	cs, err := s.captures.Connections(r.Context(), p)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	if cs == nil {
		cs = []capture.Connection{}
	}
	WriteJSON(w, http.StatusOK, map[string]any{"connections": cs})
}

func (s *Server) apiConnect(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var req struct {
		Email string `json:"email"`
	}
	if !DecodeJSON(w, r, &req) {
		return
	}
	if req.Email == "" {
		WriteValidation(w, r, "The connection request is invalid.", map[string]string{"email": "is required"})
		return
	}
	c, err := s.captures.Connect(r.Context(), p, req.Email)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	// A connection is its id, the doctor's user id and a time; connecting
	// again returns the existing one without a new entry.
	releasesNoPHI(r)
	WriteJSON(w, http.StatusCreated, c)
}

func (s *Server) apiRevoke(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if err := s.captures.Revoke(r.Context(), p, r.PathValue("id")); err != nil {
		writeCaptureError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiCaptureView sends the capture's mesh for the 3D viewer: inline, not
// cached, nothing that offers a save link.
func (s *Server) apiCaptureView(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	v, err := s.captures.Open(r.Context(), p, r.PathValue("id"))
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	rc, err := s.captures.Bytes(r.Context(), v)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	defer rc.Close()
	viewHeaders(w, v.Capture.Kind.ContentType())
	w.Header().Set("Content-Length", strconv.FormatInt(v.Capture.Size, 10))
	_, _ = io.Copy(w, rc)
}

func (s *Server) apiAttachCapture(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var req struct {
		CaseID string `json:"case_id"`
	}
	if !DecodeJSON(w, r, &req) {
		return
	}
	if req.CaseID == "" {
		WriteValidation(w, r, "The attach request is invalid.", map[string]string{"case_id": "is required"})
		return
	}
	f, err := s.captures.Attach(r.Context(), p, r.PathValue("id"), req.CaseID)
	if err != nil {
		writeCaptureError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]string{"file_id": f.ID, "case_id": f.CaseID, "view": "/api/v1/files/" + f.ID + "/view"})
}

// ---- pages

type capturesPage struct {
	Captures    []captureSummary
	Connections []connectionRow
	PatientID   string
	Cases       []caseOption
	FieldErrors map[string]string
}

type connectionRow struct {
	ID, Name    string
	ConnectedAt time.Time
}

type caseOption struct{ ID, Title string }

func (s *Server) doctorNames(ctx context.Context, ids []string) map[string]string {
	if s.actorNames == nil || len(ids) == 0 {
		return map[string]string{}
	}
	return s.actorNames(ctx, ids)
}

func (s *Server) renderMyCaptures(w http.ResponseWriter, r *http.Request, p *access.Principal, status int, flash string, fieldErrs map[string]string) {
	ctx := r.Context()
	cs, err := s.captures.List(ctx, p, p.PatientID)
	if err != nil {
		st, msg, _ := captureStatus(err)
		s.renderError(w, r, st, msg)
		return
	}
	conns, err := s.captures.Connections(ctx, p)
	if err != nil {
		st, msg, _ := captureStatus(err)
		s.renderError(w, r, st, msg)
		return
	}
	var ids []string
	for _, c := range conns {
		ids = append(ids, c.ClinicianID)
	}
	names := s.doctorNames(ctx, ids)
	data := capturesPage{Captures: summarizeCaptures(cs), PatientID: p.PatientID, FieldErrors: fieldErrs}
	for _, c := range conns {
		n := names[c.ClinicianID]
		if n == "" {
			n = c.ClinicianID
		}
		data.Connections = append(data.Connections, connectionRow{ID: c.ID, Name: n, ConnectedAt: c.ConnectedAt})
	}
	v := View{Title: "My captures", Data: data, Flash: flash}
	if len(fieldErrs) > 0 {
		v.Error = "Please correct the highlighted field."
	}
	s.renderView(w, r, status, "captures", v)
}

func (s *Server) pageMyCaptures(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	s.renderMyCaptures(w, r, p, http.StatusOK, "", nil)
}

// pageUploadCapture reads the form's file part as a stream, so the capture
// never lands on disk in plaintext (ParseMultipartForm would spill it).
func (s *Server) pageUploadCapture(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	mr, err := r.MultipartReader()
	if err != nil {
		s.renderMyCaptures(w, r, p, http.StatusUnprocessableEntity, "", map[string]string{"file": "choose a 3D capture file to upload"})
		return
	}
	for {
		part, err := mr.NextPart()
		if err != nil {
			s.renderMyCaptures(w, r, p, http.StatusUnprocessableEntity, "", map[string]string{"file": "choose a 3D capture file to upload"})
			return
		}
		if part.FormName() != "file" {
			part.Close()
			continue
		}
		_, _, err = s.captures.Upload(r.Context(), p, part)
		part.Close()
		if err != nil {
			st, msg, fields := captureStatus(err)
			if fields == nil {
				s.renderError(w, r, st, msg)
				return
			}
			s.renderMyCaptures(w, r, p, st, "", fields)
			return
		}
		http.Redirect(w, r, "/me/captures", http.StatusSeeOther)
		return
	}
}

func (s *Server) pageConnect(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	email := r.PostFormValue("email")
	if email == "" {
		s.renderMyCaptures(w, r, p, http.StatusUnprocessableEntity, "", map[string]string{"email": "enter the email your doctor signs in with"})
		return
	}
	if _, err := s.captures.Connect(r.Context(), p, email); err != nil {
		st, msg, fields := captureStatus(err)
		if fields == nil {
			s.renderError(w, r, st, msg)
			return
		}
		s.renderMyCaptures(w, r, p, st, "", fields)
		return
	}
	http.Redirect(w, r, "/me/captures", http.StatusSeeOther)
}

func (s *Server) pageRevoke(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	if err := s.captures.Revoke(r.Context(), p, r.PathValue("id")); err != nil {
		st, msg, _ := captureStatus(err)
		s.renderError(w, r, st, msg)
		return
	}
	http.Redirect(w, r, "/me/captures", http.StatusSeeOther)
}

func (s *Server) pagePatientCaptures(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	ctx := r.Context()
	pid := r.PathValue("id")
	cs, err := s.captures.List(ctx, p, pid)
	if err != nil {
		st, msg, _ := captureStatus(err)
		s.renderError(w, r, st, msg)
		return
	}
	data := capturesPage{Captures: summarizeCaptures(cs), PatientID: pid}
	if s.records != nil {
		// The case list is the patient record's own, decided and audited there.
		if ls, err := s.records.Cases.List(ctx, p, pid); err == nil {
			for _, c := range ls {
				data.Cases = append(data.Cases, caseOption{ID: c.ID, Title: c.Title})
			}
		}
	}
	s.renderView(w, r, http.StatusOK, "captures_patient", View{Title: "Patient captures", Data: data})
}

func (s *Server) pageAttachCapture(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	caseID := r.PostFormValue("case_id")
	if caseID == "" {
		s.renderError(w, r, http.StatusUnprocessableEntity, "Choose the case to attach the capture to.")
		return
	}
	f, err := s.captures.Attach(r.Context(), p, r.PathValue("id"), caseID)
	if err != nil {
		st, msg, fields := captureStatus(err)
		for _, v := range fields {
			msg += " The case " + v + "."
		}
		s.renderError(w, r, st, msg)
		return
	}
	http.Redirect(w, r, "/cases/"+f.CaseID, http.StatusSeeOther)
}
