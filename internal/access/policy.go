package access

// Action is something a principal wants to do to a resource.
type Action string

// The actions the policy knows. An action it does not know is denied.
const (
	PatientList        Action = "patient.list"         // list and search patients of a workspace
	PatientCreate      Action = "patient.create"       // create a patient profile
	PatientRead        Action = "patient.read"         // the full profile
	PatientReadSummary Action = "patient.read_summary" // the minimum a collaborator needs: name, age, sex, laterality
	PatientUpdate      Action = "patient.update"       // change the profile
	CareTeamManage     Action = "careteam.manage"      // add or remove clinicians on a patient's care team
	CareTeamApprove    Action = "careteam.approve"     // approve or reject a care-team change requested under break-glass
	CaseList           Action = "case.list"            // the cases of a patient
	CaseCreate         Action = "case.create"          // open a case
	CaseRead           Action = "case.read"            // a case with notes, comments and annotations
	CaseUpdate         Action = "case.update"          // edit title, date, status, notes
	CaseComment        Action = "case.comment"         // comment and annotate
	CaseShare          Action = "case.share"           // share with the patient, invite collaborators
	FileUpload         Action = "file.upload"          // add imaging or a model to a case
	FileView           Action = "file.view"            // view in the browser
	FileDownload       Action = "file.download"        // download the original: its uploader only
	CaptureUpload      Action = "capture.upload"       // a patient's own 3D capture
	CaptureView        Action = "capture.view"         // a doctor viewing a patient's capture
	RehabIngest        Action = "rehab.ingest"         // a device uploads sessions and measurements
	RehabRead          Action = "rehab.read"           // progress and charts
	RehabPlan          Action = "rehab.plan"           // a therapist sets a patient's programme and portal access
	ConsentRead        Action = "consent.read"         // a patient's consents
	ConsentRecord      Action = "consent.record"       // grant or withdraw consent
	AuditReadOwn       Action = "audit.read_own"       // who accessed my record
	AuditRead          Action = "audit.read"           // the workspace's audit log
	MembersManage      Action = "members.manage"       // invite members, change roles
	BreakGlass         Action = "breakglass.open"      // emergency access outside normal rights
)

// Kind is the kind of resource an action touches.
type Kind string

// The resource kinds.
const (
	KindWorkspace Kind = "workspace"
	KindPatient   Kind = "patient"
	KindCase      Kind = "case"
	KindFile      Kind = "file"
	KindCapture   Kind = "capture"
	KindRehab     Kind = "rehab"
	KindConsent   Kind = "consent"
	KindAudit     Kind = "audit"
)

// Resource is what the policy needs to know about the thing acted on and the
// principal's relationship to it. The caller loads these facts from the store;
// the policy itself reads nothing, so a decision costs nanoseconds and can be
// tested exhaustively.
type Resource struct {
	Kind        Kind
	WorkspaceID string // the workspace that holds the resource
	PatientID   string // whose PHI it is, if anyone's

	CareTeam      bool // the principal is on the patient's care team (a patient's creator always is)
	Collaborator  bool // the principal was added as a collaborator to this case
	Shared        bool // the case or file was shared with the patient
	Uploader      bool // the principal uploaded this file
	Connected     bool // the patient connected to this clinician (captures reach a doctor only then)
	BreakGlassOn  bool // the principal holds an active break-glass grant for this patient
	OperatorGrant bool // an active, scoped, time-limited operator grant covers this resource
}

// Reason explains a decision. It goes into the audit entry.
type Reason string

// Reasons for allowing.
const (
	AllowCareTeam          Reason = "care_team"
	AllowWorkspaceRole     Reason = "workspace_role"
	AllowCollaborator      Reason = "case_collaborator"
	AllowSelf              Reason = "self"
	AllowRepresentative    Reason = "personal_representative"
	AllowSharedWithPatient Reason = "shared_with_patient"
	AllowUploader          Reason = "uploader"
	AllowConnected         Reason = "patient_connected"
	AllowBreakGlass        Reason = "break_glass"
	AllowOperatorGrant     Reason = "operator_grant"
	// AllowSystemConsentRules: the system itself reads the minimum it needs
	// to apply the consent rules (is the patient a minor?). No person is
	// granted anything by it, so Decide never returns it.
	AllowSystemConsentRules Reason = "system_consent_rules"
)

