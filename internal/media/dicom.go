package media

import (
	"cmp"
	"errors"
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/suyashkumar/dicom"
	"github.com/suyashkumar/dicom/pkg/tag"
)

// DICOMInfo is the index of one DICOM instance: what grouping, listing and
// rendering need, and nothing else. It deliberately holds no patient name,
// id, birth date, accession number or institution. The study and series
// descriptions and dates are there because a clinician tells series apart
// by them; they, the UIDs and the dates can still single a person out, so
// callers treat the whole struct as PHI: store it sealed (keys.SealField of
// its JSON), never as plaintext columns, and show it only to a viewer the
// policy lets see the file.
type DICOMInfo struct {
	StudyInstanceUID  string `json:"study_uid"`
	SeriesInstanceUID string `json:"series_uid"`
	SOPInstanceUID    string `json:"sop_uid"`
	SOPClassUID       string `json:"sop_class_uid"`
	Modality          string `json:"modality"`
	SeriesNumber      int    `json:"series_number"`
	InstanceNumber    int    `json:"instance_number"`
	TransferSyntaxUID string `json:"transfer_syntax_uid"`
	TransferSyntax    string `json:"transfer_syntax"`
	StudyDescription  string `json:"study_description,omitempty"`
	SeriesDescription string `json:"series_description,omitempty"`
	StudyDate         string `json:"study_date,omitempty"`  // DICOM DA, YYYYMMDD
	SeriesDate        string `json:"series_date,omitempty"` // DICOM DA, YYYYMMDD

	Rows                int     `json:"rows"`
	Columns             int     `json:"columns"`
	Frames              int     `json:"frames"`
	SamplesPerPixel     int     `json:"samples_per_pixel"`
	Photometric         string  `json:"photometric"`
	BitsAllocated       int     `json:"bits_allocated"`
	BitsStored          int     `json:"bits_stored"`
	PixelRepresentation int     `json:"pixel_representation"` // 1: signed
	PlanarConfiguration int     `json:"planar_configuration"`
	RescaleSlope        float64 `json:"rescale_slope"`
	RescaleIntercept    float64 `json:"rescale_intercept"`
	WindowCenter        float64 `json:"window_center,omitempty"`
	WindowWidth         float64 `json:"window_width,omitempty"` // 0: none in the file

	// Pixels is where the pixel data lies in the file, so a frame can be
	// read without walking the file again.
	Pixels *PixelLayout `json:"pixels,omitempty"`

	// Viewable is false when the browser viewer cannot show the pixels;
	// NotViewable then says why, in words for the person looking.
	Viewable    bool   `json:"viewable"`
	NotViewable string `json:"not_viewable,omitempty"`
}

// ValidateDICOM walks and parses a DICOM Part 10 file and returns its
// index. The structure walk (see dicomwalk.go) runs first and bounds every
// length; the dicom library then parses the header only, up to the pixel
// data, so indexing costs the same for a 2 GiB multi-frame file as for a
// single slice.
func ValidateDICOM(src Source, lim Limits) (info *DICOMInfo, err error) {
	lim = lim.orDefault()
	defer func() {
		if v := recover(); v != nil {
			info, err = nil, reject(KindDICOM, "DICOM header does not parse")
		}
	}()
	rc, err := src.Open()
	if err != nil {
		return nil, fmt.Errorf("open DICOM: %w", err)
	}
	lay, err := walkDICOM(rc, src.Size(), lim)
	rc.Close()
	if err != nil {
		return nil, err
	}
	rc, err = src.Open()
	if err != nil {
		return nil, fmt.Errorf("open DICOM: %w", err)
	}
	defer rc.Close()
	var in io.Reader = rc
	n := src.Size()
	if lay.ts != tsDeflatedLE && lay.pixelTag >= 0 {
		in, n = io.LimitReader(rc, lay.pixelTag), lay.pixelTag
	}
	ds, err := dicom.Parse(in, n, nil, dicom.SkipPixelData(), dicom.AllowUnknownSpecificCharacterSet(), dicom.AllowMissingMetaElementGroupLength())
	if err != nil {
		return nil, reject(KindDICOM, "DICOM header does not parse")
	}
	info = indexDICOM(&ds, lay)
	if info.Frames > lim.MaxFrames {
		return nil, reject(KindDICOM, "DICOM file has more than %d frames", lim.MaxFrames)
	}
	info.NotViewable = notViewable(info, lay, lim)
	info.Viewable = info.NotViewable == ""
	return info, nil
}

