package blob

import (
	"bytes"
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/keys"
)

func newStore(t testing.TB) (*Local, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "blobs")
	l, err := NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	return l, dir
}

func mustKey(tb testing.TB) *keys.Key {
	tb.Helper()
	k, err := keys.NewRandomKey()
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// data returns n deterministic, non-repeating-looking bytes.
func data(n int) []byte {
	b := make([]byte, n)
	x := uint32(2463534242)
	for i := range b {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		b[i] = byte(x)
	}
	return b
}

// assertNothingStored checks that name is not visible and no temporary file
// is left behind.
func assertNothingStored(t *testing.T, l *Local, dir, name string) {
	t.Helper()
	if _, err := l.Stat(context.Background(), name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Stat(%s) err = %v, want ErrNotFound", name, err)
	}
	if _, err := l.Open(context.Background(), name); !errors.Is(err, ErrNotFound) {
		t.Errorf("Open(%s) err = %v, want ErrNotFound", name, err)
	}
	var files []string
	filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("files left behind: %v", files)
	}
}

func TestValidName(t *testing.T) {
	for _, ok := range []string{"a", "patients/p1/scan.stl", "0190c6a4-7e1b/x_y.z", "a.b", "...a", strings.Repeat("a", MaxNameLen)} {
		if err := ValidName(ok); err != nil {
			t.Errorf("ValidName(%q) = %v, want ok", ok, err)
		}
	}
	for _, bad := range []string{
		"", "/a", "a/", "a//b", "..", "a/../b", "../a", ".", "a/./b", "A", "a b", "a\\b", "a~b",
		"a\x00b", "é", "a/%2e%2e", strings.Repeat("a", MaxNameLen+1), ".tmp/../../x",
	} {
		if err := ValidName(bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("ValidName(%q) = %v, want ErrInvalidName", bad, err)
		}
	}
}

func TestLocalRejectsInvalidNames(t *testing.T) {
	l, dir := newStore(t)
	ctx := context.Background()
	for _, bad := range []string{"../escape", "/etc/passwd", "a/../../b", "a//b", "UPPER"} {
		if _, err := l.Put(ctx, bad, strings.NewReader("x")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Put(%q) err = %v", bad, err)
		}
		if _, err := PutEncrypted(ctx, l, bad, mustKey(t), strings.NewReader("x")); !errors.Is(err, ErrInvalidName) {
			t.Errorf("PutEncrypted(%q) err = %v", bad, err)
		}
		if _, err := l.Open(ctx, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Open(%q) err = %v", bad, err)
		}
		if _, err := l.Stat(ctx, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Stat(%q) err = %v", bad, err)
		}
		if err := l.Delete(ctx, bad); !errors.Is(err, ErrInvalidName) {
			t.Errorf("Delete(%q) err = %v", bad, err)
		}
	}
	assertNothingStored(t, l, dir, "x")
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Fatal("a file escaped the store directory")
	}
}

func TestLocalPutOpenStatDelete(t *testing.T) {
	l, dir := newStore(t)
	ctx := context.Background()
	for _, size := range []int{0, 1, 1 << 20} {
		want := data(size)
		n, err := l.Put(ctx, "objects/a", bytes.NewReader(want))
		if err != nil || n != int64(size) {
			t.Fatalf("Put = %d, %v", n, err)
		}
		if got, err := l.Stat(ctx, "objects/a"); err != nil || got != int64(size) {
			t.Fatalf("Stat = %d, %v", got, err)
		}
		rc, err := l.Open(ctx, "objects/a")
		if err != nil {
			t.Fatal(err)
		}
		got, _ := io.ReadAll(rc)
		rc.Close()
		if !bytes.Equal(got, want) {
			t.Fatalf("size %d: content differs", size)
		}
	}
	p := l.path("objects/a")
	if fi, _ := os.Stat(p); fi.Mode().Perm() != 0o600 {
		t.Errorf("object mode %#o, want 0600", fi.Mode().Perm())
	}
	for _, d := range []string{filepath.Dir(p), filepath.Dir(filepath.Dir(p)), filepath.Join(dir, tmpDir)} {
		if fi, _ := os.Stat(d); fi.Mode().Perm() != 0o700 {
			t.Errorf("directory %s mode %#o, want 0700", d, fi.Mode().Perm())
		}
	}
	if err := l.Delete(ctx, "objects/a"); err != nil {
		t.Fatal(err)
	}
	if err := l.Delete(ctx, "objects/a"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("second Delete err = %v, want ErrNotFound", err)
	}
	assertNothingStored(t, l, dir, "objects/a")
}

