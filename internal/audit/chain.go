package audit

import (
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"time"
)

// encodingVersion is the first byte of every canonical entry encoding the
// writer stores, so a later change to the encoding cannot be confused with
// this one. Version 2 says the entry's link is keyed: its hash is
// HMAC-SHA256(chain key, prev || encoding), which no one without the key
// hierarchy can recompute. Version 1 entries (and rows written before
// migration 0210, which store no encoding) were linked with plain SHA-256;
// Verify accepts them only as a prefix of the log that a signed checkpoint
// covers.
const (
	encodingVersion = 2
	unkeyedVersion  = 1
)

// chainKeyLabel separates the chain key from the checkpoint signing key,
// both derived from the same system secret (the signer's seed).
const chainKeyLabel = "custodia audit chain key v1"

// chainKey is the HMAC key of the keyed links: HMAC-SHA256(seed, label), a
// derivation of the system secret the signer comes from.
func chainKey(signer ed25519.PrivateKey) []byte {
	m := hmac.New(sha256.New, signer.Seed())
	m.Write([]byte(chainKeyLabel))
	return m.Sum(nil)
}

// newLinkMAC is the keyed hash of a link. It implements hash.Hash, so
// chainHash serves keyed and unkeyed links alike.
func newLinkMAC(signer ed25519.PrivateKey) hash.Hash { return hmac.New(sha256.New, chainKey(signer)) }

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
func appendHeader(b []byte, version byte, seq, micros int64, breakGlass bool) []byte {
	b = append(b, version)
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

// encode appends the canonical encoding of an entry to b, as the writer
// stores it (keyed).
func encode(b []byte, seq, micros int64, e *Event) []byte {
	return encodeVersion(b, encodingVersion, seq, micros, e)
}

// encodeVersion is encode with the version byte given: tests and
// benchmarks write unkeyed (version 1) logs with it, as older servers did.
func encodeVersion(b []byte, version byte, seq, micros int64, e *Event) []byte {
	b = appendHeader(b, version, seq, micros, e.BreakGlass)
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
// a known version.
func decodeEntry(enc []byte) (seq, micros int64, breakGlass bool, f [15][]byte, ok bool) {
	if len(enc) < headerSize || enc[0] != encodingVersion && enc[0] != unkeyedVersion || enc[17] > 1 {
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

// chainHash is h(prev || canonical encoding), where h is the link MAC of a
// keyed entry or SHA-256 of an unkeyed one. h is reset and reused so the
// verifier does not allocate per entry; out receives the sum.
func chainHash(h hash.Hash, prev []byte, enc []byte, out []byte) []byte {
	h.Reset()
	h.Write(prev)
	h.Write(enc)
	return h.Sum(out[:0])
}

// microsOf converts a time to the stored unit.
func microsOf(t time.Time) int64 { return t.UnixMicro() }

// checkpointMessage is what a version 1 checkpoint (written before
// migration 0230) signs. The context string keeps a checkpoint signature
// from being valid for anything else the key signs.
func checkpointMessage(seq int64, head []byte, micros int64) []byte {
	b := make([]byte, 0, 64+HashSize)
	b = append(b, "custodia audit checkpoint v1\n"...)
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint64(b, uint64(micros))
	return b
}

// checkpointMessageV2 is what a checkpoint signs from migration 0230 on:
// besides the head it names its own number (1, 2, ... over all
// checkpoints, version 1 ones included) and the SHA-256 of the previous
// checkpoint's signed message, so the checkpoints form a chain of their own
// and a missing or reordered one is visible, and why it was written.
func checkpointMessageV2(number int64, kind checkpointKind, seq int64, head []byte, micros int64, prev []byte) []byte {
	b := make([]byte, 0, 64+2*HashSize)
	b = append(b, "custodia audit checkpoint v2\n"...)
	b = binary.BigEndian.AppendUint64(b, uint64(number))
	b = append(b, byte(kind))
	b = binary.BigEndian.AppendUint64(b, uint64(seq))
	b = append(b, head...)
	b = binary.BigEndian.AppendUint64(b, uint64(micros))
	return append(b, prev...)
}

// checkpointKind says why a checkpoint was written.
type checkpointKind uint8

const (
	kindInterval checkpointKind = 0 // the interval passed while entries flowed
	kindFinal    checkpointKind = 1 // the log closed cleanly
	kindOpen     checkpointKind = 2 // the log opened on entries no checkpoint covered
)

// KeyID names a checkpoint signing key: the hex SHA-256 of its public key.
func KeyID(pub ed25519.PublicKey) string {
	s := sha256.Sum256(pub)
	return hex.EncodeToString(s[:])
}
