package dbtest

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
)

// SQLiteBusyAfter is SQLite opened as Open opens it, except that every
// connection gives up waiting for a lock after ms milliseconds instead of
// the production busy_timeout, so a test of a locked database ends quickly.
func SQLiteBusyAfter(tb testing.TB, ms int) *db.DB {
	tb.Helper()
	path := filepath.Join(tb.TempDir(), "custodia.db")
	d, err := db.OpenSQLiteWith(context.Background(), path, func(c driver.Connector) driver.Connector {
		return busyConnector{Connector: c, pragma: fmt.Sprintf("PRAGMA busy_timeout = %d", ms)}
	})
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

type busyConnector struct {
	driver.Connector
	pragma string
}

func (b busyConnector) Connect(ctx context.Context) (driver.Conn, error) {
	c, err := b.Connector.Connect(ctx)
	if err != nil {
		return nil, err
	}
	ex, ok := c.(driver.ExecerContext)
	if !ok {
		c.Close()
		return nil, fmt.Errorf("sqlite connection cannot exec")
	}
	if _, err := ex.ExecContext(ctx, b.pragma, nil); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// HoldWriteLock takes SQLite's write lock on d's file from a separate
// handle (BEGIN IMMEDIATE), as another process would, until release is
// called or the test ends. Reads still work (WAL); writes wait for the
// lock and then fail with SQLITE_BUSY.
func HoldWriteLock(tb testing.TB, d *db.DB) (release func()) {
	tb.Helper()
	if d.Path == "" {
		tb.Fatal("HoldWriteLock needs a SQLite database")
	}
	h, err := sql.Open("sqlite", "file:"+d.Path+"?_pragma=busy_timeout(5000)")
	if err != nil {
		tb.Fatal(err)
	}
	ctx := context.Background()
	conn, err := h.Conn(ctx)
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		tb.Fatalf("take the write lock: %v", err)
	}
	done := false
	release = func() {
		if done {
			return
		}
		done = true
		_, _ = conn.ExecContext(ctx, "ROLLBACK")
		conn.Close()
		h.Close()
	}
	tb.Cleanup(release)
	return release
}
