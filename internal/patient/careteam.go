package patient

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
)

// Member is one clinician on a patient's care team.
type Member struct {
	UserID  string
	AddedBy string
	AddedAt time.Time
}

// CareTeam lists the active care team. Reading it is part of reading the
// record (it says who treats the patient), so it needs patient.read or the
// right to manage the team.
func (s *Service) CareTeam(ctx context.Context, p *access.Principal, patientID string) ([]Member, error) {
	r, err := s.loadRow(ctx, p, patientID)
	if err != nil {
		if err == ErrNotFound {
			return nil, s.gate.Refuse(ctx, p, Check{Action: access.PatientRead, AuditAction: "careteam.read", ResourceType: "patient", ResourceID: patientID}, ReasonNotFound, err)
		}
		return nil, err
	}
	a := access.PatientRead
	if !access.Decide(p, a, r.resource()).Allow && access.Decide(p, access.CareTeamManage, r.resource()).Allow {
		a = access.CareTeamManage // an admin managing the team sees its ids, not the record
	}
	if _, _, err := s.gate.Pass(ctx, p, patientCheck(a, "careteam.read", r)); err != nil {
		return nil, err
	}
	return s.careTeam(ctx, patientID)
}

func (s *Service) careTeam(ctx context.Context, patientID string) ([]Member, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, added_by, added_at FROM care_team
		WHERE patient_id = $1 AND removed_at IS NULL ORDER BY added_at, user_id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("list care team: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var m Member
		var at int64
		if err := rows.Scan(&m.UserID, &m.AddedBy, &at); err != nil {
			return nil, fmt.Errorf("list care team: %w", err)
		}
		m.AddedAt = time.UnixMicro(at)
		out = append(out, m)
	}
	return out, rows.Err()
}

// validUserID accepts the opaque ids identity hands out.
func validUserID(id string) bool {
	return id != "" && len(id) <= 64 && strings.IndexFunc(id, func(r rune) bool {
		return !(r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r == '-' || r == '_')
	}) < 0
}

// AddToCareTeam adds userID to the care team. Adding someone already on it
// changes nothing. Under a break-glass grant the policy allows only a
// request: it is recorded and AddToCareTeam returns an *AwaitingApproval
// error, so a caller that does not know about requests reports a failure,
// which is what it is until a privacy officer approves.
// TODO(identity): check that userID is a clinician of the workspace once
// memberships are merged; until then ids are taken as given.
func (s *Service) AddToCareTeam(ctx context.Context, p *access.Principal, patientID, userID string) error {
	if !validUserID(userID) {
		return Invalid("user_id", "must be a user id")
	}
	r, d, err := s.passCareTeam(ctx, p, patientID, "add", userID)
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error { return addMember(ctx, tx, patientID, userID, p.UserID, s.now()) })
	if err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.CareTeamManage, "careteam.add", r), d)
		return fmt.Errorf("add to care team: %w", err)
	}
	return nil
}

