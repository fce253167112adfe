//go:build !linux

package blob

import (
	"errors"
	"os"
)

// syncFS is Linux only; elsewhere SyncShared falls back to Sync.
func syncFS(string) error { return errors.ErrUnsupported }

// startWriteback is Linux only; elsewhere the fsync does all the work.
func startWriteback(*os.File, int64, int64) {}
