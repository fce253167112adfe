// Package ids makes the random identifiers of records, files and keys.
// Ids go into URLs and logs, so they carry no meaning: 128 bits from the
// operating system's CSPRNG, in hex.
package ids

import (
	"crypto/rand"
	"encoding/hex"
)

// New returns a random 128-bit id as 32 hex characters.
func New() string {
	var b [16]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (it panics instead)
	return hex.EncodeToString(b[:])
}
