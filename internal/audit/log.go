package audit

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"log/slog"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custodia-health/custodia/internal/db"
)

// ErrUnavailable means the audit log could not durably record an entry. A
// caller that gets it must not release the PHI the entry was for; the web
// layer turns it into 503 Service Unavailable.
var ErrUnavailable = errors.New("audit log unavailable")

// ErrClosed is returned by Append after Close. It wraps ErrUnavailable, so
// callers need test only for that.
var ErrClosed = fmt.Errorf("%w: the log is closed", ErrUnavailable)

// Options tune a Log. The zero value is ready for production.
type Options struct {
	// MaxBatch caps how many waiting appends one transaction takes
	// (default 1000).
	MaxBatch int
	// CheckpointEvery is the longest time between signed checkpoints while
	// entries flow (default DefaultCheckpointEvery).
	CheckpointEvery time.Duration
	// Witness lists files outside the database that every checkpoint is
	// also appended to (witness.go). Empty: none, and Verify can then not
	// see the end of the log cut off together with its checkpoints.
	Witness []string
	// Logger receives writer failures (ids and codes only). Default: discard.
	Logger *slog.Logger
	// Now is the clock, for tests. Default time.Now.
	Now func() time.Time
}

// DefaultCheckpointEvery is Options.CheckpointEvery's default.
const DefaultCheckpointEvery = time.Second

// MaxCheckpointGap is the longest time Verify should allow between an entry
// and the checkpoint that covers it, for a log checkpointed every interval:
// a tick can find the interval just short of passed and leave it to the
// next, and slack covers a slow commit.
func MaxCheckpointGap(every time.Duration) time.Duration {
	if every <= 0 {
		every = DefaultCheckpointEvery
	}
	return 2*every + 10*time.Second
}

// Log is the tamper-evident audit log. Appends from any number of goroutines
// are group-committed by one writer goroutine: it takes every append that is
// waiting, writes them in one transaction and then releases each caller, so
// throughput grows with concurrency while every caller still waits for its
// own entry to be durable.
//
// Nothing in the application updates or deletes entries: the database
// refuses it (triggers), and retention is at least six years, the HIPAA
// documentation period that accountings of disclosures look back over.
// Archiving older entries is an operator's job done outside the server.
type Log struct {
	d      *db.DB
	signer ed25519.PrivateKey
	keyID  string
	opts   Options
	mac    hash.Hash // the link MAC (chainKey); used by the writer only

	reqs chan *pending

	mu     sync.RWMutex // guards closed against sends on reqs
	closed bool
	stop   chan struct{}
	done   chan struct{}
	err    error // the final checkpoint's error, read after done

	// Owned by the writer goroutine.
	head       int64
	headHash   [HashSize]byte
	headKnown  bool // false after a failed commit: reload from the database
	lastCP     int64
	lastCPTime time.Time
	insertSQL  map[int]*sql.Stmt
	witnesses  []*witness
	cpPending  *witnessRecord // the checkpoint of the transaction being written

	commits atomic.Int64 // transactions committed, for benchmarks and metrics
	enc     []byte
	args    []any
}

type pending struct {
	ev     Event
	micros int64
	done   chan result
	with   *withCommit // AppendWith's statements (with.go), or nil
}

type result struct {
	r   Receipt
	err error
}

// insertChunk is the most rows one INSERT statement carries: 9 parameters
// a row stays well below SQLite's and PostgreSQL's parameter limits.
const insertChunk = 256

