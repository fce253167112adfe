package media

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/keys"
)

// stagingStore is a blob store that can write an object without waiting
// for the disk and make it durable later (blob.Local does). Upload chunks
// are worth nothing until Complete commits the file, so PutChunk writes
// them this way and fsyncs each in the background while the next chunk
// arrives; Complete waits for those fsyncs before the file row is
// committed. Waiting for each chunk's fsync inline stalled the pipeline
// (encrypt, write, wait for the disk, answer, next chunk) to a third of
// the disk's speed.
type stagingStore interface {
	blob.Store
	PutNoSync(ctx context.Context, name string, r io.Reader) (int64, error)
	Sync(ctx context.Context, name string) error
}

// noSyncPuts hands PutEncrypted a store whose Put does not fsync.
type noSyncPuts struct{ stagingStore }

func (n noSyncPuts) Put(ctx context.Context, name string, r io.Reader) (int64, error) {
	return n.PutNoSync(ctx, name, r)
}

// Create lets PutEncrypted encrypt straight into an object written without
// fsync (blob.Local.CreateNoSync), rather than through a pipe to PutNoSync.
func (n noSyncPuts) Create(ctx context.Context, name string) (blob.PendingObject, error) {
	if c, ok := n.stagingStore.(interface {
		CreateNoSync(ctx context.Context, name string) (blob.PendingObject, error)
	}); ok {
		return c.CreateNoSync(ctx, name)
	}
	return nil, errors.ErrUnsupported
}

// staging tracks, per upload, the chunks this process wrote without fsync
// and the upload's live validation. It lives in memory: after a
// restart, Complete cannot know whether a chunk written before it reached
// the disk, so it fsyncs and reads back (authenticates) every chunk it has
// no record of.
type staging struct {
	mu      sync.Mutex
	uploads map[string]*stagedUpload
}

type stagedUpload struct {
	expires time.Time // the upload's expiry: an abandoned upload's entry is swept after it
	mu      sync.Mutex
	written map[string]bool // part objects this process wrote without fsync
	live    *liveValidation // nil: no live validation (or it broke)
}

func (st *staging) upload(id string, expires, now time.Time) *stagedUpload {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.uploads == nil {
		st.uploads = map[string]*stagedUpload{}
	}
	// Sweep abandoned uploads, so their validators and buffers do not
	// outlive them in memory.
	for k, x := range st.uploads {
		if k != id && now.After(x.expires) {
			x.mu.Lock()
			if x.live != nil {
				x.live.src.stop(errLiveBroken)
			}
			x.mu.Unlock()
			delete(st.uploads, k)
		}
	}
	u := st.uploads[id]
	if u == nil {
		u = &stagedUpload{written: map[string]bool{}, expires: expires}
		st.uploads[id] = u
	}
	return u
}

func (st *staging) lookup(id string) *stagedUpload {
	st.mu.Lock()
	defer st.mu.Unlock()
	return st.uploads[id]
}

func (st *staging) forget(id string) {
	st.mu.Lock()
	u := st.uploads[id]
	delete(st.uploads, id)
	st.mu.Unlock()
	if u != nil {
		u.mu.Lock()
		if u.live != nil {
			u.live.src.stop(errLiveBroken)
			u.live = nil
		}
		u.mu.Unlock()
	}
}

// putPart stores one chunk encrypted: staged (fsync in the background) if
// the blob store can, durably otherwise.
func (s *Store) putPart(ctx context.Context, up Upload, name string, key *keys.Key, r io.Reader) (int64, error) {
	ss, ok := s.Blobs.(stagingStore)
	if !ok {
		return blob.PutEncrypted(ctx, s.Blobs, name, key, r)
	}
	n, err := blob.PutEncrypted(ctx, noSyncPuts{ss}, name, key, r)
	if err != nil {
		return n, err
	}
	su := s.staging.upload(up.ID, up.ExpiresAt, s.now())
	su.mu.Lock()
	su.written[name] = true
	su.mu.Unlock()
	// The fsync waits for Complete: an fsync per chunk, inline or in the
	// background, made every chunk wait for the disk (ext4 commits its
	// journal behind it), a third of the disk's speed. At Complete the
	// kernel has written most of the bytes back already.
	return n, nil
}

// settleParts makes an upload's chunks durable and trustworthy before they
// are committed: it fsyncs the chunks this process wrote, and fsyncs and
// authenticates any chunk written before a restart (it may have
// been torn by a crash before its fsync).
func (s *Store) settleParts(ctx context.Context, uploadID string, key *keys.Key, ps []part) error {
	ss, ok := s.Blobs.(stagingStore)
	if !ok {
		return nil
	}
	su := s.staging.lookup(uploadID)
	written := map[string]bool{}
	if su != nil {
		su.mu.Lock()
		for k := range su.written {
			written[k] = true
		}
		su.mu.Unlock()
	}
	shared, canShare := ss.(interface {
		SyncShared(ctx context.Context, name string) error
	})
	synced := false
	for _, p := range ps {
		if written[p.object] {
			if canShare {
				// One filesystem sync covers every chunk this process wrote.
				if !synced {
					if err := shared.SyncShared(ctx, p.object); err != nil {
						return fmt.Errorf("sync upload parts: %w", err)
					}
					synced = true
				}
				continue
			}
			if err := ss.Sync(ctx, p.object); err != nil {
				return fmt.Errorf("sync upload part: %w", err)
			}
			continue
		}
		if err := ss.Sync(ctx, p.object); err != nil {
			return fmt.Errorf("sync upload part: %w", err)
		}
		rc, err := blob.OpenEncrypted(ctx, s.Blobs, p.object, key)
		if err != nil {
			return errPartsCorrupted
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		if err != nil || n != p.length {
			return errPartsCorrupted
		}
	}
	return nil
}

// liveFor returns the live validation to feed a chunk starting at start:
// a new one for the first chunk, the running one for a later chunk, nil if
// there is none (the upload began before a restart, or its stream broke).
func (s *Store) liveFor(u Upload, start int64) *liveValidation {
	if _, ok := s.Blobs.(stagingStore); !ok {
		return nil
	}
	su := s.staging.upload(u.ID, u.ExpiresAt, s.now())
	su.mu.Lock()
	defer su.mu.Unlock()
	if start == 0 {
		if su.live != nil {
			su.live.src.stop(errLiveBroken)
		}
		su.live = startLive(u.Size, u.Slot, s.Limits)
	}
	return su.live
}

// breakLive drops an upload's live validation after a chunk that fed it
// failed: the bytes it saw are no longer the file's.
func (s *Store) breakLive(uploadID string, lv *liveValidation) {
	lv.src.stop(errLiveBroken)
	if su := s.staging.lookup(uploadID); su != nil {
		su.mu.Lock()
		if su.live == lv {
			su.live = nil
		}
		su.mu.Unlock()
	}
}

// liveResult is the upload's live validation answer, if it has a
// trustworthy one.
func (s *Store) liveResult(uploadID string) (Info, bool, error) {
	su := s.staging.lookup(uploadID)
	if su == nil {
		return Info{}, false, nil
	}
	su.mu.Lock()
	lv := su.live
	su.mu.Unlock()
	if lv == nil {
		return Info{}, false, nil
	}
	return lv.result()
}
