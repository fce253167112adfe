package identity_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

var bg = context.Background()

func TestEmailVerificationIsRequiredBeforeSignIn(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		if err := f.svc.SignUp(bg, identity.SignUpInput{Name: "Ada Quimby", Email: "ada@clinic.example", Password: goodPassword}, meta); err != nil {
			t.Fatal(err)
		}
		f.svc.Wait()
		_, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, meta)
		if codeOf(err) != "email_unverified" {
			t.Fatalf("sign-in before verification: %v, want email_unverified", err)
		}
		f.svc.Wait()
		tok := f.mail.lastToken(t, "ada@clinic.example", "/verify")
		if err := f.svc.VerifyEmail(bg, tok, meta); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.VerifyEmail(bg, tok, meta); codeOf(err) != "link_invalid" {
			t.Fatalf("verification link reused: %v, want link_invalid", err)
		}
		res, err := f.svc.SignIn(bg, "ADA@clinic.example ", goodPassword, meta)
		if err != nil {
			t.Fatal(err)
		}
		// The founder is admin, which requires MFA: enrolment comes first.
		if res.Session.Stage != identity.StageEnrol {
			t.Fatalf("stage %s, want enrol", res.Session.Stage)
		}
		if _, p, err := f.svc.Authenticate(bg, res.Token, meta); err != nil || p != nil {
			t.Fatalf("an enrolling session must not act as a principal: %v %v", p, err)
		}
	})
}

func TestSignUpWithATakenEmailAnswersTheSameAndNotifiesTheOwner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", false)
		before := f.mail.count()
		err := f.svc.SignUp(bg, identity.SignUpInput{Name: "Someone Else", Email: "ada@clinic.example", Password: goodPassword}, meta)
		if err != nil {
			t.Fatalf("sign-up with a taken address must look like success, got %v", err)
		}
		f.svc.Wait()
		if f.mail.count() != before+1 {
			t.Fatal("the owner was not told")
		}
	})
}

func invitedFixture(t *testing.T, d *db.DB) (*fixture, *access.Principal) {
	f := newFixture(t, d)
	uid := f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
	res := f.signInFull(t, "ada@clinic.example")
	_, p, err := f.svc.Authenticate(bg, res.Token, meta)
	if err != nil || p == nil || p.UserID != uid || !p.Has(access.RoleAdmin) || !p.Has(access.RoleClinician) {
		t.Fatalf("admin principal: %+v %v", p, err)
	}
	return f, p
}

func TestInvitationWorksOnceAndReplayFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InviteMember, Email: "bo@clinic.example", Role: access.RoleStaff}, meta); err != nil {
			t.Fatal(err)
		}
		tok := f.mail.lastToken(t, "bo@clinic.example", "/invitations/accept")
		in := identity.AcceptInput{Token: tok, Name: "Bo Ng", Password: goodPassword}
		uid, err := f.svc.AcceptInvitation(bg, in, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AcceptInvitation(bg, in, meta); codeOf(err) != "invitation_invalid" {
			t.Fatalf("replay: %v, want invitation_invalid", err)
		}
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: tok, SignedInUserID: uid}, meta); codeOf(err) != "invitation_invalid" {
			t.Fatalf("replay while signed in: %v, want invitation_invalid", err)
		}
		ms, err := f.svc.Members(bg, admin, admin.WorkspaceID)
		if err != nil {
			t.Fatal(err)
		}
		if len(ms) != 2 {
			t.Fatalf("members: %+v", ms)
		}
		// Staff need no MFA, and the link verified the address: Bo can sign in.
		res, err := f.svc.SignIn(bg, "bo@clinic.example", goodPassword, meta)
		if err != nil || res.Session.Stage != identity.StageFull {
			t.Fatalf("invitee sign-in: %v", err)
		}
	})
}

func TestExpiredInvitationFails(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		f.patients["p1"] = admin.WorkspaceID
		if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: "pat@home.example", Role: access.RolePatient, PatientID: "p1", Receipt: receiptFor(t, d, "p1")}, meta); err != nil {
			t.Fatal(err)
		}
		tok := f.mail.lastToken(t, "pat@home.example", "/invitations/accept")
		f.clock.Advance(identity.InvitationTTL + time.Second)
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: tok, Name: "Pat Doe", Password: goodPassword}, meta); codeOf(err) != "invitation_invalid" {
			t.Fatalf("expired: %v, want invitation_invalid", err)
		}
	})
}

