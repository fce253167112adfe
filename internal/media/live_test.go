package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"io"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media/mediatest"
)

// TestLiveValidationAgreesWithFullValidation: a file validated as its
// chunks arrive gets the answer a validation of the whole stored file
// gives, accepted or refused, whether the live path answers or falls back.
func TestLiveValidationAgreesWithFullValidation(t *testing.T) {
	nan := mediatest.BinarySTL(3000)
	binary.LittleEndian.PutUint32(nan[84+50*2000+12:], math.Float32bits(float32(math.NaN())))
	// Several MiB in chunks of whole batches and odd ends, so buffers are
	// handed to the validator whole, split at the head and reused.
	deepNaN := mediatest.BinarySTL(120000)
	binary.LittleEndian.PutUint32(deepNaN[84+50*110000+4:], math.Float32bits(float32(math.Inf(1))))
	cases := []struct {
		name  string
		data  []byte
		slot  Slot
		chunk int
		live  bool // the live path answers (no fallback)
	}{
		{"binary STL", mediatest.BinarySTL(30000), SlotMesh, 64 << 10, true},
		{"small DICOM in the head", mediatest.DICOMGray16(64, 64, 3, 2000, 1000, 2000, "CANARY^Live"), SlotDICOM, 4096, true},
		{"DICOM larger than the head", mediatest.DICOMGray16(256, 256, 12, 2000, 1000, 2000, "CANARY^Live"), SlotDICOM, 256 << 10, true},
		{"STL with a NaN coordinate", nan, SlotMesh, 16 << 10, true},
		{"DICOM in the mesh slot", mediatest.DICOMGray16(32, 32, 1, 2000, 1000, 2000, "X"), SlotMesh, 1024, true},
		{"ASCII STL in one chunk", []byte(asciiSTL), SlotAny, 1 << 20, true},
		{"binary STL of several batches", mediatest.BinarySTL(120000), SlotMesh, 3<<20 + 7, true},
		{"binary STL with an infinity past the fifth MiB", deepNaN, SlotMesh, 2<<20 - 1, true},
	}
	e := newTestEnv(t, dbtest.SQLite(t), t.TempDir())
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			wantInfo, wantErr := Validate(BytesSource(c.data), c.slot, Limits{})
			before := liveAnswers.Load()
			_, info, err := e.upload(t, c.data, c.slot, c.chunk)
			if (err == nil) != (wantErr == nil) || (err != nil && err.Error() != wantErr.Error()) {
				t.Fatalf("error %v, full validation says %v", err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(info, wantInfo) {
				t.Fatalf("info %+v, full validation says %+v", info, wantInfo)
			}
			if got := liveAnswers.Load() > before; got != c.live {
				t.Fatalf("answered live: %v, want %v", got, c.live)
			}
		})
	}
}

// TestLiveValidationFallsBackAfterABrokenChunk: a chunk that failed after
// feeding the live validation (a dropped connection) takes the live answer
// out of play; the resumed upload is validated from its stored parts.
func TestLiveValidationFallsBackAfterABrokenChunk(t *testing.T) {
	e := newTestEnv(t, dbtest.SQLite(t), t.TempDir())
	ctx := context.Background()
	data := mediatest.BinarySTL(5000)
	size := int64(len(data))
	u, _ := e.store.CreateUpload(ctx, newUpload(size, SlotMesh))
	if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{0, 99999, size}, bytes.NewReader(data[:100000])); err != nil {
		t.Fatal(err)
	}
	// A short body: its bytes reached the validator but not the upload.
	if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{100000, 199999, size}, bytes.NewReader(data[100000:150000])); !errors.Is(err, ErrChunkLength) {
		t.Fatalf("short chunk: %v", err)
	}
	if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{100000, size - 1, size}, bytes.NewReader(data[100000:])); err != nil {
		t.Fatal(err)
	}
	before := liveAnswers.Load()
	_, info, err := e.store.Complete(ctx, e.receipt(t, "file.upload", "pat-1"), u.ID, "user-1")
	if err != nil || info.Faces != 5000 {
		t.Fatalf("complete: %+v %v", info, err)
	}
	if liveAnswers.Load() != before {
		t.Fatal("the broken live validation answered")
	}
}

