package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/mail"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	imail "github.com/custodia-health/custodia/internal/mail"
)

// How long emailed links stay good.
const (
	VerifyLinkTTL = 48 * time.Hour
	ResetLinkTTL  = time.Hour
)

// User is an account. Name and Email are personal data: they go to pages
// the user is entitled to see, never to logs, errors or audit entries.
type User struct {
	ID            string
	Email         string
	Name          string
	EmailVerified bool
	Operator      bool
	MFAEnabled    bool
	CreatedAt     time.Time
}

const userCols = `id, email_enc, name_enc, password_hash, email_verified_at, operator, mfa_enabled_at, created_at`

// scanUser reads a row of userCols and opens the sealed email and name.
func (s *Service) scanUser(row interface{ Scan(...any) error }) (User, string, error) {
	var u User
	var hash string
	var email, name []byte
	var verified, mfa sql.NullInt64
	var op int
	var created int64
	if err := row.Scan(&u.ID, &email, &name, &hash, &verified, &op, &mfa, &created); err != nil {
		return u, "", err
	}
	var err error
	if u.Email, err = s.openText("users", u.ID, "email_enc", email); err != nil {
		return u, "", err
	}
	if u.Name, err = s.openText("users", u.ID, "name_enc", name); err != nil {
		return u, "", err
	}
	u.EmailVerified, u.MFAEnabled, u.Operator = verified.Valid, mfa.Valid, op != 0
	u.CreatedAt = time.UnixMicro(created)
	return u, hash, nil
}

var errNoUser = &Error{Kind: KindNotFound, Code: "user_not_found", Message: "There is no such user."}

// User returns the account with id.
func (s *Service) User(ctx context.Context, id string) (User, error) {
	u, _, err := s.scanUser(s.db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return u, errNoUser
	}
	if err != nil {
		return u, fmt.Errorf("read user: %w", err)
	}
	return u, nil
}

func (s *Service) userByEmail(ctx context.Context, email string) (User, string, error) {
	u, hash, err := s.scanUser(s.db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE email_index = $1`, s.emailIndex(email)))
	if errors.Is(err, sql.ErrNoRows) {
		return u, "", errNoUser
	}
	if err != nil {
		return u, "", fmt.Errorf("read user: %w", err)
	}
	return u, hash, nil
}

// SignUpInput is what a doctor gives to open an account and a practice.
type SignUpInput struct {
	Name          string
	Email         string
	Password      string
	WorkspaceName string // the practice or clinic; defaults to "My practice"
}

func checkNameEmail(name, email string) error {
	if strings.TrimSpace(name) == "" {
		return invalid("name", "name_required", "Enter your name.")
	}
	if utf8.RuneCountInString(name) > 200 {
		return invalid("name", "name_too_long", "The name must be at most 200 characters long.")
	}
	if a, err := mail.ParseAddress(email); err != nil || a.Address != strings.TrimSpace(email) || len(email) > 254 {
		return invalid("email", "email_invalid", "Enter an email address such as name@example.org.")
	}
	return nil
}

// checkNewAccount checks what a person gives to open an account and returns
// the email as it is stored.
func checkNewAccount(name, email, password string) (string, error) {
	if err := checkNameEmail(name, email); err != nil {
		return "", err
	}
	email = normalizeEmail(email)
	if err := CheckPassword(password, PasswordContext{Name: name, Email: email}); err != nil {
		return "", err
	}
	return email, nil
}

// SignUp creates a doctor's account and a new workspace with the doctor as
// its admin and a clinician, and emails a link to verify the address. Both
// roles require MFA, so the founder enrols a second factor at first sign-in.
//
// If the email already has an account, SignUp answers exactly as for a new
// one and emails the owner a notice instead, so sign-up cannot be used to
// learn who has an account.
func (s *Service) SignUp(ctx context.Context, in SignUpInput, m Meta) error {
	in.Name = strings.TrimSpace(in.Name)
	email, err := checkNewAccount(in.Name, in.Email, in.Password)
	if err != nil {
		return err
	}
	ws := strings.TrimSpace(in.WorkspaceName)
	if ws == "" {
		// Not "<Name>'s practice": the workspace name is stored in clear, and
		// the account's name is sealed.
		ws = "My practice"
	}
	if utf8.RuneCountInString(ws) > 200 {
		return invalid("workspace", "workspace_name_too_long", "The practice name must be at most 200 characters long.")
	}
	hash, err := s.hasher.hash(normalizePassword(in.Password))
	if err != nil {
		return err
	}
	now := s.now()
	uid, wid := newID(), newID()
	var exists bool
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := s.insertUser(ctx, tx, uid, email, in.Name, hash, nil, micros(now))
		if s.db.Dialect.IsUniqueViolation(err) {
			exists = true
			return errNoUser // roll back; handled below
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO workspaces (id, name, mfa_required, created_at) VALUES ($1, $2, 1, $3)`, wid, ws, micros(now)); err != nil {
			return fmt.Errorf("create workspace: %w", err)
		}
		// The founder runs the practice and treats its patients: a solo
		// practice needs one account, not an admin and a clinician.
		if err := s.putMember(ctx, tx, wid, uid, []access.Role{access.RoleAdmin, access.RoleClinician}, false, micros(now)); err != nil {
			return fmt.Errorf("create membership: %w", err)
		}
		return nil
	})
	if exists {
		s.mailExistingAccount(email)
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.record(ctx, m, audit.Event{ActorUserID: uid, WorkspaceID: wid, ActorRole: string(access.RoleClinician), Action: "auth.signup", ResourceID: uid}); err != nil {
		return err
	}
	s.sendVerification(uid, email, in.Name)
	return nil
}

