package audit

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// encodingVersion is the first byte of every canonical entry encoding, so a
// later change to the encoding cannot be confused with this one.
const encodingVersion = 1

// HashSize is the size of an entry hash (SHA-256).
const HashSize = sha256.Size

// maxField bounds every text field of an event. Fields hold ids and codes;
// anything longer is a bug or an attack, and a bound keeps the length
// prefix of the canonical encoding well inside 32 bits.
const maxField = 1024

// genesis is the prev_hash of entry 1.
var genesis [HashSize]byte

// fields lists an event's text fields in their one canonical order. Adding a
// field means a new encodingVersion.
func fields(e *Event) [15]string {
	return [15]string{
		e.ActorUserID, e.ActorTokenID, e.ActorRole, e.WorkspaceID, e.OnBehalfOf,
		e.Action, e.ResourceType, e.ResourceID, e.PatientID, e.Purpose,
		e.Decision, e.Reason, e.ClientAddr, e.RequestID, e.Outcome,
	}
}

// appendHeader appends the fixed-size start of the canonical encoding:
// version, seq, time and the break-glass flag.
func appendHeader(b []byte, seq, micros int64, breakGlass bool) []byte {
	b = append(b, encodingVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = binary.BigEndian.AppendUint64(b, uint64(micros))
	if breakGlass {
		return append(b, 1)
	}
	return append(b, 0)
}

// appendField appends one length-prefixed field. The prefix makes the
// encoding unambiguous: ("ab","c") and ("a","bc") encode differently.
func appendField[T ~string | ~[]byte](b []byte, f T) []byte {
	b = binary.BigEndian.AppendUint32(b, uint32(len(f)))
	return append(b, f...)
}

// encode appends the canonical encoding of an entry to b.
func encode(b []byte, seq, micros int64, e *Event) []byte {
	b = appendHeader(b, seq, micros, e.BreakGlass)
	for _, f := range fields(e) {
		b = appendField(b, f)
	}
	return b
}

// chainHash is SHA-256(prev || canonical encoding). h is reset and reused so
// the verifier does not allocate per entry; out receives the sum.
func chainHash(h hash.Hash, prev []byte, enc []byte, out []byte) []byte {
	h.Reset()
	h.Write(prev)
	h.Write(enc)
	return h.Sum(out[:0])
}

// microsOf converts a time to the stored unit.
func microsOf(t time.Time) int64 { return t.UnixMicro() }

// checkpointMessage is what a checkpoint signs. The context string keeps a
// checkpoint signature from being valid for anything else the key signs.
func checkpointMessage(seq int64, head []byte, micros int64) []byte {
	b := make([]byte, 0, 64+HashSize)
	b = append(b, "custodia audit checkpoint v1\n"...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint64(b, uint64(micros))
	return b
}

// KeyID names a checkpoint signing key: the hex SHA-256 of its public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:])
}
