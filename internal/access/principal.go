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

// MemberRoles are the roles a workspace member may hold.
var MemberRoles = []Role{RoleAdmin, RoleClinician, RoleStaff, RolePrivacyOfficer}

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
	Role        Role     // the role in WorkspaceID, or patient/representative/operator
	PatientID   string   // patients: their own record; representatives: the patient they act for
	OnBehalfOf  string   // the user a representative or delegate acts for
	ClientAddr  string   // the client's address, for the audit entry
	RequestID   string   // the request id, for the audit entry
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
