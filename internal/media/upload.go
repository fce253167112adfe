package media

import (
	"bytes"
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
)

// Store keeps uploads and the files they become. Who may upload to which
// case, and who may view, is decided by the caller (the case service) with
// the access policy; Store enforces what it can know on its own: an upload
// session belongs to the user who opened it, and nothing is decrypted
// without an audit receipt for the file's patient.
//
// An upload is restartable: CreateUpload opens a session for a declared
// size; PutChunk appends the chunk that starts where the received bytes end,
// encrypting it as written into its own object (a stream AEAD cannot be
// appended to after Close, so each chunk is a sealed stream of its own);
// after a lost connection, the client asks Upload for the received offset
// and goes on from there. Complete validates the whole file by parsing it
// and then commits the file row; a refused or failed completion leaves no
// file row and no file object.
type Store struct {
	DB     *db.DB
	Keys   *keys.Keyring
	Blobs  blob.Store
	Limits Limits
	// UploadTTL is how long an unfinished upload is kept (default 24 h).
	UploadTTL time.Duration
	Now       func() time.Time

	staging    staging        // chunks written without fsync, per upload
	commits    committer      // file rows committed together (groupcommit.go)
	statements fileStatements // their prepared statements
	gather     gatherer       // small files gathered into one commit (gather.go)
}

// NewUpload is what a client declares when it opens an upload. The ids come
// from the caller, which has checked that the uploader may add files to the
// case.
type NewUpload struct {
	WorkspaceID string
	PatientID   string
	CaseID      string
	UploaderID  string
	Size        int64
	Slot        Slot
}

// Upload is an upload session's state.
type Upload struct {
	ID          string    `json:"id"`
	PatientID   string    `json:"-"`
	CaseID      string    `json:"-"`
	WorkspaceID string    `json:"-"`
	UploaderID  string    `json:"-"`
	Slot        Slot      `json:"slot"`
	Size        int64     `json:"size"`
	Received    int64     `json:"received"`
	ExpiresAt   time.Time `json:"expires_at"`
}

// File is a stored file's row: ids, kind and size, nothing about the
// patient, so it can be loaded to decide access before anything is
// decrypted.
type File struct {
	ID          string
	WorkspaceID string
	PatientID   string
	CaseID      string
	UploaderID  string
	Kind        Kind
	Size        int64
	CreatedAt   time.Time
	uploadID    string
	viewObject  string
	thumbObject string
}

// Errors of the upload flow. Their messages are safe to show.
var (
	ErrNotFound       = errors.New("media: no such upload or file")
	ErrNotUploader    = errors.New("media: only the user who opened an upload may send to it")
	ErrRangeMismatch  = errors.New("media: the chunk does not start where the received bytes end")
	ErrChunkLength    = errors.New("media: the chunk's length does not match its Content-Range")
	ErrIncomplete     = errors.New("media: the upload has not received all its bytes")
	ErrSize           = errors.New("media: the declared size is not allowed")
	ErrNoReceipt      = errors.New("media: an audit receipt for the file's patient is required to read it")
	ErrNotPhotograph  = errors.New("media: only photographs have a separate viewing copy")
	errPartsCorrupted = errors.New("media: the stored parts of a file do not line up")
)

func (s *Store) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func newID() string { return ids.New() }

// CreateUpload opens an upload session.
func (s *Store) CreateUpload(ctx context.Context, n NewUpload) (Upload, error) {
	lim := s.Limits.orDefault()
	if n.Size <= 0 || n.Size > lim.MaxFileSize {
		return Upload{}, ErrSize
	}
	if n.WorkspaceID == "" || n.PatientID == "" || n.CaseID == "" || n.UploaderID == "" {
		return Upload{}, errors.New("create upload: workspace, patient, case and uploader ids are required")
	}
	switch n.Slot {
	case SlotAny, SlotMesh, SlotDICOM, SlotImage:
	default:
		return Upload{}, errors.New("create upload: unknown slot")
	}
	ttl := s.UploadTTL
	if ttl <= 0 {
		ttl = 24 * time.Hour
	}
	now := s.now()
	u := Upload{ID: newID(), WorkspaceID: n.WorkspaceID, PatientID: n.PatientID, CaseID: n.CaseID, UploaderID: n.UploaderID,
		Slot: n.Slot, Size: n.Size, ExpiresAt: now.Add(ttl)}
	_, err := s.DB.Write.ExecContext(ctx, `INSERT INTO media_uploads
		(id, workspace_id, patient_id, case_id, uploader_id, slot, expected_size, received, created_at, expires_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, 0, $8, $9)`,
		u.ID, u.WorkspaceID, u.PatientID, u.CaseID, u.UploaderID, string(u.Slot), u.Size, now.UnixMicro(), u.ExpiresAt.UnixMicro())
	if err != nil {
		return Upload{}, fmt.Errorf("create upload: %w", err)
	}
	return u, nil
}

