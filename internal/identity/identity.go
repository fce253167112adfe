// Package identity is who people are and how they prove it: users,
// workspaces and their memberships, invitations, passwords, TOTP, sessions
// and API tokens. It records every authentication event in the audit log and
// never imports net/http; the web package maps its errors to responses.
package identity

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/ids"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
)

// Config holds the identity service's settings. Zero values get defaults.
type Config struct {
	BaseURL     string        // where emailed links point, e.g. https://custodia.example
	IdleTimeout time.Duration // a session unused this long is over (default 15m)
	Absolute    time.Duration // a session older than this is over (default 12h)
	// SealingKey is the 32-byte AES-256 key that seals TOTP secrets at rest.
	SealingKey []byte
	// AccountKey seals every account's email and name and keys the email's
	// blind index (keys.Keyring.AccountKey). Required.
	AccountKey *keys.Key
	// Hash sets the argon2id cost; zero means DefaultHashParams. Tests lower it.
	Hash HashParams
	// Now is the clock; nil means time.Now. Tests inject one to age sessions.
	Now func() time.Time
	// Log receives failures of background mail delivery (ids and codes only).
	Log *slog.Logger
	// PatientWorkspace names the workspace that holds a patient record (""
	// when there is no such record). A patient invitation links an account
	// to a record, so it may only name a record of the inviting workspace;
	// without PatientWorkspace every patient invitation is refused.
	PatientWorkspace func(ctx context.Context, patientID string) (string, error)
}

// Service is the identity domain service.
type Service struct {
	db     *db.DB
	mailer mail.Mailer
	audit  audit.Appender
	cfg    Config
	hasher *hasher
	seal   *sealer
	acct   *keys.Key // account fields: see sealed.go
	now    func() time.Time
	// dummyHash is verified against when an email is unknown, so that unknown
	// and known addresses cost the same time.
	dummyHash string
	log       *slog.Logger
	wg        sync.WaitGroup
}

// New builds the service. sealingKey in cfg must be 32 bytes.
func New(d *db.DB, m mail.Mailer, a audit.Appender, cfg Config) (*Service, error) {
	if cfg.IdleTimeout == 0 {
		cfg.IdleTimeout = 15 * time.Minute
	}
	if cfg.Absolute == 0 {
		cfg.Absolute = 12 * time.Hour
	}
	if cfg.Hash == (HashParams{}) {
		cfg.Hash = DefaultHashParams
	}
	cfg.BaseURL = strings.TrimRight(cfg.BaseURL, "/")
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	sl, err := newSealer(cfg.SealingKey)
	if err != nil {
		return nil, err
	}
	if cfg.AccountKey == nil {
		return nil, errors.New("identity: no account key: account emails and names must be sealed")
	}
	log := cfg.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{db: d, mailer: m, audit: a, cfg: cfg, hasher: newHasher(cfg.Hash), seal: sl, acct: cfg.AccountKey, now: now, log: log}
	s.dummyHash, err = s.hasher.hash(randomToken(16))
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Meta describes the request an operation comes from, for throttling, the
// session list and the audit entry.
type Meta struct {
	ClientAddr string
	UserAgent  string
	RequestID  string
}

// Kind classifies an Error so the HTTP edge can choose a status code.
type Kind int

// The kinds of failure.
const (
	KindInvalid         Kind = iota + 1 // bad input; Field and Message say what
	KindUnauthenticated                 // no valid credentials
	KindForbidden                       // authenticated but not allowed
	KindNotFound                        // no such thing (or not visible to the caller)
	KindConflict                        // clashes with existing state
	KindThrottled                       // too many failures; RetryAfter says how long
	KindLocked                          // 100 consecutive failures; reset the password
)

// Error is the one error type the service returns for expected failures.
// Message is written for the person at the keyboard and never holds PHI,
// email addresses or passwords.
type Error struct {
	Kind       Kind
	Code       string // stable machine code, e.g. "password_too_short"
	Field      string // the input field at fault, if any
	Message    string
	RetryAfter time.Duration
}

func (e *Error) Error() string { return e.Message }

// AsError returns the *Error in err's chain, if any.
func AsError(err error) (*Error, bool) {
	var e *Error
	ok := errors.As(err, &e)
	return e, ok
}

func invalid(field, code, msg string) *Error {
	return &Error{Kind: KindInvalid, Field: field, Code: code, Message: msg}
}

// errSignIn is the single answer to a wrong email or password, so the
// response does not tell which one was wrong or whether the account exists.
var errSignIn = &Error{Kind: KindUnauthenticated, Code: "signin_failed", Message: "The email address or password is not right. Check both and try again."}

var errForbidden = &Error{Kind: KindForbidden, Code: "forbidden", Message: "You are not allowed to do this."}

// randomToken returns n random bytes encoded as unpadded lowercase base32,
// which survives email clients, URLs and copy-and-paste.
func randomToken(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b) // crypto/rand.Read never fails on supported platforms
	return strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b))
}

// newID returns a random 128-bit id.
func newID() string { return ids.New() }

// hashToken is how every bearer secret is stored: SHA-256 is enough because
// the secrets carry 256 random bits, unlike passwords.
func hashToken(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:])
}

func normalizeEmail(e string) string { return strings.ToLower(strings.TrimSpace(e)) }

func micros(t time.Time) int64 { return t.UnixMicro() }

// record appends an auth event. Callers on success paths return its error,
// so an unrecorded success does not stand.
func (s *Service) record(ctx context.Context, m Meta, e audit.Event) error {
	if s.audit == nil {
		return nil
	}
	e.Time = s.now()
	e.ClientAddr, e.RequestID = m.ClientAddr, m.RequestID
	if e.ResourceType == "" {
		e.ResourceType = "user"
	}
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	if _, err := s.audit.Append(ctx, e); err != nil {
		return fmt.Errorf("record audit event %s: %w", e.Action, err)
	}
	return nil
}

// link builds an emailed link to path carrying only an opaque token.
func (s *Service) link(path, token string) string {
	return s.cfg.BaseURL + path + "?token=" + token
}

// background runs fn after the request has been answered: mail delivery, and
// work whose duration would reveal whether an account exists.
func (s *Service) background(fn func(ctx context.Context) error) {
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if err := fn(ctx); err != nil {
			// Mail servers quote the recipient in their errors; a patient's
			// address must not reach the log.
			s.log.Error("identity background task failed", "err", mail.RedactAddresses(err.Error()))
		}
	}()
}

// Wait blocks until background work (mail delivery) has finished. Shutdown
// and tests call it.
func (s *Service) Wait() { s.wg.Wait() }
