package web

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/media"
)

// The media pages: the "Imaging and models" section of a case page and the
// viewer page of one file. Everything goes through the media service, which
// decides and audits before anything about a file is read.

func init() { routeSets = append(routeSets, (*Server).routesMediaPages) }

func (s *Server) routesMediaPages(mux Mux) {
	s.phi(mux, "GET /files/{id}/view", auditedByService, s.pageFileView)
}

// caseFileRow is one file in a case's list, formatted for the page.
type caseFileRow struct {
	ID   string
	Name string // the uploader's name for the file, or ""

	Kind         string // the kind as a page shows it, e.g. "STL model"
	RawKind      string
	Size         string
	Uploader     string
	Date         string
	Thumbnail    bool
	Mesh         bool
	Downloadable bool
}

// caseFiles is the section's data: the DICOM studies, the rows of the
// other files, or a readable reason there are none to show.
type caseFiles struct {
	Shown   bool // the viewer may see the case's files
	Studies []studyRow
	Rows    []caseFileRow
	Error   string
}

// studyRow is one DICOM study of a case, by series.
type studyRow struct {
	Description string
	Date        string
	Series      []seriesRow
}

// seriesRow is one DICOM series: what a clinician tells series apart by,
// its thumbnail (the middle instance's) and the file the viewer opens it
// from.
type seriesRow struct {
	ViewID       string // the first instance: the viewer opens the whole series from it
	ThumbID      string
	Thumbnail    bool
	Description  string
	Modality     string
	Number       int
	Date         string
	Count        string // "60 images", "1 file, 24 frames"
	Uploader     string
	Downloadable bool // every instance may be downloaded by this viewer
	Files        []seriesFile
}

// seriesFile is one instance's original, for the uploader's download.
type seriesFile struct {
	ID    string
	Label string
}

// kindLabel names a kind for people.
func kindLabel(k media.Kind) string {
	switch {
	case k == media.KindDICOM:
		return "DICOM image"
	case k == media.KindMTL:
		return "MTL material"
	case k.IsMesh():
		return strings.ToUpper(string(k)) + " model"
	case k.IsImage():
		return strings.ToUpper(string(k)) + " photograph"
	}
	return "file"
}

func humanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d bytes", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	return fmt.Sprintf("%.1f %ciB", float64(n)/float64(div), "KMGTPE"[exp])
}

// userNames resolves account ids to display names through identity, once
// per id; an id without an account (or a server without identity) shows
// as the id.
func (s *Server) userNames() func(ctx context.Context, id string) string {
	seen := map[string]string{}
	return func(ctx context.Context, id string) string {
		if n, ok := seen[id]; ok {
			return n
		}
		n := id
		if s.identity != nil {
			if u, err := s.identity.User(ctx, id); err == nil && u.Name != "" {
				n = u.Name
			}
		}
		seen[id] = n
		return n
	}
}

