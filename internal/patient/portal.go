package patient

import (
	"context"
	"fmt"
	"net/mail"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Relationships a personal representative may have to the patient.
var Relationships = []string{"parent", "guardian", "legal_representative"}

// Representative is a person who acts for the patient (164.502(g)): a parent
// or guardian of a minor, or a legal representative. They see what the
// patient sees. Name and Email are PHI (they identify the patient's family)
// and are sealed with the patient's key.
type Representative struct {
	ID           string    `json:"id"`
	Relationship string    `json:"relationship"`
	Name         string    `json:"name"`
	Email        string    `json:"email"`
	UserID       string    `json:"user_id,omitempty"` // set once they have an account
	AddedAt      time.Time `json:"added_at"`
}

type repDetails struct {
	Name  string `json:"name"`
	Email string `json:"email"`
}

// Validate checks a new representative.
func (r *Representative) Validate() error {
	r.Name, r.Email, r.Relationship = strings.TrimSpace(r.Name), strings.TrimSpace(r.Email), strings.TrimSpace(r.Relationship)
	f := fieldErrors{}
	if !oneOf(r.Relationship, Relationships) {
		f.add("relationship", "must be one of "+strings.Join(Relationships, ", "))
	}
	if r.Name == "" {
		f.add("name", "is required")
	} else if utf8.RuneCountInString(r.Name) > 200 {
		f.add("name", "must be at most 200 characters")
	}
	if a, err := mail.ParseAddress(r.Email); err != nil || a.Address != r.Email {
		f.add("email", "must be an email address like name@example.org")
	}
	if r.UserID != "" && !validUserID(r.UserID) {
		f.add("user_id", "must be a user id")
	}
	return f.err()
}

// AddRepresentative links a personal representative to the patient.
func (s *Service) AddRepresentative(ctx context.Context, p *access.Principal, patientID string, rep Representative) (*Representative, error) {
	if err := rep.Validate(); err != nil {
		return nil, err
	}
	r, _, d, err := s.passLasting(ctx, p, patientID, access.PatientUpdate, "patient.representative_add")
	if err != nil {
		return nil, err
	}
	k, err := s.patientKey(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	rep.ID = NewID()
	rep.AddedAt = s.now()
	sealed, err := Seal(k, repDetails{Name: rep.Name, Email: rep.Email}, "personal_representatives", rep.ID, "details")
	if err != nil {
		return nil, err
	}
	_, err = s.db.Write.ExecContext(ctx, `INSERT INTO personal_representatives (id, patient_id, relationship, user_id, details, added_by, added_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7)`, rep.ID, patientID, rep.Relationship, rep.UserID, sealed, p.UserID, rep.AddedAt.UnixMicro())
	if err != nil {
		s.gate.Failed(ctx, p, patientCheck(access.PatientUpdate, "patient.representative_add", r), d)
		return nil, fmt.Errorf("add representative: %w", err)
	}
	return &rep, nil
}

// Representatives lists the patient's active representatives.
func (s *Service) Representatives(ctx context.Context, p *access.Principal, patientID string) ([]Representative, error) {
	r, rc, _, err := s.pass(ctx, p, patientID, access.PatientRead, "patient.representative_read")
	if err != nil {
		return nil, err
	}
	return s.representatives(ctx, rc, r)
}

func (s *Service) representatives(ctx context.Context, rc audit.Receipt, r *row) ([]Representative, error) {
	patientID := r.id
	k, err := s.patientKey(ctx, r)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT id, relationship, user_id, details, added_at FROM personal_representatives
		WHERE patient_id = $1 AND removed_at IS NULL ORDER BY added_at, id`, patientID)
	if err != nil {
		return nil, fmt.Errorf("list representatives: %w", err)
	}
	defer rows.Close()
	var out []Representative
	for rows.Next() {
		var rep Representative
		var ct []byte
		var at int64
		if err := rows.Scan(&rep.ID, &rep.Relationship, &rep.UserID, &ct, &at); err != nil {
			return nil, fmt.Errorf("list representatives: %w", err)
		}
		var det repDetails
		if err := Open(rc, patientID, k, ct, "personal_representatives", rep.ID, "details", &det); err != nil {
			return nil, err
		}
		rep.Name, rep.Email, rep.AddedAt = det.Name, det.Email, time.UnixMicro(at)
		out = append(out, rep)
	}
	return out, rows.Err()
}

// PortalInvitation is what identity's mailer needs to invite someone to the
// patient portal. Email is PHI and must only go into the message itself.
type PortalInvitation struct {
	WorkspaceID  string
	PatientID    string
	Email        string
	Relationship string // "self" or "representative"
	InvitedBy    string
	// Receipt is the audited decision (patient.portal_invite) that allows
	// the invitation; identity refuses a patient invitation without one
	// covering PatientID.
	Receipt audit.Receipt
}

// PortalInviter sends portal invitations: identity's invitations of kind
// "patient", adapted in internal/app. p is the clinician inviting.
type PortalInviter interface {
	InvitePatient(ctx context.Context, p *access.Principal, inv PortalInvitation) error
}

// AuthorizePortalInvite decides and audits (patient.portal_invite) whether
// p may invite someone to the portal for the patient, as InvitePortal does,
// for the invitation form where the clinician types the address. The
// receipt goes with the invitation to identity, which refuses a patient
// invitation without one.
func (s *Service) AuthorizePortalInvite(ctx context.Context, p *access.Principal, patientID string) (audit.Receipt, error) {
	_, rc, _, err := s.passLasting(ctx, p, patientID, access.PatientUpdate, "patient.portal_invite")
	return rc, err
}

// InvitePortal gives the patient portal access: an adult patient is invited
// at the email on their profile; a patient under 18 gets access only through
// a linked personal representative, so each representative is invited and
// the minor is not. A minor without a representative is refused.
func (s *Service) InvitePortal(ctx context.Context, p *access.Principal, patientID string) ([]PortalInvitation, error) {
	r, rc, d, err := s.passLasting(ctx, p, patientID, access.PatientUpdate, "patient.portal_invite")
	if err != nil {
		return nil, err
	}
	// The entry above says an invitation was allowed; any way out below
	// without one sent is recorded as a failure.
	fail := func(err error) ([]PortalInvitation, error) {
		s.gate.Failed(ctx, p, patientCheck(access.PatientUpdate, "patient.portal_invite", r), d)
		return nil, err
	}
	pt, err := s.open(ctx, r, rc, access.Decision{}, false)
	if err != nil {
		return fail(err)
	}
	var invs []PortalInvitation
	if pt.Summary.Age(s.now()) < AdultAge {
		reps, err := s.representatives(ctx, rc, r)
		if err != nil {
			return fail(err)
		}
		if len(reps) == 0 {
			return fail(Invalid("representative", "a patient under 18 gets portal access only through a parent or guardian: link a personal representative first"))
		}
		for _, rep := range reps {
			invs = append(invs, PortalInvitation{WorkspaceID: r.workspaceID, PatientID: r.id, Email: rep.Email, Relationship: "representative", InvitedBy: p.UserID, Receipt: rc})
		}
	} else {
		if pt.Profile.Email == "" {
			return fail(Invalid("email", "the patient's profile has no email address to invite"))
		}
		invs = append(invs, PortalInvitation{WorkspaceID: r.workspaceID, PatientID: r.id, Email: pt.Profile.Email, Relationship: "self", InvitedBy: p.UserID, Receipt: rc})
	}
	if s.inviter == nil {
		return fail(fmt.Errorf("invite to patient portal: %w (identity's mailer is not wired in)", ErrNotConfigured))
	}
	for _, inv := range invs {
		if err := s.inviter.InvitePatient(ctx, p, inv); err != nil {
			return fail(fmt.Errorf("invite to patient portal: %w", err))
		}
	}
	return invs, nil
}
