package patient_test

import (
	"context"
	"database/sql"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/patient"
	pt "github.com/custodia-health/custodia/internal/patient/patienttest"
)

// benchPatients is how many patients the workspace holds:
// CUSTODIA_BENCH_PATIENTS, default 100,000.
func benchPatients() int {
	if n, err := strconv.Atoi(os.Getenv("CUSTODIA_BENCH_PATIENTS")); err == nil && n > 0 {
		return n
	}
	return 100_000
}

var given = []string{"Anna", "Ben", "Carla", "Dev", "Ema", "Farid", "Greta", "Hugo", "Ines", "Jon", "Kai", "Lena", "Mo", "Nia", "Omar", "Pia"}

// family names are drawn from 2,000 so a surname search matches ~50 people.
func family(i int) string { return fmt.Sprintf("Fam%04d", i%2000) }

// bulkLoad fills ws with n patients through the service's own sealing and
// indexing, in large transactions, with fsync off for the load only.
func bulkLoad(b testing.TB, e *pt.Env, d *db.DB, ws string, n int) []string {
	ctx := context.Background()
	if d.Dialect.Name == "sqlite" {
		d.Write.Exec(`PRAGMA synchronous=OFF`)
		defer d.Write.Exec(`PRAGMA synchronous=FULL`)
	}
	bk, err := e.Keys.BlindKey(ctx, ws)
	if err != nil {
		b.Fatal(err)
	}
	ids := make([]string, n)
	const chunk = 2000
	now := time.Now().Add(-time.Hour).UnixMicro()
	for start := 0; start < n; start += chunk {
		end := min(n, start+chunk)
		type sealed struct {
			prof, sum []byte
			terms     [][]byte
		}
		rows := make([]sealed, end-start)
		for i := start; i < end; i++ {
			ids[i] = patient.NewID()
			p := patient.Profile{GivenName: given[i%len(given)], FamilyName: family(i), BirthDate: fmt.Sprintf("19%02d-%02d-%02d", 30+i%70, 1+i%12, 1+i%28),
				Email: fmt.Sprintf("p%d@example.org", i), MRN: fmt.Sprintf("MRN%07d", i), BiologicalSex: "female", Laterality: "right", HeightCM: 170}
			k, err := e.Keys.PatientKey(ctx, ws, ids[i]) // one small write each: keys has no bulk API
			if err != nil {
				b.Fatal(err)
			}
			r := &rows[i-start]
			if r.prof, err = patient.Seal(k, p, "patients", ids[i], "profile"); err != nil {
				b.Fatal(err)
			}
			if r.sum, err = patient.Seal(k, p.Summary(), "patients", ids[i], "summary"); err != nil {
				b.Fatal(err)
			}
			r.terms = patient.SearchTerms(bk, p)
		}
		err := d.Tx(ctx, func(tx *sql.Tx) error {
			for i := start; i < end; i++ {
				r := rows[i-start]
				if _, err := tx.Exec(`INSERT INTO patients (id, workspace_id, created_by, created_at, updated_at, version, profile, summary) VALUES ($1, $2, 'doc1', $3, $3, 1, $4, $5)`,
					ids[i], ws, now+int64(i), r.prof, r.sum); err != nil {
					return err
				}
				if _, err := tx.Exec(`INSERT INTO care_team (patient_id, user_id, added_by, added_at) VALUES ($1, 'doc1', 'doc1', $2)`, ids[i], now); err != nil {
					return err
				}
				for _, t := range r.terms {
					if _, err := tx.Exec(`INSERT INTO patient_search (workspace_id, term, patient_id) VALUES ($1, $2, $3)`, ws, t, ids[i]); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
	if _, err := d.Write.Exec(`ANALYZE`); err != nil {
		b.Fatal(err)
	}
	return ids
}

type loaded struct {
	e   *pt.Env
	d   *db.DB
	ids []string
}

// TestMain removes the shared benchmark store when the binary ends.
func TestMain(m *testing.M) {
	code := m.Run()
	if world.e != nil {
		world.e.Audit.Log.Close()
		world.d.Close()
	}
	if worldDir != "" {
		os.RemoveAll(worldDir)
	}
	os.Exit(code)
}

var (
	loadOnce sync.Once
	world    loaded
	worldDir string // the shared store's directory, removed by TestMain
)

// load builds the 100k-patient workspace once per benchmark binary run.
func load(b *testing.B) loaded {
	loadOnce.Do(func() {
		// Outlives each benchmark's b; TestMain removes it.
		dir, err := os.MkdirTemp("", "custodia-bench-")
		if err != nil {
			b.Fatal(err)
		}
		worldDir = dir
		d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(dir, "custodia.db"), dir)
		if err != nil {
			b.Fatal(err)
		}
		e, err := pt.Open(d)
		if err != nil {
			b.Fatal(err)
		}
		start := time.Now()
		ids := bulkLoad(b, e, d, "ws1", benchPatients())
		b.Logf("loaded %d patients in %v", len(ids), time.Since(start).Round(time.Millisecond))
		world = loaded{e: e, d: d, ids: ids}
	})
	if world.e == nil {
		b.Skip("load failed in an earlier benchmark")
	}
	return world
}

// percentiles runs fn n times (sequentially: each is one page request) and
// reports p50 and p99 in milliseconds.
func percentiles(b *testing.B, fn func(i int)) {
	ds := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		t0 := time.Now()
		fn(i)
		ds = append(ds, time.Since(t0))
	}
	b.StopTimer()
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	q := func(p float64) float64 { return float64(ds[int(p*float64(len(ds)-1))].Microseconds()) / 1000 }
	b.ReportMetric(q(0.50), "p50-ms")
	b.ReportMetric(q(0.99), "p99-ms")
}

// BenchmarkSearch100k: a name search over the workspace (each family name is
// shared by ~50 patients, so a page of results is decrypted and 51 entries
// audited per request), and an exact MRN search.
func BenchmarkSearch100k(b *testing.B) {
	w := load(b)
	doc := pt.Clinician("ws1", "doc1")
	ctx := context.Background()
	b.Run("surname", func(b *testing.B) {
		percentiles(b, func(i int) {
			pg, err := w.e.Patients.Search(ctx, doc, patient.Query{Name: family(i * 7919)})
			if err != nil || len(pg.Patients) == 0 {
				b.Fatalf("search: %v", err)
			}
		})
	})
	b.Run("mrn", func(b *testing.B) {
		percentiles(b, func(i int) {
			pg, err := w.e.Patients.Search(ctx, doc, patient.Query{MRN: fmt.Sprintf("mrn%07d", (i*7919)%len(w.ids))})
			if err != nil || len(pg.Patients) != 1 {
				b.Fatalf("search: %v", err)
			}
		})
	})
}

// BenchmarkList100k is the first page of the patient list: 50 summaries
// decrypted, 51 entries audited.
func BenchmarkList100k(b *testing.B) {
	w := load(b)
	doc := pt.Clinician("ws1", "doc1")
	percentiles(b, func(int) {
		pg, err := w.e.Patients.List(context.Background(), doc, "")
		if err != nil || len(pg.Patients) != patient.PageSize {
			b.Fatalf("list: %v", err)
		}
	})
}

// BenchmarkReadRatio compares an authorised, audited, decrypted patient read
// (Patients.Get) with a plain SQL read of the same row (workspace_id,
// profile, summary by id), both from 16, 64 and 256 concurrent readers, on
// SQLite and (when CUSTODIA_TEST_POSTGRES is set) on PostgreSQL, and reports
// the ratio of their per-read wall times (throughput). Each durable audit
// entry costs its reader one group-commit latency, which more readers share.
//
//   - plain: the query text is sent each time (database/sql parses it on
//     SQLite; pgx caches its prepared form per connection on PostgreSQL);
//     "ratio" is audited over this.
//   - plain-prepared: the same query prepared once; "ratio-prepared" is
//     audited over this, the stricter comparison.
//   - audited: Get over the same rows as plain. Each pass reads other
//     patients than the last, so most of their keys are not in the
//     keyring's cache (4,096 keys) and are unwrapped from the key row.
//   - audited-hot-keys: Get over 2,000 patients whose keys stay cached;
//     "ratio-hot" is it over plain.
//
// cpu-ns/read is this process's CPU time per read (user + system), less
// sensitive to neighbours than the wall clock; on PostgreSQL it leaves out
// the server's CPU.
func BenchmarkReadRatio(b *testing.B) {
	b.Run("sqlite", func(b *testing.B) { readRatio(b, load(b)) })
	b.Run("postgres", func(b *testing.B) {
		d := dbtest.Postgres(b)
		e := pt.New(b, d)
		start := time.Now()
		ids := bulkLoad(b, e, d, "ws1", benchPatients())
		b.Logf("loaded %d patients in %v", len(ids), time.Since(start).Round(time.Millisecond))
		readRatio(b, loaded{e: e, d: d, ids: ids})
	})
}

func readRatio(b *testing.B, w loaded) {
	doc := pt.Clinician("ws1", "doc1")
	ctx := context.Background()
	const plainSQL = `SELECT workspace_id, profile, summary FROM patients WHERE id = $1`
	prepared, err := w.d.Read.PrepareContext(ctx, plainSQL)
	if err != nil {
		b.Fatal(err)
	}
	defer prepared.Close()
	const n = 2000 // reads per pass
	pass := 0      // moves each pass to other patients, across sub-benchmarks
	for _, readers := range []int{16, 64, 256} {
		b.Run(fmt.Sprintf("readers=%d", readers), func(b *testing.B) {
			type total struct{ wall, cpu time.Duration }
			run := func(off, span int, fn func(id string)) total {
				var next atomic.Int64
				var wg sync.WaitGroup
				cpu0 := processCPU()
				t0 := time.Now()
				for range readers {
					wg.Go(func() {
						for {
							i := next.Add(1)
							if i > int64(n) {
								return
							}
							fn(w.ids[(int64(off)+i*7919)%int64(span)])
						}
					})
				}
				wg.Wait()
				return total{time.Since(t0), processCPU() - cpu0}
			}
			plainRead := func(id string) {
				var p, s []byte
				var ws string
				if err := w.d.Read.QueryRowContext(ctx, plainSQL, id).Scan(&ws, &p, &s); err != nil {
					b.Fatal(err)
				}
			}
			preparedRead := func(id string) {
				var p, s []byte
				var ws string
				if err := prepared.QueryRowContext(ctx, id).Scan(&ws, &p, &s); err != nil {
					b.Fatal(err)
				}
			}
			get := func(id string) {
				if _, err := w.e.Patients.Get(ctx, doc, id); err != nil {
					b.Fatal(err)
				}
			}
			var plain, prep, audited, hot total
			add := func(t *total, r total) { t.wall += r.wall; t.cpu += r.cpu }
			all := len(w.ids)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				pass++
				off := pass * n
				add(&plain, run(off, all, plainRead))
				add(&prep, run(off, all, preparedRead))
				add(&audited, run(off, all, get))
				// 2,000 patients whose keys stay in the keyring's cache:
				// the difference is the cost of unwrapping a patient key.
				add(&hot, run(0, min(2000, all), get))
			}
			b.StopTimer()
			per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*n) }
			b.ReportMetric(per(plain.wall), "plain-ns/read")
			b.ReportMetric(per(prep.wall), "plain-prepared-ns/read")
			b.ReportMetric(per(audited.wall), "audited-ns/read")
			b.ReportMetric(per(hot.wall), "audited-hot-keys-ns/read")
			b.ReportMetric(per(audited.wall)/per(plain.wall), "ratio")
			b.ReportMetric(per(audited.wall)/per(prep.wall), "ratio-prepared")
			b.ReportMetric(per(hot.wall)/per(plain.wall), "ratio-hot")
			b.ReportMetric(per(plain.cpu), "plain-cpu-ns/read")
			b.ReportMetric(per(audited.cpu), "audited-cpu-ns/read")
			b.ReportMetric(per(hot.cpu), "audited-hot-keys-cpu-ns/read")
		})
	}
}

// processCPU is the CPU time this process has used (user + system).
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