// Open starts the log on d. signer signs the checkpoints; Verify needs its
// public key. Close the log to flush waiting appends and write a final
// checkpoint.
func Open(ctx context.Context, d *db.DB, signer ed25519.PrivateKey, opts Options) (*Log, error) {
	if len(signer) != ed25519.PrivateKeySize {
		return nil, errors.New("open audit log: the checkpoint signer is not an Ed25519 private key")
	}
	if opts.MaxBatch <= 0 {
		opts.MaxBatch = 1000
	}
	if opts.CheckpointEvery <= 0 {
		opts.CheckpointEvery = DefaultCheckpointEvery
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	l := &Log{
		d:         d,
		signer:    signer,
		keyID:     KeyID(signer.Public().(ed25519.PublicKey)),
		opts:      opts,
		mac:       newLinkMAC(signer),
		reqs:      make(chan *pending, 4*opts.MaxBatch),
		stop:      make(chan struct{}),
		done:      make(chan struct{}),
		insertSQL: map[int]*sql.Stmt{},
	}
	for _, p := range opts.Witness {
		w, err := openWitness(p)
		if err != nil {
			l.closeWitnesses()
			return nil, err
		}
		l.witnesses = append(l.witnesses, w)
	}
	if err := l.loadHead(ctx); err != nil {
		l.closeWitnesses()
		return nil, err
	}
	err := d.Write.QueryRowContext(ctx, `SELECT seq FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&l.lastCP)
	if err != nil && !errors.Is(err, sql.ErrNoRows) {
		l.closeWitnesses()
		return nil, fmt.Errorf("open audit log: read last checkpoint: %w", err)
	}
	l.lastCPTime = opts.Now()
	if l.head > l.lastCP {
		// The last writer stopped without its final checkpoint (or wrote
		// unkeyed entries before migration 0230): sign what is there now,
		// so those entries are pinned before new ones follow.
		if err := l.writeCheckpoint(kindOpen); err != nil {
			l.closeWitnesses()
			return nil, fmt.Errorf("open audit log: %w", err)
		}
	} else if err := l.anchorWitnesses(ctx); err != nil {
		l.closeWitnesses()
		return nil, fmt.Errorf("open audit log: %w", err)
	}
	go l.run()
	return l, nil
}

// anchorWitnesses copies the newest checkpoint into every witness that is
// still empty (just configured, or the log predates witnesses), so cutting
// the log back past it is visible from the start, not only from the next
// checkpoint on.
func (l *Log) anchorWitnesses(ctx context.Context) error {
	var empty []*witness
	for _, w := range l.witnesses {
		st, err := w.f.Stat()
		if err != nil {
			return fmt.Errorf("open audit witness %s: %w", w.path, err)
		}
		if st.Size() == 0 {
			empty = append(empty, w)
		}
	}
	if len(empty) == 0 {
		return nil
	}
	tx, err := l.d.Read.BeginTx(ctx, &sql.TxOptions{ReadOnly: true})
	if err != nil {
		return fmt.Errorf("read last audit checkpoint: %w", err)
	}
	defer tx.Rollback()
	var seq, micros int64
	var head, prev, sig []byte
	var kind sql.NullInt64
	var keyID string
	err = tx.QueryRowContext(ctx, `SELECT seq, head_hash, time, key_id, signature, prev_checkpoint, kind
		FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head, &micros, &keyID, &sig, &prev, &kind)
	if errors.Is(err, sql.ErrNoRows) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read last audit checkpoint: %w", err)
	}
	number, _, err := lastCheckpoint(ctx, tx)
	if err != nil {
		return err
	}
	rec := newWitnessRecord(number, checkpointKind(kind.Int64), seq, head, micros, prev, keyID, sig)
	for _, w := range empty {
		if err := w.append(rec); err != nil {
			return err
		}
	}
	return nil
}

func (l *Log) closeWitnesses() {
	for _, w := range l.witnesses {
		w.close()
	}
}

// witness appends the checkpoint just committed to every witness file. A
// failure is logged, not returned: the checkpoint is in the database, and
// Verify reports a witness that lags behind it.
func (l *Log) witness() {
	rec := l.cpPending
	l.cpPending = nil
	if rec == nil {
		return
	}
	for _, w := range l.witnesses {
		if err := w.append(*rec); err != nil {
			l.opts.Logger.Error("audit witness write failed", "checkpoint", rec.Number, "err", err.Error())
		}
	}
}

// loadHead reads the chain head from the database, which is the truth after
// a failed commit or when another server appended.
func (l *Log) loadHead(ctx context.Context) error {
	var seq int64
	var h []byte
	err := l.d.Write.QueryRowContext(ctx, `SELECT seq, hash FROM audit_entries ORDER BY seq DESC LIMIT 1`).Scan(&seq, &h)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		l.head, l.headHash = 0, genesis
	case err != nil:
		return fmt.Errorf("read audit chain head: %w", err)
	case len(h) != HashSize:
		return fmt.Errorf("read audit chain head: entry %d has a malformed hash", seq)
	default:
		l.head = seq
		copy(l.headHash[:], h)
	}
	l.headKnown = true
	return nil
}