func addMember(ctx context.Context, tx *sql.Tx, patientID, userID, by string, at time.Time) error {
	_, err := tx.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, added_by, added_at)
		SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2 AND removed_at IS NULL)`,
		patientID, userID, by, at.UnixMicro())
	return err
}

func removeMember(ctx context.Context, tx *sql.Tx, patientID, userID, by string, at time.Time) (int64, error) {
	res, err := tx.ExecContext(ctx, `UPDATE care_team SET removed_at = $1, removed_by = $2
		WHERE patient_id = $3 AND user_id = $4 AND removed_at IS NULL`, at.UnixMicro(), by, patientID, userID)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// RemoveFromCareTeam ends userID's membership; the row stays as history.
// Under a break-glass grant it is a request, as with AddToCareTeam.
func (s *Service) RemoveFromCareTeam(ctx context.Context, p *access.Principal, patientID, userID string) error {
	if !validUserID(userID) {
		return Invalid("user_id", "must be a user id")
	}
	r, d, err := s.passCareTeam(ctx, p, patientID, "remove", userID)
	if err != nil {
		return err
	}
	var n int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		n, err = removeMember(ctx, tx, patientID, userID, p.UserID, s.now())
		return err
	})
	if err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.CareTeamManage, "careteam.remove", r), d)
		return fmt.Errorf("remove from care team: %w", err)
	}
	if n == 0 {
		s.gate.Failed(ctx, p, patientCheck(access.CareTeamManage, "careteam.remove", r), d)
		return Invalid("user_id", "is not on this patient's care team")
	}
	return nil
}

// passCareTeam decides a care-team change. Allowed, it is audited and the
// caller applies it; pending (break-glass), it is recorded as a request and
// audited as careteam.OP_request, and the error is *AwaitingApproval.
func (s *Service) passCareTeam(ctx context.Context, p *access.Principal, patientID, op, userID string) (*row, access.Decision, error) {
	auditAction := "careteam." + op
	r, err := s.loadRow(ctx, p, patientID)
	if errors.Is(err, ErrNotFound) {
		c := Check{Action: access.CareTeamManage, AuditAction: auditAction, ResourceType: "patient", ResourceID: patientID}
		return nil, access.Decision{}, s.gate.Refuse(ctx, p, c, ReasonNotFound, ErrNotFound)
	}
	if err != nil {
		return nil, access.Decision{}, err
	}
	if d := access.Decide(p, access.CareTeamManage, r.resource()); d.Pending {
		return nil, d, s.requestCareTeamChange(ctx, p, r, d, op, userID)
	}
	_, d, err := s.gate.Pass(ctx, p, patientCheck(access.CareTeamManage, auditAction, r))
	return r, d, err
}

// AwaitingApproval is returned for a care-team change made under break-glass:
// nothing changed yet; the request waits in the break-glass review queue.
type AwaitingApproval struct{ ChangeID string }

func (e *AwaitingApproval) Error() string {
	return "care-team change " + e.ChangeID + " awaits a privacy officer's approval"
}

// CareTeamChange is a care-team change requested under a break-glass grant.
type CareTeamChange struct {
	ID          string
	GrantID     string
	PatientID   string
	Op          string // "add" or "remove"
	UserID      string // who would join or leave the care team
	RequestedBy string
	RequestedAt time.Time
	Status      string // "pending", "approved" or "rejected"
	DecidedBy   string
	DecidedAt   time.Time
}

// requestCareTeamChange records a pending change under the requester's
// active grant. The entry is written first (no audit, no change); asking
// again for the same pending change returns the one already waiting.
func (s *Service) requestCareTeamChange(ctx context.Context, p *access.Principal, r *row, d access.Decision, op, userID string) error {
	c := patientCheck(access.CareTeamManage, "careteam."+op+"_request", r)
	e := Event(p, c, d)
	// The request, unlike the change, is allowed: the entry says so and
	// keeps the policy's reason, flagged as done under the grant.
	e.Decision, e.Outcome = "allow", "success"
	if _, err := s.gate.Audit.Append(ctx, e); err != nil {
		return fmt.Errorf("audit %s: %w", c.AuditAction, err)
	}
	id := NewID()
	now := s.now()
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var grant string
		if err := tx.QueryRowContext(ctx, `SELECT id FROM break_glass_grants WHERE patient_id = $1 AND user_id = $2 AND expires_at > $3
			ORDER BY created_at DESC LIMIT 1`, r.id, p.UserID, now.UnixMicro()).Scan(&grant); err != nil {
			return fmt.Errorf("find break-glass grant: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO care_team_changes (id, workspace_id, patient_id, grant_id, op, user_id, requested_by, requested_at, status)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 'pending') ON CONFLICT (patient_id, user_id, op) WHERE status = 'pending' DO NOTHING`,
			id, r.workspaceID, r.id, grant, op, userID, p.UserID, now.UnixMicro()); err != nil {
			return fmt.Errorf("record care-team change: %w", err)
		}
		return tx.QueryRowContext(ctx, `SELECT id FROM care_team_changes WHERE patient_id = $1 AND user_id = $2 AND op = $3 AND status = 'pending'`,
			r.id, userID, op).Scan(&id)
	})
	if err != nil {
		s.gate.Failed(ctx, p, c, d)
		return err
	}
	return &AwaitingApproval{ChangeID: id}
}

