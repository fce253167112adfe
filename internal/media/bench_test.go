package media

import (
	"context"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// ctSlice is a 512×512 16-bit CT-like slice (about 512 KiB).
func ctSlice(i int) []byte {
	px := make([]byte, 512*512*2)
	for k := 0; k < 512*512; k++ {
		binary.LittleEndian.PutUint16(px[2*k:], uint16((k*7+i)%4096))
	}
	return makeDICOM(dicomSpec{rows: 512, cols: 512, bits: 16, photometric: "MONOCHROME2", pixels: px, wc: "40", ww: "400",
		slope: "1", intercept: "-1024", patientName: "BENCH^Patient", sop: "1.2.826.0.1.3680043.10.1.1." + strconv.Itoa(i), instance: i})
}

// BenchmarkDICOMHeaderParse measures indexing: the structure walk plus the
// library's header-only parse.
func BenchmarkDICOMHeaderParse(b *testing.B) {
	d := ctSlice(1)
	b.SetBytes(int64(len(d)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ValidateDICOM(BytesSource(d), Limits{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "files/s")
}

// BenchmarkDICOMIngest measures the whole path for a study of small
// instances: upload (encrypt and store), parse, index, seal and commit.
func BenchmarkDICOMIngest(b *testing.B) {
	e := newTestEnv(b, dbtest.SQLite(b), b.TempDir())
	files := make([][]byte, 16)
	for i := range files {
		files[i] = makeDICOM(dicomSpec{rows: 64, cols: 64, bits: 16, photometric: "MONOCHROME2", pixels: make([]byte, 64*64*2),
			sop: "1.2.826.0.1.3680043.10.1.1." + strconv.Itoa(i), instance: i, patientName: "BENCH^Patient"})
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if _, _, err := e.upload(b, files[i%len(files)], SlotDICOM, 1<<20); err != nil {
			b.Fatal(err)
		}
		i++
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "instances/s")
}

// BenchmarkRenderFrame renders a 512×512 16-bit slice to PNG.
func BenchmarkRenderFrame(b *testing.B) {
	d := ctSlice(1)
	info, err := ValidateDICOM(BytesSource(d), Limits{})
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		img, err := RenderFrame(BytesSource(d), info, 0, nil)
		if err != nil {
			b.Fatal(err)
		}
		if err := EncodePNG(io.Discard, img); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "frames/s")
}

// stlStream yields a binary STL of n triangles without holding it.
type stlStream struct {
	hdr []byte
	n   int64 // bytes of triangles left
	tri [50 * 1024]byte
}

func newSTLStream(tris int64) *stlStream {
	h := make([]byte, 84)
	binary.LittleEndian.PutUint32(h[80:], uint32(tris))
	s := &stlStream{hdr: h, n: tris * 50}
	for i := 0; i < 1024; i++ {
		binary.LittleEndian.PutUint32(s.tri[i*50+12:], 0x3F800000) // a 1.0 among zeros
	}
	return s
}

func (s *stlStream) Read(p []byte) (int, error) {
	if len(s.hdr) > 0 {
		n := copy(p, s.hdr)
		s.hdr = s.hdr[n:]
		return n, nil
	}
	if s.n == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(int64(len(p)), s.n)], s.tri[:])
	s.n -= int64(n)
	return n, nil
}

// TestLargeUploadThroughputAndMemory streams a large binary STL through the
// encrypted upload path (64 MiB chunks unless CUSTODIA_BENCH_CHUNK_MIB says otherwise, then parse-and-commit) and compares
// it with a plain fsynced file copy of the same bytes on the same disk. It
// reports the ratio and the peak heap and RSS. Gated: set
// CUSTODIA_BENCH_LARGE=1 (2 GiB), or CUSTODIA_BENCH_LARGE=MiB for a size.
func TestLargeUploadThroughputAndMemory(t *testing.T) {
	v := os.Getenv("CUSTODIA_BENCH_LARGE")
	if v == "" {
		t.Skip("set CUSTODIA_BENCH_LARGE=1 (2 GiB) or =MiB to measure large uploads")
	}
	mib := int64(2048)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 1 {
		mib = n
	}
	tris := (mib<<20 - 84) / 50
	size := 84 + 50*tris
	dir := t.TempDir()
	e := newTestEnv(t, dbtest.SQLite(t), dir)
	ctx := context.Background()
	chunk := int64(64 << 20)
	if n, err := strconv.ParseInt(os.Getenv("CUSTODIA_BENCH_CHUNK_MIB"), 10, 64); err == nil && n > 0 {
		chunk = n << 20
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("CUSTODIA_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}

	// Reference: a plain copy to a file (io.Copy's 32 KiB writes), fsynced
	// once at the end. The upload is made durable once too: its chunks are
	// written without fsync (blob.Local starts their writeback every 8 MiB,
	// which the plain copy leaves to the kernel) and Complete syncs the
	// filesystem before it commits. The machine's disk is shared, so the
	// reference and the upload alternate for several rounds, each starting
	// after a sync(2) so that neither pays for the other's write-back, and
	// the ratio is the median round's.
	plainCopy := func() (time.Duration, time.Duration) {
		syscall.Sync()
		cpu0 := cpuTime()
		start := time.Now()
		f, err := os.Create(filepath.Join(dir, "plain.bin"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(f, newSTLStream(tris)); err != nil {
			t.Fatal(err)
		}
		f.Sync()
		f.Close()
		d := time.Since(start)
		c := cpuTime() - cpu0
		os.Remove(filepath.Join(dir, "plain.bin"))
		return d, c
	}

	var peakHeap uint64
	done := make(chan struct{})
	go func() {
		var ms runtime.MemStats
		for {
			select {
			case <-done:
				return
			case <-time.After(50 * time.Millisecond):
				runtime.ReadMemStats(&ms)
				peakHeap = max(peakHeap, ms.HeapInuse)
			}
		}
	}()
	upload := func() (put, total, cpu time.Duration) {
		syscall.Sync()
		cpu0 := cpuTime()
		start := time.Now()
		u, err := e.store.CreateUpload(ctx, NewUpload{WorkspaceID: "ws-1", PatientID: "pat-1", CaseID: "case-1", UploaderID: "user-1", Size: size, Slot: SlotMesh})
		if err != nil {
			t.Fatal(err)
		}
		src := newSTLStream(tris)
		for off := int64(0); off < size; off += chunk {
			end := min(size, off+chunk)
			if _, err := e.store.PutChunk(ctx, u.ID, "user-1", ContentRange{off, end - 1, size}, io.LimitReader(src, end-off)); err != nil {
				t.Fatal(err)
			}
		}
		put = time.Since(start)
		f, _, err := e.store.Complete(ctx, e.receipt(t, "file.upload", "pat-1"), u.ID, "user-1")
		if err != nil {
			t.Fatal(err)
		}
		total = time.Since(start)
		cpu = cpuTime() - cpu0
		// Free the disk for the next round.
		if err := e.store.deleteFile(ctx, f); err != nil {
			t.Fatal(err)
		}
		return put, total, cpu
	}
	rate := func(d time.Duration) float64 { return float64(size) / d.Seconds() / (1 << 20) }
	var ratios, putRatios, cpuRatios []float64
	for i := range rounds {
		plain, plainCPU := plainCopy()
		put, total, cpu := upload()
		ratios = append(ratios, plain.Seconds()/total.Seconds())
		putRatios = append(putRatios, plain.Seconds()/put.Seconds())
		cpuRatios = append(cpuRatios, cpu.Seconds()/plainCPU.Seconds())
		t.Logf("round %d: %d MiB in %d MiB chunks: plain copy %.0f MiB/s; encrypted chunks %.0f MiB/s (ratio %.2f); chunks+validate+commit %.0f MiB/s (ratio %.2f); CPU time plain %.2fs, upload %.2fs (%.1fx)",
			i+1, mib, chunk>>20, rate(plain), rate(put), plain.Seconds()/put.Seconds(), rate(total), plain.Seconds()/total.Seconds(),
			plainCPU.Seconds(), cpu.Seconds(), cpu.Seconds()/plainCPU.Seconds())
	}
	close(done)
	slices.Sort(ratios)
	slices.Sort(putRatios)
	slices.Sort(cpuRatios)
	t.Logf("median of %d rounds: upload+validate+commit / plain copy = %.2f (chunks only %.2f); CPU time upload / plain copy = %.1fx",
		rounds, ratios[len(ratios)/2], putRatios[len(putRatios)/2], cpuRatios[len(cpuRatios)/2])
	t.Logf("peak Go heap in use %.1f MiB, process peak RSS %s", float64(peakHeap)/(1<<20), peakRSS())
}

// cpuTime is the process's user plus system CPU time so far. The machine is
// shared, so wall-clock ratios move with other load; CPU time per byte does
// much less.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func peakRSS() string {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return "unknown"
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmHWM:") {
			return strings.TrimSpace(strings.TrimPrefix(l, "VmHWM:"))
		}
	}
	return "unknown"
}

// deleteFile removes a file's rows and objects (benchmarks reuse the disk).
func (s *Store) deleteFile(ctx context.Context, f File) error {
	ps, err := s.parts(ctx, `SELECT offset_bytes, length, object FROM media_file_parts WHERE file_id = $1 ORDER BY offset_bytes`, f.ID)
	if err != nil {
		return err
	}
	if _, err := s.DB.Write.ExecContext(ctx, `DELETE FROM media_file_parts WHERE file_id = $1`, f.ID); err != nil {
		return err
	}
	if _, err := s.DB.Write.ExecContext(ctx, `DELETE FROM media_files WHERE id = $1`, f.ID); err != nil {
		return err
	}
	for _, p := range ps {
		if err := s.Blobs.Delete(ctx, p.object); err != nil {
			return err
		}
	}
	return nil
}
