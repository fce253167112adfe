package web

import (
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// The audit actions of the audit log's own routes: reading an access
// history or the log is itself a PHI access, and so is exporting it.
const (
	actionAuditRead   = "audit.read"
	actionAuditExport = "audit.export"
)

// maxExport bounds one CSV export; narrow the filters for more.
const maxExport = 100_000

func init() { routeSets = append(routeSets, (*Server).auditRoutes) }

func (s *Server) auditRoutes(mux Mux) {
	s.phi(mux, "GET /api/v1/me/access-history", actionAuditRead, s.requireUser(s.apiMyAccessHistory))
	s.phi(mux, "GET /me/access-history", actionAuditRead, s.requireUser(s.pageMyAccessHistory))
	s.phi(mux, "GET /api/v1/audit", actionAuditRead, s.requireUser(s.apiAudit))
	s.phi(mux, "GET /privacy/audit", actionAuditRead, s.requireUser(s.pageAudit))
	s.phi(mux, "GET /privacy/audit.csv", actionAuditExport, s.requireUser(s.exportAudit))
}

// accessEntry is one line of a patient's "who accessed my record": who,
// in what role, when, what and why. It leaves out addresses and request
// ids, which are for the privacy officer.
type accessEntry struct {
	Seq         int64     `json:"seq"`
	Time        time.Time `json:"time"`
	ActorUserID string    `json:"actor_user_id"`
	ActorName   string    `json:"actor_name"`
	ActorRole   string    `json:"actor_role"`
	OnBehalfOf  string    `json:"on_behalf_of,omitempty"`
	WorkspaceID string    `json:"workspace_id,omitempty"`
	Action      string    `json:"action"`
	Purpose     string    `json:"purpose,omitempty"`
	BreakGlass  bool      `json:"break_glass"`
	Decision    string    `json:"decision"`
	Outcome     string    `json:"outcome"`
}

// auditEntry is a full audit entry, for the privacy officer.
type auditEntry struct {
	Seq          int64     `json:"seq"`
	Time         time.Time `json:"time"`
	ActorUserID  string    `json:"actor_user_id"`
	ActorName    string    `json:"actor_name"`
	ActorTokenID string    `json:"actor_token_id,omitempty"`
	ActorRole    string    `json:"actor_role"`
	WorkspaceID  string    `json:"workspace_id"`
	OnBehalfOf   string    `json:"on_behalf_of,omitempty"`
	Action       string    `json:"action"`
	ResourceType string    `json:"resource_type"`
	ResourceID   string    `json:"resource_id"`
	PatientID    string    `json:"patient_id,omitempty"`
	Purpose      string    `json:"purpose,omitempty"`
	Decision     string    `json:"decision"`
	Reason       string    `json:"reason,omitempty"`
	BreakGlass   bool      `json:"break_glass"`
	ClientAddr   string    `json:"client_addr"`
	RequestID    string    `json:"request_id"`
	Outcome      string    `json:"outcome"`
}

// names maps the page's actor ids to display names through the hook the
// identity package provides, falling back to the id.
func (s *Server) names(r *http.Request, entries []audit.Entry) map[string]string {
	ids := make([]string, 0, len(entries))
	seen := map[string]bool{}
	for _, e := range entries {
		if e.ActorUserID != "" && !seen[e.ActorUserID] {
			seen[e.ActorUserID] = true
			ids = append(ids, e.ActorUserID)
		}
	}
	var known map[string]string
	if s.actorNames != nil && len(ids) > 0 {
		known = s.actorNames(r.Context(), ids)
	}
	out := make(map[string]string, len(ids))
	for _, id := range ids {
		if n := known[id]; n != "" {
			out[id] = n
		} else {
			out[id] = id
		}
	}
	return out
}

// pageParams reads the keyset cursor ("before") and page size.
func pageParams(q url.Values, errs map[string]string) (cursor int64, limit int) {
	if v := q.Get("before"); v != "" {
		n, err := strconv.ParseInt(v, 10, 64)
		if err != nil || n < 1 {
			errs["before"] = "must be a positive entry number"
		}
		cursor = n
	}
	limit = 50
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > audit.MaxLimit {
			errs["limit"] = "must be a number from 1 to " + strconv.Itoa(audit.MaxLimit)
		}
		limit = n
	}
	return cursor, limit
}