func TestPatientInvitationNeedsTheRecordsDecisionAndARecordOfTheWorkspace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		f.patients["p-elsewhere"] = "another-workspace"
		before := f.mail.count()
		f.patients["p-here"] = admin.WorkspaceID
		for name, in := range map[string]identity.InviteInput{
			"another workspace's record": {PatientID: "p-elsewhere", Receipt: receiptFor(t, d, "p-elsewhere")},
			"an unknown record":          {PatientID: "p-unknown", Receipt: receiptFor(t, d, "p-unknown")},
			"no receipt":                 {PatientID: "p-here"},
			"a receipt for another":      {PatientID: "p-here", Receipt: receiptFor(t, d, "p-elsewhere")},
		} {
			in.Kind, in.Email, in.Role = identity.InvitePatient, "mallory@home.example", access.RolePatient
			if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, in, meta); codeOf(err) != "patient_unknown" {
				t.Fatalf("%s: %v, want patient_unknown", name, err)
			}
		}
		if f.mail.count() != before {
			t.Fatal("an invitation was mailed")
		}
	})
}

func TestPatientInvitationLinksTheUserToThePatient(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		f.patients["p42"] = admin.WorkspaceID
		if _, err := f.svc.Invite(bg, admin, admin.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: "rep@home.example", Role: access.RoleRepresentative, PatientID: "p42", Receipt: receiptFor(t, d, "p42")}, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: f.mail.lastToken(t, "rep@home.example", "/invitations/accept"), Name: "Rae Doe", Password: goodPassword}, meta); err != nil {
			t.Fatal(err)
		}
		res, err := f.svc.SignIn(bg, "rep@home.example", goodPassword, meta)
		if err != nil {
			t.Fatal(err)
		}
		_, p, err := f.svc.Authenticate(bg, res.Token, meta)
		if err != nil || p.Role != access.RoleRepresentative || p.PatientID != "p42" || p.WorkspaceID != admin.WorkspaceID {
			t.Fatalf("representative principal: %+v %v", p, err)
		}
		if _, err := f.svc.Members(bg, p, admin.WorkspaceID); kindOf(err) != identity.KindForbidden {
			t.Fatalf("a representative listed members: %v", err)
		}
	})
}

func TestStolenSessionCookieStopsWorking(t *testing.T) {
	tests := []struct {
		name string
		end  func(f *fixture, uid string)
	}{
		{"after sign-out everywhere", func(f *fixture, uid string) {
			if err := f.svc.SignOutEverywhere(bg, uid, meta); err != nil {
				panic(err)
			}
		}},
		{"after the idle timeout", func(f *fixture, uid string) { f.clock.Advance(15 * time.Minute) }},
		{"after the absolute lifetime, however active", nil}, // the session is kept busy below
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			dbtest.Each(t, func(t *testing.T, d *db.DB) {
				f := newFixture(t, d)
				uid := f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
				stolen := f.signInFull(t, "ada@clinic.example").Token
				if _, p, err := f.svc.Authenticate(bg, stolen, meta); err != nil || p == nil {
					t.Fatalf("fresh session: %v", err)
				}
				if tc.end == nil {
					// Keep the stolen session itself busy every 10 minutes.
					for range 12*6 - 1 {
						f.clock.Advance(10 * time.Minute)
						if _, _, err := f.svc.Authenticate(bg, stolen, meta); err != nil {
							t.Fatalf("active session ended early: %v", err)
						}
					}
					f.clock.Advance(10 * time.Minute)
				} else {
					tc.end(f, uid)
				}
				if _, _, err := f.svc.Authenticate(bg, stolen, meta); kindOf(err) != identity.KindUnauthenticated {
					t.Fatalf("stolen cookie still works: %v", err)
				}
			})
		})
	}
}

