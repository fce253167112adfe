// Package consent keeps each patient's consent per purpose of use and is the
// one place that says whether a use beyond treatment is allowed.
//
// The ledger (consent_events) is append-only: a grant or a withdrawal is a
// new row, and the database refuses UPDATE and DELETE. The state of a
// (patient, purpose, data category) at time t is its latest event at or
// before t, so Allows(at) for a time before a withdrawal still says yes: a
// withdrawal stops future use and does not undo earlier lawful use.
//
// Every grant names the consent text version the patient was shown. Texts
// are versioned per purpose and never edited. The rule for old versions:
//
//   - A grant made on version v stops counting from the moment a later
//     version of the same purpose marked material is published (reason
//     consent_text_superseded): the patient is asked again. A later version
//     that is not material (wording, typos, layout) leaves the grant standing.
//   - A version may carry an expiry (valid_until). A grant made on it stops
//     counting at that instant (reason consent_text_expired), whatever later
//     versions say; the patient is asked again.
//   - A grant can only be recorded on a version that is neither expired nor
//     materially superseded at the moment of recording.
//
// A minor cannot consent alone: for a patient who is a minor at the time of
// recording, only a personal representative's decision is accepted (through
// the portal as a representative, or on a paper form staff upload naming
// the representative). Whether a patient is a minor and who represents them
// is records' knowledge, reached through the Subjects interface.
//
// Data categories: using impairment data needs express consent for every
// purpose, including providing and maintaining the service, so grants and
// withdrawals are kept per category, and Allows is asked about the
// categories a use touches.
package consent

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

// Subjects is what consent needs to know about patients; the records domain
// implements it.
type Subjects interface {
	// IsMinor reports whether the patient is a minor at the given time.
	IsMinor(ctx context.Context, patientID string, at time.Time) (bool, error)
	// IsRepresentative reports whether userID is a personal representative
	// of the patient, entitled to decide on their consent.
	IsRepresentative(ctx context.Context, userID, patientID string) (bool, error)
	// Workspace returns the workspace that holds the patient, or an error
	// wrapping ErrNoPatient.
	Workspace(ctx context.Context, patientID string) (string, error)
	// OnCareTeam reports whether userID is on the patient's care team.
	OnCareTeam(ctx context.Context, userID, patientID string) (bool, error)
}

// Action is what a ledger event does.
type Action string

// The ledger actions.
const (
	Grant    Action = "grant"
	Withdraw Action = "withdraw"
)

// Method is how a decision reached Custodia.
type Method string

// The methods. A personal representative's decision is either of these with
// DecidedBy = representative.
const (
	Portal    Method = "portal"     // the patient or representative clicked in the portal
	PaperForm Method = "paper_form" // staff uploaded a signed paper form
)

// Decider is whose decision an event records.
type Decider string

// The deciders.
const (
	ByPatient        Decider = "patient"
	ByRepresentative Decider = "representative"
)

// Reasons Allows gives.
const (
	ReasonNotRequired = "consent_not_required"    // service or maintenance on general data
	ReasonGranted     = "express_consent"         // a standing grant on a current text
	ReasonNoConsent   = "no_consent"              // never granted
	ReasonWithdrawn   = "consent_withdrawn"       // the latest event is a withdrawal
	ReasonSuperseded  = "consent_text_superseded" // a material new text version was published
	ReasonExpired     = "consent_text_expired"    // the text version granted on has expired
)

// Errors the service returns. Web handlers map them to statuses.
var (
	ErrNoPatient                = errors.New("no such patient")
	ErrUnknownPurpose           = errors.New("unknown purpose")
	ErrMinorNeedsRepresentative = errors.New("a minor cannot consent alone: a personal representative must decide")
	ErrNotRepresentative        = errors.New("the user is not a personal representative of the patient")
	ErrTextNotCurrent           = errors.New("the consent text version is expired or superseded")
	ErrNotFound                 = errors.New("not found")
)

// DeniedError is returned when the access policy refuses a request. Visible
// says whether the caller may know the patient exists (403) or not (404).
type DeniedError struct {
	Reason  access.Reason
	Visible bool
}

func (e *DeniedError) Error() string { return "consent access denied: " + string(e.Reason) }

// ValidationError names each bad input field and why, in words fit to show.
type ValidationError struct {
	Fields map[string]string
}

func (e *ValidationError) Error() string { return "invalid consent input" }

// Decision is Allows' answer.
type Decision struct {
	Allowed bool
	Reason  string
	GrantID string // the ledger event that allows the use, when one does
}

// Service is the consent domain.
type Service struct {
	db       *db.DB
	audit    audit.Appender
	keys     *keys.Keyring
	blobs    blob.Store
	subjects Subjects
	now      func() time.Time

	noticeInForce NoticeInForce // nil: records remember no notice
}

// New builds the service. Call Seed once at start to make sure every
// purpose has a first consent text.
func New(d *db.DB, a audit.Appender, k *keys.Keyring, b blob.Store, s Subjects) *Service {
	return &Service{db: d, audit: a, keys: k, blobs: b, subjects: s, now: time.Now}
}

// SetClock replaces the clock, for tests.
func (s *Service) SetClock(now func() time.Time) { s.now = now }

func newID(prefix string) string { return prefix + ids.New() }

func micros(t time.Time) int64 { return t.UnixMicro() }

func fromMicros(us int64) time.Time {
	if us == 0 {
		return time.Time{}
	}
	return time.UnixMicro(us).UTC()
}

// appendAudit records e with the request's actor, and fails closed.
func (s *Service) appendAudit(ctx context.Context, p *access.Principal, e audit.Event) (audit.Receipt, error) {
	if p != nil {
		e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
		e.OnBehalfOf, e.ClientAddr, e.RequestID = p.OnBehalfOf, p.ClientAddr, p.RequestID
		if e.WorkspaceID == "" {
			e.WorkspaceID = p.WorkspaceID
		}
	}
	r, err := s.audit.Append(ctx, e)
	if err != nil {
		return audit.Receipt{}, fmt.Errorf("append audit entry: %w", err)
	}
	return r, nil
}

// authorize asks the policy and audits the decision, denied attempts
// included. It returns the patient's workspace and the receipt of the
// allowed entry.
func (s *Service) authorize(ctx context.Context, p *access.Principal, a access.Action, patientID, purpose string) (string, audit.Receipt, error) {
	ws, d, err := s.decide(ctx, p, a, patientID)
	if err != nil {
		return "", audit.Receipt{}, err
	}
	ev := audit.Event{Action: string(a), ResourceType: string(access.KindConsent), WorkspaceID: ws,
		PatientID: patientID, Purpose: purpose, Reason: string(d.Reason), BreakGlass: d.BreakGlass}
	if d.Allow {
		ev.Decision, ev.Outcome = "allow", "success"
	} else {
		ev.Decision, ev.Outcome = "deny", "denied"
	}
	r, err := s.appendAudit(ctx, p, ev)
	if err != nil {
		return "", audit.Receipt{}, err
	}
	if !d.Allow {
		return "", audit.Receipt{}, &DeniedError{Reason: d.Reason, Visible: d.Visible}
	}
	return ws, r, nil
}