// Upload returns an upload session's state, for a client resuming it.
func (s *Store) Upload(ctx context.Context, id, uploaderID string) (Upload, error) {
	var u Upload
	var slot string
	var exp int64
	err := s.DB.Read.QueryRowContext(ctx, `SELECT id, workspace_id, patient_id, case_id, uploader_id, slot, expected_size, received, expires_at
		FROM media_uploads WHERE id = $1`, id).
		Scan(&u.ID, &u.WorkspaceID, &u.PatientID, &u.CaseID, &u.UploaderID, &slot, &u.Size, &u.Received, &exp)
	if errors.Is(err, sql.ErrNoRows) || (err == nil && s.now().UnixMicro() > exp) {
		return Upload{}, ErrNotFound
	}
	if err != nil {
		return Upload{}, fmt.Errorf("load upload: %w", err)
	}
	if u.UploaderID != uploaderID {
		// Another user's session is as good as absent to them.
		return Upload{}, ErrNotFound
	}
	u.Slot, u.ExpiresAt = Slot(slot), time.UnixMicro(exp)
	return u, nil
}

// partName names a chunk's object: the upload id and offset are in it, and
// readers check them, so rows cannot be edited to reorder parts.
func partName(uploadID string, offset int64) string {
	var r [6]byte
	_, _ = rand.Read(r[:])
	return fmt.Sprintf("media/u/%s/%016x-%s", uploadID, offset, hex.EncodeToString(r[:]))
}

func checkPartName(name, uploadID string, offset int64) bool {
	want := fmt.Sprintf("media/u/%s/%016x-", uploadID, offset)
	return strings.HasPrefix(name, want)
}

