package web

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"syscall"
	"testing"
	"time"
)

// TestLargeHTTPUploadAndViewThroughput sends a large binary STL to the
// real server over loopback HTTP in 8 MiB chunked PUTs (CUSTODIA_BENCH_CHUNK_MIB
// to change), completes it, reads it back through GET .../view, and compares
// both with a plain copy of the same bytes to a file on the same disk,
// written in the same pieces and fsynced once at the end (the upload is made
// durable once, at complete). The reference and the upload alternate for a
// few rounds (CUSTODIA_BENCH_ROUNDS, default 3), each after a sync(2). The
// client sends the same pre-built chunk again and again, so its own cost is
// small (a real client is on another machine). Gated: set
// CUSTODIA_BENCH_LARGE=MiB (1 means 512).
func TestLargeHTTPUploadAndViewThroughput(t *testing.T) {
	v := os.Getenv("CUSTODIA_BENCH_LARGE")
	if v == "" {
		t.Skip("set CUSTODIA_BENCH_LARGE=MiB to measure large uploads over HTTP")
	}
	mib := int64(512)
	if n, err := strconv.ParseInt(v, 10, 64); err == nil && n > 1 {
		mib = n
	}
	chunk := int64(8 << 20)
	if n, err := strconv.ParseInt(os.Getenv("CUSTODIA_BENCH_CHUNK_MIB"), 10, 64); err == nil && n > 0 {
		chunk = n << 20
	}
	rounds := 3
	if n, err := strconv.Atoi(os.Getenv("CUSTODIA_BENCH_ROUNDS")); err == nil && n > 0 {
		rounds = n
	}
	f := newMediaFixture(t)
	// One chunk's worth of triangles (50 bytes each), sent for every chunk.
	tris := (mib<<20 - 84) / 50
	size := 84 + 50*tris
	pattern := make([]byte, chunk+50)
	for i := 0; i+50 <= len(pattern); i += 50 {
		for k, c := range []float32{0, 0, 1, float32(i % 997), 1, 2, 3, float32(i % 991), 5, 6, 7, 8} {
			binary.LittleEndian.PutUint32(pattern[i+4*k:], math.Float32bits(c))
		}
	}
	piece := func(off, end int64) []byte {
		if off == 0 {
			b := append(make([]byte, 0, end), make([]byte, 84)...)
			binary.LittleEndian.PutUint32(b[80:], uint32(tris))
			return append(b, pattern[:end-84]...)
		}
		o := (off - 84) % 50
		return pattern[o : o+end-off]
	}

	plainCopy := func() (time.Duration, time.Duration) {
		syscall.Sync()
		cpu0 := cpuTime()
		start := time.Now()
		p := filepath.Join(f.dir, "plain.stl")
		out, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		for off := int64(0); off < size; off += chunk {
			if _, err := out.Write(piece(off, min(size, off+chunk))); err != nil {
				t.Fatal(err)
			}
		}
		if err := out.Sync(); err != nil {
			t.Fatal(err)
		}
		out.Close()
		d := time.Since(start)
		c := cpuTime() - cpu0
		os.Remove(p)
		return d, c
	}
	cl := &http.Client{}
	send := func(method, path string, body []byte, hdr map[string]string) *http.Response {
		var r io.Reader
		if body != nil {
			r = bytes.NewReader(body)
		}
		req, _ := http.NewRequest(method, f.ts.URL+path, r)
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := cl.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	upload := func() (string, time.Duration, time.Duration, time.Duration) {
		syscall.Sync()
		cpu0 := cpuTime()
		start := time.Now()
		res := send("POST", "/api/v1/uploads", []byte(fmt.Sprintf(`{"case_id":%q,"size":%d,"slot":"mesh"}`, mediaCaseID, size)),
			map[string]string{"Content-Type": "application/json"})
		var u struct{ ID string }
		json.NewDecoder(res.Body).Decode(&u)
		res.Body.Close()
		if res.StatusCode != 201 {
			t.Fatalf("create upload: %d", res.StatusCode)
		}
		for off := int64(0); off < size; off += chunk {
			end := min(size, off+chunk)
			res := send("PUT", "/api/v1/uploads/"+u.ID, piece(off, end), map[string]string{
				"Content-Type": "application/octet-stream", "Content-Range": fmt.Sprintf("bytes %d-%d/%d", off, end-1, size)})
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
			if res.StatusCode != 200 {
				t.Fatalf("put chunk at %d: %d", off, res.StatusCode)
			}
		}
		putDone := time.Now()
		res = send("POST", "/api/v1/uploads/"+u.ID+"/complete", nil, nil)
		var fs struct{ ID string }
		json.NewDecoder(res.Body).Decode(&fs)
		res.Body.Close()
		if res.StatusCode != 201 {
			t.Fatalf("complete: %d", res.StatusCode)
		}
		return fs.ID, time.Since(start), time.Since(putDone), cpuTime() - cpu0
	}
	view := func(id string) time.Duration {
		start := time.Now()
		res := send("GET", "/api/v1/files/"+id+"/view", nil, nil)
		n, err := io.Copy(io.Discard, res.Body)
		res.Body.Close()
		if err != nil || res.StatusCode != 200 || n != size {
			t.Fatalf("view: %d, %d of %d bytes, %v", res.StatusCode, n, size, err)
		}
		return time.Since(start)
	}
	rate := func(d time.Duration) float64 { return float64(size) / d.Seconds() / (1 << 20) }
	var ups, views, cpus []float64
	for i := range rounds {
		plain, plainCPU := plainCopy()
		id, up, complete, cpu := upload()
		cpus = append(cpus, cpu.Seconds()/plainCPU.Seconds())
		vw := view(id)
		ups = append(ups, plain.Seconds()/up.Seconds())
		views = append(views, plain.Seconds()/vw.Seconds())
		t.Logf("round %d: %d MiB in %d MiB PUTs: plain copy %.0f MiB/s; upload+complete %.0f MiB/s (ratio %.2f; complete took %s); view %.0f MiB/s (ratio %.2f); CPU time of client and server %.1fx the plain copy's",
			i+1, mib, chunk>>20, rate(plain), rate(up), ups[i], complete.Round(time.Millisecond), rate(vw), views[i], cpus[i])
	}
	slices.Sort(ups)
	slices.Sort(views)
	slices.Sort(cpus)
	t.Logf("median of %d rounds: upload / plain copy = %.2f, view / plain copy = %.2f; CPU time upload / plain copy = %.1fx",
		rounds, ups[len(ups)/2], views[len(views)/2], cpus[len(cpus)/2])
}

// cpuTime is the process's user plus system CPU time so far (client and
// server both run in it here).
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
