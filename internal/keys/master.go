package keys

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeyFile is the name of the master key file inside the data directory.
const MasterKeyFile = "master.key"

// MasterEnv is the environment variable that, when set, supplies the master
// key instead of the file.
const MasterEnv = "CUSTODIA_MASTER_KEY"

// Master is the root of the key hierarchy. It lives outside the database
// (environment or key file) so that a stolen database alone reveals nothing;
// it only ever wraps workspace keys.
type Master struct {
	key *Key
	id  string
}

// ID names the master key in data_keys.wrapping_key so a wrong master is
// detected before any decryption is tried. It is derived through a keyed,
// domain-separated hash, so it reveals nothing about the key.
func (m *Master) ID() string { return m.id }

func newMaster(b []byte) *Master {
	mac := hmac.New(sha256.New, b)
	mac.Write([]byte("custodia master key id v1"))
	sum := sha256.Sum256(mac.Sum(nil))
	return &Master{key: newKey(b), id: hex.EncodeToString(sum[:8])}
}

// errMalformedMaster deliberately does not quote the input: it is a secret.
var errMalformedMaster = errors.New("malformed master key: expected 32 bytes written as standard base64 (44 characters) or hex (64 characters)")

// ParseMaster parses a master key written as standard base64 or hex of 32
// bytes (surrounding white space ignored). The error never contains s.
func ParseMaster(s string) (*Master, error) {
	s = strings.TrimSpace(s)
	var b []byte
	var err error
	if len(s) == 2*KeySize {
		b, err = hex.DecodeString(s)
	} else {
		b, err = base64.StdEncoding.DecodeString(s)
	}
	if err != nil || len(b) != KeySize {
		return nil, errMalformedMaster
	}
	return newMaster(b), nil
}

// GenerateMasterString returns a new random master key in the form
// ParseMaster reads (standard base64), for `custodia keys generate` and for
// first-run key files.
func GenerateMasterString() (string, error) {
	var b [KeySize]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("keys: read random master key: %w", err)
	}
	return base64.StdEncoding.EncodeToString(b[:]), nil
}

// LoadOrCreateMaster finds the master key: envValue (the content of
// CUSTODIA_MASTER_KEY) if non-empty, else <dataDir>/master.key, else a new
// key written to that file with mode 0600. created reports the last case so
// the caller can tell the operator to back the file up: without it the data
// cannot be read.
func LoadOrCreateMaster(dataDir string, envValue string) (m *Master, created bool, err error) {
	if envValue != "" {
		m, err := ParseMaster(envValue)
		if err != nil {
			return nil, false, fmt.Errorf("keys: %s: %w", MasterEnv, err)
		}
		return m, false, nil
	}
	path := filepath.Join(dataDir, MasterKeyFile)
	m, err = readMasterFile(path)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return m, false, err
	}
	return createMasterFile(dataDir, path)
}

// readMasterFile reads the key file, refusing one that others can read or
// write: a key that anyone on the machine can read protects nothing.
func readMasterFile(path string) (*Master, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("keys: open master key file: %w", err)
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("keys: stat master key file: %w", err)
	}
	if !fi.Mode().IsRegular() {
		return nil, fmt.Errorf("keys: master key file %s is not a regular file", path)
	}
	if perm := fi.Mode().Perm(); perm&0o077 != 0 {
		return nil, fmt.Errorf("keys: refusing master key file %s: its permissions are %#o, looser than 0600, so other users could read every record (fix with: chmod 600 %s)", path, perm, path)
	}
	b, err := io.ReadAll(io.LimitReader(f, 1024))
	if err != nil {
		return nil, fmt.Errorf("keys: read master key file: %w", err)
	}
	m, err := ParseMaster(string(b))
	if err != nil {
		return nil, fmt.Errorf("keys: master key file %s: %w", path, err)
	}
	return m, nil
}

// createMasterFile writes a new key to a temporary file, fsyncs it and links
// it into place. The link fails if the name exists, so two servers starting
// at once agree on one key and nobody ever reads a half-written file.
func createMasterFile(dataDir, path string) (*Master, bool, error) {
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, false, fmt.Errorf("keys: create data directory: %w", err)
	}
	s, err := GenerateMasterString()
	if err != nil {
		return nil, false, err
	}
	tmp, err := os.CreateTemp(dataDir, ".master.key.tmp-*") // mode 0600
	if err != nil {
		return nil, false, fmt.Errorf("keys: create master key file: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.WriteString(s + "\n")
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return nil, false, fmt.Errorf("keys: write master key file: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			m, err := readMasterFile(path)
			return m, false, err
		}
		return nil, false, fmt.Errorf("keys: create master key file: %w", err)
	}
	_ = os.Remove(tmp.Name()) // before the directory sync, so the removal is durable too
	if err := syncDir(dataDir); err != nil {
		return nil, false, fmt.Errorf("keys: sync data directory: %w", err)
	}
	m, err := ParseMaster(s)
	if err != nil {
		return nil, false, err
	}
	return m, true, nil
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
