package web

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/patient"
)

// The privacy officer's break-glass review queue: per grant, who opened whose
// record and why, every audited action done under the grant, and the
// care-team changes asked for under it, which the officer approves or
// rejects here. Everything a person reads is in words; ids stay in forms.

// reviewView is one grant as the review page shows it.
type reviewView struct {
	patient.Review
	Active     bool // the grant has not expired yet
	Clinician  string
	ReasonText string
	Reviewer   string
	Actions    []reviewAction
	// ActionsErr says the audit log could not be read for this grant, so
	// the list is missing rather than empty.
	ActionsErr bool
	Changes    []changeView
}

// reviewAction is one audited action done under a grant.
type reviewAction struct {
	Time    time.Time `json:"time"`
	Action  string    `json:"action"`
	What    string    `json:"what"`
	Refused bool      `json:"refused"`
}

// changeView is a care-team change asked for under a grant.
type changeView struct {
	patient.CareTeamChange
	What      string // "Add Emil Er to the care team"
	Requester string
	Decider   string
}

// reviewViews builds the page's rows: names for ids, and for each grant the
// break-glass entries its clinician wrote on its patient during the grant.
// Reading them adds no entry: Reviews has just audited each grant's review
// (breakglass.review_read), which covers the officer reading what was done.
func (s *Server) reviewViews(ctx context.Context, p *access.Principal, rs []patient.Review) []reviewView {
	out := make([]reviewView, 0, len(rs))
	for _, v := range rs {
		rv := reviewView{Review: v, Active: time.Now().Before(v.ExpiresAt), Clinician: s.person(v.UserID), ReasonText: reasonCodeLabel(v.ReasonCode)}
		if v.ReviewedBy != "" {
			rv.Reviewer = s.person(v.ReviewedBy)
		}
		if v.PatientName == "" {
			rv.PatientName = "this patient"
		}
		for _, c := range v.Changes {
			cv := changeView{CareTeamChange: c, Requester: s.person(c.RequestedBy)}
			if c.DecidedBy != "" {
				cv.Decider = s.person(c.DecidedBy)
			}
			if c.Op == "remove" {
				cv.What = "Remove " + s.person(c.UserID) + " from the care team"
			} else {
				cv.What = "Add " + s.person(c.UserID) + " to the care team"
			}
			rv.Changes = append(rv.Changes, cv)
		}
		rv.Actions, rv.ActionsErr = s.actionsUnder(ctx, p, v)
		out = append(out, rv)
	}
	return out
}

// actionsUnder lists, oldest first, the break-glass entries of the grant's
// clinician on its patient between the grant's opening and its expiry.
func (s *Server) actionsUnder(ctx context.Context, p *access.Principal, v patient.Review) ([]reviewAction, bool) {
	if s.audit == nil {
		return nil, true
	}
	// The entry of the opening itself is written just before the grant's
	// time; a second's slack takes it in.
	f := audit.Filter{WorkspaceID: p.WorkspaceID, ActorUserID: v.UserID, PatientID: v.PatientID,
		From: v.CreatedAt.Add(-time.Second), To: v.ExpiresAt, Limit: audit.MaxLimit}
	page, err := s.audit.Query(ctx, f)
	if err != nil {
		s.log.Error("read actions under a break-glass grant", "grant_id", v.ID, "err", err.Error())
		return nil, true
	}
	var out []reviewAction
	for i := len(page.Entries) - 1; i >= 0; i-- {
		e := page.Entries[i]
		if !e.BreakGlass && e.Action != "breakglass.open" {
			continue
		}
		out = append(out, reviewAction{Time: e.Time, Action: e.Action, What: actionLabel(e.Action), Refused: e.Decision == "deny"})
	}
	return out, false
}

