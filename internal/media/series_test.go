package media

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/media/sample"
)

// uploadSeries stores a CT series of n slices (uploaded out of order) and a
// 6-frame cine loop on case-1 as the uploader, and returns the file ids of
// the slices in instance order and the cine loop's id.
func uploadSeries(t *testing.T, svc *Service, n int) ([]string, string) {
	t.Helper()
	ctx := context.Background()
	ids := make([]string, n)
	for _, i := range []int{2, 0, 1} {
		for j := i; j < n; j += 3 {
			b := sample.CTSeries(n, 32, "SERIES^Canary")[j]
			f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			ids[j] = f.ID
		}
	}
	b := sample.CineLoop(6, 32, "SERIES^Canary")
	f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return ids, f.ID
}

func TestViewSeriesIsOneAuditedAccessCoveringEverySlice(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		rec := &recordingAudit{next: e.log}
		svc := e.service(rec)
		ids, cine := uploadSeries(t, svc, 7)
		ctx := context.Background()
		rec.got = nil
		v, err := svc.ViewSeries(ctx, uploader, ids[4])
		if err != nil {
			t.Fatal(err)
		}
		if len(v.Images) != 7 || v.Start != 4 || v.Modality != "CT" || v.SeriesDescription != "Axial head 2.5 mm (synthetic)" ||
			v.StudyDescription != "Synthetic head phantom" || v.StudyDate != "20260210" || len(v.Presets) == 0 {
			t.Fatalf("series view %+v", v)
		}
		for i, im := range v.Images {
			if im.Instance != i+1 || im.Frame != 0 || im.Width != 32 || !im.Viewable {
				t.Fatalf("image %d: %+v", i, im)
			}
		}
		var slices7 [][]byte
		for n := range v.Images {
			px, err := svc.SeriesImagePixels(ctx, uploader, v.Grant, n)
			if err != nil {
				t.Fatalf("image %d: %v", n, err)
			}
			if px.Format != PixelInt16 || len(px.Data) != 32*32*2 || px.Covered.Action != "file.view_series" {
				t.Fatalf("image %d: %s, %d bytes, covered by %q", n, px.Format, len(px.Data), px.Covered.Action)
			}
			slices7 = append(slices7, px.Data)
		}
		if bytes.Equal(slices7[0], slices7[3]) {
			t.Fatal("the slices are the same image")
		}
		if want := []string{"file.view_series allow"}; !slices.Equal(rec.got, want) {
			t.Fatalf("audit entries for opening and reading a 7-slice series: %v, want %v", rec.got, want)
		}
		// Hounsfield units: the corner is air.
		if hu := int16(binary.LittleEndian.Uint16(slices7[3])); hu != -1000 {
			t.Fatalf("corner value %d HU, want -1000", hu)
		}

		// The cine loop is its own series: one file, six frames.
		cv, err := svc.ViewSeries(ctx, uploader, cine)
		if err != nil {
			t.Fatal(err)
		}
		if len(cv.Images) != 6 || cv.Instances != 1 || cv.Images[5].Frame != 5 || cv.Images[5].Frames != 6 || cv.Modality != "XA" {
			t.Fatalf("cine view %+v", cv)
		}
		a, _ := svc.SeriesImagePixels(ctx, uploader, cv.Grant, 0)
		b, _ := svc.SeriesImagePixels(ctx, uploader, cv.Grant, 3)
		if bytes.Equal(a.Data, b.Data) || len(a.Data) == 0 {
			t.Fatal("the cine loop's frames are the same")
		}
	})
}