// PutChunk stores the bytes of rng read from body, encrypted with the
// patient's key, and returns the new state. The chunk must start exactly at
// the received offset (ErrRangeMismatch otherwise: the client asks Upload
// and resumes), and body must hold exactly rng.Len() bytes.
func (s *Store) PutChunk(ctx context.Context, id, uploaderID string, rng ContentRange, body io.Reader) (Upload, error) {
	u, err := s.Upload(ctx, id, uploaderID)
	if err != nil {
		return Upload{}, err
	}
	if (rng.Total >= 0 && rng.Total != u.Size) || rng.End >= u.Size {
		return u, ErrChunkLength
	}
	if rng.Start != u.Received {
		return u, ErrRangeMismatch
	}
	key, err := s.Keys.PatientKey(ctx, u.WorkspaceID, u.PatientID)
	if err != nil {
		return u, fmt.Errorf("put chunk: %w", err)
	}
	name := partName(u.ID, rng.Start)
	var in io.Reader = io.LimitReader(body, rng.Len()+1)
	lv := s.liveFor(u, rng.Start)
	if lv != nil {
		in = &liveTee{r: in, src: lv.src, left: rng.Len() + 1}
	}
	n, err := s.putPart(ctx, u, name, key, in)
	if err != nil {
		if lv != nil {
			s.breakLive(u.ID, lv)
		}
		return u, fmt.Errorf("put chunk: %w", err)
	}
	cleanup := func() {
		if lv != nil {
			s.breakLive(u.ID, lv)
		}
		_ = s.Blobs.Delete(context.WithoutCancel(ctx), name)
	}
	if n != rng.Len() {
		cleanup()
		return u, ErrChunkLength
	}
	err = s.DB.Tx(ctx, func(tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `UPDATE media_uploads SET received = received + $1 WHERE id = $2 AND received = $3`, n, u.ID, rng.Start)
		if err != nil {
			return err
		}
		if k, _ := res.RowsAffected(); k != 1 {
			return ErrRangeMismatch // another request got there first
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO media_upload_parts (upload_id, offset_bytes, length, object) VALUES ($1, $2, $3, $4)`,
			u.ID, rng.Start, n, name)
		return err
	})
	if err != nil {
		cleanup()
		if errors.Is(err, ErrRangeMismatch) {
			return u, ErrRangeMismatch
		}
		return u, fmt.Errorf("put chunk: %w", err)
	}
	u.Received += n
	return u, nil
}

type part struct {
	offset, length int64
	object         string
}

func (s *Store) parts(ctx context.Context, q, id string) ([]part, error) {
	rows, err := s.DB.Read.QueryContext(ctx, q, id)
	if err != nil {
		return nil, fmt.Errorf("load parts: %w", err)
	}
	defer rows.Close()
	var ps []part
	for rows.Next() {
		var p part
		if err := rows.Scan(&p.offset, &p.length, &p.object); err != nil {
			return nil, fmt.Errorf("load parts: %w", err)
		}
		ps = append(ps, p)
	}
	return ps, rows.Err()
}

// partsSource reads a file's parts in order as one stream, each decrypted
// and authenticated as it is reached.
type partsSource struct {
	ctx   context.Context
	blobs blob.Store
	key   *keys.Key
	parts []part
	size  int64
	up    string
}

func newPartsSource(ctx context.Context, bs blob.Store, key *keys.Key, uploadID string, ps []part) (*partsSource, error) {
	var off int64
	for _, p := range ps {
		if p.offset != off || !checkPartName(p.object, uploadID, p.offset) {
			return nil, errPartsCorrupted
		}
		off += p.length
	}
	return &partsSource{ctx: ctx, blobs: bs, key: key, parts: ps, size: off, up: uploadID}, nil
}

func (p *partsSource) Size() int64 { return p.size }

func (p *partsSource) Open() (io.ReadCloser, error) { return &partsReader{src: p}, nil }

type partsReader struct {
	src *partsSource
	i   int
	cur io.ReadCloser
	got int64 // bytes read from cur
}

func (r *partsReader) Read(b []byte) (int, error) {
	for {
		if r.cur == nil {
			if r.i >= len(r.src.parts) {
				return 0, io.EOF
			}
			rc, err := blob.OpenEncrypted(r.src.ctx, r.src.blobs, r.src.parts[r.i].object, r.src.key)
			if err != nil {
				return 0, fmt.Errorf("open part: %w", err)
			}
			r.cur, r.got = rc, 0
		}
		n, err := r.cur.Read(b)
		r.got += int64(n)
		if err == io.EOF {
			r.cur.Close()
			r.cur = nil
			if r.got != r.src.parts[r.i].length {
				return n, errPartsCorrupted
			}
			r.i++
			if n > 0 {
				return n, nil
			}
			continue
		}
		return n, err
	}
}

// WriteTo writes the parts' plaintext to w as each segment authenticates,
// straight from the decrypting reader's buffer (io.Copy to an HTTP response
// prefers it): no copy into a caller's buffer, and writes of whole segments.
func (r *partsReader) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for {
		if r.cur == nil {
			if r.i >= len(r.src.parts) {
				return total, nil
			}
			rc, err := blob.OpenEncrypted(r.src.ctx, r.src.blobs, r.src.parts[r.i].object, r.src.key)
			if err != nil {
				return total, fmt.Errorf("open part: %w", err)
			}
			r.cur, r.got = rc, 0
		}
		n, err := io.Copy(w, r.cur)
		r.got += n
		total += n
		if err != nil {
			return total, err
		}
		r.cur.Close()
		r.cur = nil
		if r.got != r.src.parts[r.i].length {
			return total, errPartsCorrupted
		}
		r.i++
	}
}

func (r *partsReader) Close() error {
	if r.cur != nil {
		return r.cur.Close()
	}
	return nil
}

// sealedInfo is what media_files.info holds, sealed with the patient's key.
type sealedInfo struct {
	Info Info `json:"info"`
}

// Complete validates a fully received upload by parsing it (with the slot
// the session was opened for) and commits it as a file: the file row, its
// parts, a stripped viewing copy for photographs and a thumbnail, in one
// transaction. rec must be the audit receipt of the "file.upload" entry for
// the upload's patient, because validation decrypts the upload. A
// rejected file (errors.Is(err, ErrRejected)) is discarded with its upload;
// any failure leaves no file row and no file object.
func (s *Store) Complete(ctx context.Context, rec audit.Receipt, id, uploaderID string) (File, Info, error) {
	return s.CompleteNamed(ctx, rec, id, uploaderID, "")
}

// CompleteNamed is Complete keeping name, the uploader's name for the file
// (cleaned by CleanName), in the file's sealed info.
func (s *Store) CompleteNamed(ctx context.Context, rec audit.Receipt, id, uploaderID, name string) (File, Info, error) {
	u, err := s.Upload(ctx, id, uploaderID)
	if err != nil {
		return File{}, Info{}, err
	}
	if !rec.Covers(u.PatientID) {
		return File{}, Info{}, ErrNoReceipt
	}
	if u.Received != u.Size {
		return File{}, Info{}, ErrIncomplete
	}
	ps, err := s.parts(ctx, `SELECT offset_bytes, length, object FROM media_upload_parts WHERE upload_id = $1 ORDER BY offset_bytes`, u.ID)
	if err != nil {
		return File{}, Info{}, err
	}
	key, err := s.Keys.PatientKey(ctx, u.WorkspaceID, u.PatientID)
	if err != nil {
		return File{}, Info{}, fmt.Errorf("complete upload: %w", err)
	}
	src, err := newPartsSource(ctx, s.Blobs, key, u.ID, ps)
	if err != nil {
		return File{}, Info{}, err
	}
	if src.Size() != u.Size {
		return File{}, Info{}, errPartsCorrupted
	}
	// The chunks' fsyncs run while the file is validated, unless it was
	// validated live as it arrived.
	settled := make(chan error, 1)
	go func() { settled <- s.settleParts(ctx, u.ID, key, ps) }()
	info, live, err := s.liveResult(u.ID)
	if live {
		liveAnswers.Add(1)
	} else {
		info, err = Validate(src, u.Slot, s.Limits)
	}
	serr := <-settled
	if err != nil {
		if errors.Is(err, ErrRejected) {
			s.discard(context.WithoutCancel(ctx), u.ID, ps)
		}
		return File{}, Info{}, err
	}
	if serr != nil {
		return File{}, Info{}, serr
	}
	info.Name = CleanName(name)
	f, err := s.commitFile(ctx, u, key, src, info, ps, true)
	if err != nil {
		return File{}, Info{}, err
	}
	s.staging.forget(u.ID)
	return f, info, nil
}

// commitFile stores the renditions of a validated file (a stripped viewing
// copy for photographs; thumbnails are rendered on first request) and
// commits its row and parts in one transaction, deleting the upload
// session's rows if fromSession. Any failure deletes the renditions it made.
func (s *Store) commitFile(ctx context.Context, u Upload, key *keys.Key, src Source, info Info, ps []part, fromSession bool) (File, error) {
	return s.commitFileHeld(ctx, u, key, src, info, ps, nil, fromSession)
}

// commitFileHeld is commitFile that also inserts held, the file's object
// kept in the database (held.go), when it is not nil.
func (s *Store) commitFileHeld(ctx context.Context, u Upload, key *keys.Key, src Source, info Info, ps []part, held *heldObject, fromSession bool) (File, error) {
	pf, err := s.prepareFile(ctx, u, key, src, info, ps, held, fromSession)
	if err != nil {
		return File{}, err
	}
	if err := s.commitFileTx(ctx, pf.insert); err != nil {
		pf.cleanup()
		return File{}, fmt.Errorf("commit file: %w", err)
	}
	return pf.f, nil
}

// preparedFile is a validated file ready to be committed: its renditions
// are stored, its row is built, and insert runs its statements in a
// transaction. If the commit fails, cleanup deletes the renditions.
type preparedFile struct {
	s           *Store
	f           File
	sealed      []byte
	ps          []part
	held        *heldObject
	fromSession bool
	made        []string
	ctx         context.Context
}

func (pf *preparedFile) cleanup() {
	for _, o := range pf.made {
		_ = pf.s.Blobs.Delete(context.WithoutCancel(pf.ctx), o)
	}
}

// prepareFile stores the renditions of a validated file (a stripped
// viewing copy for photographs; thumbnails of other files than DICOM) and
// builds its row. Any failure deletes the renditions it made.
func (s *Store) prepareFile(ctx context.Context, u Upload, key *keys.Key, src Source, info Info, ps []part, held *heldObject, fromSession bool) (*preparedFile, error) {
	f := File{ID: newID(), WorkspaceID: u.WorkspaceID, PatientID: u.PatientID, CaseID: u.CaseID, UploaderID: u.UploaderID,
		Kind: info.Kind, Size: info.Size, CreatedAt: s.now(), uploadID: u.ID}
	pf := &preparedFile{s: s, ps: ps, held: held, fromSession: fromSession, ctx: ctx}
	if info.Kind.IsImage() {
		f.viewObject = "media/f/" + f.ID + "/view"
		pr, pw := io.Pipe()
		go func() {
			rc, _ := src.Open()
			err := StripMetadata(info.Kind, pw, rc)
			rc.Close()
			pw.CloseWithError(err)
		}()
		_, err := blob.PutEncrypted(ctx, s.Blobs, f.viewObject, key, pr)
		pr.CloseWithError(io.ErrClosedPipe)
		if err != nil {
			return nil, fmt.Errorf("store viewing copy: %w", err)
		}
		pf.made = append(pf.made, f.viewObject)
	}
	switch {
	case info.Kind == KindDICOM:
		// A DICOM thumbnail costs a frame's decode and windowing; most
		// instances of a series are never shown as one, so it is rendered
		// on its first request (Thumbnail) and kept. The name is set now,
		// for viewable files only, so lists know which files have one.
		if info.DICOM != nil && info.DICOM.Viewable {
			f.thumbObject = "media/f/" + f.ID + "/thumb"
		}
	default:
		if thumb, err := Thumbnail(info.Kind, src, info.DICOM); err == nil {
			f.thumbObject = "media/f/" + f.ID + "/thumb"
			if _, err := blob.PutEncrypted(ctx, s.Blobs, f.thumbObject, key, bytes.NewReader(thumb)); err != nil {
				pf.cleanup()
				return nil, fmt.Errorf("store thumbnail: %w", err)
			}
			pf.made = append(pf.made, f.thumbObject)
		}
	}
	pf.f = f
	js, err := json.Marshal(sealedInfo{Info: info})
	if err != nil {
		pf.cleanup()
		return nil, fmt.Errorf("encode file info: %w", err)
	}
	pf.sealed, err = keys.SealField(key, js, keys.FieldAD{Table: "media_files", RowID: f.ID, Column: "info"})
	if err != nil {
		pf.cleanup()
		return nil, fmt.Errorf("seal file info: %w", err)
	}
	return pf, nil
}

// insert runs the file's statements in tx: its row, its parts or held
// object, and the end of its upload session if it came from one.
func (pf *preparedFile) insert(ctx context.Context, tx *sql.Tx) error {
	s, f := pf.s, pf.f
	err := s.exec(ctx, tx, insertFileSQL, f.ID, f.WorkspaceID, f.PatientID, f.CaseID, f.UploaderID, f.uploadID, string(f.Kind), f.Size,
		nullable(f.viewObject), nullable(f.thumbObject), pf.sealed, f.CreatedAt.UnixMicro())
	if err != nil {
		return err
	}
	for _, p := range pf.ps {
		if err := s.exec(ctx, tx, insertFilePartSQL, f.ID, p.offset, p.length, p.object); err != nil {
			return err
		}
	}
	if pf.held != nil {
		if err := s.exec(ctx, tx, insertHeldSQL, f.ID, pf.held.name, pf.held.data); err != nil {
			return err
		}
	}
	if !pf.fromSession {
		return nil
	}
	if _, err := tx.ExecContext(ctx, `DELETE FROM media_upload_parts WHERE upload_id = $1`, f.uploadID); err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM media_uploads WHERE id = $1`, f.uploadID)
	return err
}

// MaxSmallUpload is the largest file PutSmall takes; larger files go
// through a restartable upload session.
const MaxSmallUpload = 64 << 20

// PutSmall stores a whole file sent in one request: the file of n.Size
// bytes read from r is encrypted with the patient's key into one object
// while it is validated as it goes by, and the file row is committed in one
// transaction, with no upload session. rec must be the audit receipt of the
// "file.upload" entry for n.PatientID, which receipt returns: PutSmall
// encrypts and writes the incoming bytes while the entry is being made
// durable, and waits for it before it decrypts anything or commits; a
// failed or foreign receipt discards the object. A rejected or short file,
// or any failure, leaves no row and no object (the object is written
// without fsync and made durable before the row is committed; after a
// crash before the commit it is an orphan no row names, which
// SweepOrphans deletes). A file of at most MaxHeldObject bytes is kept in
// the database instead (held.go) and leaves no orphan.
func (s *Store) PutSmall(ctx context.Context, receipt func() (audit.Receipt, error), n NewUpload, r io.Reader) (File, Info, error) {
	lim := s.Limits.orDefault()
	if n.Size <= 0 || n.Size > lim.MaxFileSize || n.Size > MaxSmallUpload {
		return File{}, Info{}, ErrSize
	}
	if n.WorkspaceID == "" || n.PatientID == "" || n.CaseID == "" || n.UploaderID == "" {
		return File{}, Info{}, errors.New("store file: workspace, patient, case and uploader ids are required")
	}
	switch n.Slot {
	case SlotAny, SlotMesh, SlotDICOM, SlotImage:
	default:
		return File{}, Info{}, errors.New("store file: unknown slot")
	}
	key, err := s.Keys.PatientKey(ctx, n.WorkspaceID, n.PatientID)
	if err != nil {
		return File{}, Info{}, fmt.Errorf("store file: %w", err)
	}
	u := Upload{ID: newID(), WorkspaceID: n.WorkspaceID, PatientID: n.PatientID, CaseID: n.CaseID, UploaderID: n.UploaderID,
		Slot: n.Slot, Size: n.Size}
	if n.Size <= MaxHeldObject {
		return s.putHeld(ctx, receipt, u, key, r)
	}
	name := partName(u.ID, 0)
	ss, staged := s.Blobs.(stagingStore)
	lv := startLive(n.Size, n.Slot, s.Limits)
	in := io.TeeReader(io.LimitReader(r, n.Size+1), teeWriter{lv.src})
	var got int64
	if staged {
		got, err = blob.PutEncrypted(ctx, noSyncPuts{ss}, name, key, in)
	} else {
		got, err = blob.PutEncrypted(ctx, s.Blobs, name, key, in)
	}
	if err != nil {
		lv.src.stop(errLiveBroken)
		return File{}, Info{}, fmt.Errorf("store file: %w", err)
	}
	drop := func() { _ = s.Blobs.Delete(context.WithoutCancel(ctx), name) }
	if got != n.Size {
		lv.src.stop(errLiveBroken)
		drop()
		return File{}, Info{}, ErrChunkLength
	}
	ps := []part{{offset: 0, length: got, object: name}}
	src, err := newPartsSource(ctx, s.Blobs, key, u.ID, ps)
	if err != nil {
		lv.src.stop(errLiveBroken)
		drop()
		return File{}, Info{}, err
	}
	// The object's fsync runs while the audit entry is made durable and
	// the validation finishes.
	settled := make(chan error, 1)
	go func() {
		if !staged {
			settled <- nil
			return
		}
		// Files arriving together share one filesystem sync where the
		// store offers it (blob.Local.SyncShared).
		if sh, ok := ss.(interface {
			SyncShared(ctx context.Context, name string) error
		}); ok {
			settled <- sh.SyncShared(ctx, name)
			return
		}
		settled <- ss.Sync(ctx, name)
	}()
	rec, err := receipt()
	if err == nil && !rec.Covers(n.PatientID) {
		err = ErrNoReceipt
	}
	if err != nil {
		lv.src.stop(errLiveBroken)
		<-lv.done
		<-settled
		drop()
		return File{}, Info{}, err
	}
	info, ok, err := lv.result()
	if ok {
		liveAnswers.Add(1)
	} else {
		info, err = Validate(src, n.Slot, s.Limits)
	}
	serr := <-settled
	if err == nil {
		err = serr
	}
	if err != nil {
		drop()
		return File{}, Info{}, err
	}
	f, err := s.commitFile(ctx, u, key, src, info, ps, false)
	if err != nil {
		drop()
		return File{}, Info{}, err
	}
	return f, info, nil
}

func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// discard deletes an upload's rows, then its objects.
func (s *Store) discard(ctx context.Context, uploadID string, ps []part) {
	s.staging.forget(uploadID)
	err := s.DB.Tx(ctx, func(tx *sql.Tx) error {
		if _, err := tx.ExecContext(ctx, `DELETE FROM media_upload_parts WHERE upload_id = $1`, uploadID); err != nil {
			return err
		}
		_, err := tx.ExecContext(ctx, `DELETE FROM media_uploads WHERE id = $1`, uploadID)
		return err
	})
	if err != nil {
		return
	}
	for _, p := range ps {
		_ = s.Blobs.Delete(ctx, p.object)
	}
}

// Abort discards an unfinished upload and its chunks.
func (s *Store) Abort(ctx context.Context, id, uploaderID string) error {
	u, err := s.Upload(ctx, id, uploaderID)
	if err != nil {
		return err
	}
	ps, err := s.parts(ctx, `SELECT offset_bytes, length, object FROM media_upload_parts WHERE upload_id = $1 ORDER BY offset_bytes`, u.ID)
	if err != nil {
		return err
	}
	s.discard(ctx, u.ID, ps)
	return nil
}

// PurgeExpired discards uploads whose time ran out and returns how many.
func (s *Store) PurgeExpired(ctx context.Context) (int, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id FROM media_uploads WHERE expires_at < $1`, s.now().UnixMicro())
	if err != nil {
		return 0, fmt.Errorf("list expired uploads: %w", err)
	}
	var ids []string
	for rows.Next() {
		var id string
		if err := rows.Scan(&id); err != nil {
			rows.Close()
			return 0, fmt.Errorf("list expired uploads: %w", err)
		}
		ids = append(ids, id)
	}
	rows.Close()
	for _, id := range ids {
		ps, err := s.parts(ctx, `SELECT offset_bytes, length, object FROM media_upload_parts WHERE upload_id = $1 ORDER BY offset_bytes`, id)
		if err != nil {
			return 0, err
		}
		s.discard(ctx, id, ps)
	}
	return len(ids), nil
}

// File loads a file's row (no PHI), for the caller's access decision.
func (s *Store) File(ctx context.Context, id string) (File, error) {
	f, err := scanFile(s.DB.Read.QueryRowContext(ctx, `SELECT id, workspace_id, patient_id, case_id, uploader_id, upload_id, kind, size, view_object, thumb_object, created_at
		FROM media_files WHERE id = $1`, id))
	if errors.Is(err, sql.ErrNoRows) {
		return File{}, ErrNotFound
	}
	if err != nil {
		return File{}, fmt.Errorf("load file: %w", err)
	}
	return f, nil
}

func (s *Store) key(ctx context.Context, rec audit.Receipt, f File) (*keys.Key, error) {
	if !rec.Covers(f.PatientID) {
		return nil, ErrNoReceipt
	}
	k, err := s.Keys.PatientKey(ctx, f.WorkspaceID, f.PatientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	return k, nil
}

// Source returns the original bytes of f as a Source (for download, and for
// the viewer's mesh bytes). rec must cover f's patient.
func (s *Store) Source(ctx context.Context, rec audit.Receipt, f File) (Source, error) {
	k, err := s.key(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	ps, err := s.parts(ctx, `SELECT offset_bytes, length, object FROM media_file_parts WHERE file_id = $1 ORDER BY offset_bytes`, f.ID)
	if err != nil {
		return nil, err
	}
	if len(ps) == 0 {
		// A small file sent in one request keeps its object in the
		// database (held.go).
		if src, ok, err := s.heldSource(ctx, k, f); ok || err != nil {
			return src, err
		}
	}
	src, err := newPartsSource(ctx, s.Blobs, k, f.uploadID, ps)
	if err != nil {
		return nil, err
	}
	if src.Size() != f.Size {
		return nil, errPartsCorrupted
	}
	return src, nil
}

// Info returns f's unsealed info (kind, counts, DICOM index).
func (s *Store) Info(ctx context.Context, rec audit.Receipt, f File) (Info, error) {
	k, err := s.key(ctx, rec, f)
	if err != nil {
		return Info{}, err
	}
	var sealed []byte
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT info FROM media_files WHERE id = $1`, f.ID).Scan(&sealed); err != nil {
		return Info{}, fmt.Errorf("load file info: %w", err)
	}
	return openInfo(k, f.ID, sealed)
}