// actionLabels say in words what an audited action was, as a privacy
// officer reads it in the review queue.
var actionLabels = map[string]string{
	"breakglass.open":             "Opened emergency access",
	"patient.read":                "Opened the patient's record",
	"patient.read_summary":        "Saw the patient's summary",
	"patient.update":              "Changed the patient's profile",
	"patient.representative_add":  "Tried to add a personal representative",
	"patient.representative_read": "Viewed the personal representatives",
	"patient.portal_invite":       "Tried to invite someone to the patient portal",
	"careteam.read":               "Viewed the care team",
	"careteam.add":                "Added someone to the care team",
	"careteam.remove":             "Removed someone from the care team",
	"careteam.add_request":        "Asked to add someone to the care team",
	"careteam.remove_request":     "Asked to remove someone from the care team",
	"case.list":                   "Listed the patient's cases",
	"case.create":                 "Opened a new case",
	"case.read":                   "Opened a case",
	"case.update":                 "Changed a case",
	"case.comment":                "Commented on a case",
	"case.share":                  "Tried to share a case or invite a collaborator",
	"case.revisions":              "Viewed a case's history",
	"file.list":                   "Listed a case's files",
	"file.view":                   "Viewed imaging or a model",
	"file.upload":                 "Uploaded a file",
	"file.download":               "Downloaded a file",
	"capture.view":                "Viewed a patient capture",
	"rehab.read":                  "Viewed rehabilitation progress",
	"rehab.ingest":                "Added rehabilitation data",
	"rehab.plan":                  "Changed the rehabilitation programme",
	"consent.read":                "Viewed the patient's consents",
	"consent.record":              "Recorded a consent",
}

// actionLabel is the words for an audit action; an action without a label
// is shown as its code with the dots and underscores spelled as spaces.
func actionLabel(action string) string {
	if l, ok := actionLabels[action]; ok {
		return l
	}
	l := strings.NewReplacer(".", ": ", "_", " ").Replace(action)
	if l == "" {
		return "Unnamed action"
	}
	return strings.ToUpper(l[:1]) + l[1:]
}

// reasonCodeLabel is a break-glass reason code in words.
func reasonCodeLabel(code string) string {
	switch code {
	case "emergency":
		return "Emergency"
	case "urgent_consultation":
		return "Urgent consultation"
	case "covering_clinician":
		return "Covering for another clinician"
	case "continuity_of_care":
		return "Continuity of care"
	case "other":
		return "Other"
	}
	return code
}

// changeDecision reads "approve" or "reject".
func changeDecision(v string) (approve bool, ok bool) {
	switch v {
	case "approve":
		return true, true
	case "reject":
		return false, true
	}
	return false, false
}

func (s *Server) renderReviews(w http.ResponseWriter, r *http.Request, p *access.Principal, status int, flash, msg string) {
	rs, err := s.records.Patients.Reviews(r.Context(), p)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	s.renderView(w, r, status, "breakglass_reviews", View{Title: "Break-glass reviews", Data: s.reviewViews(r.Context(), p, rs),
		Flash: flash, Error: msg})
}

// pageDecideChange approves or rejects a care-team change from the review
// page.
func (s *Server) pageDecideChange(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	approve, ok := changeDecision(r.PostFormValue("decision"))
	if !ok {
		s.renderReviews(w, r, p, http.StatusUnprocessableEntity, "", "Choose whether to approve or reject the care-team change.")
		return
	}
	err := s.records.Patients.DecideCareTeamChange(r.Context(), p, r.PathValue("id"), approve)
	if f := fieldsOf(err); f != nil {
		s.renderReviews(w, r, p, http.StatusUnprocessableEntity, "", "The decision was not saved: this change has already been decided.")
		return
	}
	if errors.Is(err, patient.ErrForbidden) {
		s.renderError(w, r, http.StatusForbidden, "You may not decide this care-team change. A privacy officer other than the person who asked for it, or whom it would add, must decide it.")
		return
	}
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	to := "/privacy/break-glass?decided=rejected"
	if approve {
		to = "/privacy/break-glass?decided=approved"
	}
	http.Redirect(w, r, to, http.StatusSeeOther)
}

// apiDecideChange is pageDecideChange for the API.
func (s *Server) apiDecideChange(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var in struct {
		Decision string `json:"decision"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	approve, ok := changeDecision(in.Decision)
	if !ok {
		WriteValidation(w, r, "The decision was refused.", map[string]string{"decision": `must be "approve" or "reject"`})
		return
	}
	if err := s.records.Patients.DecideCareTeamChange(r.Context(), p, r.PathValue("id"), approve); err != nil {
		s.apiError(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// pendingMessage is what a clinician reads after asking for a care-team
// change under break-glass.
const pendingMessage = "Under emergency access a care-team change is only a request: it was sent to the privacy officer, and the care team changes once they approve it."
