package rehab

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// reasonNoPatient is the audit reason for a request about a patient id
// that does not exist (the caller gets the same 404 as for a hidden one).
const reasonNoPatient access.Reason = "patient_not_found"

// grant is an allowed access: the patient's workspace and the facts the
// audit entry needs once the request knows its outcome.
type grant struct {
	workspaceID string
	patientID   string
	decision    access.Decision
}

// decide loads the facts about p and the patient, asks the policy, and for a
// denial writes the audit entry and returns ErrNotFound or ErrForbidden. An
// allowed access is not yet audited: the caller appends the entry (with its
// counts) before any data is written or decrypted.
func (s *Service) decide(ctx context.Context, p *access.Principal, a access.Action, patientID, resourceType string) (grant, error) {
	ws, err := s.facts.WorkspaceOf(ctx, patientID)
	exists := err == nil
	if err != nil && !errors.Is(err, ErrNotFound) {
		return grant{}, err
	}
	r := access.Resource{Kind: access.KindRehab, WorkspaceID: ws, PatientID: patientID}
	if exists && p != nil && p.UserID != "" && isMember(p.Role) {
		r.CareTeam, err = s.facts.OnCareTeam(ctx, patientID, p.UserID)
		if err != nil {
			return grant{}, err
		}
	}
	d := access.Decide(p, a, r)
	if !exists {
		// A patient that does not exist looks like one the caller may not see.
		d = access.Decision{Reason: reasonNoPatient}
	}
	g := grant{workspaceID: ws, patientID: patientID, decision: d}
	if d.Allow {
		return g, nil
	}
	if _, err := s.append(ctx, p, a, g, resourceType, "", "denied"); err != nil {
		return grant{}, err
	}
	if d.Visible {
		return grant{}, ErrForbidden
	}
	return grant{}, ErrNotFound
}

func isMember(r access.Role) bool {
	for _, m := range access.MemberRoles {
		if m == r {
			return true
		}
	}
	return false
}

// append writes the audit entry for an access. Its error wraps
// audit.ErrUnavailable when the log could not record it; the caller then
// releases and changes nothing.
func (s *Service) append(ctx context.Context, p *access.Principal, a access.Action, g grant, resourceType, resourceID, outcome string) (audit.Receipt, error) {
	e := audit.Event{
		Action:       string(a),
		ResourceType: resourceType,
		ResourceID:   resourceID,
		PatientID:    g.patientID,
		WorkspaceID:  g.workspaceID,
		Purpose:      "treatment",
		Decision:     "deny",
		Reason:       string(g.decision.Reason),
		BreakGlass:   g.decision.BreakGlass,
		Outcome:      outcome,
	}
	if g.decision.Allow {
		e.Decision = "allow"
	}
	if p != nil {
		e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
		e.OnBehalfOf, e.ClientAddr, e.RequestID = p.OnBehalfOf, p.ClientAddr, p.RequestID
		if e.WorkspaceID == "" {
			e.WorkspaceID = p.WorkspaceID
		}
	}
	rc, err := s.audit.Append(ctx, e)
	if err != nil {
		if !errors.Is(err, audit.ErrUnavailable) {
			err = fmt.Errorf("%w: %w", audit.ErrUnavailable, err)
		}
		return audit.Receipt{}, fmt.Errorf("audit rehab access: %w", err)
	}
	return rc, nil
}

// errNoReceipt guards every decryption: only a receipt for this patient's
// audit entry opens their records.
var errNoReceipt = errors.New("rehab: decrypting needs a valid audit receipt for this patient")

func checkReceipt(rc audit.Receipt, patientID string) error {
	if !rc.Covers(patientID) {
		return errNoReceipt
	}
	return nil
}
