package db_test

import (
	"context"
	"database/sql/driver"
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
		if _, err := d.Write.ExecContext(ctx, `INSERT INTO each_test VALUES (1, 'a', NULL), (2, '', $1), (3, 'ccc', $2), (300, 'big', $2)`,
			[]byte{0, 1, 0}, []byte("x")); err != nil {
			t.Fatal(err)
		}
		var got []string
		err := d.EachRow(ctx, []string{"id", "name", "data"}, 0, `each_test WHERE id >= $1 AND id <= $2`, []any{2, 300}, func(row []driver.Value) error {
			got = append(got, fmt.Sprintf("%T %v|%T %q|%T %q", row[0], row[0], row[1], row[1], row[2], row[2]))
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		want := []string{
			`int64 2|string ""|[]uint8 "\x00\x01\x00"`,
			`int64 3|string "ccc"|[]uint8 "x"`,
			`int64 300|string "big"|[]uint8 "x"`,
		}
		if fmt.Sprint(got) != fmt.Sprint(want) {
			t.Fatalf("rows\n got %q\nwant %q", got, want)
		}
		// An error from the callback stops the query and comes back as it is.
		stop := errors.New("stop here")
		calls := 0
		err = d.EachRow(ctx, []string{"id", "data"}, 0, `each_test WHERE id >= $1 AND id <= $2`, []any{1, 300}, func(row []driver.Value) error {
			calls++
			if row[1] != nil {
				t.Errorf("row %v: data %v, want NULL as nil", row[0], row[1])
			}
			return stop
		})
		if !errors.Is(err, stop) || calls != 1 {
			t.Fatalf("stopped with %v after %d calls, want the callback's error after 1", err, calls)
		}
	})
}
