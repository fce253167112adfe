package audit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/hmac"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"hash"
	"io"
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
	Witnessed   int64         // witness records compared with the database
	Head        int64         // the last seq checked
	Duration    time.Duration // how long the check took
	// Problem says what is wrong, or is empty when the log verifies.
	// BrokenSeq is the first entry at which the log is not what was
	// written, or 0 when the problem has no one place (a witness file is
	// missing) or there is none.
	BrokenSeq int64
	Problem   string
}

// OK reports whether the whole log verified.
func (r Report) OK() bool { return r.Problem == "" }

// Rate is entries checked per second.
func (r Report) Rate() float64 {
	if r.Duration <= 0 {
		return 0
	}
	return float64(r.Entries) / r.Duration.Seconds()
}

// VerifyOptions say what Verify compares the log with beyond itself.
type VerifyOptions struct {
	// Witness lists the witness files (Options.Witness) to compare with.
	Witness []string
	// MaxGap is the longest time allowed between an entry and the
	// checkpoint that covers it (MaxCheckpointGap). 0 skips the check.
	MaxGap time.Duration
	// Now is the clock for entries no checkpoint covers yet. Default
	// time.Now.
	Now func() time.Time
}

// Verify reads the whole log in seq order and checks:
//   - each entry's hash is the keyed link of its contents and its
//     predecessor's hash (entries written before keyed links, with plain
//     SHA-256, are accepted only before the first keyed entry and only as
//     far as a signed checkpoint covers them), and seqs run from 1
//     without gaps;
//   - every checkpoint is signed by signer's key, names the hash the chain
//     has at its seq, carries the next number and the hash of the
//     checkpoint before it, and, with opts.MaxGap, came soon enough after
//     the entries it covers;
//   - entries after the last checkpoint are younger than opts.MaxGap;
//   - every witness file exists (once there are checkpoints) and each of
//     its records is a checkpoint the database holds, unchanged, so the
//     end of the log cut off together with its checkpoints is found.
//
// It stops at the first problem. The error is for failures to read; a
// tampered log is a Report with a Problem.
//
// What it cannot see: a log rewritten wholesale by someone holding the
// master key, or the end of the log and its checkpoints cut off together
// when no witness is kept apart from the database.
func Verify(ctx context.Context, d *db.DB, signer ed25519.PrivateKey, opts VerifyOptions) (Report, error) {
	start := time.Now()
	if opts.Now == nil {
		opts.Now = time.Now
	}
	rep, err := verify(ctx, d, signer, opts)
	rep.Duration = time.Since(start)
	return rep, err
}

// minSegment is the fewest entries worth a verifier goroutine of their own
// (a segment's set-up costs well under a millisecond, its 5,000 entries
// several), and maxSegments (0: GOMAXPROCS) the most goroutines; tests
// shrink both.
var minSegment, maxSegments int64 = 5_000, 0

