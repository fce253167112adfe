package access

import (
	"bytes"
	"flag"
	"os"
	"slices"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/matrix.golden")

// TestMatrixMatchesReviewedGolden pins the whole role × relationship × action
// table. A change to the policy shows up as a diff of this file in review.
func TestMatrixMatchesReviewedGolden(t *testing.T) {
	var b bytes.Buffer
	if err := WriteMatrix(&b); err != nil {
		t.Fatal(err)
	}
	if *update {
		if err := os.WriteFile("testdata/matrix.golden", b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile("testdata/matrix.golden")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(b.Bytes(), want) {
		t.Fatalf("the access matrix changed; review it and run go test ./internal/access -update\n%s", b.String())
	}
}

// principalsUnderTest are every non-empty set of member roles, each other
// role alone, and a role the policy does not know.
func principalsUnderTest() [][]Role {
	var out [][]Role
	for set := 1; set < 1<<len(MemberRoles); set++ {
		var rs []Role
		for i, r := range MemberRoles {
			if set&(1<<i) != 0 {
				rs = append(rs, r)
			}
		}
		out = append(out, rs)
	}
	for _, r := range []Role{RolePatient, RoleRepresentative, RoleOperator, Role("intruder")} {
		out = append(out, []Role{r})
	}
	return out
}

func principalHolding(roles []Role) *Principal {
	p := &Principal{UserID: "u1", WorkspaceID: "w1", Role: roles[0]}
	if len(roles) > 1 {
		p.Roles = NormaliseRoles(roles)
		p.Role = p.Roles[0]
	}
	if p.Role == RolePatient || p.Role == RoleRepresentative {
		p.PatientID = "p1"
	}
	return p
}

// every enumerates every set of member roles and every other role × every
// combination of relationship facts × same/other workspace × own/other
// patient × session/token, for every action.
func every(fn func(p *Principal, a Action, r Resource, d Decision)) {
	tokens := [][]string{nil}
	for _, sc := range TokenScopes {
		tokens = append(tokens, []string{sc.Name})
	}
	for _, roles := range principalsUnderTest() {
		for facts := 0; facts < 1<<7; facts++ {
			for _, ws := range []string{"w1", "w2"} {
				for _, pid := range []string{"p1", "p2"} {
					for ti, scopes := range tokens {
						p := principalHolding(roles)
						p.Scopes = scopes
						if ti > 0 {
							p.TokenID = "t1"
						}
						for _, a := range Actions {
							r := Resource{Kind: kindOf(a), WorkspaceID: ws, PatientID: pid,
								CareTeam: facts&1 != 0, Collaborator: facts&2 != 0, Shared: facts&4 != 0, Uploader: facts&8 != 0,
								Connected: facts&16 != 0, BreakGlassOn: facts&32 != 0, OperatorGrant: facts&64 != 0}
							fn(p, a, r, Decide(p, a, r))
						}
					}
				}
			}
		}
	}
}

// clinical is what only a clinician (or, for consents, a privacy officer)
// of the patient's practice may open: the front desk and an admin never.
func clinical(a Action) bool {
	switch kindOf(a) {
	case KindCase, KindFile, KindCapture, KindRehab, KindConsent:
		return true
	}
	return false
}

// TestNoUnexpectedAllow checks the rules that must hold in every one of the
// 1,575,936 combinations, so no mix of facts or of roles opens a hole.
func TestNoUnexpectedAllow(t *testing.T) {
	n := 0
	every(func(p *Principal, a Action, r Resource, d Decision) {
		n++
		fail := func(rule string) {
			t.Helper()
			t.Errorf("%s: roles=%v action=%s token=%v scopes=%v resource=%+v → %+v", rule, p.memberRoles(), a, p.TokenID != "", p.Scopes, r, d)
		}
		if d.Pending && (d.Allow || a != CareTeamManage || !r.BreakGlassOn || r.CareTeam || !d.BreakGlass) {
			fail("a pending decision outside a care-team change under break-glass")
		}
		if !d.Allow {
			if d.Reason == "" {
				fail("a denial without a reason")
			}
			return
		}
		if d.Reason == "" {
			fail("an allow without a reason")
		}
		member := isMember(p.Role)
		switch {
		case member && !p.Has(d.Role):
			fail("allowed for a role the principal does not hold")
		case member && clinical(a) && !p.Has(RoleClinician) && !(p.Has(RolePrivacyOfficer) && kindOf(a) == KindConsent):
			fail("someone without the clinician role read clinical content")
		case p.Has(RoleStaff) && len(p.memberRoles()) == 1 && a != PatientList && a != PatientCreate && a != PatientRead && a != PatientReadSummary && a != PatientUpdate:
			fail("the front desk did more than register patients and keep their details")
		case !p.Role.Valid():
			fail("an unknown role was allowed")
		case p.Role == RoleOperator && !r.OperatorGrant:
			fail("operator allowed without a grant")
		case p.Role == RoleOperator && !isRead(a):
			fail("operator allowed to change data")
		case a == FileDownload && !r.Uploader:
			fail("download by someone other than the uploader")
		case p.TokenID != "" && !p.HasScope(Scope(a)):
			fail("token allowed without the scope")
		case (p.Role == RolePatient || p.Role == RoleRepresentative) && r.PatientID != p.PatientID:
			fail("patient reached another patient's record")
		case (p.Role == RolePatient || p.Role == RoleRepresentative) && (a == CaseRead || a == FileView) && !r.Shared:
			fail("patient saw unshared clinical content")
		case member && r.WorkspaceID != p.WorkspaceID && !(p.Has(RoleClinician) && r.Collaborator):
			fail("member reached another workspace without being a collaborator")
		case member && r.WorkspaceID != p.WorkspaceID && !collaboratorAction(a):
			fail("collaborator went beyond the case")
		case member && a == CaptureView && !r.Connected:
			fail("capture reached a doctor the patient has not connected to")
		case d.BreakGlass && (r.CareTeam || !r.BreakGlassOn):
			fail("break-glass flag without a grant, or with normal rights")
		case d.Reason == AllowBreakGlass && !d.BreakGlass:
			fail("break-glass access not flagged")
		case (a == CareTeamManage || a == CaseShare) && r.BreakGlassOn && !r.CareTeam && p.Has(RoleClinician):
			fail("an emergency grant gave lasting access")
		case a == CareTeamApprove && (!p.Has(RolePrivacyOfficer) || r.WorkspaceID != p.WorkspaceID):
			fail("someone other than the workspace's privacy officer approves care-team changes")
		}
	})
	if n != 1575936 {
		t.Fatalf("enumerated %d combinations, want 1575936", n)
	}
}

// TestRoleSetGrantsTheUnionOfItsRoles: a member holding several roles may
// do exactly what one of them alone may, over every set, action and
// combination of facts, so adding a role only adds rights. The one
// exception narrows: someone reaching a record by break-glass cannot change
// its care team or share it, even when they also hold admin.
func TestRoleSetGrantsTheUnionOfItsRoles(t *testing.T) {
	every(func(p *Principal, a Action, r Resource, d Decision) {
		if len(p.Roles) < 2 {
			return
		}
		anyAllows, visible := false, false
		for _, role := range p.Roles {
			one := *p
			one.Role, one.Roles = role, nil
			od := Decide(&one, a, r)
			anyAllows = anyAllows || od.Allow
			visible = visible || od.Visible
		}
		glassLasting := (a == CareTeamManage || a == CaseShare) && r.BreakGlassOn && !r.CareTeam && p.Has(RoleClinician)
		switch {
		case d.Allow && !anyAllows:
			t.Fatalf("roles %v together may %s on %+v, none alone may: %+v", p.Roles, a, r, d)
		case !d.Allow && anyAllows && !glassLasting:
			t.Fatalf("roles %v together may not %s on %+v, one alone may: %+v", p.Roles, a, r, d)
		case d.Visible != visible && !glassLasting:
			t.Fatalf("roles %v: visible %v, alone %v (%s on %+v)", p.Roles, d.Visible, visible, a, r)
		}
	})
}

// TestFoundingDoctorReadsOwnPatientsAndRunsThePractice: admin + clinician,
// the founder of a solo practice, opens the patients on their care team,
// manages members, and is offered break-glass only where it adds something.
func TestFoundingDoctorReadsOwnPatientsAndRunsThePractice(t *testing.T) {
	doc := &Principal{UserID: "u", WorkspaceID: "w1", Role: RoleClinician, Roles: []Role{RoleClinician, RoleAdmin}}
	own := Resource{Kind: KindCase, WorkspaceID: "w1", PatientID: "p1", CareTeam: true}
	if d := Decide(doc, CaseRead, own); !d.Allow || d.Reason != AllowCareTeam || d.Role != RoleClinician {
		t.Fatalf("own patient's case: %+v", d)
	}
	if d := Decide(doc, MembersManage, Resource{Kind: KindWorkspace, WorkspaceID: "w1"}); !d.Allow || d.Role != RoleAdmin {
		t.Fatalf("members: %+v", d)
	}
	other := Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p2"}
	if d := Decide(doc, PatientRead, other); d.Allow || d.Reason != DenyNotCareTeam {
		t.Fatalf("a record off the care team is refused for the care team, not the role: %+v", d)
	}
	if d := Decide(doc, BreakGlass, other); !d.Allow {
		t.Fatalf("break-glass: %+v", d)
	}
	admin := &Principal{UserID: "a", WorkspaceID: "w1", Role: RoleAdmin}
	if d := Decide(admin, BreakGlass, other); d.Allow || d.Reason != DenyRole || d.Role != RoleAdmin {
		t.Fatalf("an admin alone cannot break the glass: %+v", d)
	}
	other.BreakGlassOn = true
	if d := Decide(doc, CareTeamManage, other); d.Allow || !d.Pending {
		t.Fatalf("an admin under break-glass changed the care team: %+v", d)
	}
}

// TestFrontDeskRegistersPatientsButReadsNothingClinical: staff list,
// register and correct patients (demographics, portal invitation) and are
// refused every case, file, capture, rehab and consent, which stay invisible.
func TestFrontDeskRegistersPatientsButReadsNothingClinical(t *testing.T) {
	desk := &Principal{UserID: "s", WorkspaceID: "w1", Role: RoleStaff}
	for _, a := range Actions {
		r := Resource{Kind: kindOf(a), WorkspaceID: "w1", PatientID: "p1", CareTeam: true, Shared: true, Uploader: true, Connected: true}
		d := Decide(desk, a, r)
		want := a == PatientList || a == PatientCreate || a == PatientRead || a == PatientReadSummary || a == PatientUpdate
		if d.Allow != want {
			t.Errorf("%s: %+v, want allow=%v", a, d, want)
		}
		if clinical(a) && d.Visible {
			t.Errorf("%s: clinical content is visible to the front desk (403, not 404)", a)
		}
	}
}

func isMember(r Role) bool { return hasRole(MemberRoles, r) }

func collaboratorAction(a Action) bool {
	switch a {
	case CaseRead, CaseComment, FileView, FileUpload, PatientReadSummary, FileDownload:
		return true
	}
	return false
}

// TestDeniedReadsOfInvisibleThingsLookNotFound: the Visible flag is what
// makes the HTTP layer answer 404 rather than 403.
func TestDeniedReadsOfInvisibleThingsLookNotFound(t *testing.T) {
	for _, tc := range []struct {
		name    string
		p       *Principal
		a       Action
		r       Resource
		visible bool
	}{
		{"another workspace's patient", &Principal{UserID: "u", WorkspaceID: "w1", Role: RoleClinician}, PatientRead,
			Resource{Kind: KindPatient, WorkspaceID: "w2", PatientID: "p9"}, false},
		{"another patient's case", &Principal{UserID: "u", Role: RolePatient, PatientID: "p1"}, CaseRead,
			Resource{Kind: KindCase, WorkspaceID: "w1", PatientID: "p2", Shared: true}, false},
		{"own unshared case", &Principal{UserID: "u", Role: RolePatient, PatientID: "p1"}, CaseRead,
			Resource{Kind: KindCase, WorkspaceID: "w1", PatientID: "p1"}, false},
		{"collaborator downloading someone else's file", &Principal{UserID: "u", WorkspaceID: "w2", Role: RoleClinician}, FileDownload,
			Resource{Kind: KindFile, WorkspaceID: "w1", PatientID: "p1", Collaborator: true}, true},
		{"patient downloading a shared file", &Principal{UserID: "u", Role: RolePatient, PatientID: "p1"}, FileDownload,
			Resource{Kind: KindFile, WorkspaceID: "w1", PatientID: "p1", Shared: true}, true},
		{"clinician not on the care team sees the summary", &Principal{UserID: "u", WorkspaceID: "w1", Role: RoleClinician}, PatientRead,
			Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p1"}, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.p, tc.a, tc.r)
			if d.Allow {
				t.Fatalf("allowed: %+v", d)
			}
			if d.Visible != tc.visible {
				t.Fatalf("visible = %v, want %v (%+v)", d.Visible, tc.visible, d)
			}
		})
	}
}

func TestBreakGlassIsFlaggedAndExplained(t *testing.T) {
	p := &Principal{UserID: "u", WorkspaceID: "w1", Role: RoleClinician}
	r := Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p1"}
	if d := Decide(p, PatientRead, r); d.Allow || d.Reason != DenyNotCareTeam {
		t.Fatalf("without a grant: %+v", d)
	}
	if d := Decide(p, BreakGlass, r); !d.Allow {
		t.Fatalf("a clinician of the workspace may break the glass: %+v", d)
	}
	r.BreakGlassOn = true
	if d := Decide(p, PatientRead, r); !d.Allow || !d.BreakGlass || d.Reason != AllowBreakGlass {
		t.Fatalf("with a grant: %+v", d)
	}
}

func TestNoPrincipalIsDenied(t *testing.T) {
	for _, p := range []*Principal{nil, {}} {
		if d := Decide(p, PatientRead, Resource{Kind: KindPatient}); d.Allow || d.Reason != DenyNoPrincipal {
			t.Fatalf("%+v", d)
		}
	}
	if d := Decide(&Principal{UserID: "u", Role: RoleClinician}, Action("patient.delete_everything"), Resource{}); d.Allow || d.Reason != DenyUnknownAction {
		t.Fatalf("%+v", d)
	}
}

// BenchmarkDecide measures one decision; the target is ≤ 5 µs.
func BenchmarkDecide(b *testing.B) {
	p := &Principal{UserID: "u1", WorkspaceID: "w1", Role: RoleClinician}
	r := Resource{Kind: KindFile, WorkspaceID: "w2", PatientID: "p1", Collaborator: true}
	b.ReportAllocs()
	for b.Loop() {
		if d := Decide(p, FileDownload, r); d.Allow {
			b.Fatal("allowed")
		}
	}
}

// TestEachScopeGrantsExactlyItsActions goes over every scope × every action
// × every role and combination of facts: inside its actions a token with one
// scope decides exactly like its user's session, outside them it is refused
// for the scope, and each action a scope names is allowed somewhere (a scope
// never names an action no token could use).
func TestEachScopeGrantsExactlyItsActions(t *testing.T) {
	for _, sc := range TokenScopes {
		if len(sc.Actions) == 0 || sc.Description == "" {
			t.Errorf("scope %s names no action or has no description", sc.Name)
		}
		for _, a := range Actions {
			named := slices.Contains(sc.Actions, a)
			if got := Scope(a) == sc.Name; got != named {
				t.Errorf("Scope(%s) = %q, but %s names it: %v", a, Scope(a), sc.Name, named)
			}
			used := false
			for _, roles := range principalsUnderTest() {
				role := roles
				for facts := 0; facts < 1<<7; facts++ {
					for _, ws := range []string{"w1", "w2"} {
						for _, pid := range []string{"p1", "p2"} {
							session := principalHolding(roles)
							session.SessionID = "s1"
							token := *session
							token.SessionID, token.TokenID, token.Scopes = "", "t1", []string{sc.Name}
							r := Resource{Kind: kindOf(a), WorkspaceID: ws, PatientID: pid,
								CareTeam: facts&1 != 0, Collaborator: facts&2 != 0, Shared: facts&4 != 0, Uploader: facts&8 != 0,
								Connected: facts&16 != 0, BreakGlassOn: facts&32 != 0, OperatorGrant: facts&64 != 0}
							ds, dt := Decide(session, a, r), Decide(&token, a, r)
							switch {
							case named && (ds.Allow != dt.Allow || ds.Reason != dt.Reason || ds.BreakGlass != dt.BreakGlass):
								t.Fatalf("%s token %s as %s on %+v: %+v, session %+v", sc.Name, a, role, r, dt, ds)
							case !named && (dt.Allow || dt.Reason != DenyScope):
								t.Fatalf("%s token allowed %s as %s on %+v: %+v", sc.Name, a, role, r, dt)
							}
							used = used || dt.Allow
						}
					}
				}
			}
			if named && !used {
				t.Errorf("scope %s names %s, which no token holding it can ever do", sc.Name, a)
			}
		}
	}
}

// TestImagingNeedsMediaRead: records:read no longer opens imaging or
// captures, and media:read does (for a principal the policy allows).
func TestImagingNeedsMediaRead(t *testing.T) {
	doc := func(scopes ...string) *Principal {
		return &Principal{UserID: "u", TokenID: "t", Scopes: scopes, WorkspaceID: "w1", Role: RoleClinician}
	}
	file := Resource{Kind: KindFile, WorkspaceID: "w1", PatientID: "p1", CareTeam: true, Uploader: true, Connected: true}
	for _, a := range []Action{FileView, FileDownload, CaptureView} {
		if d := Decide(doc("records:read"), a, file); d.Allow || d.Reason != DenyScope {
			t.Errorf("records:read %s: %+v", a, d)
		}
		if d := Decide(doc("media:read"), a, file); !d.Allow {
			t.Errorf("media:read %s: %+v", a, d)
		}
	}
	if d := Decide(doc("media:read"), CaseRead, Resource{Kind: KindCase, WorkspaceID: "w1", PatientID: "p1", CareTeam: true}); d.Allow {
		t.Errorf("media:read read the case: %+v", d)
	}
}

// TestScopeMatrixAgreesWithTheScopeList: the printed scope table is read
// from Decide, and it says the same as TokenScopes.
func TestScopeMatrixAgreesWithTheScopeList(t *testing.T) {
	for _, row := range ScopeMatrix() {
		for i, a := range Actions {
			if row.Grants[i] != slices.Contains(row.Scope.Actions, a) {
				t.Errorf("%s × %s: matrix %v, list %v", row.Scope.Name, a, row.Grants[i], !row.Grants[i])
			}
		}
	}
	if ScopeActions("records:delete") != nil {
		t.Error("an unknown scope names actions")
	}
}

// TestBreakGlassCannotGrantLastingAccess: under an emergency grant a
// clinician reads and works on the record, but a care-team change is only a
// request awaiting approval, and sharing or inviting collaborators is
// refused; the clinician cannot approve it, a privacy officer can.
func TestBreakGlassCannotGrantLastingAccess(t *testing.T) {
	doc := &Principal{UserID: "u", WorkspaceID: "w1", Role: RoleClinician}
	glass := Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p1", BreakGlassOn: true}
	if d := Decide(doc, CareTeamManage, glass); d.Allow || !d.Pending || !d.BreakGlass || d.Reason != DenyGlassNeedsApproval {
		t.Fatalf("care-team change under break-glass: %+v", d)
	}
	glass.Kind = KindCase
	if d := Decide(doc, CaseShare, glass); d.Allow || d.Pending || !d.BreakGlass || d.Reason != DenyGlassNoLasting {
		t.Fatalf("sharing under break-glass: %+v", d)
	}
	if d := Decide(doc, CaseRead, glass); !d.Allow || !d.BreakGlass {
		t.Fatalf("reading under break-glass: %+v", d)
	}
	glass.Kind = KindPatient
	if d := Decide(doc, CareTeamApprove, glass); d.Allow {
		t.Fatalf("the clinician approved: %+v", d)
	}
	po := &Principal{UserID: "po", WorkspaceID: "w1", Role: RolePrivacyOfficer}
	if d := Decide(po, CareTeamApprove, Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p1"}); !d.Allow {
		t.Fatalf("the privacy officer may not approve: %+v", d)
	}
	if d := Decide(doc, CareTeamManage, Resource{Kind: KindPatient, WorkspaceID: "w1", PatientID: "p1", CareTeam: true, BreakGlassOn: true}); !d.Allow || d.BreakGlass {
		t.Fatalf("a care-team member's own rights: %+v", d)
	}
}