func TestSeriesGrantServesOnlyItsPrincipalUntilItExpires(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		now := time.Now()
		e.store.Now = func() time.Time { return now }
		rec := &recordingAudit{next: e.log}
		svc := e.service(rec)
		ids, _ := uploadSeries(t, svc, 3)
		ctx := context.Background()
		if _, err := svc.ViewSeries(ctx, stranger, ids[0]); !errors.Is(err, ErrNotFound) && !errors.Is(err, ErrForbidden) {
			t.Fatalf("a stranger opened the series: %v", err)
		}
		if rec.got[len(rec.got)-1] != "file.view_series deny" {
			t.Fatalf("the refusal was not audited: %v", rec.got)
		}
		v, err := svc.ViewSeries(ctx, uploader, ids[0])
		if err != nil {
			t.Fatal(err)
		}
		sameUserOtherToken := *uploader
		sameUserOtherToken.TokenID = "tok-1"
		for name, p := range map[string]*access.Principal{"stranger": stranger, "another credential": &sameUserOtherToken} {
			if _, err := svc.SeriesImagePixels(ctx, p, v.Grant, 0); !errors.Is(err, ErrGrantExpired) {
				t.Fatalf("%s used the uploader's grant: %v", name, err)
			}
		}
		if _, err := svc.SeriesImagePixels(ctx, uploader, v.Grant, 3); !errors.Is(err, ErrNoFrame) {
			t.Fatalf("image outside the view: %v", err)
		}
		if _, err := svc.SeriesImagePixels(ctx, uploader, "0123", 0); !errors.Is(err, ErrGrantExpired) {
			t.Fatalf("unknown grant: %v", err)
		}
		now = now.Add(SeriesGrantTTL + time.Second)
		if _, err := svc.SeriesImagePixels(ctx, uploader, v.Grant, 0); !errors.Is(err, ErrGrantExpired) || !errors.Is(err, ErrNotFound) {
			t.Fatalf("expired grant: %v", err)
		}
	})
}

func TestCaseFilesCarryTheDICOMIndexForGrouping(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		uploadSeries(t, svc, 4)
		fs, err := svc.CaseFiles(context.Background(), uploader, "case-1")
		if err != nil {
			t.Fatal(err)
		}
		var in []IndexedInstance
		for _, f := range fs {
			if f.DICOM == nil {
				t.Fatalf("file %s has no index", f.ID)
			}
			in = append(in, IndexedInstance{FileID: f.ID, Info: *f.DICOM})
		}
		st := GroupStudies(in)
		if len(st) != 1 || len(st[0].Series) != 2 || st[0].Description != "Synthetic head phantom" {
			t.Fatalf("studies %+v", st)
		}
		ct, cine := st[0].Series[0], st[0].Series[1]
		if ct.Description != "Axial head 2.5 mm (synthetic)" || ct.Images() != 4 || ct.Date != "20260210" || cine.Images() != 6 || cine.Modality != "XA" {
			t.Fatalf("series %+v / %+v", ct, cine)
		}
	})
}

func TestFramePixelsKeepsModalityValues(t *testing.T) {
	// A 16-bit ramp with slope 1 and intercept 0 comes out as int16 values.
	gray := sample.DICOMGray16(4, 8, 2, 700, 350, 700, "PIXELS^Canary")
	info, err := Validate(BytesSource(gray), SlotDICOM, Limits{})
	if err != nil {
		t.Fatal(err)
	}
	px, err := FramePixels(BytesSource(gray), info.DICOM, 1)
	if err != nil {
		t.Fatal(err)
	}
	if px.Format != PixelInt16 || px.Width != 8 || px.Height != 4 {
		t.Fatalf("pixels %s %dx%d", px.Format, px.Width, px.Height)
	}
	if first, last := int16(binary.LittleEndian.Uint16(px.Data)), int16(binary.LittleEndian.Uint16(px.Data[14:])); first != 100 || last != 800 {
		t.Fatalf("frame 1 row 0 runs %d..%d, want 100..800", first, last)
	}
	// A fractional slope needs floats.
	d := *info.DICOM
	d.RescaleSlope = 0.123
	if px, err = FramePixels(BytesSource(gray), &d, 0); err != nil || px.Format != PixelFloat32 || len(px.Data) != 4*32 {
		t.Fatalf("fractional slope: %s, %d bytes, %v", px.Format, len(px.Data), err)
	}
	if _, err := FramePixels(BytesSource(gray), info.DICOM, 2); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("frame 2 of 2: %v", err)
	}
}