// TestUploadBegunBeforeARestartIsCheckedAtComplete: chunks are written
// without fsync, so after a restart Complete cannot know they reached the
// disk; it fsyncs and authenticates each one, and a torn chunk fails the
// completion instead of becoming a committed file.
func TestUploadBegunBeforeARestartIsCheckedAtComplete(t *testing.T) {
	for _, torn := range []bool{false, true} {
		d := dbtest.SQLite(t)
		e := newTestEnv(t, d, t.TempDir())
		ctx := context.Background()
		data := mediatest.BinarySTL(4000)
		size := int64(len(data))
		u, _ := e.store.CreateUpload(ctx, newUpload(size, SlotMesh))
		if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{0, size - 1, size}, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		if torn {
			filepath.WalkDir(filepath.Join(e.dir, "blobs"), func(p string, de os.DirEntry, err error) error {
				if err == nil && !de.IsDir() && filepath.Base(filepath.Dir(filepath.Dir(filepath.Dir(p)))) != ".tmp" {
					os.Truncate(p, 1000)
				}
				return nil
			})
		}
		// A new process: same database and blobs, nothing in memory.
		restarted := &Store{DB: e.store.DB, Keys: e.store.Keys, Blobs: e.store.Blobs}
		before := liveAnswers.Load()
		_, info, err := restarted.Complete(ctx, e.receipt(t, "file.upload", "pat-1"), u.ID, "user-1")
		if torn {
			if err == nil {
				t.Fatal("a torn chunk was committed")
			}
			continue
		}
		if err != nil || info.Faces != 4000 || liveAnswers.Load() != before {
			t.Fatalf("complete after restart: %+v %v", info, err)
		}
	}
}

// TestLiveSourceRefusesASecondPassPastTheHead: a parser may reread the
// head, but a second pass past it cannot be served from a stream, so the
// reader says so and the answer is marked as not the file's.
func TestLiveSourceRefusesASecondPassPastTheHead(t *testing.T) {
	data := bytes.Repeat([]byte("x"), liveHead+4096)
	src := newLiveSource(int64(len(data)))
	go src.feed(data)
	r1, _ := src.Open()
	if _, err := io.ReadFull(r1, make([]byte, liveHead+100)); err != nil {
		t.Fatal(err)
	}
	r2, _ := src.Open()
	head := make([]byte, 10)
	if _, err := io.ReadFull(r2, head); err != nil || !bytes.Equal(head, data[:10]) {
		t.Fatalf("reread of the head: %q %v", head, err)
	}
	if _, err := io.ReadFull(r2, make([]byte, liveHead)); !errors.Is(err, errLiveReopen) {
		t.Fatalf("second pass past the head: %v", err)
	}
	lv := &liveValidation{src: src, done: make(chan struct{})}
	close(lv.done)
	if _, ok, _ := lv.result(); ok {
		t.Fatal("a disturbed live validation was trusted")
	}
	src.stop(errLiveBroken)
}

// TestAbandonedUploadsLeaveMemory: an upload left unfinished past its
// expiry loses its live validation and staging entry at the next upload.
func TestAbandonedUploadsLeaveMemory(t *testing.T) {
	e := newTestEnv(t, dbtest.SQLite(t), t.TempDir())
	ctx := context.Background()
	now := time.Now()
	e.store.Now = func() time.Time { return now }
	data := mediatest.BinarySTL(3000)
	size := int64(len(data))
	a, _ := e.store.CreateUpload(ctx, newUpload(size, SlotMesh))
	if _, err := e.store.PutChunk(ctx, a.ID, "user-1", ContentRange{0, 9999, size}, bytes.NewReader(data[:10000])); err != nil {
		t.Fatal(err)
	}
	lv := e.store.staging.lookup(a.ID).live
	now = now.Add(25 * time.Hour)
	b, _ := e.store.CreateUpload(ctx, newUpload(size, SlotMesh))
	if _, err := e.store.PutChunk(ctx, b.ID, "user-1", ContentRange{0, size - 1, size}, bytes.NewReader(data)); err != nil {
		t.Fatal(err)
	}
	if e.store.staging.lookup(a.ID) != nil {
		t.Fatal("the abandoned upload is still staged")
	}
	select {
	case <-lv.done:
	case <-time.After(5 * time.Second):
		t.Fatal("the abandoned upload's validator is still running")
	}
}

// TestBinarySTLRefusesExactlyTheNonFiniteCoordinates: the exponent-bits
// test agrees with math.IsNaN/IsInf at the edges.
func TestBinarySTLRefusesExactlyTheNonFiniteCoordinates(t *testing.T) {
	for _, f := range []float32{0, float32(math.Copysign(0, -1)), 1, -1, math.MaxFloat32, -math.MaxFloat32, math.SmallestNonzeroFloat32,
		float32(math.Inf(1)), float32(math.Inf(-1)), float32(math.NaN()), math.Float32frombits(0x7fc00001), math.Float32frombits(0xff800001)} {
		stl := mediatest.BinarySTL(1)
		binary.LittleEndian.PutUint32(stl[84+12+4:], math.Float32bits(f))
		_, err := ValidateSTL(bytes.NewReader(stl), int64(len(stl)), Limits{})
		finite := !math.IsNaN(float64(f)) && !math.IsInf(float64(f), 0)
		if (err == nil) != finite {
			t.Errorf("%v (bits %08x): err %v", f, math.Float32bits(f), err)
		}
	}
}
