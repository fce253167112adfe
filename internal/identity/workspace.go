package identity

import (
	"cmp"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
)

// Workspace is a practice or clinic as one of its members sees it.
type Workspace struct {
	ID          string
	Name        string
	Role        access.Role   // the viewer's primary role in it
	Roles       []access.Role // every role the viewer holds in it
	MFARequired bool
}

// Member is a user's membership as a workspace admin sees it.
type Member struct {
	UserID     string
	Name       string
	Email      string
	Role       access.Role   // the primary role
	Roles      []access.Role // every role held, in access.MemberRoles order
	MFAEnabled bool
	Since      time.Time
}

// Workspaces lists the workspaces the user belongs to, oldest membership first.
func (s *Service) Workspaces(ctx context.Context, uid string) ([]Workspace, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT w.id, w.name, m.role, w.mfa_required FROM memberships m JOIN workspaces w ON w.id = m.workspace_id
		WHERE m.user_id = $1 ORDER BY m.created_at, w.id`, uid)
	if err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	defer rows.Close()
	var out []Workspace
	for rows.Next() {
		var w Workspace
		var role string
		var req int
		if err := rows.Scan(&w.ID, &w.Name, &role, &req); err != nil {
			return nil, fmt.Errorf("list workspaces: %w", err)
		}
		w.Role, w.MFARequired = access.Role(role), req != 0
		out = append(out, w)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list workspaces: %w", err)
	}
	for i := range out {
		if out[i].Roles, err = s.memberRoles(ctx, s.db.Read, out[i].ID, uid); err != nil {
			return nil, err
		}
		if len(out[i].Roles) > 0 {
			out[i].Role = out[i].Roles[0]
		}
	}
	return out, nil
}

// querier is what both a pool and a transaction offer.
type querier interface {
	QueryContext(ctx context.Context, q string, args ...any) (*sql.Rows, error)
}

// memberRoles returns the roles uid holds in ws, in precedence order.
func (s *Service) memberRoles(ctx context.Context, q querier, ws, uid string) ([]access.Role, error) {
	rows, err := q.QueryContext(ctx, `SELECT role FROM member_roles WHERE workspace_id = $1 AND user_id = $2`, ws, uid)
	if err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	defer rows.Close()
	var rs []access.Role
	for rows.Next() {
		var r string
		if err := rows.Scan(&r); err != nil {
			return nil, fmt.Errorf("read roles: %w", err)
		}
		rs = append(rs, access.Role(r))
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("read roles: %w", err)
	}
	return access.NormaliseRoles(rs), nil
}

// putMember makes uid a member of ws holding exactly roles (add=false) or
// the roles already held plus roles (add=true), keeping memberships.role the
// primary role. roles must be non-empty member roles.
func (s *Service) putMember(ctx context.Context, tx *sql.Tx, ws, uid string, roles []access.Role, add bool, now int64) error {
	roles = access.NormaliseRoles(roles)
	if len(roles) == 0 {
		return invalid("roles", "role_required", "Choose at least one role.")
	}
	if add {
		held, err := s.memberRoles(ctx, tx, ws, uid)
		if err != nil {
			return err
		}
		roles = access.NormaliseRoles(append(held, roles...))
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4)
		ON CONFLICT (workspace_id, user_id) DO UPDATE SET role = excluded.role`, ws, uid, string(roles[0]), now); err != nil {
		return fmt.Errorf("set membership: %w", err)
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM member_roles WHERE workspace_id = $1 AND user_id = $2`, ws, uid); err != nil {
		return fmt.Errorf("set roles: %w", err)
	}
	for _, r := range roles {
		if _, err := tx.ExecContext(ctx, `INSERT INTO member_roles (workspace_id, user_id, role) VALUES ($1, $2, $3)`, ws, uid, string(r)); err != nil {
			return fmt.Errorf("set roles: %w", err)
		}
	}
	return nil
}

// defaultWorkspace is where a new session starts: the oldest membership,
// else the workspace of the oldest patient link, else none.
func (s *Service) defaultWorkspace(ctx context.Context, uid string) (string, error) {
	var ws string
	err := s.db.Read.QueryRowContext(ctx, `SELECT workspace_id FROM (
		SELECT workspace_id, 0 AS pref, created_at FROM memberships WHERE user_id = $1
		UNION ALL SELECT workspace_id, 1 AS pref, created_at FROM patient_users WHERE user_id = $1) x
		ORDER BY pref, created_at, workspace_id LIMIT 1`, uid).Scan(&ws)
	if errors.Is(err, sql.ErrNoRows) {
		return "", nil
	}
	if err != nil {
		return "", fmt.Errorf("find default workspace: %w", err)
	}
	return ws, nil
}

// principal builds who uid is in workspace ws: a member's role, else a
// patient link, else operator, else a user with no role.
func (s *Service) principal(ctx context.Context, uid, ws string) (*access.Principal, error) {
	p := &access.Principal{UserID: uid, WorkspaceID: ws}
	if ws != "" {
		roles, err := s.memberRoles(ctx, s.db.Read, ws, uid)
		if err != nil {
			return nil, fmt.Errorf("resolve role: %w", err)
		}
		if len(roles) > 0 {
			p.Roles, p.Role = roles, roles[0]
			return p, nil
		}
		var patient, rel string
		err = s.db.Read.QueryRowContext(ctx, `SELECT patient_id, relationship FROM patient_users WHERE workspace_id = $1 AND user_id = $2
			ORDER BY created_at LIMIT 1`, ws, uid).Scan(&patient, &rel)
		if err == nil {
			p.PatientID, p.Role = patient, access.RolePatient
			if rel == "representative" {
				p.Role = access.RoleRepresentative
			}
			return p, nil
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return nil, fmt.Errorf("resolve role: %w", err)
		}
	}
	p.WorkspaceID = ""
	u, err := s.User(ctx, uid)
	if err != nil {
		return nil, err
	}
	if u.Operator {
		p.Role = access.RoleOperator
	}
	return p, nil
}

// SwitchWorkspace makes ws the session's active workspace. It is a
// privilege change, so the session gets a new token.
func (s *Service) SwitchWorkspace(ctx context.Context, sess *Session, ws string, m Meta) (string, error) {
	var n int
	if err := s.db.Read.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND user_id = $2`, ws, sess.UserID).Scan(&n); err != nil {
		return "", fmt.Errorf("switch workspace: %w", err)
	}
	if n == 0 {
		return "", &Error{Kind: KindNotFound, Code: "workspace_not_found", Message: "You are not a member of that workspace."}
	}
	tok, err := s.rotate(ctx, sess.ID, sess.Stage, ws)
	if err != nil {
		return "", err
	}
	return tok, s.record(ctx, m, audit.Event{ActorUserID: sess.UserID, WorkspaceID: ws, Action: "auth.workspace.switch", ResourceID: sess.UserID})
}

