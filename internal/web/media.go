package web

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/media"
)

// MediaService is what the media handlers need. *media.Service implements
// it: it decides every request with the access policy and audits it before
// anything is decrypted. The lead wires it with the case service's facts.
type MediaService interface {
	CreateUpload(ctx context.Context, p *access.Principal, caseID string, size int64, slot media.Slot) (media.Upload, error)
	UploadStatus(ctx context.Context, p *access.Principal, id string) (media.Upload, error)
	PutChunk(ctx context.Context, p *access.Principal, id string, rng media.ContentRange, body io.Reader) (media.Upload, error)
	CompleteUploadNamed(ctx context.Context, p *access.Principal, id, name string) (media.File, media.Info, error)
	UploadSmall(ctx context.Context, p *access.Principal, caseID string, slot media.Slot, r io.Reader, size int64) (media.File, media.Info, error)
	OpenFile(ctx context.Context, p *access.Principal, fileID string, a access.Action) (media.Viewed, error)
	Info(ctx context.Context, v media.Viewed) (media.Info, error)
	ModelBytes(ctx context.Context, v media.Viewed) (io.ReadCloser, error)
	ViewCopy(ctx context.Context, v media.Viewed) (io.ReadCloser, error)
	Frame(ctx context.Context, v media.Viewed, frame int, win *media.Window) ([]byte, error)
	Thumbnail(ctx context.Context, v media.Viewed) ([]byte, error)
	Original(ctx context.Context, v media.Viewed) (io.ReadCloser, error)
	CaseFiles(ctx context.Context, p *access.Principal, caseID string) ([]media.CaseFile, error)
	ViewSeries(ctx context.Context, p *access.Principal, fileID string) (media.SeriesView, error)
	SeriesImagePixels(ctx context.Context, p *access.Principal, grant string, n int) (media.SeriesPixels, error)
}

var _ MediaService = (*media.Service)(nil)

func init() { routeSets = append(routeSets, (*Server).routesMedia) }

func (s *Server) routesMedia(mux Mux) {
	s.phi(mux, "POST /api/v1/uploads", auditedByService, s.mediaHandler(s.createUpload))
	s.phi(mux, "POST /api/v1/cases/{id}/files", auditedByService, s.mediaHandler(s.uploadFile))
	s.phi(mux, "GET /api/v1/cases/{id}/files", auditedByService, s.mediaHandler(s.caseFiles))
	s.phi(mux, "GET /api/v1/uploads/{id}", auditedByService, s.mediaHandler(s.uploadStatus))
	s.phi(mux, "PUT /api/v1/uploads/{id}", auditedByService, s.mediaHandler(s.putChunk))
	s.phi(mux, "POST /api/v1/uploads/{id}/complete", auditedByService, s.mediaHandler(s.completeUpload))
	s.phi(mux, "GET /api/v1/files/{id}/meta", auditedByService, s.mediaHandler(s.fileMeta))
	s.phi(mux, "GET /api/v1/files/{id}/view", auditedByService, s.mediaHandler(s.fileView))
	s.phi(mux, "GET /api/v1/files/{id}/render", auditedByService, s.mediaHandler(s.fileRender))
	s.phi(mux, "GET /api/v1/files/{id}/thumbnail", auditedByService, s.mediaHandler(s.fileThumbnail))
	s.phi(mux, "GET /api/v1/files/{id}/download", auditedByService, s.mediaHandler(s.fileDownload))
	s.phi(mux, "GET /api/v1/files/{id}/series", auditedByService, s.mediaHandler(s.fileSeries))
	s.phi(mux, "GET /api/v1/series/{grant}/images/{n}", auditedByService, s.mediaHandler(s.seriesImage))
}

type mediaFunc func(w http.ResponseWriter, r *http.Request, p *access.Principal)

// mediaHandler demands a principal and a configured media service.
func (s *Server) mediaHandler(h mediaFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if s.media == nil {
			WriteProblem(w, r, http.StatusNotFound, "Media is not configured on this server.")
			return
		}
		p, ok := access.PrincipalFrom(r.Context())
		if !ok || p == nil {
			WriteProblem(w, r, http.StatusUnauthorized, "Sign in to use this endpoint.")
			return
		}
		h(w, r, p)
	}
}

