package identity

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"runtime"
	"strings"

	"golang.org/x/crypto/argon2"
)

// HashParams are argon2id's cost parameters.
type HashParams struct {
	Memory  uint32 // KiB
	Time    uint32 // passes
	Threads uint8
}

// DefaultHashParams: m=64 MiB, t=5, p=2. BenchmarkSignIn (a whole sign-in:
// lookup, argon2id, session insert) measured 65 ms/op at t=3 on the idle
// 2-core development machine and 145-180 ms/op at t=4 while other builds
// ran; t=5 puts an idle sign-in just over 100 ms and a busy one near 250 ms,
// inside the 100-500 ms budget. 64 MiB is RFC 9106's second recommended
// memory cost and what makes GPU guessing expensive; p=2 matches two cores.
// Hashes carry their parameters, so raising these later rehashes each user
// at their next sign-in.
var DefaultHashParams = HashParams{Memory: 64 * 1024, Time: 5, Threads: 2}

// hasher hashes and verifies passwords. A semaphore bounds how many hashes
// run at once, so a burst of sign-ins cannot take 64 MiB each without limit.
type hasher struct {
	p   HashParams
	sem chan struct{}
}

func newHasher(p HashParams) *hasher {
	return &hasher{p: p, sem: make(chan struct{}, max(2, runtime.NumCPU()))}
}

const saltLen, keyLen = 16, 32

var b64 = base64.RawStdEncoding

func (h *hasher) hash(password string) (string, error) {
	salt := make([]byte, saltLen)
	if _, err := rand.Read(salt); err != nil {
		return "", fmt.Errorf("hash password: %w", err)
	}
	h.sem <- struct{}{}
	key := argon2.IDKey([]byte(password), salt, h.p.Time, h.p.Memory, h.p.Threads, keyLen)
	<-h.sem
	return fmt.Sprintf("$argon2id$v=%d$m=%d,t=%d,p=%d$%s$%s", argon2.Version, h.p.Memory, h.p.Time, h.p.Threads,
		b64.EncodeToString(salt), b64.EncodeToString(key)), nil
}

// verify reports whether password matches encoded, and whether encoded was
// made with weaker parameters than the current ones and should be redone.
func (h *hasher) verify(password, encoded string) (ok, rehash bool, err error) {
	p, salt, want, err := parseHash(encoded)
	if err != nil {
		return false, false, err
	}
	h.sem <- struct{}{}
	got := argon2.IDKey([]byte(password), salt, p.Time, p.Memory, p.Threads, uint32(len(want)))
	<-h.sem
	ok = subtle.ConstantTimeCompare(got, want) == 1
	return ok, p != h.p, nil
}

func parseHash(encoded string) (HashParams, []byte, []byte, error) {
	var p HashParams
	parts := strings.Split(encoded, "$")
	if len(parts) != 6 || parts[1] != "argon2id" {
		return p, nil, nil, errors.New("parse password hash: not an argon2id hash")
	}
	var v int
	if _, err := fmt.Sscanf(parts[2], "v=%d", &v); err != nil || v != argon2.Version {
		return p, nil, nil, errors.New("parse password hash: unsupported version")
	}
	if _, err := fmt.Sscanf(parts[3], "m=%d,t=%d,p=%d", &p.Memory, &p.Time, &p.Threads); err != nil {
		return p, nil, nil, fmt.Errorf("parse password hash: parameters: %w", err)
	}
	salt, err := b64.DecodeString(parts[4])
	if err != nil {
		return p, nil, nil, fmt.Errorf("parse password hash: salt: %w", err)
	}
	key, err := b64.DecodeString(parts[5])
	if err != nil || len(key) == 0 {
		return p, nil, nil, errors.New("parse password hash: key")
	}
	return p, salt, key, nil
}

// sealer encrypts small secrets (TOTP seeds) with AES-256-GCM. The
// associated data binds each ciphertext to its owner, so a sealed secret
// copied to another user's row does not open.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != 32 {
		return nil, errors.New("new identity service: the secret-sealing key must be 32 bytes")
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, fmt.Errorf("new identity service: %w", err)
	}
	g, err := cipher.NewGCM(b)
	if err != nil {
		return nil, fmt.Errorf("new identity service: %w", err)
	}
	return &sealer{aead: g}, nil
}

func (s *sealer) seal(plain []byte, ad string) []byte {
	nonce := make([]byte, s.aead.NonceSize())
	_, _ = rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(ad))
}

func (s *sealer) open(sealed []byte, ad string) ([]byte, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("open sealed secret: too short")
	}
	p, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(ad))
	if err != nil {
		return nil, fmt.Errorf("open sealed secret: %w", err)
	}
	return p, nil
}