// DecideCareTeamChange approves or rejects a pending care-team change.
// Only a privacy officer of the workspace decides (the policy's
// careteam.approve), and never the person who asked for the change or whom
// it would add: an emergency grant needs someone else's approval to become
// lasting access. Approving applies the change in the same transaction.
func (s *Service) DecideCareTeamChange(ctx context.Context, p *access.Principal, changeID string, approve bool) error {
	auditAction := "careteam.change_reject"
	if approve {
		auditAction = "careteam.change_approve"
	}
	var ch CareTeamChange
	var ws string
	err := s.db.Read.QueryRowContext(ctx, `SELECT workspace_id, patient_id, op, user_id, requested_by, status FROM care_team_changes WHERE id = $1`,
		changeID).Scan(&ws, &ch.PatientID, &ch.Op, &ch.UserID, &ch.RequestedBy, &ch.Status)
	c := Check{Action: access.CareTeamApprove, AuditAction: auditAction, ResourceType: "care_team_change", ResourceID: changeID,
		Resource: access.Resource{Kind: access.KindPatient, WorkspaceID: ws, PatientID: ch.PatientID}}
	if errors.Is(err, sql.ErrNoRows) {
		return s.gate.Refuse(ctx, p, c, ReasonNotFound, ErrNotFound)
	}
	if err != nil {
		return fmt.Errorf("load care-team change: %w", err)
	}
	if p != nil && (p.UserID == ch.RequestedBy || p.UserID == ch.UserID) {
		return s.gate.Refuse(ctx, p, c, ReasonSelfApproval, ErrForbidden)
	}
	_, d, err := s.gate.Pass(ctx, p, c)
	if err != nil {
		return err
	}
	if ch.Status != "pending" {
		s.gate.Failed(ctx, p, c, d)
		return Invalid("status", "this change has already been decided")
	}
	status := "rejected"
	if approve {
		status = "approved"
	}
	now := s.now()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE care_team_changes SET status = $1, decided_by = $2, decided_at = $3 WHERE id = $4 AND status = 'pending'`,
			status, p.UserID, now.UnixMicro(), changeID)
		if err != nil {
			return err
		}
		if n, err := res.RowsAffected(); err != nil || n != 1 {
			return errDecided
		}
		if !approve {
			return nil
		}
		if ch.Op == "add" {
			return addMember(ctx, tx, ch.PatientID, ch.UserID, p.UserID, now)
		}
		_, err = removeMember(ctx, tx, ch.PatientID, ch.UserID, p.UserID, now)
		return err
	})
	if err != nil {
		s.gate.Failed(ctx, p, c, d)
		if errors.Is(err, errDecided) {
			return Invalid("status", "this change has already been decided")
		}
		return fmt.Errorf("decide care-team change: %w", err)
	}
	return nil
}

// ReasonSelfApproval is the audit reason when someone tries to approve a
// change they asked for, or one that would add them.
const ReasonSelfApproval = "self_approval"

var errDecided = errors.New("care-team change already decided")

// careTeamChanges lists the care-team changes requested under the grants,
// by grant id, oldest first.
func (s *Service) careTeamChanges(ctx context.Context, ws string) (map[string][]CareTeamChange, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, grant_id, patient_id, op, user_id, requested_by, requested_at, status,
		  COALESCE(decided_by, ''), COALESCE(decided_at, 0)
		FROM care_team_changes WHERE workspace_id = $1 ORDER BY requested_at, id`, ws)
	if err != nil {
		return nil, fmt.Errorf("list care-team changes: %w", err)
	}
	defer rows.Close()
	out := map[string][]CareTeamChange{}
	for rows.Next() {
		var c CareTeamChange
		var at, dat int64
		if err := rows.Scan(&c.ID, &c.GrantID, &c.PatientID, &c.Op, &c.UserID, &c.RequestedBy, &at, &c.Status, &c.DecidedBy, &dat); err != nil {
			return nil, fmt.Errorf("list care-team changes: %w", err)
		}
		c.RequestedAt = time.UnixMicro(at)
		if dat > 0 {
			c.DecidedAt = time.UnixMicro(dat)
		}
		out[c.GrantID] = append(out[c.GrantID], c)
	}
	return out, rows.Err()
}