// mailExistingAccount tells the owner of an address that someone tried to
// open a second account with it; sign-up answers as for a new account, so it
// cannot be used to learn who has one.
func (s *Service) mailExistingAccount(email string) {
	s.background(func(ctx context.Context) error {
		return s.mailer.Send(ctx, imail.Message{To: email, Subject: "Someone tried to sign up with your email address",
			Text: "Someone (perhaps you) tried to open a new Custodia account with this email address, which already has one.\n\n" +
				"If it was you, sign in instead, or reset your password here:\n" + s.cfg.BaseURL + "/forgot\n\n" +
				"If it was not you, you can ignore this message; nothing has changed.\n"})
	})
}

// PatientSignUpInput is what a patient gives to open their own account.
type PatientSignUpInput struct {
	Name     string
	Email    string
	Password string
}

// SignUpPatient opens a patient's own account: no workspace, no membership
// and no patient record, which only a practice creates. The account can
// accept a practice's portal invitation later (signed in, at the same
// address) and ask a doctor to take it on (RequestPractice). Like SignUp it
// answers the same whether or not the address already has an account.
func (s *Service) SignUpPatient(ctx context.Context, in PatientSignUpInput, m Meta) error {
	in.Name = strings.TrimSpace(in.Name)
	email, err := checkNewAccount(in.Name, in.Email, in.Password)
	if err != nil {
		return err
	}
	hash, err := s.hasher.hash(normalizePassword(in.Password))
	if err != nil {
		return err
	}
	now := s.now()
	uid := newID()
	var exists bool
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		err := s.insertUser(ctx, tx, uid, email, in.Name, hash, nil, micros(now))
		if s.db.Dialect.IsUniqueViolation(err) {
			exists = true
			return errNoUser // roll back; handled below
		}
		if err != nil {
			return fmt.Errorf("create user: %w", err)
		}
		return nil
	})
	if exists {
		s.mailExistingAccount(email)
		return nil
	}
	if err != nil {
		return err
	}
	if err := s.record(ctx, m, audit.Event{ActorUserID: uid, ActorRole: string(access.RolePatient), Action: "auth.signup", ResourceID: uid, Reason: "patient"}); err != nil {
		return err
	}
	s.sendVerification(uid, email, in.Name)
	return nil
}