func TestSessionTokenIsRotatedOnPrivilegeChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		res := f.signInFull(t, "ada@clinic.example")
		sess, _, _ := f.svc.Authenticate(bg, res.Token, meta)
		next, err := f.svc.SwitchWorkspace(bg, sess, sess.WorkspaceID, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, _, err := f.svc.Authenticate(bg, res.Token, meta); err == nil {
			t.Fatal("the old token survived a workspace switch")
		}
		if _, p, err := f.svc.Authenticate(bg, next, meta); err != nil || p == nil {
			t.Fatalf("new token: %v", err)
		}
		sessions, err := f.svc.Sessions(bg, sess.UserID)
		if err != nil || len(sessions) != 1 || sessions[0].UserAgent != "Firefox on Linux" || sessions[0].ClientAddr != meta.ClientAddr {
			t.Fatalf("sessions: %+v %v", sessions, err)
		}
	})
}

func TestUnknownAndKnownEmailLookAlike(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		_, errKnown := f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", meta)
		_, errUnknown := f.svc.SignIn(bg, "nobody@clinic.example", "wrong password here!", meta)
		if errKnown == nil || errKnown.Error() != errUnknown.Error() || codeOf(errKnown) != codeOf(errUnknown) {
			t.Fatalf("known %v, unknown %v", errKnown, errUnknown)
		}
	})
}

func TestForgotPasswordMailsOnlyExistingAccountsAndResetLiftsLockout(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		before := f.mail.count()
		f.svc.ForgotPassword(bg, "nobody@clinic.example", meta)
		f.svc.Wait()
		if f.mail.count() != before {
			t.Fatal("mail sent for an unknown address")
		}
		f.svc.ForgotPassword(bg, "ada@clinic.example", meta)
		f.svc.Wait()
		tok := f.mail.lastToken(t, "ada@clinic.example", "/reset")
		if err := f.svc.ResetPassword(bg, tok, "short", meta); codeOf(err) != "password_too_short" {
			t.Fatalf("weak new password: %v", err)
		}
		if err := f.svc.ResetPassword(bg, tok, "emerald kettle orbit canyon", meta); err != nil {
			t.Fatal(err)
		}
		if err := f.svc.ResetPassword(bg, tok, "emerald kettle orbit canyon", meta); codeOf(err) != "link_invalid" {
			t.Fatalf("reset link reused: %v", err)
		}
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", "emerald kettle orbit canyon", meta); err != nil {
			t.Fatal(err)
		}
	})
}

func TestThrottlingThenLockoutAfter100Failures(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		throttled := false
		for i := range identity.LockoutFailures {
			_, err := f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", meta)
			if e, ok := identity.AsError(err); ok && e.Kind == identity.KindThrottled {
				throttled = true
				if e.RetryAfter <= 0 {
					t.Fatal("throttled without a Retry-After")
				}
				f.clock.Advance(e.RetryAfter)
				_, err = f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", meta)
			}
			if codeOf(err) != "signin_failed" {
				t.Fatalf("attempt %d: %v", i+1, err)
			}
		}
		if !throttled {
			t.Fatal("100 failures were never throttled")
		}
		f.clock.Advance(time.Hour)
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, meta); kindOf(err) != identity.KindLocked {
			t.Fatalf("after 100 failures the right password must not work: %v", err)
		}
		// An unknown address locks the same way, so lockout reveals nothing.
		f.svc.ForgotPassword(bg, "ada@clinic.example", meta)
		f.svc.Wait()
		if err := f.svc.ResetPassword(bg, f.mail.lastToken(t, "ada@clinic.example", "/reset"), "emerald kettle orbit canyon", meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", "emerald kettle orbit canyon", meta); err != nil {
			t.Fatalf("reset must lift the lockout: %v", err)
		}
		if !slices.Contains(f.audit.actions(), "auth.lockout:denied") {
			t.Fatal("lockout not audited")
		}
	})
}

