// Package patienttest builds the records services on a real database, key
// ring and audit log for tests, with principals for each role.
package patienttest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/casefile"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/patient"
)

// Switch is an audit.Appender that can be made to fail, so tests can prove
// that no PHI leaves when the audit log is unwritable.
type Switch struct {
	Log *audit.Log
	// AfterAppend, when set, sees each event durably appended with its
	// context (the web tests count PHI receipts with it).
	AfterAppend func(context.Context, audit.Event)
	down        atomic.Bool
}

// Down makes every append fail with audit.ErrUnavailable until Up.
func (s *Switch) Down() { s.down.Store(true) }

// Up lets appends through again.
func (s *Switch) Up() { s.down.Store(false) }

// Append implements audit.Appender.
func (s *Switch) Append(ctx context.Context, e audit.Event) (audit.Receipt, error) {
	if s.down.Load() {
		return audit.Receipt{}, fmt.Errorf("append audit entry: %w: switched off by the test", audit.ErrUnavailable)
	}
	rc, err := s.Log.Append(ctx, e)
	if err == nil && s.AfterAppend != nil {
		s.AfterAppend(ctx, e)
	}
	return rc, err
}

// Env is a records stack on one database.
type Env struct {
	DB       *db.DB
	Keys     *keys.Keyring
	Audit    *Switch
	Patients *patient.Service
	Cases    *casefile.Service
	Invites  *Invites
	Alerts   *Alerts
}

// Invites records portal invitations instead of mailing them.
type Invites struct{ Sent []patient.PortalInvitation }

// InvitePatient implements patient.PortalInviter.
func (i *Invites) InvitePatient(_ context.Context, _ *access.Principal, inv patient.PortalInvitation) error {
	i.Sent = append(i.Sent, inv)
	return nil
}

// Alerts records break-glass alerts instead of mailing them.
type Alerts struct{ Sent []patient.BreakGlassAlert }

// BreakGlassOpened implements patient.BreakGlassNotifier.
func (a *Alerts) BreakGlassOpened(_ context.Context, al patient.BreakGlassAlert) error {
	a.Sent = append(a.Sent, al)
	return nil
}

// New builds the stack on d; the audit log closes when tb ends.
func New(tb testing.TB, d *db.DB) *Env {
	tb.Helper()
	e, err := Open(d)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { e.Audit.Log.Close() })
	return e
}

// Open builds the stack on d for callers that outlive one test (shared
// benchmark fixtures); the caller closes e.Audit.Log.
func Open(d *db.DB) (*Env, error) {
	ms, err := keys.GenerateMasterString()
	if err != nil {
		return nil, err
	}
	m, err := keys.ParseMaster(ms)
	if err != nil {
		return nil, err
	}
	_, sk, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		return nil, err
	}
	l, err := audit.Open(context.Background(), d, sk, audit.Options{})
	if err != nil {
		return nil, err
	}
	e := &Env{DB: d, Keys: keys.NewKeyring(d, m), Audit: &Switch{Log: l}, Invites: &Invites{}, Alerts: &Alerts{}}
	e.Patients = patient.New(patient.Config{DB: d, Keys: e.Keys, Audit: e.Audit, Inviter: e.Invites, Notifier: e.Alerts})
	e.Cases = casefile.New(d, e.Patients, nil)
	return e, nil
}

// Member is a workspace member principal.
func Member(ws, user string, role access.Role) *access.Principal {
	return &access.Principal{UserID: user, SessionID: "s-" + user, WorkspaceID: ws, Role: role, ClientAddr: "127.0.0.1", RequestID: "req-" + user}
}

// Clinician is a clinician of ws.
func Clinician(ws, user string) *access.Principal { return Member(ws, user, access.RoleClinician) }

// PatientUser is the patient themself, signed in to the portal.
func PatientUser(user, patientID string) *access.Principal {
	return &access.Principal{UserID: user, SessionID: "s-" + user, Role: access.RolePatient, PatientID: patientID, ClientAddr: "127.0.0.1"}
}

// Representative acts for patientID.
func Representative(user, patientID string) *access.Principal {
	return &access.Principal{UserID: user, SessionID: "s-" + user, Role: access.RoleRepresentative, PatientID: patientID, OnBehalfOf: user, ClientAddr: "127.0.0.1"}
}

// Entries returns every audit entry, oldest first.
func (e *Env) Entries(tb testing.TB) []audit.Entry {
	tb.Helper()
	var out []audit.Entry
	var cursor int64
	for {
		pg, err := e.Audit.Log.Query(context.Background(), audit.Filter{Cursor: cursor, Limit: audit.MaxLimit})
		if err != nil {
			tb.Fatal(err)
		}
		out = append(out, pg.Entries...)
		if pg.Next == 0 {
			break
		}
		cursor = pg.Next
	}
	// Query pages newest first; reverse the whole into log order.
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}

// Profile is a valid adult profile with the given names.
func Profile(given, family string) patient.Profile {
	return patient.Profile{GivenName: given, FamilyName: family, BirthDate: "1980-04-12", Email: "",
		BiologicalSex: "female", Laterality: "right", HeightCM: 168}
}
