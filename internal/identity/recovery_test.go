package identity_test

import (
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

func TestPasswordResetRevokesAPITokens(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		_, secret, err := f.svc.CreateToken(bg, admin, identity.TokenInput{Name: "tablet", Scopes: []string{"rehab:ingest"}, Lifetime: 48 * time.Hour}, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.svc.ForgotPassword(bg, "ada@clinic.example", meta)
		f.svc.Wait()
		tok := f.mail.lastToken(t, "ada@clinic.example", "/reset")
		if err := f.svc.ResetPassword(bg, tok, "emerald kettle orbit canyon", meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.AuthenticateToken(bg, secret, meta); err == nil {
			t.Fatal("an API token survived the password reset")
		}
	})
}

func TestMFACannotBeReplacedOrItsCodesRenewedWithoutACode(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		secret, _, token := enrolled(t, f)
		sess, p, err := f.svc.Authenticate(bg, token, meta)
		if err != nil || p == nil {
			t.Fatal(err)
		}
		// A second enrolment on a session alone must not replace the app.
		en, err := f.svc.BeginTOTP(bg, sess.UserID)
		if err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Minute)
		if _, _, err := f.svc.ConfirmTOTP(bg, sess, code(t, en.Secret, f.clock.Now()), meta); codeOf(err) != "mfa_on" {
			t.Fatalf("MFA replaced without turning it off: %v", err)
		}
		if _, err := f.svc.RegenerateRecoveryCodes(bg, p.UserID, "", meta); codeOf(err) != "mfa_code_wrong" {
			t.Fatalf("recovery codes renewed without a code: %v", err)
		}
		codes, err := f.svc.RegenerateRecoveryCodes(bg, p.UserID, code(t, secret, f.clock.Now()), meta)
		if err != nil || len(codes) != identity.RecoveryCodeCount {
			t.Fatalf("renew with a current code: %v", err)
		}
	})
}
