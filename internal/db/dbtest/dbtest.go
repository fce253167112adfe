// Package dbtest opens real databases for tests: a fresh SQLite file in the
// test's temporary directory always, and a fresh PostgreSQL schema when
// CUSTODIA_TEST_POSTGRES holds a server URL.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
)

// PostgresEnv names the variable that holds the PostgreSQL URL for tests.
const PostgresEnv = "CUSTODIA_TEST_POSTGRES"

// SQLite opens a migrated SQLite database in tb's temporary directory.
func SQLite(tb testing.TB) *db.DB {
	tb.Helper()
	d, err := db.Open(context.Background(), "sqlite:"+filepath.Join(tb.TempDir(), "custodia.db"), "")
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Postgres opens a migrated database in a new schema of the server named by
// CUSTODIA_TEST_POSTGRES, and drops the schema when the test ends. It skips
// the test, saying why, when the variable is not set.
func Postgres(tb testing.TB) *db.DB {
	tb.Helper()
	base := os.Getenv(PostgresEnv)
	if base == "" {
		if os.Getenv("CUSTODIA_REQUIRE_POSTGRES") != "" {
			tb.Fatalf("PostgreSQL is required (CUSTODIA_REQUIRE_POSTGRES is set) but %s is empty", PostgresEnv)
		}
		tb.Skipf("PostgreSQL tests skipped: set %s (e.g. postgres://postgres@127.0.0.1:5432/test?sslmode=disable); CI sets it", PostgresEnv)
	}
	var b [6]byte
	_, _ = rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	defer admin.Close()
	if _, err := admin.Exec("CREATE SCHEMA " + schema); err != nil {
		tb.Fatalf("create schema (is PostgreSQL running at %s?): %v", PostgresEnv, err)
	}
	tb.Cleanup(func() {
		a, err := sql.Open("pgx", base)
		if err == nil {
			_, _ = a.Exec("DROP SCHEMA " + schema + " CASCADE")
			a.Close()
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		tb.Fatalf("parse %s: %v", PostgresEnv, err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	d, err := db.Open(context.Background(), u.String(), "")
	if err != nil {
		tb.Fatalf("open postgres: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d
}

// Each runs fn as a subtest on SQLite and, when configured, on PostgreSQL.
func Each(t *testing.T, fn func(t *testing.T, d *db.DB)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLite(t)) })
	t.Run("postgres", func(t *testing.T) { fn(t, Postgres(t)) })
}
