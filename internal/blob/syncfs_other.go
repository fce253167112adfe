//go:build !linux

package blob

import "errors"

// syncFS is Linux only; elsewhere SyncShared falls back to Sync.
func syncFS(string) error { return errors.ErrUnsupported }
