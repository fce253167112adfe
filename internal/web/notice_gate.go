package web

import (
	"net/http"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
)

// NoticeAcceptanceProblem is the problem type an API client gets while its
// user has not accepted the current material privacy notices.
const NoticeAcceptanceProblem = "/problems/notice-acceptance-required"

// noticeExempt are the paths a held user may still reach: the acceptance
// page and API, the notice itself, signing out, static files and health
// checks. Signing out through the API is exempt as the page is: a held user
// must always be able to end their session.
func noticeExempt(path string) bool {
	switch path {
	case "/notices/accept", "/privacy", "/signout", "/api/v1/auth/signout", "/healthz", "/readyz", "/api/v1/notices/current":
		return true
	}
	if strings.HasPrefix(path, "/static/") {
		return true
	}
	// POST /api/v1/notices/{id}/accept
	if rest, ok := strings.CutPrefix(path, "/api/v1/notices/"); ok && strings.HasSuffix(rest, "/accept") &&
		strings.Count(rest, "/") == 1 {
		return true
	}
	return false
}

// requireNoticeAcceptance holds a signed-in principal at /notices/accept on
// every other route until they have accepted the current material versions
// of the platform notice and of their active workspace's notice. Pages are
// redirected (303); the API answers 403 problem+json of type
// NoticeAcceptanceProblem with a Link to the acceptance page.
//
// It acts only when a principal is in the request context, so it must run
// after authentication: in Server.New the chain is
// s.observe(secure(s.crossOrigin(s.authenticate(s.requireNoticeAcceptance(mux))))).
// If the notice store cannot be read it fails closed (503).
func (s *Server) requireNoticeAcceptance(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := access.PrincipalFrom(r.Context())
		if !ok || s.notices == nil || noticeExempt(r.URL.Path) {
			next.ServeHTTP(w, r)
			return
		}
		pending, err := s.notices.Pending(r.Context(), p.UserID, p.WorkspaceID)
		if err != nil {
			s.log.Error("check notice acceptance", "request_id", RequestID(r.Context()), "err", err.Error())
			if wantsHTML(r) {
				s.renderError(w, r, http.StatusServiceUnavailable, "The service cannot check the privacy notice right now. Try again in a moment.")
				return
			}
			WriteProblem(w, r, http.StatusServiceUnavailable, "The privacy notice cannot be checked right now; try again.")
			return
		}
		if len(pending) == 0 {
			next.ServeHTTP(w, r)
			return
		}
		if wantsHTML(r) {
			http.Redirect(w, r, "/notices/accept", http.StatusSeeOther)
			return
		}
		w.Header().Set("Link", `</notices/accept>; rel="notice-acceptance"`)
		writeProblem(w, r, Problem{Type: NoticeAcceptanceProblem, Title: "Privacy notice acceptance required",
			Status: http.StatusForbidden,
			Detail: "The privacy notice changed. Read it at GET /api/v1/notices/current and accept each pending version with POST /api/v1/notices/{id}/accept, or accept it at /notices/accept."})
	})
}
