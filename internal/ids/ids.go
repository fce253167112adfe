// Package ids makes the random identifiers of records, files and keys.
// Ids go into URLs and logs, so they carry no meaning: 128 bits from the
// operating system's CSPRNG, in hex.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// hexLen is the length of the random part: 16 bytes in lowercase hex.
const hexLen = 32

// maxPrefix is the longest kind prefix before the underscore, as in
// "ce_" for a consent event or "nv_" for a notice version.
const maxPrefix = 8

// New returns a random 128-bit id as 32 hex characters.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}

// Valid reports whether s has the shape of an id Custodia makes: New's 32
// lowercase hex characters, optionally after a kind prefix of up to eight
// lowercase letters and an underscore ("ce_…"). Anything else (a name typed
// into a URL, a megabyte of text) is not an id and must not be looked up,
// logged or audited as one.
func Valid(s string) bool {
	if len(s) < hexLen || len(s) > hexLen+maxPrefix+1 {
		return false
	}
	if p := len(s) - hexLen; p > 0 {
		if p < 2 || s[p-1] != '_' {
			return false
		}
		for i := 0; i < p-1; i++ {
			if s[i] < 'a' || s[i] > 'z' {
				return false
			}
		}
	}
	for i := len(s) - hexLen; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
