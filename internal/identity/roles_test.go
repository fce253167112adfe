package identity_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

// acceptMember invites email as role (an admin's invitation) and accepts it
// as a new account, returning the new user's principal.
func acceptMember(t *testing.T, f *fixture, admin *access.Principal, email, name string, role access.Role) *access.Principal {
	t.Helper()
	if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InviteMember, Email: email, Role: role}, meta); err != nil {
		t.Fatal(err)
	}
	if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: f.mail.lastToken(t, email, "/invitations/accept"), Name: name, Password: goodPassword}, meta); err != nil {
		t.Fatal(err)
	}
	res, err := f.svc.SignIn(bg, email, goodPassword, meta)
	if err != nil {
		t.Fatal(err)
	}
	_, p, err := f.svc.Authenticate(bg, res.Token, meta)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSignUpMakesTheFounderAdminAndClinician(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, p := invitedFixture(t, d)
		want := []access.Role{access.RoleClinician, access.RoleAdmin}
		if !slices.Equal(p.Roles, want) || p.Role != access.RoleClinician {
			t.Fatalf("founder's principal: role %s, roles %v; want primary clinician and %v", p.Role, p.Roles, want)
		}
		ws, err := f.svc.Workspaces(bg, p.UserID)
		if err != nil || len(ws) != 1 || !slices.Equal(ws[0].Roles, want) {
			t.Fatalf("workspaces: %+v %v", ws, err)
		}
		ms, err := f.svc.Members(bg, p, p.WorkspaceID)
		if err != nil || len(ms) != 1 || !slices.Equal(ms[0].Roles, want) {
			t.Fatalf("members: %+v %v", ms, err)
		}
	})
}

func TestLastAdminGuardHoldsWithRoleSets(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, founder := invitedFixture(t, d)
		// Dropping admin but keeping clinician still leaves no admin.
		if err := f.svc.SetRoles(bg, founder, founder.WorkspaceID, founder.UserID, []access.Role{access.RoleClinician}, meta); codeOf(err) != "last_admin" {
			t.Fatalf("founder drops admin: %v, want last_admin", err)
		}
		if err := f.svc.SetRoles(bg, founder, founder.WorkspaceID, founder.UserID, nil, meta); codeOf(err) != "role_required" {
			t.Fatalf("no role at all: %v, want role_required", err)
		}
		bo := acceptMember(t, f, founder, "bo@clinic.example", "Bo Ng", access.RolePrivacyOfficer)
		if err := f.svc.SetRoles(bg, founder, founder.WorkspaceID, bo.UserID, []access.Role{access.RolePrivacyOfficer, access.RoleAdmin}, meta); err != nil {
			t.Fatal(err)
		}
		// With a second admin the founder may keep only clinician.
		if err := f.svc.SetRoles(bg, founder, founder.WorkspaceID, founder.UserID, []access.Role{access.RoleClinician}, meta); err != nil {
			t.Fatalf("founder drops admin with another admin: %v", err)
		}
		_, bo, err := f.svc.Authenticate(bg, f.signInFull(t, "bo@clinic.example").Token, meta)
		if err != nil || !bo.Has(access.RoleAdmin) || !bo.Has(access.RolePrivacyOfficer) || bo.Role != access.RoleAdmin {
			t.Fatalf("bo: %+v %v", bo, err)
		}
		if err := f.svc.SetRoles(bg, bo, bo.WorkspaceID, bo.UserID, []access.Role{access.RolePrivacyOfficer}, meta); codeOf(err) != "last_admin" {
			t.Fatalf("the now only admin drops admin: %v, want last_admin", err)
		}
		if err := f.svc.RemoveMember(bg, bo, bo.WorkspaceID, bo.UserID, meta); codeOf(err) != "last_admin" {
			t.Fatalf("the only admin leaves: %v, want last_admin", err)
		}
		// The founder, clinician only now, no longer runs the workspace.
		_, founder, _ = f.svc.Authenticate(bg, f.signInFull(t, "ada@clinic.example").Token, meta)
		if _, err := f.svc.Members(bg, founder, founder.WorkspaceID); kindOf(err) != identity.KindForbidden {
			t.Fatalf("a clinician listed members: %v", err)
		}
	})
}

