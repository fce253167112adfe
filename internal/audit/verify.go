package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"database/sql"
	"errors"
	"fmt"
	"hash"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/db"
)

// Report is the outcome of Verify.
type Report struct {
	Entries     int64         // entries checked
	Checkpoints int64         // checkpoints checked
	Head        int64         // the last seq checked
	Duration    time.Duration // how long the check took
	// BrokenSeq is the first entry at which the log is not what was
	// written, or 0 when the log verifies. Problem says what is wrong there.
	BrokenSeq int64
	Problem   string
}

// OK reports whether the whole log verified.
func (r Report) OK() bool { return r.BrokenSeq == 0 }

// Rate is entries checked per second.
func (r Report) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Entries) / r.Duration.Seconds()
}

// Verify reads the whole log in seq order and checks that each entry's hash
// is the hash of its contents and its predecessor's hash, that seqs run from
// 1 without gaps, and that every checkpoint is signed by pub and names the
// hash the chain actually has at its seq. It stops at the first break. The
// error is for failures to read; a tampered log is a Report with BrokenSeq.
//
// What it cannot see: entries removed from the end after the last
// checkpoint, or a log rewritten wholesale by someone holding the signing
// key. Publishing checkpoints outside the database closes both gaps.
func Verify(ctx context.Context, d *db.DB, pub ed25519.PublicKey) (Report, error) {
	start := time.Now()
	rep, err := verify(ctx, d, pub)
	rep.Duration = time.Since(start)
	return rep, err
}

// minSegment is the fewest entries worth a verifier goroutine of their own
// (a segment's set-up costs well under a millisecond, its 5,000 entries
// several), and maxSegments (0: GOMAXPROCS) the most goroutines; tests
// shrink both.
var minSegment, maxSegments int64 = 5_000, 0

