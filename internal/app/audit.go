package app

import (
	"context"
	"crypto/ed25519"
	"fmt"

	"github.com/custodia-health/custodia/internal/keys"
)

// AuditSigner returns the key that signs audit checkpoints. Its seed is a
// system secret of the key hierarchy, so every server on one database signs
// with the same key, the key is backed up with the master, and rotating the
// master keeps old checkpoints verifiable.
func AuditSigner(ctx context.Context, kr *keys.Keyring) (ed25519.PrivateKey, error) {
	seed, err := kr.SystemSecret(ctx, "audit")
	if err != nil {
		return nil, fmt.Errorf("derive audit signing key: %w", err)
	}
	return ed25519.NewKeyFromSeed(seed), nil
}
