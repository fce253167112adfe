// Package capture keeps patients' own 3D captures and their connections to
// doctors.
//
// A patient uploads a capture (STL, OBJ, PLY or GLB, validated by media's
// parsers) to their own account, not to a case. A doctor sees it only while
// the patient is connected to them: a connection is an explicit consent the
// patient records and can revoke, kept as an append-only list of events.
// While connected, the doctor may attach a capture to a case of that
// patient; attaching copies it into the case record as a media file, which
// from then on follows the case's rules, so revoking the connection takes
// away the captures but not what became part of a case.
//
// Every path decides with access.Decide (kind capture), appends the decision
// to the audit log (denials too) and decrypts only with the receipt.
package capture

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/custodia-health/custodia/internal/ids"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/blob"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/keys"
	"github.com/custodia-health/custodia/internal/media"
)

// Service is the captures domain. Files is the case files' store that an
// attached capture is copied into; CaseFacts loads the policy facts of a
// case for p (it returns media.ErrNotFound for no such case).
type Service struct {
	// PatientWorkspace names the workspace that holds a patient's record.
	// A patient's principal carries no workspace (they are not a member),
	// so their captures' key and their doctors' practice are found here.
	PatientWorkspace func(ctx context.Context, patientID string) (string, error)
	DB               *db.DB
	Keys             *keys.Keyring
	Blobs            blob.Store
	Audit            audit.Appender
	Limits           media.Limits
	Files            *media.Store
	CaseFacts        func(ctx context.Context, p *access.Principal, caseID string) (patientID string, r access.Resource, err error)
	// Clinician finds a clinician's user id by the email they sign in
	// with, in workspace ws.
	Clinician func(ctx context.Context, email, ws string) (string, bool)
	Now       func() time.Time
}

// Capture is a capture's row: ids, kind and size, nothing about the
// patient, so it can be loaded to decide access before anything is
// decrypted.
type Capture struct {
	ID          string     `json:"id"`
	WorkspaceID string     `json:"-"`
	PatientID   string     `json:"-"`
	UploaderID  string     `json:"-"`
	Kind        media.Kind `json:"kind"`
	Size        int64      `json:"size"`
	CreatedAt   time.Time  `json:"created_at"`
	// Cases lists the cases the capture was attached to.
	Cases  []string `json:"attached_cases"`
	object string
}

// Errors the HTTP edge maps to status codes. Their messages are safe to show.
var (
	ErrNotFound         = errors.New("capture: no such capture or connection")
	ErrForbidden        = errors.New("capture: not permitted")
	ErrAuditUnavailable = errors.New("capture: the audit log cannot be written, so the request was refused")
	ErrNoReceipt        = errors.New("capture: an audit receipt for the capture's patient is required to read it")
	ErrNoClinician      = errors.New("capture: no doctor signs in with that email in this practice")
	ErrWrongPatient     = errors.New("capture: the case belongs to another patient")
	ErrNotPatient       = errors.New("capture: only a patient has captures and connections")
	ErrAttachBusy       = errors.New("capture: the capture is being attached to this case right now")
)

func (s *Service) now() time.Time {
	if s.Now != nil {
		return s.Now()
	}
	return time.Now()
}

func newID() string { return ids.New() }

// authorize decides a on r for p, appends the decision to the audit log
// under auditAction and returns a receipt only for an allowed, durably
// recorded access.
func (s *Service) authorize(ctx context.Context, p *access.Principal, a access.Action, r access.Resource, auditAction, resType, resID string) (audit.Receipt, error) {
	d := access.Decide(p, a, r)
	return s.record(ctx, p, d, auditAction, r, resType, resID)
}

// event is the audit entry for decision d: ids and codes only.
func (s *Service) event(p *access.Principal, d access.Decision, auditAction string, r access.Resource, resType, resID string) audit.Event {
	return audit.Decided(p, d, "treatment", auditAction, r, resType, resID)
}

