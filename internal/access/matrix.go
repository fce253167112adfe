package access

import (
	"fmt"
	"io"
	"strings"
)

// Relationship is a named set of facts about a principal and a resource, used
// to print the policy as a table a privacy officer can keep on record.
type Relationship struct {
	Name     string
	Roles    []Role // the roles for which this relationship makes sense
	Resource Resource
	Patient  bool // the principal is the patient (or acts for them)
}

const (
	matrixWorkspace = "w1"
	matrixPatient   = "p1"
)

// Relationships are the rows of the matrix for each role.
var Relationships = []Relationship{
	{Name: "own workspace, on the patient's care team", Roles: MemberRoles,
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, CareTeam: true}},
	{Name: "own workspace, not on the care team", Roles: MemberRoles,
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient}},
	{Name: "own workspace, break-glass grant", Roles: []Role{RoleClinician},
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, BreakGlassOn: true}},
	{Name: "own workspace, care team, own upload", Roles: []Role{RoleClinician},
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, CareTeam: true, Uploader: true}},
	{Name: "own workspace, care team, patient connected", Roles: []Role{RoleClinician},
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, CareTeam: true, Connected: true}},
	{Name: "other workspace, case collaborator", Roles: []Role{RoleClinician},
		Resource: Resource{WorkspaceID: "w2", PatientID: matrixPatient, Collaborator: true}},
	{Name: "other workspace", Roles: MemberRoles,
		Resource: Resource{WorkspaceID: "w2", PatientID: matrixPatient}},
	{Name: "own record", Roles: []Role{RolePatient, RoleRepresentative}, Patient: true,
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient}},
	{Name: "own record, shared with the patient", Roles: []Role{RolePatient, RoleRepresentative}, Patient: true,
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, Shared: true}},
	{Name: "another patient's record", Roles: []Role{RolePatient, RoleRepresentative}, Patient: true,
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: "p2", Shared: true}},
	{Name: "no grant", Roles: []Role{RoleOperator},
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient}},
	{Name: "scoped, time-limited grant", Roles: []Role{RoleOperator},
		Resource: Resource{WorkspaceID: matrixWorkspace, PatientID: matrixPatient, OperatorGrant: true}},
}

// MatrixRow is one role (or set of roles a member holds together) in one
// relationship, with the decision for each action in Actions order.
type MatrixRow struct {
	Role         Role   // the primary role
	Roles        []Role // every role held; one for all but combined rows
	Relationship string
	Decisions    []Decision
}

// Label names the row's roles, "admin + clinician" for a combination.
func (m MatrixRow) Label() string {
	if len(m.Roles) < 2 {
		return string(m.Role)
	}
	// Named in the order people say them (admin first), not by precedence.
	var parts []string
	for _, r := range matrixOrder {
		if hasRole(m.Roles, r) {
			parts = append(parts, string(r))
		}
	}
	return strings.Join(parts, " + ")
}

var matrixOrder = []Role{RoleAdmin, RoleClinician, RoleStaff, RolePrivacyOfficer, RolePatient, RoleRepresentative, RoleOperator}

// matrixPrincipals are the rows' holders: each role alone, and the
// combination a founding doctor holds (the policy grants a set the union
// of its roles, which the tests check for every combination).
var matrixPrincipals = [][]Role{
	{RoleAdmin}, {RoleAdmin, RoleClinician}, {RoleClinician}, {RoleStaff}, {RolePrivacyOfficer},
	{RolePatient}, {RoleRepresentative}, {RoleOperator},
}

func matrixPrincipal(roles []Role) *Principal {
	p := &Principal{UserID: "u1", WorkspaceID: matrixWorkspace, Role: roles[0]}
	if len(roles) > 1 {
		p.Roles = NormaliseRoles(roles)
		p.Role = p.Roles[0]
	}
	return p
}

func relationFits(rel Relationship, roles []Role) bool {
	for _, r := range roles {
		if hasRole(rel.Roles, r) {
			return true
		}
	}
	return false
}

// Matrix evaluates the policy for every role and relationship.
func Matrix() []MatrixRow {
	var rows []MatrixRow
	for _, roles := range matrixPrincipals {
		for _, rel := range Relationships {
			if !relationFits(rel, roles) {
				continue
			}
			p := matrixPrincipal(roles)
			if rel.Patient {
				p.WorkspaceID = ""
				p.PatientID = matrixPatient
			}
			row := MatrixRow{Role: p.Role, Roles: roles, Relationship: rel.Name}
			for _, a := range Actions {
				r := rel.Resource
				r.Kind = kindOf(a)
				row.Decisions = append(row.Decisions, Decide(p, a, r))
			}
			rows = append(rows, row)
		}
	}
	return rows
}

