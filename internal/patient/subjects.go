package patient

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/custodia-health/custodia/internal/access"
)

// Subjects answers other services' questions about a patient as a data
// subject (consent needs them): which workspace holds the record, who is on
// the care team, who represents the patient, and whether the patient is a
// minor. It implements consent.Subjects.
type Subjects struct{ S *Service }

// Workspace returns the workspace holding the patient.
func (x Subjects) Workspace(ctx context.Context, patientID string) (string, error) {
	var ws string
	err := x.S.db.Read.QueryRowContext(ctx, `SELECT workspace_id FROM patients WHERE id = $1`, patientID).Scan(&ws)
	if errors.Is(err, sql.ErrNoRows) {
		return "", ErrNotFound
	}
	if err != nil {
		return "", fmt.Errorf("read patient workspace: %w", err)
	}
	return ws, nil
}

// OnCareTeam reports whether userID is on the patient's care team now.
func (x Subjects) OnCareTeam(ctx context.Context, userID, patientID string) (bool, error) {
	return x.exists(ctx, `SELECT 1 FROM care_team WHERE patient_id = $1 AND user_id = $2 AND removed_at IS NULL`, patientID, userID)
}

// IsRepresentative reports whether userID is a current personal
// representative of the patient.
func (x Subjects) IsRepresentative(ctx context.Context, userID, patientID string) (bool, error) {
	if userID == "" {
		return false, nil
	}
	return x.exists(ctx, `SELECT 1 FROM personal_representatives WHERE patient_id = $1 AND user_id = $2 AND removed_at IS NULL`, patientID, userID)
}

func (x Subjects) exists(ctx context.Context, q string, args ...any) (bool, error) {
	var one int
	err := x.S.db.Read.QueryRowContext(ctx, q, args...).Scan(&one)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("read patient relationship: %w", err)
	}
	return true, nil
}

// IsMinor reports whether the patient is under 18 at the given time. The
// birth date is PHI, so this read is audited like any other, as the system
// acting for the consent rules (purpose "consent_capacity"), and it decrypts
// only the minimum-necessary summary.
func (x Subjects) IsMinor(ctx context.Context, patientID string, at time.Time) (bool, error) {
	r, err := x.S.loadRow(ctx, nil, patientID)
	if err != nil {
		return false, err
	}
	// The entry is built like every gate decision, with the system as the
	// actor and the consent rules as the reason: ids and codes only.
	sys := &access.Principal{UserID: SystemActor, Role: SystemActor, WorkspaceID: r.workspaceID}
	// The check runs inside someone's request: carry its id and address so
	// the entry can be traced to the request that caused it.
	if p, ok := access.PrincipalFrom(ctx); ok {
		sys.RequestID, sys.ClientAddr = p.RequestID, p.ClientAddr
	}
	e := Event(sys, Check{AuditAction: "patient.age_check", ResourceType: "patient", ResourceID: r.id,
		Resource: access.Resource{Kind: access.KindPatient, WorkspaceID: r.workspaceID, PatientID: r.id}},
		access.Decision{Allow: true, Reason: access.AllowSystemConsentRules})
	e.Purpose = PurposeConsentCapacity
	rc, err := x.S.gate.Audit.Append(ctx, e)
	if err != nil {
		return false, fmt.Errorf("audit age check: %w", err)
	}
	k, err := x.S.patientKey(ctx, r)
	if err != nil {
		return false, fmt.Errorf("patient key: %w", err)
	}
	var sum Summary
	if err := Open(rc, r.id, k, r.summary, tablePatients, r.id, colSummary, &sum); err != nil {
		return false, err
	}
	// An unusable birth date gives age -1: a minor, the cautious answer, so
	// a representative must decide.
	return sum.Age(at) < AdultAge, nil
}
