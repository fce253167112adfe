package db_test

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
)

// TestIsUnavailableTellsAnUnreachableStoreFromARefusedStatement checks the
// classification the HTTP edge turns into 503: real errors from a locked
// SQLite file and an unreachable PostgreSQL server count, and so do
// timeouts; a constraint violation, a syntax error or no rows do not.
func TestIsUnavailableTellsAnUnreachableStoreFromARefusedStatement(t *testing.T) {
	ctx := context.Background()
	d := dbtest.SQLiteBusyAfter(t, 20)
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE t (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Write.ExecContext(ctx, `INSERT INTO t (k) VALUES ('a')`); err != nil {
		t.Fatal(err)
	}
	dup := d.Write.QueryRowContext(ctx, `INSERT INTO t (k) VALUES ('a') RETURNING k`).Scan(new(string))
	syntax := d.Read.QueryRowContext(ctx, `SELEC 1`).Scan(new(int))
	noRows := d.Read.QueryRowContext(ctx, `SELECT k FROM t WHERE k = 'b'`).Scan(new(string))

	release := dbtest.HoldWriteLock(t, d)
	_, locked := d.Write.ExecContext(ctx, `INSERT INTO t (k) VALUES ('b')`)
	release()

	pg, err := sql.Open("pgx", "postgres://nobody@127.0.0.1:1/none?sslmode=disable&connect_timeout=2")
	if err != nil {
		t.Fatal(err)
	}
	defer pg.Close()
	unreachable := pg.PingContext(ctx)

	short, cancel := context.WithTimeout(ctx, time.Nanosecond)
	defer cancel()
	<-short.Done()
	_, deadline := d.Read.ExecContext(short, `SELECT 1`)

	for _, c := range []struct {
		name string
		err  error
		want bool
	}{
		{"sqlite write lock held elsewhere", locked, true},
		{"postgres server unreachable", unreachable, true},
		{"context deadline on a query", deadline, true},
		{"wrapped deadline", fmt.Errorf("touch session: %w", context.DeadlineExceeded), true},
		{"bad connection", fmt.Errorf("read: %w", driver.ErrBadConn), true},
		{"postgres shutting down", &pgconn.PgError{Code: "57P01"}, true},
		{"postgres too many connections", &pgconn.PgError{Code: "53300"}, true},
		{"postgres statement timeout", fmt.Errorf("list: %w", &pgconn.PgError{Code: "57014"}), true},
		{"sqlite unique violation", dup, false},
		{"sqlite syntax error", syntax, false},
		{"no rows", noRows, false},
		{"postgres unique violation", &pgconn.PgError{Code: "23505"}, false},
		{"plain error", errors.New("boom"), false},
		{"nil", nil, false},
	} {
		if c.err == nil && c.name != "nil" {
			t.Errorf("%s: the setup produced no error", c.name)
			continue
		}
		if got := db.IsUnavailable(c.err); got != c.want {
			t.Errorf("%s: IsUnavailable(%v) = %v, want %v", c.name, c.err, got, c.want)
		}
	}
}

// TestIsUnavailableOnAPostgreSQLLockTimeout: a statement that waits out
// lock_timeout behind another transaction's lock is unavailable, not a bug.
func TestIsUnavailableOnAPostgreSQLLockTimeout(t *testing.T) {
	d := dbtest.Postgres(t)
	ctx := context.Background()
	if _, err := d.Write.ExecContext(ctx, `CREATE TABLE lock_probe (k TEXT PRIMARY KEY)`); err != nil {
		t.Fatal(err)
	}
	holder, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer holder.Rollback()
	if _, err := holder.ExecContext(ctx, `LOCK TABLE lock_probe IN ACCESS EXCLUSIVE MODE`); err != nil {
		t.Fatal(err)
	}
	conn, err := d.Write.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, `SET lock_timeout = '50ms'`); err != nil {
		t.Fatal(err)
	}
	_, err = conn.ExecContext(ctx, `INSERT INTO lock_probe (k) VALUES ('a')`)
	if err == nil || !db.IsUnavailable(fmt.Errorf("insert: %w", err)) {
		t.Fatalf("IsUnavailable(%v) = false, want true", err)
	}
}
