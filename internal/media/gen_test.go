package media

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"sort"
)

// Generators for the small test files, so tests need no committed binaries.

func binarySTL(tris int) []byte {
	var b bytes.Buffer
	hdr := make([]byte, 80)
	copy(hdr, "solid made-by-a-test") // binary headers that start with "solid" exist in the wild
	b.Write(hdr)
	binary.Write(&b, binary.LittleEndian, uint32(tris))
	for i := 0; i < tris; i++ {
		f := []float32{0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1, 0, float32(i)}
		binary.Write(&b, binary.LittleEndian, f[:12])
		b.Write([]byte{0, 0})
	}
	return b.Bytes()
}

const asciiSTL = `solid cube
  facet normal 0 0 1
    outer loop
      vertex 0 0 0
      vertex 1 0 0
      vertex 0 1 0
    endloop
  endfacet
  facet normal 0 0 1
    outer loop
      vertex 1 0 0
      vertex 1 1 0
      vertex 0 1 0
    endloop
  endfacet
endsolid cube
`

const objText = `# a square
mtllib square.mtl
o square
v 0 0 0
v 1 0 0
v 1 1 0 1 0 0
v 0 1 0
vt 0 0
vn 0 0 1
usemtl skin
f 1/1/1 2/1/1 3/1/1
f 1//1 3//1 -1//1
`

const plyASCII = `ply
format ascii 1.0
comment made by a test
element vertex 3
property float x
property float y
property float z
property uchar red
property uchar green
property uchar blue
element face 1
property list uchar int vertex_indices
end_header
0 0 0 255 0 0
1 0 0 0 255 0
0 1 0 0 0 255
3 0 1 2
`

// binaryPLY builds a triangle (or a point cloud when faces is false).
func binaryPLY(bo binary.ByteOrder, faces bool) []byte {
	var b bytes.Buffer
	format := "binary_little_endian"
	if bo == binary.BigEndian {
		format = "binary_big_endian"
	}
	fmt.Fprintf(&b, "ply\nformat %s 1.0\nelement vertex 3\nproperty float x\nproperty float y\nproperty float z\n", format)
	if faces {
		b.WriteString("element face 1\nproperty list uchar int vertex_indices\n")
	}
	b.WriteString("end_header\n")
	for _, v := range []float32{0, 0, 0, 1, 0, 0, 0, 1, 0} {
		binary.Write(&b, bo, v)
	}
	if faces {
		b.WriteByte(3)
		binary.Write(&b, bo, []int32{0, 1, 2})
	}
	return b.Bytes()
}

