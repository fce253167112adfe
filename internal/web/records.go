package web

import (
	"errors"
	"net"
	"net/http"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/patient"
)

// Records are the clinical records services behind the patient and case
// routes (records_api.go, records_pages.go).
type Records struct {
	Patients *patient.Service
	Cases    *casefile.Service
}

func init() {
	routeSets = append(routeSets, (*Server).routesRecordsAPI, (*Server).routesRecordsPages)
}

// principal is the request's principal with the request id and client
// address the audit entry needs, or nil when nobody is signed in.
func principal(r *http.Request) *access.Principal {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		return nil
	}
	c := *p
	if c.RequestID == "" {
		c.RequestID = RequestID(r.Context())
	}
	if c.ClientAddr == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			c.ClientAddr = host
		}
	}
	return &c
}

// recordsStatus maps a records service error to a status and a message that
// holds no PHI.
func recordsStatus(err error) (int, string) {
	var inv *patient.InvalidError
	switch {
	case errors.As(err, &inv):
		return http.StatusUnprocessableEntity, "Some fields need attention."
	case errors.Is(err, patient.ErrNotFound):
		return http.StatusNotFound, "There is no such record, or you may not see it. Check the link; if you should see it, ask a clinician on the patient's care team."
	case errors.Is(err, patient.ErrForbidden):
		return http.StatusForbidden, "You may not do this with this record."
	case errors.Is(err, patient.ErrConflict):
		return http.StatusConflict, "Someone else changed this record since you opened it. Reload it and make your change again."
	case errors.Is(err, audit.ErrUnavailable):
		return http.StatusServiceUnavailable, "The audit log cannot record this access right now, so no health information was shown or changed. Try again in a moment."
	case errors.Is(err, patient.ErrNotConfigured):
		return http.StatusNotImplemented, "This needs a part of Custodia that is not set up on this server yet."
	}
	return unexpectedStatus(err)
}

// apiError writes err as problem+json. Unexpected errors are logged by
// request id and code only (their text may name tables, never PHI, but the
// rule is ids and codes).
func (s *Server) apiError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := recordsStatus(err)
	if d := (*patient.DeniedError)(nil); errors.As(err, &d) {
		msg = refusalMessage(principal(r), d)
	}
	var inv *patient.InvalidError
	if errors.As(err, &inv) {
		WriteValidation(w, r, msg, inv.Fields)
		return
	}
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		s.log.Error("records request failed", "request_id", RequestID(r.Context()), "route", r.Pattern, "status", status)
	}
	WriteProblem(w, r, status, msg)
}

// pageError shows err as a readable page.
func (s *Server) pageError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := recordsStatus(err)
	if d := (*patient.DeniedError)(nil); errors.As(err, &d) {
		msg = refusalMessage(principal(r), d)
	}
	if status == http.StatusInternalServerError || status == http.StatusServiceUnavailable {
		s.log.Error("records page failed", "request_id", RequestID(r.Context()), "route", r.Pattern, "status", status)
	}
	s.renderError(w, r, status, msg)
}
