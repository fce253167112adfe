package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Scopes is the closed list of what an API token may be allowed to do,
// taken from the access policy so that every scope offered grants the
// actions it names. A token acts as the user who made it, limited to its
// scopes.
var Scopes = access.ScopeNames()

// TokenPrefix starts every API token, so leaked tokens are easy to
// recognise and scan for.
const TokenPrefix = "cus_"

// MaxTokenLifetime bounds how long a token may live.
const MaxTokenLifetime = 366 * 24 * time.Hour

// APIToken is a token's metadata. The secret itself is shown once, at
// creation, and never stored.
type APIToken struct {
	ID          string
	Name        string
	WorkspaceID string
	Scopes      []string
	CreatedAt   time.Time
	ExpiresAt   time.Time
	LastUsedAt  time.Time // zero if never used
}

// TokenInput describes a new token.
type TokenInput struct {
	Name     string
	Scopes   []string
	Lifetime time.Duration // default 90 days
}

// CreateToken makes an API token acting as p's user in p's workspace. Only
// a signed-in person may make one; tokens cannot make tokens.
func (s *Service) CreateToken(ctx context.Context, p *access.Principal, in TokenInput, m Meta) (*APIToken, string, error) {
	if p == nil || p.TokenID != "" {
		return nil, "", errForbidden
	}
	in.Name = strings.TrimSpace(in.Name)
	if in.Name == "" || utf8.RuneCountInString(in.Name) > 100 {
		return nil, "", invalid("name", "name_required", "Give the token a name of up to 100 characters, such as the app or device that will use it.")
	}
	if len(in.Scopes) == 0 {
		return nil, "", invalid("scopes", "scopes_required", "Choose at least one permission for the token.")
	}
	for _, sc := range in.Scopes {
		// A scope the policy maps to no action would grant nothing while
		// looking like a permission, so it is refused like an unknown one.
		if !slices.Contains(Scopes, sc) || len(access.ScopeActions(sc)) == 0 {
			return nil, "", invalid("scopes", "scope_unknown", "Unknown permission "+fmt.Sprintf("%q", sc)+"; choose from: "+strings.Join(Scopes, ", ")+".")
		}
	}
	if in.Lifetime == 0 {
		in.Lifetime = 90 * 24 * time.Hour
	}
	if in.Lifetime < time.Hour || in.Lifetime > MaxTokenLifetime {
		return nil, "", invalid("lifetime", "lifetime_invalid", "A token lives between one hour and one year.")
	}
	sc := slices.Clone(in.Scopes)
	slices.Sort(sc)
	sc = slices.Compact(sc)
	now := s.now()
	t := &APIToken{ID: newID(), Name: in.Name, WorkspaceID: p.WorkspaceID, Scopes: sc, CreatedAt: now, ExpiresAt: now.Add(in.Lifetime)}
	secret := TokenPrefix + randomToken(32)
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO api_tokens (id, token_hash, user_id, workspace_id, name, scopes, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`, t.ID, hashToken(secret), p.UserID, p.WorkspaceID, t.Name, strings.Join(sc, " "), micros(now), micros(t.ExpiresAt)); err != nil {
		return nil, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, s.record(ctx, m, audit.Event{ActorUserID: p.UserID, WorkspaceID: p.WorkspaceID, ActorRole: string(p.Role),
		Action: "auth.token.create", ResourceID: p.UserID, Reason: t.ID})
}

// Tokens lists the user's tokens that are neither revoked nor expired.
func (s *Service) Tokens(ctx context.Context, uid string) ([]APIToken, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, name, workspace_id, scopes, created_at, expires_at, last_used_at FROM api_tokens
		WHERE user_id = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY created_at DESC`, uid, micros(s.now()))
	if err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	defer rows.Close()
	var out []APIToken
	for rows.Next() {
		var t APIToken
		var ws sql.NullString
		var scopes string
		var created, exp int64
		var used sql.NullInt64
		if err := rows.Scan(&t.ID, &t.Name, &ws, &scopes, &created, &exp, &used); err != nil {
			return nil, fmt.Errorf("list tokens: %w", err)
		}
		t.WorkspaceID, t.Scopes = ws.String, strings.Fields(scopes)
		t.CreatedAt, t.ExpiresAt = time.UnixMicro(created), time.UnixMicro(exp)
		if used.Valid {
			t.LastUsedAt = time.UnixMicro(used.Int64)
		}
		out = append(out, t)
	}
	return out, rows.Err()
}

// RevokeToken stops one of the user's tokens working.
func (s *Service) RevokeToken(ctx context.Context, p *access.Principal, id string, m Meta) error {
	if p == nil || p.TokenID != "" {
		return errForbidden
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, micros(s.now()), id, p.UserID)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return &Error{Kind: KindNotFound, Code: "token_not_found", Message: "There is no such token, or it was already revoked."}
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, WorkspaceID: p.WorkspaceID, Action: "auth.token.revoke", ResourceID: p.UserID, Reason: id})
}

var errBadToken = &Error{Kind: KindUnauthenticated, Code: "token_invalid", Message: "The API token is not valid: it may be mistyped, expired or revoked."}

// AuthenticateToken resolves a bearer token to its user's principal,
// limited to the token's scopes, in the token's workspace.
func (s *Service) AuthenticateToken(ctx context.Context, secret string, m Meta) (*access.Principal, error) {
	if !strings.HasPrefix(secret, TokenPrefix) {
		return nil, errBadToken
	}
	var id, uid, scopes string
	var ws sql.NullString
	var exp int64
	var revoked, used sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, user_id, workspace_id, scopes, expires_at, revoked_at, last_used_at FROM api_tokens WHERE token_hash = $1`,
		hashToken(secret)).Scan(&id, &uid, &ws, &scopes, &exp, &revoked, &used)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadToken
	}
	if err != nil {
		return nil, fmt.Errorf("read token: %w", err)
	}
	now := s.now()
	if revoked.Valid || !now.Before(time.UnixMicro(exp)) {
		return nil, errBadToken
	}
	if !used.Valid || now.Sub(time.UnixMicro(used.Int64)) >= touchEvery {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE api_tokens SET last_used_at = $1 WHERE id = $2`, micros(now), id); err != nil {
			return nil, fmt.Errorf("touch token: %w", err)
		}
	}
	p, err := s.principal(ctx, uid, ws.String)
	if err != nil {
		return nil, err
	}
	if ws.String != "" && p.WorkspaceID != ws.String {
		// The user has left the workspace the token was made for.
		return nil, errBadToken
	}
	p.TokenID, p.Scopes, p.ClientAddr, p.RequestID = id, strings.Fields(scopes), m.ClientAddr, m.RequestID
	return p, nil
}
