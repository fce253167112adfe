package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// benchDBs opens one store per dialect; PostgreSQL only when configured.
func benchDBs(b *testing.B, fn func(b *testing.B, d *db.DB)) {
	b.Run("sqlite", func(b *testing.B) { fn(b, dbtest.SQLite(b)) })
	b.Run("postgres", func(b *testing.B) { fn(b, dbtest.Postgres(b)) })
}

// BenchmarkAppend measures durable appends per second with 1, 8 and 64
// goroutines appending at once; group commit should make it grow.
func BenchmarkAppend(b *testing.B) {
	benchDBs(b, func(b *testing.B, d *db.DB) {
		l := openLog(b, d, newKey(b), Options{})
		for _, writers := range []int{1, 8, 64} {
			b.Run("writers="+strconv.Itoa(writers), func(b *testing.B) {
				var next atomic.Int64
				commits := l.commits.Load()
				var wg sync.WaitGroup
				b.ResetTimer()
				for w := 0; w < writers; w++ {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(b.N) {
								return
							}
							if _, err := l.Append(context.Background(), event(int(i))); err != nil {
								b.Error(err)
								return
							}
						}
					})
				}
				wg.Wait()
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
				b.ReportMetric(float64(b.N)/float64(l.commits.Load()-commits), "entries/commit")
			})
		}
	})
}

// benchN reads a size from the environment, for runs larger than the default.
func benchN(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

// BenchmarkVerify measures Verify over a preloaded log whose entries store
// their encoding ("encoded") and, for comparison, over the same log as
// written before migration 0210, hashed from its columns ("columns"), and,
// in the same run, raw SHA-256 over the same bytes, so the ratio shows what
// the database read costs on top of the hashing. cpu-ns/entry is this
// process's CPU time (on PostgreSQL the server's is not in it).
// CUSTODIA_BENCH_VERIFY_N sets the log size (default 200,000).
func BenchmarkVerify(b *testing.B) {
	n := benchN("CUSTODIA_BENCH_VERIFY_N", 200_000)
	benchDBs(b, func(b *testing.B, d *db.DB) {
		k := newKey(b)
		bulkLoad(b, d, k, n, 10_000)
		// The same log as written before migration 0210, in a second store.
		var legacy *db.DB
		if d.Dialect.Name == "sqlite" {
			legacy = dbtest.SQLite(b)
		} else {
			legacy = dbtest.Postgres(b)
		}
		bulkLoadAs(b, legacy, k, n, 10_000, true)
		for _, path := range []string{"encoded", "columns"} {
			b.Run(fmt.Sprintf("entries=%d/%s", n, path), func(b *testing.B) {
				d := d
				if path == "columns" {
					d = legacy
				}
				cpu0 := processCPU()
				for b.Loop() {
					rep, err := Verify(context.Background(), d, k, VerifyOptions{})
					if err != nil || !rep.OK() || rep.Entries != int64(n) {
						b.Fatalf("verify: %+v %v", rep, err)
					}
				}
				// CPU time is reported too: on a shared machine the wall
				// clock also measures the neighbours.
				b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/entry")
				perVerify := b.Elapsed().Seconds() / float64(b.N)
				rate := float64(n) / perVerify
				b.ReportMetric(rate, "entries/s")
				raw := rawHashRate(n)
				b.ReportMetric(raw, "sha256-entries/s")
				b.ReportMetric(rate/raw, "ratio-to-sha256")
			})
		}
	})
}

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// rawHashRate hashes n canonical encodings of the benchmark's events,
// chained as Verify chains them, and returns records per second.
func rawHashRate(n int) float64 {
	recs := make([][]byte, 1000)
	for i := range recs {
		e := event(i)
		recs[i] = encode(nil, int64(i+1), time.Now().UnixMicro(), &e)
	}
	h := sha256.New()
	var sum [HashSize]byte
	start := time.Now()
	for i := range n {
		chainHash(h, sum[:], recs[i%len(recs)], sum[:0])
	}
	return float64(n) / time.Since(start).Seconds()
}

// BenchmarkHistoryQuery measures a patient's newest page of history on a
// large log and reports p50 and p99 latency. CUSTODIA_BENCH_LARGE sets the
// log size (default 200,000; the target is 10,000,000), with one patient
// per 100 entries.
func BenchmarkHistoryQuery(b *testing.B) {
	n := benchN("CUSTODIA_BENCH_LARGE", 200_000)
	patients := max(1, n/100)
	benchDBs(b, func(b *testing.B, d *db.DB) {
		k := newKey(b)
		start := time.Now()
		bulkLoad(b, d, k, n, patients)
		b.Logf("loaded %d entries in %s (%.0f/s)", n, time.Since(start).Round(time.Millisecond), float64(n)/time.Since(start).Seconds())
		l := openLog(b, d, k, Options{})
		b.Run(fmt.Sprintf("entries=%d", n), func(b *testing.B) {
			lat := make([]time.Duration, 0, b.N)
			rng := rand.New(rand.NewPCG(1, 2))
			for b.Loop() {
				p := "p-" + strconv.Itoa(rng.IntN(patients))
				t0 := time.Now()
				page, err := l.Query(context.Background(), Filter{PatientID: p, Limit: 50})
				lat = append(lat, time.Since(t0))
				if err != nil || len(page.Entries) == 0 {
					b.Fatalf("query %s: %d entries, %v", p, len(page.Entries), err)
				}
			}
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50-ms")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds())/1000, "p99-ms")
		})
	})
}

// bulkLoad appends n pre-chained entries in large transactions, bypassing
// the group-commit writer, and signs a checkpoint of the head. It is for
// building big logs in benchmarks only; the triggers still check every row.
func bulkLoad(tb testing.TB, d *db.DB, k ed25519.PrivateKey, n, patients int) {
	tb.Helper()
	bulkLoadAs(tb, d, k, n, patients, false)
}

// bulkLoadAs is bulkLoad, writing the entries as before migration 0210
// (every column, no encoding) when legacy is set.
func bulkLoadAs(tb testing.TB, d *db.DB, k ed25519.PrivateKey, n, patients int, legacy bool) {
	tb.Helper()
	ctx := context.Background()
	l := &Log{d: d, signer: k, keyID: KeyID(k.Public().(ed25519.PublicKey)), insertSQL: map[int]*sql.Stmt{},
		opts: Options{Now: time.Now}}
	if err := l.loadHead(ctx); err != nil {
		tb.Fatal(err)
	}
	if d.Dialect.Name == "sqlite" {
		// A large page cache on the one writer connection keeps the index
		// pages of a multi-gigabyte load in memory (test-only tuning).
		if _, err := d.Write.ExecContext(ctx, `PRAGMA cache_size = -1048576`); err != nil {
			tb.Fatal(err)
		}
	}
	rng := rand.New(rand.NewPCG(3, 4))
	base := time.Now().Add(-time.Duration(n) * time.Second).UnixMicro()
	h := newLinkMAC(k)
	if legacy {
		h = sha256.New() // as written before keyed links
	}
	const txRows = 50_000
	batch := make([]Event, 0, insertChunk)
	for done := 0; done < n; {
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			for end := min(n, done+txRows); done < end; {
				batch = batch[:0]
				for range min(insertChunk, end-done) {
					e := event(done + len(batch))
					p := "p-" + strconv.Itoa(rng.IntN(patients))
					e.PatientID, e.ResourceID = p, p
					batch = append(batch, e)
				}
				q := insertSQL(d.Dialect, insertColumnList, entryColumns, len(batch))
				if legacy {
					q = insertSQL(d.Dialect, entryColumnList, 20, len(batch))
				}
				args := make([]any, 0, len(batch)*20)
				hashes := make([]byte, HashSize*(len(batch)+1))
				copy(hashes, l.headHash[:])
				for i := range batch {
					seq := l.head + int64(i) + 1
					micros := base + seq*1_000_000
					prev, sum := hashes[i*HashSize:(i+1)*HashSize], hashes[(i+1)*HashSize:(i+2)*HashSize]
					enc := encode(nil, seq, micros, &batch[i])
					if legacy {
						enc = encodeVersion(nil, unkeyedVersion, seq, micros, &batch[i])
					}
					chainHash(h, prev, enc, sum[:0])
					e := &batch[i]
					if legacy {
						args = append(args, seq, micros, e.ActorUserID, e.ActorTokenID, e.ActorRole, e.WorkspaceID, e.OnBehalfOf,
							e.Action, e.ResourceType, e.ResourceID, e.PatientID, e.Purpose, e.Decision, e.Reason,
							boolInt(e.BreakGlass), e.ClientAddr, e.RequestID, e.Outcome, prev, sum)
					} else {
						args = append(args, seq, micros, e.ActorUserID, e.WorkspaceID, e.Action, e.PatientID, prev, sum, enc)
					}
				}
				if _, err := tx.ExecContext(ctx, q, args...); err != nil {
					return err
				}
				l.head += int64(len(batch))
				copy(l.headHash[:], hashes[len(batch)*HashSize:])
				done += len(batch)
			}
			return nil
		})
		if err != nil {
			tb.Fatalf("bulk load: %v", err)
		}
	}
	if err := l.writeCheckpoint(kindInterval); err != nil {
		tb.Fatal(err)
	}
}