// Reasons for denying.
const (
	DenyNoPrincipal     Reason = "no_principal"
	DenyUnknownAction   Reason = "unknown_action"
	DenyScope           Reason = "token_scope_missing"
	DenyOtherWorkspace  Reason = "other_workspace"
	DenyRole            Reason = "role_not_permitted"
	DenyNotCareTeam     Reason = "not_on_care_team"
	DenyNotCollaborator Reason = "not_a_collaborator"
	DenyNotSelf         Reason = "not_own_record"
	DenyNotShared       Reason = "not_shared_with_patient"
	DenyNotUploader     Reason = "only_uploader_may_download"
	DenyNotConnected    Reason = "patient_not_connected"
	DenyOperator        Reason = "operator_without_grant"
	// DenyGlassNeedsApproval: under break-glass a care-team change is only
	// a request (Decision.Pending) until a privacy officer approves it.
	DenyGlassNeedsApproval Reason = "break_glass_needs_approval"
	// DenyGlassNoLasting: an emergency grant cannot give anyone lasting
	// access (collaborators, sharing).
	DenyGlassNoLasting Reason = "break_glass_grants_no_lasting_access"
)

// Decision is the policy's answer. Visible says whether the principal may
// know the resource exists: a denied read of something invisible must look
// like "not found" (404), a denied action on something visible is 403.
//
// Pending (never with Allow) says the action may be recorded as a request
// that takes effect only when someone else approves it: a care-team change
// asked for under break-glass, which must not turn four hours of emergency
// access into lasting access.
//
// Role, for a workspace member, is the held role whose rules gave the
// answer (for a refusal, the role whose reason was kept).
type Decision struct {
	Allow      bool
	Reason     Reason
	BreakGlass bool
	Visible    bool
	Pending    bool
	Role       Role
}

// TokenScope is a permission an API token may carry: exactly the actions
// it names. A token may do nothing outside its scopes' actions, and the
// policy still decides each of those for the token's user.
type TokenScope struct {
	Name        string
	Description string // what a person choosing the scope reads
	Actions     []Action
}

// TokenScopes is the closed list of scopes. Care-team changes, sharing,
// consent, planning, audit and break-glass are in none of them: they change
// who may see a record, or need a person at the keyboard.
var TokenScopes = []TokenScope{
	{Name: "records:read", Description: "read patient profiles, cases and rehabilitation progress",
		Actions: []Action{PatientList, PatientRead, PatientReadSummary, CaseList, CaseRead, RehabRead}},
	{Name: "records:write", Description: "create and change patient profiles and cases, and comment on cases",
		Actions: []Action{PatientCreate, PatientUpdate, CaseCreate, CaseUpdate, CaseComment}},
	{Name: "media:read", Description: "view imaging, 3D models and patients' captures (download only what the token's user uploaded)",
		Actions: []Action{FileView, FileDownload, CaptureView}},
	{Name: "media:upload", Description: "upload imaging, 3D models and patients' own captures",
		Actions: []Action{FileUpload, CaptureUpload}},
	{Name: "rehab:ingest", Description: "send rehabilitation sessions, exercises and calibrations from a device",
		Actions: []Action{RehabIngest}},
}

// scopeOf is the one scope each action belongs to, built from TokenScopes.
var scopeOf = func() map[Action]string {
	m := map[Action]string{}
	for _, sc := range TokenScopes {
		for _, a := range sc.Actions {
			if prev, dup := m[a]; dup {
				panic("access: action " + string(a) + " is in scopes " + prev + " and " + sc.Name)
			}
			m[a] = sc.Name
		}
	}
	return m
}()

// ScopeDescription is what a scope lets a token do, in words; "" for a
// name that is not a scope.
func ScopeDescription(name string) string {
	for _, sc := range TokenScopes {
		if sc.Name == name {
			return sc.Description
		}
	}
	return ""
}

// Scope returns the API token scope an action needs, or "" if tokens may
// not perform it at all.
func Scope(a Action) string { return scopeOf[a] }

// ScopeActions returns the actions scope grants, nil for a scope the policy
// does not know (which therefore means nothing).
func ScopeActions(scope string) []Action {
	for _, sc := range TokenScopes {
		if sc.Name == scope {
			return sc.Actions
		}
	}
	return nil
}