// RequestPractice asks the doctor who signs in with doctorEmail to take on
// the signed-in user as a patient: the doctor is mailed the user's name and
// address (the user's own choice to share them), and registers the patient
// and sends the portal invitation if the practice agrees. Nothing is
// created in any practice here. The answer is the same whether or not the
// address belongs to a clinician, so it cannot be used to find one.
func (s *Service) RequestPractice(ctx context.Context, uid, doctorEmail string, m Meta) error {
	doctorEmail = normalizeEmail(doctorEmail)
	if a, err := mail.ParseAddress(doctorEmail); err != nil || a.Address != doctorEmail {
		return invalid("email", "email_invalid", "Enter your doctor's email address, such as name@clinic.example.")
	}
	u, err := s.User(ctx, uid)
	if err != nil {
		return err
	}
	if !u.EmailVerified {
		return &Error{Kind: KindForbidden, Code: "email_unverified", Message: "Confirm your email address first: open the link we sent you when you signed up."}
	}
	doc, ok := s.ClinicianByEmail(ctx, doctorEmail, "")
	if ok && doc != uid {
		s.background(func(ctx context.Context) error {
			return s.mailer.Send(ctx, imail.Message{To: doctorEmail, Subject: u.Name + " asks to connect with you on Custodia",
				Text: "Hello,\n\n" + u.Name + " (" + u.Email + ") has a Custodia patient account and asks you to take them on as a patient.\n\n" +
					"If your practice agrees, register them on the Patients page with this email address and press \"Invite to the patient portal\": " +
					"the invitation links their account to the record. If you do not know them, ignore this message; nothing has been shared.\n"})
		})
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, ActorRole: string(access.RolePatient), Action: "auth.practice.request", ResourceID: uid})
}

// sendVerification issues a fresh verification link and mails it in the
// background.
func (s *Service) sendVerification(uid, email, name string) {
	s.background(func(ctx context.Context) error {
		tok, err := s.issueEmailToken(ctx, uid, "verify", VerifyLinkTTL)
		if err != nil {
			return err
		}
		return s.mailer.Send(ctx, imail.Message{To: email, Subject: "Confirm your email address for Custodia",
			Text: "Hello " + name + ",\n\nPlease confirm your email address by opening this link (it works once, for 48 hours):\n\n" +
				s.link("/verify", tok) + "\n\nIf you did not sign up for Custodia, ignore this message.\n"})
	})
}

func (s *Service) issueEmailToken(ctx context.Context, uid, purpose string, ttl time.Duration) (string, error) {
	tok := randomToken(32)
	now := s.now()
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO email_tokens (token_hash, user_id, purpose, created_at, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		hashToken(tok), uid, purpose, micros(now), micros(now.Add(ttl))); err != nil {
		return "", fmt.Errorf("issue %s link: %w", purpose, err)
	}
	return tok, nil
}

var errBadLink = &Error{Kind: KindInvalid, Code: "link_invalid", Field: "token",
	Message: "This link is not valid: it may have been used already, have expired, or been copied incompletely. Ask for a new one."}

// useEmailToken marks a link used inside tx and returns its user. The
// conditional update makes it single-use even under concurrent clicks.
func (s *Service) useEmailToken(ctx context.Context, tx *sql.Tx, tok, purpose string) (string, error) {
	now := micros(s.now())
	var uid string
	err := tx.QueryRowContext(ctx, `UPDATE email_tokens SET used_at = $1
		WHERE token_hash = $2 AND purpose = $3 AND used_at IS NULL AND expires_at > $1 RETURNING user_id`,
		now, hashToken(strings.TrimSpace(tok)), purpose).Scan(&uid)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errBadLink
	}
	if err != nil {
		return "", fmt.Errorf("use %s link: %w", purpose, err)
	}
	return uid, nil
}

