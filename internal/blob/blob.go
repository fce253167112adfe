// Package blob stores opaque objects (in practice ciphertext) by name: on
// local disk now, on an S3-compatible service later. Stores never see
// plaintext PHI; PutEncrypted and OpenEncrypted seal objects with a patient
// key on the way in and out, binding each object to its name.
package blob

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// Store holds objects by name. Put replaces an existing object atomically:
// readers see the old object or the new one, never a mix, and a failed Put
// leaves nothing new visible under the name.
type Store interface {
	// Put stores everything r yields under name and returns the byte count.
	Put(ctx context.Context, name string, r io.Reader) (int64, error)
	// Open returns the object's bytes; ErrNotFound if there is none.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// Delete removes the object; ErrNotFound if there is none.
	Delete(ctx context.Context, name string) error
	// Stat returns the object's stored size; ErrNotFound if there is none.
	Stat(ctx context.Context, name string) (int64, error)
}

// PendingObject is an object being written. Its bytes become visible under
// its name only when Commit returns nil; Abort, a failed Write or Commit, or
// a crash leaves nothing under the name.
type PendingObject interface {
	io.Writer
	// Commit makes the object visible under its name and returns its size.
	Commit() (int64, error)
	// Abort discards the object. It does nothing after Commit.
	Abort()
}

// Creator is a Store that also hands out objects to write into, so that
// PutEncrypted can encrypt straight into the object instead of passing the
// ciphertext through a pipe to Put. Create may return
// errors.ErrUnsupported, and callers then use Put.
type Creator interface {
	Create(ctx context.Context, name string) (PendingObject, error)
}

// ErrNotFound means no object has the name.
var ErrNotFound = errors.New("blob: object not found")

// ErrInvalidName means a name breaks the naming rules (see ValidName).
var ErrInvalidName = errors.New("blob: invalid object name: use 1-200 characters from a-z 0-9 _ - . in segments separated by single slashes, with no empty, \".\" or \"..\" segment and no leading or trailing slash")

// MaxNameLen keeps the on-disk file name (the name with slashes replaced)
// under the 255-byte limit of common file systems, and S3 keys short.
const MaxNameLen = 200

// ValidName checks name against the rules every Store enforces. The rules
// are strict so a name can never escape the store's directory or mean
// different things on disk and in an object store.
func ValidName(name string) error {
	if len(name) == 0 || len(name) > MaxNameLen {
		return ErrInvalidName
	}
	segStart := 0
	for i := 0; i <= len(name); i++ {
		if i == len(name) || name[i] == '/' {
			seg := name[segStart:i]
			if seg == "" || seg == "." || seg == ".." {
				return ErrInvalidName
			}
			segStart = i + 1
			continue
		}
		c := name[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '-' || c == '.') {
			return ErrInvalidName
		}
	}
	return nil
}

func invalidName(op, name string) error {
	// The name is quoted: it comes from our own code (ids), not from PHI.
	return fmt.Errorf("blob: %s %q: %w", op, name, ErrInvalidName)
}