// putOnly hides Local's Create, so PutEncrypted takes the path any Store
// has: a pipe into Put.
type putOnly struct{ Store }

// noSyncCreator hands PutEncrypted objects created without fsync.
type noSyncCreator struct{ *Local }

func (n noSyncCreator) Create(ctx context.Context, name string) (PendingObject, error) {
	return n.CreateNoSync(ctx, name)
}

func TestEncryptedRoundTrip(t *testing.T) {
	for _, path := range []string{"direct", "through Put"} {
		t.Run(path, func(t *testing.T) { testEncryptedRoundTrip(t, path == "direct") })
	}
}

func testEncryptedRoundTrip(t *testing.T, direct bool) {
	l, _ := newStore(t)
	var s Store = l
	if !direct {
		s = putOnly{l}
	}
	ctx := context.Background()
	k := mustKey(t)
	for _, size := range []int{0, 1, keys.SegmentSize, keys.SegmentSize + 1, 5<<20 + 3} {
		want := data(size)
		n, err := PutEncrypted(ctx, s, "patients/p1/scan.stl", k, bytes.NewReader(want))
		if err != nil || n != int64(size) {
			t.Fatalf("PutEncrypted = %d, %v", n, err)
		}
		if st, _ := l.Stat(ctx, "patients/p1/scan.stl"); st != keys.CiphertextSize(int64(size)) {
			t.Errorf("stored %d bytes, want %d", st, keys.CiphertextSize(int64(size)))
		}
		if size >= 64 {
			raw, _ := os.ReadFile(l.path("patients/p1/scan.stl"))
			if bytes.Contains(raw, want[:64]) {
				t.Fatal("plaintext found in the stored object")
			}
		}
		rc, err := OpenEncrypted(ctx, l, "patients/p1/scan.stl", k)
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if _, err := io.Copy(&got, rc); err != nil {
			t.Fatal(err)
		}
		rc.Close()
		if !bytes.Equal(got.Bytes(), want) {
			t.Fatalf("size %d: round trip differs", size)
		}
	}
	if _, err := OpenEncrypted(ctx, l, "patients/p1/scan.stl", mustKey(t)); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("wrong key: err = %v, want ErrDecrypt", err)
	}
	if _, err := OpenEncrypted(ctx, l, "patients/p1/none", k); !errors.Is(err, ErrNotFound) {
		t.Fatalf("missing: err = %v, want ErrNotFound", err)
	}
}

func TestEncryptedObjectsCannotBeSwapped(t *testing.T) {
	l, _ := newStore(t)
	ctx := context.Background()
	k := mustKey(t)
	if _, err := PutEncrypted(ctx, l, "patients/p1/a", k, bytes.NewReader([]byte("report A"))); err != nil {
		t.Fatal(err)
	}
	if _, err := PutEncrypted(ctx, l, "patients/p1/b", k, bytes.NewReader([]byte("report B"))); err != nil {
		t.Fatal(err)
	}
	// Someone with disk access moves A's file over B's.
	if err := os.Rename(l.path("patients/p1/a"), l.path("patients/p1/b")); err != nil {
		t.Fatal(err)
	}
	rc, err := OpenEncrypted(ctx, l, "patients/p1/b", k)
	if err == nil {
		_, err = io.ReadAll(rc)
		rc.Close()
	}
	if !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("swapped object: err = %v, want ErrDecrypt", err)
	}
}

func TestEncryptedTamperDetected(t *testing.T) {
	l, _ := newStore(t)
	ctx := context.Background()
	k := mustKey(t)
	want := data(3 * keys.SegmentSize)
	if _, err := PutEncrypted(ctx, l, "obj", k, bytes.NewReader(want)); err != nil {
		t.Fatal(err)
	}
	p := l.path("obj")
	raw, _ := os.ReadFile(p)
	if err := os.WriteFile(p, raw[:len(raw)-keys.SegmentSize/2], 0o600); err != nil {
		t.Fatal(err)
	}
	rc, err := OpenEncrypted(ctx, l, "obj", k)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, keys.ErrDecrypt) {
		t.Fatalf("truncated object: err = %v, want ErrDecrypt", err)
	}
}

// failingReader yields n bytes and then fails.
type failingReader struct {
	n   int
	err error
}

var errSource = errors.New("upload connection reset")

func (r *failingReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, r.err
	}
	p = p[:min(len(p), r.n, 4096)]
	copy(p, data(len(p)))
	r.n -= len(p)
	return len(p), nil
}

// cancellingReader cancels its context after n bytes and keeps yielding.
type cancellingReader struct {
	n      int
	cancel context.CancelFunc
}

