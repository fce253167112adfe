// Package mediatest makes small, valid media files for tests in other
// packages (the media package's own tests have fuller generators). The
// files come from package sample, which the demo data uses too.
package mediatest

import "github.com/custodia-health/custodia/internal/media/sample"

// BinarySTL returns a binary STL of n triangles fanned around the origin.
func BinarySTL(n int) []byte { return sample.BinarySTL(n) }

// DICOMGray16 returns an explicit VR little endian DICOM file of frames
// frames of rows×cols unsigned 16-bit samples forming a ramp from 0 to max
// along each row (plus 100 per frame), with the given window and patient
// name.
func DICOMGray16(rows, cols, frames int, max int, wc, ww int, patientName string) []byte {
	return sample.DICOMGray16(rows, cols, frames, max, wc, ww, patientName)
}