// OpenViewCopy opens the stripped viewing copy of a photograph.
func (s *Store) OpenViewCopy(ctx context.Context, rec audit.Receipt, f File) (io.ReadCloser, error) {
	if f.viewObject == "" {
		return nil, ErrNotPhotograph
	}
	k, err := s.key(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	return blob.OpenEncrypted(ctx, s.Blobs, f.viewObject, k)
}

// Thumbnail returns f's PNG thumbnail, or ErrNoThumbnail.
func (s *Store) Thumbnail(ctx context.Context, rec audit.Receipt, f File) ([]byte, error) {
	if f.thumbObject == "" {
		return nil, ErrNoThumbnail
	}
	k, err := s.key(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	rc, err := blob.OpenEncrypted(ctx, s.Blobs, f.thumbObject, k)
	if errors.Is(err, blob.ErrNotFound) && f.Kind == KindDICOM {
		return s.renderThumbnail(ctx, rec, f, k)
	}
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(io.LimitReader(rc, 4<<20))
}

// renderThumbnail renders a DICOM file's thumbnail on its first request
// and keeps it, encrypted, under the name its row holds. Two first requests
// at once both render; the later put replaces the earlier, same, bytes.
func (s *Store) renderThumbnail(ctx context.Context, rec audit.Receipt, f File, k *keys.Key) ([]byte, error) {
	info, err := s.Info(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	src, err := s.Source(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	thumb, err := Thumbnail(f.Kind, src, info.DICOM)
	if err != nil {
		return nil, err
	}
	if _, err := blob.PutEncrypted(ctx, s.Blobs, f.thumbObject, k, bytes.NewReader(thumb)); err != nil {
		return nil, fmt.Errorf("store thumbnail: %w", err)
	}
	return thumb, nil
}

// RenderFrame renders one DICOM frame of f as PNG bytes.
func (s *Store) RenderFrame(ctx context.Context, rec audit.Receipt, f File, frame int, win *Window) ([]byte, error) {
	if f.Kind != KindDICOM {
		return nil, &NotViewableError{Reason: "only DICOM files have frames"}
	}
	info, err := s.Info(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	if info.DICOM == nil {
		return nil, &NotViewableError{Reason: "this DICOM file has no index"}
	}
	src, err := s.Source(ctx, rec, f)
	if err != nil {
		return nil, err
	}
	img, err := RenderFrame(src, info.DICOM, frame, win)
	if err != nil {
		return nil, err
	}
	var buf bytes.Buffer
	if err := EncodePNG(&buf, img); err != nil {
		return nil, fmt.Errorf("encode frame: %w", err)
	}
	return buf.Bytes(), nil
}

// DownloadName is a generic file name for a download: the file id and the
// kind's extension, never anything from the file or the patient.
func DownloadName(f File) string {
	ext := map[Kind]string{KindDICOM: "dcm", KindSTL: "stl", KindOBJ: "obj", KindMTL: "mtl", KindPLY: "ply",
		KindGLB: "glb", KindGLTF: "gltf", KindJPEG: "jpg", KindPNG: "png"}[f.Kind]
	if ext == "" {
		ext = "bin"
	}
	return "file-" + f.ID[:min(12, len(f.ID))] + "." + ext
}

// CaseFiles loads the rows of a case's files (no PHI), newest first. The
// caller has decided and audited the listing.
func (s *Store) CaseFiles(ctx context.Context, caseID string) ([]File, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, workspace_id, patient_id, case_id, uploader_id, upload_id, kind, size, view_object, thumb_object, created_at
		FROM media_files WHERE case_id = $1 ORDER BY created_at DESC, id`, caseID)
	if err != nil {
		return nil, fmt.Errorf("list case files: %w", err)
	}
	defer rows.Close()
	var out []File
	for rows.Next() {
		f, err := scanFile(rows)
		if err != nil {
			return nil, fmt.Errorf("list case files: %w", err)
		}
		out = append(out, f)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list case files: %w", err)
	}
	return out, nil
}

func scanFile(row interface{ Scan(...any) error }) (File, error) {
	var f File
	if err := row.Scan(scanFileInto(&f)...); err != nil {
		return File{}, err
	}
	return f, nil
}

// scanFileInto is the Scan destinations of a file row's columns, in the
// order the queries select them, then extra; f is complete once Scan
// returns.
func scanFileInto(f *File, extra ...any) []any {
	return append([]any{&f.ID, &f.WorkspaceID, &f.PatientID, &f.CaseID, &f.UploaderID, &f.uploadID,
		scanner(func(v any) error { return scanString(v, (*string)(&f.Kind)) }), &f.Size,
		scanner(func(v any) error { return scanString(v, &f.viewObject) }),
		scanner(func(v any) error { return scanString(v, &f.thumbObject) }),
		scanner(func(v any) error {
			var n sql.NullInt64
			if err := n.Scan(v); err != nil {
				return err
			}
			f.CreatedAt = time.UnixMicro(n.Int64)
			return nil
		})}, extra...)
}

// scanner adapts a function to sql.Scanner.
type scanner func(v any) error

func (s scanner) Scan(v any) error { return s(v) }

// scanString scans a nullable text column; NULL is "".
func scanString(v any, dst *string) error {
	var ns sql.NullString
	if err := ns.Scan(v); err != nil {
		return err
	}
	*dst = ns.String
	return nil
}

// HasThumbnail says whether the file has a thumbnail to show in a list.
func (f File) HasThumbnail() bool { return f.thumbObject != "" }
