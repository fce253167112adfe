package patient

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

// Purposes of use written into audit entries.
const (
	PurposeTreatment  = "treatment"         // clinicians caring for the patient
	PurposeBreakGlass = "break_glass"       // emergency access outside normal rights
	PurposeIndividual = "individual_access" // the patient or their representative
	PurposeOperations = "operations"        // admins and privacy officers (health care operations)
	// PurposeConsentCapacity: the system checks a patient's age to apply the
	// consent rules (who may consent for a minor).
	PurposeConsentCapacity = "consent_capacity"
)

// SystemActor is the actor (user id and role) of an entry the system writes
// for its own read, such as the consent rules' age check.
const SystemActor = "system"

// ReasonNotFound is the audit reason for an attempt on an id that does not
// exist: the attempt is recorded even though there is nothing to decide on.
const ReasonNotFound = "not_found"

// Check is one access to decide and audit.
type Check struct {
	Action       access.Action // what the policy decides
	AuditAction  string        // what the entry says, when more specific than Action
	Resource     access.Resource
	ResourceType string // e.g. "patient", "case", "workspace"
	ResourceID   string
}

// Gate is the one path from a request to PHI: it asks the policy, writes the
// audit entry (allowed or denied) and hands back the receipt that the
// decrypting functions demand. Services never decrypt without going through it.
type Gate struct {
	Audit audit.Appender
}

// Pass decides c for p and audits the decision. An allowed access returns
// the receipt; a denied one is audited and returns ErrNotFound (the principal
// may not know the resource exists) or ErrForbidden. If the audit entry
// cannot be written it returns an error wrapping audit.ErrUnavailable and
// nothing may be released.
func (g *Gate) Pass(ctx context.Context, p *access.Principal, c Check) (audit.Receipt, access.Decision, error) {
	d := access.Decide(p, c.Action, c.Resource)
	rc, err := g.Audit.Append(ctx, Event(p, c, d))
	if err != nil {
		return audit.Receipt{}, d, fmt.Errorf("audit %s: %w", auditAction(c), err)
	}
	if !d.Allow {
		return audit.Receipt{}, d, denial(d, c.Action)
	}
	return rc, d, nil
}

// PassAll decides and audits many accesses at once (one per row a list
// shows). The appends run concurrently so the audit log's group commit
// writes them in one transaction. Receipts are returned in order; a denied
// check gets a zero receipt and is audited as a denial. Any append failure
// fails the whole call.
func (g *Gate) PassAll(ctx context.Context, p *access.Principal, cs []Check) ([]audit.Receipt, error) {
	rcs := make([]audit.Receipt, len(cs))
	errs := make([]error, len(cs))
	var wg sync.WaitGroup
	for i := range cs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d := access.Decide(p, cs[i].Action, cs[i].Resource)
			rc, err := g.Audit.Append(ctx, Event(p, cs[i], d))
			if err != nil {
				errs[i] = fmt.Errorf("audit %s: %w", auditAction(cs[i]), err)
				return
			}
			if d.Allow {
				rcs[i] = rc
			}
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	return rcs, nil
}

// Refuse audits an attempt that fails before the policy can be asked: the
// id does not exist (ReasonNotFound), or a rule outside the role matrix
// applies (only a comment's author may edit it). It returns err unless the
// audit entry could not be written.
func (g *Gate) Refuse(ctx context.Context, p *access.Principal, c Check, reason string, err error) error {
	d := access.Decision{Reason: access.Reason(reason)}
	if _, aerr := g.Audit.Append(ctx, Event(p, c, d)); aerr != nil {
		return fmt.Errorf("audit %s: %w", auditAction(c), aerr)
	}
	return err
}

// Failed records that an allowed action did not complete (the write failed
// after its entry was written), so the log does not claim a change that
// never happened. Best effort: the caller is already returning an error.
func (g *Gate) Failed(ctx context.Context, p *access.Principal, c Check, d access.Decision) {
	e := Event(p, c, d)
	e.Outcome = "failure"
	_, _ = g.Audit.Append(context.WithoutCancel(ctx), e)
}