// BenchmarkSeriesImagePixels measures what the server does for one step
// of a series the viewer has not received yet: read the slice's held
// object, decrypt it, decode its pixels to modality values (256×256 CT).
// The browser's own figure comes from TestScrollingA200SliceSeriesIsTimed
// in internal/web (go test ./internal/web/ -run
// TestScrollingA200SliceSeriesIsTimed -v).
func BenchmarkSeriesImagePixels(b *testing.B) {
	e := newTestEnv(b, dbtest.SQLite(b), b.TempDir())
	svc := e.service(e.log)
	ctx := context.Background()
	var first string
	for i, s := range sample.CTSeries(20, 256, "BENCH^Series") {
		f, _, err := svc.UploadSmall(ctx, uploader, "case-1", SlotDICOM, bytes.NewReader(s), int64(len(s)))
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			first = f.ID
		}
	}
	v, err := svc.ViewSeries(ctx, uploader, first)
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		if _, err := svc.SeriesImagePixels(ctx, uploader, v.Grant, n%len(v.Images)); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(b.Elapsed().Microseconds())/float64(b.N)/1000, "ms/image")
}

func TestFramePixelsFastPathAgreesWithTheGeneralDecode(t *testing.T) {
	for name, b := range map[string][]byte{
		"CT, intercept -1024": sample.CTSeries(3, 40, "FAST^Path")[1],
		"ramp, two frames":    sample.DICOMGray16(8, 8, 2, 4000, 2000, 4000, "FAST^Path"),
	} {
		info, err := Validate(BytesSource(b), SlotDICOM, Limits{})
		if err != nil {
			t.Fatal(err)
		}
		d := info.DICOM
		data, err := readFrame(BytesSource(b), d, d.Frames-1)
		if err != nil {
			t.Fatal(err)
		}
		fast, ok := nativeInt16(d, data)
		vals, _, err := decodeSamples(d, data)
		if !ok || err != nil {
			t.Fatalf("%s: fast path %v, general %v", name, ok, err)
		}
		for i, v := range vals {
			if got := int16(binary.LittleEndian.Uint16(fast.Data[2*i:])); float64(got) != v {
				t.Fatalf("%s: pixel %d is %d on the fast path and %v on the general one", name, i, got, v)
			}
		}
		// A value outside int16 leaves the fast path.
		big := *d
		big.RescaleIntercept = 40000
		if _, ok := nativeInt16(&big, data); ok {
			t.Fatalf("%s: the fast path took values beyond int16", name)
		}
	}
}

func TestCompletedUploadKeepsItsCleanedNameSealed(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, d *db.DB) {
		e := newTestEnv(t, d, t.TempDir())
		svc := e.service(e.log)
		ctx := context.Background()
		data := sample.SphereSTL(10, 6, 8)
		u, err := svc.CreateUpload(ctx, uploader, "case-1", int64(len(data)), SlotMesh)
		if err != nil {
			t.Fatal(err)
		}
		rng := ContentRange{Start: 0, End: int64(len(data)) - 1, Total: int64(len(data))}
		if _, err := svc.PutChunk(ctx, uploader, u.ID, rng, bytes.NewReader(data)); err != nil {
			t.Fatal(err)
		}
		const name = `C:\scans\Qzxnamecanary jaw` + "\x00\n" + `.stl`
		f, info, err := svc.CompleteUploadNamed(ctx, uploader, u.ID, name)
		if err != nil {
			t.Fatal(err)
		}
		if want := "Qzxnamecanary jaw.stl"; info.Name != want {
			t.Fatalf("name %q, want %q", info.Name, want)
		}
		fs, err := svc.CaseFiles(ctx, uploader, "case-1")
		if err != nil || len(fs) != 1 || fs[0].ID != f.ID || fs[0].Name != "Qzxnamecanary jaw.stl" {
			t.Fatalf("case files %+v %v", fs, err)
		}
		// Sealed: the name is nowhere in the database in the clear.
		var n int
		if err := d.Read.QueryRow(`SELECT COUNT(*) FROM media_files WHERE CAST(info AS TEXT) LIKE '%Qzxnamecanary%'`).Scan(&n); err != nil || n != 0 {
			t.Fatalf("plaintext name rows: %d %v", n, err)
		}
	})
	if got := CleanName(strings.Repeat("é", 300)); len([]rune(got)) != 200 {
		t.Fatalf("long name kept %d runes", len([]rune(got)))
	}
}
