package keys

import (
	"bytes"
	"errors"
	"testing"
)

// fuzzKey is fixed so that seeds sealed in one run are valid in the next.
var fuzzKey = newKey(bytes.Repeat([]byte{0x42}, KeySize))

func FuzzOpenField(f *testing.F) {
	ad := FieldAD{"patients", "p1", "name"}
	valid, err := SealField(fuzzKey, []byte("Ana Ruiz"), ad)
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, ad.Table, ad.RowID, ad.Column)
	f.Add([]byte{}, "", "", "")
	f.Add(valid[:fieldOverhead], "patients", "p1", "name")
	f.Fuzz(func(t *testing.T, ct []byte, table, row, column string) {
		got := FieldAD{table, row, column}
		pt, err := OpenField(fuzzKey, ct, got)
		if err != nil {
			if err != ErrDecrypt || pt != nil {
				t.Fatalf("failure must be bare ErrDecrypt with no plaintext, got %v, %d bytes", err, len(pt))
			}
			return
		}
		// Seeds are sealed with random nonces in each fuzzing process, so
		// check what was accepted rather than comparing bytes.
		if got != ad || string(pt) != "Ana Ruiz" || len(ct) != len(valid) {
			t.Fatalf("forged ciphertext accepted: %x", ct)
		}
	})
}

func FuzzDecryptingReader(f *testing.F) {
	ad := []byte("objects/fuzz")
	sizes := []int{0, 1, 100, SegmentSize + 5}
	for _, n := range sizes {
		f.Add(encryptStream(f, fuzzKey, ad, patternBytes(n)))
	}
	f.Add([]byte{})
	f.Add([]byte{streamVersion})
	longest := patternBytes(sizes[len(sizes)-1])
	f.Fuzz(func(t *testing.T, ct []byte) {
		out, err := decryptStream(fuzzKey, ad, ct)
		// Whatever is released must be authentic plaintext.
		if len(out) > len(longest) || !bytes.Equal(out, longest[:len(out)]) {
			t.Fatalf("released %d bytes of unauthenticated plaintext", len(out))
		}
		if err != nil {
			if !errors.Is(err, ErrDecrypt) {
				t.Fatalf("err = %v, want ErrDecrypt", err)
			}
			return
		}
		// Seeds get fresh random salts in each fuzzing process, so an
		// accepted stream is checked by what it decrypted to: exactly one of
		// the seed plaintexts, from a stream of exactly its size.
		for _, n := range sizes {
			if len(out) == n && int64(len(ct)) == CiphertextSize(int64(n)) {
				return
			}
		}
		t.Fatalf("forged stream of %d bytes accepted (%d bytes of plaintext)", len(ct), len(out))
	})
}
