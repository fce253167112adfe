package media

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/keys"
)

// testEnv is a Store over a real database, keyring, audit log and local
// blob directory.
type testEnv struct {
	store *Store
	log   *audit.Log
	dir   string
}

func newTestEnv(t testing.TB, d *db.DB, dir string) *testEnv {
	t.Helper()
	ms, err := keys.GenerateMasterString()
	if err != nil {
		t.Fatal(err)
	}
	m, err := keys.ParseMaster(ms)
	if err != nil {
		t.Fatal(err)
	}
	bs, err := blob.NewLocal(filepath.Join(dir, "blobs"))
	if err != nil {
		t.Fatal(err)
	}
	_, priv, _ := ed25519.GenerateKey(nil)
	lg, err := audit.Open(context.Background(), d, priv, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { lg.Close() })
	return &testEnv{store: &Store{DB: d, Keys: keys.NewKeyring(d, m), Blobs: bs}, log: lg, dir: dir}
}

func (e *testEnv) receipt(t testing.TB, action, patientID string) audit.Receipt {
	t.Helper()
	r, err := e.log.Append(context.Background(), audit.Event{ActorUserID: "user-1", Action: action, ResourceType: "file",
		PatientID: patientID, Decision: "allow", Reason: "test", Outcome: "success"})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newUpload(size int64, slot Slot) NewUpload {
	return NewUpload{WorkspaceID: "ws-1", PatientID: "pat-1", CaseID: "case-1", UploaderID: "user-1", Size: size, Slot: slot}
}

// upload sends data in chunks of chunk bytes and completes it.
func (e *testEnv) upload(t testing.TB, data []byte, slot Slot, chunk int) (File, Info, error) {
	t.Helper()
	ctx := context.Background()
	u, err := e.store.CreateUpload(ctx, newUpload(int64(len(data)), slot))
	if err != nil {
		t.Fatal(err)
	}
	for off := 0; off < len(data); off += chunk {
		end := min(off+chunk, len(data))
		rng := ContentRange{Start: int64(off), End: int64(end - 1), Total: int64(len(data))}
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", rng, bytes.NewReader(data[off:end])); err != nil {
			t.Fatal(err)
		}
	}
	return e.store.Complete(ctx, e.receipt(t, "file.upload", "pat-1"), u.ID, "user-1")
}

func TestUploadInChunksThenReadBack(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		data := binarySTL(3000) // 150 KB in 7 chunks
		f, info, err := e.upload(t, data, SlotMesh, 23_000)
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind != KindSTL || info.Faces != 3000 || f.Size != int64(len(data)) {
			t.Fatalf("file %+v info %+v", f, info)
		}
		ctx := context.Background()
		got, err := e.store.File(ctx, f.ID)
		if err != nil {
			t.Fatal(err)
		}
		src, err := e.store.Source(ctx, e.receipt(t, "file.download", "pat-1"), got)
		if err != nil {
			t.Fatal(err)
		}
		rc, _ := src.Open()
		back, err := io.ReadAll(rc)
		if err != nil || !bytes.Equal(back, data) {
			t.Fatalf("read back %d bytes, err %v", len(back), err)
		}
		// io.Copy takes the WriteTo path (as a download response does).
		rc, _ = src.Open()
		var copied bytes.Buffer
		if n, err := io.Copy(&copied, rc); err != nil || n != int64(len(data)) || !bytes.Equal(copied.Bytes(), data) {
			t.Fatalf("copied back %d bytes, err %v", n, err)
		}
		rc.Close()
		// A part cut short on disk fails the copy, whichever path reads it.
		var parts []string
		filepath.WalkDir(filepath.Join(e.dir, "blobs"), func(p string, d fs.DirEntry, err error) error {
			if err == nil && !d.IsDir() && strings.Contains(d.Name(), "media~u~") {
				parts = append(parts, p)
			}
			return err
		})
		if len(parts) != 7 {
			t.Fatalf("found %d part files, want 7", len(parts))
		}
		raw, _ := os.ReadFile(parts[3])
		if err := os.WriteFile(parts[3], raw[:len(raw)-100], 0o600); err != nil {
			t.Fatal(err)
		}
		rc, _ = src.Open()
		if _, err := io.Copy(io.Discard, struct{ io.Reader }{rc}); err == nil {
			t.Fatal("Read of a truncated part succeeded")
		}
		rc.Close()
		rc, _ = src.Open()
		if _, err := io.Copy(&copied, rc); err == nil {
			t.Fatal("WriteTo of a truncated part succeeded")
		}
		rc.Close()
		// No receipt, or one for another patient: nothing is decrypted.
		if _, err := e.store.Source(ctx, audit.Receipt{}, got); !errors.Is(err, ErrNoReceipt) {
			t.Fatalf("without receipt: %v", err)
		}
		if _, err := e.store.Source(ctx, e.receipt(t, "file.view", "pat-2"), got); !errors.Is(err, ErrNoReceipt) {
			t.Fatalf("receipt of another patient: %v", err)
		}
	})
}

