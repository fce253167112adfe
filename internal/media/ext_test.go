package media

import (
	"path/filepath"
	"testing"
)

// extDir holds the Debian sample files scripts/testdata-dicom.sh fetches.
const extDir = "testdata/dicom/ext"

func TestExtSamplesNeverPanic(t *testing.T) {
	files, _ := filepath.Glob(filepath.Join(extDir, "*.dcm"))
	if len(files) == 0 {
		t.Skip("no sample DICOM files: run scripts/testdata-dicom.sh")
	}
	for _, f := range files {
		src, _ := NewFileSource(f)
		info, err := Validate(src, SlotAny, Limits{})
		msg := ""
		if err != nil {
			msg = "REJECT " + err.Error()
		} else if info.DICOM != nil {
			d := info.DICOM
			msg = d.TransferSyntax + " " + d.Photometric
			if d.Viewable {
				if _, rerr := RenderFrame(src, d, d.Frames/2, nil); rerr != nil {
					msg += " RENDER-ERR " + rerr.Error()
				} else {
					msg += " rendered"
				}
			} else {
				msg += " NV: " + d.NotViewable
			}
		}
		if testing.Verbose() {
			t.Logf("%-40s %s", filepath.Base(f), msg)
		}
	}
}