// requireRole fails unless p holds one of roles in workspace ws.
func requireRole(p *access.Principal, ws string, roles ...access.Role) error {
	if p == nil || p.WorkspaceID != ws || !p.HasAny(roles...) {
		return errForbidden
	}
	if p.TokenID != "" {
		// API tokens are for apps and devices, not for running a workspace.
		return errForbidden
	}
	return nil
}

// Members lists a workspace's members: for admins, who run the workspace,
// and privacy officers, who must keep the record of who holds which rights.
func (s *Service) Members(ctx context.Context, p *access.Principal, ws string) ([]Member, error) {
	if err := requireRole(p, ws, access.RoleAdmin, access.RolePrivacyOfficer); err != nil {
		return nil, err
	}
	rows, err := s.db.Read.QueryContext(ctx, `SELECT u.id, u.name_enc, u.email_enc, m.role, u.mfa_enabled_at, m.created_at FROM memberships m
		JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1`, ws)
	if err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	defer rows.Close()
	var out []Member
	for rows.Next() {
		var mb Member
		var role string
		var mfa sql.NullInt64
		var since int64
		var name, email []byte
		if err := rows.Scan(&mb.UserID, &name, &email, &role, &mfa, &since); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		var err error
		if mb.Name, err = s.openText("users", mb.UserID, "name_enc", name); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		if mb.Email, err = s.openText("users", mb.UserID, "email_enc", email); err != nil {
			return nil, fmt.Errorf("list members: %w", err)
		}
		mb.Role, mb.MFAEnabled, mb.Since = access.Role(role), mfa.Valid, time.UnixMicro(since)
		out = append(out, mb)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list members: %w", err)
	}
	held, err := s.workspaceRoles(ctx, ws)
	if err != nil {
		return nil, err
	}
	for i := range out {
		if rs := held[out[i].UserID]; len(rs) > 0 {
			out[i].Roles, out[i].Role = rs, rs[0]
		}
	}
	// Sorted here: the database holds the names sealed.
	slices.SortFunc(out, func(a, b Member) int {
		return cmp.Or(strings.Compare(a.Name, b.Name), strings.Compare(a.UserID, b.UserID))
	})
	return out, nil
}

