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
	"strconv"
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

// minSegment is the fewest entries worth a verifier goroutine of their own,
// and maxSegments (0: GOMAXPROCS) the most goroutines; tests shrink both.
var minSegment, maxSegments int64 = 100_000, 0

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
// first entry otherwise. Entries that carry their canonical encoding
// (migration 0210) are read by checkEncoded; older ones, which have none,
// by checkColumns. Each reads until the other kind starts, so a log
// written before and after the migration is read in at most a few runs.
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
	for encoded := true; sg.broken == 0 && c.want <= sg.hi; encoded = !encoded {
		read := c.checkColumns
		if encoded {
			read = c.checkEncoded
		}
		other, err := read(ctx, d)
		if err != nil {
			return err
		}
		if !other {
			break
		}
	}
	if sg.broken == 0 && c.want <= sg.hi {
		sg.broken, sg.problem = c.want, fmt.Sprintf("entries from %d to %d are missing", c.want, sg.hi)
	}
	sg.checkpoints = cps.checked
	return nil
}

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

func (c *chain) fail(at int64, problem string) {
	c.sg.broken, c.sg.problem = at, problem
}

// link checks that the entry seq with canonical encoding enc and the
// stored hashes extends the chain, and any checkpoint at it. It returns
// false when the log is broken here.
func (c *chain) link(seq int64, enc, prevHash, storedHash []byte) (bool, error) {
	if seq != c.want {
		c.fail(c.want, fmt.Sprintf("entry %d is missing (the next entry is %d)", c.want, seq))
		return false, nil
	}
	if c.running == nil {
		c.sg.startPrev = append([]byte(nil), prevHash...)
		c.running = c.sg.startPrev
	}
	if !bytes.Equal(prevHash, c.running) {
		c.fail(seq, "its prev_hash does not match the hash of the entry before it")
		return false, nil
	}
	chainHash(c.h, c.running, enc, c.sum[:0])
	if !bytes.Equal(c.sum[:], storedHash) {
		c.fail(seq, "its contents do not match its hash (the entry was changed)")
		return false, nil
	}
	c.runBuf = c.sum
	c.running = c.runBuf[:]
	c.sg.entries++
	c.sg.head = seq
	c.sg.end = c.sum
	c.want++
	if c.cps.next >= 0 && c.cps.next < seq {
		c.fail(c.cps.next, fmt.Sprintf("the checkpoint at seq %d names no entry", c.cps.next))
		return false, nil
	}
	if seq == c.cps.next {
		problem, err := c.cps.check(seq, c.running)
		if err != nil {
			return false, err
		}
		if problem != "" {
			c.fail(seq, problem)
			return false, nil
		}
	}
	return true, nil
}