// Mark is the one-character summary of a decision in the printed matrix:
// Y allowed, B allowed as break-glass, P only as a request awaiting someone
// else's approval, - denied.
func (d Decision) Mark() string {
	switch {
	case d.Pending:
		return "P"
	case d.Allow && d.BreakGlass:
		return "B"
	case d.Allow:
		return "Y"
	}
	return "-"
}

// WriteMatrix prints the matrix as a Markdown table: one row per role and
// relationship, one column per action.
func WriteMatrix(w io.Writer) error {
	var b strings.Builder
	b.WriteString("| role | relationship |")
	for _, a := range Actions {
		b.WriteString(" " + string(a) + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(Actions)) + "\n")
	for _, row := range Matrix() {
		fmt.Fprintf(&b, "| %s | %s |", row.Label(), row.Relationship)
		for _, d := range row.Decisions {
			b.WriteString(" " + d.Mark() + " |")
		}
		b.WriteString("\n")
	}
	b.WriteString("\nY allowed · B allowed only as break-glass (reason required, privacy officer alerted, shown to the patient) · P only as a request that takes effect when a privacy officer approves it · - denied\n")
	b.WriteString("\n## API token scopes\n\nA token acts as its user, limited to the actions of its scopes; the table above still decides each one.\n\n| scope | grants |")
	for _, a := range Actions {
		b.WriteString(" " + string(a) + " |")
	}
	b.WriteString("\n|---|---|" + strings.Repeat("---|", len(Actions)) + "\n")
	for _, row := range ScopeMatrix() {
		fmt.Fprintf(&b, "| %s | %s |", row.Scope.Name, row.Scope.Description)
		for _, g := range row.Grants {
			if g {
				b.WriteString(" Y |")
			} else {
				b.WriteString(" - |")
			}
		}
		b.WriteString("\n")
	}
	b.WriteString("\nY the scope lets a token attempt the action · - no token may, with this scope\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// ScopeRow is one token scope, with whether a token holding only that scope
// may do each action in Actions order for some role and relationship.
type ScopeRow struct {
	Scope  TokenScope
	Grants []bool
}

// ScopeMatrix evaluates the policy for a token holding each scope alone,
// over every role and relationship of the matrix: what a scope grants is
// read from Decide, not from the TokenScopes list, so the two can be
// checked against each other.
func ScopeMatrix() []ScopeRow {
	var rows []ScopeRow
	for _, sc := range TokenScopes {
		row := ScopeRow{Scope: sc, Grants: make([]bool, len(Actions))}
		for i, a := range Actions {
			row.Grants[i] = scopeGrants(sc.Name, a)
		}
		rows = append(rows, row)
	}
	return rows
}

func scopeGrants(scope string, a Action) bool {
	for _, roles := range matrixPrincipals {
		for _, rel := range Relationships {
			if !relationFits(rel, roles) {
				continue
			}
			p := matrixPrincipal(roles)
			p.TokenID, p.Scopes = "t1", []string{scope}
			if rel.Patient {
				p.WorkspaceID, p.PatientID = "", matrixPatient
			}
			r := rel.Resource
			r.Kind = kindOf(a)
			if Decide(p, a, r).Allow {
				return true
			}
		}
	}
	return false
}

func hasRole(rs []Role, r Role) bool {
	for _, x := range rs {
		if x == r {
			return true
		}
	}
	return false
}

// kindOf is the resource kind an action is about.
func kindOf(a Action) Kind {
	switch a {
	case PatientList, PatientCreate, PatientRead, PatientReadSummary, PatientUpdate, CareTeamManage, CareTeamApprove, BreakGlass:
		return KindPatient
	case CaseList, CaseCreate, CaseRead, CaseUpdate, CaseComment, CaseShare:
		return KindCase
	case FileUpload, FileView, FileDownload:
		return KindFile
	case CaptureUpload, CaptureView:
		return KindCapture
	case RehabIngest, RehabRead, RehabPlan:
		return KindRehab
	case ConsentRead, ConsentRecord:
		return KindConsent
	case AuditRead, AuditReadOwn:
		return KindAudit
	}
	return KindWorkspace
}

// RolesThatMay lists the member roles that, alone, may do a in their own
// workspace given the most favourable relationship (on the care team, the
// uploader, connected): what a refusal tells someone to ask for. It is read
// from Decide, so it cannot drift from the policy.
func RolesThatMay(a Action) []Role {
	var out []Role
	for _, role := range MemberRoles {
		p := &Principal{UserID: "u1", WorkspaceID: matrixWorkspace, Role: role}
		r := Resource{Kind: kindOf(a), WorkspaceID: matrixWorkspace, PatientID: matrixPatient, CareTeam: true, Uploader: true, Connected: true}
		if Decide(p, a, r).Allow {
			out = append(out, role)
			continue
		}
		r.CareTeam = false // break-glass is offered only off the care team
		if Decide(p, a, r).Allow {
			out = append(out, role)
		}
	}
	return out
}