func (r *cancellingReader) Read(p []byte) (int, error) {
	p = p[:min(len(p), 4096)]
	r.n -= len(p)
	if r.n <= 0 {
		r.cancel()
	}
	return len(p), nil
}

func TestFailedPutLeavesNothing(t *testing.T) {
	type putFunc func(ctx context.Context, l *Local, r io.Reader) error
	puts := map[string]putFunc{
		"Put": func(ctx context.Context, l *Local, r io.Reader) error {
			_, err := l.Put(ctx, "patients/p1/scan", r)
			return err
		},
		"PutEncrypted": func(ctx context.Context, l *Local, r io.Reader) error {
			_, err := PutEncrypted(ctx, l, "patients/p1/scan", mustKey(t), r)
			return err
		},
		"PutEncrypted through Put": func(ctx context.Context, l *Local, r io.Reader) error {
			_, err := PutEncrypted(ctx, putOnly{l}, "patients/p1/scan", mustKey(t), r)
			return err
		},
		"PutEncrypted without sync": func(ctx context.Context, l *Local, r io.Reader) error {
			_, err := PutEncrypted(ctx, noSyncCreator{l}, "patients/p1/scan", mustKey(t), r)
			return err
		},
	}
	for name, put := range puts {
		t.Run(name+"/reader fails halfway", func(t *testing.T) {
			l, dir := newStore(t)
			err := put(context.Background(), l, &failingReader{n: 1 << 20, err: errSource})
			if !errors.Is(err, errSource) {
				t.Fatalf("err = %v, want the source's error", err)
			}
			assertNothingStored(t, l, dir, "patients/p1/scan")
		})
		t.Run(name+"/context cancelled mid-write", func(t *testing.T) {
			l, dir := newStore(t)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			err := put(ctx, l, &cancellingReader{n: 1 << 20, cancel: cancel})
			if !errors.Is(err, context.Canceled) {
				t.Fatalf("err = %v, want context.Canceled", err)
			}
			assertNothingStored(t, l, dir, "patients/p1/scan")
		})
		t.Run(name+"/failure keeps the previous object", func(t *testing.T) {
			l, _ := newStore(t)
			if _, err := l.Put(context.Background(), "patients/p1/scan", strings.NewReader("old")); err != nil {
				t.Fatal(err)
			}
			if err := put(context.Background(), l, &failingReader{n: 100 << 10, err: errSource}); err == nil {
				t.Fatal("failed put reported success")
			}
			rc, err := l.Open(context.Background(), "patients/p1/scan")
			if err != nil {
				t.Fatal(err)
			}
			got, _ := io.ReadAll(rc)
			rc.Close()
			if string(got) != "old" {
				t.Fatalf("previous object damaged: %q", got)
			}
		})
	}
}

// TestCreateCommitAbort: a created object is invisible until Commit, an
// aborted one leaves nothing, and neither takes writes afterwards.
func TestCreateCommitAbort(t *testing.T) {
	l, dir := newStore(t)
	ctx := context.Background()
	for _, create := range []func(context.Context, string) (PendingObject, error){l.Create, l.CreateNoSync} {
		o, err := create(ctx, "u/a")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Write([]byte("half of it")); err != nil {
			t.Fatal(err)
		}
		if _, err := l.Stat(ctx, "u/a"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("object visible before Commit: %v", err)
		}
		o.Abort()
		o.Abort()
		if _, err := o.Write([]byte("more")); err == nil {
			t.Fatal("write after Abort succeeded")
		}
		assertNothingStored(t, l, dir, "u/a")

		o, err = create(ctx, "u/b")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := o.Write([]byte("whole")); err != nil {
			t.Fatal(err)
		}
		if n, err := o.Commit(); err != nil || n != 5 {
			t.Fatalf("Commit = %d, %v", n, err)
		}
		o.Abort() // nothing to do after Commit
		if n, err := l.Stat(ctx, "u/b"); err != nil || n != 5 {
			t.Fatalf("Stat = %d, %v", n, err)
		}
		if _, err := o.Commit(); err == nil {
			t.Fatal("second Commit succeeded")
		}
		if err := l.Delete(ctx, "u/b"); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Create(ctx, "../x"); !errors.Is(err, ErrInvalidName) {
		t.Fatalf("invalid name: %v", err)
	}
}

func TestNewLocalRemovesLeftoverTempFiles(t *testing.T) {
	_, dir := newStore(t)
	leftover := filepath.Join(dir, tmpDir, "put-123")
	if err := os.WriteFile(leftover, []byte("half an upload"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := NewLocal(dir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(leftover); !os.IsNotExist(err) {
		t.Fatal("leftover temporary file survived NewLocal")
	}
}