// Append records e and returns once the entry is committed. On any failure
// to write it returns an error wrapping ErrUnavailable (or the context's
// error), and the caller must not release the PHI the entry was for.
func (l *Log) Append(ctx context.Context, e Event) (Receipt, error) {
	if err := validate(&e); err != nil {
		return Receipt{}, err
	}
	if e.Time.IsZero() {
		e.Time = l.opts.Now()
	}
	p := &pending{ev: e, micros: microsOf(e.Time), done: make(chan result, 1)}
	l.mu.RLock()
	if l.closed {
		l.mu.RUnlock()
		return Receipt{}, ErrClosed
	}
	select {
	case l.reqs <- p:
		l.mu.RUnlock()
	case <-ctx.Done():
		l.mu.RUnlock()
		return Receipt{}, fmt.Errorf("append audit entry: %w", ctx.Err())
	}
	select {
	case res := <-p.done:
		return res.r, res.err
	case <-ctx.Done():
		// The entry may still be written; the caller releases nothing.
		return Receipt{}, fmt.Errorf("append audit entry: %w", ctx.Err())
	}
}

func validate(e *Event) error {
	if e.Action == "" {
		return errors.New("append audit entry: the action is required")
	}
	for _, f := range fields(e) {
		if len(f) > maxField {
			return fmt.Errorf("append audit entry: a field is longer than %d bytes", maxField)
		}
	}
	return nil
}

// Close stops accepting appends, commits those already waiting, writes a
// final checkpoint and returns its error. It does not close the database.
func (l *Log) Close() error {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		<-l.done
		return nil
	}
	l.closed = true
	l.mu.Unlock()
	close(l.stop)
	<-l.done
	return l.err
}

// PublicKey is the key that verifies this log's checkpoints.
func (l *Log) PublicKey() ed25519.PublicKey { return l.signer.Public().(ed25519.PublicKey) }

func (l *Log) run() {
	defer close(l.done)
	defer func() {
		for _, st := range l.insertSQL {
			st.Close()
		}
		l.closeWitnesses()
	}()
	tick := time.NewTicker(l.opts.CheckpointEvery)
	defer tick.Stop()
	batch := make([]*pending, 0, l.opts.MaxBatch)
	for {
		select {
		case p := <-l.reqs:
			// The callers just released by the last commit are about to
			// append again; letting them run first makes the batch take
			// them all instead of leaving most for one more sync.
			runtime.Gosched()
			batch = l.drain(append(batch[:0], p))
			l.commit(batch)
		case <-tick.C:
			if l.headKnown && l.head > l.lastCP && l.opts.Now().Sub(l.lastCPTime) >= l.opts.CheckpointEvery {
				if err := l.writeCheckpoint(kindInterval); err != nil {
					l.opts.Logger.Error("audit checkpoint failed", "seq", l.head, "err", err.Error())
				}
			}
		case <-l.stop:
			// Close set closed under the lock, so nothing more can arrive.
			for {
				batch = l.drain(batch[:0])
				if len(batch) == 0 {
					break
				}
				l.commit(batch)
			}
			if l.headKnown && l.head > l.lastCP {
				l.err = l.writeCheckpoint(kindFinal)
			}
			return
		}
	}
}

// drain adds whatever appends are already waiting, up to the batch cap.
func (l *Log) drain(batch []*pending) []*pending {
	for len(batch) < l.opts.MaxBatch {
		select {
		case p := <-l.reqs:
			batch = append(batch, p)
		default:
			return batch
		}
	}
	return batch
}

// commit writes one batch in one transaction and releases its callers. If
// the head moved under us (another server appended), it reloads and retries.
func (l *Log) commit(batch []*pending) {
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if !l.headKnown {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			err = l.loadHead(ctx)
			cancel()
			if err != nil {
				break
			}
		}
		before := l.head
		var head [HashSize]byte
		var cp bool
		head, cp, err = l.writeBatch(batch)
		if err == nil {
			l.commits.Add(1)
			l.head += int64(len(batch))
			l.headHash = head
			if cp {
				l.lastCP, l.lastCPTime = l.head, l.opts.Now()
				l.witness()
			}
			for i, p := range batch {
				p.done <- result{r: Receipt{seq: before + 1 + int64(i), patientID: p.ev.PatientID}}
			}
			return
		}
		// The in-memory head may be wrong; the database is the truth.
		l.cpPending = nil
		l.headKnown = false
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		lerr := l.loadHead(ctx)
		cancel()
		if lerr != nil || l.head == before {
			break // the head did not move, so retrying would fail the same way
		}
	}
	l.opts.Logger.Error("audit append failed", "entries", len(batch), "err", err.Error())
	err = fmt.Errorf("append audit entry: %w: %w", ErrUnavailable, err)
	for _, p := range batch {
		p.done <- result{err: err}
	}
}

