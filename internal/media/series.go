package media

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/keys"
)

// A series is viewed as one stack of images: every frame of every instance,
// in instance order. Opening it is one audited access ("file.view_series",
// resource "series" with the id of the file it was opened from) that
// covers all the images it lists; the viewer then fetches them one by one
// under the grant that access returned, without an audit entry each, so
// scrolling a 200-slice CT does not write 200 entries. A grant is bound to
// the principal it was issued to, lists exactly the files it covers, and
// expires after SeriesGrantTTL; the viewer opens the series again then.

// SeriesGrantTTL is how long a series view's grant lets its images be
// fetched.
const SeriesGrantTTL = 15 * time.Minute

// MaxSeriesImages bounds the images one series view lists.
const MaxSeriesImages = 10_000

// WindowPreset is a named display window for a modality.
type WindowPreset struct {
	Name   string  `json:"name"`
	Center float64 `json:"center"`
	Width  float64 `json:"width"`
}

// WindowPresets are the display windows a viewer offers for a modality, in
// modality units (Hounsfield units for CT). Modalities without standard
// windows get none; the viewer still offers the file's own window and the
// image's full range.
func WindowPresets(modality string) []WindowPreset {
	switch strings.ToUpper(modality) {
	case "CT":
		return []WindowPreset{
			{Name: "Soft tissue", Center: 40, Width: 400},
			{Name: "Lung", Center: -600, Width: 1500},
			{Name: "Bone", Center: 400, Width: 1800},
			{Name: "Brain", Center: 40, Width: 80},
			{Name: "Mediastinum", Center: 50, Width: 350},
		}
	}
	return nil
}

// SeriesView is an opened series: what the viewer shows about it and the
// grant under which its images are fetched. It holds no patient name, id
// or birth date.
type SeriesView struct {
	Grant     string
	ExpiresAt time.Time
	// Start is the image the viewer opens at: the first image of the file
	// the series was opened from.
	Start             int
	StudyDescription  string
	StudyDate         string
	SeriesDescription string
	SeriesDate        string
	SeriesNumber      int
	Modality          string
	Instances         int
	Images            []SeriesImage
	Presets           []WindowPreset
}

// SeriesImage is one image of a series' stack.
type SeriesImage struct {
	Instance     int // InstanceNumber
	Frame        int // 0-based frame of its file
	Frames       int // frames of its file
	Width        int
	Height       int
	WindowCenter float64 // the file's window; Width 0: none
	WindowWidth  float64
	Invert       bool // MONOCHROME1: high values dark
	Viewable     bool
	NotViewable  string
	fileIdx      int
}

// SeriesPixels is one image fetched under a series grant, and the audit
// entry that covers its release.
type SeriesPixels struct {
	Pixels
	Covered audit.Event
}

// seriesGrant is what a series view authorised.
type seriesGrant struct {
	userID, tokenID, workspaceID, onBehalfOf string
	expires                                  time.Time
	event                                    audit.Event
	receipt                                  audit.Receipt
	files                                    []File
	infos                                    []*DICOMInfo
	images                                   []SeriesImage
}

// grants holds the open series views of one Service.
type grants struct {
	mu sync.Mutex
	m  map[string]*seriesGrant
}

func (g *grants) put(sg *seriesGrant, now time.Time) string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.m == nil {
		g.m = map[string]*seriesGrant{}
	}
	for k, v := range g.m {
		if now.After(v.expires) {
			delete(g.m, k)
		}
	}
	g.m[id] = sg
	return id
}

func (g *grants) get(id string) *seriesGrant {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.m[id]
}

func (s *Service) now() time.Time {
	if s.Store != nil {
		return s.Store.now()
	}
	return time.Now()
}