// writeMediaError maps media errors to responses. Every message is fixed
// text or a parser's reason, which never quotes file content.
func writeMediaError(w http.ResponseWriter, r *http.Request, err error) {
	var rej *media.Rejection
	var nv *media.NotViewableError
	switch {
	case errors.Is(err, media.ErrGrantExpired):
		WriteProblem(w, r, http.StatusNotFound, "This series view has expired or belongs to another sign-in; open the series again.")
	case errors.Is(err, media.ErrAuditUnavailable):
		WriteProblem(w, r, http.StatusServiceUnavailable, "The audit log cannot be written right now, so the request was refused. Try again shortly.")
	case errors.Is(err, media.ErrNotFound):
		WriteProblem(w, r, http.StatusNotFound, "No such upload or file.")
	case errors.Is(err, media.ErrForbidden):
		WriteProblem(w, r, http.StatusForbidden, "You may not do this with this file.")
	case errors.As(err, &rej):
		WriteValidation(w, r, "The file was refused.", map[string]string{"file": rej.Reason})
	case errors.As(err, &nv):
		WriteProblem(w, r, http.StatusUnprocessableEntity, nv.Reason)
	case errors.Is(err, media.ErrNoFrame):
		WriteValidation(w, r, "No such frame.", map[string]string{"frame": "is outside the file's frames"})
	case errors.Is(err, media.ErrNoThumbnail), errors.Is(err, media.ErrNotPhotograph):
		WriteProblem(w, r, http.StatusNotFound, "This file has no such rendition.")
	case errors.Is(err, media.ErrSize):
		WriteValidation(w, r, "The upload was refused.", map[string]string{"size": "must be between 1 byte and the file size limit"})
	case errors.Is(err, media.ErrChunkLength), errors.Is(err, media.ErrContentRange):
		WriteValidation(w, r, "The chunk was refused.", map[string]string{"Content-Range": err.Error()})
	case errors.Is(err, media.ErrIncomplete):
		WriteProblem(w, r, http.StatusConflict, "The upload has not received all its bytes yet.")
	default:
		status, msg := unexpectedStatus(err)
		WriteProblem(w, r, status, msg)
	}
}

type uploadRequest struct {
	CaseID string `json:"case_id"`
	Size   int64  `json:"size"`
	Slot   string `json:"slot"`
}

func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var req uploadRequest
	if !DecodeJSON(w, r, &req) {
		return
	}
	fields := map[string]string{}
	if req.CaseID == "" {
		fields["case_id"] = "is required"
	}
	if req.Size <= 0 {
		fields["size"] = "must be a positive number of bytes"
	}
	slot := media.Slot(req.Slot)
	if req.Slot == "any" {
		slot = media.SlotAny
	}
	switch slot {
	case media.SlotAny, media.SlotMesh, media.SlotDICOM, media.SlotImage:
	default:
		fields["slot"] = "must be one of any, mesh, dicom, image"
	}
	if len(fields) > 0 {
		WriteValidation(w, r, "The upload request is invalid.", fields)
		return
	}
	u, err := s.media.CreateUpload(r.Context(), p, req.CaseID, req.Size, slot)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/uploads/"+u.ID)
	WriteJSON(w, http.StatusCreated, u)
}

// uploadFile stores a whole file sent as the raw request body in one
// request (for files up to media.MaxSmallUpload, such as the instances of
// a DICOM study): its kind is sniffed from the bytes, never taken from
// Content-Type or a name.
func (s *Server) uploadFile(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	slot := media.Slot(r.URL.Query().Get("slot"))
	if slot == "any" {
		slot = media.SlotAny
	}
	fields := map[string]string{}
	switch slot {
	case media.SlotAny, media.SlotMesh, media.SlotDICOM, media.SlotImage:
	default:
		fields["slot"] = "must be one of any, mesh, dicom, image"
	}
	switch {
	case r.ContentLength < 0:
		fields["Content-Length"] = "is required (send the file as the body, not chunked)"
	case r.ContentLength == 0 || r.ContentLength > media.MaxSmallUpload:
		fields["Content-Length"] = "must be between 1 byte and " + strconv.Itoa(media.MaxSmallUpload>>20) + " MiB; use /api/v1/uploads for larger files"
	}
	if len(fields) > 0 {
		WriteValidation(w, r, "The file was refused.", fields)
		return
	}
	f, info, err := s.media.UploadSmall(r.Context(), p, r.PathValue("id"), slot, r.Body, r.ContentLength)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	w.Header().Set("Location", "/api/v1/files/"+f.ID+"/meta")
	WriteJSON(w, http.StatusCreated, summarize(f, info))
}

