package web_test

import (
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/rehab/rehabtest"
)

// Batches of 500 exercise records (50 sessions of 10), 40 a round: 20,000
// records through the HTTP API per round.
const (
	benchSessions  = 50
	benchExercises = 10
	benchBatches   = 40
)

// BenchmarkRehabIngest uploads exercise records through the HTTP API
// (httptest server on loopback, real SQLite, encryption, audit) and, in the
// same run, inserts the same number of unencrypted rows into SQLite with
// prepared multi-row inserts in transactions of 500 (the reference). It
// reports both rates and their ratio. clients>1 uploads concurrently, as
// many devices do.
//
//	go test ./internal/web -run '^$' -bench RehabIngest -benchtime 3x
func BenchmarkRehabIngest(b *testing.B) {
	for _, clients := range []int{1, 4} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) { benchIngest(b, clients) })
	}
}

func benchIngest(b *testing.B, clients int) {
	e := newRehabEnv(b, nil)
	url := e.as(b, rDevice).URL + "/api/v1/patients/" + rPatient + "/rehab/ingest"
	ref := openReference(b)
	start := time.Now().UTC().AddDate(-10, 0, 0)
	var httpTime, refTime time.Duration
	records := 0
	round := 0
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}}
	for b.Loop() {
		b.StopTimer()
		bodies := make([][]byte, benchBatches)
		for i := range bodies {
			bodies[i] = rehabtest.Batch(rehabtest.BatchSpec{Prefix: fmt.Sprintf("r%d-b%d", round, i), Sessions: benchSessions,
				Exercises: benchExercises, Start: start})
		}
		round++
		b.StartTimer()

		t0 := time.Now()
		next := make(chan []byte, len(bodies))
		for _, body := range bodies {
			next <- body
		}
		close(next)
		var wg sync.WaitGroup
		for range clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for body := range next {
					res, err := client.Post(url, "application/json", bytes.NewReader(body))
					if err != nil {
						b.Error(err)
						return
					}
					msg, _ := io.ReadAll(res.Body)
					res.Body.Close()
					if res.StatusCode != 200 || !bytes.Contains(msg, []byte(`"created":500`)) {
						b.Errorf("upload: %d %s", res.StatusCode, msg)
						return
					}
				}
			}()
		}
		wg.Wait()
		httpTime += time.Since(t0)

		t0 = time.Now()
		ref.insert(b, benchBatches*benchSessions*benchExercises)
		refTime += time.Since(t0)
		records += benchBatches * benchSessions * benchExercises
	}
	api := float64(records) / httpTime.Seconds()
	plain := float64(records) / refTime.Seconds()
	b.ReportMetric(api, "records/s")
	b.ReportMetric(plain, "ref_records/s")
	b.ReportMetric(plain/api, "ref/api")
}

// reference is plain SQLite with the same pragmas and a table of the same
// shape holding unencrypted JSON.
type reference struct {
	d    *db.DB
	st   *sql.Stmt
	n    int
	body []byte
}

func openReference(b *testing.B) *reference {
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(b.TempDir(), "ref.db"), "")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { d.Close() })
	if _, err := d.Write.Exec(`CREATE TABLE plain_exercises (session_id TEXT NOT NULL, ordinal INTEGER NOT NULL,
		patient_id TEXT NOT NULL, year INTEGER NOT NULL, record BLOB NOT NULL, PRIMARY KEY (session_id, ordinal))`); err != nil {
		b.Fatal(err)
	}
	if _, err := d.Write.Exec(`CREATE INDEX plain_exercises_year ON plain_exercises (patient_id, year)`); err != nil {
		b.Fatal(err)
	}
	q := "INSERT INTO plain_exercises (session_id, ordinal, patient_id, year, record) VALUES " +
		strings.TrimSuffix(strings.Repeat("(?,?,?,?,?),", 500), ",")
	st, err := d.Write.Prepare(q)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { st.Close() })
	return &reference{d: d, st: st,
		body: []byte(`{"t":"wrist_flexion","i":"ball","l":3,"s":"left","d":1717236000000000,"u":61,"p":72}`)}
}

// insert writes n rows in transactions of 500.
func (r *reference) insert(b *testing.B, n int) {
	args := make([]any, 0, 2500)
	for done := 0; done < n; done += 500 {
		args = args[:0]
		for i := range 500 {
			r.n++
			args = append(args, fmt.Sprintf("s%d", r.n/10), i, rPatient, 2025, r.body)
		}
		err := r.d.Tx(context.Background(), func(tx *sql.Tx) error {
			_, err := tx.Stmt(r.st).Exec(args...)
			return err
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRehabProgressPage renders the therapist's rehabilitation page for
// a patient with five years of daily sessions (five exercises each) over the
// five-year range, and reports p50 and p99 latency.
//
//	go test ./internal/web -run '^$' -bench RehabProgressPage -benchtime 200x
func BenchmarkRehabProgressPage(b *testing.B) {
	e := newRehabEnv(b, nil)
	days := 5*365 + 1
	start := time.Now().UTC().AddDate(-5, 0, 1)
	for first := 0; first < days; first += 800 {
		n := min(800, days-first)
		body := rehabtest.Batch(rehabtest.BatchSpec{Prefix: "d", First: first, Sessions: n, Exercises: 5, Start: start})
		if _, err := e.f.Service.Ingest(context.Background(), rDevice, rPatient, bytes.NewReader(body)); err != nil {
			b.Fatal(err)
		}
	}
	url := e.as(b, rTherapist).URL + "/patients/" + rPatient + "/rehab?range=5y"
	var lat []time.Duration
	size := 0
	for b.Loop() {
		t0 := time.Now()
		res, err := http.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		page, _ := io.ReadAll(res.Body)
		res.Body.Close()
		lat = append(lat, time.Since(t0))
		if res.StatusCode != 200 {
			b.Fatalf("%d", res.StatusCode)
		}
		size = len(page)
	}
	sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(lat[min(len(lat)-1, len(lat)*99/100)].Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(size)/1024, "page_KiB")
}