// ViewSeries opens the series that DICOM file fileID belongs to, if p may
// view the file: one audited access ("file.view_series" on resource
// "series" fileID) whose receipt covers every image the view lists. Files
// of the same series in the same case and for the same patient are its
// instances; nothing else is listed or later served under the grant.
func (s *Service) ViewSeries(ctx context.Context, p *access.Principal, fileID string) (SeriesView, error) {
	f, err := s.Store.File(ctx, fileID)
	if err != nil {
		return SeriesView{}, err
	}
	r, err := s.fileResource(ctx, p, f)
	if err != nil {
		return SeriesView{}, err
	}
	d := access.Decide(p, access.FileView, r)
	ev := auditEvent(p, d, "file.view_series", r, "series", f.ID)
	rec, err := s.Audit.Append(ctx, ev)
	if err != nil {
		return SeriesView{}, fmt.Errorf("%w: %w", ErrAuditUnavailable, err)
	}
	switch {
	case !d.Allow && d.Visible:
		return SeriesView{}, ErrForbidden
	case !d.Allow:
		return SeriesView{}, ErrNotFound
	case f.Kind != KindDICOM:
		return SeriesView{}, &NotViewableError{Reason: "only DICOM files belong to a series"}
	}
	files, infos, err := s.Store.caseDICOM(ctx, rec, f.CaseID, f.PatientID)
	if err != nil {
		return SeriesView{}, err
	}
	var anchor *DICOMInfo
	in := make([]IndexedInstance, 0, len(files))
	byID := map[string]int{}
	for i, cf := range files {
		byID[cf.ID] = i
		if cf.ID == f.ID {
			anchor = infos[i]
		}
	}
	if anchor == nil {
		return SeriesView{}, &NotViewableError{Reason: "this DICOM file has no index"}
	}
	for i, cf := range files {
		if infos[i].StudyInstanceUID == anchor.StudyInstanceUID && infos[i].SeriesInstanceUID == anchor.SeriesInstanceUID {
			in = append(in, IndexedInstance{FileID: cf.ID, Info: *infos[i]})
		}
	}
	st := GroupStudies(in)[0]
	se := st.Series[0]
	sg := &seriesGrant{userID: p.UserID, tokenID: p.TokenID, workspaceID: p.WorkspaceID, onBehalfOf: p.OnBehalfOf,
		expires: s.now().Add(SeriesGrantTTL), event: ev, receipt: rec}
	v := SeriesView{StudyDescription: st.Description, StudyDate: st.Date, SeriesDescription: se.Description, SeriesDate: se.Date,
		SeriesNumber: se.SeriesNumber, Modality: se.Modality, Instances: len(se.Instances), Presets: WindowPresets(se.Modality)}
	for _, ii := range se.Instances {
		fi := len(sg.files)
		info := infos[byID[ii.FileID]]
		sg.files, sg.infos = append(sg.files, files[byID[ii.FileID]]), append(sg.infos, info)
		if ii.FileID == f.ID {
			v.Start = len(sg.images)
		}
		for fr := range max(info.Frames, 1) {
			if len(sg.images) == MaxSeriesImages {
				break
			}
			sg.images = append(sg.images, SeriesImage{Instance: info.InstanceNumber, Frame: fr, Frames: max(info.Frames, 1),
				Width: info.Columns, Height: info.Rows, WindowCenter: info.WindowCenter, WindowWidth: info.WindowWidth,
				Invert: info.Photometric == "MONOCHROME1", Viewable: info.Viewable, NotViewable: info.NotViewable, fileIdx: fi})
		}
	}
	v.Images = sg.images
	v.ExpiresAt = sg.expires
	v.Grant = s.grants.put(sg, s.now())
	return v, nil
}

// ErrGrantExpired means a series grant is unknown to this server, expired,
// or was issued to someone else: the viewer opens the series again.
var ErrGrantExpired = fmt.Errorf("%w: the series view has expired", ErrNotFound)