// writeBatch chains and inserts the batch after the current head, adding a
// checkpoint of the new head to the same transaction when one is due (it
// costs no extra sync). It returns the new head hash.
func (l *Log) writeBatch(batch []*pending) (head [HashSize]byte, cp bool, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	h := l.mac
	// One buffer holds the batch's hashes; each row's prev_hash and hash are
	// slices of it (or of the old head), so the arguments stay valid.
	hashes := make([]byte, HashSize*(len(batch)+1))
	copy(hashes, l.headHash[:])
	// The canonical encodings go into one buffer too, sliced only once it
	// has stopped growing; each is stored in the entry column for Verify.
	ends := make([]int, len(batch))
	encs := l.enc[:0]
	for i, p := range batch {
		encs = encode(encs, l.head+int64(i)+1, p.micros, &p.ev)
		ends[i] = len(encs)
	}
	l.enc = encs
	seq := l.head
	args := l.args[:0]
	start := 0
	for i, p := range batch {
		seq++
		prev := hashes[i*HashSize : (i+1)*HashSize]
		sum := hashes[(i+1)*HashSize : (i+2)*HashSize]
		enc := encs[start:ends[i]:ends[i]]
		start = ends[i]
		chainHash(h, prev, enc, sum[:0])
		e := &p.ev
		args = append(args, seq, p.micros, e.ActorUserID, e.WorkspaceID, e.Action, e.PatientID, prev, sum, enc)
	}
	last := hashes[len(batch)*HashSize:]
	l.args = args
	cp = l.opts.Now().Sub(l.lastCPTime) >= l.opts.CheckpointEvery
	// Prepare before the transaction: on SQLite it holds the only write
	// connection, which the prepare would wait for.
	full, err := l.insertStatement(ctx, min(insertChunk, len(batch)))
	if err != nil {
		return head, false, err
	}
	if len(batch) <= insertChunk && !cp && !hasWith(batch) {
		// Most batches: one INSERT, committed as a statement of its own.
		// Inside a transaction SQLite keeps a statement journal for an
		// INSERT of many rows, a copy of every page it changes, taken
		// first; that was a third of the writer's time.
		if err = l.d.ExecOne(ctx, full, args...); err != nil {
			err = fmt.Errorf("insert audit entries: %w", err)
		}
	} else {
		err = l.insertInTx(ctx, batch, full, cp, seq, last)
	}
	clear(l.args) // drop references to the batch's strings
	copy(head[:], last)
	return head, cp, err
}

// insertInTx writes a batch that needs a transaction: more rows than one
// INSERT carries, AppendWith statements, or a checkpoint of the new head
// (seq, last). full is the INSERT of insertChunk rows, or of the whole
// batch when it is smaller.
//
// On SQLite the INSERT trigger of migration 0200 (each row extends the
// chain by one) costs about 10-15% of append throughput: its two
// subqueries are primary-key seeks. It stays: Verify would find a replaced
// or skipped row only later, and the trigger refuses an INSERT OR REPLACE
// (which fires no DELETE trigger) when it happens.
func (l *Log) insertInTx(ctx context.Context, batch []*pending, full *sql.Stmt, cp bool, seq int64, last []byte) error {
	rest, err := l.insertStatement(ctx, max(1, len(batch)%insertChunk))
	if err != nil {
		return err
	}
	args := l.args
	return l.d.Tx(ctx, func(tx *sql.Tx) error {
		for i := 0; i < len(batch); i += insertChunk {
			n := min(insertChunk, len(batch)-i)
			st := full
			if n < insertChunk {
				st = rest
			}
			if _, err := tx.StmtContext(ctx, st).ExecContext(ctx, args[i*entryColumns:(i+n)*entryColumns]...); err != nil {
				return fmt.Errorf("insert audit entries: %w", err)
			}
		}
		if err := runWith(ctx, tx, batch); err != nil {
			return err
		}
		if cp {
			return l.insertCheckpoint(ctx, tx, kindInterval, seq, last)
		}
		return nil
	})
}

