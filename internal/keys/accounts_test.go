package keys

import (
	"bytes"
	"context"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// The account key seals every account's email and name: it must stay the
// same key across a master rotation (rotation rewraps, never re-encrypts),
// and it must be its own key, not the TOTP secret or a workspace key.
func TestAccountKeySurvivesMasterRotationAndIsItsOwnKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		m1 := mustMaster(t)
		k1, err := NewKeyring(d, m1).AccountKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		ad := FieldAD{Table: "users", RowID: "u1", Column: "email_enc"}
		ct, err := SealField(k1, []byte("ann@example.org"), ad)
		if err != nil {
			t.Fatal(err)
		}
		idx := BlindIndex(k1, "users.email", "ann@example.org")
		totp, _ := NewKeyring(d, m1).SystemSecret(ctx, "totp")
		if bytes.Equal(totp, k1.b[:]) {
			t.Fatal("the account key is the TOTP secret")
		}
		m2 := mustMaster(t)
		if _, err := NewKeyring(d, m1).RotateMaster(ctx, m2); err != nil {
			t.Fatal(err)
		}
		k2, err := NewKeyring(d, m2).AccountKey(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if pt, err := OpenField(k2, ct, ad); err != nil || string(pt) != "ann@example.org" {
			t.Fatalf("after rotation the sealed email reads %q, %v", pt, err)
		}
		if !bytes.Equal(idx, BlindIndex(k2, "users.email", "ann@example.org")) {
			t.Fatal("rotation changed the email's blind index")
		}
		if _, err := NewKeyring(d, m1).AccountKey(ctx); err == nil {
			t.Fatal("the old master still opens the account key")
		}
	})
}
