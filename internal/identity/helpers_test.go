package identity_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"regexp"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/mail"
)

// auditRecorder is a test stand-in for the audit log (which lives in
// internal/audit and is written elsewhere): it keeps every appended event.
type auditRecorder struct {
	mu     sync.Mutex
	events []audit.Event
}

func (r *auditRecorder) Append(_ context.Context, e audit.Event) (audit.Receipt, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, e)
	return audit.Receipt{}, nil
}

func (r *auditRecorder) actions() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.events {
		out = append(out, e.Action+":"+e.Outcome)
	}
	return out
}

func (r *auditRecorder) all() []audit.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.events)
}

// mailbox is a test Mailer keeping messages in memory.
type mailbox struct {
	mu   sync.Mutex
	msgs []mail.Message
}

func (m *mailbox) Send(_ context.Context, msg mail.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// lastToken returns the token in the newest message to `to` whose link has path.
func (m *mailbox) lastToken(t testing.TB, to, path string) string {
	t.Helper()
	m.mu.Lock()
	defer m.mu.Unlock()
	for i := len(m.msgs) - 1; i >= 0; i-- {
		msg := m.msgs[i]
		if msg.To != to {
			continue
		}
		if loc := regexp.MustCompile(regexp.QuoteMeta(path) + `\?token=([a-z0-9]+)`).FindStringSubmatch(msg.Text); loc != nil {
			return loc[1]
		}
	}
	t.Fatalf("no mail to the recipient with a %s link", path)
	return ""
}

func (m *mailbox) count() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.msgs)
}

// clock is a settable time source.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

type fixture struct {
	svc   *identity.Service
	db    *db.DB
	mail  *mailbox
	audit *auditRecorder
	clock *clock
	// patients maps the patient records tests invite to their workspace.
	patients map[string]string
}

// accountKey is a fresh key for account fields, as the keyring's
// AccountKey would give.
func accountKey(t testing.TB) *keys.Key {
	t.Helper()
	k, err := keys.NewRandomKey()
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// cheapHash keeps tests fast; BenchmarkSignIn measures the real cost.
var cheapHash = identity.HashParams{Memory: 1024, Time: 1, Threads: 1}

func newFixture(t testing.TB, d *db.DB) *fixture {
	t.Helper()
	f := &fixture{db: d, mail: &mailbox{}, audit: &auditRecorder{}, clock: &clock{t: time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)},
		patients: map[string]string{}}
	svc, err := identity.New(d, f.mail, f.audit, identity.Config{BaseURL: "https://custodia.test", SealingKey: make([]byte, 32), AccountKey: accountKey(t),
		Hash: cheapHash, Now: f.clock.Now, PatientWorkspace: func(_ context.Context, id string) (string, error) { return f.patients[id], nil }})
	if err != nil {
		t.Fatal(err)
	}
	f.svc = svc
	return f
}

var meta = identity.Meta{ClientAddr: "192.0.2.10", UserAgent: "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0", RequestID: "req1"}

const goodPassword = "violet tractor harbour lantern"

// verifiedUser signs up a doctor and verifies the address. With mfaOff the
// new workspace does not require MFA, so a password alone gives a full session.
func (f *fixture) verifiedUser(t testing.TB, name, email string, mfaOff bool) string {
	t.Helper()
	ctx := context.Background()
	if err := f.svc.SignUp(ctx, identity.SignUpInput{Name: name, Email: email, Password: goodPassword}, meta); err != nil {
		t.Fatalf("sign up: %v", err)
	}
	f.svc.Wait()
	if err := f.svc.VerifyEmail(ctx, f.mail.lastToken(t, email, "/verify"), meta); err != nil {
		t.Fatalf("verify: %v", err)
	}
	uid, err := identity.UserIDByEmail(ctx, f.svc, email)
	if err != nil {
		t.Fatal(err)
	}
	if mfaOff {
		if _, err := f.db.Write.Exec(`UPDATE workspaces SET mfa_required = 0 WHERE id IN (SELECT workspace_id FROM memberships WHERE user_id = $1)`, uid); err != nil {
			t.Fatal(err)
		}
	}
	return uid
}

// signInFull signs in a user whose workspace does not require MFA.
func (f *fixture) signInFull(t testing.TB, email string) *identity.SignInResult {
	t.Helper()
	res, err := f.svc.SignIn(context.Background(), email, goodPassword, meta)
	if err != nil {
		t.Fatalf("sign in: %v", err)
	}
	if res.Session.Stage != identity.StageFull {
		t.Fatalf("stage %s, want full", res.Session.Stage)
	}
	return res
}

func code(t testing.TB, secret string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCodeCustom(secret, at, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func kindOf(err error) identity.Kind {
	if e, ok := identity.AsError(err); ok {
		return e.Kind
	}
	return 0
}

func codeOf(err error) string {
	if e, ok := identity.AsError(err); ok {
		return e.Code
	}
	return ""
}

// receiptFor returns a real audit receipt covering patientID, as the
// patient records hand identity with a patient invitation.
func receiptFor(t testing.TB, d *db.DB, patientID string) audit.Receipt {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), d, key, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	rc, err := l.Append(context.Background(), audit.Event{ActorUserID: "u-doc", ActorRole: "clinician", Action: "patient.portal_invite",
		ResourceType: "patient", ResourceID: patientID, PatientID: patientID, Decision: "allow", Outcome: "success", RequestID: "req-test"})
	if err != nil {
		t.Fatal(err)
	}
	return rc
}