func denial(d access.Decision, a access.Action) error {
	if d.Visible {
		return &DeniedError{Action: a, Reason: d.Reason, Role: d.Role, BreakGlass: d.BreakGlass}
	}
	return ErrNotFound
}

// DeniedError is ErrForbidden with the policy's reason, so a page can say
// in words why and what to do next. It holds codes only, never PHI.
type DeniedError struct {
	Action     access.Action
	Reason     access.Reason
	Role       access.Role // the role whose rule refused, for a member
	BreakGlass bool
}

func (e *DeniedError) Error() string { return "forbidden: " + string(e.Reason) }

// Is makes errors.Is(err, ErrForbidden) true.
func (e *DeniedError) Is(target error) bool { return target == ErrForbidden }

func auditAction(c Check) string {
	if c.AuditAction != "" {
		return c.AuditAction
	}
	return string(c.Action)
}

// Event builds the audit entry for decision d on c. It holds ids and codes
// only.
func Event(p *access.Principal, c Check, d access.Decision) audit.Event {
	e := audit.Event{
		Action:       auditAction(c),
		ResourceType: c.ResourceType,
		ResourceID:   c.ResourceID,
		PatientID:    c.Resource.PatientID,
		WorkspaceID:  c.Resource.WorkspaceID,
		Reason:       string(d.Reason),
		BreakGlass:   d.BreakGlass,
		Decision:     "deny",
		Outcome:      "denied",
	}
	if d.Allow {
		e.Decision, e.Outcome = "allow", "success"
	}
	if p != nil {
		e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
		e.OnBehalfOf, e.ClientAddr, e.RequestID = p.OnBehalfOf, p.ClientAddr, p.RequestID
		if e.WorkspaceID == "" {
			e.WorkspaceID = p.WorkspaceID
		}
	}
	e.Purpose = purpose(p, d)
	return e
}

func purpose(p *access.Principal, d access.Decision) string {
	switch {
	case d.BreakGlass:
		return PurposeBreakGlass
	case p == nil:
		return ""
	case p.Role == access.RolePatient || p.Role == access.RoleRepresentative:
		return PurposeIndividual
	case d.Role == access.RoleClinician || (d.Role == "" && p.Role == access.RoleClinician):
		// The role whose rules allowed it: an admin + clinician reading as
		// the practice's admin is doing operations, not treatment.
		return PurposeTreatment
	}
	return PurposeOperations
}

// Seal encrypts v (as JSON) with the patient's key, bound to table, row and
// column.
func Seal(k *keys.Key, v any, table, rowID, column string) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode %s.%s: %w", table, column, err)
	}
	ct, err := keys.SealField(k, b, keys.FieldAD{Table: table, RowID: rowID, Column: column})
	clear(b)
	if err != nil {
		return nil, fmt.Errorf("seal %s.%s: %w", table, column, err)
	}
	return ct, nil
}

// errNoReceipt is a programming error: a code path tried to decrypt PHI
// without an audit entry for that patient.
var errNoReceipt = errors.New("decrypt PHI: no audit receipt covers this patient")

// Open decrypts a sealed JSON value into v. It demands the receipt of the
// audit entry for this access, covering patientID, so no code path can read
// PHI it did not first audit.
func Open(rc audit.Receipt, patientID string, k *keys.Key, ct []byte, table, rowID, column string, v any) error {
	if !rc.Covers(patientID) {
		return errNoReceipt
	}
	b, err := keys.OpenField(k, ct, keys.FieldAD{Table: table, RowID: rowID, Column: column})
	if err != nil {
		return fmt.Errorf("open %s.%s: %w", table, column, err)
	}
	err = json.Unmarshal(b, v)
	clear(b)
	if err != nil {
		return fmt.Errorf("decode %s.%s: %w", table, column, err)
	}
	return nil
}
