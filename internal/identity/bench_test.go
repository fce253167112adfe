package identity_test

import (
	"testing"

	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

// BenchmarkSignIn measures a whole password sign-in (lookup, argon2id with
// DefaultHashParams, session creation) on SQLite. The parameters are chosen
// so this lands between 100 and 500 ms on the 2-core reference machine.
func BenchmarkSignIn(b *testing.B) {
	d := dbtest.SQLite(b)
	f := newFixture(b, d)
	svc, err := identity.New(d, f.mail, f.audit, identity.Config{BaseURL: "https://custodia.test", SealingKey: make([]byte, 32), AccountKey: accountKey(b)})
	if err != nil {
		b.Fatal(err)
	}
	f.svc = svc
	f.verifiedUser(b, "Ada Quimby", "ada@clinic.example", true)
	b.Logf("argon2id params: %+v", identity.DefaultHashParams)
	b.ResetTimer()
	for b.Loop() {
		if _, err := svc.SignIn(bg, "ada@clinic.example", goodPassword, meta); err != nil {
			b.Fatal(err)
		}
	}
}
