package web

import (
	"net/http"
	"strings"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/ids"
)

// notIDs are the path wildcards that hold something other than an id: the
// development outbox names its messages by file name; an unsubscribe link
// holds a signed token, whose signature its handler checks before reading
// anything (outreach.go).
var notIDs = map[string]bool{"name": true, "token": true}

// indexWildcards hold a position rather than an id (a series' image {n}):
// they must be a small decimal number, checked as strictly as an id.
var indexWildcards = map[string]bool{"n": true}

// validPathValue says whether the value of wildcard name has the shape its
// name promises.
func validPathValue(name, v string) bool {
	if !indexWildcards[name] {
		return ids.Valid(v)
	}
	if v == "" || len(v) > 6 {
		return false
	}
	for i := 0; i < len(v); i++ {
		if v[i] < '0' || v[i] > '9' {
			return false
		}
	}
	return true
}

// pathIDNames lists the id wildcards of a ServeMux pattern, e.g. "id" and
// "userID" for "DELETE /api/v1/patients/{id}/care-team/{userID}".
func pathIDNames(pattern string) []string {
	var out []string
	for _, seg := range strings.Split(pattern, "/") {
		name, ok := strings.CutPrefix(seg, "{")
		if !ok {
			continue
		}
		name, ok = strings.CutSuffix(name, "}")
		if !ok || name == "$" || strings.HasSuffix(name, "...") || notIDs[name] {
			continue
		}
		out = append(out, name)
	}
	return out
}

// ReasonMalformedID is the audit reason of a request refused because an id
// in its path did not have the shape of an id.
const ReasonMalformedID = "malformed_id"

// malformedID answers a request whose path holds something that is not an
// id with 404, like any id that names nothing, and records the attempt
// without the string: it may be a patient's name typed into the address
// bar, and the audit log keeps what it is given for six years.
func (s *Server) malformedID(w http.ResponseWriter, r *http.Request) {
	msg := "There is nothing at this address: it does not hold a valid id."
	if s.audit == nil {
		s.answer(w, r, http.StatusNotFound, msg)
		return
	}
	e := completeEvent(r, principal(r), "", audit.Event{Action: "request.refuse", Decision: "deny", Outcome: "denied", Reason: ReasonMalformedID})
	if _, err := s.audit.Append(r.Context(), e); err != nil {
		s.log.Error("audit append failed for a malformed id", "route", r.Pattern, "request_id", e.RequestID, "err", err.Error())
		s.answer(w, r, http.StatusServiceUnavailable, unavailableMessage)
		return
	}
	s.answer(w, r, http.StatusNotFound, msg)
}
