package audit

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/custodia-health/custodia/internal/db"
)

// AppendWith records e like Append and runs fn in the transaction that
// commits the entry, so a write and its audit entry become durable in one
// commit (one sync, shared with the rest of the batch) and neither exists
// without the other. fn runs on the log's writer inside a savepoint: if it
// fails, its statements are rolled back, the entry (and the rest of the
// batch) is still committed, and its error is returned as fnErr beside the
// receipt. fn must only run statements on tx: it holds up every append
// waiting behind it.
//
// Once the entry is queued, AppendWith waits for the commit even if ctx is
// cancelled, so that a caller never reports a failure for a write that was
// committed (the writer bounds every transaction by its own timeout).
func (l *Log) AppendWith(ctx context.Context, e Event, fn func(ctx context.Context, tx *sql.Tx) error) (r Receipt, fnErr, err error) {
	if err := validate(&e); err != nil {
		return Receipt{}, nil, err
	}
	if e.Time.IsZero() {
		e.Time = l.opts.Now()
	}
	p := &pending{ev: e, micros: microsOf(e.Time), done: make(chan result, 1), with: &withCommit{fn: fn}}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Receipt{}, nil, ErrClosed
	}
	select {
	case l.reqs <- p:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return Receipt{}, nil, fmt.Errorf("append audit entry: %w", ctx.Err())
	}
	res := <-p.done
	if res.err != nil {
		return Receipt{}, nil, res.err
	}
	// The writer set p.with.err before it sent on p.done.
	return res.r, p.with.err, nil
}

// Shares says whether the log writes to d, so that a caller's statements
// for AppendWith belong in its transactions.
func (l *Log) Shares(d *db.DB) bool { return l.d == d }

// withCommit is an AppendWith caller's statements and their outcome in
// the last attempt to commit its batch.
type withCommit struct {
	fn  func(ctx context.Context, tx *sql.Tx) error
	err error
}

// hasWith reports whether any entry of the batch has AppendWith statements.
func hasWith(batch []*pending) bool {
	for _, p := range batch {
		if p.with != nil && p.with.fn != nil {
			return true
		}
	}
	return false
}

// runWith runs the AppendWith statements of a batch, each in a savepoint
// of its own, after the entries are inserted. Only a failing savepoint
// statement fails the batch.
func runWith(ctx context.Context, tx *sql.Tx, batch []*pending) error {
	for _, p := range batch {
		w := p.with
		if w == nil || w.fn == nil {
			continue
		}
		if _, err := tx.ExecContext(ctx, `SAVEPOINT audit_with`); err != nil {
			return fmt.Errorf("audit: savepoint: %w", err)
		}
		w.err = w.fn(ctx, tx)
		if w.err != nil {
			if _, err := tx.ExecContext(ctx, `ROLLBACK TO SAVEPOINT audit_with`); err != nil {
				return fmt.Errorf("audit: roll back to savepoint: %w", err)
			}
		}
		if _, err := tx.ExecContext(ctx, `RELEASE SAVEPOINT audit_with`); err != nil {
			return fmt.Errorf("audit: release savepoint: %w", err)
		}
	}
	return nil
}