func verify(ctx context.Context, d *db.DB, signer ed25519.PrivateKey, opts VerifyOptions) (Report, error) {
	var rep Report
	if len(signer) != ed25519.PrivateKeySize {
		return rep, errors.New("verify audit log: the checkpoint key is not an Ed25519 private key")
	}
	// The witnesses are opened first: what they hold now was committed to
	// the database before anything below reads it.
	ws := make([]*witnessCheck, 0, len(opts.Witness))
	defer func() {
		for _, w := range ws {
			w.close()
		}
	}()
	for _, p := range opts.Witness {
		w, err := openWitnessCheck(p)
		if err != nil {
			return rep, err
		}
		ws = append(ws, w)
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
	key := chainKey(signer)
	var wg sync.WaitGroup
	for i := range segs {
		segs[i].lo = last.Int64 * int64(i) / int64(n)
		segs[i].hi = last.Int64 * int64(i+1) / int64(n)
		wg.Go(func() { segs[i].err = segs[i].check(ctx, d, key) })
	}
	wg.Wait()
	var firstKeyed, firstUnkeyed, lastUnkeyed int64
	for i := range segs {
		sg := &segs[i]
		if sg.err != nil {
			return rep, sg.err
		}
		if i > 0 && sg.startPrev != nil && !bytes.Equal(sg.startPrev, segs[i-1].end[:]) {
			rep.BrokenSeq, rep.Problem = sg.lo+1, "its prev_hash does not match the hash of the entry before it"
			return rep, nil
		}
		// An unkeyed entry after a keyed one in an earlier range; one in
		// the same range was found by its walk.
		if firstKeyed != 0 && sg.firstUnkeyed != 0 && (sg.broken == 0 || sg.firstUnkeyed <= sg.broken) {
			rep.BrokenSeq, rep.Problem = sg.firstUnkeyed, downgraded(sg.firstUnkeyed, firstKeyed)
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
		if firstKeyed == 0 {
			firstKeyed = sg.firstKeyed
		}
		if firstUnkeyed == 0 {
			firstUnkeyed = sg.firstUnkeyed
		}
		lastUnkeyed = max(lastUnkeyed, sg.lastUnkeyed)
	}
	// Anyone can recompute unkeyed links: such entries count only as far
	// as a signed checkpoint pins them.
	if lastUnkeyed > cpMax.Int64 {
		rep.BrokenSeq = max(firstUnkeyed, cpMax.Int64+1)
		rep.Problem = fmt.Sprintf("entries %d to %d are linked without the chain key and no signed checkpoint covers them: "+
			"the chain was recomputed without the key, or its checkpoints were removed", rep.BrokenSeq, lastUnkeyed)
		return rep, nil
	}
	pub := signer.Public().(ed25519.PublicKey)
	if err := checkCheckpoints(ctx, d, pub, ws, opts, &rep); err != nil || !rep.OK() {
		return rep, err
	}
	if err := checkTail(ctx, d, cpMax.Int64, last.Int64, opts, &rep); err != nil || !rep.OK() {
		return rep, err
	}
	return rep, nil
}

// downgraded describes an unkeyed entry found after a keyed one.
func downgraded(seq, keyed int64) string {
	return fmt.Sprintf("entry %d is linked without the chain key, but entry %d before it is keyed: "+
		"the chain was recomputed without the key", seq, keyed)
}

// checkTail reports entries after the last checkpoint (cpMax) older than
// opts.MaxGap: a running log checkpoints them within the interval, and a
// clean stop writes a final checkpoint.
func checkTail(ctx context.Context, d *db.DB, cpMax, last int64, opts VerifyOptions, rep *Report) error {
	if opts.MaxGap <= 0 || last <= cpMax {
		return nil
	}
	var micros int64
	if err := d.Read.QueryRowContext(ctx, `SELECT time FROM audit_entries WHERE seq = $1`, cpMax+1).Scan(&micros); err != nil {
		return fmt.Errorf("verify audit log: read entry %d: %w", cpMax+1, err)
	}
	if age := opts.Now().Sub(time.UnixMicro(micros)); age > opts.MaxGap {
		rep.BrokenSeq = cpMax + 1
		rep.Problem = fmt.Sprintf("entries %d to %d are covered by no checkpoint, the first written %s ago (more than %s): "+
			"the checkpoints after seq %d were removed, or the server stopped without its final checkpoint "+
			"(a witness shows which)", cpMax+1, last, age.Round(time.Second), opts.MaxGap, cpMax)
	}
	return nil
}

// checkCheckpoints walks the checkpoints in seq order: each must be signed
// by pub, carry the next number and the hash of the message the one before
// it signed, and (with opts.MaxGap) follow the first entry it covers
// closely enough, unless it was written when the log opened after an
// unclean stop. Beside it each witness is walked in step. Whether each
// checkpoint names the right head was checked with the entries.
func checkCheckpoints(ctx context.Context, d *db.DB, pub ed25519.PublicKey, ws []*witnessCheck, opts VerifyOptions, rep *Report) error {
	// prev_seq + 1 is the first entry the checkpoint covers; its time was
	// checked against the entry's hashed contents already.
	rows, err := d.Read.QueryContext(ctx, `SELECT c.seq, c.head_hash, c.time, c.key_id, c.public_key, c.signature,
		c.number, c.prev_checkpoint, c.kind, e.time
		FROM (SELECT seq, head_hash, time, key_id, public_key, signature, number, prev_checkpoint, kind,
			LAG(seq, 1, 0) OVER (ORDER BY seq) AS prev_seq FROM audit_checkpoints) c
		LEFT JOIN audit_entries e ON e.seq = c.prev_seq + 1
		ORDER BY c.seq`)
	if err != nil {
		return fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	defer rows.Close()
	for _, w := range ws {
		if w.problem != "" {
			rep.Problem = w.problem
			return nil
		}
	}
	keyID := KeyID(pub)
	var number, lastSeq int64
	var prevMsg [HashSize]byte
	numbered := false
	fail := func(seq int64, format string, args ...any) error {
		rep.BrokenSeq, rep.Problem = seq, fmt.Sprintf(format, args...)
		return nil
	}
	for rows.Next() {
		var seq, micros int64
		var head, key, sig, prev []byte
		var kid string
		var num, kind, firstMicros sql.NullInt64
		if err := rows.Scan(&seq, &head, &micros, &kid, &key, &sig, &num, &prev, &kind, &firstMicros); err != nil {
			return fmt.Errorf("verify audit log: read checkpoints: %w", err)
		}
		number++
		var msg []byte
		if !num.Valid {
			if numbered {
				return fail(seq, "the checkpoint at seq %d has no number, but the checkpoints before it do: it was rewritten", seq)
			}
			msg = checkpointMessage(seq, head, micros)
		} else {
			numbered = true
			switch {
			case num.Int64 > number:
				return fail(seq, "checkpoint #%d is missing or out of order: the checkpoint after #%d (seq %d) is #%d (seq %d)",
					number, number-1, lastSeq, num.Int64, seq)
			case num.Int64 < number:
				return fail(seq, "the checkpoint at seq %d is #%d, but #%d came before it: the checkpoints were reordered",
					seq, num.Int64, number-1)
			case !bytes.Equal(prev, prevMsg[:]):
				return fail(seq, "checkpoint #%d (seq %d) does not cover the checkpoint before it: "+
					"checkpoint #%d was removed or changed", number, seq, number-1)
			}
			msg = checkpointMessageV2(number, checkpointKind(kind.Int64), seq, head, micros, prev)
		}
		switch {
		case !bytes.Equal(key, pub) || kid != keyID:
			return fail(seq, "the checkpoint at seq %d is signed by an unknown key %s", seq, kid)
		case !ed25519.Verify(pub, msg, sig):
			return fail(seq, "the checkpoint at seq %d has an invalid signature", seq)
		}
		if opts.MaxGap > 0 && num.Valid && checkpointKind(kind.Int64) != kindOpen && firstMicros.Valid {
			if gap := time.UnixMicro(micros).Sub(time.UnixMicro(firstMicros.Int64)); gap > opts.MaxGap {
				return fail(lastSeq+1, "checkpoint #%d (seq %d) was signed %s after entry %d, the first it covers "+
					"(more than %s): the checkpoints between them are missing", number, seq, gap.Round(time.Second), lastSeq+1, opts.MaxGap)
			}
		}
		for _, w := range ws {
			if problem, err := w.match(number, seq, head, micros, sig); err != nil || problem != "" {
				rep.BrokenSeq, rep.Problem = seq, problem
				return err
			}
		}
		prevMsg = sha256.Sum256(msg)
		lastSeq = seq
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	for _, w := range ws {
		problem, err := w.finish(number, lastSeq)
		if err != nil || problem != "" {
			rep.BrokenSeq, rep.Problem = lastSeq+1, problem
			return err
		}
		rep.Witnessed += w.compared
	}
	if number == 0 {
		return nil
	}
	for _, w := range ws {
		if w.missing {
			rep.Problem = fmt.Sprintf("the witness file %s does not exist, but the database has %d checkpoints: "+
				"it was removed, or the witness setting names the wrong file", w.path, number)
			return nil
		}
	}
	return nil
}

// witnessCheck walks one witness file beside the database's checkpoints.
type witnessCheck struct {
	path     string
	r        *witnessReader // nil when the file does not exist
	missing  bool
	problem  string // a malformed first record
	next     witnessRecord
	more     bool
	compared int64
}

func openWitnessCheck(path string) (*witnessCheck, error) {
	w := &witnessCheck{path: path}
	r, err := openWitnessReader(path)
	if errors.Is(err, errNoWitness) {
		w.missing = true
		return w, nil
	}
	if err != nil {
		return nil, err
	}
	w.r = r
	w.problem, err = w.advance(0)
	if err != nil {
		r.close()
		return nil, err
	}
	return w, nil
}

func (w *witnessCheck) advance(after int64) (string, error) {
	if w.r == nil {
		return "", nil
	}
	rec, problem, err := w.r.next()
	switch {
	case errors.Is(err, io.EOF):
		w.more = false
		return "", nil
	case err != nil:
		return "", err
	case problem != "":
		return problem, nil
	case rec.Number <= after:
		return fmt.Sprintf("the witness %s records checkpoint #%d after #%d: it is out of order", w.path, rec.Number, after), nil
	}
	w.next, w.more = rec, true
	return "", nil
}

// match compares the database's checkpoint number with the witness record
// of that number, if the witness has one (a witness may start later than
// the log, or miss a record whose write failed).
func (w *witnessCheck) match(number, seq int64, head []byte, micros int64, sig []byte) (string, error) {
	if !w.more || w.next.Number != number {
		return "", nil
	}
	rec := w.next
	if rec.Seq != seq || rec.Head != hex.EncodeToString(head) || rec.Time != micros || rec.Signature != hex.EncodeToString(sig) {
		return fmt.Sprintf("checkpoint #%d differs from the witness %s (the database has seq %d, the witness seq %d): "+
			"the log was rewritten from there", number, w.path, seq, rec.Seq), nil
	}
	w.compared++
	return w.advance(number)
}

// finish reports witness records beyond the database's last checkpoint
// (number, at seq lastSeq): the end of the log was cut off with them.
func (w *witnessCheck) finish(number, lastSeq int64) (string, error) {
	if !w.more {
		return "", nil
	}
	return fmt.Sprintf("the witness %s records checkpoint #%d at seq %d, which the database does not have "+
		"(its last is #%d at seq %d): the end of the log was cut off together with its checkpoints",
		w.path, w.next.Number, w.next.Seq, number, lastSeq), nil
}

func (w *witnessCheck) close() {
	if w.r != nil {
		w.r.close()
	}
}

// segment is the seq range (lo, hi] of the log and what checking it found.
type segment struct {
	lo, hi      int64
	entries     int64
	checkpoints int64
	head        int64
	startPrev   []byte         // the first entry's stored prev_hash
	end         [HashSize]byte // the recomputed hash of the last entry
	// The first keyed entry and the first and last unkeyed ones, or 0.
	firstKeyed, firstUnkeyed, lastUnkeyed int64
	broken                                int64
	problem                               string
	err                                   error
}

// check verifies the entries and checkpoints in the segment, starting the
// chain at genesis for the first segment and at the stored prev_hash of the
// first entry otherwise. It reads every column of every entry in one pass
// (db.EachRow: the rows never cross database/sql, whose per-row and
// per-value cost was most of Verify's time).
func (sg *segment) check(ctx context.Context, d *db.DB, key []byte) error {
	cps, err := newCheckpointReader(ctx, d, sg.lo, sg.hi)
	if err != nil {
		return err
	}
	defer cps.close()
	c := &chain{sg: sg, cps: cps, want: sg.lo + 1, mac: hmac.New(sha256.New, key), plain: sha256.New(), enc: make([]byte, 0, 512)}
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
	want    int64     // the next seq expected
	mac     hash.Hash // keyed links
	plain   hash.Hash // unkeyed links, and telling a re-hash from an edit
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
		if err := c.link(seq, enc, len(enc) > 0 && enc[0] == encodingVersion, prevHash, storedHash); err != nil {
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
	c.enc = appendHeader(c.enc[:0], unkeyedVersion, seq, micros, breakGlass != 0)
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
	if err := c.link(seq, c.enc, false, prevHash, storedHash); err != nil {
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
// stored hashes extends the chain, keyed or not. An unkeyed entry may only
// come before the first keyed one.
func (c *chain) link(seq int64, enc []byte, keyed bool, prevHash, storedHash []byte) error {
	sg := c.sg
	switch {
	case keyed && sg.firstKeyed == 0:
		sg.firstKeyed = seq
	case !keyed && sg.firstKeyed != 0:
		return c.fail(seq, downgraded(seq, sg.firstKeyed))
	case !keyed:
		if sg.firstUnkeyed == 0 {
			sg.firstUnkeyed = seq
		}
		sg.lastUnkeyed = seq
	}
	if c.running == nil {
		sg.startPrev = append([]byte(nil), prevHash...)
		c.running = sg.startPrev
	}
	if !bytes.Equal(prevHash, c.running) {
		return c.fail(seq, "its prev_hash does not match the hash of the entry before it")
	}
	h := c.plain
	if keyed {
		h = c.mac
	}
	chainHash(h, c.running, enc, c.sum[:0])
	if !bytes.Equal(c.sum[:], storedHash) {
		if keyed {
			// Only on a break: was it hashed as anyone could, without the key?
			var plain [HashSize]byte
			if bytes.Equal(chainHash(c.plain, c.running, enc, plain[:0]), storedHash) {
				return c.fail(seq, "its hash is plain SHA-256, not keyed with the chain key: the chain was recomputed without the key")
			}
			return c.fail(seq, "its contents do not match its hash (the entry was changed, or its hash recomputed with another key)")
		}
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

// checkpointReader walks the checkpoints in seq order beside the entries,
// checking each names the head the chain has there; checkCheckpoints checks
// their signatures and their own chain.
type checkpointReader struct {
	rows    *sql.Rows
	next    int64 // seq of the next checkpoint, or -1 when there is none
	checked int64
	head    []byte
}

func newCheckpointReader(ctx context.Context, d *db.DB, lo, hi int64) (*checkpointReader, error) {
	rows, err := d.Read.QueryContext(ctx, `SELECT seq, head_hash FROM audit_checkpoints WHERE seq > $1 AND seq <= $2 ORDER BY seq`, lo, hi)
	if err != nil {
		return nil, fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	c := &checkpointReader{rows: rows}
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
	if err := c.rows.Scan(&c.next, &c.head); err != nil {
		return fmt.Errorf("verify audit log: read checkpoints: %w", err)
	}
	return nil
}

// check compares the checkpoint at seq with the recomputed head and moves
// to the next one. It returns a problem description, or "".
func (c *checkpointReader) check(seq int64, head []byte) (string, error) {
	c.checked++
	if !bytes.Equal(c.head, head) {
		return fmt.Sprintf("the checkpoint at seq %d signed a different chain head: the log up to here was rewritten", seq), nil
	}
	return "", c.advance()
}

func (c *checkpointReader) close() { c.rows.Close() }
