package app

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"

	"github.com/custodia-health/custodia/internal/config"
)

// AuditKeyFile holds the seed of the key that signs audit checkpoints.
const AuditKeyFile = "audit-signing.key"

// AuditSigner returns the key that signs audit checkpoints, creating it on
// first run. Interim: the seed lives in the data directory (mode 0600); it
// is meant to be derived from the master key instead, so that every server
// on one PostgreSQL signs with the same key and the key is backed up with
// the master. Only this function changes when that lands.
func AuditSigner(cfg *config.Config) (ed25519.PrivateKey, error) {
	path := filepath.Join(cfg.DataDir, AuditKeyFile)
	seed, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		seed = make([]byte, ed25519.SeedSize)
		if _, err := rand.Read(seed); err != nil {
			return nil, fmt.Errorf("create audit signing key: %w", err)
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, fmt.Errorf("create audit signing key: %w", err)
		}
		_, werr := f.Write(seed)
		if err := errors.Join(werr, f.Sync(), f.Close()); err != nil {
			return nil, fmt.Errorf("create audit signing key: %w", err)
		}
		return ed25519.NewKeyFromSeed(seed), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read audit signing key: %w", err)
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("read audit signing key: %s is not a %d-byte seed", path, ed25519.SeedSize)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