func (s *Server) uploadStatus(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	u, err := s.media.UploadStatus(r.Context(), p, r.PathValue("id"))
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	releasesNoPHI(r) // the upload's size and bytes received
	WriteJSON(w, http.StatusOK, u)
}

func (s *Server) putChunk(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	rng, err := media.ParseContentRange(r.Header.Get("Content-Range"))
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	if r.ContentLength >= 0 && r.ContentLength != rng.Len() {
		writeMediaError(w, r, media.ErrChunkLength)
		return
	}
	u, err := s.media.PutChunk(r.Context(), p, r.PathValue("id"), rng, r.Body)
	if errors.Is(err, media.ErrRangeMismatch) {
		// The client resumes from "received".
		w.Header().Set("Content-Type", "application/problem+json")
		WriteJSON(w, http.StatusConflict, map[string]any{"type": "about:blank", "title": "Conflict", "status": 409,
			"detail": "The chunk does not start where the received bytes end; resume from received.", "received": u.Received})
		return
	}
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	// The uploader's own bytes went in (audited as file.upload when the
	// upload opened); the answer is the byte count.
	releasesNoPHI(r)
	WriteJSON(w, http.StatusOK, u)
}

// fileSummary is what the API says about a file: no DICOM UIDs or other
// header values, only what a viewer needs.
type fileSummary struct {
	ID          string  `json:"id"`
	Kind        string  `json:"kind"`
	Size        int64   `json:"size"`
	Vertices    int64   `json:"vertices,omitempty"`
	Faces       int64   `json:"faces,omitempty"`
	Width       int     `json:"width,omitempty"`
	Height      int     `json:"height,omitempty"`
	Frames      int     `json:"frames,omitempty"`
	Viewable    bool    `json:"viewable"`
	NotViewable string  `json:"not_viewable,omitempty"`
	WindowC     float64 `json:"window_center,omitempty"`
	WindowW     float64 `json:"window_width,omitempty"`
}

func summarize(f media.File, info media.Info) fileSummary {
	fs := fileSummary{ID: f.ID, Kind: string(f.Kind), Size: f.Size, Vertices: info.Vertices, Faces: info.Faces,
		Width: info.Width, Height: info.Height, Viewable: true}
	if d := info.DICOM; d != nil {
		fs.Frames, fs.Viewable, fs.NotViewable, fs.Width, fs.Height = d.Frames, d.Viewable, d.NotViewable, d.Columns, d.Rows
		fs.WindowC, fs.WindowW = d.WindowCenter, d.WindowWidth
	}
	return fs
}

// completeUpload validates and commits an upload. An optional JSON body
// {"name": "..."} gives the file's name as the uploader knows it; it is
// kept sealed with the file's info and shown in the case's list.
func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	var req struct {
		Name string `json:"name"`
	}
	if r.ContentLength > 0 && !DecodeJSON(w, r, &req) {
		return
	}
	f, info, err := s.media.CompleteUploadNamed(r.Context(), p, r.PathValue("id"), req.Name)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, summarize(f, info))
}

func (s *Server) fileMeta(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	v, err := s.media.OpenFile(r.Context(), p, r.PathValue("id"), access.FileView)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	info, err := s.media.Info(r.Context(), v)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, summarize(v.File, info))
}

// viewHeaders mark a response as for viewing in the page only: inline, not
// cached, and not to be sniffed into something else.
func viewHeaders(w http.ResponseWriter, contentType string) {
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Disposition", "inline")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
}

