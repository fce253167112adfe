// Package sample makes small, valid, wholly synthetic media files: binary
// STL meshes and 16-bit grayscale DICOM instances. Nothing in them comes
// from a real person. The demo data (custodia -demo) seeds its case with
// them, and tests use them through mediatest.
package sample

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
)

// BinarySTL returns a binary STL of n triangles fanned around the origin.
func BinarySTL(n int) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 80))
	binary.Write(&b, binary.LittleEndian, uint32(n))
	for i := 0; i < n; i++ {
		x := float32(i % 10)
		y := float32(i / 10)
		binary.Write(&b, binary.LittleEndian, []float32{0, 0, 1, x, y, 0, x + 1, y, 0, x, y + 1, 0.5})
		b.Write([]byte{0, 0})
	}
	return b.Bytes()
}

// SphereSTL returns a binary STL of a closed UV sphere of radius r (in
// millimetres) with the given number of latitude bands and longitude
// segments (at least 3 each): 2*segments*(bands-1) triangles, outward
// normals, counter-clockwise from outside.
func SphereSTL(r float64, bands, segments int) []byte {
	bands, segments = max(bands, 3), max(segments, 3)
	pt := func(i, j int) [3]float64 {
		th := math.Pi * float64(i) / float64(bands)
		ph := 2 * math.Pi * float64(j%segments) / float64(segments)
		return [3]float64{r * math.Sin(th) * math.Cos(ph), r * math.Sin(th) * math.Sin(ph), r * math.Cos(th)}
	}
	var tris [][3][3]float64
	for i := 0; i < bands; i++ {
		for j := 0; j < segments; j++ {
			a, b, c, d := pt(i, j), pt(i+1, j), pt(i+1, j+1), pt(i, j+1)
			if i > 0 {
				tris = append(tris, [3][3]float64{a, b, d})
			}
			if i < bands-1 {
				tris = append(tris, [3][3]float64{b, c, d})
			}
		}
	}
	var buf bytes.Buffer
	head := make([]byte, 80)
	copy(head, "custodia synthetic sphere")
	buf.Write(head)
	binary.Write(&buf, binary.LittleEndian, uint32(len(tris)))
	for _, t := range tris {
		// The outward normal of a sphere's facet points along its centroid.
		var n [3]float64
		for k := range 3 {
			n[k] = (t[0][k] + t[1][k] + t[2][k]) / 3
		}
		l := math.Sqrt(n[0]*n[0] + n[1]*n[1] + n[2]*n[2])
		rec := make([]float32, 0, 12)
		for k := range 3 {
			rec = append(rec, float32(n[k]/l))
		}
		for _, v := range t {
			rec = append(rec, float32(v[0]), float32(v[1]), float32(v[2]))
		}
		binary.Write(&buf, binary.LittleEndian, rec)
		buf.Write([]byte{0, 0})
	}
	return buf.Bytes()
}

// instance is one DICOM file to write: explicit VR little endian, 16-bit
// unsigned MONOCHROME2 samples given by pixel.
type instance struct {
	rows, cols, frames int
	wc, ww             int
	patientName        string
	studyUID           string
	seriesUID          string
	sopUID             string
	number             int // InstanceNumber; 0 leaves it out
	pixel              func(frame, y, x int) int
}

