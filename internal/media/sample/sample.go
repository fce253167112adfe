// Package sample makes small, valid, wholly synthetic media files: binary
// STL meshes and 16-bit grayscale DICOM instances. Nothing in them comes
// from a real person. The demo data (custodia -demo) seeds its case with
// them, and tests use them through mediatest.
package sample

import (
	"bytes"
	"cmp"
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

	// Optional: empty or zero leaves the element out (sopClass and
	// modality default to secondary capture, "OT").
	sopClass, modality    string
	studyDesc, seriesDesc string
	date                  string // StudyDate and SeriesDate, YYYYMMDD
	seriesNumber          int
	rescaleIntercept      int
	rescaled              bool // write RescaleIntercept and RescaleSlope (1)
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
	opt := func(b *bytes.Buffer, g, e uint16, vr, v string) {
		if v != "" {
			elem(b, g, e, vr, []byte(v))
		}
	}
	us := func(v int) []byte { return []byte{byte(v), byte(v >> 8)} }
	sopClass := cmp.Or(in.sopClass, "1.2.840.10008.5.1.4.1.1.7") // secondary capture
	var meta bytes.Buffer
	elem(&meta, 2, 1, "OB", []byte{0, 1})
	elem(&meta, 2, 2, "UI", []byte(sopClass))
	elem(&meta, 2, 3, "UI", []byte(in.sopUID))
	elem(&meta, 2, 0x10, "UI", []byte("1.2.840.10008.1.2.1"))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	le.PutUint32(gl, uint32(meta.Len()))
	elem(&out, 2, 0, "UL", gl)
	out.Write(meta.Bytes())
	// Elements in ascending tag order, as Part 10 requires.
	elem(&out, 0x0008, 0x0016, "UI", []byte(sopClass))
	elem(&out, 0x0008, 0x0018, "UI", []byte(in.sopUID))
	opt(&out, 0x0008, 0x0020, "DA", in.date)
	opt(&out, 0x0008, 0x0021, "DA", in.date)
	elem(&out, 0x0008, 0x0060, "CS", []byte(cmp.Or(in.modality, "OT")))
	opt(&out, 0x0008, 0x1030, "LO", in.studyDesc)
	opt(&out, 0x0008, 0x103E, "LO", in.seriesDesc)
	elem(&out, 0x0010, 0x0010, "PN", []byte(in.patientName))
	elem(&out, 0x0020, 0x000D, "UI", []byte(in.studyUID))
	elem(&out, 0x0020, 0x000E, "UI", []byte(in.seriesUID))
	if in.number > 0 {
		elem(&out, 0x0020, 0x0011, "IS", []byte(fmt.Sprint(max(in.seriesNumber, 1))))
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
	if in.rescaled {
		elem(&out, 0x0028, 0x1052, "DS", []byte(fmt.Sprint(in.rescaleIntercept)))
		elem(&out, 0x0028, 0x1053, "DS", []byte("1"))
	}
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

// UIDs of CTSeries and CineLoop: fixed, so data generated twice is the same
// study (2.25: UIDs written as one integer). Both are in one study.
const (
	CTStudyUID  = "2.25.207394517203981761943005124710386101"
	CTSeriesUID = "2.25.207394517203981761943005124710386102"
	CineUID     = "2.25.207394517203981761943005124710386103" // the cine loop's series; its instance is CineUID.1
)

// CTSeries returns n single-frame CT instances of one axial series through
// a synthetic head phantom of size×size pixels: a skull, brain with grey
// and white matter, ventricles, orbits and sinuses that come and go from
// slice to slice, and a small bright lesion in a few slices, in Hounsfield
// units stored as unsigned values with RescaleIntercept -1024 and a brain
// window. Instance numbers are 1..n; the patient name is patientName.
func CTSeries(n, size int, patientName string) [][]byte {
	n, size = max(n, 1), max(size, 16)
	out := make([][]byte, n)
	for i := range n {
		z := (float64(i) + 0.5) / float64(n) // 0 at the foot of the stack, 1 at the top
		out[i] = instance{rows: size, cols: size, frames: 1, wc: 40, ww: 80, patientName: patientName,
			studyUID: CTStudyUID, seriesUID: CTSeriesUID, sopUID: fmt.Sprintf("%s.%d", CTSeriesUID, i+1), number: i + 1,
			sopClass: "1.2.840.10008.5.1.4.1.1.2", modality: "CT", studyDesc: "Synthetic head phantom",
			seriesDesc: "Axial head 2.5 mm (synthetic)", date: "20260210", seriesNumber: 2,
			rescaleIntercept: -1024, rescaled: true,
			pixel: func(_, y, x int) int {
				return headHU(z, float64(x)/float64(size-1), float64(y)/float64(size-1), noise(i, y, x)) + 1024
			}}.bytes()
	}
	return out
}

// noise is a deterministic value in [-16, 16) for a voxel, like a CT's
// quantum noise: uncorrelated from pixel to pixel (an integer hash).
func noise(slice, y, x int) float64 {
	h := uint32(slice)*73856093 ^ uint32(y)*19349663 ^ uint32(x)*83492791
	h ^= h >> 16
	h *= 0x7feb352d
	h ^= h >> 15
	h *= 0x846ca68b
	h ^= h >> 16
	return float64(h>>27) - 16
}

// headHU is the phantom's value in Hounsfield units at slice height z and
// image position (u, v), all in [0, 1], with noise n added.
func headHU(z, u, v, noise float64) int {
	x, y := 2*u-1, 2*v-1 // -1..1, y grows downwards (anterior at the top)
	// The head is an ellipsoid: its axial cross-section shrinks towards
	// the top and bottom of the stack.
	s := math.Sqrt(max(1-math.Pow((z-0.45)/0.6, 2), 0.05))
	a, b := 0.72*s, 0.88*s
	r := math.Hypot(x/a, y/b)
	switch {
	case r > 1.06:
		return -1000
	case r > 1:
		return 20 + int(noise) // scalp
	case r > 0.92:
		return 1300 + int(4*noise) // skull
	}
	hu := 32.0
	if math.Sin(8*x+3*z)*math.Cos(7*y) > 0.3 {
		hu = 42 // grey matter
	}
	// Orbits and sinuses in the lower slices.
	if z < 0.35 {
		for _, ex := range []float64{-0.32, 0.32} {
			if math.Hypot(x-ex, y+0.62) < 0.16 {
				return 10 + int(noise/2) // eye
			}
		}
		if math.Hypot(x/0.22, (y+0.2)/0.3) < 1 {
			return -900 // sinus
		}
	}
	// Ventricles, largest mid-stack.
	vs := math.Max(0, 1-math.Abs(z-0.55)/0.2)
	for _, vx := range []float64{-0.12, 0.12} {
		if vs > 0 && math.Hypot((x-vx)/(0.08*vs+0.01), (y+0.05)/(0.3*vs+0.01)) < 1 {
			return 6 + int(noise/4) // CSF
		}
	}
	// A small enhancing lesion, in a few slices only.
	if math.Sqrt(math.Pow((x-0.35)/0.09, 2)+math.Pow((y-0.3)/0.09, 2)+math.Pow((z-0.68)/0.06, 2)) < 1 {
		return 75 + int(noise/2)
	}
	return int(hu + noise/2)
}

// CineLoop returns one multi-frame instance of frames frames of size×size
// pixels: an X-ray-angiography-like loop of a vessel that narrows and
// widens with the heart beat, with a drifting catheter tip, so each frame
// differs. It belongs to the CTSeries study as series 3.
func CineLoop(frames, size int, patientName string) []byte {
	frames, size = max(frames, 1), max(size, 16)
	return instance{rows: size, cols: size, frames: frames, wc: 2048, ww: 4096, patientName: patientName,
		studyUID: CTStudyUID, seriesUID: CineUID, sopUID: CineUID + ".1", number: 1,
		sopClass: "1.2.840.10008.5.1.4.1.1.12.1", modality: "XA", studyDesc: "Synthetic head phantom",
		seriesDesc: "Cine loop (synthetic, multi-frame)", date: "20260210", seriesNumber: 3,
		pixel: func(f, y, x int) int {
			t := 2 * math.Pi * float64(f) / float64(frames)
			u, v := float64(x)/float64(size-1), float64(y)/float64(size-1)
			w := 0.05 + 0.025*math.Sin(t) // vessel half-width
			c := 0.5 + 0.15*math.Sin(3*v+t/2)
			val := 3000 - int(800*v)
			if math.Abs(u-c) < w {
				val = 900 // contrast in the vessel is dark
			}
			tip := 0.2 + 0.6*float64(f)/float64(frames)
			if math.Abs(u-c) < 0.01 && v < tip {
				val = 200 // the catheter
			}
			return val
		}}.bytes()
}

func max1(v int) int {
	if v < 1 {
		return 1
	}
	return v
}
