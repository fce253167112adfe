package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/access"
)

// DemoMember is one fictional account of the demo workspace.
type DemoMember struct {
	Name, Email, Password string
	Role                  access.Role
	Roles                 []access.Role // more roles held besides Role, if any
}

// EnsureDemoWorkspace creates (once) a workspace named name whose members
// are the given fictional accounts, verified and ready to sign in with the
// given passwords. The demo workspace does not require MFA so that a first
// look needs no authenticator app; every other workspace still does by
// default. It returns the workspace id and the members' user ids in order.
// It is for `serve -demo` only: never call it on a production database.
func (s *Service) EnsureDemoWorkspace(ctx context.Context, name string, members []DemoMember) (string, []string, error) {
	var ws string
	err := s.db.Read.QueryRowContext(ctx, `SELECT id FROM workspaces WHERE name = $1 ORDER BY created_at LIMIT 1`, name).Scan(&ws)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		return "", nil, fmt.Errorf("find demo workspace: %w", err)
	}
	now := micros(s.now())
	ids := make([]string, len(members))
	hashes := make([]string, len(members))
	for i, m := range members {
		if err := CheckPassword(m.Password, PasswordContext{Name: m.Name, Email: m.Email}); err != nil {
			return "", nil, fmt.Errorf("demo password for %s: %w", m.Role, err)
		}
		if hashes[i], err = s.hasher.hash(normalizePassword(m.Password)); err != nil {
			return "", nil, err
		}
	}
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if ws == "" {
			ws = newID()
			if _, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, name, mfa_required, created_at) VALUES ($1, $2, 0, $3)`, ws, name, now); err != nil {
				return fmt.Errorf("create demo workspace: %w", err)
			}
		}
		for i, m := range members {
			email := normalizeEmail(m.Email)
			err := tx.QueryRowContext(ctx, `SELECT id FROM users WHERE email_index = $1`, s.emailIndex(email)).Scan(&ids[i])
			if errors.Is(err, sql.ErrNoRows) {
				ids[i] = newID()
				err = s.insertUser(ctx, tx, ids[i], email, m.Name, hashes[i], now, now)
			}
			if err != nil {
				return fmt.Errorf("create demo user: %w", err)
			}
			var n int
			if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND user_id = $2`, ws, ids[i]).Scan(&n); err != nil {
				return fmt.Errorf("add demo member: %w", err)
			}
			if n == 0 {
				if err := s.putMember(ctx, tx, ws, ids[i], append([]access.Role{m.Role}, m.Roles...), false, now); err != nil {
					return fmt.Errorf("add demo member: %w", err)
				}
			}
		}
		return nil
	})
	if err != nil {
		return "", nil, err
	}
	return ws, ids, nil
}
