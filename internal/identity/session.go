package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Stage is how far a session has come through sign-in.
type Stage string

// Sign-in stages. Only StageFull sessions act as a principal; the others may
// only finish the second factor or enrol one.
const (
	StageMFA   Stage = "mfa"   // password accepted; a TOTP or recovery code is due
	StageEnrol Stage = "enrol" // password accepted; MFA is required but not yet set up
	StageFull  Stage = "full"
)

// Session is a browser sign-in. Its token lives only in the cookie; the
// database holds the token's SHA-256.
type Session struct {
	ID          string
	UserID      string
	Stage       Stage
	WorkspaceID string
	CreatedAt   time.Time
	LastSeenAt  time.Time
	ClientAddr  string
	UserAgent   string // a summary such as "Firefox on Linux", not the raw header
}

// touchEvery limits last-seen writes to one per interval per session; the
// idle timeout is minutes, so this costs it at most that much precision.
const touchEvery = 15 * time.Second

var errNoSession = &Error{Kind: KindUnauthenticated, Code: "session_invalid", Message: "Your session has ended. Sign in again."}

func (s *Service) createSession(ctx context.Context, uid string, stage Stage, m Meta) (string, *Session, error) {
	tok := randomToken(32)
	now := s.now()
	ws, err := s.defaultWorkspace(ctx, uid)
	if err != nil {
		return "", nil, err
	}
	sess := &Session{ID: newID(), UserID: uid, Stage: stage, WorkspaceID: ws, CreatedAt: now, LastSeenAt: now,
		ClientAddr: m.ClientAddr, UserAgent: summarizeUserAgent(m.UserAgent)}
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO sessions (id, token_hash, user_id, stage, workspace_id, created_at, last_seen_at, client_addr, user_agent)
		VALUES ($1, $2, $3, $4, $5, $6, $6, $7, $8)`,
		sess.ID, hashToken(tok), uid, string(stage), ws, micros(now), sess.ClientAddr, sess.UserAgent); err != nil {
		return "", nil, fmt.Errorf("create session: %w", err)
	}
	return tok, sess, nil
}

// rotate gives a session a new token (and stage and workspace), so a token
// captured before a sign-in step or a privilege change is worthless after it.
func (s *Service) rotate(ctx context.Context, id string, stage Stage, ws string) (string, error) {
	tok := randomToken(32)
	res, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET token_hash = $1, stage = $2, workspace_id = $3, last_seen_at = $4
		WHERE id = $5 AND revoked_at IS NULL`, hashToken(tok), string(stage), ws, micros(s.now()), id)
	if err != nil {
		return "", fmt.Errorf("rotate session: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", errNoSession
	}
	return tok, nil
}

