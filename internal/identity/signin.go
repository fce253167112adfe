package identity

import (
	"context"
	"errors"
	"fmt"

	"github.com/custodia-health/custodia/internal/audit"
)

// SignInResult is a new session after a correct password. Token goes in the
// cookie. Session.Stage says what is still due before the session is full.
type SignInResult struct {
	Token   string
	Session *Session
}

// SignIn checks an email and password. Unknown and known addresses get the
// same error and cost the same argon2id work; failures are throttled per
// account, per account and client address, and per address only for the
// accounts it failed at (throttle.go); the account locks after LockoutFailures
// in a row. A correct password for an address not yet verified mails a new
// verification link and fails with code "email_unverified".
func (s *Service) SignIn(ctx context.Context, email, password string, m Meta) (*SignInResult, error) {
	email = normalizeEmail(email)
	if err := s.checkThrottle(ctx, email, m.ClientAddr); err != nil {
		_ = s.record(ctx, m, audit.Event{Action: "auth.signin", Outcome: "failure", Reason: codeOf(err)})
		return nil, err
	}
	u, hash, err := s.userByEmail(ctx, email)
	known := err == nil
	if err != nil && !errors.Is(err, errNoUser) {
		return nil, err
	}
	if !known {
		hash = s.dummyHash
	}
	ok, rehash, err := s.hasher.verify(normalizePassword(password), hash)
	if err != nil {
		return nil, err
	}
	if !ok || !known {
		if err := s.noteFailure(ctx, email, m.ClientAddr); err != nil {
			return nil, err
		}
		_ = s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.signin", ResourceID: u.ID, Outcome: "failure", Reason: "bad_credentials"})
		if known {
			if f, err := s.failures(ctx, s.accountKey(email)); err == nil && f.n == LockoutFailures {
				_ = s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.lockout", ResourceID: u.ID, Outcome: "denied"})
			}
		}
		return nil, errSignIn
	}
	if err := s.clearFailures(ctx, email); err != nil {
		return nil, err
	}
	if rehash {
		// The stored hash used older, cheaper parameters: upgrade it now that
		// we hold the password.
		if h, err := s.hasher.hash(normalizePassword(password)); err == nil {
			if _, err := s.db.Write.ExecContext(ctx, `UPDATE users SET password_hash = $1 WHERE id = $2`, h, u.ID); err != nil {
				return nil, fmt.Errorf("upgrade password hash: %w", err)
			}
		}
	}
	if !u.EmailVerified {
		_ = s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.signin", ResourceID: u.ID, Outcome: "failure", Reason: "email_unverified"})
		s.sendVerification(u.ID, u.Email, u.Name)
		return nil, &Error{Kind: KindForbidden, Code: "email_unverified",
			Message: "Confirm your email address first. We have just sent a new confirmation link to your inbox."}
	}
	stage := StageFull
	if u.MFAEnabled {
		stage = StageMFA
	} else if req, err := s.MFARequired(ctx, u.ID); err != nil {
		return nil, err
	} else if req {
		stage = StageEnrol
	}
	tok, sess, err := s.createSession(ctx, u.ID, stage, m)
	if err != nil {
		return nil, err
	}
	if err := s.record(ctx, m, audit.Event{ActorUserID: u.ID, WorkspaceID: sess.WorkspaceID, Action: "auth.signin", ResourceID: u.ID, Reason: "stage_" + string(stage)}); err != nil {
		_, _ = s.db.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE id = $2`, micros(s.now()), sess.ID)
		return nil, err
	}
	return &SignInResult{Token: tok, Session: sess}, nil
}

// VerifySecondFactor completes a StageMFA session with a TOTP code or a
// recovery code. Failures count towards the same throttle and lockout as
// passwords. On success the session gets a new token and becomes full.
func (s *Service) VerifySecondFactor(ctx context.Context, sess *Session, code string, m Meta) (string, error) {
	if sess.Stage != StageMFA {
		return "", &Error{Kind: KindInvalid, Code: "mfa_not_due", Message: "No second-factor code is due for this session."}
	}
	u, err := s.User(ctx, sess.UserID)
	if err != nil {
		return "", err
	}
	if err := s.checkThrottle(ctx, u.Email, m.ClientAddr); err != nil {
		return "", err
	}
	method, err := s.checkSecondFactor(ctx, u.ID, code)
	if err != nil {
		return "", err
	}
	if method == "" {
		if err := s.noteFailure(ctx, u.Email, m.ClientAddr); err != nil {
			return "", err
		}
		_ = s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.mfa.verify", ResourceID: u.ID, Outcome: "failure", Reason: "bad_code"})
		return "", invalid("code", "mfa_code_wrong", "That code is not right, or was already used. Enter the current 6-digit code from your authenticator app, or one of your recovery codes.")
	}
	if err := s.clearFailures(ctx, u.Email); err != nil {
		return "", err
	}
	tok, err := s.rotate(ctx, sess.ID, StageFull, sess.WorkspaceID)
	if err != nil {
		return "", err
	}
	return tok, s.record(ctx, m, audit.Event{ActorUserID: u.ID, WorkspaceID: sess.WorkspaceID, Action: "auth.mfa.verify", ResourceID: u.ID, Reason: method})
}

func codeOf(err error) string {
	if e, ok := AsError(err); ok {
		return e.Code
	}
	return "error"
}