func indexDICOM(ds *dicom.Dataset, lay *dicomLayout) *DICOMInfo {
	str := func(t tag.Tag) string {
		e, err := ds.FindElementByTag(t)
		if err != nil {
			return ""
		}
		switch v := e.Value.GetValue().(type) {
		case []string:
			if len(v) > 0 {
				return strings.TrimRight(strings.TrimSpace(v[0]), "\x00")
			}
		case []int:
			if len(v) > 0 {
				return strconv.Itoa(v[0])
			}
		case []float64:
			if len(v) > 0 {
				return strconv.FormatFloat(v[0], 'g', -1, 64)
			}
		}
		return ""
	}
	num := func(t tag.Tag, def float64) float64 {
		s := str(t)
		if i := strings.IndexByte(s, '\\'); i >= 0 {
			s = s[:i]
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil {
			return def
		}
		return f
	}
	in := func(t tag.Tag, def int) int { return int(num(t, float64(def))) }
	info := &DICOMInfo{
		StudyInstanceUID:    str(tag.StudyInstanceUID),
		SeriesInstanceUID:   str(tag.SeriesInstanceUID),
		SOPInstanceUID:      str(tag.SOPInstanceUID),
		SOPClassUID:         str(tag.SOPClassUID),
		Modality:            str(tag.Modality),
		SeriesNumber:        in(tag.SeriesNumber, 0),
		InstanceNumber:      in(tag.InstanceNumber, 0),
		TransferSyntaxUID:   lay.ts,
		TransferSyntax:      TransferSyntaxName(lay.ts),
		StudyDescription:    str(tag.StudyDescription),
		SeriesDescription:   str(tag.SeriesDescription),
		StudyDate:           str(tag.StudyDate),
		SeriesDate:          str(tag.SeriesDate),
		Rows:                in(tag.Rows, 0),
		Columns:             in(tag.Columns, 0),
		Frames:              in(tag.NumberOfFrames, 1),
		SamplesPerPixel:     in(tag.SamplesPerPixel, 1),
		Photometric:         str(tag.PhotometricInterpretation),
		BitsAllocated:       in(tag.BitsAllocated, 0),
		BitsStored:          in(tag.BitsStored, 0),
		PixelRepresentation: in(tag.PixelRepresentation, 0),
		PlanarConfiguration: in(tag.PlanarConfiguration, 0),
		RescaleSlope:        num(tag.RescaleSlope, 1),
		RescaleIntercept:    num(tag.RescaleIntercept, 0),
		WindowCenter:        num(tag.WindowCenter, 0),
		WindowWidth:         num(tag.WindowWidth, 0),
	}
	if lay.pixelTag < 0 {
		info.Frames = 0
	} else if lay.ts != tsDeflatedLE {
		pl := &PixelLayout{Offset: lay.pixelOff, Length: lay.pixelLen, BasicOffsets: lay.offsets}
		for _, f := range lay.fragments {
			pl.Fragments = append(pl.Fragments, [2]int64{f.off, f.len})
		}
		info.Pixels = pl
	}
	if info.Frames < 1 && lay.pixelTag >= 0 {
		info.Frames = 1
	}
	if info.BitsStored == 0 {
		info.BitsStored = info.BitsAllocated
	}
	if info.RescaleSlope == 0 {
		info.RescaleSlope = 1
	}
	return info
}

// notViewable says why the viewer cannot show a file's pixels, or "".
func notViewable(info *DICOMInfo, lay *dicomLayout, lim Limits) string {
	if lay.pixelTag < 0 {
		return "this DICOM file holds no image (it may be a report, a waveform or a structured document)"
	}
	if info.Pixels == nil {
		return (&NotViewableError{TransferSyntaxUID: info.TransferSyntaxUID, Reason: fmt.Sprintf(
			"this transfer syntax (%s) is stored but cannot be displayed in the browser viewer", TransferSyntaxName(info.TransferSyntaxUID))}).Error()
	}
	if err := viewableSyntax(info.TransferSyntaxUID, info.BitsStored); err != nil {
		return err.Error()
	}
	if info.Rows <= 0 || info.Columns <= 0 || int64(info.Rows)*int64(info.Columns) > lim.MaxPixels {
		return "this DICOM image has no or too large dimensions for the viewer"
	}
	switch {
	case info.SamplesPerPixel == 1 && (info.Photometric == "MONOCHROME1" || info.Photometric == "MONOCHROME2"):
		if info.BitsAllocated != 8 && info.BitsAllocated != 16 {
			return fmt.Sprintf("%d-bit grayscale images cannot be displayed in the browser viewer", info.BitsAllocated)
		}
	case info.SamplesPerPixel == 3 && (info.Photometric == "RGB" || info.Photometric == "YBR_FULL" || strings.HasPrefix(info.Photometric, "YBR_FULL_422") && info.TransferSyntaxUID == tsJPEGBaseline):
		if info.BitsAllocated != 8 {
			return "colour images with more than 8 bits per sample cannot be displayed in the browser viewer"
		}
	default:
		return "this photometric interpretation cannot be displayed in the browser viewer"
	}
	return ""
}

// ErrNotViewable means a stored DICOM file's pixels cannot be rendered for
// the browser viewer. The file is kept and can be downloaded by its
// uploader; errors.Is(err, ErrNotViewable) holds for *NotViewableError.
var ErrNotViewable = errors.New("media: not viewable in the browser")

// NotViewableError names the transfer syntax (or other property) that the
// viewer cannot show.
type NotViewableError struct {
	TransferSyntaxUID string
	Reason            string
}

func (e *NotViewableError) Error() string { return e.Reason }

// Is makes errors.Is(err, ErrNotViewable) true.
func (e *NotViewableError) Is(target error) bool { return target == ErrNotViewable }

// viewableSyntax is the list of transfer syntaxes the renderer decodes.
func viewableSyntax(ts string, bitsStored int) error {
	switch ts {
	case tsImplicitLE, tsExplicitLE, tsExplicitBE, tsRLE, tsJPEGBaseline:
		return nil
	case tsJPEGExtended:
		if bitsStored <= 8 {
			return nil
		}
	}
	return &NotViewableError{TransferSyntaxUID: ts, Reason: fmt.Sprintf(
		"this transfer syntax (%s) is stored but cannot be displayed in the browser viewer", TransferSyntaxName(ts))}
}

// IndexedInstance is one stored DICOM file and its index, the input to
// GroupStudies. FileID is the caller's id for the file.
type IndexedInstance struct {
	FileID string
	Info   DICOMInfo
}

// Study is the instances that share a StudyInstanceUID, by series.
type Study struct {
	StudyInstanceUID string
	Description      string // the first non-empty StudyDescription
	Date             string // the first non-empty StudyDate (YYYYMMDD)
	Series           []Series
}

// Series is the instances that share a SeriesInstanceUID, in instance
// number order.
type Series struct {
	SeriesInstanceUID string
	SeriesNumber      int
	Modality          string
	Description       string // the first non-empty SeriesDescription
	Date              string // the first non-empty SeriesDate, else the study's
	Instances         []IndexedInstance
}

// Images is the number of images the series holds: every frame of every
// instance.
func (s Series) Images() int {
	n := 0
	for _, in := range s.Instances {
		n += max(in.Info.Frames, 1)
	}
	return n
}

// GroupStudies groups instances into studies and series: studies and series
// in the order first seen, series by series number, instances by instance
// number (then SOP instance UID, so the order is stable).
func GroupStudies(in []IndexedInstance) []Study {
	var studies []Study
	studyIdx := map[string]int{}
	seriesIdx := map[[2]string]int{}
	for _, ii := range in {
		si, ok := studyIdx[ii.Info.StudyInstanceUID]
		if !ok {
			si = len(studies)
			studyIdx[ii.Info.StudyInstanceUID] = si
			studies = append(studies, Study{StudyInstanceUID: ii.Info.StudyInstanceUID})
		}
		st := &studies[si]
		key := [2]string{ii.Info.StudyInstanceUID, ii.Info.SeriesInstanceUID}
		ri, ok := seriesIdx[key]
		if !ok {
			ri = len(st.Series)
			seriesIdx[key] = ri
			st.Series = append(st.Series, Series{SeriesInstanceUID: ii.Info.SeriesInstanceUID, SeriesNumber: ii.Info.SeriesNumber, Modality: ii.Info.Modality})
		}
		se := &st.Series[ri]
		se.Instances = append(se.Instances, ii)
		st.Description = cmp.Or(st.Description, ii.Info.StudyDescription)
		st.Date = cmp.Or(st.Date, ii.Info.StudyDate)
		se.Description = cmp.Or(se.Description, ii.Info.SeriesDescription)
		se.Date = cmp.Or(se.Date, ii.Info.SeriesDate, ii.Info.StudyDate)
	}
	for i := range studies {
		s := studies[i].Series
		sort.SliceStable(s, func(a, b int) bool { return s[a].SeriesNumber < s[b].SeriesNumber })
		for j := range s {
			ins := s[j].Instances
			sort.SliceStable(ins, func(a, b int) bool {
				if ins[a].Info.InstanceNumber != ins[b].Info.InstanceNumber {
					return ins[a].Info.InstanceNumber < ins[b].Info.InstanceNumber
				}
				return ins[a].Info.SOPInstanceUID < ins[b].Info.SOPInstanceUID
			})
		}
	}
	return studies
}
