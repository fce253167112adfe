package main

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/custodia-health/custodia/internal/media"
)

func TestTheSameSeedGivesTheSameData(t *testing.T) {
	dump := func(seed uint64) []byte {
		g := newGen(seed)
		var out []any
		for i := 0; i < 20; i++ {
			out = append(out, g.patient(i), g.caseFor())
		}
		study, series := g.studyUIDs()
		out = append(out, g.rehabBatch(0, 50, 10), g.dicomInstance(study, series, 0, 16, 16, "Belbrook^Ada"))
		b, err := json.Marshal(out)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	if !bytes.Equal(dump(1), dump(1)) {
		t.Error("two generators with seed 1 made different data")
	}
	if bytes.Equal(dump(1), dump(2)) {
		t.Error("seeds 1 and 2 made the same data")
	}
}

func TestGeneratedFilesAreAcceptedByTheMediaValidator(t *testing.T) {
	g := newGen(1)
	study, series := g.studyUIDs()
	dcm := g.dicomInstance(study, series, 3, 64, 48, "Corfell^Mira")
	if _, err := media.Validate(media.BytesSource(dcm), media.SlotDICOM, media.Limits{}); err != nil {
		t.Errorf("DICOM instance refused: %v", err)
	}
	stl := stlHeader(1000)
	for i := 0; i < 1000; i++ {
		stl = stlTriangle(stl, i)
	}
	if _, err := media.Validate(media.BytesSource(stl), media.SlotMesh, media.Limits{}); err != nil {
		t.Errorf("binary STL refused: %v", err)
	}
}
