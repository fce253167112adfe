package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
)

// EnsureDemoPatientAccount creates (once) a verified patient portal account
// for a fictional demo patient and links it to their record in workspace
// ws, as accepting a portal invitation would. It returns the account's
// user id. Like EnsureDemoWorkspace it is for `serve -demo` only.
func (s *Service) EnsureDemoPatientAccount(ctx context.Context, ws, patientID string, m DemoMember) (string, error) {
	if err := CheckPassword(m.Password, PasswordContext{Name: m.Name, Email: m.Email}); err != nil {
		return "", fmt.Errorf("demo patient password: %w", err)
	}
	hash, err := s.hasher.hash(normalizePassword(m.Password))
	if err != nil {
		return "", err
	}
	now := micros(s.now())
	var uid string
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		email := normalizeEmail(m.Email)
		err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email_index = $1`, s.emailIndex(email)).Scan(&uid)
		if errors.Is(err, sql.ErrNoRows) {
			uid = newID()
			err = s.insertUser(ctx, tx, uid, email, m.Name, hash, now, now)
		}
		if err != nil {
			return fmt.Errorf("create demo patient account: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO patient_users (user_id, patient_id, relationship, workspace_id, created_at)
			VALUES ($1, $2, 'self', $3, $4) ON CONFLICT (user_id, patient_id) DO NOTHING`, uid, patientID, ws, now); err != nil {
			return fmt.Errorf("link demo patient account: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return uid, nil
}