func (s *Server) fileView(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	ctx := r.Context()
	v, err := s.media.OpenFile(ctx, p, r.PathValue("id"), access.FileView)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	var rc io.ReadCloser
	switch {
	case v.File.Kind.IsImage():
		rc, err = s.media.ViewCopy(ctx, v)
	case v.File.Kind == media.KindDICOM:
		err = &media.NotViewableError{Reason: "DICOM files are viewed as rendered frames: use the render endpoint."}
	default:
		rc, err = s.media.ModelBytes(ctx, v)
	}
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	defer rc.Close()
	viewHeaders(w, v.File.Kind.ContentType())
	if !v.File.Kind.IsImage() {
		w.Header().Set("Content-Length", strconv.FormatInt(v.File.Size, 10))
	}
	_, _ = io.Copy(w, rc)
}

func (s *Server) fileRender(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	q := r.URL.Query()
	fields := map[string]string{}
	frame := 0
	if fs := q.Get("frame"); fs != "" {
		n, err := strconv.Atoi(fs)
		if err != nil || n < 0 {
			fields["frame"] = "must be a whole number from 0"
		}
		frame = n
	}
	var win *media.Window
	if q.Get("wc") != "" || q.Get("ww") != "" {
		c, err1 := strconv.ParseFloat(q.Get("wc"), 64)
		wd, err2 := strconv.ParseFloat(q.Get("ww"), 64)
		if err1 != nil || err2 != nil || wd < 1 || wd > 1e7 || c < -1e7 || c > 1e7 {
			fields["wc"] = "wc and ww must be numbers together, with ww at least 1"
		} else {
			win = &media.Window{Center: c, Width: wd}
		}
	}
	if len(fields) > 0 {
		WriteValidation(w, r, "The render request is invalid.", fields)
		return
	}
	v, err := s.media.OpenFile(r.Context(), p, r.PathValue("id"), access.FileView)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	png, err := s.media.Frame(r.Context(), v, frame, win)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	viewHeaders(w, "image/png")
	_, _ = w.Write(png)
}

func (s *Server) fileThumbnail(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	v, err := s.media.OpenFile(r.Context(), p, r.PathValue("id"), access.FileView)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	png, err := s.media.Thumbnail(r.Context(), v)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	viewHeaders(w, "image/png")
	_, _ = w.Write(png)
}

// fileDownload sends the original, untouched bytes to their uploader (the
// policy allows file.download to the uploader only) under a generic name.
func (s *Server) fileDownload(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	v, err := s.media.OpenFile(r.Context(), p, r.PathValue("id"), access.FileDownload)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	rc, err := s.media.Original(r.Context(), v)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	defer rc.Close()
	h := w.Header()
	h.Set("Content-Type", "application/octet-stream")
	h.Set("Content-Disposition", `attachment; filename="`+media.DownloadName(v.File)+`"`)
	h.Set("Content-Length", strconv.FormatInt(v.File.Size, 10))
	h.Set("Cache-Control", "no-store")
	_, _ = io.Copy(w, rc)
}

// caseFileJSON is one file in a case's list: ids, the uploader's name for
// it, kind, size and dates, and the links the caller may follow.
type caseFileJSON struct {
	ID         string    `json:"id"`
	Name       string    `json:"name,omitempty"` // the uploader's name for the file
	Kind       string    `json:"kind"`
	Size       int64     `json:"size"`
	UploaderID string    `json:"uploader_id"`
	CreatedAt  time.Time `json:"created_at"`
	View       string    `json:"view"`
	Download   string    `json:"download,omitempty"`
}

// caseFiles lists a case's files (one audited file.list entry).
func (s *Server) caseFiles(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	fs, err := s.media.CaseFiles(r.Context(), p, r.PathValue("id"))
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	out := make([]caseFileJSON, 0, len(fs))
	for _, f := range fs {
		j := caseFileJSON{ID: f.ID, Name: f.Name, Kind: string(f.Kind), Size: f.Size, UploaderID: f.UploaderID, CreatedAt: f.CreatedAt.UTC(),
			View: "/api/v1/files/" + f.ID + "/view"}
		if f.Downloadable {
			j.Download = "/api/v1/files/" + f.ID + "/download"
		}
		out = append(out, j)
	}
	WriteJSON(w, http.StatusOK, map[string]any{"files": out})
}

