package audit

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestAppendWithCommitsStatementsWithTheEntryAndRollsBackOnlyAFailedOne(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		if _, err := d.Write.ExecContext(ctx, `CREATE TABLE with_test (x TEXT PRIMARY KEY)`); err != nil {
			t.Fatal(err)
		}
		k := newKey(t)
		l := openLog(t, d, k, Options{})
		refused := errors.New("refused")
		const n = 20
		var wg sync.WaitGroup
		fnErrs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				x := fmt.Sprint(i)
				rec, fnErr, err := l.AppendWith(ctx, event(i), func(ctx context.Context, tx *sql.Tx) error {
					if _, err := tx.ExecContext(ctx, `INSERT INTO with_test (x) VALUES ($1)`, x); err != nil {
						return err
					}
					if i%3 == 0 {
						return refused // after a statement that must be rolled back
					}
					return nil
				})
				if err != nil || !rec.Covers(event(i).PatientID) {
					t.Errorf("append %d: %v", i, err)
				}
				fnErrs[i] = fnErr
			}()
		}
		wg.Wait()
		var rows int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM with_test`).Scan(&rows); err != nil {
			t.Fatal(err)
		}
		want := 0
		for i, err := range fnErrs {
			if (i%3 == 0) != errors.Is(err, refused) {
				t.Fatalf("statements %d: %v", i, err)
			}
			if i%3 != 0 {
				want++
			}
		}
		if rows != want {
			t.Fatalf("%d rows committed, want %d", rows, want)
		}
		if rep := mustVerify(t, d, k); rep.Entries != n || rep.BrokenSeq != 0 {
			t.Fatalf("%d entries, want %d", rep.Entries, n)
		}
	})
}

func TestAppendWithFailsWhenTheLogIsClosed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		l := openLog(t, d, newKey(t), Options{})
		l.Close()
		ran := false
		_, _, err := l.AppendWith(context.Background(), event(1), func(context.Context, *sql.Tx) error { ran = true; return nil })
		if !errors.Is(err, ErrUnavailable) || ran {
			t.Fatalf("got %v (ran %v), want ErrUnavailable", err, ran)
		}
	})
}