func boolInt(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

const entryColumns = 9

// eventColumnList is an entry's columns without its hashes, in the order
// Query scans them; entryColumnList adds the hashes for writing and Verify.
const eventColumnList = `seq, time, actor_user_id, actor_token_id, actor_role, workspace_id, on_behalf_of,
	action, resource_type, resource_id, patient_id, purpose, decision, reason,
	break_glass, client_addr, request_id, outcome`

const entryColumnList = eventColumnList + `, prev_hash, hash`

// insertColumnList is what the writer stores (migration 0210): the
// canonical encoding, which holds the whole entry and is what its hash
// covers, and beside it only the columns queries filter on. The other
// event columns keep their defaults (” and 0) in such rows; Verify checks
// that they do and that the filter columns agree with the encoding. Fewer
// values a row make both the insert and Verify cheaper; rows written
// before 0210 have every column and no encoding.
const insertColumnList = `seq, time, actor_user_id, workspace_id, action, patient_id, prev_hash, hash, entry`

// insertStatement is a multi-row INSERT for n entries, prepared once per n
// because parsing a statement this size costs as much as running it.
func (l *Log) insertStatement(ctx context.Context, n int) (*sql.Stmt, error) {
	if st, ok := l.insertSQL[n]; ok {
		return st, nil
	}
	st, err := l.d.Write.PrepareContext(ctx, insertSQL(l.d.Dialect, insertColumnList, entryColumns, n))
	if err != nil {
		return nil, fmt.Errorf("prepare audit insert: %w", err)
	}
	l.insertSQL[n] = st
	return st, nil
}

// insertSQL is an INSERT of n rows of the named columns (cols of them).
func insertSQL(d db.Dialect, columns string, cols, n int) string {
	var b strings.Builder
	b.WriteString("INSERT INTO audit_entries (" + columns + ") VALUES ")
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteByte('(')
		for j := range cols {
			if j > 0 {
				b.WriteByte(',')
			}
			b.WriteString(d.Param(i*cols + j + 1))
		}
		b.WriteByte(')')
	}
	return b.String()
}

// writeCheckpoint signs the current head in a transaction of its own, for
// when entries stopped flowing before a batch could carry the checkpoint,
// the log closes, or it opens on entries no checkpoint covers.
func (l *Log) writeCheckpoint(kind checkpointKind) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	seq, head := l.head, l.headHash
	err := l.d.Tx(ctx, func(tx *sql.Tx) error { return l.insertCheckpoint(ctx, tx, kind, seq, head[:]) })
	if err != nil {
		l.cpPending = nil
		return err
	}
	l.lastCP, l.lastCPTime = seq, l.opts.Now()
	l.witness()
	return nil
}

// insertCheckpoint signs the chain head (seq, head) as the checkpoint after
// the last one in the database, which it reads in the same transaction (the
// writer of another server may have added one), and leaves the record for
// the witnesses in cpPending.
func (l *Log) insertCheckpoint(ctx context.Context, tx *sql.Tx, kind checkpointKind, seq int64, head []byte) error {
	number, prev, err := lastCheckpoint(ctx, tx)
	if err != nil {
		return err
	}
	number++
	micros := microsOf(l.opts.Now())
	sig := ed25519.Sign(l.signer, checkpointMessageV2(number, kind, seq, head, micros, prev[:]))
	_, err = tx.ExecContext(ctx, `INSERT INTO audit_checkpoints (seq, head_hash, time, key_id, public_key, signature, number, prev_checkpoint, kind)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`, seq, head, micros, l.keyID, []byte(l.PublicKey()), sig, number, prev[:], int64(kind))
	if err != nil {
		return fmt.Errorf("write audit checkpoint: %w", err)
	}
	rec := newWitnessRecord(number, kind, seq, head, micros, prev[:], l.keyID, sig)
	l.cpPending = &rec
	return nil
}

// lastCheckpoint is the number of the newest checkpoint and the SHA-256 of
// the message it signed, or 0 and zeros when there is none. Checkpoints
// written before migration 0230 carry no number: the newest of those is
// numbered by counting them.
func lastCheckpoint(ctx context.Context, tx *sql.Tx) (number int64, msgHash [HashSize]byte, err error) {
	var seq, micros int64
	var head, prev []byte
	var num, kind sql.NullInt64
	err = tx.QueryRowContext(ctx, `SELECT seq, head_hash, time, number, prev_checkpoint, kind
		FROM audit_checkpoints ORDER BY seq DESC LIMIT 1`).Scan(&seq, &head, &micros, &num, &prev, &kind)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return 0, msgHash, nil
	case err != nil:
		return 0, msgHash, fmt.Errorf("read last audit checkpoint: %w", err)
	case num.Valid:
		return num.Int64, sha256.Sum256(checkpointMessageV2(num.Int64, checkpointKind(kind.Int64), seq, head, micros, prev)), nil
	}
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM audit_checkpoints`).Scan(&number); err != nil {
		return 0, msgHash, fmt.Errorf("count audit checkpoints: %w", err)
	}
	return number, sha256.Sum256(checkpointMessage(seq, head, micros)), nil
}