func TestMemberInvitationDefaultsToClinicianAndNamesClinicAndInviter(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		if err := f.svc.RenameWorkspace(bg, admin, admin.WorkspaceID, "Quimby Facial Surgery", meta); err != nil {
			t.Fatal(err)
		}
		inv, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InviteMember, Email: "cy@clinic.example"}, meta)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Role != access.RoleClinician {
			t.Fatalf("invitation role %q, want clinician by default", inv.Role)
		}
		msg := f.mail.msgs[len(f.mail.msgs)-1]
		for _, s := range []string{"Ada Quimby", "Quimby Facial Surgery"} {
			if !strings.Contains(msg.Subject, s) || !strings.Contains(msg.Text, s) {
				t.Errorf("the invitation does not name %q: %q / %q", s, msg.Subject, msg.Text)
			}
		}
		cy := acceptMember(t, f, admin, "cy@clinic.example", "Cy Park", "")
		if cy.Role != access.RoleClinician || !slices.Equal(cy.Roles, []access.Role{access.RoleClinician}) {
			t.Fatalf("invitee: %+v", cy)
		}
	})
}

func TestPendingInvitationsCanBeResentAndRevoked(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		for _, e := range []string{"dee@clinic.example", "eve@clinic.example"} {
			if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InviteMember, Email: e, Role: access.RoleStaff}, meta); err != nil {
				t.Fatal(err)
			}
		}
		pending, err := f.svc.PendingInvitations(bg, admin, admin.WorkspaceID)
		if err != nil || len(pending) != 2 {
			t.Fatalf("pending: %+v %v", pending, err)
		}
		byEmail := map[string]identity.Invitation{}
		for _, inv := range pending {
			byEmail[inv.Email] = inv
			if inv.InvitedByName != "Ada Quimby" || inv.Role != access.RoleStaff || inv.Expired {
				t.Errorf("pending invitation: %+v", inv)
			}
		}
		old := f.mail.lastToken(t, "dee@clinic.example", "/invitations/accept")
		f.clock.Advance(8 * 24 * 60 * 60 * 1e9) // past the 7 days
		pending, _ = f.svc.PendingInvitations(bg, admin, admin.WorkspaceID)
		if len(pending) != 2 || !pending[0].Expired {
			t.Fatalf("expired invitations stay listed, marked: %+v", pending)
		}
		if err := f.svc.ResendInvitation(bg, admin, admin.WorkspaceID, byEmail["dee@clinic.example"].ID, meta); err != nil {
			t.Fatal(err)
		}
		fresh := f.mail.lastToken(t, "dee@clinic.example", "/invitations/accept")
		if fresh == old {
			t.Fatal("resending kept the old link")
		}
		if _, err := f.svc.InvitationByToken(bg, old); codeOf(err) != "invitation_invalid" {
			t.Fatalf("old link after resend: %v", err)
		}
		if _, err := f.svc.InvitationByToken(bg, fresh); err != nil {
			t.Fatalf("resent link: %v", err)
		}
		eveTok := f.mail.lastToken(t, "eve@clinic.example", "/invitations/accept")
		if err := f.svc.RevokeInvitation(bg, admin, admin.WorkspaceID, byEmail["eve@clinic.example"].ID, meta); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ResendInvitation(bg, admin, admin.WorkspaceID, byEmail["eve@clinic.example"].ID, meta); codeOf(err) != "invitation_not_found" {
			t.Fatalf("resending a withdrawn invitation: %v", err)
		}
		f.clock.Advance(-8 * 24 * 60 * 60 * 1e9)
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: eveTok, Name: "Eve Ray", Password: goodPassword}, meta); codeOf(err) != "invitation_invalid" {
			t.Fatalf("a withdrawn invitation was accepted: %v", err)
		}
		pending, _ = f.svc.PendingInvitations(bg, admin, admin.WorkspaceID)
		if len(pending) != 1 || pending[0].Email != "dee@clinic.example" {
			t.Fatalf("after revoking: %+v", pending)
		}
		acts := strings.Join(f.audit.actions(), " ")
		for _, a := range []string{"auth.invitation.resend", "auth.invitation.revoke"} {
			if !strings.Contains(acts, a) {
				t.Errorf("no %s audit entry", a)
			}
		}
	})
}