var errLastAdmin = &Error{Kind: KindConflict, Code: "last_admin", Message: "A workspace needs at least one admin. Make someone else admin first."}

// workspaceRoles returns every member's roles in ws, in precedence order.
func (s *Service) workspaceRoles(ctx context.Context, ws string) (map[string][]access.Role, error) {
	rows, err := s.db.Read.QueryContext(ctx, `SELECT user_id, role FROM member_roles WHERE workspace_id = $1`, ws)
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", err)
	}
	defer rows.Close()
	out := map[string][]access.Role{}
	for rows.Next() {
		var uid, r string
		if err := rows.Scan(&uid, &r); err != nil {
			return nil, fmt.Errorf("list roles: %w", err)
		}
		out[uid] = append(out[uid], access.Role(r))
	}
	for uid, rs := range out {
		out[uid] = access.NormaliseRoles(rs)
	}
	return out, rows.Err()
}

// ChangeRole makes role the member's only role. See SetRoles.
func (s *Service) ChangeRole(ctx context.Context, p *access.Principal, ws, uid string, role access.Role, m Meta) error {
	return s.SetRoles(ctx, p, ws, uid, []access.Role{role}, m)
}

// SetRoles sets the roles a member holds (at least one). Admins only; the
// last admin keeps the admin role.
func (s *Service) SetRoles(ctx context.Context, p *access.Principal, ws, uid string, roles []access.Role, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	for _, r := range roles {
		if !slices.Contains(access.MemberRoles, r) {
			return invalid("role", "role_invalid", "Choose among the roles: admin, clinician, staff (front desk) and privacy officer.")
		}
	}
	roles = access.NormaliseRoles(roles)
	if len(roles) == 0 {
		return invalid("role", "role_required", "Choose at least one role. To take away every role, remove the member instead.")
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM memberships WHERE workspace_id = $1 AND user_id = $2`, ws, uid).Scan(&n); err != nil {
			return fmt.Errorf("change roles: %w", err)
		}
		if n != 1 {
			return &Error{Kind: KindNotFound, Code: "member_not_found", Message: "That person is not a member of this workspace."}
		}
		if !slices.Contains(roles, access.RoleAdmin) {
			if err := s.keepAnAdmin(ctx, tx, ws, uid); err != nil {
				return err
			}
		}
		return s.putMember(ctx, tx, ws, uid, roles, false, micros(s.now()))
	})
	if err != nil {
		return err
	}
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.member.role", ResourceID: uid, Reason: strings.Join(names, " ")})
}

// RemoveMember takes a member out of the workspace. Admins only.
func (s *Service) RemoveMember(ctx context.Context, p *access.Principal, ws, uid string, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	err := s.db.Tx(ctx, func(tx *sql.Tx) error {
		if err := s.keepAnAdmin(ctx, tx, ws, uid); err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM memberships WHERE workspace_id = $1 AND user_id = $2`, ws, uid)
		if err != nil {
			return fmt.Errorf("remove member: %w", err)
		}
		if n, _ := res.RowsAffected(); n != 1 {
			return &Error{Kind: KindNotFound, Code: "member_not_found", Message: "That person is not a member of this workspace."}
		}
		return nil
	})
	if err != nil {
		return err
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.member.remove", ResourceID: uid})
}