func verify(ctx context.Context, d *db.DB, pub ed25519.PublicKey) (Report, error) {
	var rep Report
	if len(pub) != ed25519.PublicKeySize {
		return rep, errors.New("verify audit log: the checkpoint key is not an Ed25519 public key")
	}
	// Checkpoints are written only for entries that exist, so reading the
	// checkpoint maximum before the entry maximum can only find it beyond
	// the end if entries were removed.
	var cpMax, last sql.NullInt64
	if err := d.Read.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_checkpoints`).Scan(&cpMax); err != nil {
		return rep, fmt.Errorf("verify audit log: %w", err)
	}
	if err := d.Read.QueryRowContext(ctx, `SELECT MAX(seq) FROM audit_entries`).Scan(&last); err != nil {
		return rep, fmt.Errorf("verify audit log: %w", err)
	}
	if cpMax.Int64 > last.Int64 {
		rep.BrokenSeq = last.Int64 + 1
		rep.Problem = fmt.Sprintf("entries after seq %d are missing: a checkpoint covers seq %d", last.Int64, cpMax.Int64)
		return rep, nil
	}

	// The log is cut into consecutive seq ranges checked at once, one
	// goroutine and read connection each: reading rows costs far more than
	// hashing them. A range after the first starts from its first entry's
	// stored prev_hash; joining the ranges checks that link against the
	// hash the range before computed, so the result is the same as one
	// pass from entry 1, including which break is reported first.
	procs := maxSegments
	if procs <= 0 {
		procs = int64(runtime.GOMAXPROCS(0))
	}
	n := int(min(procs, max(1, last.Int64/minSegment)))
	segs := make([]segment, n)
	var wg sync.WaitGroup
	for i := range segs {
		segs[i].lo = last.Int64 * int64(i) / int64(n)
		segs[i].hi = last.Int64 * int64(i+1) / int64(n)
		wg.Go(func() { segs[i].err = segs[i].check(ctx, d, pub) })
	}
	wg.Wait()
	for i := range segs {
		sg := &segs[i]
		if sg.err != nil {
			return rep, sg.err
		}
		if i > 0 && sg.startPrev != nil && !bytes.Equal(sg.startPrev, segs[i-1].end[:]) {
			rep.BrokenSeq, rep.Problem = sg.lo+1, "its prev_hash does not match the hash of the entry before it"
			return rep, nil
		}
		rep.Entries += sg.entries
		rep.Checkpoints += sg.checkpoints
		if sg.entries > 0 {
			rep.Head = sg.head
		}
		if sg.broken != 0 {
			rep.BrokenSeq, rep.Problem = sg.broken, sg.problem
			return rep, nil
		}
	}
	return rep, nil
}

// segment is the seq range (lo, hi] of the log and what checking it found.
type segment struct {
	lo, hi      int64
	entries     int64
	checkpoints int64
	head        int64
	startPrev   []byte         // the first entry's stored prev_hash
	end         [HashSize]byte // the recomputed hash of the last entry
	broken      int64
	problem     string
	err         error
}

// check verifies the entries and checkpoints in the segment, starting the
// chain at genesis for the first segment and at the stored prev_hash of the
// first entry otherwise. It reads every column of every entry in one pass
// (db.EachRow: the rows never cross database/sql, whose per-row and
// per-value cost was most of Verify's time).
func (sg *segment) check(ctx context.Context, d *db.DB, pub ed25519.PublicKey) error {
	cps, err := newCheckpointReader(ctx, d, sg.lo, sg.hi, pub)
	if err != nil {
		return err
	}
	defer cps.close()
	c := &chain{sg: sg, cps: cps, want: sg.lo + 1, h: sha256.New(), enc: make([]byte, 0, 512)}
	if sg.lo == 0 {
		c.running = genesis[:]
	}
	err = d.EachRow(ctx, verifyColumns(d.Dialect), colSeq, `audit_entries WHERE seq >= $1 AND seq <= $2`,
		[]any{c.want, sg.hi}, c.row)
	if err != nil && !errors.Is(err, errBroken) {
		return fmt.Errorf("verify audit log: read entries: %w", err)
	}
	if sg.broken == 0 && c.want <= sg.hi {
		sg.broken, sg.problem = c.want, fmt.Sprintf("entries from %d to %d are missing", c.want, sg.hi)
	}
	sg.checkpoints = cps.checked
	return nil
}

// verifyColumns is what row reads: entryColumnList and entry. On
// PostgreSQL, where each value read costs the client more than the server
// spends comparing it, a column that only an entry without an encoding
// holds comes as NULL when the entry has an encoding and the column keeps
// its default; row takes NULL there to mean that default.
func verifyColumns(d db.Dialect) []string {
	cols := strings.Split(strings.Join(strings.Fields(entryColumnList+", entry"), ""), ",")
	if d.Name != "postgres" {
		return cols
	}
	for i, c := range cols {
		switch c {
		case "actor_token_id", "actor_role", "on_behalf_of", "resource_type", "resource_id", "purpose", "decision",
			"reason", "client_addr", "request_id", "outcome":
			cols[i] = fmt.Sprintf("CASE WHEN entry IS NULL OR %s <> '' THEN %s END", c, c)
		case "break_glass":
			cols[i] = "CASE WHEN entry IS NULL OR break_glass <> 0 THEN break_glass END"
		}
	}
	return cols
}

// errBroken stops reading a segment at its first break.
var errBroken = errors.New("the log is broken here")

// chain is one segment's running check.
type chain struct {
	sg      *segment
	cps     *checkpointReader
	running []byte
	runBuf  [HashSize]byte
	sum     [HashSize]byte
	want    int64 // the next seq expected
	h       hash.Hash
	enc     []byte
}

func (c *chain) fail(at int64, problem string) error {
	c.sg.broken, c.sg.problem = at, problem
	return errBroken
}

// Positions in a row of entryColumnList followed by entry.
const (
	colSeq        = 0
	colTime       = 1
	colBreakGlass = 14
	colPrevHash   = 18
	colHash       = 19
	colEntry      = 20
	rowColumns    = 21
)

// textColumn is the row position of each of the 15 text fields, in
// fields' order (break_glass sits between reason and client_addr).
var textColumn = [15]int{2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 15, 16, 17}

// filterField reports which fields have a column of their own beside a
// stored encoding (insertColumnList); the others must keep their defaults.
var filterField = [15]bool{fieldActorUserID: true, fieldWorkspaceID: true, fieldAction: true, fieldPatientID: true}

// row checks one entry, given its columns in entryColumnList order and its
// stored encoding. An entry that stores its encoding (migration 0210) is
// hashed from it, and every column must agree with it: the filter columns
// hold the same values and the others their defaults. An older entry,
// which has none, is hashed from its columns. A value of an unexpected
// type is a change too (the writer stores integers, text and blobs only
// where the schema says).
func (c *chain) row(r db.Row) error {
	if r.Columns() != rowColumns {
		return fmt.Errorf("entry row has %d columns, want %d", r.Columns(), rowColumns)
	}
	if r.Kind(colSeq) != db.Integer {
		return fmt.Errorf("entry after %d has a seq that is not an integer", c.want-1)
	}
	seq := r.Int(colSeq)
	if seq != c.want {
		return c.fail(c.want, fmt.Sprintf("entry %d is missing (the next entry is %d)", c.want, seq))
	}
	microsOK := r.Kind(colTime) == db.Integer
	bgKind := r.Kind(colBreakGlass)
	var micros, breakGlass int64
	if microsOK {
		micros = r.Int(colTime)
	}
	if bgKind == db.Integer {
		breakGlass = r.Int(colBreakGlass)
	}
	prevHash, storedHash := blobOf(r, colPrevHash), blobOf(r, colHash)
	if r.Kind(colEntry) == db.Blob {
		enc := r.Bytes(colEntry)
		if err := c.link(seq, enc, prevHash, storedHash); err != nil {
			return err
		}
		// The encoding is what was hashed; the columns must agree with it:
		// the filter columns hold its values, the others their defaults.
		eseq, emicros, _, f, wellFormed := decodeEntry(enc)
		agree := wellFormed && eseq == seq && microsOK && emicros == micros &&
			(bgKind == db.Integer && breakGlass == 0 || bgKind == db.Null)
		for i := 0; agree && i < len(f); i++ {
			k := r.Kind(textColumn[i])
			if filterField[i] {
				agree = k == db.Text && bytes.Equal(r.Bytes(textColumn[i]), f[i])
			} else {
				agree = k == db.Text && r.Len(textColumn[i]) == 0 || k == db.Null
			}
		}
		if !agree {
			return c.fail(seq, "its columns do not match its recorded contents (the entry was changed)")
		}
		return c.checkpoint(seq)
	}
	// Without an encoding the entry is checked by encoding its columns; a
	// column of the wrong type cannot have been hashed.
	wellTyped := microsOK && bgKind == db.Integer && (breakGlass == 0 || breakGlass == 1) && r.Kind(colEntry) == db.Null
	c.enc = appendHeader(c.enc[:0], seq, micros, breakGlass != 0)
	for _, i := range textColumn {
		if r.Kind(i) != db.Text {
			wellTyped = false
			break
		}
		c.enc = appendField(c.enc, r.Bytes(i))
	}
	if !wellTyped {
		return c.fail(seq, "its contents do not match its hash (the entry was changed)")
	}
	if err := c.link(seq, c.enc, prevHash, storedHash); err != nil {
		return err
	}
	return c.checkpoint(seq)
}

// blobOf is column i's bytes if it is a blob (a hash column), else nil,
// which no hash equals.
func blobOf(r db.Row, i int) []byte {
	if r.Kind(i) != db.Blob {
		return nil
	}
	return r.Bytes(i)
}

// link checks that the entry seq with canonical encoding enc and the
// stored hashes extends the chain.
func (c *chain) link(seq int64, enc, prevHash, storedHash []byte) error {
	if c.running == nil {
		c.sg.startPrev = append([]byte(nil), prevHash...)
		c.running = c.sg.startPrev
	}
	if !bytes.Equal(prevHash, c.running) {
		return c.fail(seq, "its prev_hash does not match the hash of the entry before it")
	}
	chainHash(c.h, c.running, enc, c.sum[:0])
	if !bytes.Equal(c.sum[:], storedHash) {
		return c.fail(seq, "its contents do not match its hash (the entry was changed)")
	}
	c.runBuf = c.sum
	c.running = c.runBuf[:]
	return nil
}

// checkpoint records entry seq as checked and verifies any checkpoint at it.
func (c *chain) checkpoint(seq int64) error {
	c.sg.entries++
	c.sg.head = seq
	c.sg.end = c.sum
	c.want++
	if c.cps.next >= 0 && c.cps.next < seq {
		return c.fail(c.cps.next, fmt.Sprintf("the checkpoint at seq %d names no entry", c.cps.next))
	}
	if seq == c.cps.next {
		problem, err := c.cps.check(seq, c.running)
		if err != nil {
			return err
		}
		if problem != "" {
			return c.fail(seq, problem)
		}
	}
	return nil
}

// checkpointReader walks the checkpoints in seq order beside the entries.
type checkpointReader struct {
	rows    *sql.Rows
	pub     ed25519.PublicKey
	keyID   string
	next    int64 // seq of the next checkpoint, or -1 when there is none
	checked int64

	head, key, sig []byte
	micros         int64
	keyIDRow       string
}

func newCheckpointReader(ctx context.Context, d *db.DB, lo, hi int64, pub ed25519.PublicKey) (*checkpointReader, error) {
	rows, err := d.Read.QueryContext(ctx, `SELECT seq, head_hash, time, key_id, public_key, signature
		FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	c := &checkpointReader{rows: rows, pub: pub, keyID: KeyID(pub)}
	if err := c.advance(); err != nil {
		rows.Close()
		return nil, err
	}
	return c, nil
}

