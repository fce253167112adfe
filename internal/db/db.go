// Package db opens Custodia's relational store (embedded SQLite or PostgreSQL),
// applies the embedded migrations and keeps every dialect difference in one
// small value, so the domain packages write one set of SQL for both.
package db

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver
	_ "modernc.org/sqlite"             // registers the "sqlite" driver
)

// DB is an open store. On SQLite, Write is a single connection (SQLite allows
// one writer, and queueing in Go beats SQLITE_BUSY) and Read is a pool of
// query-only connections. On PostgreSQL both are the same pool.
type DB struct {
	Write   *sql.DB
	Read    *sql.DB
	Dialect Dialect
	// Path is the SQLite database file, empty for PostgreSQL.
	Path string

	ckpt *checkpointer // SQLite: WAL checkpoints off the commit path
}

// Open opens the store named by dsn. An empty dsn or one starting with
// "sqlite:" means the embedded SQLite database; "postgres://" or
// "postgresql://" means PostgreSQL. For SQLite, a dsn of "sqlite:" alone puts
// the file in dataDir. Open applies pending migrations before it returns.
func Open(ctx context.Context, dsn, dataDir string) (*DB, error) {
	var d *DB
	var err error
	switch {
	case dsn == "" || strings.HasPrefix(dsn, "sqlite:"):
		path := strings.TrimPrefix(dsn, "sqlite:")
		if path == "" {
			path = filepath.Join(dataDir, "custodia.db")
		}
		d, err = openSQLite(path)
	case strings.HasPrefix(dsn, "postgres://") || strings.HasPrefix(dsn, "postgresql://"):
		d, err = openPostgres(dsn)
	default:
		return nil, errors.New("open database: the database URL must start with sqlite: or postgres://")
	}
	if err != nil {
		return nil, err
	}
	if err := ready(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// ready checks that d answers and applies pending migrations, closing d
// when either fails.
func ready(ctx context.Context, d *DB) error {
	if err := d.Write.PingContext(ctx); err != nil {
		d.Close()
		return fmt.Errorf("open database: %w", err)
	}
	if err := Migrate(ctx, d); err != nil {
		d.Close()
		return err
	}
	return nil
}

func openSQLite(path string) (*DB, error) { return openSQLiteWith(path, true, nil) }

// OpenSQLiteWith is Open for the SQLite database file at path, with each
// pool's connector passed through wrap: a test wraps them to observe the
// statements run, on pools set up exactly as Open sets them up.
func OpenSQLiteWith(ctx context.Context, path string, wrap func(driver.Connector) driver.Connector) (*DB, error) {
	d, err := openSQLiteWith(path, true, wrap)
	if err != nil {
		return nil, err
	}
	if err := ready(ctx, d); err != nil {
		return nil, err
	}
	return d, nil
}

// sqliteDriver is the registered "sqlite" driver.
var sqliteDriver = sync.OnceValue(func() driver.Driver {
	probe, _ := sql.Open("sqlite", "") // sql.Open only looks the driver up
	return probe.Driver()
})

type dsnConnector string

func (c dsnConnector) Connect(context.Context) (driver.Conn, error) {
	return sqliteDriver().Open(string(c))
}
func (c dsnConnector) Driver() driver.Driver { return sqliteDriver() }

// readCacheKiB is the page cache the SQLite read pool shares (in KiB).
const readCacheKiB = 128 << 10

// openSQLiteWith opens SQLite with WAL checkpoints in the background or,
// for comparison in benchmarks, inside commits as SQLite does by default,
// and the pools' connectors passed through wrap when it is not nil.
func openSQLiteWith(path string, background bool, wrap func(driver.Connector) driver.Connector) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open database: create directory: %w", err)
	}
	// Create the file owner-only first: SQLite gives its -wal and -shm files
	// the database file's permissions.
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	f.Close()
	// busy_timeout comes first so that no later pragma can fail with SQLITE_BUSY.
	// synchronous=FULL because audit entries must survive a power cut once committed.
	base := "file:" + (&url.URL{Path: path}).EscapedPath() +
		"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)" +
		"&_pragma=synchronous(FULL)&_pragma=secure_delete(1)&_time_format=sqlite"
	wdsn := base + "&_txlock=immediate"
	if background {
		wdsn += "&_pragma=wal_autocheckpoint(" + strconv.Itoa(walBackstopPages) + ")"
	}
	pool := func(dsn string) *sql.DB {
		var c driver.Connector = dsnConnector(dsn)
		if wrap != nil {
			c = wrap(c)
		}
		return sql.OpenDB(c)
	}
	w := pool(wdsn)
	w.SetMaxOpenConns(1)
	w.SetMaxIdleConns(1)
	w.SetConnMaxLifetime(0)
	// The read connections share readCacheKiB of page cache (SQLite's
	// default is 2 MiB each). A connection drops its cache whenever another
	// commits, and the audit log commits several hundred times a second
	// under load, so what counts is how much of a patient read's pages
	// (its row, key and relationship indexes) stay cached between commits.
	n := max(4, runtime.NumCPU()*2)
	r := pool(base + "&_pragma=query_only(1)&_pragma=cache_size(-" + strconv.Itoa(max(2048, readCacheKiB/n)) + ")")
	r.SetMaxOpenConns(n)
	r.SetMaxIdleConns(n)
	d := &DB{Write: w, Read: r, Dialect: SQLite, Path: path}
	if background {
		d.ckpt = startCheckpointer(r)
	}
	return d, nil
}

func openPostgres(dsn string) (*DB, error) {
	p, err := sql.Open("pgx", dsn)
	if err != nil {
		return nil, fmt.Errorf("open database: %w", err)
	}
	p.SetMaxOpenConns(32)
	p.SetMaxIdleConns(32)
	return &DB{Write: p, Read: p, Dialect: Postgres}, nil
}

// Close closes both pools.
func (d *DB) Close() error {
	d.ckpt.close()
	err := d.Write.Close()
	if d.Read != d.Write {
		err = errors.Join(err, d.Read.Close())
	}
	return err
}

// ExecOne runs st, a statement prepared on d.Write, as a transaction of
// its own (autocommit), as durable as a Tx. One statement on its own needs
// no statement journal, which SQLite otherwise keeps for a statement that
// writes many rows inside a transaction: a copy of every page the
// statement changes, taken before it changes it.
func (d *DB) ExecOne(ctx context.Context, st *sql.Stmt, args ...any) error {
	if _, err := st.ExecContext(ctx, args...); err != nil {
		return err
	}
	d.ckpt.committed()
	return nil
}

// Tx runs fn in a write transaction, committing if fn returns nil and rolling
// back otherwise, so a failed request leaves no half-written rows.
func (d *DB) Tx(ctx context.Context, fn func(*sql.Tx) error) error {
	tx, err := d.Write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit transaction: %w", err)
	}
	d.ckpt.committed()
	return nil
}
