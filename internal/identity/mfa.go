package identity

import (
	"bytes"
	"context"
	"crypto/subtle"
	"database/sql"
	"encoding/base64"
	"fmt"
	"image/png"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/custodia-health/custodia/internal/audit"
)

// TOTP per RFC 6238: SHA-1, 6 digits, 30-second steps, one step of clock
// skew either way. Each accepted step is remembered, so a code cannot be
// used twice, even within its window.
const (
	totpPeriod        = 30
	totpSkew          = 1
	RecoveryCodeCount = 10
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// Enrolment is a TOTP secret awaiting its first code.
type Enrolment struct {
	Secret string // base32, for typing into an app by hand
	URL    string // otpauth:// URL, which the QR code encodes
	QR     string // data:image/png;base64,... of the QR code
}

// MFARequired reports whether the user holds a role that needs a second
// factor (admin, clinician or privacy officer) in a workspace that requires
// it, or is a platform operator (always).
func (s *Service) MFARequired(ctx context.Context, uid string) (bool, error) {
	var n int
	err := s.db.Read.QueryRowContext(ctx, `SELECT (SELECT COUNT(*) FROM member_roles m JOIN workspaces w ON w.id = m.workspace_id
		WHERE m.user_id = $1 AND w.mfa_required = 1 AND m.role IN ('admin', 'clinician', 'privacy_officer'))
		+ (SELECT COUNT(*) FROM users WHERE id = $1 AND operator = 1)`, uid).Scan(&n)
	if err != nil {
		return false, fmt.Errorf("check MFA requirement: %w", err)
	}
	return n > 0, nil
}

// BeginTOTP creates a new secret for the user, kept sealed as pending until
// ConfirmTOTP sees a code from it, so a half-finished enrolment never locks
// anyone out.
func (s *Service) BeginTOTP(ctx context.Context, uid string) (*Enrolment, error) {
	u, err := s.User(ctx, uid)
	if err != nil {
		return nil, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: "Custodia", AccountName: u.Email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		return nil, fmt.Errorf("generate TOTP secret: %w", err)
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, fmt.Errorf("draw TOTP QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, fmt.Errorf("draw TOTP QR code: %w", err)
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE users SET totp_pending = $1 WHERE id = $2`, s.seal.seal([]byte(key.Secret()), uid), uid); err != nil {
		return nil, fmt.Errorf("store TOTP secret: %w", err)
	}
	return &Enrolment{Secret: key.Secret(), URL: key.URL(), QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// ConfirmTOTP turns the pending secret on once code matches it, replaces
// the recovery codes with RecoveryCodeCount new ones (returned once, shown
// once), and rotates the session, which becomes full if it was enrolling.
func (s *Service) ConfirmTOTP(ctx context.Context, sess *Session, code string, m Meta) (codes []string, token string, err error) {
	// An authenticator already in use is replaced only after it is turned
	// off with a current code, so a stolen session cannot move MFA to an
	// app of its own.
	if u, err := s.User(ctx, sess.UserID); err != nil {
		return nil, "", err
	} else if u.MFAEnabled {
		return nil, "", invalid("code", "mfa_on", "Two-step verification is already on. Turn it off with a current code first to set up a new app.")
	}
	var pending []byte
	if err := s.db.Read.QueryRowContext(ctx, `SELECT totp_pending FROM users WHERE id = $1`, sess.UserID).Scan(&pending); err != nil {
		return nil, "", fmt.Errorf("read TOTP secret: %w", err)
	}
	if len(pending) == 0 {
		return nil, "", invalid("code", "mfa_not_started", "Start setting up the authenticator app again: no enrolment is in progress.")
	}
	secret, err := s.seal.open(pending, sess.UserID)
	if err != nil {
		return nil, "", err
	}
	step, ok := matchTOTP(string(secret), code, s.now())
	if !ok {
		_ = s.record(ctx, m, audit.Event{ActorUserID: sess.UserID, Action: "auth.mfa.enrol", ResourceID: sess.UserID, Outcome: "failure", Reason: "bad_code"})
		return nil, "", invalid("code", "mfa_code_wrong", "That code does not match. Check the app shows Custodia, and enter the current 6-digit code.")
	}
	codes, hashes := newRecoveryCodes()
	now := micros(s.now())
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `UPDATE users SET totp_sealed = totp_pending, totp_pending = NULL, totp_last_step = $1, mfa_enabled_at = $2 WHERE id = $3`,
			step, now, sess.UserID); err != nil {
			return fmt.Errorf("enable TOTP: %w", err)
		}
		return replaceRecoveryCodes(ctx, tx, sess.UserID, hashes, now)
	})
	if err != nil {
		return nil, "", err
	}
	stage := sess.Stage
	if stage == StageEnrol {
		stage = StageFull
	}
	tok, err := s.rotate(ctx, sess.ID, stage, sess.WorkspaceID)
	if err != nil {
		return nil, "", err
	}
	return codes, tok, s.record(ctx, m, audit.Event{ActorUserID: sess.UserID, Action: "auth.mfa.enrol", ResourceID: sess.UserID})
}

// RegenerateRecoveryCodes replaces the recovery codes; the old ones stop working.
func (s *Service) RegenerateRecoveryCodes(ctx context.Context, uid, code string, m Meta) ([]string, error) {
	u, err := s.User(ctx, uid)
	if err != nil {
		return nil, err
	}
	if !u.MFAEnabled {
		return nil, invalid("", "mfa_off", "Turn on two-step verification first.")
	}
	// New codes need proof of the second factor, not just a session.
	if err := s.checkThrottle(ctx, u.Email, m.ClientAddr); err != nil {
		return nil, err
	}
	method, err := s.checkSecondFactor(ctx, uid, code)
	if err != nil {
		return nil, err
	}
	if method == "" {
		_ = s.noteFailure(ctx, u.Email, m.ClientAddr)
		return nil, invalid("recovery_code", "mfa_code_wrong", "That code is not right, or was already used.")
	}
	codes, hashes := newRecoveryCodes()
	if err := s.db.Tx(ctx, func(tx *sql.Tx) error { return replaceRecoveryCodes(ctx, tx, uid, hashes, micros(s.now())) }); err != nil {
		return nil, err
	}
	return codes, s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.mfa.recovery_codes", ResourceID: uid})
}

// DisableMFA turns the second factor off after a current code proves
// possession. Someone whose role requires MFA cannot turn it off.
func (s *Service) DisableMFA(ctx context.Context, uid, code string, m Meta) error {
	if req, err := s.MFARequired(ctx, uid); err != nil {
		return err
	} else if req {
		return invalid("code", "mfa_required", "Your role in a workspace requires two-step verification, so it cannot be turned off.")
	}
	u, err := s.User(ctx, uid)
	if err != nil {
		return err
	}
	if err := s.checkThrottle(ctx, u.Email, m.ClientAddr); err != nil {
		return err
	}
	method, err := s.checkSecondFactor(ctx, uid, code)
	if err != nil {
		return err
	}
	if method == "" {
		_ = s.noteFailure(ctx, u.Email, m.ClientAddr)
		return invalid("code", "mfa_code_wrong", "That code is not right, or was already used.")
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE users SET totp_sealed = NULL, totp_pending = NULL, mfa_enabled_at = NULL WHERE id = $1`, uid); err != nil {
		return fmt.Errorf("disable MFA: %w", err)
	}
	if _, err := s.db.Write.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, uid); err != nil {
		return fmt.Errorf("disable MFA: %w", err)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.mfa.disable", ResourceID: uid})
}

// checkSecondFactor returns "totp" or "recovery_code" when code is valid
// (consuming it), or "" when it is not.
func (s *Service) checkSecondFactor(ctx context.Context, uid, code string) (string, error) {
	code = strings.ToLower(strings.Join(strings.Fields(code), ""))
	if len(code) == 6 {
		var sealed []byte
		var last int64
		if err := s.db.Read.QueryRowContext(ctx, `SELECT totp_sealed, totp_last_step FROM users WHERE id = $1`, uid).Scan(&sealed, &last); err != nil {
			return "", fmt.Errorf("read TOTP secret: %w", err)
		}
		if len(sealed) == 0 {
			return "", nil
		}
		secret, err := s.seal.open(sealed, uid)
		if err != nil {
			return "", err
		}
		step, ok := matchTOTP(string(secret), code, s.now())
		if !ok || step <= last {
			return "", nil
		}
		// The conditional update makes a step usable once even if two
		// requests race with the same code.
		res, err := s.db.Write.ExecContext(ctx, `UPDATE users SET totp_last_step = $1 WHERE id = $2 AND totp_last_step < $1`, step, uid)
		if err != nil {
			return "", fmt.Errorf("record TOTP use: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return "", nil
		}
		return "totp", nil
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE recovery_codes SET used_at = $1 WHERE user_id = $2 AND code_hash = $3 AND used_at IS NULL`,
		micros(s.now()), uid, hashToken(strings.ReplaceAll(code, "-", "")))
	if err != nil {
		return "", fmt.Errorf("use recovery code: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return "", nil
	}
	return "recovery_code", nil
}

// matchTOTP returns the time step whose code equals code, within the skew.
func matchTOTP(secret, code string, now time.Time) (int64, bool) {
	code = strings.TrimSpace(code)
	for d := -totpSkew; d <= totpSkew; d++ {
		t := now.Add(time.Duration(d*totpPeriod) * time.Second)
		want, err := totp.GenerateCodeCustom(secret, t, totpOpts)
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return t.Unix() / totpPeriod, true
		}
	}
	return 0, false
}

// newRecoveryCodes makes codes like "k3x9q-7hm2p" (50 random bits each)
// and their hashes. Random codes need no slow hash.
func newRecoveryCodes() (codes, hashes []string) {
	for range RecoveryCodeCount {
		c := randomToken(7)[:10]
		codes = append(codes, c[:5]+"-"+c[5:])
		hashes = append(hashes, hashToken(c))
	}
	return codes, hashes
}

func replaceRecoveryCodes(ctx context.Context, tx *sql.Tx, uid string, hashes []string, now int64) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM recovery_codes WHERE user_id = $1`, uid); err != nil {
		return fmt.Errorf("replace recovery codes: %w", err)
	}
	for _, h := range hashes {
		if _, err := tx.ExecContext(ctx, `INSERT INTO recovery_codes (user_id, code_hash, created_at) VALUES ($1, $2, $3)`, uid, h, now); err != nil {
			return fmt.Errorf("replace recovery codes: %w", err)
		}
	}
	return nil
}
