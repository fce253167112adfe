// Package keys holds Custodia's key hierarchy and the encryption built on it:
// a master key (from the environment or a 0600 file) wraps per-workspace keys,
// which wrap per-patient data keys stored in the data_keys table. PHI fields
// are sealed with AES-256-GCM bound to their table, row and column; files are
// sealed with a segmented streaming AEAD so memory stays flat for any size;
// exact-match search uses blind indexes. Destroying a patient's wrapped key
// (ShredPatient) makes everything sealed under it unreadable.
package keys

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"fmt"
	"strings"
	"sync"
	"unicode"

	"golang.org/x/text/unicode/norm"
)

// KeySize is the length of every key in the hierarchy: AES-256.
const KeySize = 32

// ErrDecrypt is the only error a caller sees when ciphertext does not
// authenticate: wrong key, wrong associated data, tampering, truncation or
// garbage all look the same, so errors cannot leak which one it was (and
// never carry plaintext or key bytes).
var ErrDecrypt = errors.New("keys: ciphertext could not be decrypted or failed authentication")

// Key is a 32-byte AES-256 key. It is used through a pointer and never
// copied, because it lazily caches the cipher state derived from it (building
// an AES-GCM instance per field would cost more than sealing the field).
type Key struct {
	b [KeySize]byte

	fieldOnce sync.Once
	field     cipher.AEAD // AES-256-GCM with random 96-bit nonces
	fieldErr  error

	blindOnce sync.Once
	blind     [KeySize]byte // HMAC key for blind indexes
}

// NewRandomKey returns a fresh key from the operating system's CSPRNG.
func NewRandomKey() (*Key, error) {
	k := new(Key)
	if _, err := rand.Read(k.b[:]); err != nil {
		return nil, fmt.Errorf("keys: read random key: %w", err)
	}
	return k, nil
}

// newKey copies b (which must be KeySize bytes) into a new Key.
func newKey(b []byte) *Key {
	if len(b) != KeySize {
		panic("keys: internal error: key of wrong length")
	}
	k := new(Key)
	copy(k.b[:], b)
	return k
}

// derive returns a subkey of k for the purpose named by info, so that one
// stored key can serve several uses without any two sharing raw key bytes.
func (k *Key) derive(salt []byte, info string) *Key {
	b, err := hkdf.Key(sha256.New, k.b[:], salt, info, KeySize)
	if err != nil {
		// Only possible for absurd output lengths; KeySize is fixed.
		panic("keys: internal error: hkdf: " + err.Error())
	}
	return newKey(b)
}

// fieldAEAD returns k's cached AES-256-GCM instance with random nonces.
func (k *Key) fieldAEAD() (cipher.AEAD, error) {
	k.fieldOnce.Do(func() {
		var blk cipher.Block
		blk, k.fieldErr = aes.NewCipher(k.b[:])
		if k.fieldErr == nil {
			k.field, k.fieldErr = cipher.NewGCMWithRandomNonce(blk)
		}
	})
	return k.field, k.fieldErr
}

// Version bytes lead every ciphertext so the format can change later without
// guessing what old bytes are.
const (
	fieldVersion  byte = 1
	wrapVersion   byte = 1
	streamVersion byte = 1
)

// FieldAD names where a sealed field lives. It is bound into the ciphertext
// as associated data so a ciphertext copied into another row, column or
// table fails to open instead of silently showing one patient's data as
// another's.
type FieldAD struct{ Table, RowID, Column string }

// appendLP appends s with a 4-byte big-endian length prefix, so that
// concatenated fields are unambiguous ("ab"+"c" differs from "a"+"bc").
func appendLP(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

func (ad FieldAD) encode(version byte) []byte {
	b := make([]byte, 0, 32+len(ad.Table)+len(ad.RowID)+len(ad.Column))
	b = append(b, "custodia.field"...)
	b = append(b, version)
	b = appendLP(b, ad.Table)
	b = appendLP(b, ad.RowID)
	return appendLP(b, ad.Column)
}

// fieldOverhead is version byte + nonce + GCM tag.
const fieldOverhead = 1 + 12 + 16

// SealField encrypts one PHI field value with AES-256-GCM under k, binding
// the table, row id and column. Output: version byte || nonce || ciphertext || tag.
// A key may seal at most 2^32 fields (random-nonce limit); per-patient keys
// stay far below that.
func SealField(k *Key, plaintext []byte, ad FieldAD) ([]byte, error) {
	aead, err := k.fieldAEAD()
	if err != nil {
		return nil, fmt.Errorf("keys: seal field: %w", err)
	}
	out := make([]byte, 1, fieldOverhead+len(plaintext))
	out[0] = fieldVersion
	return aead.Seal(out, nil, plaintext, ad.encode(fieldVersion)), nil
}

// OpenField reverses SealField. Any failure is ErrDecrypt.
func OpenField(k *Key, ct []byte, ad FieldAD) ([]byte, error) {
	if len(ct) < fieldOverhead || ct[0] != fieldVersion {
		return nil, ErrDecrypt
	}
	aead, err := k.fieldAEAD()
	if err != nil {
		return nil, ErrDecrypt
	}
	pt, err := aead.Open(nil, nil, ct[1:], ad.encode(ct[0]))
	if err != nil {
		return nil, ErrDecrypt
	}
	if pt == nil {
		pt = []byte{} // an empty field is a value, not "absent"
	}
	return pt, nil
}

// blindKey returns k's cached HMAC key for blind indexes, derived so that
// indexing and encryption never share key bytes.
func (k *Key) blindKey() []byte {
	k.blindOnce.Do(func() {
		d := k.derive(nil, "custodia blind-index hmac v1")
		k.blind = d.b
	})
	return k.blind[:]
}

// BlindIndexSize is the length of a blind index: 128 bits is enough to make
// accidental collisions irrelevant while keeping index columns small.
const BlindIndexSize = 16

// BlindIndex returns a keyed HMAC-SHA256 of a normalised value for
// exact-match search on an encrypted column. field separates columns so equal
// values in different columns do not produce equal indexes. The caller
// normalises (see Normalise) so that the same value always indexes the same.
// Use the workspace's BlindKey, not a patient key: the index must be
// computable before the patient is known.
func BlindIndex(k *Key, field string, normalised string) []byte {
	m := hmac.New(sha256.New, k.blindKey())
	var lp [4]byte
	binary.BigEndian.PutUint32(lp[:], uint32(len(field)))
	m.Write(lp[:])
	m.Write([]byte(field))
	m.Write([]byte(normalised))
	return m.Sum(nil)[:BlindIndexSize]
}

// Normalise prepares a value for BlindIndex: Unicode NFC (so composed and
// decomposed accents match), lower case, no leading or trailing space, and
// internal runs of white space collapsed to one space. Without it "Ana  Ruiz"
// and "ana ruiz" would not find each other.
func Normalise(s string) string {
	s = norm.NFC.String(strings.ToLower(s))
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range s {
		if unicode.IsSpace(r) {
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}