func (s *Service) record(ctx context.Context, p *access.Principal, d access.Decision, auditAction string, r access.Resource, resType, resID string) (audit.Receipt, error) {
	rec, err := s.Audit.Append(ctx, s.event(p, d, auditAction, r, resType, resID))
	if err != nil {
		return audit.Receipt{}, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	if !d.Allow {
		if d.Visible {
			return audit.Receipt{}, ErrForbidden
		}
		return audit.Receipt{}, ErrNotFound
	}
	return rec, nil
}

// sealedInfo is what captures.info holds, sealed with the patient's key.
type sealedInfo struct {
	Info media.Info `json:"info"`
}

// objectSource reads an encrypted blob as a media.Source, decrypting as it
// goes, so validation never puts plaintext on disk.
type objectSource struct {
	ctx    context.Context
	blobs  blob.Store
	object string
	key    *keys.Key
	size   int64
}

func (o objectSource) Open() (io.ReadCloser, error) {
	return blob.OpenEncrypted(o.ctx, o.blobs, o.object, o.key)
}

func (o objectSource) Size() int64 { return o.size }

// Upload stores body as a capture of p's own, if p is a patient allowed to
// upload captures (a token needs scope media:upload). The bytes are
// encrypted with the patient's key as they are written, then parsed as a
// mesh; a file that is not one is refused (errors.Is(err,
// media.ErrRejected)) and leaves no row and no object.
func (s *Service) Upload(ctx context.Context, p *access.Principal, body io.Reader) (Capture, media.Info, error) {
	p, err := s.self(ctx, p)
	if err != nil {
		return Capture{}, media.Info{}, err
	}
	id := newID()
	r := access.Resource{Kind: access.KindCapture, WorkspaceID: p.WorkspaceID, PatientID: p.PatientID}
	rec, err := s.authorize(ctx, p, access.CaptureUpload, r, string(access.CaptureUpload), "capture", id)
	if err != nil {
		return Capture{}, media.Info{}, err
	}
	if !rec.Covers(p.PatientID) {
		return Capture{}, media.Info{}, ErrNoReceipt
	}
	key, err := s.Keys.PatientKey(ctx, p.WorkspaceID, p.PatientID)
	if err != nil {
		return Capture{}, media.Info{}, fmt.Errorf("upload capture: %w", err)
	}
	lim := s.Limits
	if lim.MaxFileSize <= 0 {
		lim.MaxFileSize = media.DefaultLimits.MaxFileSize
	}
	c := Capture{ID: id, WorkspaceID: p.WorkspaceID, PatientID: p.PatientID, UploaderID: p.UserID, CreatedAt: s.now(),
		object: "capture/" + id}
	n, err := blob.PutEncrypted(ctx, s.Blobs, c.object, key, io.LimitReader(body, lim.MaxFileSize+1))
	cleanup := func() { _ = s.Blobs.Delete(context.WithoutCancel(ctx), c.object) }
	if err != nil {
		cleanup()
		return Capture{}, media.Info{}, fmt.Errorf("store capture: %w", err)
	}
	if n > lim.MaxFileSize {
		cleanup()
		return Capture{}, media.Info{}, &media.Rejection{Reason: fmt.Sprintf("file is larger than the limit of %d bytes", lim.MaxFileSize)}
	}
	info, err := media.Validate(objectSource{ctx: ctx, blobs: s.Blobs, object: c.object, key: key, size: n}, media.SlotMesh, lim)
	if err == nil && (!info.Kind.IsMesh() || info.Kind == media.KindGLTF) {
		// A .gltf names its buffers by URI; a capture must be one file.
		err = &media.Rejection{Kind: info.Kind, Reason: "a capture must be one STL, OBJ, PLY or GLB file"}
	}
	if err != nil {
		cleanup()
		return Capture{}, media.Info{}, err
	}
	c.Kind, c.Size = info.Kind, n
	js, err := json.Marshal(sealedInfo{Info: info})
	if err != nil {
		cleanup()
		return Capture{}, media.Info{}, fmt.Errorf("encode capture info: %w", err)
	}
	sealed, err := keys.SealField(key, js, keys.FieldAD{Table: "captures", RowID: c.ID, Column: "info"})
	if err != nil {
		cleanup()
		return Capture{}, media.Info{}, fmt.Errorf("seal capture info: %w", err)
	}
	_, err = s.DB.Write.ExecContext(ctx, `INSERT INTO captures (id, workspace_id, patient_id, uploader_id, kind, size, object, info, created_at)
		VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		c.ID, c.WorkspaceID, c.PatientID, c.UploaderID, string(c.Kind), c.Size, c.object, sealed, c.CreatedAt.UnixMicro())
	if err != nil {
		cleanup()
		return Capture{}, media.Info{}, fmt.Errorf("save capture: %w", err)
	}
	return c, info, nil
}

func (s *Service) load(ctx context.Context, id string) (Capture, error) {
	var c Capture
	var kind string
	var created int64
	err := s.DB.Read.QueryRowContext(ctx, `SELECT id, workspace_id, patient_id, uploader_id, kind, size, object, created_at FROM captures WHERE id = $1`, id).
		Scan(&c.ID, &c.WorkspaceID, &c.PatientID, &c.UploaderID, &kind, &c.Size, &c.object, &created)
	if errors.Is(err, sql.ErrNoRows) {
		return Capture{}, ErrNotFound
	}
	if err != nil {
		return Capture{}, fmt.Errorf("load capture: %w", err)
	}
	c.Kind, c.CreatedAt = media.Kind(kind), time.UnixMicro(created)
	return c, nil
}

// resource is the policy's view of patientID's captures for p.
func (s *Service) resource(ctx context.Context, p *access.Principal, workspaceID, patientID string) (access.Resource, error) {
	connected, err := s.Connected(ctx, patientID, p.UserID)
	if err != nil {
		return access.Resource{}, err
	}
	return access.Resource{Kind: access.KindCapture, WorkspaceID: workspaceID, PatientID: patientID, Connected: connected}, nil
}

// List returns patientID's captures, newest first, if p may view them: the
// patient themself, or a clinician the patient is connected to. The listing
// is audited as one view of the patient's captures.
func (s *Service) List(ctx context.Context, p *access.Principal, patientID string) ([]Capture, error) {
	ws, err := s.patientWorkspace(ctx, p, patientID)
	if err != nil {
		return nil, err
	}
	r, err := s.resource(ctx, p, ws, patientID)
	if err != nil {
		return nil, err
	}
	if _, err := s.authorize(ctx, p, access.CaptureView, r, "capture.list", "patient", patientID); err != nil {
		return nil, err
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, workspace_id, patient_id, uploader_id, kind, size, object, created_at
		FROM captures WHERE patient_id = $1 AND workspace_id = $2 ORDER BY created_at DESC, id`, patientID, ws)
	if err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	var out []Capture
	for rows.Next() {
		var c Capture
		var kind string
		var created int64
		if err := rows.Scan(&c.ID, &c.WorkspaceID, &c.PatientID, &c.UploaderID, &kind, &c.Size, &c.object, &created); err != nil {
			rows.Close()
			return nil, fmt.Errorf("list captures: %w", err)
		}
		c.Kind, c.CreatedAt = media.Kind(kind), time.UnixMicro(created)
		out = append(out, c)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list captures: %w", err)
	}
	if len(out) == 0 {
		return out, nil
	}
	cases, err := s.attachedCases(ctx, patientID, ws)
	if err != nil {
		return nil, err
	}
	for i := range out {
		out[i].Cases = cases[out[i].ID]
	}
	return out, nil
}

// attachedCases maps each of the patient's captures to the cases it was
// attached to, oldest attachment first, in one query.
func (s *Service) attachedCases(ctx context.Context, patientID, ws string) (map[string][]string, error) {
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT a.capture_id, a.case_id FROM capture_attachments a JOIN captures c ON c.id = a.capture_id
		WHERE c.patient_id = $1 AND c.workspace_id = $2 AND a.file_id <> '' ORDER BY a.attached_at, a.case_id`, patientID, ws)
	if err != nil {
		return nil, fmt.Errorf("list attachments: %w", err)
	}
	defer rows.Close()
	out := map[string][]string{}
	for rows.Next() {
		var capture, caseID string
		if err := rows.Scan(&capture, &caseID); err != nil {
			return nil, fmt.Errorf("list attachments: %w", err)
		}
		out[capture] = append(out[capture], caseID)
	}
	return out, rows.Err()
}

// patientWorkspace is the workspace a patient's captures live in: the
// patient's own for a patient, else the one recorded with their captures or
// connections, else p's (where the policy then finds no connection).
func (s *Service) patientWorkspace(ctx context.Context, p *access.Principal, patientID string) (string, error) {
	if p.PatientID != "" && p.PatientID == patientID {
		self, err := s.self(ctx, p)
		if err != nil {
			return "", err
		}
		return self.WorkspaceID, nil
	}
	var ws string
	err := s.DB.Read.QueryRowContext(ctx, `SELECT workspace_id FROM capture_connection_events WHERE patient_id = $1 AND clinician_id = $2
		ORDER BY seq DESC LIMIT 1`, patientID, p.UserID).Scan(&ws)
	if errors.Is(err, sql.ErrNoRows) {
		return p.WorkspaceID, nil
	}
	if err != nil {
		return "", fmt.Errorf("load connection: %w", err)
	}
	return ws, nil
}

// Viewed is a capture opened for viewing, with the receipt that lets its
// bytes be read.
type Viewed struct {
	Capture Capture
	receipt audit.Receipt
}

// Open decides and audits a view of capture id by p.
func (s *Service) Open(ctx context.Context, p *access.Principal, id string) (Viewed, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return Viewed{}, err
	}
	r, err := s.resource(ctx, p, c.WorkspaceID, c.PatientID)
	if err != nil {
		return Viewed{}, err
	}
	rec, err := s.authorize(ctx, p, access.CaptureView, r, string(access.CaptureView), "capture", c.ID)
	if err != nil {
		return Viewed{}, err
	}
	return Viewed{Capture: c, receipt: rec}, nil
}

func (s *Service) source(ctx context.Context, rec audit.Receipt, c Capture) (media.Source, error) {
	if !rec.Covers(c.PatientID) {
		return nil, ErrNoReceipt
	}
	key, err := s.Keys.PatientKey(ctx, c.WorkspaceID, c.PatientID)
	if err != nil {
		return nil, fmt.Errorf("patient key: %w", err)
	}
	return objectSource{ctx: ctx, blobs: s.Blobs, object: c.object, key: key, size: c.Size}, nil
}

// Bytes opens the capture's mesh bytes for the 3D viewer.
func (s *Service) Bytes(ctx context.Context, v Viewed) (io.ReadCloser, error) {
	src, err := s.source(ctx, v.receipt, v.Capture)
	if err != nil {
		return nil, err
	}
	return src.Open()
}

// Info returns what parsing found about the capture.
func (s *Service) Info(ctx context.Context, v Viewed) (media.Info, error) {
	if !v.receipt.Covers(v.Capture.PatientID) {
		return media.Info{}, ErrNoReceipt
	}
	key, err := s.Keys.PatientKey(ctx, v.Capture.WorkspaceID, v.Capture.PatientID)
	if err != nil {
		return media.Info{}, fmt.Errorf("patient key: %w", err)
	}
	var sealed []byte
	if err := s.DB.Read.QueryRowContext(ctx, `SELECT info FROM captures WHERE id = $1`, v.Capture.ID).Scan(&sealed); err != nil {
		return media.Info{}, fmt.Errorf("load capture info: %w", err)
	}
	js, err := keys.OpenField(key, sealed, keys.FieldAD{Table: "captures", RowID: v.Capture.ID, Column: "info"})
	if err != nil {
		return media.Info{}, fmt.Errorf("open capture info: %w", err)
	}
	var si sealedInfo
	if err := json.Unmarshal(js, &si); err != nil {
		return media.Info{}, fmt.Errorf("decode capture info: %w", err)
	}
	return si.Info, nil
}

// Attach copies capture id into case caseID as a case file, if p may view
// the capture (a connected clinician) and upload files to the case, and
// the case is the same patient's. The copy keeps the patient as its
// uploader: the original belongs to them. It returns the case file.
func (s *Service) Attach(ctx context.Context, p *access.Principal, id, caseID string) (media.File, error) {
	c, err := s.load(ctx, id)
	if err != nil {
		return media.File{}, err
	}
	r, err := s.resource(ctx, p, c.WorkspaceID, c.PatientID)
	if err != nil {
		return media.File{}, err
	}
	d := access.Decide(p, access.CaptureView, r)
	var casePatient string
	if d.Allow {
		var cr access.Resource
		casePatient, cr, err = s.CaseFacts(ctx, p, caseID)
		if errors.Is(err, media.ErrNotFound) {
			return media.File{}, ErrNotFound
		}
		if err != nil {
			return media.File{}, err
		}
		cr.Kind, cr.PatientID = access.KindFile, casePatient
		d = access.Decide(p, access.FileUpload, cr)
		if d.Allow && (casePatient != c.PatientID || cr.WorkspaceID != c.WorkspaceID) {
			// Refused like any other attempt: the audit log shows it.
			refused := access.Decision{Reason: "case_of_another_patient", Visible: true}
			if _, err := s.record(ctx, p, refused, "capture.attach", r, "capture", c.ID); errors.Is(err, ErrAuditUnavailable) {
				return media.File{}, err
			}
			return media.File{}, ErrWrongPatient
		}
	}
	rec, err := s.record(ctx, p, d, "capture.attach", r, "capture", c.ID)
	if err != nil {
		return media.File{}, err
	}
	f, err := s.attach(ctx, rec, p, c, caseID)
	if err != nil {
		// The allow entry is written: say the attach did not complete.
		s.failed(ctx, p, d, "capture.attach", r, "capture", c.ID)
		return media.File{}, err
	}
	return f, nil
}

// attach copies the capture into the case once. The (capture, case) row is
// claimed before the copy, so of two attaches at once only one copies and
// the other finds the copy or ErrAttachBusy. A failed copy releases it.
func (s *Service) attach(ctx context.Context, rec audit.Receipt, p *access.Principal, c Capture, caseID string) (media.File, error) {
	// Attached before: the case already holds the copy (case files are
	// append-only), so it is not copied again.
	f, claimed, err := s.claim(ctx, c.ID, caseID, p.UserID)
	if err != nil || !claimed {
		return f, err
	}
	release := func() {
		_, _ = s.DB.Write.ExecContext(context.WithoutCancel(ctx), `DELETE FROM capture_attachments
			WHERE capture_id = $1 AND case_id = $2 AND file_id = ''`, c.ID, caseID)
	}
	src, err := s.source(ctx, rec, c)
	if err != nil {
		release()
		return media.File{}, err
	}
	f, err = s.copyToCase(ctx, rec, c, caseID, src)
	if err != nil {
		release()
		return media.File{}, fmt.Errorf("attach capture: %w", err)
	}
	_, err = s.DB.Write.ExecContext(ctx, `UPDATE capture_attachments SET file_id = $1, attached_at = $2
		WHERE capture_id = $3 AND case_id = $4 AND file_id = ''`, f.ID, s.now().UnixMicro(), c.ID, caseID)
	if err != nil {
		return f, fmt.Errorf("record attachment: %w", err)
	}
	return f, nil
}

// staleClaim is how long an unfinished attach keeps its claim: a server that
// stopped mid-copy must not block the capture's attachment for ever.
const staleClaim = 15 * time.Minute

// claim reserves the capture's row on the case (file_id "" while the copy
// runs). It returns claimed when this call must copy, or the case file of an
// earlier attachment that still exists; ErrAttachBusy when another attach
// holds the claim.
func (s *Service) claim(ctx context.Context, captureID, caseID, userID string) (media.File, bool, error) {
	now := s.now().UnixMicro()
	res, err := s.DB.Write.ExecContext(ctx, `INSERT INTO capture_attachments (capture_id, case_id, file_id, attached_by, attached_at)
		VALUES ($1, $2, '', $3, $4) ON CONFLICT (capture_id, case_id) DO NOTHING`, captureID, caseID, userID, now)
	if err != nil {
		return media.File{}, false, fmt.Errorf("claim attachment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n == 1 {
		return media.File{}, err == nil, err
	}
	var fileID string
	var at int64
	err = s.DB.Write.QueryRowContext(ctx, `SELECT file_id, attached_at FROM capture_attachments WHERE capture_id = $1 AND case_id = $2`,
		captureID, caseID).Scan(&fileID, &at)
	if errors.Is(err, sql.ErrNoRows) {
		return media.File{}, false, ErrAttachBusy // released by a failed copy just now
	}
	if err != nil {
		return media.File{}, false, fmt.Errorf("claim attachment: %w", err)
	}
	if fileID == "" && time.UnixMicro(at).Add(staleClaim).After(s.now()) {
		return media.File{}, false, ErrAttachBusy
	}
	if fileID != "" {
		f, err := s.Files.File(ctx, fileID)
		if err == nil {
			return f, false, nil
		}
		if !errors.Is(err, media.ErrNotFound) {
			return media.File{}, false, fmt.Errorf("attach capture: %w", err)
		}
	}
	// The copy is gone, or its attach stopped long ago: take the row over,
	// only if nobody else did since it was read.
	res, err = s.DB.Write.ExecContext(ctx, `UPDATE capture_attachments SET file_id = '', attached_by = $1, attached_at = $2
		WHERE capture_id = $3 AND case_id = $4 AND file_id = $5 AND attached_at = $6`, userID, now, captureID, caseID, fileID, at)
	if err != nil {
		return media.File{}, false, fmt.Errorf("claim attachment: %w", err)
	}
	if n, err := res.RowsAffected(); err != nil || n != 1 {
		if err == nil {
			err = ErrAttachBusy
		}
		return media.File{}, false, err
	}
	return media.File{}, true, nil
}

// failed records that an allowed action did not complete, so the log does
// not claim a change that never happened. Best effort: the caller is
// already returning an error.
func (s *Service) failed(ctx context.Context, p *access.Principal, d access.Decision, auditAction string, r access.Resource, resType, resID string) {
	ev := s.event(p, d, auditAction, r, resType, resID)
	ev.Outcome = "failure"
	_, _ = s.Audit.Append(context.WithoutCancel(ctx), ev)
}

// copyToCase copies the capture's bytes into the case through media's own
// store, so the case file is validated, encrypted and indexed exactly like
// any other: in one write (PutSmall) when it is small enough, as one chunk
// of an upload session otherwise.
func (s *Service) copyToCase(ctx context.Context, rec audit.Receipt, c Capture, caseID string, src media.Source) (media.File, error) {
	n := media.NewUpload{WorkspaceID: c.WorkspaceID, PatientID: c.PatientID, CaseID: caseID,
		UploaderID: c.UploaderID, Size: c.Size, Slot: media.SlotMesh}
	rc, err := src.Open()
	if err != nil {
		return media.File{}, err
	}
	defer rc.Close()
	if c.Size <= media.MaxSmallUpload {
		// The entry is already durable: the receipt is at hand.
		f, _, err := s.Files.PutSmall(ctx, func() (audit.Receipt, error) { return rec, nil }, n, rc)
		return f, err
	}
	u, err := s.Files.CreateUpload(ctx, n)
	if err != nil {
		return media.File{}, err
	}
	if _, err := s.Files.PutChunk(ctx, u.ID, c.UploaderID, media.ContentRange{Start: 0, End: c.Size - 1, Total: c.Size}, rc); err != nil {
		_ = s.Files.Abort(context.WithoutCancel(ctx), u.ID, c.UploaderID)
		return media.File{}, err
	}
	f, _, err := s.Files.Complete(ctx, rec, u.ID, c.UploaderID)
	return f, err
}

// self returns p with the workspace of the patient's record filled in, for
// a patient (or representative) acting on their own captures.
func (s *Service) self(ctx context.Context, p *access.Principal) (*access.Principal, error) {
	if p == nil || p.PatientID == "" || p.WorkspaceID != "" || s.PatientWorkspace == nil {
		return p, nil
	}
	ws, err := s.PatientWorkspace(ctx, p.PatientID)
	if err != nil {
		return nil, fmt.Errorf("find the patient's workspace: %w", err)
	}
	q := *p
	q.WorkspaceID = ws
	return &q, nil
}