func TestWorkspaceCanBeRenamedByItsAdmin(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		if err := f.svc.RenameWorkspace(bg, admin, admin.WorkspaceID, "  Harbour Dermatology  ", meta); err != nil {
			t.Fatal(err)
		}
		ws, _ := f.svc.Workspaces(bg, admin.UserID)
		if ws[0].Name != "Harbour Dermatology" {
			t.Fatalf("name %q", ws[0].Name)
		}
		if err := f.svc.RenameWorkspace(bg, admin, admin.WorkspaceID, " ", meta); codeOf(err) != "workspace_name_required" {
			t.Fatalf("empty name: %v", err)
		}
		staff := acceptMember(t, f, admin, "fay@clinic.example", "Fay Lo", access.RoleStaff)
		if err := f.svc.RenameWorkspace(bg, staff, staff.WorkspaceID, "Mine now", meta); kindOf(err) != identity.KindForbidden {
			t.Fatalf("staff renamed the workspace: %v", err)
		}
	})
}

func TestPatientSignsUpWithoutAPracticeAndIsLinkedOnlyByTheirInvitation(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, founder := invitedFixture(t, d)
		const email = "pia@home.example"
		if err := f.svc.SignUpPatient(bg, identity.PatientSignUpInput{Name: "Pia Holm", Email: email, Password: goodPassword}, meta); err != nil {
			t.Fatal(err)
		}
		f.svc.Wait()
		if err := f.svc.VerifyEmail(bg, f.mail.lastToken(t, email, "/verify"), meta); err != nil {
			t.Fatal(err)
		}
		res := f.signInFull(t, email)
		_, p, err := f.svc.Authenticate(bg, res.Token, meta)
		if err != nil || p.WorkspaceID != "" || p.Role != "" || p.PatientID != "" {
			t.Fatalf("a self-signed-up patient holds something: %+v %v", p, err)
		}
		if ws, _ := f.svc.Workspaces(bg, p.UserID); len(ws) != 0 {
			t.Fatalf("a patient's sign-up made a workspace: %+v", ws)
		}
		// Asking a doctor mails the doctor and creates nothing; an address
		// that is no doctor's gets the same answer and no mail.
		before := f.mail.count()
		if err := f.svc.RequestPractice(bg, p.UserID, "nobody@clinic.example", meta); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.RequestPractice(bg, p.UserID, "ada@clinic.example", meta); err != nil {
			t.Fatal(err)
		}
		f.svc.Wait()
		if f.mail.count() != before+1 {
			t.Fatalf("%d messages sent, want 1 (to the doctor only)", f.mail.count()-before)
		}
		if msg := f.mail.msgs[len(f.mail.msgs)-1]; msg.To != "ada@clinic.example" || !strings.Contains(msg.Text, "Pia Holm") || !strings.Contains(msg.Text, email) {
			t.Fatalf("the request: %+v", msg)
		}
		if _, p2, _ := f.svc.Authenticate(bg, res.Token, meta); p2.WorkspaceID != "" || p2.PatientID != "" {
			t.Fatalf("asking a doctor linked the account: %+v", p2)
		}
		// The practice's portal invitation, accepted while signed in, links it.
		f.patients["p1"] = founder.WorkspaceID
		if _, err := f.svc.Invite(bg, founder, founder.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: email, Role: access.RolePatient, PatientID: "p1", Receipt: receiptFor(t, d, "p1")}, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: f.mail.lastToken(t, email, "/invitations/accept"), SignedInUserID: p.UserID}, meta); err != nil {
			t.Fatal(err)
		}
		_, p, err = f.svc.Authenticate(bg, f.signInFull(t, email).Token, meta)
		if err != nil || p.Role != access.RolePatient || p.PatientID != "p1" || p.WorkspaceID != founder.WorkspaceID {
			t.Fatalf("after accepting: %+v %v", p, err)
		}
	})
}