// ScopeNames lists the scopes' names in TokenScopes order.
func ScopeNames() []string {
	out := make([]string, len(TokenScopes))
	for i, sc := range TokenScopes {
		out[i] = sc.Name
	}
	return out
}

// Decide is the one function that says whether p may do a to r, and why.
// Everything not explicitly allowed is denied.
func Decide(p *Principal, a Action, r Resource) Decision {
	d := decide(p, a, r)
	if d.Allow {
		d.Visible = true
		return d
	}
	if v := visibleAction(r.Kind); v != "" && v != a {
		d.Visible = decide(p, v, r).Allow
	}
	return d
}

// visibleAction is the read that, if allowed, reveals a resource exists.
func visibleAction(k Kind) Action {
	switch k {
	case KindPatient:
		return PatientReadSummary
	case KindCase:
		return CaseRead
	case KindFile:
		return FileView
	case KindCapture:
		return CaptureView
	case KindRehab:
		return RehabRead
	case KindConsent:
		return ConsentRead
	}
	return ""
}

func allow(r Reason) Decision { return Decision{Allow: true, Reason: r} }
func deny(r Reason) Decision  { return Decision{Reason: r} }

func decide(p *Principal, a Action, r Resource) Decision {
	if p == nil || p.UserID == "" {
		return deny(DenyNoPrincipal)
	}
	if !known(a) {
		return deny(DenyUnknownAction)
	}
	if p.TokenID != "" {
		s := Scope(a)
		if s == "" || !p.HasScope(s) {
			return deny(DenyScope)
		}
	}
	switch p.Role {
	case RolePatient, RoleRepresentative:
		return decideForPatient(p, a, r)
	case RoleOperator:
		if r.OperatorGrant && isRead(a) {
			return allow(AllowOperatorGrant)
		}
		return deny(DenyOperator)
	}
	roles := p.memberRoles()
	if len(roles) == 0 {
		return deny(DenyRole)
	}
	// A member holding several roles may do what any one of them may, so
	// adding a role can only add rights. A refusal carries the most telling
	// of the roles' reasons.
	if r.BreakGlassOn && !r.CareTeam && (a == CareTeamManage || a == CaseShare) && hasRole(roles, RoleClinician) {
		// Someone reaching this record by break-glass cannot change who may
		// reach it, whatever else they hold: an admin's right to manage care
		// teams must not turn four hours of emergency access into lasting
		// access.
		d := decideForClinician(p, a, r)
		d.Role = RoleClinician
		return d
	}
	var best Decision
	for i, role := range roles {
		d := decideForMember(p, role, a, r)
		d.Role = role
		if d.Allow {
			return d
		}
		if i == 0 || denyWeight(d) > denyWeight(best) {
			best = d
		}
	}
	return best
}

// denyWeight ranks refusals: a request that may wait for approval beats a
// refusal tied to a relationship (not on the care team, not connected),
// which beats the bare "your role may not".
func denyWeight(d Decision) int {
	switch {
	case d.Pending:
		return 3
	case d.BreakGlass:
		return 2
	case d.Reason != DenyRole:
		return 1
	}
	return 0
}

// decideForMember covers a workspace member holding role, and clinicians of
// other workspaces who collaborate on a case.
func decideForMember(p *Principal, role Role, a Action, r Resource) Decision {
	if r.WorkspaceID != p.WorkspaceID {
		// The only way into another workspace's PHI is as a case collaborator,
		// and then only to the case and the minimum patient details it needs.
		if role == RoleClinician && r.Collaborator {
			switch a {
			case CaseRead, CaseComment, FileView, FileUpload, PatientReadSummary:
				return allow(AllowCollaborator)
			case FileDownload:
				if r.Uploader {
					return allow(AllowUploader)
				}
				return deny(DenyNotUploader)
			}
			return deny(DenyRole)
		}
		return deny(DenyOtherWorkspace)
	}
	switch role {
	case RoleStaff:
		// The front desk registers patients and keeps their contact details
		// right (which includes inviting them to the portal), and reads
		// nothing clinical: no cases, files, captures, rehab or consents.
		switch a {
		case PatientList, PatientCreate, PatientReadSummary, PatientRead, PatientUpdate:
			return allow(AllowWorkspaceRole)
		}
		return deny(DenyRole)
	case RoleAdmin:
		switch a {
		case MembersManage, CareTeamManage:
			return allow(AllowWorkspaceRole)
		case PatientList, PatientCreate, PatientReadSummary:
			return allow(AllowWorkspaceRole)
		}
		return deny(DenyRole)
	case RolePrivacyOfficer:
		switch a {
		case AuditRead, PatientList, PatientReadSummary, PatientRead, ConsentRead, ConsentRecord, CareTeamApprove:
			return allow(AllowWorkspaceRole)
		}
		return deny(DenyRole)
	case RoleClinician:
		return decideForClinician(p, a, r)
	}
	return deny(DenyRole)
}