func (in instance) bytes() []byte {
	le := binary.LittleEndian
	elem := func(b *bytes.Buffer, g, e uint16, vr string, v []byte) {
		if len(v)%2 == 1 {
			pad := byte(' ')
			if vr == "UI" || vr == "OB" {
				pad = 0
			}
			v = append(v, pad)
		}
		binary.Write(b, le, []uint16{g, e})
		b.WriteString(vr)
		switch vr {
		case "OB", "OW":
			b.Write([]byte{0, 0})
			binary.Write(b, le, uint32(len(v)))
		default:
			binary.Write(b, le, uint16(len(v)))
		}
		b.Write(v)
	}
	us := func(v int) []byte { return []byte{byte(v), byte(v >> 8)} }
	const secondaryCapture = "1.2.840.10008.5.1.4.1.1.7"
	var meta bytes.Buffer
	elem(&meta, 2, 1, "OB", []byte{0, 1})
	elem(&meta, 2, 2, "UI", []byte(secondaryCapture))
	elem(&meta, 2, 3, "UI", []byte(in.sopUID))
	elem(&meta, 2, 0x10, "UI", []byte("1.2.840.10008.1.2.1"))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	le.PutUint32(gl, uint32(meta.Len()))
	elem(&out, 2, 0, "UL", gl)
	out.Write(meta.Bytes())
	elem(&out, 0x0008, 0x0016, "UI", []byte(secondaryCapture))
	elem(&out, 0x0008, 0x0018, "UI", []byte(in.sopUID))
	elem(&out, 0x0008, 0x0060, "CS", []byte("OT"))
	elem(&out, 0x0010, 0x0010, "PN", []byte(in.patientName))
	elem(&out, 0x0020, 0x000D, "UI", []byte(in.studyUID))
	elem(&out, 0x0020, 0x000E, "UI", []byte(in.seriesUID))
	if in.number > 0 {
		elem(&out, 0x0020, 0x0011, "IS", []byte("1"))
		elem(&out, 0x0020, 0x0013, "IS", []byte(fmt.Sprint(in.number)))
	}
	elem(&out, 0x0028, 0x0002, "US", us(1))
	elem(&out, 0x0028, 0x0004, "CS", []byte("MONOCHROME2"))
	elem(&out, 0x0028, 0x0008, "IS", []byte(fmt.Sprint(in.frames)))
	elem(&out, 0x0028, 0x0010, "US", us(in.rows))
	elem(&out, 0x0028, 0x0011, "US", us(in.cols))
	elem(&out, 0x0028, 0x0100, "US", us(16))
	elem(&out, 0x0028, 0x0101, "US", us(16))
	elem(&out, 0x0028, 0x0102, "US", us(15))
	elem(&out, 0x0028, 0x0103, "US", us(0))
	elem(&out, 0x0028, 0x1050, "DS", []byte(fmt.Sprint(in.wc)))
	elem(&out, 0x0028, 0x1051, "DS", []byte(fmt.Sprint(in.ww)))
	px := make([]byte, 0, in.rows*in.cols*in.frames*2)
	for f := 0; f < in.frames; f++ {
		for y := 0; y < in.rows; y++ {
			for x := 0; x < in.cols; x++ {
				px = append(px, us(in.pixel(f, y, x))...)
			}
		}
	}
	elem(&out, 0x7FE0, 0x0010, "OW", px)
	return out.Bytes()
}

// DICOMGray16 returns an explicit VR little endian DICOM file of frames
// frames of rows×cols unsigned 16-bit samples forming a ramp from 0 to max
// along each row (plus 100 per frame), with the given window and patient
// name.
func DICOMGray16(rows, cols, frames int, max int, wc, ww int, patientName string) []byte {
	return instance{rows: rows, cols: cols, frames: frames, wc: wc, ww: ww, patientName: patientName,
		studyUID: "1.2.826.0.1.3680043.10.9", seriesUID: "1.2.826.0.1.3680043.10.9.1", sopUID: "1.2.826.0.1.3680043.10.9.1.1",
		pixel: func(f, _, x int) int { return x*max/max1(cols-1) + 100*f }}.bytes()
}

// Slice returns a single-frame rows×cols 16-bit MONOCHROME2 instance of
// the given study and series, instance number number (its SOP instance UID
// is seriesUID.number), with the given window, patient name and pixel
// values (called row by row).
func Slice(studyUID, seriesUID string, number, rows, cols, wc, ww int, patientName string, pixel func(y, x int) int) []byte {
	return instance{rows: rows, cols: cols, frames: 1, wc: wc, ww: ww, patientName: patientName,
		studyUID: studyUID, seriesUID: seriesUID, sopUID: fmt.Sprintf("%s.%d", seriesUID, number), number: number,
		pixel: func(_, y, x int) int { return pixel(y, x) }}.bytes()
}

// Series UIDs of SphereSeries: fixed, so a series generated twice is the
// same series (2.25: UIDs written as one integer).
const (
	SeriesStudyUID  = "2.25.207394517203981761943005124710386001"
	SeriesSeriesUID = "2.25.207394517203981761943005124710386002"
)

// SphereSeries returns n single-frame DICOM instances of one series: slices
// of size×size pixels through a synthetic ball phantom (a bright shell
// around a softer core on a dark background), instance numbers 1..n, with
// the given patient name.
func SphereSeries(n, size int, patientName string) [][]byte {
	n, size = max(n, 1), max(size, 8)
	out := make([][]byte, n)
	c := float64(size-1) / 2
	r := 0.45 * float64(size)
	for i := range n {
		z := (float64(i)+0.5)/float64(n)*2*r - r // slice position through the ball
		rz := math.Sqrt(max(r*r-z*z, 0))
		out[i] = Slice(SeriesStudyUID, SeriesSeriesUID, i+1, size, size, 600, 1200, patientName, func(y, x int) int {
			d := math.Hypot(float64(x)-c, float64(y)-c)
			switch {
			case d > rz:
				return 20
			case d > rz-2:
				return 1100 // the shell
			default:
				return 400 + int(300*d/max(rz, 1))
			}
		})
	}
	return out
}

func max1(v int) int {
	if v < 1 {
		return 1
	}
	return v
}