// VerifyEmail consumes a verification link.
func (s *Service) VerifyEmail(ctx context.Context, tok string, m Meta) error {
	var uid string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if uid, err = s.useEmailToken(ctx, tx, tok, "verify"); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE users SET email_verified_at = COALESCE(email_verified_at, $1) WHERE id = $2`, micros(s.now()), uid); err != nil {
			return fmt.Errorf("verify email: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.email.verify", ResourceID: uid})
}

// ForgotPassword emails a reset link if the address has an account. It
// returns at once either way, doing the lookup and mailing in the
// background, so neither the answer nor its timing says whether the account
// exists.
func (s *Service) ForgotPassword(ctx context.Context, email string, m Meta) {
	email = normalizeEmail(email)
	s.background(func(ctx context.Context) error {
		u, _, err := s.userByEmail(ctx, email)
		if err != nil {
			if errors.Is(err, errNoUser) {
				return nil
			}
			return err
		}
		tok, err := s.issueEmailToken(ctx, u.ID, "reset", ResetLinkTTL)
		if err != nil {
			return err
		}
		if err := s.record(ctx, m, audit.Event{Action: "auth.password.reset_request", ResourceID: u.ID}); err != nil {
			return err
		}
		return s.mailer.Send(ctx, imail.Message{To: u.Email, Subject: "Reset your Custodia password",
			Text: "Hello " + u.Name + ",\n\nTo choose a new password, open this link (it works once, for one hour):\n\n" +
				s.link("/reset", tok) + "\n\nIf you did not ask for this, ignore this message; your password has not changed.\n"})
	})
}

// ResetPassword consumes a reset link and sets a new password. It also
// confirms the email address, lifts a lockout, and signs out every session.
func (s *Service) ResetPassword(ctx context.Context, tok, password string, m Meta) error {
	var uid string
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var err error
		if uid, err = s.useEmailToken(ctx, tx, tok, "reset"); err != nil {
			return err
		}
		u, _, err := s.scanUser(tx.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, uid))
		if err != nil {
			return fmt.Errorf("read user: %w", err)
		}
		if err := CheckPassword(password, PasswordContext{Name: u.Name, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
			return err
		}
		hash, err := s.hasher.hash(normalizePassword(password))
		if err != nil {
			return err
		}
		now := micros(s.now())
		if _, err := tx.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_at = $2, email_verified_at = COALESCE(email_verified_at, $2) WHERE id = $3`,
			hash, now, uid); err != nil {
			return fmt.Errorf("reset password: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM auth_failures WHERE key = $1`, s.accountKey(u.Email)); err != nil {
			return fmt.Errorf("reset password: clear failures: %w", err)
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now, uid); err != nil {
			return fmt.Errorf("reset password: revoke sessions: %w", err)
		}
		// A token made by whoever held the account must stop working too.
		if _, err := tx.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now, uid); err != nil {
			return fmt.Errorf("reset password: revoke tokens: %w", err)
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.record(ctx, m, audit.Event{ActorUserID: uid, Action: "auth.password.reset", ResourceID: uid})
}

// ChangePassword replaces the password after checking the current one. The
// calling session gets a new token and every other session is signed out.
func (s *Service) ChangePassword(ctx context.Context, sess *Session, current, next string, m Meta) (string, error) {
	u, hash, err := s.scanUser(s.db.Read.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE id = $1`, sess.UserID))
	if err != nil {
		return "", fmt.Errorf("read user: %w", err)
	}
	// Guesses from a signed-in session count like sign-in failures.
	if err := s.checkThrottle(ctx, u.Email, m.ClientAddr); err != nil {
		return "", err
	}
	ok, _, err := s.hasher.verify(normalizePassword(current), hash)
	if err != nil {
		return "", err
	}
	if !ok {
		_ = s.noteFailure(ctx, u.Email, m.ClientAddr)
		_ = s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.password.change", ResourceID: u.ID, Outcome: "failure", Reason: "wrong_password"})
		return "", invalid("current", "wrong_password", "The current password is not right.")
	}
	if err := CheckPassword(next, PasswordContext{Name: u.Name, Email: u.Email, MFA: u.MFAEnabled}); err != nil {
		e, _ := AsError(err)
		e.Field = "new"
		return "", e
	}
	newHash, err := s.hasher.hash(normalizePassword(next))
	if err != nil {
		return "", err
	}
	now := micros(s.now())
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE users SET password_hash = $1, password_at = $2 WHERE id = $3`, newHash, now, u.ID); err != nil {
		return "", fmt.Errorf("change password: %w", err)
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE sessions SET revoked_at = $1 WHERE user_id = $2 AND id <> $3 AND revoked_at IS NULL`, now, u.ID, sess.ID); err != nil {
		return "", fmt.Errorf("change password: revoke sessions: %w", err)
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE api_tokens SET revoked_at = $1 WHERE user_id = $2 AND revoked_at IS NULL`, now, u.ID); err != nil {
		return "", fmt.Errorf("change password: revoke tokens: %w", err)
	}
	tok, err := s.rotate(ctx, sess.ID, sess.Stage, sess.WorkspaceID)
	if err != nil {
		return "", err
	}
	return tok, s.record(ctx, m, audit.Event{ActorUserID: u.ID, Action: "auth.password.change", ResourceID: u.ID})
}