// seriesJSON is an opened series as the viewer reads it: descriptions,
// modality, dates and the images' geometry and windows, never a patient's
// name or a DICOM UID. The images are fetched from Images with {n}
// replaced by an image's index.
type seriesJSON struct {
	Images            string               `json:"images"`
	ExpiresAt         time.Time            `json:"expires_at"`
	Start             int                  `json:"start"`
	StudyDescription  string               `json:"study_description,omitempty"`
	StudyDate         string               `json:"study_date,omitempty"`
	SeriesDescription string               `json:"series_description,omitempty"`
	SeriesDate        string               `json:"series_date,omitempty"`
	SeriesNumber      int                  `json:"series_number,omitempty"`
	Modality          string               `json:"modality,omitempty"`
	Instances         int                  `json:"instances"`
	Presets           []media.WindowPreset `json:"presets"`
	Stack             []seriesImageJSON    `json:"stack"`
}

type seriesImageJSON struct {
	Instance     int     `json:"instance,omitempty"`
	Frame        int     `json:"frame"`
	Frames       int     `json:"frames"`
	Width        int     `json:"width"`
	Height       int     `json:"height"`
	WindowCenter float64 `json:"window_center,omitempty"`
	WindowWidth  float64 `json:"window_width,omitempty"`
	Invert       bool    `json:"invert,omitempty"`
	Viewable     bool    `json:"viewable"`
	NotViewable  string  `json:"not_viewable,omitempty"`
}

// fileSeries opens the series a DICOM file belongs to: one audited
// file.view_series entry covering every image it lists.
func (s *Server) fileSeries(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	v, err := s.media.ViewSeries(r.Context(), p, r.PathValue("id"))
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	out := seriesJSON{Images: "/api/v1/series/" + v.Grant + "/images/{n}", ExpiresAt: v.ExpiresAt.UTC(), Start: v.Start,
		StudyDescription: v.StudyDescription, StudyDate: dicomDate(v.StudyDate), SeriesDescription: v.SeriesDescription,
		SeriesDate: dicomDate(v.SeriesDate), SeriesNumber: v.SeriesNumber, Modality: v.Modality, Instances: v.Instances,
		Presets: v.Presets, Stack: make([]seriesImageJSON, len(v.Images))}
	if out.Presets == nil {
		out.Presets = []media.WindowPreset{}
	}
	for i, im := range v.Images {
		out.Stack[i] = seriesImageJSON{Instance: im.Instance, Frame: im.Frame, Frames: im.Frames, Width: im.Width, Height: im.Height,
			WindowCenter: im.WindowCenter, WindowWidth: im.WindowWidth, Invert: im.Invert, Viewable: im.Viewable, NotViewable: im.NotViewable}
	}
	w.Header().Set("Cache-Control", "no-store")
	WriteJSON(w, http.StatusOK, out)
}

// seriesImage sends image n of an opened series as raw samples (see
// media.Pixels; X-Pixel-Format names the layout). It appends no entry of
// its own: the series view's file.view_series entry covers it, and the
// guard is told so.
func (s *Server) seriesImage(w http.ResponseWriter, r *http.Request, p *access.Principal) {
	n, err := strconv.Atoi(r.PathValue("n"))
	if err != nil || n < 0 {
		WriteValidation(w, r, "No such image.", map[string]string{"n": "must be a whole number from 0"})
		return
	}
	px, err := s.media.SeriesImagePixels(r.Context(), p, r.PathValue("grant"), n)
	if err != nil {
		writeMediaError(w, r, err)
		return
	}
	CountReceipt(r.Context(), px.Covered)
	viewHeaders(w, "application/octet-stream")
	h := w.Header()
	h.Set("X-Pixel-Format", string(px.Format))
	h.Set("X-Image-Width", strconv.Itoa(px.Width))
	h.Set("X-Image-Height", strconv.Itoa(px.Height))
	h.Set("Content-Length", strconv.Itoa(len(px.Data)))
	_, _ = w.Write(px.Data)
}

// dicomDate writes a DICOM date (YYYYMMDD) as 2006-01-02, or "" when it is
// not one.
func dicomDate(da string) string {
	t, err := time.Parse("20060102", da)
	if err != nil {
		return ""
	}
	return t.Format("2006-01-02")
}