// myHistory authorises a patient or representative and reads their access
// history. On false it has answered.
func (s *Server) myHistory(w http.ResponseWriter, r *http.Request) (*access.Principal, audit.Page, bool) {
	p, ok := s.principal(w, r)
	if !ok {
		return nil, audit.Page{}, false
	}
	if p.PatientID == "" || (p.Role != access.RolePatient && p.Role != access.RoleRepresentative) {
		s.recordDenial(r, p, audit.Event{ResourceType: "access_history", Reason: "not_patient_or_representative"})
		s.answer(w, r, http.StatusForbidden, "Only patients and their representatives have an access history here.")
		return nil, audit.Page{}, false
	}
	errs := map[string]string{}
	cursor, limit := pageParams(r.URL.Query(), errs)
	if len(errs) > 0 {
		s.invalid(w, r, errs)
		return nil, audit.Page{}, false
	}
	if s.audit == nil {
		s.answer(w, r, http.StatusServiceUnavailable, auditUnavailable)
		return nil, audit.Page{}, false
	}
	page, err := s.audit.Query(r.Context(), audit.Filter{PatientID: p.PatientID, Cursor: cursor, Limit: limit})
	if err != nil {
		s.log.Error("read access history", "request_id", RequestID(r.Context()), "err", err.Error())
		s.answer(w, r, http.StatusServiceUnavailable, "The access history could not be read. Try again shortly.")
		return nil, audit.Page{}, false
	}
	// Read first, record, then release: the entry is durable before the
	// history leaves, and a failed read is not recorded as a release.
	if _, ok := s.recordAccess(w, r, p, audit.Event{ResourceType: "access_history", ResourceID: p.PatientID,
		PatientID: p.PatientID, Purpose: "individual_access", Reason: string(p.Role)}); !ok {
		return nil, audit.Page{}, false
	}
	return p, page, true
}

// invalid answers a validation failure in the caller's format.
func (s *Server) invalid(w http.ResponseWriter, r *http.Request, errs map[string]string) {
	if wantsHTML(r) {
		var msg []string
		for _, k := range slices.Sorted(maps.Keys(errs)) {
			msg = append(msg, k+" "+errs[k])
		}
		s.renderError(w, r, http.StatusUnprocessableEntity, "Some search fields are not valid: "+strings.Join(msg, "; ")+".")
		return
	}
	WriteValidation(w, r, "Some query parameters are not valid.", errs)
}

func toAccessEntries(entries []audit.Entry, names map[string]string) []accessEntry {
	out := make([]accessEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, accessEntry{Seq: e.Seq, Time: e.Time, ActorUserID: e.ActorUserID, ActorName: names[e.ActorUserID],
			ActorRole: e.ActorRole, OnBehalfOf: e.OnBehalfOf, WorkspaceID: e.WorkspaceID, Action: e.Action,
			Purpose: e.Purpose, BreakGlass: e.BreakGlass, Decision: e.Decision, Outcome: e.Outcome})
	}
	return out
}

func toAuditEntries(entries []audit.Entry, names map[string]string) []auditEntry {
	out := make([]auditEntry, 0, len(entries))
	for _, e := range entries {
		out = append(out, auditEntry{Seq: e.Seq, Time: e.Time, ActorUserID: e.ActorUserID, ActorName: names[e.ActorUserID],
			ActorTokenID: e.ActorTokenID, ActorRole: e.ActorRole, WorkspaceID: e.WorkspaceID, OnBehalfOf: e.OnBehalfOf,
			Action: e.Action, ResourceType: e.ResourceType, ResourceID: e.ResourceID, PatientID: e.PatientID,
			Purpose: e.Purpose, Decision: e.Decision, Reason: e.Reason, BreakGlass: e.BreakGlass,
			ClientAddr: e.ClientAddr, RequestID: e.RequestID, Outcome: e.Outcome})
	}
	return out
}