// DisplayNames maps user ids to the names people signed up with, for pages
// that show who did something (the patient's access history, case authors).
// Unknown ids are left out. Names of workforce members are not patients' PHI.
func (s *Service) DisplayNames(ctx context.Context, ids []string) map[string]string {
	out := make(map[string]string, len(ids))
	seen := make(map[string]bool, len(ids))
	var batch []any
	flush := func() {
		if len(batch) == 0 {
			return
		}
		ph := make([]string, len(batch))
		for i := range batch {
			ph[i] = "$" + strconv.Itoa(i+1)
		}
		// One query per batch: an IN list of $N parameters reads the same on
		// both databases.
		rows, err := s.db.Read.QueryContext(ctx, `SELECT id, name_enc FROM users WHERE id IN (`+strings.Join(ph, ", ")+`)`, batch...)
		batch = nil
		if err != nil {
			return
		}
		defer rows.Close()
		for rows.Next() {
			var id string
			var sealed []byte
			if rows.Scan(&id, &sealed) != nil {
				continue
			}
			if name, err := s.openText("users", id, "name_enc", sealed); err == nil {
				out[id] = name
			}
		}
	}
	for _, id := range ids {
		if seen[id] || id == "" {
			continue
		}
		seen[id] = true
		if batch = append(batch, id); len(batch) == displayNameBatch {
			flush()
		}
	}
	flush()
	return out
}

// displayNameBatch bounds the parameters of one DisplayNames query, well
// under both databases' limits.
const displayNameBatch = 500

// SignedInAs returns, in one query, what the page header shows for user uid
// in workspace ws: the user's name and, when uid is a member of ws, the
// workspace's name ("" otherwise).
func (s *Service) SignedInAs(ctx context.Context, uid, ws string) (name, workspace string, err error) {
	var wsName sql.NullString
	var sealed []byte
	err = s.db.Read.QueryRowContext(ctx, `SELECT u.name_enc,
		  (SELECT w.name FROM memberships m JOIN workspaces w ON w.id = m.workspace_id WHERE m.user_id = u.id AND m.workspace_id = $2)
		FROM users u WHERE u.id = $1`, uid, ws).Scan(&sealed, &wsName)
	if errors.Is(err, sql.ErrNoRows) {
		return "", "", errNoUser
	}
	if err != nil {
		return "", "", fmt.Errorf("read user: %w", err)
	}
	if name, err = s.openText("users", uid, "name_enc", sealed); err != nil {
		return "", "", err
	}
	return name, wsName.String, nil
}

// ClinicianByEmail finds the verified account using email that holds the
// clinician role, in workspace ws or, when ws is empty, in any workspace
// (a collaborating doctor from another practice). It reports false when
// there is none, without saying which condition failed.
func (s *Service) ClinicianByEmail(ctx context.Context, email, ws string) (string, bool) {
	var id string
	err := s.db.Read.QueryRowContext(ctx, `SELECT u.id FROM users u JOIN member_roles m ON m.user_id = u.id
		WHERE u.email_index = $1 AND u.email_verified_at IS NOT NULL AND m.role = $2 AND ($3 = '' OR m.workspace_id = $3) LIMIT 1`,
		s.emailIndex(email), string(access.RoleClinician), ws).Scan(&id)
	return id, err == nil
}