// BenchmarkAppendPatients appends patient reads by 64 goroutines over 20,000
// patients with random 128-bit ids (as the patient service writes them), on
// a log already holding 100,000 such entries, and reports this process's CPU
// time per entry: the writer's cost, which bounds audited reads.
func BenchmarkAppendPatients(b *testing.B) {
	benchDBs(b, func(b *testing.B, d *db.DB) {
		rng := rand.New(rand.NewPCG(5, 6))
		ids := make([]string, 20_000)
		for i := range ids {
			ids[i] = fmt.Sprintf("%016x%016x", rng.Uint64(), rng.Uint64())
		}
		ev := func(i int) Event {
			p := ids[(i*7919)%len(ids)]
			return Event{ActorUserID: "doc1", ActorRole: "clinician", WorkspaceID: "ws1", Action: "patient.read",
				ResourceType: "patient", ResourceID: p, PatientID: p, Purpose: "treatment", Decision: "allow",
				Reason: "care_team", ClientAddr: "127.0.0.1", RequestID: "req-doc1", Outcome: "success"}
		}
		l := openLog(b, d, newKey(b), Options{})
		var next atomic.Int64
		appendN := func(n int64) {
			var wg sync.WaitGroup
			for range 64 {
				wg.Go(func() {
					for {
						i := next.Add(1)
						if i > n {
							return
						}
						if _, err := l.Append(context.Background(), ev(int(i))); err != nil {
							b.Error(err)
							return
						}
					}
				})
			}
			wg.Wait()
		}
		appendN(100_000)
		b.Run("writers=64", func(b *testing.B) {
			commits := l.commits.Load()
			cpu0 := processCPU()
			b.ResetTimer()
			appendN(next.Load() + int64(b.N))
			b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N), "cpu-ns/entry")
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "appends/s")
			b.ReportMetric(float64(b.N)/float64(l.commits.Load()-commits), "entries/commit")
		})
	})
}
