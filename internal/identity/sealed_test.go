package identity_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

// identityTables are the tables identity writes.
var identityTables = []string{"users", "workspaces", "memberships", "patient_users", "invitations", "email_tokens",
	"sessions", "recovery_codes", "api_tokens", "auth_failures"}

// tableText returns every value of every row of table as text, so a test
// can search what the database holds on either dialect.
func tableText(t *testing.T, d *db.DB, table string) string {
	t.Helper()
	rows, err := d.Read.Query(`SELECT * FROM ` + table)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	var b strings.Builder
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		for i, v := range vals {
			if bs, ok := v.([]byte); ok {
				v = string(bs)
			}
			fmt.Fprintf(&b, "%s=%v\t", cols[i], v)
		}
		b.WriteString("\n")
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// requireAbsent fails if any identity table holds one of needles, in any
// letter case.
func requireAbsent(t *testing.T, d *db.DB, needles ...string) {
	t.Helper()
	for _, table := range identityTables {
		text := strings.ToLower(tableText(t, d, table))
		for _, n := range needles {
			if strings.Contains(text, strings.ToLower(n)) {
				t.Errorf("table %s holds %q in clear", table, n)
			}
		}
	}
}

// Every account's email and name, and every invitee's address, are sealed:
// a clinician who signs up, a patient invited to the portal who accepts, a
// password reset and an email verification leave neither in any identity
// table, while sign-in, the member list, the header and display names still
// show them.
func TestAccountEmailsAndNamesAreSealedForEveryAccount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		const docName, docEmail = "Xavera Quillfeather", "xavera.quillfeather@clinic.example"
		const patName, patEmail = "Yolanthe Brackwater", "yolanthe.brackwater@home.example"
		doc := f.verifiedUser(t, docName, docEmail, true)
		res := f.signInFull(t, docEmail)
		_, p, err := f.svc.Authenticate(bg, res.Token, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.patients["p1"] = p.WorkspaceID
		if _, err := f.svc.Invite(bg, p, p.WorkspaceID, identity.InviteInput{Kind: identity.InvitePatient, Email: patEmail,
			Role: access.RolePatient, PatientID: "p1", Receipt: receiptFor(t, d, "p1")}, meta); err != nil {
			t.Fatal(err)
		}
		requireAbsent(t, d, docName, docEmail, patEmail, "Quillfeather", "brackwater")
		tok := f.mail.lastToken(t, patEmail, "/invitations/accept")
		inv, err := f.svc.InvitationByToken(bg, tok)
		if err != nil || inv.Email != patEmail {
			t.Fatalf("the invitation reads %+v, %v", inv, err)
		}
		pat, err := f.svc.AcceptInvitation(bg, identity.AcceptInput{Token: tok, Name: patName, Password: goodPassword}, meta)
		if err != nil {
			t.Fatal(err)
		}
		f.svc.ForgotPassword(bg, strings.ToUpper(patEmail), meta)
		f.svc.Wait()
		if err := f.svc.ResetPassword(bg, f.mail.lastToken(t, patEmail, "/reset"), "amber walrus quietly sings", meta); err != nil {
			t.Fatal(err)
		}
		if _, err := f.svc.SignIn(bg, " "+strings.ToUpper(patEmail), "amber walrus quietly sings", meta); err != nil {
			t.Fatalf("the patient signs in by the sealed address: %v", err)
		}
		requireAbsent(t, d, docName, docEmail, patName, patEmail, "Quillfeather", "Yolanthe", "brackwater")

		if u, err := f.svc.User(bg, pat); err != nil || u.Email != patEmail || u.Name != patName {
			t.Fatalf("the patient's account reads %+v, %v", u, err)
		}
		if names := f.svc.DisplayNames(bg, []string{doc, pat}); names[doc] != docName || names[pat] != patName {
			t.Fatalf("display names %v", names)
		}
		if name, _, err := f.svc.SignedInAs(bg, doc, p.WorkspaceID); err != nil || name != docName {
			t.Fatalf("header %q %v", name, err)
		}
		ms, err := f.svc.Members(bg, p, p.WorkspaceID)
		if err != nil || len(ms) != 1 || ms[0].Email != docEmail || ms[0].Name != docName {
			t.Fatalf("members %+v %v", ms, err)
		}
		// A second sign-up with the address, in another case, is refused
		// through the blind index's uniqueness, not answered with a new account.
		before := f.mail.count()
		if err := f.svc.SignUp(bg, identity.SignUpInput{Name: "Someone Else", Email: strings.ToUpper(docEmail), Password: goodPassword}, meta); err != nil {
			t.Fatal(err)
		}
		f.svc.Wait()
		if f.mail.count() != before+1 || !strings.Contains(f.mail.msgs[len(f.mail.msgs)-1].Subject, "tried to sign up") {
			t.Fatal("a second sign-up with the same address was not recognised")
		}
	})
}

