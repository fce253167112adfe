package identity_test

import (
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/identity"
)

func TestPasswordRulesGiveASpecificReason(t *testing.T) {
	ctx := identity.PasswordContext{Name: "Ada Quimby", Email: "aq.surgeon@clinic.example"}
	withMFA := ctx
	withMFA.MFA = true
	tests := []struct {
		name     string
		password string
		ctx      identity.PasswordContext
		wantCode string // "" means accepted
	}{
		{"14 code points is too short as the only factor", "violet tractor", ctx, "password_too_short"},
		{"15 code points is enough as the only factor", "violet tractor!", ctx, ""},
		{"an emoji counts as one code point, so 14 letters and an emoji make 15", "violettractorx🐎", ctx, ""},
		{"14 letters of which one is an emoji are too short", "violettractor🐎", ctx, "password_too_short"},
		{"7 code points is too short even with MFA", "lantern", withMFA, "password_too_short"},
		{"8 code points is enough with MFA", "lantern7", withMFA, ""},
		{"257 code points is too long", strings.Repeat("ab cd ", 43)[:257], ctx, "password_too_long"},
		{"256 code points is allowed", strings.Repeat("river otter ", 22)[:256], ctx, ""},
		{"a blocklisted password is refused", "passwordpassword", ctx, "password_common"},
		{"a blocklisted password with digits appended is refused", "iloveyouforever2024", ctx, "password_common"},
		{"a common password is refused with MFA too", "letmein1", withMFA, "password_common"},
		{"the user's name is refused", "quimby lantern harbour", ctx, "password_contains_name"},
		{"the email's local part is refused", "harbour surgeon lantern", ctx, "password_contains_email"},
		{"the product name is refused", "my custodia harbour", ctx, "password_contains_product"},
		{"one character repeated is refused", "aaaaaaaaaaaaaaaa", ctx, "password_repetitive"},
		{"a short unit repeated is refused", "abcdabcdabcdabcd", ctx, "password_repetitive"},
		{"a run of digits is refused", "1234567890123456", ctx, "password_sequential"},
		{"a keyboard row is refused", "qwertyuiopasdfgh", ctx, "password_sequential"},
		{"the alphabet backwards is refused", "zyxwvutsrqponmlk", ctx, "password_sequential"},
		{"no composition rules: lowercase words are fine", "purple monkey dishwasher", ctx, ""},
		{"non-Latin text is fine", "пароль для клиники здесь", ctx, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := identity.CheckPassword(tc.password, tc.ctx)
			if got := codeOf(err); got != tc.wantCode {
				t.Fatalf("code %q, want %q (err %v)", got, tc.wantCode, err)
			}
			if err != nil {
				e, _ := identity.AsError(err)
				if e.Message == "" || e.Field != "password" || strings.Contains(e.Message, tc.password) {
					t.Fatalf("rejection must say why, name the field and not echo the password: %+v", e)
				}
			}
		})
	}
}

func TestPasswordCriteriaAreWrittenDown(t *testing.T) {
	if len(identity.PasswordCriteria) < 4 {
		t.Fatal("the criteria shown before typing are missing")
	}
}
