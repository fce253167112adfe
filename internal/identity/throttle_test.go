package identity_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/identity"
)

// TestOneAddressGuessingDoesNotLockOutItsNeighbours: behind a clinic's NAT
// everyone shares one address. 25 wrong passwords from it (5 at Ada's
// account, 20 sprayed over other addresses) must not refuse Bo's correct
// password from the same address. Ada's account from that address is held
// (her pair's count, and the address's, since it has failed at her), while
// Ada from another address signs in: her account has 5 failures in a row,
// under the account's 10 free tries, and the account rules are what bound
// guessing spread over addresses (TestGuessingSpreadOverAddressesIsThrottledPerAccount).
func TestOneAddressGuessingDoesNotLockOutItsNeighbours(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		f.verifiedUser(t, "Bo Ng", "bo@clinic.example", true)
		nat := meta
		nat.ClientAddr = "198.51.100.7"
		home := meta
		home.ClientAddr = "203.0.113.44"
		wrong := "wrong password here!"
		for i := range 25 {
			email := "ada@clinic.example"
			if i >= 5 {
				email = fmt.Sprintf("someone%d@clinic.example", i)
			}
			if _, err := f.svc.SignIn(bg, email, wrong, nat); codeOf(err) != "signin_failed" {
				t.Fatalf("failure %d (%s) was not evaluated: %v", i+1, email, err)
			}
		}
		if _, err := f.svc.SignIn(bg, "bo@clinic.example", goodPassword, nat); err != nil {
			t.Fatalf("Bo's correct password from the shared address: %v", err)
		}
		_, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, nat)
		e, ok := identity.AsError(err)
		if !ok || e.Kind != identity.KindThrottled {
			t.Fatalf("Ada from the guessing address was not slowed: %v", err)
		}
		// The address's 25 failures (2^5 s) outweigh the pair's 5 (1 s).
		if e.RetryAfter < 30*time.Second {
			t.Fatalf("Retry-After %v: the address's count does not hold the account it failed at", e.RetryAfter)
		}
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, home); err != nil {
			t.Fatalf("Ada from another address: %v", err)
		}
		// Her success clears her counts from every address.
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, nat); err != nil {
			t.Fatalf("Ada from the shared address after signing in elsewhere: %v", err)
		}
	})
}

// TestGuessingSpreadOverAddressesIsThrottledPerAccount: the account's own
// count holds whoever tries it next, from any address, once guesses from
// many addresses pass its free tries.
func TestGuessingSpreadOverAddressesIsThrottledPerAccount(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		for i := range 10 {
			m := meta
			m.ClientAddr = fmt.Sprintf("192.0.2.%d", 100+i)
			if _, err := f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", m); codeOf(err) != "signin_failed" {
				t.Fatalf("failure %d: %v", i+1, err)
			}
		}
		fresh := meta
		fresh.ClientAddr = "203.0.113.9"
		if _, err := f.svc.SignIn(bg, "ada@clinic.example", goodPassword, fresh); kindOf(err) != identity.KindThrottled {
			t.Fatalf("10 failures from 10 addresses, then a new address: %v, want throttled", err)
		}
		if _, err := f.svc.SignIn(bg, "bo@clinic.example", "wrong password here!", fresh); codeOf(err) != "signin_failed" {
			t.Fatalf("another account from that address: %v", err)
		}
	})
}

// TestThrottleCountersNameNoAccountAndNoAddress: the failure counters are
// found by keyed hashes, so someone who reads the database can neither read
// a client's address there nor confirm a guessed email by hashing it.
func TestThrottleCountersNameNoAccountAndNoAddress(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		f := newFixture(t, d)
		f.verifiedUser(t, "Ada Quimby", "ada@clinic.example", true)
		m := meta
		m.ClientAddr = "198.51.100.7"
		for range 3 {
			if _, err := f.svc.SignIn(bg, "ada@clinic.example", "wrong password here!", m); codeOf(err) != "signin_failed" {
				t.Fatalf("failure was not evaluated: %v", err)
			}
		}
		plain := sha256.Sum256([]byte("ada@clinic.example"))
		rows, err := d.Read.Query(`SELECT key FROM auth_failures`)
		if err != nil {
			t.Fatal(err)
		}
		defer rows.Close()
		n := 0
		for rows.Next() {
			var k string
			if err := rows.Scan(&k); err != nil {
				t.Fatal(err)
			}
			n++
			for _, leak := range []string{"198.51.100.7", "ada@clinic.example", hex.EncodeToString(plain[:])} {
				if strings.Contains(k, leak) {
					t.Errorf("counter key %q holds %q", k, leak)
				}
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		if n < 3 {
			t.Fatalf("%d counters after failures from one address at one account, want account, pair and address", n)
		}
	})
}
