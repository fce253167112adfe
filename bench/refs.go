package main

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/keys"
)

// measure runs fn repeatedly for about d and returns operations per second.
func measure(d time.Duration, fn func()) float64 {
	fn() // warm up
	n := 0
	start := time.Now()
	for time.Since(start) < d {
		fn()
		n++
	}
	return float64(n) / time.Since(start).Seconds()
}

func mbps(bytesPerOp int, opsPerSec float64) string {
	return fmt.Sprintf("%.0f MB/s", float64(bytesPerOp)*opsPerSec/1e6)
}

func ratio(ours, ref float64) string {
	if ref == 0 {
		return "n/a"
	}
	if r := ours / ref; r < 0.1 {
		return fmt.Sprintf("%.3f", r) // small ratios keep their digits
	}
	return fmt.Sprintf("%.2f", ours/ref)
}

// refs holds the reference figures measured in this run, for the server
// workloads to compare against.
type refs struct {
	shaEntryPerSec     float64 // SHA-256 over shaEntryBytes inputs
	copyMBps           float64
	sqliteInsertPerSec float64
	sqliteReadPerSec   float64
}

// shaEntryBytes approximates one audit entry as hashed by the chain.
const shaEntryBytes = 512

func cryptoRows(c config, ref *refs) []Result {
	d := 2 * time.Second
	if c.quick {
		d = 500 * time.Millisecond
	}
	const seg = 64 << 10
	buf := make([]byte, 1<<20)
	_, _ = rand.Read(buf)
	var raw [32]byte
	_, _ = rand.Read(raw[:])
	block, _ := aes.NewCipher(raw[:])
	gcm, _ := cipher.NewGCM(block)
	nonce := make([]byte, gcm.NonceSize())
	dst := make([]byte, 0, seg+gcm.Overhead())
	sealRaw := func() {
		for off := 0; off < len(buf); off += seg {
			dst = gcm.Seal(dst[:0], nonce, buf[off:off+seg], nil)
		}
	}
	k, _ := keys.NewRandomKey()
	sealStream := func() {
		w, _ := keys.NewEncryptingWriter(io.Discard, k, []byte("bench"))
		_, _ = w.Write(buf)
		_ = w.Close()
	}
	// Interleaved rounds, best of each: other work on a shared machine
	// then slows both sides alike instead of whichever ran at the wrong time.
	var rawAES, stream, shaRaw float64
	for round := 0; round < 3; round++ {
		rawAES = max(rawAES, measure(d/3, sealRaw))
		stream = max(stream, measure(d/3, sealStream))
		shaRaw = max(shaRaw, measure(d/3, func() { _ = sha256.Sum256(buf) }))
	}
	entry := buf[:shaEntryBytes]
	ref.shaEntryPerSec = measure(d, func() { _ = sha256.Sum256(entry) })
	return []Result{
		{Workload: "stream encryption (64 KiB segments)", Ours: mbps(len(buf), stream), Reference: mbps(len(buf), rawAES) + " raw AES-256-GCM",
			Ratio: ratio(stream, rawAES), Note: "target ≥ 0.8"},
		{Workload: "SHA-256 (reference for audit verify)", Ours: "", Reference: mbps(len(buf), shaRaw), Ratio: ""},
	}
}

