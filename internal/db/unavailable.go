package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"modernc.org/sqlite"
)

// SQLite primary result codes that mean the store could not be reached or
// written just now, rather than that the statement was wrong.
const (
	sqliteBusy     = 5  // SQLITE_BUSY: another connection holds the lock past busy_timeout
	sqliteLocked   = 6  // SQLITE_LOCKED: a conflicting lock in the same process
	sqliteIOErr    = 10 // SQLITE_IOERR
	sqliteFull     = 13 // SQLITE_FULL: the disk is full
	sqliteCantOpen = 14 // SQLITE_CANTOPEN
)

// IsUnavailable reports whether err means the database could not serve the
// request for now (locked, unreachable, out of time or space) as opposed to
// refusing it (a constraint, a syntax error, no rows). The HTTP edge answers
// these with 503 so that clients retry, and 500 stays for bugs. It is the one
// place that knows what each driver's "try again later" looks like.
func IsUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) || errors.Is(err, sql.ErrConnDone) {
		return true
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() & 0xff { // extended codes keep the primary code in the low byte
		case sqliteBusy, sqliteLocked, sqliteIOErr, sqliteFull, sqliteCantOpen:
			return true
		}
		return false
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pgUnavailable(pe.Code)
	}
	var ce *pgconn.ConnectError
	if errors.As(err, &ce) || pgconn.Timeout(err) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// pgUnavailable is true for the SQLSTATEs of a server that cannot take the
// statement now: connection exceptions (08), insufficient resources (53),
// operator intervention (57: shutdown, statement timeout) and a lock not
// available in time (55P03).
func pgUnavailable(code string) bool {
	return strings.HasPrefix(code, "08") || strings.HasPrefix(code, "53") || strings.HasPrefix(code, "57") || code == "55P03"
}
