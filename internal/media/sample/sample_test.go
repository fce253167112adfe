package sample_test

import (
	"bytes"
	"testing"

	"github.com/custodia-health/custodia/internal/media"
	"github.com/custodia-health/custodia/internal/media/sample"
)

func TestSphereSeriesIsOneViewableSeriesInOrder(t *testing.T) {
	files := sample.SphereSeries(5, 32, "Demo^Synthetic")
	if len(files) != 5 {
		t.Fatalf("%d instances", len(files))
	}
	sops := map[string]bool{}
	for i, b := range files {
		info, err := media.Validate(media.BytesSource(b), media.SlotDICOM, media.Limits{})
		if err != nil {
			t.Fatalf("instance %d: %v", i, err)
		}
		d := info.DICOM
		if info.Kind != media.KindDICOM || d == nil || !d.Viewable || d.Rows != 32 || d.Columns != 32 || d.Frames != 1 {
			t.Fatalf("instance %d: %+v %+v", i, info, d)
		}
		if d.StudyInstanceUID != sample.SeriesStudyUID || d.SeriesInstanceUID != sample.SeriesSeriesUID || d.InstanceNumber != i+1 || sops[d.SOPInstanceUID] {
			t.Fatalf("instance %d: uids %+v", i, d)
		}
		sops[d.SOPInstanceUID] = true
	}
	if !bytes.Equal(files[2], sample.SphereSeries(5, 32, "Demo^Synthetic")[2]) {
		t.Fatal("the series is not the same when made again")
	}
	if px := 32 * 32 * 2; bytes.Equal(files[0][len(files[0])-px:], files[2][len(files[2])-px:]) {
		t.Fatal("the slices do not differ")
	}
}

func TestSphereSTLIsAClosedMesh(t *testing.T) {
	b := sample.SphereSTL(40, 12, 24)
	info, err := media.Validate(media.BytesSource(b), media.SlotMesh, media.Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.Kind != media.KindSTL || info.Faces != 2*24*(12-1) {
		t.Fatalf("info %+v", info)
	}
}

func TestCTSeriesAndCineLoopAreOneStudyWithDescriptions(t *testing.T) {
	ct := sample.CTSeries(6, 48, "Demo^Synthetic")
	var in []media.IndexedInstance
	for i, b := range append(ct, sample.CineLoop(5, 32, "Demo^Synthetic")) {
		info, err := media.Validate(media.BytesSource(b), media.SlotDICOM, media.Limits{})
		if err != nil || !info.DICOM.Viewable {
			t.Fatalf("file %d: %v %+v", i, err, info.DICOM)
		}
		in = append(in, media.IndexedInstance{FileID: string(rune('a' + i)), Info: *info.DICOM})
	}
	st := media.GroupStudies(in)
	if len(st) != 1 || len(st[0].Series) != 2 {
		t.Fatalf("studies %+v", st)
	}
	s, cine := st[0].Series[0], st[0].Series[1]
	if s.Modality != "CT" || s.Images() != 6 || s.Description == "" || s.Instances[0].Info.RescaleIntercept != -1024 {
		t.Fatalf("CT series %+v", s)
	}
	if cine.Modality != "XA" || cine.Images() != 5 || len(cine.Instances) != 1 {
		t.Fatalf("cine %+v", cine)
	}
	if px := 48 * 48 * 2; bytes.Equal(ct[1][len(ct[1])-px:], ct[3][len(ct[3])-px:]) {
		t.Fatal("the CT slices do not differ")
	}
}
