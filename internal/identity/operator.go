package identity

import (
	"context"
	"database/sql"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// OperatorLinkTTL is how long the set-password link of a new operator works.
const OperatorLinkTTL = 24 * time.Hour

// OperatorInput is the platform operator account to create from the console.
type OperatorInput struct {
	Email string
	Name  string
	// Password, when set, becomes the account's password; when empty the
	// account gets an unusable one and CreateOperator returns a one-time
	// link to choose it.
	Password string
}

// CreateOperator creates a platform operator account (role operator: it
// publishes the platform notice and keeps the platform's processor registry,
// and sees no PHI). It is run by whoever runs the server, from the console,
// so the address counts as confirmed. The operator must enrol a second
// factor at first sign-in (MFARequired holds for operators). It returns the
// new user id and, without a password, the set-password link.
func (s *Service) CreateOperator(ctx context.Context, in OperatorInput, m Meta) (uid, link string, err error) {
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" {
		in.Name = "Platform operator"
	}
	if err := checkNameEmail(in.Name, in.Email); err != nil {
		return "", "", err
	}
	email := normalizeEmail(in.Email)
	password := in.Password
	if password == "" {
		password = randomToken(32) // unusable: nobody knows it; the link replaces it
	} else if err := CheckPassword(password, PasswordContext{Name: in.Name, Email: email}); err != nil {
		return "", "", err
	}
	hash, err := s.hasher.hash(normalizePassword(password))
	if err != nil {
		return "", "", err
	}
	now := s.now()
	uid = newID()
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := s.insertUser(ctx, tx, uid, email, in.Name, hash, micros(now), micros(now))
		if s.db.Dialect.IsUniqueViolation(err) {
			return invalid("email", "email_taken", "An account with this email address exists already.")
		}
		if err != nil {
			return fmt.Errorf("create operator: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET operator = 1 WHERE id = $1`, uid); err != nil {
			return fmt.Errorf("mark operator: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", "", err
	}
	if err := s.record(ctx, m, audit.Event{ActorRole: string(access.RoleOperator), Action: "operator.create", ResourceID: uid}); err != nil {
		return "", "", err
	}
	if in.Password == "" {
		tok, err := s.issueEmailToken(ctx, uid, "reset", OperatorLinkTTL)
		if err != nil {
			return "", "", err
		}
		link = s.link("/reset", tok)
	}
	return uid, link, nil
}
