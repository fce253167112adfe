package media

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync/atomic"
	"time"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/keys"
)

// Held objects. A file sent in one request of at most MaxHeldObject bytes
// (a DICOM instance, a photograph) keeps its encrypted object in the
// database (media_held_objects), inserted in the same transaction as its
// row: one commit, shared with the other files arriving together, makes
// the row and the bytes durable, where a blob would need a filesystem sync
// of its own before the row could be committed. The object is the sealed
// stream PutEncrypted would store (patient key, object name as associated
// data), so it is read back exactly like a blob, and nothing of it exists
// before the commit: a refused, short or failed file leaves nothing behind,
// and a crash cannot orphan it.

// MaxHeldObject is the largest file PutSmall keeps in the database; larger
// ones go to the blob store.
const MaxHeldObject = 1 << 20

// heldObject is an encrypted object on its way into, or out of, the
// database.
type heldObject struct {
	name string
	data []byte
}

const (
	insertHeldSQL = `INSERT INTO media_held_objects (file_id, object, data) VALUES ($1, $2, $3)`
	selectHeldSQL = `SELECT object, data FROM media_held_objects WHERE file_id = $1`
)

// errHeldReadOnly: held objects are written only by a file's commit.
var errHeldReadOnly = errors.New("media: a held object is written only with its file row")

// heldStore serves one held object to blob.OpenEncrypted.
type heldStore struct{ heldObject }

func (h heldStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	if name != h.name {
		return nil, blob.ErrNotFound
	}
	return io.NopCloser(bytes.NewReader(h.data)), nil
}

func (h heldStore) Stat(_ context.Context, name string) (int64, error) {
	if name != h.name {
		return 0, blob.ErrNotFound
	}
	return int64(len(h.data)), nil
}

func (heldStore) Put(context.Context, string, io.Reader) (int64, error) { return 0, errHeldReadOnly }
func (heldStore) Delete(context.Context, string) error                  { return errHeldReadOnly }

