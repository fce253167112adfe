package identity

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	imail "github.com/custodia-health/custodia/internal/mail"
)

// InvitationTTL is how long an invitation link stays good.
const InvitationTTL = 7 * 24 * time.Hour

// Invitation kinds. Collaborator invitations (a doctor from another
// practice, to one case) arrive with cases; the column is ready for them.
const (
	InviteMember  = "member"
	InvitePatient = "patient"
)

// InviteInput is who to invite and as what. For a member, Role is one of
// access.MemberRoles. For a patient, Role is patient or representative and
// PatientID names the patient record the new user is linked to.
type InviteInput struct {
	Kind      string
	Email     string
	Role      access.Role
	PatientID string
	// Receipt, for a patient invitation, is the patient records' audited
	// decision that the inviter may invite for PatientID. Identity cannot
	// judge a care team, so a patient invitation without a receipt
	// covering PatientID is refused.
	Receipt audit.Receipt
}

// Invitation is an invitation as its holder or the inviting admin sees it.
type Invitation struct {
	ID            string
	Kind          string
	WorkspaceID   string
	WorkspaceName string
	Email         string
	Role          access.Role
	ExpiresAt     time.Time
	AccountExists bool // the holder must sign in to accept

	// For the admin's list of pending invitations.
	SentAt        time.Time
	InvitedBy     string // user id
	InvitedByName string
	Expired       bool
}

// Invite creates an invitation and emails its link. Admins invite members;
// clinicians (and admins, who run the practice) invite patients and their
// representatives. It returns the invitation; the token is only in the email.
func (s *Service) Invite(ctx context.Context, p *access.Principal, ws string, in InviteInput, m Meta) (*Invitation, error) {
	email := normalizeEmail(in.Email)
	if err := checkNameEmail("x", email); err != nil {
		return nil, err
	}
	switch in.Kind {
	case InviteMember:
		if err := requireRole(p, ws, access.RoleAdmin); err != nil {
			return nil, err
		}
		if in.Role == "" {
			// Most people a practice invites are its doctors.
			in.Role = access.RoleClinician
		}
		if !slices.Contains(access.MemberRoles, in.Role) {
			return nil, invalid("role", "role_invalid", "Choose one of the roles: admin, clinician, staff or privacy officer.")
		}
	case InvitePatient:
		if err := requireRole(p, ws, access.RoleClinician, access.RoleAdmin, access.RoleStaff); err != nil {
			return nil, err
		}
		if in.Role != access.RolePatient && in.Role != access.RoleRepresentative {
			return nil, invalid("role", "role_invalid", "Choose whether the person is the patient or their representative.")
		}
		if strings.TrimSpace(in.PatientID) == "" {
			return nil, invalid("patient_id", "patient_required", "Enter the patient record this person is linked to.")
		}
		if !in.Receipt.Covers(strings.TrimSpace(in.PatientID)) {
			return nil, invalid("patient_id", "patient_unknown", "There is no such patient record in this workspace.")
		}
		if err := s.checkPatientWorkspace(ctx, ws, strings.TrimSpace(in.PatientID)); err != nil {
			return nil, err
		}
	default:
		return nil, invalid("kind", "kind_invalid", "Choose what the invitation is for: a workspace member or a patient.")
	}
	tok := randomToken(32)
	now := s.now()
	inv := &Invitation{ID: newID(), Kind: in.Kind, WorkspaceID: ws, Email: email, Role: in.Role, ExpiresAt: now.Add(InvitationTTL), SentAt: now}
	var patient sql.NullString
	if in.Kind == InvitePatient {
		patient = sql.NullString{String: strings.TrimSpace(in.PatientID), Valid: true}
	}
	sealed, err := s.sealText("invitations", inv.ID, "email_enc", email)
	if err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	// The legacy email column stays '': an invitee's address is as telling
	// as a patient's name.
	if _, err := s.db.Write.ExecContext(ctx, `INSERT INTO invitations (id, token_hash, kind, workspace_id, email, email_enc, email_index, role, patient_id, invited_by, created_at, expires_at, sent_at)
		VALUES ($1, $2, $3, $4, '', $5, $6, $7, $8, $9, $10, $11, $10)`,
		inv.ID, hashToken(tok), in.Kind, ws, sealed, s.emailIndex(email), string(in.Role), patient, p.UserID, micros(now), micros(inv.ExpiresAt)); err != nil {
		return nil, fmt.Errorf("create invitation: %w", err)
	}
	if err := s.sendInvitation(ctx, p.UserID, ws, in.Kind, email, tok); err != nil {
		return nil, err
	}
	return inv, s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.invitation.send",
		ResourceType: "invitation", ResourceID: inv.ID, PatientID: patient.String, Reason: in.Kind})
}