// enrolled signs in an admin (MFA required), enrols TOTP and returns the
// secret, the recovery codes and the full session token.
func enrolled(t *testing.T, f *fixture) (secret string, codes []string, token string) {
	t.Helper()
	f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", false)
	res, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, meta)
	if err != nil || res.Session.Stage != identity.StageEnrol {
		t.Fatalf("sign in: %v", err)
	}
	sess, _, _ := f.svc.Authenticate(bg, res.Token, meta)
	en, err := f.svc.BeginTOTP(bg, sess.UserID)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(en.QR, "data:image/png;base64,") || !strings.HasPrefix(en.URL, "otpauth://totp/") {
		t.Fatalf("enrolment: %+v", en)
	}
	if _, _, err := f.svc.ConfirmTOTP(bg, sess, "000000", meta); codeOf(err) != "mfa_code_wrong" && code(t, en.Secret, f.clock.Now()) != "000000" {
		t.Fatalf("wrong enrolment code: %v", err)
	}
	codes, token, err = f.svc.ConfirmTOTP(bg, sess, code(t, en.Secret, f.clock.Now()), meta)
	if err != nil {
		t.Fatal(err)
	}
	if len(codes) != identity.RecoveryCodeCount {
		t.Fatalf("%d recovery codes", len(codes))
	}
	if _, p, err := f.svc.Authenticate(bg, token, meta); err != nil || p == nil {
		t.Fatalf("after enrolment the session is full: %v", err)
	}
	if _, _, err := f.svc.Authenticate(bg, res.Token, meta); err == nil {
		t.Fatal("the pre-enrolment token survived")
	}
	return en.Secret, codes, token
}

func TestTOTPWrongCodeReplayAndRecoveryCodes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		secret, codes, _ := enrolled(t, f)
		f.clock.Advance(time.Minute) // past the enrolment code's window
		start := func() *identity.Session {
			res, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, meta)
			if err != nil || res.Session.Stage != identity.StageMFA {
				t.Fatalf("password step: %v", err)
			}
			return res.Session
		}
		sess := start()
		good := code(t, secret, f.clock.Now())
		wrong := "123456"
		if wrong == good {
			wrong = "654321"
		}
		if _, err := f.svc.VerifySecondFactor(bg, sess, wrong, meta); codeOf(err) != "mfa_code_wrong" {
			t.Fatalf("wrong code: %v", err)
		}
		tok, err := f.svc.VerifySecondFactor(bg, sess, good, meta)
		if err != nil {
			t.Fatal(err)
		}
		if _, p, err := f.svc.Authenticate(bg, tok, meta); err != nil || p == nil {
			t.Fatalf("full session: %v", err)
		}
		// The same code again, in the same 30-second window, fails.
		if _, err := f.svc.VerifySecondFactor(bg, start(), good, meta); codeOf(err) != "mfa_code_wrong" {
			t.Fatalf("replayed code: %v", err)
		}
		// A recovery code works once.
		if _, err := f.svc.VerifySecondFactor(bg, start(), strings.ToUpper(codes[0]), meta); err != nil {
			t.Fatalf("recovery code: %v", err)
		}
		if _, err := f.svc.VerifySecondFactor(bg, start(), codes[0], meta); codeOf(err) != "mfa_code_wrong" {
			t.Fatalf("recovery code reused: %v", err)
		}
		// The secret is sealed at rest, not stored as text.
		var sealed []byte
		ada, err := identity.UserIDByEmail(bg, f.svc, "ada@clinic.example")
		if err != nil {
			t.Fatal(err)
		}
		if err := d.Read.QueryRow(`SELECT totp_sealed FROM users WHERE id = $1`, ada).Scan(&sealed); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(sealed), secret) || len(sealed) < 16 {
			t.Fatal("TOTP secret stored in clear")
		}
	})
}

func TestAPITokenScopesRevocationAndExpiry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		if _, _, err := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "x", Scopes: []string{"root:all"}}, meta); codeOf(err) != "scope_unknown" {
			t.Fatalf("unknown scope: %v", err)
		}
		tok, secret, err := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "Rehab tablet", Scopes: []string{"rehab:ingest"}, Lifetime: 48 * time.Hour}, meta)
		if err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(secret, "cus_") {
			t.Fatalf("token format %q", secret)
		}
		p, err := f.svc.AuthenticateToken(bg, secret, meta)
		if err != nil {
			t.Fatal(err)
		}
		if p.UserID != admin.UserID || p.TokenID != tok.ID || !p.HasScope("rehab:ingest") || p.HasScope("records:read") {
			t.Fatalf("token principal: %+v", p)
		}
		if _, _, err := f.svc.CreateToken(bg, p, identity.TokenInput{Name: "y", Scopes: []string{"rehab:ingest"}}, meta); kindOf(err) != identity.KindForbidden {
			t.Fatalf("a token made a token: %v", err)
		}
		if _, err := f.svc.Members(bg, p, p.WorkspaceID); kindOf(err) != identity.KindForbidden {
			t.Fatalf("a token ran the workspace: %v", err)
		}
		// Never retrievable: neither the list nor the database holds the secret.
		list, _ := f.svc.Tokens(bg, admin.UserID)
		if len(list) != 1 || list[0].ID != tok.ID {
			t.Fatalf("list: %+v", list)
		}
		var n int
		_ = d.Read.QueryRow(`SELECT COUNT(*) FROM api_tokens WHERE token_hash = $1 OR name = $1`, secret).Scan(&n)
		if n != 0 {
			t.Fatal("secret stored")
		}
		// Expiry.
		f.clock.Advance(48 * time.Hour)
		if _, err := f.svc.AuthenticateToken(bg, secret, meta); kindOf(err) != identity.KindUnauthenticated {
			t.Fatalf("expired token: %v", err)
		}
		// Revocation.
		_, secret2, _ := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "Scanner", Scopes: []string{"media:upload"}}, meta)
		list, _ = f.svc.Tokens(bg, admin.UserID)
		if err := f.svc.RevokeToken(bg, admin, list[0].ID, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthenticateToken(bg, secret2, meta); kindOf(err) != identity.KindUnauthenticated {
			t.Fatalf("revoked token: %v", err)
		}
	})
}

