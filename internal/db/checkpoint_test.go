package db

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestBackgroundCheckpoint: commits through Tx reach the database file
// without the writer checkpointing (its threshold is far above what is
// written here).
func TestBackgroundCheckpoint(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "c.db")
	d, err := Open(ctx, "sqlite:"+path, "")
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE ckpt_t (b BLOB)`); err != nil {
		t.Fatal(err)
	}
	before := fileSize(t, path)
	for i := 0; i < 20; i++ {
		if err := d.Tx(ctx, func(tx *sql.Tx) error {
			_, err := tx.ExecContext(ctx, `INSERT INTO ckpt_t VALUES (randomblob(50000))`)
			return err
		}); err != nil {
			t.Fatal(err)
		}
	}
	// 1 MB written: far below the writer's own threshold, so only the
	// checkpointer can have put it in the database file.
	deadline := time.Now().Add(30 * time.Second)
	for fileSize(t, path) < before+900_000 {
		if time.Now().After(deadline) {
			t.Fatalf("database file still %d bytes (was %d): the WAL was not checkpointed", fileSize(t, path), before)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}
	if err := d.Close(); err == nil {
		t.Log("second Close returned nil") // closing twice must not panic
	}
}

func fileSize(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Size()
}

// BenchmarkCheckpointPlacement compares commit throughput of 16 writers,
// each commit about 130 KB (a small DICOM instance held in the database),
// with WAL checkpoints in the background against SQLite's default of
// checkpointing inside the commit that crosses 1,000 pages. The two run in
// alternating rounds of the same run; "ratio" is background over inline.
//
//	go test ./internal/db -run '^$' -bench CheckpointPlacement -benchtime 6x
func BenchmarkCheckpointPlacement(b *testing.B) {
	ctx := context.Background()
	open := func(background bool) *DB {
		d, err := openSQLiteWith(filepath.Join(b.TempDir(), "c.db"), background, nil)
		if err != nil {
			b.Fatal(err)
		}
		if _, err := d.Write.ExecContext(ctx, `CREATE TABLE ckpt_t (id INTEGER PRIMARY KEY, b BLOB)`); err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { d.Close() })
		return d
	}
	bg, inline := open(true), open(false)
	round := func(d *DB) time.Duration {
		const writers, commits = 16, 40
		var wg sync.WaitGroup
		t0 := time.Now()
		for w := 0; w < writers; w++ {
			wg.Go(func() {
				for i := 0; i < commits; i++ {
					if err := d.Tx(ctx, func(tx *sql.Tx) error {
						_, err := tx.ExecContext(ctx, `INSERT INTO ckpt_t (b) VALUES (randomblob(130000))`)
						return err
					}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		return time.Since(t0)
	}
	var tb, ti time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i%2 == 0 {
			tb += round(bg)
			ti += round(inline)
		} else {
			ti += round(inline)
			tb += round(bg)
		}
	}
	n := float64(b.N * 16 * 40)
	b.ReportMetric(n/tb.Seconds(), "background-commits/s")
	b.ReportMetric(n/ti.Seconds(), "inline-commits/s")
	b.ReportMetric(ti.Seconds()/tb.Seconds(), "ratio")
}