func (c *checkpointReader) advance() error {
	if !c.rows.Next() {
		c.next = -1
		if err := c.rows.Err(); err != nil {
			return fmt.Errorf("verify audit log: read checkpoints: %w", err)
		}
		return nil
	}
	if err := c.rows.Scan(&c.next, &c.head, &c.micros, &c.keyIDRow, &c.key, &c.sig); err != nil {
		return fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	return nil
}

// check verifies the checkpoint at seq against the recomputed head and moves
// to the next one. It returns a problem description, or "".
func (c *checkpointReader) check(seq int64, head []byte) (string, error) {
	c.checked++
	var problem string
	switch {
	case !bytes.Equal(c.key, c.pub) || c.keyIDRow != c.keyID:
		problem = fmt.Sprintf("the checkpoint at seq %d is signed by an unknown key %s", seq, c.keyIDRow)
	case !ed25519.Verify(c.pub, checkpointMessage(seq, c.head, c.micros), c.sig):
		problem = fmt.Sprintf("the checkpoint at seq %d has an invalid signature", seq)
	case !bytes.Equal(c.head, head):
		problem = fmt.Sprintf("the checkpoint at seq %d signed a different chain head: the log up to here was rewritten", seq)
	}
	if problem != "" {
		return problem, nil
	}
	return "", c.advance()
}

func (c *checkpointReader) close() { c.rows.Close() }
