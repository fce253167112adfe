package media

import (
	"context"
	"database/sql"
	"runtime"
	"sync"
)

// Group commit of file rows. SQLite has one writer connection and
// synchronous=FULL, so every transaction waits for its own fsync and the
// next waits behind it: with several files arriving at once, the commits,
// not the bytes, set the pace. Files that finish while a commit is running
// are committed together in the next transaction and share its fsync. A
// failed batch is retried one file per transaction, so one file's failure
// is never another's.

// fileCommit is one file's share of a batch: the statements it runs inside
// the batch's transaction, and where its answer goes.
type fileCommit struct {
	ctx  context.Context
	run  func(ctx context.Context, tx *sql.Tx) error
	done chan error
}

// committer batches fileCommits.
type committer struct {
	mu      sync.Mutex
	pending []*fileCommit
	running bool
}

// commitFileTx runs fn in a write transaction, possibly together with the
// commits of other files, and returns once that transaction is committed
// (or fn's own error).
func (s *Store) commitFileTx(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	c := &fileCommit{ctx: ctx, run: fn, done: make(chan error, 1)}
	g := &s.commits
	g.mu.Lock()
	g.pending = append(g.pending, c)
	lead := !g.running
	g.running = true
	g.mu.Unlock()
	if lead {
		s.commitBatches()
	}
	return <-c.done
}

// commitBatches commits what is pending, one batch, and hands on to a new
// goroutine if more arrived meanwhile, so no caller waits for others'
// batches after its own.
func (s *Store) commitBatches() {
	g := &s.commits
	// Files about to be committed get a moment to join (as the audit log
	// does): batches of one would cost a sync each.
	runtime.Gosched()
	g.mu.Lock()
	batch := g.pending
	g.pending = nil
	g.mu.Unlock()
	s.commitBatch(batch)
	g.mu.Lock()
	if len(g.pending) == 0 {
		g.running = false
		g.mu.Unlock()
		return
	}
	g.mu.Unlock()
	go s.commitBatches()
}

func (s *Store) commitBatch(batch []*fileCommit) {
	var live []*fileCommit
	for _, c := range batch {
		if err := c.ctx.Err(); err != nil {
			c.done <- err
			continue
		}
		live = append(live, c)
	}
	if len(live) == 0 {
		return
	}
	s.prepareFileStatements(context.WithoutCancel(live[0].ctx))
	if len(live) > 1 {
		// The batch's transaction is not any one caller's: it runs to the
		// end even if a caller gives up meanwhile, and then that caller's
		// file is committed and reported so.
		ctx := context.WithoutCancel(live[0].ctx)
		err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
			for _, c := range live {
				if err := c.run(ctx, tx); err != nil {
					return err
				}
			}
			return nil
		})
		if err == nil {
			for _, c := range live {
				c.done <- nil
			}
			return
		}
	}
	for _, c := range live {
		c.done <- s.DB.Tx(c.ctx, func(tx *sql.Tx) error { return c.run(c.ctx, tx) })
	}
}

// Statements of a file commit, prepared once outside any transaction: on
// SQLite a transaction holds the only write connection, and preparing
// inside it kept the audit log's commits waiting longer.
const (
	insertFileSQL = `INSERT INTO media_files
			(id, workspace_id, patient_id, case_id, uploader_id, upload_id, kind, size, view_object, thumb_object, info, created_at)
			VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)`
	insertFilePartSQL = `INSERT INTO media_file_parts (file_id, offset_bytes, length, object) VALUES ($1, $2, $3, $4)`
)

type fileStatements struct {
	mu               sync.Mutex
	file, part, held *sql.Stmt
}

// prepareFileStatements prepares the statements if they are not yet; it
// runs before the transaction. A failure leaves them nil, and exec
// prepares inside the transaction as before.
func (s *Store) prepareFileStatements(ctx context.Context) {
	fs := &s.statements
	fs.mu.Lock()
	defer fs.mu.Unlock()
	for _, x := range []struct {
		p **sql.Stmt
		q string
	}{{&fs.file, insertFileSQL}, {&fs.part, insertFilePartSQL}, {&fs.held, insertHeldSQL}} {
		if *x.p == nil {
			if st, err := s.DB.Write.PrepareContext(ctx, x.q); err == nil {
				*x.p = st
			}
		}
	}
}

// exec runs q (one of the file statements) in tx.
func (s *Store) exec(ctx context.Context, tx *sql.Tx, q string, args ...any) error {
	fs := &s.statements
	fs.mu.Lock()
	st := fs.file
	switch q {
	case insertFilePartSQL:
		st = fs.part
	case insertHeldSQL:
		st = fs.held
	}
	fs.mu.Unlock()
	var err error
	if st != nil {
		_, err = tx.StmtContext(ctx, st).ExecContext(ctx, args...)
	} else {
		_, err = tx.ExecContext(ctx, q, args...)
	}
	return err
}
