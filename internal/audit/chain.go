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

// headerSize is the length of appendHeader's output.
const headerSize = 1 + 8 + 8 + 1

// Positions of the fields that queries filter on, in fields' order.
const (
	fieldActorUserID = 0
	fieldWorkspaceID = 3
	fieldAction      = 5
	fieldPatientID   = 8
)

// decodeEntry splits a canonical encoding into its header and fields (the
// fields alias enc). ok is false if enc is not a well-formed encoding of
// this version.
func decodeEntry(enc []byte) (seq, micros int64, breakGlass bool, f [15][]byte, ok bool) {
	if len(enc) < headerSize || enc[0] != encodingVersion || enc[17] > 1 {
		return 0, 0, false, f, false
	}
	seq = int64(binary.BigEndian.Uint64(enc[1:9]))
	micros = int64(binary.BigEndian.Uint64(enc[9:17]))
	breakGlass = enc[17] == 1
	rest := enc[headerSize:]
	for i := range f {
		if len(rest) < 4 {
			return 0, 0, false, f, false
		}
		n := binary.BigEndian.Uint32(rest)
		rest = rest[4:]
		if uint64(n) > uint64(len(rest)) {
			return 0, 0, false, f, false
		}
		f[i], rest = rest[:n:n], rest[n:]
	}
	return seq, micros, breakGlass, f, len(rest) == 0
}

// entryFromEncoding rebuilds a stored entry from its canonical encoding.
func entryFromEncoding(enc []byte) (Entry, bool) {
	seq, micros, bg, f, ok := decodeEntry(enc)
	if !ok {
		return Entry{}, false
	}
	return Entry{Seq: seq, Event: Event{
		Time:        time.UnixMicro(micros).UTC(),
		ActorUserID: string(f[0]), ActorTokenID: string(f[1]), ActorRole: string(f[2]), WorkspaceID: string(f[3]),
		OnBehalfOf: string(f[4]), Action: string(f[5]), ResourceType: string(f[6]), ResourceID: string(f[7]),
		PatientID: string(f[8]), Purpose: string(f[9]), Decision: string(f[10]), Reason: string(f[11]),
		BreakGlass: bg, ClientAddr: string(f[12]), RequestID: string(f[13]), Outcome: string(f[14]),
	}}, true
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