// sendInvitation mails the link. A member invitation names the practice and
// the admin who sent it, so a colleague knows who asks; a patient
// invitation names no workspace, inviter or patient, because being invited
// by a clinic can itself reveal that someone is its patient.
func (s *Service) sendInvitation(ctx context.Context, inviter, ws, kind, email, tok string) error {
	msg := imail.Message{To: email, Subject: "You are invited to Custodia",
		Text: "Hello,\n\nYou have been invited to Custodia. To accept, open this link (it works once, for 7 days):\n\n" +
			s.link("/invitations/accept", tok) + "\n\nIf you were not expecting this, ignore this message.\n"}
	if kind == InviteMember {
		who, err := s.User(ctx, inviter)
		if err != nil {
			return fmt.Errorf("send invitation: %w", err)
		}
		clinic, err := s.WorkspaceName(ctx, ws)
		if err != nil {
			return fmt.Errorf("send invitation: %w", err)
		}
		msg.Subject = who.Name + " invites you to join " + clinic + " on Custodia"
		msg.Text = "Hello,\n\n" + who.Name + " invites you to join " + clinic + " on Custodia, where the practice keeps its patients' records.\n\n" +
			"To accept, open this link (it works once, for 7 days):\n\n" + s.link("/invitations/accept", tok) +
			"\n\nIf you were not expecting this, ignore this message, or ask " + who.Name + " about it.\n"
	}
	if err := s.mailer.Send(ctx, msg); err != nil {
		return fmt.Errorf("send invitation: %w", err)
	}
	return nil
}

