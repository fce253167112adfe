package dbtest

import (
	"context"
	"database/sql/driver"
	"errors"
	"path/filepath"
	"sync"
	"testing"

	"github.com/custodia-health/custodia/internal/db"
)

// Trace records the statements run on a database, so a test can
// show how many times a page or a service reads a table. It observes real
// SQLite; nothing is faked.
type Trace struct {
	mu      sync.Mutex
	queries []string
}

// Count returns how many statements run so far match.
func (t *Trace) Count(match func(query string) bool) int {
	t.mu.Lock()
	defer t.mu.Unlock()
	n := 0
	for _, q := range t.queries {
		if match(q) {
			n++
		}
	}
	return n
}

// Reset forgets the statements run so far.
func (t *Trace) Reset() {
	t.mu.Lock()
	t.queries = nil
	t.mu.Unlock()
}

func (t *Trace) add(q string) {
	t.mu.Lock()
	t.queries = append(t.queries, q)
	t.mu.Unlock()
}

// TracedSQLite is SQLite(tb) whose pools record each statement they run
// (prepared statements at each execution) in the returned Trace.
func TracedSQLite(tb testing.TB) (*db.DB, *Trace) {
	tb.Helper()
	tr := &Trace{}
	d, err := db.OpenSQLiteWith(context.Background(), filepath.Join(tb.TempDir(), "custodia.db"),
		func(c driver.Connector) driver.Connector { return tracingConnector{next: c, tr: tr} })
	if err != nil {
		tb.Fatalf("open sqlite: %v", err)
	}
	tb.Cleanup(func() { d.Close() })
	return d, tr
}

type tracingConnector struct {
	next driver.Connector
	tr   *Trace
}

func (c tracingConnector) Connect(ctx context.Context) (driver.Conn, error) {
	cn, err := c.next.Connect(ctx)
	if err != nil {
		return nil, err
	}
	return &tracingConn{Conn: cn, tr: c.tr}, nil
}

func (c tracingConnector) Driver() driver.Driver { return c.next.Driver() }

// tracingConn hides the driver's direct Query and Exec, so database/sql
// prepares every statement and tracingStmt sees each execution.
type tracingConn struct {
	driver.Conn
	tr *Trace
}

func (c *tracingConn) Prepare(q string) (driver.Stmt, error) {
	return c.PrepareContext(context.Background(), q)
}

func (c *tracingConn) PrepareContext(ctx context.Context, q string) (driver.Stmt, error) {
	var st driver.Stmt
	var err error
	if p, ok := c.Conn.(driver.ConnPrepareContext); ok {
		st, err = p.PrepareContext(ctx, q)
	} else {
		st, err = c.Conn.Prepare(q)
	}
	if err != nil {
		return nil, err
	}
	return &tracingStmt{Stmt: st, q: q, tr: c.tr}, nil
}

func (c *tracingConn) BeginTx(ctx context.Context, opts driver.TxOptions) (driver.Tx, error) {
	if b, ok := c.Conn.(driver.ConnBeginTx); ok {
		return b.BeginTx(ctx, opts)
	}
	return nil, errors.New("dbtest: the driver cannot begin a transaction with options")
}

func (c *tracingConn) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := c.Conn.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}

type tracingStmt struct {
	driver.Stmt
	q  string
	tr *Trace
}

var errNoContext = errors.New("dbtest: the driver's statement takes no context")

func (s *tracingStmt) ExecContext(ctx context.Context, args []driver.NamedValue) (driver.Result, error) {
	s.tr.add(s.q)
	if e, ok := s.Stmt.(driver.StmtExecContext); ok {
		return e.ExecContext(ctx, args)
	}
	return nil, errNoContext
}

func (s *tracingStmt) QueryContext(ctx context.Context, args []driver.NamedValue) (driver.Rows, error) {
	s.tr.add(s.q)
	if q, ok := s.Stmt.(driver.StmtQueryContext); ok {
		return q.QueryContext(ctx, args)
	}
	return nil, errNoContext
}

func (s *tracingStmt) CheckNamedValue(v *driver.NamedValue) error {
	if nc, ok := s.Stmt.(driver.NamedValueChecker); ok {
		return nc.CheckNamedValue(v)
	}
	return driver.ErrSkip
}
