package blob

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// tmpDir is where Put stages objects. Object files live under two-level
// hex shard directories, so no object name can collide with it.
const tmpDir = ".tmp"

// Local stores objects as files under one directory: each Put writes a
// temporary file, fsyncs it, renames it into place and fsyncs the directory,
// so after a crash an object is either complete or absent. Files are 0600 and
// directories 0700. The directory must belong to one process at a time:
// NewLocal deletes every staged file it finds.
type Local struct {
	dir   string
	tmp   string
	group groupSync // shared filesystem syncs for SyncShared
}

// NewLocal opens (creating if needed) a store in dir and removes temporary
// files left by a Put that was interrupted by a crash.
func NewLocal(dir string) (*Local, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("blob: open local store: %w", err)
	}
	l := &Local{dir: abs, tmp: filepath.Join(abs, tmpDir)}
	if err := os.MkdirAll(l.tmp, 0o700); err != nil {
		return nil, fmt.Errorf("blob: open local store: %w", err)
	}
	entries, err := os.ReadDir(l.tmp)
	if err != nil {
		return nil, fmt.Errorf("blob: open local store: %w", err)
	}
	for _, e := range entries {
		if err := os.RemoveAll(filepath.Join(l.tmp, e.Name())); err != nil {
			return nil, fmt.Errorf("blob: remove leftover temporary file: %w", err)
		}
	}
	if len(entries) > 0 {
		if err := syncDir(l.tmp); err != nil {
			return nil, fmt.Errorf("blob: open local store: %w", err)
		}
	}
	return l, nil
}

// objectPath maps a valid name to dir/ab/cd/<name with '/' as '~'>. The
// shards (from a hash of the name) keep directories small; '~' is not allowed
// in names, so the mapping is one-to-one.
func objectPath(dir, name string) string {
	h := sha256.Sum256([]byte(name))
	x := hex.EncodeToString(h[:2])
	return filepath.Join(dir, x[:2], x[2:], strings.ReplaceAll(name, "/", "~"))
}

func (l *Local) path(name string) string { return objectPath(l.dir, name) }

// copyBufs are reused by Put: larger than io.Copy's 32 KiB so that a whole
// encrypted segment goes to the file in one write.
var copyBufs = sync.Pool{New: func() any { b := make([]byte, 512<<10); return &b }}

// ctxReader stops a copy at the next Read once ctx is done.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// writerOnly hides *os.File's ReadFrom so io.CopyBuffer uses our buffer.
type writerOnly struct{ io.Writer }

// Put stores r under name (replacing any existing object). On any error,
// including ctx being cancelled (noticed between reads of r), the temporary
// file is removed and nothing becomes visible under name.
func (l *Local) Put(ctx context.Context, name string, r io.Reader) (n int64, err error) {
	return l.put(ctx, name, r, true)
}

// PutNoSync stores r under name like Put but without fsyncing the file or
// its directory: the object is visible at once but may be torn or missing
// after a power cut until Sync(name) returns. It is for staged data that is
// worth nothing until a later commit (the chunks of a restartable upload),
// so the disk can write it back while the next bytes arrive.
func (l *Local) PutNoSync(ctx context.Context, name string, r io.Reader) (int64, error) {
	return l.put(ctx, name, r, false)
}

