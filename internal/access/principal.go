// Package access decides who may do what to which PHI. Every decision comes
// with a reason code, and the reason goes into the audit entry.
package access

import "context"

// Role is what a principal is in the active workspace, or towards a patient.
type Role string

// The roles. Workspace members hold one of the first four; patients and
// their personal representatives are users linked to a patient record; an
// operator runs the platform and sees no PHI without a scoped, timed grant.
const (
	RoleAdmin          Role = "admin"
	RoleClinician      Role = "clinician"
	RoleStaff          Role = "staff"
	RolePrivacyOfficer Role = "privacy_officer"
	RolePatient        Role = "patient"
	RoleRepresentative Role = "representative"
	RoleOperator       Role = "operator"
)

// MemberRoles are the roles a workspace member may hold, in precedence
// order: a member holding several has the first of them as the primary role
// (Principal.Role), the one audit entries name.
var MemberRoles = []Role{RoleClinician, RoleAdmin, RolePrivacyOfficer, RoleStaff}

// NormaliseRoles returns the member roles in rs once each, in MemberRoles
// (precedence) order, dropping anything that is not a member role.
func NormaliseRoles(rs []Role) []Role {
	var out []Role
	for _, m := range MemberRoles {
		for _, r := range rs {
			if r == m {
				out = append(out, m)
				break
			}
		}
	}
	return out
}

// PrimaryRole is the first of rs by precedence, "" when rs holds no member role.
func PrimaryRole(rs []Role) Role {
	if n := NormaliseRoles(rs); len(n) > 0 {
		return n[0]
	}
	return ""
}

// Valid reports whether r is a known role.
func (r Role) Valid() bool {
	switch r {
	case RoleAdmin, RoleClinician, RoleStaff, RolePrivacyOfficer, RolePatient, RoleRepresentative, RoleOperator:
		return true
	}
	return false
}

// Principal is who is making a request, as authentication established it.
// It holds ids only, never names, so it can go into logs and audit entries.
type Principal struct {
	UserID      string   // the human (or service account) behind the request
	SessionID   string   // set for browser sessions
	TokenID     string   // set when an API token authenticated the request
	Scopes      []string // the token's scopes; empty for sessions
	WorkspaceID string   // the active workspace, empty for patients outside one
	Role        Role     // the primary role in WorkspaceID (Roles[0]), or patient/representative/operator
	Roles       []Role   // members: every role held in WorkspaceID, in MemberRoles order; nil otherwise
	PatientID   string   // patients: their own record; representatives: the patient they act for
	OnBehalfOf  string   // the user a representative or delegate acts for
	ClientAddr  string   // the client's address, for the audit entry
	RequestID   string   // the request id, for the audit entry
}

// Has reports whether p holds role r: one of a member's Roles, or the
// principal's only role when Roles is empty.
func (p *Principal) Has(r Role) bool {
	if p == nil {
		return false
	}
	if len(p.Roles) == 0 {
		return p.Role == r
	}
	for _, x := range p.Roles {
		if x == r {
			return true
		}
	}
	return false
}

// HasAny reports whether p holds at least one of rs.
func (p *Principal) HasAny(rs ...Role) bool {
	for _, r := range rs {
		if p.Has(r) {
			return true
		}
	}
	return false
}

// memberRoles are the member roles the policy weighs for p.
func (p *Principal) memberRoles() []Role {
	if len(p.Roles) == 0 {
		return NormaliseRoles([]Role{p.Role})
	}
	return NormaliseRoles(p.Roles)
}

// HasScope reports whether a token-authenticated principal holds scope. A
// session (no token) is not limited by scopes.
func (p *Principal) HasScope(scope string) bool {
	if p.TokenID == "" {
		return true
	}
	for _, s := range p.Scopes {
		if s == scope {
			return true
		}
	}
	return false
}

type principalKey struct{}

// WithPrincipal returns ctx carrying p.
func WithPrincipal(ctx context.Context, p *Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// PrincipalFrom returns the principal in ctx, if authentication put one there.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok && p != nil
}
