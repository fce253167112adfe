package db

import (
	"errors"
	"strconv"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
)

// Dialect is everything that differs between SQLite and PostgreSQL outside
// the migration files. Queries use $N placeholders, RETURNING and
// ON CONFLICT, which both accept; nothing else in the code base may branch on
// the database kind.
type Dialect struct {
	// Name is "sqlite" or "postgres"; it names the migrations folder.
	Name string
	// MigrationLock is run first in the migration transaction so that several
	// servers starting at once apply each migration exactly once.
	MigrationLock string
}

// SQLite is the embedded default. Its writer connection is exclusive, so no
// extra migration lock is needed.
var SQLite = Dialect{Name: "sqlite"}

// Postgres is the scale-out store.
var Postgres = Dialect{Name: "postgres", MigrationLock: "SELECT pg_advisory_xact_lock(7263554)"}

// IsUniqueViolation reports whether err is a unique or primary key conflict.
func (d Dialect) IsUniqueViolation(err error) bool {
	if err == nil {
		return false
	}
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	msg := err.Error()
	return strings.Contains(msg, "UNIQUE constraint failed") || strings.Contains(msg, "PRIMARY KEY constraint failed") ||
		strings.Contains(msg, "constraint failed: UNIQUE")
}

// Param is the placeholder for the i-th (1-based) parameter. Queries write
// $N, which both databases accept; statements with thousands of parameters
// (bulk inserts) use Param, because SQLite resolves each $N by scanning a
// list, which makes binding them quadratic, while it binds "?" in order.
func (d Dialect) Param(i int) string {
	if d.Name == SQLite.Name {
		return "?"
	}
	return "$" + strconv.Itoa(i)
}
