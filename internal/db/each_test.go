package db_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

func TestEachRowPassesEveryRowInOrderWithItsTypes(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		ctx := context.Background()
		blob := map[string]string{"sqlite": "BLOB", "postgres": "BYTEA"}[d.Dialect.Name]
		if _, err := d.Write.ExecContext(ctx, `CREATE TABLE each_test (id BIGINT PRIMARY KEY, name TEXT NOT NULL, data `+blob+`)`); err != nil {
			t.Fatal(err)
		}
		// Inserted out of key order: the rows must come in key order.
		if _, err := d.Write.ExecContext(ctx, `INSERT INTO each_test VALUES (300, 'big', $2), (1, 'a', NULL), (3, 'ccc', $2), (2, '', $1)`,
			[]byte{0, 1, 0}, []byte("x")); err != nil {
			t.Fatal(err)
		}
		show := func(r db.Row, i int) string {
			switch r.Kind(i) {
			case db.Integer:
				return fmt.Sprintf("int %d", r.Int(i))
			case db.Text:
				return fmt.Sprintf("text %q", r.Bytes(i))
			case db.Blob:
				return fmt.Sprintf("blob %q", r.Bytes(i))
			case db.Null:
				return "null"
			}
			return fmt.Sprintf("kind %d", r.Kind(i))
		}
		var got []string
		err := d.EachRow(ctx, []string{"id", "name", "data"}, 0, `each_test WHERE id >= $1 AND id <= $2`, []any{2, 300}, func(r db.Row) error {
			if r.Columns() != 3 {
				t.Fatalf("%d columns, want 3", r.Columns())
			}
			got = append(got, show(r, 0)+"|"+show(r, 1)+"|"+show(r, 2))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			`int 2|text ""|blob "\x00\x01\x00"`,
			`int 3|text "ccc"|blob "x"`,
			`int 300|text "big"|blob "x"`,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rows\n got %q\nwant %q", got, want)
		}
		// An error from the callback stops the query and comes back as it is.
		stop := errors.New("stop here")
		calls := 0
		err = d.EachRow(ctx, []string{"id", "data"}, 0, `each_test WHERE id >= $1 AND id <= $2`, []any{1, 300}, func(r db.Row) error {
			calls++
			if r.Kind(1) != db.Null {
				t.Errorf("row %v: data %v, want NULL", r.Int(0), show(r, 1))
			}
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("stopped with %v after %d calls, want the callback's error after 1", err, calls)
		}
		// A cancelled context stops the query before its first row.
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		err = d.EachRow(cctx, []string{"id"}, 0, `each_test WHERE id >= $1`, []any{1}, func(db.Row) error { return nil })
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("cancelled: %v, want context.Canceled", err)
		}
		// A query SQLite or PostgreSQL refuses is an error, not a panic.
		if err := d.EachRow(ctx, []string{"nope"}, 0, `each_test`, nil, func(db.Row) error { return nil }); err == nil {
			t.Fatal("a query of a column that does not exist succeeded")
		}
	})
}
