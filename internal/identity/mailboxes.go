package identity

import (
	"context"
	"fmt"

	imail "github.com/custodia-health/custodia/internal/mail"
)

// PatientMailbox is where a patient's own account receives mail.
type PatientMailbox struct {
	PatientID string
	UserID    string
	Name      string
	Email     string // opened from its sealed column; never log it
}

// PatientMailboxes lists, for workspace ws, each patient record linked to
// the patient's own account ('self', not a representative's) with a
// confirmed email address: one mailbox per patient, the earliest link.
// It is for the workspace's news (outreach), which checks marketing
// consent per patient before anything is sent.
func (s *Service) PatientMailboxes(ctx context.Context, ws string) ([]PatientMailbox, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT pu.patient_id, u.id, u.email_enc, u.name_enc
		FROM patient_users pu JOIN users u ON u.id = pu.user_id
		WHERE pu.workspace_id = $1 AND pu.relationship = 'self' AND u.email_verified_at IS NOT NULL
		ORDER BY pu.patient_id, pu.created_at, u.id`, ws)
	if err != nil {
		return nil, fmt.Errorf("list patient mailboxes: %w", err)
	}
	type row struct {
		pid, uid    string
		email, name []byte
	}
	var rs []row
	for rows.Next() {
		var r row
		if err := rows.Scan(&r.pid, &r.uid, &r.email, &r.name); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list patient mailboxes: %w", err)
		}
		if len(rs) > 0 && rs[len(rs)-1].pid == r.pid {
			continue
		}
		rs = append(rs, r)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list patient mailboxes: %w", err)
	}
	out := make([]PatientMailbox, 0, len(rs))
	for _, r := range rs {
		email, err := s.openText("users", r.uid, "email_enc", r.email)
		if err != nil {
			return nil, fmt.Errorf("list patient mailboxes: %w", err)
		}
		name, err := s.openText("users", r.uid, "name_enc", r.name)
		if err != nil {
			return nil, fmt.Errorf("list patient mailboxes: %w", err)
		}
		out = append(out, PatientMailbox{PatientID: r.pid, UserID: r.uid, Name: name, Email: email})
	}
	return out, nil
}

// Mailer is the mailer identity sends with, for the other mail the
// product sends (the workspace's news) to go the same way.
func (s *Service) Mailer() imail.Mailer { return s.mailer }
