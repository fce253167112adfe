package outreach

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/ids"
)

// Signer makes and checks unsubscribe tokens: a patient id and a purpose,
// signed with HMAC-SHA-256 under a secret from the key hierarchy
// (keys.SystemSecret "unsubscribe"). A token carries no PHI and no address,
// only the patient's opaque id and the purpose code, and without the secret
// none can be made or altered. Tokens do not expire: an unsubscribe link in
// an old message must keep working.
type Signer struct{ key []byte }

// NewSigner returns a signer keyed with key (32 bytes).
func NewSigner(key []byte) (*Signer, error) {
	if len(key) < 32 {
		return nil, errors.New("outreach: the unsubscribe key must be 32 bytes")
	}
	return &Signer{key: append([]byte(nil), key...)}, nil
}

// tokenVersion is the first field of a token's payload, so the format can
// change without old links being read the wrong way.
const tokenVersion = "u1"

// MaxTokenLen bounds what Verify reads.
const MaxTokenLen = 200

// ErrBadToken is a token that is malformed, altered or not ours.
var ErrBadToken = errors.New("outreach: the unsubscribe link is not valid")

var b64 = base64.RawURLEncoding

func (s *Signer) mac(payload string) []byte {
	m := hmac.New(sha256.New, s.key)
	m.Write([]byte("custodia unsubscribe\x00"))
	m.Write([]byte(payload))
	return m.Sum(nil)
}

// Token returns the token naming patientID and purpose: URL-safe base64 of
// the payload, a dot, and the URL-safe base64 of its HMAC.
func (s *Signer) Token(patientID string, purpose consent.PurposeCode) string {
	payload := tokenVersion + "." + patientID + "." + string(purpose)
	return b64.EncodeToString([]byte(payload)) + "." + b64.EncodeToString(s.mac(payload))
}

// Verify checks tok and returns the patient and purpose it names.
func (s *Signer) Verify(tok string) (string, consent.PurposeCode, error) {
	if len(tok) == 0 || len(tok) > MaxTokenLen {
		return "", "", ErrBadToken
	}
	p64, m64, ok := strings.Cut(tok, ".")
	if !ok {
		return "", "", ErrBadToken
	}
	payload, err := b64.DecodeString(p64)
	if err != nil {
		return "", "", ErrBadToken
	}
	sum, err := b64.DecodeString(m64)
	if err != nil || !hmac.Equal(sum, s.mac(string(payload))) {
		return "", "", ErrBadToken
	}
	f := strings.Split(string(payload), ".")
	if len(f) != 3 || f[0] != tokenVersion || !ids.Valid(f[1]) || !consent.Unsubscribable[consent.PurposeCode(f[2])] {
		return "", "", ErrBadToken
	}
	return f[1], consent.PurposeCode(f[2]), nil
}