// Rows written before migration 0120 hold the address and name in clear.
// SealAccounts seals them and overwrites the plaintext; the account still
// signs in and the invitation still opens, and a second run finds nothing.
func TestSealAccountsSealsLegacyPlaintextRows(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f, admin := invitedFixture(t, d)
		var hash string
		if err := d.Read.QueryRow(`SELECT password_hash FROM users WHERE id = $1`, admin.UserID).Scan(&hash); err != nil {
			t.Fatal(err)
		}
		now := time.Now().UnixMicro()
		const oldName, oldEmail, invitee = "Zephyrine Oldrow", "zephyrine.oldrow@clinic.example", "wendeline.farrow@home.example"
		if _, err := d.Write.Exec(`INSERT INTO users (id, email, name, password_hash, email_verified_at, created_at, password_at)
			VALUES ('u-legacy', $1, $2, $3, $4, $4, $4)`, oldEmail, oldName, hash, now); err != nil {
			t.Fatal(err)
		}
		if _, err := d.Write.Exec(`INSERT INTO memberships (workspace_id, user_id, role, created_at) VALUES ($1, 'u-legacy', 'staff', $2)`, admin.WorkspaceID, now); err != nil {
			t.Fatal(err)
		}
		const tok = "legacyinvitationtoken"
		sum := sha256.Sum256([]byte(tok))
		if _, err := d.Write.Exec(`INSERT INTO invitations (id, token_hash, kind, workspace_id, email, role, invited_by, created_at, expires_at)
			VALUES ('i-legacy', $1, 'member', $2, $3, 'staff', $4, $5, $6)`,
			hex.EncodeToString(sum[:]), admin.WorkspaceID, invitee, admin.UserID, f.clock.Now().UnixMicro(), f.clock.Now().Add(time.Hour).UnixMicro()); err != nil {
			t.Fatal(err)
		}
		n, err := f.svc.SealAccounts(bg)
		if err != nil || n != 2 {
			t.Fatalf("sealed %d rows, %v; want 2", n, err)
		}
		requireAbsent(t, d, oldName, oldEmail, invitee, "Zephyrine", "Farrow")
		if n, err := f.svc.SealAccounts(bg); err != nil || n != 0 {
			t.Fatalf("second run sealed %d rows, %v", n, err)
		}
		if _, err := f.svc.SignIn(bg, oldEmail, goodPassword, meta); err != nil {
			t.Fatalf("the legacy account signs in: %v", err)
		}
		if u, err := f.svc.User(bg, "u-legacy"); err != nil || u.Name != oldName || u.Email != oldEmail {
			t.Fatalf("legacy account reads %+v %v", u, err)
		}
		if inv, err := f.svc.InvitationByToken(bg, tok); err != nil || inv.Email != invitee {
			t.Fatalf("legacy invitation reads %+v %v", inv, err)
		}
	})
}