// SeriesImagePixels decodes image n of the series view grant for p. It
// appends no audit entry: the series view's entry, returned in Covered,
// covers the release. A grant of another principal, an expired grant and
// an image outside the view are ErrGrantExpired or ErrNoFrame.
func (s *Service) SeriesImagePixels(ctx context.Context, p *access.Principal, grant string, n int) (SeriesPixels, error) {
	sg := s.grants.get(grant)
	if sg == nil || s.now().After(sg.expires) || sg.userID != p.UserID || sg.tokenID != p.TokenID ||
		sg.workspaceID != p.WorkspaceID || sg.onBehalfOf != p.OnBehalfOf {
		return SeriesPixels{}, ErrGrantExpired
	}
	if n < 0 || n >= len(sg.images) {
		return SeriesPixels{}, fmt.Errorf("series image %d: %w", n, ErrNoFrame)
	}
	im := sg.images[n]
	f, info := sg.files[im.fileIdx], sg.infos[im.fileIdx]
	src, err := s.Store.Source(ctx, sg.receipt, f)
	if err != nil {
		return SeriesPixels{}, err
	}
	px, err := FramePixels(src, info, im.Frame)
	if err != nil {
		return SeriesPixels{}, err
	}
	return SeriesPixels{Pixels: px, Covered: sg.event}, nil
}

// caseDICOM loads the rows and unsealed indexes of a case's DICOM files of
// one patient, oldest first; rec must cover the patient.
func (s *Store) caseDICOM(ctx context.Context, rec audit.Receipt, caseID, patientID string) ([]File, []*DICOMInfo, error) {
	files, infos, err := s.caseInfos(ctx, rec, caseID, patientID, KindDICOM)
	if err != nil {
		return nil, nil, err
	}
	out, idx := files[:0], make([]*DICOMInfo, 0, len(files))
	for i, f := range files {
		if infos[i].DICOM != nil {
			out, idx = append(out, f), append(idx, infos[i].DICOM)
		}
	}
	return out, idx, nil
}

// caseInfos loads the rows and unsealed infos of a case's files of one
// patient (of kind, or every kind for ""), oldest first; rec must cover
// the patient.
func (s *Store) caseInfos(ctx context.Context, rec audit.Receipt, caseID, patientID string, kind Kind) ([]File, []Info, error) {
	if !rec.Covers(patientID) {
		return nil, nil, ErrNoReceipt
	}
	rows, err := s.DB.Read.QueryContext(ctx, `SELECT id, workspace_id, patient_id, case_id, uploader_id, upload_id, kind, size, view_object, thumb_object, created_at, info
		FROM media_files WHERE case_id = $1 AND patient_id = $2 AND ($3 = '' OR kind = $3) ORDER BY created_at, id`, caseID, patientID, string(kind))
	if err != nil {
		return nil, nil, fmt.Errorf("list case file infos: %w", err)
	}
	defer rows.Close()
	var files []File
	var sealed [][]byte
	for rows.Next() {
		var f File
		var b []byte
		if err := rows.Scan(scanFileInto(&f, &b)...); err != nil {
			return nil, nil, fmt.Errorf("list case file infos: %w", err)
		}
		files, sealed = append(files, f), append(sealed, b)
	}
	if err := rows.Err(); err != nil {
		return nil, nil, fmt.Errorf("list case file infos: %w", err)
	}
	rows.Close()
	var k *keys.Key
	infos := make([]Info, len(files))
	for i, f := range files {
		if k == nil {
			if k, err = s.key(ctx, rec, f); err != nil {
				return nil, nil, err
			}
		}
		if infos[i], err = openInfo(k, f.ID, sealed[i]); err != nil {
			return nil, nil, err
		}
	}
	return files, infos, nil
}

// openInfo unseals a file's info column.
func openInfo(k *keys.Key, fileID string, sealed []byte) (Info, error) {
	js, err := keys.OpenField(k, sealed, keys.FieldAD{Table: "media_files", RowID: fileID, Column: "info"})
	if err != nil {
		return Info{}, fmt.Errorf("open file info: %w", err)
	}
	var si sealedInfo
	if err := json.Unmarshal(js, &si); err != nil {
		return Info{}, fmt.Errorf("decode file info: %w", err)
	}
	return si.Info, nil
}