// keepAnAdmin fails if uid is the workspace's only admin. Callers run it in
// the transaction that takes the role away; on SQLite the one writer
// serialises two admins demoting each other, on PostgreSQL the count may
// race, as it did with one role per member.
func (s *Service) keepAnAdmin(ctx context.Context, tx *sql.Tx, ws, uid string) error {
	var others int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM member_roles WHERE workspace_id = $1 AND role = 'admin' AND user_id <> $2`, ws, uid).Scan(&others); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	var self int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM member_roles WHERE workspace_id = $1 AND role = 'admin' AND user_id = $2`, ws, uid).Scan(&self); err != nil {
		return fmt.Errorf("count admins: %w", err)
	}
	if self > 0 && others == 0 {
		return errLastAdmin
	}
	return nil
}

// UnlockMember lifts a member's sign-in lockout. Admins only.
func (s *Service) UnlockMember(ctx context.Context, p *access.Principal, ws, uid string, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	var sealed []byte
	err := s.db.Read.QueryRowContext(ctx, `SELECT u.email_enc FROM memberships m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 AND m.user_id = $2`, ws, uid).Scan(&sealed)
	if errors.Is(err, sql.ErrNoRows) {
		return &Error{Kind: KindNotFound, Code: "member_not_found", Message: "That person is not a member of this workspace."}
	}
	if err != nil {
		return fmt.Errorf("unlock member: %w", err)
	}
	email, err := s.openText("users", uid, "email_enc", sealed)
	if err != nil {
		return fmt.Errorf("unlock member: %w", err)
	}
	if err := s.clearFailures(ctx, email); err != nil {
		return err
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.unlock", ResourceID: uid})
}

// SetMFARequired sets whether the workspace's admins, clinicians and
// privacy officers must use a second factor. Admins only.
func (s *Service) SetMFARequired(ctx context.Context, p *access.Principal, ws string, required bool, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	v := 0
	if required {
		v = 1
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE workspaces SET mfa_required = $1 WHERE id = $2`, v, ws); err != nil {
		return fmt.Errorf("set MFA requirement: %w", err)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.workspace.mfa_required",
		ResourceType: "workspace", ResourceID: ws, Reason: strings.ToLower(fmt.Sprint(required))})
}

// RenameWorkspace changes the practice's name, which members see in the
// page header and invitations name. Admins only.
func (s *Service) RenameWorkspace(ctx context.Context, p *access.Principal, ws, name string, m Meta) error {
	if err := requireRole(p, ws, access.RoleAdmin); err != nil {
		return err
	}
	name = strings.TrimSpace(name)
	if name == "" {
		return invalid("name", "workspace_name_required", "Enter the practice's name.")
	}
	if utf8.RuneCountInString(name) > 200 {
		return invalid("name", "workspace_name_too_long", "The practice name must be at most 200 characters long.")
	}
	if _, err := s.db.Write.ExecContext(ctx, `UPDATE workspaces SET name = $1 WHERE id = $2`, name, ws); err != nil {
		return fmt.Errorf("rename workspace: %w", err)
	}
	return s.record(ctx, m, audit.Event{ActorUserID: p.UserID, ActorRole: string(p.Role), WorkspaceID: ws, Action: "auth.workspace.rename",
		ResourceType: "workspace", ResourceID: ws})
}

// WorkspaceName returns the name of workspace ws.
func (s *Service) WorkspaceName(ctx context.Context, ws string) (string, error) {
	var name string
	err := s.db.Read.QueryRowContext(ctx, `SELECT name FROM workspaces WHERE id = $1`, ws).Scan(&name)
	if errors.Is(err, sql.ErrNoRows) {
		return "", &Error{Kind: KindNotFound, Code: "workspace_not_found", Message: "There is no such workspace."}
	}
	if err != nil {
		return "", fmt.Errorf("read workspace: %w", err)
	}
	return name, nil
}