// cursorString renders a next-page cursor, "" on the last page.
func cursorString(next int64) string {
	if next == 0 {
		return ""
	}
	return strconv.FormatInt(next, 10)
}

func (s *Server) apiMyAccessHistory(w http.ResponseWriter, r *http.Request) {
	_, page, ok := s.myHistory(w, r)
	if !ok {
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"entries":     toAccessEntries(page.Entries, s.names(r, page.Entries)),
		"next_cursor": cursorString(page.Next),
	})
}

// officerFilter authorises the workspace's privacy officer and reads the
// filters; the workspace is always the officer's own. On false it has
// answered.
func (s *Server) officerFilter(w http.ResponseWriter, r *http.Request) (*access.Principal, audit.Filter, bool) {
	p, ok := s.principal(w, r)
	if !ok {
		return nil, audit.Filter{}, false
	}
	if !p.Has(access.RolePrivacyOfficer) || p.WorkspaceID == "" {
		s.recordDenial(r, p, audit.Event{ResourceType: "audit_log", Reason: "not_privacy_officer"})
		s.answer(w, r, http.StatusForbidden, "Only the workspace's privacy officer can read the audit log.")
		return nil, audit.Filter{}, false
	}
	q := r.URL.Query()
	errs := map[string]string{}
	f := audit.Filter{WorkspaceID: p.WorkspaceID}
	f.Cursor, f.Limit = pageParams(q, errs)
	for name, dst := range map[string]*string{"patient": &f.PatientID, "user": &f.ActorUserID, "action": &f.Action} {
		v := strings.TrimSpace(q.Get(name))
		if len(v) > 200 {
			errs[name] = "is too long"
		}
		*dst = v
	}
	var err error
	if f.From, err = parseDay(q.Get("from"), false); err != nil {
		errs["from"] = "must be a date (2006-01-02) or a time (RFC 3339)"
	}
	if f.To, err = parseDay(q.Get("to"), true); err != nil {
		errs["to"] = "must be a date (2006-01-02) or a time (RFC 3339)"
	}
	if len(errs) > 0 {
		s.invalid(w, r, errs)
		return nil, audit.Filter{}, false
	}
	if s.audit == nil {
		s.answer(w, r, http.StatusServiceUnavailable, auditUnavailable)
		return nil, audit.Filter{}, false
	}
	return p, f, true
}

// parseDay reads a date or an RFC 3339 time. A date as the upper bound
// means the end of that day, so "to=2026-03-01" includes the 1st.
func parseDay(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.RFC3339, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err != nil {
		return time.Time{}, err
	}
	if end {
		t = t.AddDate(0, 0, 1)
	}
	return t, nil
}

// officerRead queries the log for the officer and records the read.
func (s *Server) officerRead(w http.ResponseWriter, r *http.Request, p *access.Principal, f audit.Filter, action string) (audit.Page, bool) {
	page, err := s.audit.Query(r.Context(), f)
	if err != nil {
		s.log.Error("query audit log", "request_id", RequestID(r.Context()), "err", err.Error())
		s.answer(w, r, http.StatusServiceUnavailable, "The audit log could not be read. Try again shortly.")
		return audit.Page{}, false
	}
	if _, ok := s.recordAccess(w, r, p, audit.Event{Action: action, ResourceType: "audit_log", ResourceID: p.WorkspaceID,
		PatientID: f.PatientID, Purpose: "operations", Reason: "privacy_officer"}); !ok {
		return audit.Page{}, false
	}
	return page, true
}

func (s *Server) apiAudit(w http.ResponseWriter, r *http.Request) {
	p, f, ok := s.officerFilter(w, r)
	if !ok {
		return
	}
	page, ok := s.officerRead(w, r, p, f, actionAuditRead)
	if !ok {
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"entries":     toAuditEntries(page.Entries, s.names(r, page.Entries)),
		"next_cursor": cursorString(page.Next),
	})
}
