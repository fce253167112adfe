package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	imail "github.com/custodia-health/custodia/internal/mail"
)

// NotifyPrivacyOfficers emails every privacy officer of workspace ws, in the
// background. The message must carry no PHI: it says that something needs
// their review and links to the page where they see it after signing in.
func (s *Service) NotifyPrivacyOfficers(ctx context.Context, ws, subject, text string) error {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT u.id, u.email_enc FROM member_roles m JOIN users u ON u.id = m.user_id
		WHERE m.workspace_id = $1 AND m.role = $2 AND u.email_verified_at IS NOT NULL`, ws, string(access.RolePrivacyOfficer))
	if err != nil {
		return fmt.Errorf("list privacy officers: %w", err)
	}
	var to []string
	for rows.Next() {
		var uid string
		var sealed []byte
		if err := rows.Scan(&uid, &sealed); err != nil {
			rows.Close()
			return fmt.Errorf("list privacy officers: %w", err)
		}
		e, err := s.openText("users", uid, "email_enc", sealed)
		if err != nil {
			rows.Close()
			return fmt.Errorf("list privacy officers: %w", err)
		}
		to = append(to, e)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return fmt.Errorf("list privacy officers: %w", err)
	}
	for _, addr := range to {
		s.background(func(ctx context.Context) error {
			return s.mailer.Send(ctx, imail.Message{To: addr, Subject: subject, Text: text})
		})
	}
	return nil
}

// ErrReauthFailed is returned when a password re-check fails.
var ErrReauthFailed = errors.New("identity: the password is not correct")

// Reauthenticate checks the signed-in user's password again before a
// sensitive step (break-glass). Failures count towards the account's
// throttle like sign-in failures.
func (s *Service) Reauthenticate(ctx context.Context, uid, password string, m Meta) error {
	u, err := s.User(ctx, uid)
	if err != nil {
		return ErrReauthFailed
	}
	var hash string
	if err := s.db.Read.QueryRowContext(ctx, `SELECT password_hash FROM users WHERE id = $1`, uid).Scan(&hash); err != nil {
		return ErrReauthFailed
	}
	if err := s.checkThrottle(ctx, u.Email, m.ClientAddr); err != nil {
		return err
	}
	ok, _, err := s.hasher.verify(normalizePassword(password), hash)
	if err != nil {
		return err
	}
	if !ok {
		_ = s.noteFailure(ctx, u.Email, m.ClientAddr)
		_ = s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.reauth", ResourceType: "user", ResourceID: uid, Outcome: "failure"})
		return ErrReauthFailed
	}
	_ = s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.reauth", ResourceType: "user", ResourceID: uid, Outcome: "success"})
	return nil
}
