package media

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
)

// Service puts the access policy and the audit log in front of Store: every
// upload, view and download is decided by access.Decide, the decision is
// appended to the audit log (a denial too), and only an allowed, durably
// audited request gets a receipt that Store will decrypt with. The case
// service supplies the relationship facts through CaseFacts; media knows a
// case and a patient only as ids.
type Service struct {
	Store *Store
	Audit audit.Appender
	// CaseFacts loads what the policy needs about a case for p: workspace,
	// patient, care team, collaborator, shared-with-patient. It returns
	// ErrNotFound for a case that does not exist.
	CaseFacts func(ctx context.Context, p *access.Principal, caseID string) (patientID string, r access.Resource, err error)

	grants grants // open series views (series.go)
}

// Errors the HTTP edge maps to status codes.
var (
	ErrForbidden        = errors.New("media: not permitted")
	ErrAuditUnavailable = errors.New("media: the audit log cannot be written, so the request was refused")
)

// authorize decides and audits; it returns a receipt only for an allowed,
// durably recorded access.
func (s *Service) authorize(ctx context.Context, p *access.Principal, a access.Action, r access.Resource, resType, resID string) (audit.Receipt, error) {
	return s.authorizeAs(ctx, p, a, string(a), r, resType, resID)
}

// authorizeAs decides a and records the entry under auditAction, for
// requests (a list) that the policy decides as another action.
func (s *Service) authorizeAs(ctx context.Context, p *access.Principal, a access.Action, auditAction string, r access.Resource, resType, resID string) (audit.Receipt, error) {
	d := access.Decide(p, a, r)
	rec, err := s.Audit.Append(ctx, auditEvent(p, d, auditAction, r, resType, resID))
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

// auditEvent is the entry recording decision d on a request of p.
func auditEvent(p *access.Principal, d access.Decision, auditAction string, r access.Resource, resType, resID string) audit.Event {
	return audit.Decided(p, d, "treatment", auditAction, r, resType, resID)
}

// appenderWith is an audit log that can commit statements together with
// an entry (audit.Log does), if it writes to the same database.
type appenderWith interface {
	AppendWith(ctx context.Context, e audit.Event, fn func(ctx context.Context, tx *sql.Tx) error) (audit.Receipt, error, error)
	Shares(d *db.DB) bool
}

func (s *Service) fileResource(ctx context.Context, p *access.Principal, f File) (access.Resource, error) {
	_, r, err := s.CaseFacts(ctx, p, f.CaseID)
	if err != nil {
		return access.Resource{}, err
	}
	r.Kind, r.WorkspaceID, r.PatientID = access.KindFile, f.WorkspaceID, f.PatientID
	r.Uploader = p.UserID != "" && p.UserID == f.UploaderID
	return r, nil
}

// CreateUpload opens an upload to a case, if p may upload files to it.
func (s *Service) CreateUpload(ctx context.Context, p *access.Principal, caseID string, size int64, slot Slot) (Upload, error) {
	patientID, r, err := s.CaseFacts(ctx, p, caseID)
	if err != nil {
		return Upload{}, err
	}
	r.Kind, r.PatientID = access.KindFile, patientID
	if _, err := s.authorize(ctx, p, access.FileUpload, r, "case", caseID); err != nil {
		return Upload{}, err
	}
	return s.Store.CreateUpload(ctx, NewUpload{WorkspaceID: r.WorkspaceID, PatientID: patientID, CaseID: caseID, UploaderID: p.UserID, Size: size, Slot: slot})
}

// UploadStatus returns p's upload session.
func (s *Service) UploadStatus(ctx context.Context, p *access.Principal, id string) (Upload, error) {
	return s.Store.Upload(ctx, id, p.UserID)
}

// PutChunk appends a chunk to p's upload session.
func (s *Service) PutChunk(ctx context.Context, p *access.Principal, id string, rng ContentRange, body io.Reader) (Upload, error) {
	return s.Store.PutChunk(ctx, id, p.UserID, rng, body)
}

// CompleteUpload decides and audits the upload again (the case may have
// changed since it began), then validates and commits it.
func (s *Service) CompleteUpload(ctx context.Context, p *access.Principal, id string) (File, Info, error) {
	return s.CompleteUploadNamed(ctx, p, id, "")
}

// CompleteUploadNamed is CompleteUpload keeping name, the uploader's name
// for the file, sealed in its info (a case's list shows it).
func (s *Service) CompleteUploadNamed(ctx context.Context, p *access.Principal, id, name string) (File, Info, error) {
	u, err := s.Store.Upload(ctx, id, p.UserID)
	if err != nil {
		return File{}, Info{}, err
	}
	_, r, err := s.CaseFacts(ctx, p, u.CaseID)
	if err != nil {
		return File{}, Info{}, err
	}
	r.Kind, r.PatientID, r.WorkspaceID = access.KindFile, u.PatientID, u.WorkspaceID
	rec, err := s.authorize(ctx, p, access.FileUpload, r, "upload", u.ID)
	if err != nil {
		return File{}, Info{}, err
	}
	return s.Store.CompleteNamed(ctx, rec, id, p.UserID, name)
}

// UploadSmall stores a whole file of size bytes, read from r, to a case in
// one call, if p may upload files to it: decided and audited once
// (file.upload on the case), then encrypted, validated and committed by
// Store.PutSmall. size must be at most MaxSmallUpload. An allowed upload's
// audit entry is appended while the bytes are encrypted and written;
// nothing is committed, decrypted or acknowledged before it is durable.
// With an audit log that offers AppendWith (audit.Log), a file of at most
// MaxHeldObject bytes is instead committed in the entry's own transaction
// (Store.PutSmallAudited), so neither is durable without the other.
func (s *Service) UploadSmall(ctx context.Context, p *access.Principal, caseID string, slot Slot, r io.Reader, size int64) (File, Info, error) {
	patientID, res, err := s.CaseFacts(ctx, p, caseID)
	if err != nil {
		return File{}, Info{}, err
	}
	res.Kind, res.PatientID = access.KindFile, patientID
	d := access.Decide(p, access.FileUpload, res)
	if !d.Allow {
		_, err := s.authorize(ctx, p, access.FileUpload, res, "case", caseID)
		return File{}, Info{}, err
	}
	n := NewUpload{WorkspaceID: res.WorkspaceID, PatientID: patientID, CaseID: caseID, UploaderID: p.UserID, Size: size, Slot: slot}
	if aw, ok := s.Audit.(appenderWith); ok && aw.Shares(s.Store.DB) && size > 0 && size <= MaxHeldObject {
		// A small file is committed in the same transaction as its
		// audit entry: one commit instead of two in a row.
		ev := auditEvent(p, d, string(access.FileUpload), res, "case", caseID)
		commit := func(fn func(ctx context.Context, tx *sql.Tx) error) (audit.Receipt, error, error) {
			rec, fnErr, err := aw.AppendWith(ctx, ev, fn)
			if err != nil {
				return audit.Receipt{}, nil, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
			}
			return rec, fnErr, nil
		}
		return s.Store.PutSmallAudited(ctx, commit, n, r)
	}
	type answer struct {
		rec audit.Receipt
		err error
	}
	audited := make(chan answer, 1)
	go func() {
		rec, err := s.authorize(ctx, p, access.FileUpload, res, "case", caseID)
		audited <- answer{rec, err}
	}()
	var once sync.Once
	var got answer
	receipt := func() (audit.Receipt, error) {
		once.Do(func() { got = <-audited })
		return got.rec, got.err
	}
	f, info, err := s.Store.PutSmall(ctx, receipt, n, r)
	// Nothing is answered, not even a refusal, before the entry is
	// durable; if it could not be written, that is the answer.
	if _, aerr := receipt(); aerr != nil {
		return File{}, Info{}, aerr
	}
	return f, info, err
}

// Viewed is a file opened for viewing: the row and the receipt that lets
// the caller read what the view needs, once.
type Viewed struct {
	File         File
	action       access.Action
	receipt      audit.Receipt
	downloadable bool
}

// Downloadable says whether the policy would let the viewer download the
// original (a page shows the button only then; the download is decided and
// audited again).
func (v Viewed) Downloadable() bool { return v.downloadable }

// OpenFile decides and audits action on a file and returns it with its
// receipt; the View* and Download methods below use it.
func (s *Service) OpenFile(ctx context.Context, p *access.Principal, fileID string, a access.Action) (Viewed, error) {
	f, err := s.Store.File(ctx, fileID)
	if err != nil {
		return Viewed{}, err
	}
	r, err := s.fileResource(ctx, p, f)
	if err != nil {
		return Viewed{}, err
	}
	rec, err := s.authorize(ctx, p, a, r, "file", f.ID)
	if err != nil {
		return Viewed{}, err
	}
	return Viewed{File: f, action: a, receipt: rec, downloadable: access.Decide(p, access.FileDownload, r).Allow}, nil
}

// Info returns the file's unsealed info.
func (s *Service) Info(ctx context.Context, v Viewed) (Info, error) {
	return s.Store.Info(ctx, v.receipt, v.File)
}

// ModelBytes opens a mesh's bytes for the 3D viewer.
func (s *Service) ModelBytes(ctx context.Context, v Viewed) (io.ReadCloser, error) {
	if !v.File.Kind.IsMesh() && v.File.Kind != KindMTL {
		return nil, &NotViewableError{Reason: "this file is not a 3D model"}
	}
	src, err := s.Store.Source(ctx, v.receipt, v.File)
	if err != nil {
		return nil, err
	}
	return src.Open()
}

// ViewCopy opens a photograph's stripped viewing copy.
func (s *Service) ViewCopy(ctx context.Context, v Viewed) (io.ReadCloser, error) {
	return s.Store.OpenViewCopy(ctx, v.receipt, v.File)
}

// Frame renders a DICOM frame to PNG.
func (s *Service) Frame(ctx context.Context, v Viewed, frame int, win *Window) ([]byte, error) {
	return s.Store.RenderFrame(ctx, v.receipt, v.File, frame, win)
}

// Thumbnail returns the file's thumbnail PNG.
func (s *Service) Thumbnail(ctx context.Context, v Viewed) ([]byte, error) {
	return s.Store.Thumbnail(ctx, v.receipt, v.File)
}

// Original opens the original bytes; v must come from OpenFile with
// access.FileDownload, which the policy allows to the uploader only.
func (s *Service) Original(ctx context.Context, v Viewed) (io.ReadCloser, error) {
	if v.action != access.FileDownload {
		return nil, ErrForbidden
	}
	src, err := s.Store.Source(ctx, v.receipt, v.File)
	if err != nil {
		return nil, err
	}
	return src.Open()
}

// CaseFile is a file of a case as a list shows it: the row (ids, kind,
// size, date) and whether p may download the original.
type CaseFile struct {
	File
	Downloadable bool
	// DICOM is a DICOM file's index (study, series, instance, dates,
	// descriptions), so a list can group files by study and series; nil
	// for other kinds.
	DICOM *DICOMInfo
	// Name is the uploader's name for the file, or "".
	Name string
}

// CaseFiles lists the files of a case that p may view: a case they may not
// see is ErrNotFound or ErrForbidden, and a patient sees the files of a case
// only once it is shared with them. The list is one audit entry
// ("file.list", with the case's patient), and that entry's receipt unseals
// the files' infos: the DICOM index, which the list shows to group them,
// and the uploader's file names.
func (s *Service) CaseFiles(ctx context.Context, p *access.Principal, caseID string) ([]CaseFile, error) {
	patientID, r, err := s.CaseFacts(ctx, p, caseID)
	if err != nil {
		return nil, err
	}
	r.Kind, r.PatientID = access.KindFile, patientID
	rec, err := s.authorizeAs(ctx, p, access.FileView, "file.list", r, "case", caseID)
	if err != nil {
		return nil, err
	}
	fs, err := s.Store.CaseFiles(ctx, caseID)
	if err != nil {
		return nil, err
	}
	ifs, infos, err := s.Store.caseInfos(ctx, rec, caseID, patientID, "")
	if err != nil {
		return nil, err
	}
	index := make(map[string]Info, len(ifs))
	for i, f := range ifs {
		index[f.ID] = infos[i]
	}
	out := make([]CaseFile, len(fs))
	for i, f := range fs {
		fr := r
		fr.WorkspaceID = f.WorkspaceID
		fr.Uploader = p.UserID != "" && p.UserID == f.UploaderID
		out[i] = CaseFile{File: f, Downloadable: access.Decide(p, access.FileDownload, fr).Allow, DICOM: index[f.ID].DICOM, Name: index[f.ID].Name}
	}
	return out, nil
}