// Authenticate resolves a session token. It enforces the idle timeout and
// the absolute lifetime server-side and records activity. For a StageFull
// session it returns the principal; for earlier stages the principal is nil.
func (s *Service) Authenticate(ctx context.Context, tok string, m Meta) (*Session, *access.Principal, error) {
	if tok == "" {
		return nil, nil, errNoSession
	}
	var sess Session
	var stage string
	var ws sql.NullString
	var created, seen int64
	var revoked sql.NullInt64
	err := s.db.Read.QueryRowContext(ctx, `SELECT id, user_id, stage, workspace_id, created_at, last_seen_at, client_addr, user_agent, revoked_at
		FROM sessions WHERE token_hash = $1`, hashToken(tok)).Scan(&sess.ID, &sess.UserID, &stage, &ws, &created, &seen, &sess.ClientAddr, &sess.UserAgent, &revoked)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil, errNoSession
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read session: %w", err)
	}
	sess.Stage, sess.WorkspaceID = Stage(stage), ws.String
	sess.CreatedAt, sess.LastSeenAt = time.UnixMicro(created), time.UnixMicro(seen)
	now := s.now()
	if revoked.Valid || now.Sub(sess.LastSeenAt) >= s.cfg.IdleTimeout || now.Sub(sess.CreatedAt) >= s.cfg.Absolute {
		return nil, nil, errNoSession
	}
	if now.Sub(sess.LastSeenAt) >= touchEvery {
		if _, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET last_seen_at = $1 WHERE id = $2`, micros(now), sess.ID); err != nil {
			return nil, nil, fmt.Errorf("touch session: %w", err)
		}
		sess.LastSeenAt = now
	}
	if sess.Stage != StageFull {
		return &sess, nil, nil
	}
	p, err := s.principal(ctx, sess.UserID, sess.WorkspaceID)
	if err != nil {
		return nil, nil, err
	}
	p.SessionID, p.ClientAddr, p.RequestID = sess.ID, m.ClientAddr, m.RequestID
	return &sess, p, nil
}

// Sessions lists the user's live sessions, newest first.
func (s *Service) Sessions(ctx context.Context, uid string) ([]Session, error) {
	now := s.now()
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, stage, workspace_id, created_at, last_seen_at, client_addr, user_agent FROM sessions
		WHERE user_id = $1 AND revoked_at IS NULL AND last_seen_at > $2 AND created_at > $3 ORDER BY created_at DESC`,
		uid, micros(now.Add(-s.cfg.IdleTimeout)), micros(now.Add(-s.cfg.Absolute)))
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", err)
	}
	defer rows.Close()
	var out []Session
	for rows.Next() {
		x := Session{UserID: uid}
		var stage string
		var ws sql.NullString
		var created, seen int64
		if err := rows.Scan(&x.ID, &stage, &ws, &created, &seen, &x.ClientAddr, &x.UserAgent); err != nil {
			return nil, fmt.Errorf("list sessions: %w", err)
		}
		x.Stage, x.WorkspaceID, x.CreatedAt, x.LastSeenAt = Stage(stage), ws.String, time.UnixMicro(created), time.UnixMicro(seen)
		out = append(out, x)
	}
	return out, rows.Err()
}

// RevokeSession signs out one of the user's sessions.
func (s *Service) RevokeSession(ctx context.Context, uid, id string, m Meta) error {
	res, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND user_id = $3 AND revoked_at IS NULL`, micros(s.now()), id, uid)
	if err != nil {
		return fmt.Errorf("revoke session: %w", err)
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return &Error{Kind: KindNotFound, Code: "session_not_found", Message: "That session has already ended."}
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.session.revoke", ResourceID: uid})
}

// SignOut ends the session.
func (s *Service) SignOut(ctx context.Context, sess *Session, m Meta) error {
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2 AND revoked_at IS NULL`, micros(s.now()), sess.ID); err != nil {
		return fmt.Errorf("sign out: %w", err)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: sess.UserID, Action: "auth.signout", ResourceID: sess.UserID})
}

// SignOutEverywhere revokes every session of the user, the caller's too.
func (s *Service) SignOutEverywhere(ctx context.Context, uid string, m Meta) error {
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, micros(s.now()), uid); err != nil {
		return fmt.Errorf("sign out everywhere: %w", err)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.session.revoke_all", ResourceID: uid})
}

// summarizeUserAgent keeps what a person needs to recognise a session and
// drops the rest of the header, which fingerprints the device.
func summarizeUserAgent(ua string) string {
	browser := "Unknown browser"
	for _, b := range []struct{ token, name string }{
		{"Edg/", "Edge"}, {"Firefox/", "Firefox"}, {"Chrome/", "Chrome"}, {"Safari/", "Safari"}, {"curl/", "curl"}, {"Go-http-client", "Go program"},
	} {
		if strings.Contains(ua, b.token) {
			browser = b.name
			break
		}
	}
	for _, o := range []struct{ token, name string }{
		{"Android", "Android"}, {"iPhone", "iPhone"}, {"iPad", "iPad"}, {"Windows", "Windows"}, {"Mac OS", "macOS"}, {"Linux", "Linux"},
	} {
		if strings.Contains(ua, o.token) {
			return browser + " on " + o.name
		}
	}
	return browser
}