func TestLastAdminCannotBeDemotedOrRemoved(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		if err := f.svc.ChangeRole(bg, admin, admin.WorkspaceID, admin.UserID, access.RoleStaff, meta); codeOf(err) != "last_admin" {
			t.Fatalf("demote: %v", err)
		}
		if err := f.svc.RemoveMember(bg, admin, admin.WorkspaceID, admin.UserID, meta); codeOf(err) != "last_admin" {
			t.Fatalf("remove: %v", err)
		}
	})
}

func TestEveryAuthEventIsAuditedWithIDsOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		secret, _, tok := enrolled(t, f)
		sess, p, _ := f.svc.Authenticate(bg, tok, meta)
		_, _ = f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", meta)
		_, _ = f.svc.SignIn(bg, "nobody@clinic.example", "wrong password here!", meta)
		if _, err := f.svc.Invite(bg, p, p.WorkspaceID, identity.InviteInput{Kind: identity.InviteMember, Email: "bo@clinic.example", Role: access.RoleStaff}, meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: f.mail.lastToken(t, "bo@clinic.example", "/invitations/accept"), Name: "Bo Ng", Password: goodPassword}, meta); err != nil {
			t.Fatal(err)
		}
		_, _, _ = f.svc.CreateToken(bg, p, identity.TokenInput{Name: "t", Scopes: []string{"records:read"}}, meta)
		list, _ := f.svc.Tokens(bg, p.UserID)
		_ = f.svc.RevokeToken(bg, p, list[0].ID, meta)
		f.clock.Advance(time.Minute)
		mfa, _ := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, meta)
		_, _ = f.svc.VerifySecondFactor(bg, mfa.Session, "999999x", meta)
		_, _ = f.svc.VerifySecondFactor(bg, mfa.Session, code(t, secret, f.clock.Now()), meta)
		if _, err := f.svc.ChangePassword(bg, sess, goodPassword, "emerald kettle orbit canyon", meta); err != nil {
			t.Fatal(err)
		}
		_ = f.svc.SignOutEverywhere(bg, p.UserID, meta)
		got := f.audit.actions()
		for _, want := range []string{
			"auth.signup:success", "auth.email.verify:success", "auth.signin:success", "auth.signin:failure",
			"auth.mfa.enrol:success", "auth.mfa.verify:success", "auth.mfa.verify:failure",
			"auth.invitation.send:success", "auth.invitation.accept:success", "auth.token.create:success", "auth.token.revoke:success",
			"auth.password.change:success", "auth.session.revoke_all:success",
		} {
			if !slices.Contains(got, want) {
				t.Errorf("no %s event; got %v", want, got)
			}
		}
		for _, e := range f.audit.all() {
			if !strings.HasPrefix(e.Action, "auth.") || e.ClientAddr == "" || e.Time.IsZero() {
				t.Errorf("event %+v", e)
			}
			for _, v := range []string{e.ActorUserID, e.ResourceID, e.Reason, e.ActorRole, e.WorkspaceID} {
				if strings.Contains(v, "@") || strings.Contains(v, "Ada") {
					t.Errorf("personal data in audit event: %+v", e)
				}
			}
		}
	})
}