// checkEncoded checks entries from c.want on that store their canonical
// encoding: it hashes that one column and checks that the columns queries
// filter on say the same and the others are blank, reading ten values a
// row instead of twenty (on SQLite each value read costs about as much as
// hashing the entry). It stops at the first entry without an encoding.
func (c *chain) checkEncoded(ctx context.Context, d *db.DB) (other bool, err error) {
	rows, err := d.Read.QueryContext(ctx, `SELECT seq, entry, `+packedColumns(d.Dialect)+`, prev_hash, hash
		FROM audit_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, c.want, c.sg.hi)
	if err != nil {
		return false, fmt.Errorf("verify audit log: read entries: %w", err)
	}
	defer rows.Close()
	var (
		seq                               int64
		enc, packed, prevHash, storedHash sql.RawBytes
		want                              []byte
	)
	for rows.Next() {
		if err := rows.Scan(&seq, &enc, &packed, &prevHash, &storedHash); err != nil {
			return false, fmt.Errorf("verify audit log: read entry %d: %w", c.want, err)
		}
		if enc == nil {
			return c.stopAt(seq), nil
		}
		if ok, err := c.link(seq, enc, prevHash, storedHash); !ok || err != nil {
			return false, err
		}
		// The encoding is what was hashed; the columns must agree with it.
		eseq, emicros, _, f, wellFormed := decodeEntry(enc)
		if wellFormed {
			want = appendPacked(want[:0], emicros, &f)
		}
		if !wellFormed || eseq != seq || !bytes.Equal(want, packed) {
			c.fail(seq, "its columns do not match its recorded contents (the entry was changed)")
			return false, nil
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("verify audit log: read entries: %w", err)
	}
	return false, nil
}

// checkColumns checks entries from c.want on that have no stored encoding
// (written before migration 0210) by encoding their columns. It stops at
// the first entry that has one.
func (c *chain) checkColumns(ctx context.Context, d *db.DB) (other bool, err error) {
	rows, err := d.Read.QueryContext(ctx, `SELECT `+entryColumnList+`, entry IS NOT NULL
		FROM audit_entries WHERE seq >= $1 AND seq <= $2 ORDER BY seq`, c.want, c.sg.hi)
	if err != nil {
		return false, fmt.Errorf("verify audit log: read entries: %w", err)
	}
	defer rows.Close()
	// Scan targets and the encoding buffer are reused for every row, so the
	// loop allocates nothing of its own.
	var (
		seq, micros, breakGlass int64
		text                    [15]sql.RawBytes
		prevHash, storedHash    sql.RawBytes
		encoded                 bool
	)
	dest := append(scanTargets(&seq, &micros, &text, &breakGlass, &prevHash, &storedHash), &encoded)
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return false, fmt.Errorf("verify audit log: read entry %d: %w", c.want, err)
		}
		if encoded {
			return c.stopAt(seq), nil
		}
		c.enc = appendHeader(c.enc[:0], seq, micros, breakGlass != 0)
		for i := range text {
			c.enc = appendField(c.enc, text[i])
		}
		if ok, err := c.link(seq, c.enc, prevHash, storedHash); !ok || err != nil {
			return false, err
		}
	}
	if err := rows.Err(); err != nil {
		return false, fmt.Errorf("verify audit log: read entries: %w", err)
	}
	return false, nil
}

// packedColumns is one value the database computes from the columns
// queries filter on, so Verify reads one value for five: time, then each
// text column as "<byte length>:<bytes>" (unambiguous), or NULL when any
// column that only the encoding holds is not blank (see blankColumns).
func packedColumns(d db.Dialect) string {
	byteLen := "length(CAST(%s AS BLOB))"
	if d.Name == "postgres" {
		byteLen = "octet_length(%s)"
	}
	var b strings.Builder
	b.WriteString("CASE WHEN " + blankColumns + " THEN CAST(time AS TEXT)")
	for _, c := range []string{"actor_user_id", "workspace_id", "action", "patient_id"} {
		fmt.Fprintf(&b, " || ',' || "+byteLen+" || ':' || %s", c, c)
	}
	b.WriteString(" END")
	return b.String()
}

// appendPacked appends what packedColumns yields for an entry with this
// time and fields.
func appendPacked(b []byte, micros int64, f *[15][]byte) []byte {
	b = strconv.AppendInt(b, micros, 10)
	for _, i := range [...]int{fieldActorUserID, fieldWorkspaceID, fieldAction, fieldPatientID} {
		b = append(b, ',')
		b = strconv.AppendInt(b, int64(len(f[i])), 10)
		b = append(b, ':')
		b = append(b, f[i]...)
	}
	return b
}

// blankColumns is true when an entry's event columns that only its
// encoding holds (see insertColumnList) keep their defaults: one value
// the database computes instead of twelve read.
const blankColumns = `(actor_token_id = '' AND actor_role = '' AND on_behalf_of = '' AND resource_type = ''
	AND resource_id = '' AND purpose = '' AND decision = '' AND reason = '' AND break_glass = 0
	AND client_addr = '' AND request_id = '' AND outcome = '')`

// stopAt is called when a read meets entry seq, which the other kind of
// read must check; it reports whether that read should run (false when
// entries before seq are missing, which it records).
func (c *chain) stopAt(seq int64) bool {
	if seq != c.want {
		c.fail(c.want, fmt.Sprintf("entry %d is missing (the next entry is %d)", c.want, seq))
		return false
	}
	return true
}

// scanTargets lists the Scan destinations in entryColumnList order.
func scanTargets(seq, micros *int64, text *[15]sql.RawBytes, breakGlass *int64, prev, hash *sql.RawBytes) []any {
	d := []any{seq, micros}
	for i := 0; i < 12; i++ { // actor_user_id .. reason
		d = append(d, &text[i])
	}
	d = append(d, breakGlass)
	for i := 12; i < 15; i++ { // client_addr, request_id, outcome
		d = append(d, &text[i])
	}
	return append(d, prev, hash)
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
