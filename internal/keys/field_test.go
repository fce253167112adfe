package keys

import (
	"bytes"
	"errors"
	"strings"
	"testing"
)

func mustKey(tb testing.TB) *Key {
	tb.Helper()
	k, err := NewRandomKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func TestFieldRoundTrip(t *testing.T) {
	k := mustKey(t)
	ad := FieldAD{Table: "patients", RowID: "p1", Column: "name"}
	for _, tc := range []struct {
		name string
		pt   []byte
	}{
		{"empty", []byte{}},
		{"short", []byte("Ana Ruiz")},
		{"unicode", []byte("Zoë Ørsted — 山田")},
		{"binary", bytes.Repeat([]byte{0, 255, 7}, 1000)},
		{"one MiB", bytes.Repeat([]byte("x"), 1<<20)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ct, err := SealField(k, tc.pt, ad)
			if err != nil {
				t.Fatal(err)
			}
			if len(ct) != len(tc.pt)+fieldOverhead {
				t.Errorf("ciphertext length %d, want %d", len(ct), len(tc.pt)+fieldOverhead)
			}
			if len(tc.pt) >= 8 && bytes.Contains(ct, tc.pt[:8]) {
				t.Error("ciphertext contains plaintext")
			}
			got, err := OpenField(k, ct, ad)
			if err != nil {
				t.Fatal(err)
			}
			if got == nil || !bytes.Equal(got, tc.pt) {
				t.Errorf("round trip mismatch")
			}
		})
	}
}

func TestFieldSealIsRandomised(t *testing.T) {
	k := mustKey(t)
	ad := FieldAD{"patients", "p1", "name"}
	a, _ := SealField(k, []byte("same"), ad)
	b, _ := SealField(k, []byte("same"), ad)
	if bytes.Equal(a, b) {
		t.Fatal("two seals of the same value are equal: nonce is not random")
	}
}

func TestFieldOpenRejects(t *testing.T) {
	k := mustKey(t)
	ad := FieldAD{Table: "patients", RowID: "p1", Column: "name"}
	ct, err := SealField(k, []byte("Ana Ruiz"), ad)
	if err != nil {
		t.Fatal(err)
	}
	other, err := SealField(k, []byte("Bo Lind"), FieldAD{Table: "patients", RowID: "p2", Column: "name"})
	if err != nil {
		t.Fatal(err)
	}
	flip := func(i int) []byte {
		c := bytes.Clone(ct)
		c[i] ^= 1
		return c
	}
	for _, tc := range []struct {
		name string
		key  *Key
		ct   []byte
		ad   FieldAD
	}{
		{"tampered version byte", k, flip(0), ad},
		{"tampered nonce", k, flip(1), ad},
		{"tampered ciphertext", k, flip(fieldOverhead - 16 + 1), ad},
		{"tampered tag", k, flip(len(ct) - 1), ad},
		{"truncated", k, ct[:len(ct)-1], ad},
		{"too short", k, ct[:fieldOverhead-1], ad},
		{"empty", k, nil, ad},
		{"wrong key", mustKey(t), ct, ad},
		{"wrong table", k, ct, FieldAD{"cases", "p1", "name"}},
		{"wrong row", k, ct, FieldAD{"patients", "p2", "name"}},
		{"wrong column", k, ct, FieldAD{"patients", "p1", "email"}},
		{"swapped between rows", k, other, ad},
		{"ambiguous concatenation", k, ct, FieldAD{"patientsp", "1", "name"}},
		{"ambiguous concatenation 2", k, ct, FieldAD{"patients", "p1n", "ame"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			pt, err := OpenField(tc.key, tc.ct, tc.ad)
			if !errors.Is(err, ErrDecrypt) || err != ErrDecrypt {
				t.Fatalf("err = %v, want exactly ErrDecrypt", err)
			}
			if pt != nil {
				t.Fatal("plaintext returned with error")
			}
			if strings.Contains(err.Error(), "Ana") {
				t.Fatal("error contains plaintext")
			}
		})
	}
}

func TestBlindIndex(t *testing.T) {
	k := mustKey(t)
	a := BlindIndex(k, "name", Normalise("  Ana   RUIZ "))
	b := BlindIndex(k, "name", Normalise("ana ruiz"))
	if len(a) != BlindIndexSize || !bytes.Equal(a, b) {
		t.Fatalf("equal normalised values must index equally: %x %x", a, b)
	}
	for _, tc := range []struct {
		name string
		got  []byte
	}{
		{"other value", BlindIndex(k, "name", "ana ruis")},
		{"other field", BlindIndex(k, "email", "ana ruiz")},
		{"other key", BlindIndex(mustKey(t), "name", "ana ruiz")},
		{"field/value boundary", BlindIndex(k, "namea", "na ruiz")},
	} {
		if bytes.Equal(tc.got, a) {
			t.Errorf("%s: index collides", tc.name)
		}
	}
	// Domain separation: the index is not a plain HMAC under the raw key.
	if bytes.Equal(k.blindKey(), k.b[:]) {
		t.Error("blind index key equals the encryption key")
	}
}

func TestNormalise(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", ""},
		{"   ", ""},
		{"Ana", "ana"},
		{"  Ana \t\n Ruiz  ", "ana ruiz"},
		{"ANA\u00a0RUIZ", "ana ruiz"},
		{"Zoe\u0308", "zo\u00eb"}, // decomposed ë composes (NFC)
		{"ZOË", "zoë"},
	} {
		if got := Normalise(tc.in); got != tc.want {
			t.Errorf("Normalise(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