func TestUploadResumesFromTheReceivedOffset(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		ctx := context.Background()
		data := []byte(asciiSTL)
		u, _ := e.store.CreateUpload(ctx, newUpload(int64(len(data)), SlotMesh))
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{0, 99, int64(len(data))}, bytes.NewReader(data[:100])); err != nil {
			t.Fatal(err)
		}
		// A connection that dropped mid-chunk: the body is short.
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{100, 199, int64(len(data))}, bytes.NewReader(data[100:150])); !errors.Is(err, ErrChunkLength) {
			t.Fatalf("short body: %v", err)
		}
		// A chunk that skips ahead or repeats is refused.
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{0, 99, int64(len(data))}, bytes.NewReader(data[:100])); !errors.Is(err, ErrRangeMismatch) {
			t.Fatalf("repeat: %v", err)
		}
		// Someone else cannot see or feed the session.
		if _, err := e.store.PutChunk(ctx, u.ID, "user-2", ContentRange{100, 199, int64(len(data))}, bytes.NewReader(data[100:200])); !errors.Is(err, ErrNotFound) {
			t.Fatalf("other user: %v", err)
		}
		st, err := e.store.Upload(ctx, u.ID, "user-1")
		if err != nil || st.Received != 100 {
			t.Fatalf("status %+v %v", st, err)
		}
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{100, int64(len(data) - 1), -1}, bytes.NewReader(data[100:])); err != nil {
			t.Fatal(err)
		}
		if _, _, err := e.store.Complete(ctx, e.receipt(t, "file.upload", "pat-1"), u.ID, "user-1"); err != nil {
			t.Fatal(err)
		}
		// Only the committed chunk objects remain: the refused short chunk left nothing.
		if n := countObjects(t, e.dir); n != 2 {
			t.Fatalf("%d objects stored, want 2", n)
		}
	})
}

func TestRejectedUploadLeavesNoRowAndNoObject(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		_, _, err := e.upload(t, pngWithText(), SlotMesh, 1000)
		if !errors.Is(err, ErrRejected) {
			t.Fatalf("got %v", err)
		}
		var n int
		for _, tbl := range []string{"media_files", "media_file_parts", "media_uploads", "media_upload_parts"} {
			if err := d.Read.QueryRow("SELECT COUNT(*) FROM " + tbl).Scan(&n); err != nil || n != 0 {
				t.Fatalf("%s has %d rows (%v)", tbl, n, err)
			}
		}
		if n := countObjects(t, e.dir); n != 0 {
			t.Fatalf("%d objects left", n)
		}
	})
}

func TestPhotographViewingCopyIsStrippedAndOriginalKept(t *testing.T) {
	e := newTestEnv(t, dbtest.SQLite(t), t.TempDir())
	data := jpegWithEXIF()
	f, _, err := e.upload(t, data, SlotImage, 4096)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	rec := e.receipt(t, "file.view", "pat-1")
	rc, err := e.store.OpenViewCopy(ctx, rec, f)
	if err != nil {
		t.Fatal(err)
	}
	view, _ := io.ReadAll(rc)
	rc.Close()
	if bytes.Contains(view, []byte(gpsCanary)) || len(view) == 0 {
		t.Fatal("viewing copy holds the GPS metadata")
	}
	src, _ := e.store.Source(ctx, rec, f)
	orc, _ := src.Open()
	orig, _ := io.ReadAll(orc)
	if !bytes.Equal(orig, data) {
		t.Fatal("original bytes changed")
	}
	if th, err := e.store.Thumbnail(ctx, rec, f); err != nil || len(th) == 0 {
		t.Fatalf("thumbnail: %v", err)
	}
}

func TestDICOMCanaryNeverOnDiskInPlaintext(t *testing.T) {
	dir := t.TempDir()
	d, err := db.Open(context.Background(), "", dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	e := newTestEnv(t, d, dir)
	const canary = "CANARY^Xylophone"
	dcm := makeDICOM(dicomSpec{rows: 16, cols: 16, bits: 16, photometric: "MONOCHROME2", pixels: make([]byte, 512), patientName: canary})
	if !bytes.Contains(dcm, []byte(canary)) {
		t.Fatal("sample lacks the canary")
	}
	f, info, err := e.upload(t, dcm, SlotDICOM, 300)
	if err != nil {
		t.Fatal(err)
	}
	if info.DICOM == nil || info.DICOM.Rows != 16 {
		t.Fatalf("info %+v", info)
	}
	ctx := context.Background()
	png, err := e.store.RenderFrame(ctx, e.receipt(t, "file.view", "pat-1"), f, 0, nil)
	if err != nil || len(png) == 0 {
		t.Fatalf("render: %v", err)
	}
	e.log.Close()
	d.Close()
	for _, needle := range []string{canary, "Xylophone", "1.2.826.0.1.3680043.10.1"} {
		filepath.WalkDir(dir, func(p string, de fs.DirEntry, err error) error {
			if err != nil || de.IsDir() {
				return err
			}
			b, _ := os.ReadFile(p)
			if bytes.Contains(b, []byte(needle)) {
				t.Errorf("%q found in plaintext in %s", needle, p)
			}
			return nil
		})
	}
}

func countObjects(t testing.TB, dir string) int {
	n := 0
	filepath.WalkDir(filepath.Join(dir, "blobs"), func(p string, de fs.DirEntry, err error) error {
		if err == nil && !de.IsDir() && !bytes.Contains([]byte(p), []byte("/.tmp/")) {
			n++
		}
		return nil
	})
	return n
}