// PendingInvitations lists a workspace's member invitations not yet
// accepted or withdrawn, expired ones included (an admin resends those),
// newest first. Admins only.
func (s *Service) PendingInvitations(ctx context.Context, p *access.Principal, ws string) ([]Invitation, error) {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT i.id, i.email_enc, i.role, i.expires_at, COALESCE(i.sent_at, i.created_at), i.invited_by, u.name_enc
		FROM invitations i JOIN users u ON u.id = i.invited_by
		WHERE i.workspace_id = $1 AND i.kind = $2 AND i.accepted_at IS NULL AND i.revoked_at IS NULL
		ORDER BY i.created_at DESC, i.id`, ws, InviteMember)
	if err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	defer rows.Close()
	var out []Invitation
	for rows.Next() {
		inv := Invitation{Kind: InviteMember, WorkspaceID: ws}
		var role string
		var exp, sent int64
		var email, name []byte
		if err := rows.Scan(&inv.ID, &email, &role, &exp, &sent, &inv.InvitedBy, &name); err != nil {
			return nil, fmt.Errorf("list invitations: %w", err)
		}
		if inv.Email, err = s.openText("invitations", inv.ID, "email_enc", email); err != nil {
			return nil, fmt.Errorf("list invitations: %w", err)
		}
		if inv.InvitedByName, err = s.openText("users", inv.InvitedBy, "name_enc", name); err != nil {
			return nil, fmt.Errorf("list invitations: %w", err)
		}
		inv.Role, inv.ExpiresAt, inv.SentAt = access.Role(role), time.UnixMicro(exp), time.UnixMicro(sent)
		inv.Expired = !inv.ExpiresAt.After(s.now())
		out = append(out, inv)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list invitations: %w", err)
	}
	return out, nil
}

var errNoInvitation = &Error{Kind: KindNotFound, Code: "invitation_not_found", Message: "There is no such open invitation: it may have been accepted or withdrawn already."}

// openInvitationEmail returns the address of ws's open member invitation id.
func (s *Service) openInvitationEmail(ctx context.Context, ws, id string) (string, error) {
	var sealed []byte
	err := s.db.Read.QueryRowContext(ctx, `SELECT email_enc FROM invitations WHERE id = $1 AND workspace_id = $2 AND kind = $3
		AND accepted_at IS NULL AND revoked_at IS NULL`, id, ws, InviteMember).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return "", errNoInvitation
	}
	if err != nil {
		return "", fmt.Errorf("read invitation: %w", err)
	}
	email, err := s.openText("invitations", id, "email_enc", sealed)
	if err != nil {
		return "", fmt.Errorf("read invitation: %w", err)
	}
	return email, nil
}

// ResendInvitation mails an open member invitation again with a new link
// good for another 7 days; the old link stops working. Admins only.
func (s *Service) ResendInvitation(ctx context.Context, p *access.Principal, ws, id string, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	email, err := s.openInvitationEmail(ctx, ws, id)
	if err != nil {
		return err
	}
	tok := randomToken(32)
	now := s.now()
	res, err := s.db.Write.ExecContext(ctx, `UPDATE invitations SET token_hash = $1, expires_at = $2, sent_at = $3
		WHERE id = $4 AND workspace_id = $5 AND accepted_at IS NULL AND revoked_at IS NULL`,
		hashToken(tok), micros(now.Add(InvitationTTL)), micros(now), id, ws)
	if err != nil {
		return fmt.Errorf("resend invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errNoInvitation
	}
	if err := s.sendInvitation(ctx, p.UserID, ws, InviteMember, email, tok); err != nil {
		return err
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.invitation.resend",
		ResourceType: "invitation", ResourceID: id, Reason: InviteMember})
}

// RevokeInvitation withdraws an open member invitation: its link stops
// working. Admins only.
func (s *Service) RevokeInvitation(ctx context.Context, p *access.Principal, ws, id string, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	res, err := s.db.Write.ExecContext(ctx, `UPDATE invitations SET revoked_at = $1
		WHERE id = $2 AND workspace_id = $3 AND kind = $4 AND accepted_at IS NULL AND revoked_at IS NULL`, micros(s.now()), id, ws, InviteMember)
	if err != nil {
		return fmt.Errorf("revoke invitation: %w", err)
	}
	if n, _ := res.RowsAffected(); n != 1 {
		return errNoInvitation
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.invitation.revoke",
		ResourceType: "invitation", ResourceID: id, Reason: InviteMember})
}

var errBadInvitation = &Error{Kind: KindInvalid, Code: "invitation_invalid", Field: "token",
	Message: "This invitation link is not valid: it may have been used already, have expired (invitations last 7 days), or been copied incompletely. Ask for a new invitation."}

// InvitationByToken shows an open invitation to the holder of its link.
func (s *Service) InvitationByToken(ctx context.Context, tok string) (*Invitation, error) {
	var inv Invitation
	var role string
	var exp int64
	var sealed []byte
	err := s.db.Read.QueryRowContext(ctx, `SELECT i.id, i.kind, i.workspace_id, w.name, i.email_enc, i.role, i.expires_at FROM invitations i
		JOIN workspaces w ON w.id = i.workspace_id WHERE i.token_hash = $1 AND i.accepted_at IS NULL AND i.revoked_at IS NULL AND i.expires_at > $2`,
		hashToken(strings.TrimSpace(tok)), micros(s.now())).Scan(&inv.ID, &inv.Kind, &inv.WorkspaceID, &inv.WorkspaceName, &sealed, &role, &exp)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errBadInvitation
	}
	if err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	if inv.Email, err = s.openText("invitations", inv.ID, "email_enc", sealed); err != nil {
		return nil, fmt.Errorf("read invitation: %w", err)
	}
	inv.Role, inv.ExpiresAt = access.Role(role), time.UnixMicro(exp)
	if _, _, err := s.userByEmail(ctx, inv.Email); err == nil {
		inv.AccountExists = true
	}
	return &inv, nil
}

// AcceptInput completes an invitation. A new user gives a name and
// password; an existing user is signed in (SignedInUserID) instead.
type AcceptInput struct {
	Token          string
	Name           string
	Password       string
	SignedInUserID string
}

// AcceptInvitation consumes the invitation (once: a replayed link fails)
// and adds the membership or patient link, creating the account if the
// invited address has none. The link proves the address, so a new
// account starts verified. It returns the user id.
func (s *Service) AcceptInvitation(ctx context.Context, in AcceptInput, m Meta) (string, error) {
	inv, err := s.InvitationByToken(ctx, in.Token)
	if err != nil {
		return "", err
	}
	var uid, hash string
	switch {
	case in.SignedInUserID != "":
		u, err := s.User(ctx, in.SignedInUserID)
		if err != nil {
			return "", err
		}
		if u.Email != inv.Email {
			return "", &Error{Kind: KindForbidden, Code: "invitation_other_address",
				Message: "This invitation was sent to a different email address than the one you are signed in with. Sign out, then open the link again."}
		}
		uid = u.ID
	case inv.AccountExists:
		return "", &Error{Kind: KindUnauthenticated, Code: "signin_required", Message: "An account already uses this email address. Sign in first, then open the invitation link again."}
	default:
		in.Name = strings.TrimSpace(in.Name)
		if err := checkNameEmail(in.Name, inv.Email); err != nil {
			return "", err
		}
		if err := CheckPassword(in.Password, PasswordContext{Name: in.Name, Email: inv.Email}); err != nil {
			return "", err
		}
		if hash, err = s.hasher.hash(normalizePassword(in.Password)); err != nil {
			return "", err
		}
		uid = newID()
	}
	now := micros(s.now())
	err = s.db.Tx(ctx, func(tx *sql.Tx) error {
		if hash != "" {
			if err := s.insertUser(ctx, tx, uid, inv.Email, in.Name, hash, now, now); err != nil {
				if s.db.Dialect.IsUniqueViolation(err) {
					return &Error{Kind: KindConflict, Code: "signin_required", Message: "An account already uses this email address. Sign in first, then open the invitation link again."}
				}
				return fmt.Errorf("create user: %w", err)
			}
		}
		// Single use: only the first of two racing acceptances updates the row.
		res, err := tx.ExecContext(ctx, `UPDATE invitations SET accepted_at = $1, accepted_by = $2 WHERE id = $3 AND accepted_at IS NULL AND revoked_at IS NULL AND expires_at > $1`, now, uid, inv.ID)
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return errBadInvitation
		}
		switch inv.Kind {
		case InviteMember:
			// A member invited again keeps the roles held and gains this one.
			err = s.putMember(ctx, tx, inv.WorkspaceID, uid, []access.Role{inv.Role}, true, now)
		case InvitePatient:
			rel := "self"
			if inv.Role == access.RoleRepresentative {
				rel = "representative"
			}
			_, err = tx.ExecContext(ctx, `INSERT INTO patient_users (user_id, patient_id, relationship, workspace_id, created_at)
				SELECT $1, patient_id, $2, workspace_id, $3 FROM invitations WHERE id = $4 ON CONFLICT (user_id, patient_id) DO NOTHING`, uid, rel, now, inv.ID)
		}
		if err != nil {
			return fmt.Errorf("accept invitation: %w", err)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	return uid, s.record(ctx, m, audit.Event{ActorUserID: uid, WorkspaceID: inv.WorkspaceID, ActorRole: string(inv.Role), Action: "auth.invitation.accept",
		ResourceID: uid, Reason: inv.Kind})
}

// checkPatientWorkspace refuses a patient invitation to a record outside ws:
// accepting it would give the invitee the record of another clinic. An
// unknown record and another workspace's record get the same answer.
func (s *Service) checkPatientWorkspace(ctx context.Context, ws, patientID string) error {
	if s.cfg.PatientWorkspace == nil {
		return invalid("patient_id", "patient_unknown", "There is no such patient record in this workspace.")
	}
	got, err := s.cfg.PatientWorkspace(ctx, patientID)
	if err != nil {
		return fmt.Errorf("find the patient's workspace: %w", err)
	}
	if got == "" || got != ws {
		return invalid("patient_id", "patient_unknown", "There is no such patient record in this workspace.")
	}
	return nil
}