// Sync makes an object stored by PutNoSync durable: it fsyncs the file and
// its directory.
func (l *Local) Sync(ctx context.Context, name string) error {
	if ValidName(name) != nil {
		return invalidName("sync", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := l.path(name)
	f, err := os.Open(p)
	if err != nil {
		return notFound("sync", name, err)
	}
	err = f.Sync()
	f.Close()
	if err != nil {
		return fmt.Errorf("blob: sync %s: %w", name, err)
	}
	// The shard directories may be new too (PutNoSync does not fsync
	// their parents): the leaf, its parent and the root.
	leaf := filepath.Dir(p)
	for _, d := range []string{leaf, filepath.Dir(leaf), l.dir} {
		if err := syncDir(d); err != nil {
			return fmt.Errorf("blob: sync %s: directory: %w", name, err)
		}
	}
	return nil
}

func (l *Local) put(ctx context.Context, name string, r io.Reader, durable bool) (int64, error) {
	o, err := l.create(ctx, name, durable)
	if err != nil {
		return 0, err
	}
	bp := copyBufs.Get().(*[]byte)
	_, err = io.CopyBuffer(writerOnly{o}, ctxReader{ctx, r}, *bp)
	copyBufs.Put(bp)
	if err != nil {
		o.Abort()
		return 0, fmt.Errorf("blob: put %s: %w", name, err)
	}
	return o.Commit()
}

// Create starts an object written through the returned PendingObject: its
// bytes go to a temporary file, and Commit fsyncs it, renames it into place
// and fsyncs the directory, as Put does.
func (l *Local) Create(ctx context.Context, name string) (PendingObject, error) {
	return l.create(ctx, name, true)
}

// CreateNoSync is Create without the fsyncs, as PutNoSync is Put without
// them: the committed object may be torn or missing after a power cut until
// Sync(name) returns.
func (l *Local) CreateNoSync(ctx context.Context, name string) (PendingObject, error) {
	return l.create(ctx, name, false)
}

func (l *Local) create(ctx context.Context, name string, durable bool) (*localObject, error) {
	if ValidName(name) != nil {
		return nil, invalidName("put", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(l.tmp, "put-*") // mode 0600
	if err != nil {
		return nil, fmt.Errorf("blob: put: create temporary file: %w", err)
	}
	return &localObject{l: l, ctx: ctx, name: name, f: f, durable: durable}, nil
}

// localObject is a Local object being written to its temporary file.
type localObject struct {
	l       *Local
	ctx     context.Context
	name    string
	f       *os.File // nil once committed or aborted
	n       int64
	kicked  int64 // bytes handed to the kernel's writeback so far
	durable bool
}

// writebackStep is how many written bytes make the object ask the kernel
// to start writing them to disk. Left alone, the kernel starts only when
// dirty pages pass a share of memory (gigabytes here) or after 30 seconds,
// so a large object was written to disk only by the fsync at its end (for
// upload chunks, at Complete), after all its bytes had arrived. Started
// early, the disk writes overlap the arrival of the next bytes.
const writebackStep = 8 << 20

// Write appends p to the temporary file. A cancelled ctx is noticed here,
// before the bytes are written.
func (o *localObject) Write(p []byte) (int, error) {
	if o.f == nil {
		return 0, fmt.Errorf("blob: put %s: write after commit or abort", o.name)
	}
	if err := o.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := o.f.Write(p)
	o.n += int64(n)
	if o.n-o.kicked >= writebackStep {
		startWriteback(o.f, o.kicked, o.n-o.kicked)
		o.kicked = o.n
	}
	return n, err // the caller names the object
}

// Abort closes and removes the temporary file.
func (o *localObject) Abort() {
	if o.f == nil {
		return
	}
	o.f.Close()
	os.Remove(o.f.Name())
	o.f = nil
}

// Commit makes the object visible under its name (durably, unless it was
// created without sync). On any error, including ctx being cancelled, the
// temporary file is removed and nothing becomes visible under the name.
func (o *localObject) Commit() (n int64, err error) {
	if o.f == nil {
		return 0, fmt.Errorf("blob: put %s: commit after commit or abort", o.name)
	}
	f, tmp, ctx, name := o.f, o.f.Name(), o.ctx, o.name
	o.f = nil
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				f.Close()
			}
			os.Remove(tmp)
		}
	}()
	if o.durable {
		if err = f.Sync(); err != nil {
			return 0, fmt.Errorf("blob: put %s: sync: %w", name, err)
		}
	}
	closed = true
	if err = f.Close(); err != nil {
		return 0, fmt.Errorf("blob: put %s: close: %w", name, err)
	}
	if err = ctx.Err(); err != nil {
		return 0, err
	}
	final := o.l.path(name)
	if err = o.l.mkShards(filepath.Dir(final), o.durable); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if err = os.Rename(tmp, final); err != nil {
		return 0, fmt.Errorf("blob: put %s: %w", name, err)
	}
	if !o.durable {
		return o.n, nil
	}
	if err = syncDir(filepath.Dir(final)); err != nil {
		// The object may not survive a power cut: take it away and report
		// the failure, so nothing is recorded as stored and nothing is left.
		_ = os.Remove(final)
		return 0, fmt.Errorf("blob: put %s: sync directory: %w", name, err)
	}
	return o.n, nil
}

// mkShards creates the two shard directories of leaf if needed, fsyncing the
// parent of each one it creates so the new entry survives a crash.
func (l *Local) mkShards(leaf string, durable bool) error {
	for _, d := range []string{filepath.Dir(leaf), leaf} {
		err := os.Mkdir(d, 0o700)
		if errors.Is(err, fs.ErrExist) {
			continue
		}
		if err != nil {
			return err
		}
		if !durable {
			continue // Sync fsyncs the whole path
		}
		if err := syncDir(filepath.Dir(d)); err != nil {
			return err
		}
	}
	return nil
}

// Open returns the object's file.
func (l *Local) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	if ValidName(name) != nil {
		return nil, invalidName("open", name)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	f, err := os.Open(l.path(name))
	if err != nil {
		return nil, notFound("open", name, err)
	}
	return f, nil
}

// Stat returns the object's size in bytes.
func (l *Local) Stat(ctx context.Context, name string) (int64, error) {
	if ValidName(name) != nil {
		return 0, invalidName("stat", name)
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	fi, err := os.Stat(l.path(name))
	if err != nil {
		return 0, notFound("stat", name, err)
	}
	return fi.Size(), nil
}

// Delete removes the object and fsyncs its directory, so a deletion made for
// retention or erasure is durable once Delete returns.
func (l *Local) Delete(ctx context.Context, name string) error {
	if ValidName(name) != nil {
		return invalidName("delete", name)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	p := l.path(name)
	if err := os.Remove(p); err != nil {
		return notFound("delete", name, err)
	}
	if err := syncDir(filepath.Dir(p)); err != nil {
		return fmt.Errorf("blob: delete %s: sync directory: %w", name, err)
	}
	return nil
}

func notFound(op, name string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("blob: %s %s: %w", op, name, ErrNotFound)
	}
	return fmt.Errorf("blob: %s %s: %w", op, name, err)
}

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
