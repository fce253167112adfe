package patient

import (
	"context"
	"database/sql"
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
// changes nothing. TODO(identity): check that userID is a clinician of the
// workspace once memberships are merged; until then ids are taken as given.
func (s *Service) AddToCareTeam(ctx context.Context, p *access.Principal, patientID, userID string) error {
	if !validUserID(userID) {
		return Invalid("user_id", "must be a user id")
	}
	r, _, d, err := s.pass(ctx, p, patientID, access.CareTeamManage, "careteam.add")
	if err != nil {
		return err
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx, `INSERT INTO care_team (patient_id, user_id, added_by, added_at)
			SELECT $1, $2, $3, $4 WHERE NOT EXISTS (SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2 AND removed_at IS NULL)`,
			patientID, userID, p.UserID, s.now().UnixMicro())
		return err
	})
	if err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.CareTeamManage, "careteam.add", r), d)
		return fmt.Errorf("add to care team: %w", err)
	}
	return nil
}

// RemoveFromCareTeam ends userID's membership; the row stays as history.
func (s *Service) RemoveFromCareTeam(ctx context.Context, p *access.Principal, patientID, userID string) error {
	if !validUserID(userID) {
		return Invalid("user_id", "must be a user id")
	}
	r, _, d, err := s.pass(ctx, p, patientID, access.CareTeamManage, "careteam.remove")
	if err != nil {
		return err
	}
	var n int64
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE care_team SET removed_at = $1, removed_by = $2
			WHERE patient_id = $3 AND user_id = $4 AND removed_at IS NULL`, s.now().UnixMicro(), p.UserID, patientID, userID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
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