func decideForClinician(_ *Principal, a Action, r Resource) Decision {
	switch a {
	case PatientList, PatientCreate, PatientReadSummary:
		// Enough to find a patient; the full record needs the care team.
		return allow(AllowWorkspaceRole)
	case BreakGlass:
		if r.CareTeam {
			return deny(DenyRole) // nothing to break: normal rights apply
		}
		return allow(AllowWorkspaceRole)
	case MembersManage, AuditRead, AuditReadOwn, CaptureUpload:
		return deny(DenyRole)
	case CaptureView:
		if !r.Connected {
			return deny(DenyNotConnected)
		}
		return allow(AllowConnected)
	case FileDownload:
		if r.Uploader {
			return allow(AllowUploader)
		}
		if r.CareTeam || r.Collaborator || r.BreakGlassOn {
			return deny(DenyNotUploader)
		}
		return deny(DenyNotCareTeam)
	}
	if r.Collaborator {
		switch a {
		case CaseRead, CaseComment, FileView, FileUpload, PatientReadSummary:
			return allow(AllowCollaborator)
		}
	}
	if r.BreakGlassOn && !r.CareTeam {
		// An emergency grant reaches the record, never who may reach it.
		switch a {
		case CareTeamManage:
			return Decision{Reason: DenyGlassNeedsApproval, BreakGlass: true, Pending: true}
		case CaseShare:
			return Decision{Reason: DenyGlassNoLasting, BreakGlass: true}
		case CareTeamApprove:
			return deny(DenyRole)
		}
	}
	if a == CareTeamApprove {
		return deny(DenyRole)
	}
	return careTeamOrGlass(r)
}

func careTeamOrGlass(r Resource) Decision {
	if r.CareTeam {
		return allow(AllowCareTeam)
	}
	if r.BreakGlassOn {
		d := allow(AllowBreakGlass)
		d.BreakGlass = true
		return d
	}
	return deny(DenyNotCareTeam)
}

// decideForPatient covers patients and their personal representatives: their
// own profile, what was shared with them, their consents, captures and history.
func decideForPatient(p *Principal, a Action, r Resource) Decision {
	if p.PatientID == "" || r.PatientID != p.PatientID {
		return deny(DenyNotSelf)
	}
	ok := AllowSelf
	if p.Role == RoleRepresentative {
		ok = AllowRepresentative
	}
	switch a {
	case PatientRead, PatientReadSummary, CaseList, RehabRead, RehabIngest, ConsentRead, ConsentRecord, AuditReadOwn, CaptureUpload, CaptureView:
		return allow(ok)
	case CaseRead, FileView:
		if r.Shared {
			return allow(AllowSharedWithPatient)
		}
		return deny(DenyNotShared)
	case FileDownload:
		if r.Uploader {
			return allow(AllowUploader)
		}
		return deny(DenyNotUploader)
	}
	return deny(DenyRole)
}

func isRead(a Action) bool {
	switch a {
	case PatientList, PatientRead, PatientReadSummary, CaseList, CaseRead, FileView, CaptureView, RehabRead, ConsentRead, AuditRead:
		return true
	}
	return false
}

// Actions lists every action the policy knows, in a stable order.
var Actions = []Action{
	PatientList, PatientCreate, PatientRead, PatientReadSummary, PatientUpdate, CareTeamManage, CareTeamApprove,
	CaseList, CaseCreate, CaseRead, CaseUpdate, CaseComment, CaseShare,
	FileUpload, FileView, FileDownload, CaptureUpload, CaptureView,
	RehabIngest, RehabRead, RehabPlan, ConsentRead, ConsentRecord, AuditReadOwn, AuditRead, MembersManage, BreakGlass,
}

func known(a Action) bool {
	for _, k := range Actions {
		if k == a {
			return true
		}
	}
	return false
}
