package keys

import (
	"context"
	"fmt"
)

// accountsOwner is the reserved data_keys owner of the key that seals
// account fields. Like the "system:" secrets it is wrapped by the master key
// as a workspace key is, so `keys rotate` rewraps it and nothing sealed with
// it needs re-sealing.
const accountsOwner = "system:accounts"

// AccountKey returns the platform-level key for account fields (sign-in
// email, display name, an invitee's address). Accounts belong to no single
// workspace (sign-up comes before the workspace, and a user may join
// several), so a workspace key cannot seal them. Seal with SealField and
// index with BlindIndex under this key: BlindIndex derives its own HMAC key,
// so the two uses share no key bytes.
func (k *Keyring) AccountKey(ctx context.Context) (*Key, error) {
	e, err := k.workspace(ctx, accountsOwner)
	if err != nil {
		return nil, fmt.Errorf("keys: account key: %w", err)
	}
	return e.key.derive(nil, "custodia account field key v1"), nil
}