// sealHeld encrypts plain into the stream format of blob.PutEncrypted for
// the object name.
func sealHeld(k *keys.Key, name string, plain []byte) ([]byte, error) {
	segs := len(plain)/keys.SegmentSize + 1
	var buf bytes.Buffer
	buf.Grow(len(plain) + segs*64 + 64)
	w, err := keys.NewEncryptingWriter(&buf, k, []byte(name))
	if err != nil {
		return nil, err
	}
	if _, err := w.Write(plain); err != nil {
		return nil, err
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// putHeld is PutSmall for a file of at most MaxHeldObject bytes: read it
// whole, validate it while its audit entry is made durable, encrypt it,
// and commit row and object together once the receipt is in hand.
func (s *Store) putHeld(ctx context.Context, receipt func() (audit.Receipt, error), u Upload, key *keys.Key, r io.Reader) (File, Info, error) {
	plain, err := readWhole(r, u.Size)
	if err != nil {
		return File{}, Info{}, err
	}
	info, verr := Validate(BytesSource(plain), u.Slot, s.Limits)
	var obj heldObject
	if verr == nil {
		obj.name = partName(u.ID, 0)
		obj.data, verr = sealHeld(key, obj.name, plain)
		if verr != nil {
			verr = fmt.Errorf("store file: %w", verr)
		}
	}
	rec, err := receipt()
	if err == nil && !rec.Covers(u.PatientID) {
		err = ErrNoReceipt
	}
	if err != nil {
		return File{}, Info{}, err
	}
	if verr != nil {
		return File{}, Info{}, verr
	}
	f, err := s.commitFileHeld(ctx, u, key, BytesSource(plain), info, nil, &obj, false)
	if err != nil {
		return File{}, Info{}, err
	}
	return f, info, nil
}

// heldSource returns the source of a file whose object is held in the
// database, or ok false if it has none.
func (s *Store) heldSource(ctx context.Context, k *keys.Key, f File) (src *partsSource, ok bool, err error) {
	var h heldObject
	err = s.DB.Read.QueryRowContext(ctx, selectHeldSQL, f.ID).Scan(&h.name, &h.data)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("load file object: %w", err)
	}
	src, err = newPartsSource(ctx, heldStore{h}, k, f.uploadID, []part{{offset: 0, length: f.Size, object: h.name}})
	return src, err == nil, err
}

// AuditedCommit appends an upload's audit entry and, when fn is not nil,
// runs fn in the transaction that commits it (audit.Log.AppendWith). err
// is the entry's failure (the caller must then answer with it); fnErr is
// fn's, whose statements were rolled back while the entry was committed.
type AuditedCommit func(fn func(ctx context.Context, tx *sql.Tx) error) (rec audit.Receipt, fnErr, err error)

// PutSmallAudited stores a whole file of at most MaxHeldObject bytes sent
// in one request, like PutSmall, but commits its row and held object in
// the same transaction as its audit entry (commit): one durable commit,
// shared with every entry and file arriving together, instead of an
// entry's commit and then a file's. The file is read, validated, encrypted
// and its renditions stored first; nothing is decrypted. If anything fails
// before that commit, the entry is committed alone and the failure
// returned (or the audit log's, if the entry could not be written), and no
// row or object is left.
func (s *Store) PutSmallAudited(ctx context.Context, commit AuditedCommit, n NewUpload, r io.Reader) (File, Info, error) {
	start := time.Now()
	entryOnly := func(err error) (File, Info, error) {
		if _, _, aerr := commit(nil); aerr != nil {
			return File{}, Info{}, aerr
		}
		return File{}, Info{}, err
	}
	lim := s.Limits.orDefault()
	if n.Size <= 0 || n.Size > lim.MaxFileSize || n.Size > MaxHeldObject {
		return entryOnly(ErrSize)
	}
	if n.WorkspaceID == "" || n.PatientID == "" || n.CaseID == "" || n.UploaderID == "" {
		return entryOnly(errors.New("store file: workspace, patient, case and uploader ids are required"))
	}
	switch n.Slot {
	case SlotAny, SlotMesh, SlotDICOM, SlotImage:
	default:
		return entryOnly(errors.New("store file: unknown slot"))
	}
	key, err := s.Keys.PatientKey(ctx, n.WorkspaceID, n.PatientID)
	if err != nil {
		return entryOnly(fmt.Errorf("store file: %w", err))
	}
	u := Upload{ID: newID(), WorkspaceID: n.WorkspaceID, PatientID: n.PatientID, CaseID: n.CaseID, UploaderID: n.UploaderID,
		Slot: n.Slot, Size: n.Size}
	plain, err := readWhole(r, n.Size)
	if err != nil {
		return entryOnly(err)
	}
	info, err := Validate(BytesSource(plain), u.Slot, s.Limits)
	if err != nil {
		return entryOnly(err)
	}
	obj := heldObject{name: partName(u.ID, 0)}
	if obj.data, err = sealHeld(key, obj.name, plain); err != nil {
		return entryOnly(fmt.Errorf("store file: %w", err))
	}
	pf, err := s.prepareFile(ctx, u, key, BytesSource(plain), info, nil, &obj, false)
	if err != nil {
		return entryOnly(err)
	}
	// The statements are prepared outside the log's transaction, which
	// holds SQLite's only write connection.
	s.prepareFileStatements(context.WithoutCancel(ctx))
	s.gather.enter(time.Since(start))
	_, fnErr, err := commit(pf.insert)
	s.gather.leave()
	if err == nil && fnErr != nil {
		err = fmt.Errorf("commit file: %w", fnErr)
	}
	if err != nil {
		pf.cleanup()
		return File{}, Info{}, err
	}
	committedWithEntry.Add(1)
	return pf.f, info, nil
}

// committedWithEntry counts files committed in their audit entry's
// transaction (tests check which path ran).
var committedWithEntry atomic.Int64

// readWhole reads exactly size bytes from r: ErrChunkLength if r holds
// fewer or more.
func readWhole(r io.Reader, size int64) ([]byte, error) {
	plain := make([]byte, size)
	if _, err := io.ReadFull(r, plain); err != nil {
		if errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, io.EOF) {
			return nil, ErrChunkLength
		}
		return nil, fmt.Errorf("store file: %w", err)
	}
	var extra [1]byte
	if k, _ := io.ReadFull(r, extra[:]); k != 0 {
		return nil, ErrChunkLength
	}
	return plain, nil
}
