package consent

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// UnsubscribeLink is the method of a withdrawal made with the one-click
// unsubscribe link of a news email: the patient, or their mail client on
// their behalf (RFC 8058), without a session.
const UnsubscribeLink Method = "unsubscribe_link"

// UnsubscribeRecorder is the recorded_by of such a withdrawal: no user is
// signed in; the signed link names the patient, and the ledger says the
// patient decided.
const UnsubscribeRecorder = "system:unsubscribe_link"

// Unsubscribable are the purposes a signed unsubscribe link may withdraw:
// contact beyond care. Care and security mail has no such link.
var Unsubscribable = map[PurposeCode]bool{Marketing: true, SMS: true}

// ErrNotUnsubscribable is a purpose no unsubscribe link may withdraw.
var ErrNotUnsubscribable = errors.New("this purpose cannot be withdrawn with an unsubscribe link")

// RecordUnsubscribe withdraws the patient's consent to purpose (Marketing or
// SMS) for every data category whose latest event is not already a
// withdrawal, as decided by the patient through an unsubscribe link. The
// caller has verified the link's signature: that is the authority here, in
// place of a session and the access policy. Unlike a grant, a withdrawal
// needs no representative for a minor: stopping use is always possible.
// It is idempotent: a second click records nothing and says so (false).
// Every call is audited, with the purpose.
func (s *Service) RecordUnsubscribe(ctx context.Context, patientID string, purpose PurposeCode) (bool, error) {
	if !Unsubscribable[purpose] {
		return false, ErrNotUnsubscribable
	}
	ws, err := s.subjects.Workspace(ctx, patientID)
	if err != nil {
		return false, fmt.Errorf("find patient workspace: %w", err)
	}
	now := s.now()
	recorded := false
	for _, cat := range Categories {
		var last string
		err := s.db.Read.QueryRowContext(ctx, `SELECT action FROM consent_events
			WHERE patient_id = $1 AND purpose = $2 AND category = $3 ORDER BY recorded_at DESC LIMIT 1`,
			patientID, string(purpose), string(cat)).Scan(&last)
		if errors.Is(err, sql.ErrNoRows) && cat != General {
			continue // nothing was ever granted on this category
		}
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			return false, fmt.Errorf("read consent ledger: %w", err)
		}
		if last == string(Withdraw) {
			continue
		}
		c := Change{PatientID: patientID, Purpose: purpose, Category: cat, Action: Withdraw, Method: UnsubscribeLink}
		ev := Event{ID: newID("ce_"), PatientID: patientID, WorkspaceID: ws, Purpose: purpose, Category: cat,
			Action: Withdraw, Method: UnsubscribeLink, DecidedBy: ByPatient, RecordedBy: UnsubscribeRecorder}
		if err := s.pickText(ctx, &c, &ev, now); err != nil {
			return false, err
		}
		// No audit, no change: the entry is durable before the row is written.
		if _, err := s.appendAudit(ctx, nil, audit.Event{Action: auditAction(Withdraw), ResourceType: string(access.KindConsent),
			ResourceID: ev.ID, WorkspaceID: ws, PatientID: patientID, Purpose: string(purpose),
			Reason: string(UnsubscribeLink), Decision: "allow", Outcome: "success"}); err != nil {
			return false, err
		}
		err = s.db.Tx(ctx, func(tx *sql.Tx) error {
			var prev int64
			if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(recorded_at), 0) FROM consent_events
				WHERE patient_id = $1 AND purpose = $2 AND category = $3`, patientID, string(purpose), string(cat)).Scan(&prev); err != nil {
				return fmt.Errorf("last consent event: %w", err)
			}
			at := max(micros(now), prev+1)
			ev.RecordedAt = fromMicros(at)
			_, err := tx.ExecContext(ctx, `INSERT INTO consent_events (id, patient_id, workspace_id, purpose, category, action,
				text_id, method, decided_by, representative, recorded_by, on_behalf_of, form_blob, form_type, form_size, note, recorded_at)
				VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, '', $10, '', '', '', 0, NULL, $11)`,
				ev.ID, patientID, ws, string(purpose), string(cat), string(Withdraw), ev.TextID, string(UnsubscribeLink),
				string(ByPatient), UnsubscribeRecorder, at)
			if err != nil {
				return fmt.Errorf("insert consent event: %w", err)
			}
			return nil
		})
		if err != nil {
			return false, err
		}
		recorded = true
	}
	return recorded, nil
}
