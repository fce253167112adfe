package audit

import (
	"bufio"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// A witness file holds a copy of every checkpoint outside the database, one
// JSON object a line, appended and synced as each checkpoint commits.
// Someone who can write the database but not the witness can cut off the
// end of the log and its checkpoints together, and Verify still finds it:
// the witness names checkpoints the database no longer has. The file is
// only as good as its separation from the database: another volume, a
// write-once bucket, a mailbox (README, "Audit log").

// witnessRecord is one line of a witness file. Hashes and the signature
// are hex, so the file can be read and compared by hand.
type witnessRecord struct {
	Number    int64  `json:"number"`
	Kind      uint8  `json:"kind"`
	Seq       int64  `json:"seq"`
	Time      int64  `json:"time_us"`
	Head      string `json:"head"`
	Prev      string `json:"prev"`
	KeyID     string `json:"key_id"`
	Signature string `json:"signature"`
}

func newWitnessRecord(number int64, kind checkpointKind, seq int64, head []byte, micros int64, prev []byte, keyID string, sig []byte) witnessRecord {
	return witnessRecord{Number: number, Kind: uint8(kind), Seq: seq, Time: micros, Head: hex.EncodeToString(head),
		Prev: hex.EncodeToString(prev), KeyID: keyID, Signature: hex.EncodeToString(sig)}
}

// witness is one open witness file of a Log.
type witness struct {
	path string
	f    *os.File
}

// openWitness opens (creating) the witness file at path for appending.
func openWitness(path string) (*witness, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open audit witness %s: %w", path, err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open audit witness %s: %w", path, err)
	}
	return &witness{path: path, f: f}, nil
}

// append writes one record and syncs it, so a checkpoint the database holds
// is on the witness's disk too before the next one is written.
func (w *witness) append(rec witnessRecord) error {
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("write audit witness %s: %w", w.path, err)
	}
	if _, err := w.f.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("write audit witness %s: %w", w.path, err)
	}
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("sync audit witness %s: %w", w.path, err)
	}
	return nil
}

func (w *witness) close() error { return w.f.Close() }

// witnessReader reads a witness file's records in order, as far as the
// file reached when it was opened: Verify opens it before reading the
// database, so every record it reads was committed there first, even while
// a server goes on appending to both.
type witnessReader struct {
	path string
	f    *os.File
	r    *bufio.Reader
	line int
}

// errNoWitness means the witness file does not exist.
var errNoWitness = errors.New("the witness file does not exist")

func openWitnessReader(path string) (*witnessReader, error) {
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, errNoWitness
	}
	if err != nil {
		return nil, fmt.Errorf("read audit witness %s: %w", path, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("read audit witness %s: %w", path, err)
	}
	return &witnessReader{path: path, f: f, r: bufio.NewReader(io.LimitReader(f, st.Size()))}, nil
}

// next returns the next record, io.EOF after the last, or a description of
// a malformed line as problem. A last line without its newline is being
// written (or was torn by a crash before its sync, so the database, which
// committed first, holds the checkpoint): it is not read.
func (r *witnessReader) next() (rec witnessRecord, problem string, err error) {
	for {
		b, err := r.r.ReadBytes('\n')
		if errors.Is(err, io.EOF) {
			return rec, "", io.EOF
		}
		if err != nil {
			return rec, "", fmt.Errorf("read audit witness %s: %w", r.path, err)
		}
		r.line++
		if len(b) <= 1 {
			continue
		}
		if err := json.Unmarshal(b, &rec); err != nil || rec.Number <= 0 {
			return rec, fmt.Sprintf("line %d of the witness %s is not a checkpoint record", r.line, r.path), nil
		}
		return rec, "", nil
	}
}

func (r *witnessReader) close() { r.f.Close() }