func storageRows(ctx context.Context, c config, ref *refs) ([]Result, error) {
	size := 256 << 20
	if c.quick {
		size = 64 << 20
	}
	src := filepath.Join(c.work, "src.bin")
	f, err := os.Create(src)
	if err != nil {
		return nil, err
	}
	chunk := make([]byte, 1<<20)
	_, _ = rand.Read(chunk)
	for i := 0; i < size>>20; i++ {
		if _, err := f.Write(chunk); err != nil {
			return nil, err
		}
	}
	if err := f.Close(); err != nil {
		return nil, err
	}
	// Reference: a plain copy on the same disk, fsynced like our store does.
	// The disk's write speed swings from second to second on a shared
	// machine (and after a large fsync), so the copy and our store take
	// turns over three rounds, in alternating order, and each side keeps
	// its median.
	store, err := blob.NewLocal(filepath.Join(c.work, "blobs"))
	if err != nil {
		return nil, err
	}
	k, _ := keys.NewRandomKey()
	copyOnce := func(round int) (float64, error) {
		to := filepath.Join(c.work, fmt.Sprintf("copy-%d.bin", round))
		start := time.Now()
		if err := plainCopy(src, to); err != nil {
			return 0, err
		}
		rate := float64(size) / time.Since(start).Seconds()
		return rate, os.Remove(to)
	}
	putOnce := func(round int) (float64, error) {
		in, err := os.Open(src)
		if err != nil {
			return 0, err
		}
		defer in.Close()
		name := fmt.Sprintf("bench/object-%d", round)
		start := time.Now()
		if _, err := blob.PutEncrypted(ctx, store, name, k, in); err != nil {
			return 0, err
		}
		rate := float64(size) / time.Since(start).Seconds()
		return rate, store.Delete(ctx, name)
	}
	var copies, puts []float64
	sides := []struct {
		run   func(round int) (float64, error)
		rates *[]float64
	}{{copyOnce, &copies}, {putOnce, &puts}}
	for round := range 3 {
		for i := range sides {
			side := sides[(i+round)%len(sides)]
			r, err := side.run(round)
			if err != nil {
				return nil, err
			}
			*side.rates = append(*side.rates, r)
		}
	}
	plain, put := median(copies), median(puts)
	ref.copyMBps = plain / 1e6

	rows := []Result{{Workload: fmt.Sprintf("encrypted blob write, %d MiB", size>>20), Ours: fmt.Sprintf("%.0f MB/s", put/1e6),
		Reference: fmt.Sprintf("%.0f MB/s plain copy", plain/1e6), Ratio: ratio(put, plain), Note: "target ≥ 0.7"}}

	sq, err := sqliteRows(ctx, c, ref)
	return append(rows, sq...), err
}

func plainCopy(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	if err := out.Sync(); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// sqliteRows measures plain SQLite, the floor under every request we serve.
func sqliteRows(ctx context.Context, c config, ref *refs) ([]Result, error) {
	path := filepath.Join(c.work, "plain.db")
	d, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=synchronous(FULL)")
	if err != nil {
		return nil, err
	}
	defer d.Close()
	d.SetMaxOpenConns(1)
	if _, err := d.ExecContext(ctx, `CREATE TABLE t (id INTEGER PRIMARY KEY, a TEXT, b BLOB)`); err != nil {
		return nil, err
	}
	n := 100000
	if c.quick {
		n = 20000
	}
	payload := bytes.Repeat([]byte("x"), 200)
	start := time.Now()
	for i := 0; i < n; i += 500 {
		tx, err := d.BeginTx(ctx, nil)
		if err != nil {
			return nil, err
		}
		st, _ := tx.PrepareContext(ctx, `INSERT INTO t (id, a, b) VALUES ($1, $2, $3)`)
		for j := i; j < i+500 && j < n; j++ {
			if _, err := st.ExecContext(ctx, j+1, "row", payload); err != nil {
				tx.Rollback()
				return nil, err
			}
		}
		st.Close()
		if err := tx.Commit(); err != nil {
			return nil, err
		}
	}
	insert := float64(n) / time.Since(start).Seconds()
	dur := time.Second
	if c.quick {
		dur = 300 * time.Millisecond
	}
	i := 0
	pointRead := func() {
		i = (i*7919 + 1) % n
		var a string
		var b []byte
		_ = d.QueryRowContext(ctx, `SELECT a, b FROM t WHERE id = $1`, i+1).Scan(&a, &b)
	}
	var read float64
	for round := 0; round < 3; round++ { // best of three, as for the crypto references
		read = max(read, measure(dur/3, pointRead))
	}
	ref.sqliteInsertPerSec, ref.sqliteReadPerSec = insert, read
	return []Result{
		{Workload: "plain SQLite batched insert (500/tx, FULL sync)", Reference: fmt.Sprintf("%.0f rows/s", insert)},
		{Workload: "plain SQLite point read", Reference: fmt.Sprintf("%.0f reads/s (%.1f µs)", read, 1e6/read)},
	}, nil
}

func commit() string {
	out, err := exec.Command("git", "rev-parse", "--short", "HEAD").Output()
	if err != nil {
		return "unknown"
	}
	s := strings.TrimSpace(string(out))
	if dirty, _ := exec.Command("git", "status", "--porcelain", "--untracked-files=no").Output(); len(dirty) > 0 {
		s += " (with uncommitted changes)"
	}
	return s
}

func memTotal() string {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return "unknown"
	}
	var kb int64
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "MemTotal:") {
			fmt.Sscanf(strings.TrimSpace(strings.TrimPrefix(l, "MemTotal:")), "%d", &kb)
		}
	}
	return fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
}

// median is the middle of xs (of an odd count; the upper middle otherwise).
func median(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}
