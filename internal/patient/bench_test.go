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
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
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
func bulkLoad(b *testing.B, e *pt.Env, d *db.DB, ws string, n int) []string {
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
	if d.Dialect.Name == "sqlite" {
		d.Write.Exec(`ANALYZE`)
	}
	return ids
}

type loaded struct {
	e   *pt.Env
	d   *db.DB
	ids []string
}

var (
	loadOnce sync.Once
	world    loaded
)

// load builds the 100k-patient workspace once per benchmark binary run.
func load(b *testing.B) loaded {
	loadOnce.Do(func() {
		// Outlives each benchmark's b (the process exit cleans up the
		// store; the directory is under the system temp dir).
		dir, err := os.MkdirTemp("", "custodia-bench-")
		if err != nil {
			b.Fatal(err)
		}
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
// (Patients.Get) with a plain SQL read of the same row, both from 64
// concurrent readers, and reports the ratio of their per-read costs. The
// audit log's group commit is what keeps the ratio small under load.
func BenchmarkReadRatio(b *testing.B) {
	w := load(b)
	doc := pt.Clinician("ws1", "doc1")
	ctx := context.Background()
	run := func(n int, fn func(id string)) time.Duration {
		return runOver(n, len(w.ids), fn)
	}
	runOver = func(n, span int, fn func(id string)) time.Duration {
		var next atomic.Int64
		var wg sync.WaitGroup
		t0 := time.Now()
		for g := 0; g < 64; g++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for {
					i := next.Add(1)
					if i > int64(n) {
						return
					}
					fn(w.ids[(i*7919)%int64(span)])
				}
			}()
		}
		wg.Wait()
		return time.Since(t0)
	}
	var audited, plain, hot time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n := 2000
		plain += run(n, func(id string) {
			var p, s []byte
			var ws string
			if err := w.d.Read.QueryRowContext(ctx, `SELECT workspace_id, profile, summary FROM patients WHERE id = $1`, id).Scan(&ws, &p, &s); err != nil {
				b.Fatal(err)
			}
		})
		get := func(id string) {
			if _, err := w.e.Patients.Get(ctx, doc, id); err != nil {
				b.Fatal(err)
			}
		}
		audited += run(n, get)
		// The same over 2,000 patients whose keys stay in the keyring's
		// cache: the difference is the cost of unwrapping a patient key.
		hot += runOver(n, min(2000, len(w.ids)), get)
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / float64(b.N*2000) }
	b.ReportMetric(per(plain), "plain-ns/read")
	b.ReportMetric(per(audited), "audited-ns/read")
	b.ReportMetric(per(hot), "audited-hot-keys-ns/read")
	b.ReportMetric(per(audited)/per(plain), "ratio")
	_ = access.PatientRead
}

var runOver func(n, span int, fn func(id string)) time.Duration