// glbTriangle builds a GLB with one triangle: positions and indices in the
// BIN chunk.
func glbTriangle() []byte {
	var bin bytes.Buffer
	binary.Write(&bin, binary.LittleEndian, []float32{0, 0, 0, 1, 0, 0, 0, 1, 0})
	binary.Write(&bin, binary.LittleEndian, []uint16{0, 1, 2, 0})
	doc := map[string]any{
		"asset":       map[string]any{"version": "2.0"},
		"buffers":     []any{map[string]any{"byteLength": bin.Len()}},
		"bufferViews": []any{map[string]any{"buffer": 0, "byteLength": 36}, map[string]any{"buffer": 0, "byteOffset": 36, "byteLength": 6}},
		"accessors": []any{
			map[string]any{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3", "min": []float64{0, 0, 0}, "max": []float64{1, 1, 0}},
			map[string]any{"bufferView": 1, "componentType": 5123, "count": 3, "type": "SCALAR"},
		},
		"meshes": []any{map[string]any{"primitives": []any{map[string]any{"attributes": map[string]any{"POSITION": 0}, "indices": 1}}}},
	}
	js, _ := json.Marshal(doc)
	return glbFromJSON(js, bin.Bytes())
}

func glbFromJSON(js, bin []byte) []byte {
	for len(js)%4 != 0 {
		js = append(js, ' ')
	}
	for len(bin)%4 != 0 {
		bin = append(bin, 0)
	}
	var b bytes.Buffer
	total := 12 + 8 + len(js)
	if bin != nil {
		total += 8 + len(bin)
	}
	binary.Write(&b, binary.LittleEndian, []uint32{glbMagic, 2, uint32(total), uint32(len(js)), glbChunkJSON})
	b.Write(js)
	if bin != nil {
		binary.Write(&b, binary.LittleEndian, []uint32{uint32(len(bin)), glbChunkBIN})
		b.Write(bin)
	}
	return b.Bytes()
}

func testImage() image.Image {
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for y := 0; y < 30; y++ {
		for x := 0; x < 40; x++ {
			img.Set(x, y, color.RGBA{uint8(6 * x), uint8(8 * y), 90, 255})
		}
	}
	return img
}

const gpsCanary = "GPS-CANARY-59.9139N"

// jpegWithEXIF encodes a JPEG and inserts, after SOI, an APP1 EXIF segment
// with a GPS IFD (latitude 59°54'50", N) and the camera serial, an APP1 XMP
// segment, an APP13 IPTC segment and a COM comment, each carrying a canary.
func jpegWithEXIF() []byte {
	var enc bytes.Buffer
	jpeg.Encode(&enc, testImage(), &jpeg.Options{Quality: 90})
	j := enc.Bytes()

	// TIFF: IFD0 {GPSInfo pointer, BodySerialNumber} → GPS IFD {LatRef, Lat}.
	var t bytes.Buffer
	le := binary.LittleEndian
	t.WriteString("II*\x00")
	binary.Write(&t, le, uint32(8))
	// IFD0 at 8: 2 entries.
	serial := "SERIAL-" + gpsCanary + "\x00"
	ifd0End := 8 + 2 + 2*12 + 4
	serialOff := ifd0End
	gpsOff := serialOff + len(serial)
	binary.Write(&t, le, uint16(2))
	binary.Write(&t, le, []uint16{0x8825, 4})
	binary.Write(&t, le, []uint32{1, uint32(gpsOff)})
	binary.Write(&t, le, []uint16{0xA431, 2})
	binary.Write(&t, le, []uint32{uint32(len(serial)), uint32(serialOff)})
	binary.Write(&t, le, uint32(0))
	t.WriteString(serial)
	// GPS IFD: 2 entries, then the rational values.
	ratOff := gpsOff + 2 + 2*12 + 4
	binary.Write(&t, le, uint16(2))
	binary.Write(&t, le, []uint16{0x0001, 2})
	binary.Write(&t, le, []uint32{2, uint32('N')})
	binary.Write(&t, le, []uint16{0x0002, 5})
	binary.Write(&t, le, []uint32{3, uint32(ratOff)})
	binary.Write(&t, le, uint32(0))
	binary.Write(&t, le, []uint32{59, 1, 54, 1, 50, 1})
	t.WriteString(gpsCanary)

	seg := func(m byte, body []byte) []byte {
		out := []byte{0xFF, m, 0, 0}
		binary.BigEndian.PutUint16(out[2:], uint16(len(body)+2))
		return append(out, body...)
	}
	var out bytes.Buffer
	out.Write(j[:2])
	out.Write(seg(0xE1, append([]byte("Exif\x00\x00"), t.Bytes()...)))
	out.Write(seg(0xE1, []byte("http://ns.adobe.com/xap/1.0/\x00<x:xmpmeta>"+gpsCanary+"</x:xmpmeta>")))
	out.Write(seg(0xED, []byte("Photoshop 3.0\x008BIM"+gpsCanary)))
	out.Write(seg(0xFE, []byte("comment "+gpsCanary)))
	out.Write(j[2:])
	return out.Bytes()
}

// pngWithText encodes a PNG and inserts tEXt, zTXt-like, iTXt, eXIf and
// tIME chunks after IHDR.
func pngWithText() []byte {
	var enc bytes.Buffer
	png.Encode(&enc, testImage())
	p := enc.Bytes()
	chunk := func(typ string, data []byte) []byte {
		var c bytes.Buffer
		binary.Write(&c, binary.BigEndian, uint32(len(data)))
		c.WriteString(typ)
		c.Write(data)
		binary.Write(&c, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
		return c.Bytes()
	}
	ihdrEnd := 8 + 8 + 13 + 4
	var out bytes.Buffer
	out.Write(p[:ihdrEnd])
	out.Write(chunk("tEXt", []byte("Author\x00"+gpsCanary)))
	out.Write(chunk("iTXt", []byte("Location\x00\x00\x00\x00\x00"+gpsCanary)))
	out.Write(chunk("eXIf", []byte("MM\x00*"+gpsCanary)))
	out.Write(chunk("tIME", []byte{0x07, 0xE9, 1, 2, 3, 4, 5}))
	out.Write(chunk("gAMA", []byte{0, 0, 0xB1, 0x8F}))
	out.Write(p[ihdrEnd:])
	return out.Bytes()
}

// dcmElem is one element for the test DICOM writer.
type dcmElem struct {
	group, elem uint16
	vr          string
	value       []byte
	undefined   bool // encapsulated pixel data: value holds the items already
}

func dcmStr(g, e uint16, vr, s string) dcmElem {
	if len(s)%2 == 1 {
		pad := " "
		if vr == "UI" {
			pad = "\x00"
		}
		s += pad
	}
	return dcmElem{g, e, vr, []byte(s), false}
}

func dcmUS(g, e uint16, v uint16) dcmElem {
	b := make([]byte, 2)
	binary.LittleEndian.PutUint16(b, v)
	return dcmElem{g, e, "US", b, false}
}

// dicomSpec describes a test instance.
type dicomSpec struct {
	ts          string
	rows, cols  int
	frames      int
	spp         int
	photometric string
	bits        int
	signed      bool
	planar      int
	slope       string
	intercept   string
	wc, ww      string
	patientName string
	pixels      []byte   // native pixel data (all frames)
	fragments   [][]byte // encapsulated: one per frame
	study       string
	series      string
	sop         string
	instance    int
}

// makeDICOM writes a Part 10 file in explicit VR little endian (the data
// set syntax is ts, which must be explicit LE for native pixels here).
func makeDICOM(s dicomSpec) []byte {
	if s.ts == "" {
		s.ts = tsExplicitLE
	}
	if s.spp == 0 {
		s.spp = 1
	}
	if s.frames == 0 {
		s.frames = 1
	}
	if s.study == "" {
		s.study = "1.2.826.0.1.3680043.10.1"
	}
	if s.series == "" {
		s.series = s.study + ".1"
	}
	if s.sop == "" {
		s.sop = s.series + ".1"
	}
	le := binary.LittleEndian
	writeElem := func(b *bytes.Buffer, e dcmElem) {
		binary.Write(b, le, []uint16{e.group, e.elem})
		b.WriteString(e.vr)
		switch e.vr {
		case "OB", "OW", "SQ", "UN", "UT":
			b.Write([]byte{0, 0})
			if e.undefined {
				binary.Write(b, le, uint32(undefinedLength))
			} else {
				binary.Write(b, le, uint32(len(e.value)))
			}
		default:
			binary.Write(b, le, uint16(len(e.value)))
		}
		b.Write(e.value)
	}
	var meta bytes.Buffer
	for _, e := range []dcmElem{
		{2, 1, "OB", []byte{0, 1}, false},
		dcmStr(2, 2, "UI", "1.2.840.10008.5.1.4.1.1.7"),
		dcmStr(2, 3, "UI", s.sop),
		dcmStr(2, 0x10, "UI", s.ts),
	} {
		writeElem(&meta, e)
	}
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	le.PutUint32(gl, uint32(meta.Len()))
	writeElem(&out, dcmElem{2, 0, "UL", gl, false})
	out.Write(meta.Bytes())

	els := []dcmElem{
		dcmStr(0x0008, 0x0016, "UI", "1.2.840.10008.5.1.4.1.1.7"),
		dcmStr(0x0008, 0x0018, "UI", s.sop),
		dcmStr(0x0008, 0x0060, "CS", "OT"),
		dcmStr(0x0010, 0x0010, "PN", s.patientName),
		dcmStr(0x0010, 0x0020, "LO", "MRN-"+s.patientName),
		dcmStr(0x0020, 0x000D, "UI", s.study),
		dcmStr(0x0020, 0x000E, "UI", s.series),
		dcmStr(0x0020, 0x0011, "IS", "1"),
		dcmStr(0x0020, 0x0013, "IS", fmt.Sprint(s.instance)),
		dcmUS(0x0028, 0x0002, uint16(s.spp)),
		dcmStr(0x0028, 0x0004, "CS", s.photometric),
		dcmStr(0x0028, 0x0008, "IS", fmt.Sprint(s.frames)),
		dcmUS(0x0028, 0x0010, uint16(s.rows)),
		dcmUS(0x0028, 0x0011, uint16(s.cols)),
		dcmUS(0x0028, 0x0100, uint16(s.bits)),
		dcmUS(0x0028, 0x0101, uint16(s.bits)),
		dcmUS(0x0028, 0x0102, uint16(s.bits-1)),
	}
	pr := uint16(0)
	if s.signed {
		pr = 1
	}
	els = append(els, dcmUS(0x0028, 0x0103, pr))
	if s.spp == 3 {
		els = append(els, dcmUS(0x0028, 0x0006, uint16(s.planar)))
	}
	if s.wc != "" {
		els = append(els, dcmStr(0x0028, 0x1050, "DS", s.wc), dcmStr(0x0028, 0x1051, "DS", s.ww))
	}
	if s.intercept != "" {
		els = append(els, dcmStr(0x0028, 0x1052, "DS", s.intercept), dcmStr(0x0028, 0x1053, "DS", s.slope))
	}
	sort.SliceStable(els, func(i, j int) bool {
		return uint32(els[i].group)<<16|uint32(els[i].elem) < uint32(els[j].group)<<16|uint32(els[j].elem)
	})
	for _, e := range els {
		writeElem(&out, e)
	}
	if s.fragments != nil {
		var items bytes.Buffer
		item := func(b []byte) {
			binary.Write(&items, le, []uint16{0xFFFE, 0xE000})
			binary.Write(&items, le, uint32(len(b)))
			items.Write(b)
		}
		item(nil) // empty basic offset table
		for _, f := range s.fragments {
			if len(f)%2 == 1 {
				f = append(f, 0)
			}
			item(f)
		}
		binary.Write(&items, le, []uint16{0xFFFE, 0xE0DD})
		binary.Write(&items, le, uint32(0))
		writeElem(&out, dcmElem{0x7FE0, 0x0010, "OB", items.Bytes(), true})
	} else {
		vr := "OW"
		if s.bits == 8 {
			vr = "OB"
		}
		px := s.pixels
		if len(px)%2 == 1 {
			px = append(px, 0)
		}
		writeElem(&out, dcmElem{0x7FE0, 0x0010, vr, px, false})
	}
	return out.Bytes()
}

// u16le packs 16-bit samples.
func u16le(vals ...int) []byte {
	b := make([]byte, 2*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint16(b[2*i:], uint16(int16(v)))
		if v >= 0 {
			binary.LittleEndian.PutUint16(b[2*i:], uint16(v))
		}
	}
	return b
}

// rleEncode builds an RLE Lossless frame from byte segments, using only
// literal runs and one replicate run per segment, to exercise both paths.
func rleEncode(segments ...[]byte) []byte {
	var body [][]byte
	for _, s := range segments {
		var b bytes.Buffer
		i := 0
		for i < len(s) {
			// A replicate run where bytes repeat, else a literal.
			j := i
			for j < len(s) && s[j] == s[i] && j-i < 128 {
				j++
			}
			if j-i >= 3 {
				b.WriteByte(byte(int8(-(j - i - 1))))
				b.WriteByte(s[i])
				i = j
				continue
			}
			k := min(len(s), i+min(128, max(1, j-i)))
			b.WriteByte(byte(k - i - 1))
			b.Write(s[i:k])
			i = k
		}
		if b.Len()%2 == 1 {
			b.WriteByte(0x80) // no-op padding
		}
		body = append(body, b.Bytes())
	}
	hdr := make([]byte, 64)
	binary.LittleEndian.PutUint32(hdr, uint32(len(segments)))
	off := 64
	for i, s := range body {
		binary.LittleEndian.PutUint32(hdr[4+4*i:], uint32(off))
		off += len(s)
	}
	out := hdr
	for _, s := range body {
		out = append(out, s...)
	}
	return out
}

func jsonString(t interface{ Fatal(...any) }, v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