// loadCaseFiles lists a case's files for its page. A viewer the policy
// does not let see files gets no section; an unwritable audit log gets a
// readable message in the section and no list.
func (s *Server) loadCaseFiles(ctx context.Context, p *access.Principal, caseID string) caseFiles {
	if s.media == nil {
		return caseFiles{}
	}
	fs, err := s.media.CaseFiles(ctx, p, caseID)
	switch {
	case errors.Is(err, media.ErrAuditUnavailable):
		return caseFiles{Shown: true, Error: "The files cannot be listed right now because the audit log cannot be written. Try again shortly."}
	case errors.Is(err, media.ErrForbidden), errors.Is(err, media.ErrNotFound):
		return caseFiles{}
	case err != nil:
		s.log.Error("case files failed", "request_id", RequestID(ctx), "err_kind", fmt.Sprintf("%T", err))
		return caseFiles{Shown: true, Error: "The files could not be listed. Quote the request id to support."}
	}
	name := s.userNames()
	out := caseFiles{Shown: true, Rows: make([]caseFileRow, 0, len(fs))}
	var dicom []media.IndexedInstance
	byID := map[string]media.CaseFile{}
	for _, f := range fs {
		if f.DICOM != nil {
			dicom = append(dicom, media.IndexedInstance{FileID: f.ID, Info: *f.DICOM})
			byID[f.ID] = f
			continue
		}
		out.Rows = append(out.Rows, caseFileRow{ID: f.ID, Name: f.Name, Kind: kindLabel(f.Kind), RawKind: string(f.Kind), Size: humanSize(f.Size),
			Uploader: name(ctx, f.UploaderID), Date: f.CreatedAt.UTC().Format("2006-01-02 15:04"),
			Thumbnail: f.HasThumbnail(), Mesh: f.Kind.IsMesh(), Downloadable: f.Downloadable})
	}
	for _, st := range media.GroupStudies(dicom) {
		sr := studyRow{Description: cmp.Or(st.Description, "Study without a description"), Date: dicomDate(st.Date)}
		for _, se := range st.Series {
			first, mid := byID[se.Instances[0].FileID], byID[se.Instances[len(se.Instances)/2].FileID]
			row := seriesRow{ViewID: first.ID, ThumbID: mid.ID, Thumbnail: mid.HasThumbnail(), Modality: se.Modality, Number: se.SeriesNumber,
				Description: cmp.Or(se.Description, "Series without a description"), Date: dicomDate(se.Date),
				Count: imageCount(len(se.Instances), se.Images()), Uploader: name(ctx, first.UploaderID), Downloadable: true}
			for i, in := range se.Instances {
				f := byID[in.FileID]
				row.Downloadable = row.Downloadable && f.Downloadable
				row.Files = append(row.Files, seriesFile{ID: f.ID, Label: fmt.Sprintf("Instance %d (%s)", max(in.Info.InstanceNumber, i+1), humanSize(f.Size))})
			}
			sr.Series = append(sr.Series, row)
		}
		out.Studies = append(out.Studies, sr)
	}
	return out
}

// imageCount says how many images a series holds, in words.
func imageCount(files, images int) string {
	switch {
	case files == 1 && images > 1:
		return fmt.Sprintf("1 file, %d frames", images)
	case images == 1:
		return "1 image"
	case files == images:
		return fmt.Sprintf("%d images", images)
	}
	return fmt.Sprintf("%d images in %d files", images, files)
}

// fileViewPage is the viewer page's data.
type fileViewPage struct {
	ID           string
	CaseID       string
	Kind         string
	RawKind      string
	Viewer       string // "dicom", "model", "image" or "" (not viewable)
	Downloadable bool
}

// pageFileView shows one file in the viewer for its kind: DICOM frames
// rendered on the server, meshes in the WebGL viewer, photographs as their
// stripped viewing copy. Opening the page is itself a decided and audited
// view; the viewer's own requests are decided and audited again.
func (s *Server) pageFileView(w http.ResponseWriter, r *http.Request) {
	p := principal(r)
	if p == nil {
		s.renderError(w, r, http.StatusUnauthorized, "Sign in to see this file.")
		return
	}
	if s.media == nil {
		s.renderError(w, r, http.StatusNotFound, "Files are not configured on this server.")
		return
	}
	v, err := s.media.OpenFile(r.Context(), p, r.PathValue("id"), access.FileView)
	switch {
	case errors.Is(err, media.ErrAuditUnavailable):
		s.renderError(w, r, http.StatusServiceUnavailable, "The file cannot be shown right now because the audit log cannot be written. Try again shortly.")
		return
	case errors.Is(err, media.ErrForbidden):
		s.renderError(w, r, http.StatusForbidden, "You may not see this file.")
		return
	case errors.Is(err, media.ErrNotFound):
		s.renderError(w, r, http.StatusNotFound, "There is no such file.")
		return
	case err != nil:
		status, msg := unexpectedStatus(err)
		s.renderError(w, r, status, msg)
		return
	}
	f := v.File
	pg := fileViewPage{ID: f.ID, CaseID: f.CaseID, Kind: kindLabel(f.Kind), RawKind: string(f.Kind), Downloadable: v.Downloadable()}
	switch {
	case f.Kind == media.KindDICOM:
		pg.Viewer, pg.Kind = "dicom", "DICOM series"
	case f.Kind.IsMesh():
		pg.Viewer = "model"
	case f.Kind.IsImage():
		pg.Viewer = "image"
	}
	s.renderView(w, r, http.StatusOK, "file_view", View{Title: pg.Kind, Data: pg})
}
