package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"image"
	"image/png"
	"strings"
	"testing"
)

func TestValidateAcceptsEachFormat(t *testing.T) {
	for _, tc := range []struct {
		name        string
		data        []byte
		kind        Kind
		verts, face int64
	}{
		{"binary STL", binarySTL(4), KindSTL, 12, 4},
		{"ASCII STL", []byte(asciiSTL), KindSTL, 6, 2},
		{"OBJ with texture coordinates, normals and a relative index", []byte(objText), KindOBJ, 4, 2},
		{"MTL", []byte("newmtl skin\nKd 1 0.8 0.7\nmap_Kd skin.png\n"), KindMTL, 0, 0},
		{"ASCII PLY with vertex colours", []byte(plyASCII), KindPLY, 3, 1},
		{"binary little-endian PLY", binaryPLY(binary.LittleEndian, true), KindPLY, 3, 1},
		{"binary big-endian PLY", binaryPLY(binary.BigEndian, true), KindPLY, 3, 1},
		{"PLY point cloud", binaryPLY(binary.LittleEndian, false), KindPLY, 3, 0},
		{"GLB", glbTriangle(), KindGLB, 3, 1},
		{"glTF with an embedded buffer", gltfEmbedded("data:application/octet-stream;base64,AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAA"), KindGLTF, 3, 1},
		{"JPEG", jpegWithEXIF(), KindJPEG, 0, 0},
		{"PNG", pngWithText(), KindPNG, 0, 0},
		{"DICOM", makeDICOM(dicomSpec{rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", pixels: u16le(1, 2, 3, 4)}), KindDICOM, 0, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			info, err := Validate(BytesSource(tc.data), SlotAny, Limits{})
			if err != nil {
				t.Fatalf("rejected: %v", err)
			}
			if info.Kind != tc.kind || info.Vertices != tc.verts || info.Faces != tc.face {
				t.Fatalf("got %s %d vertices %d faces, want %s %d %d", info.Kind, info.Vertices, info.Faces, tc.kind, tc.verts, tc.face)
			}
		})
	}
}

func gltfEmbedded(uri string) []byte {
	return []byte(`{"asset":{"version":"2.0"},"buffers":[{"uri":"` + uri + `","byteLength":36}],
"bufferViews":[{"buffer":0,"byteLength":36}],
"accessors":[{"bufferView":0,"componentType":5126,"count":3,"type":"VEC3"}],
"meshes":[{"primitives":[{"attributes":{"POSITION":0}}]}]}`)
}

func TestValidateRejectsWithReason(t *testing.T) {
	stl := binarySTL(3)
	badGLBVersion := glbTriangle()
	binary.LittleEndian.PutUint32(badGLBVersion[4:], 1)
	glbLen := glbTriangle()
	binary.LittleEndian.PutUint32(glbLen[8:], 9999)
	dcmNoMarker := makeDICOM(dicomSpec{rows: 1, cols: 1, bits: 8, photometric: "MONOCHROME2", pixels: []byte{1}})
	copy(dcmNoMarker[128:], "XXXX")
	dcmTrunc := makeDICOM(dicomSpec{rows: 8, cols: 8, bits: 16, photometric: "MONOCHROME2", pixels: make([]byte, 128)})
	dcmTrunc = dcmTrunc[:len(dcmTrunc)-10]
	for _, tc := range []struct {
		name   string
		data   []byte
		slot   Slot
		reason string
	}{
		{"binary STL one byte short", stl[:len(stl)-1], SlotMesh, "binary STL size does not match its triangle count"},
		{"binary STL with NaN", func() []byte {
			b := binarySTL(1)
			binary.LittleEndian.PutUint32(b[84+12:], 0x7FC00000)
			return b
		}(), SlotMesh, "binary STL holds a coordinate that is not a finite number"},
		{"ASCII STL facet with two vertices", []byte(strings.Replace(asciiSTL, "      vertex 0 1 0\n    endloop\n  endfacet\n  facet", "    endloop\n  endfacet\n  facet", 1)), SlotMesh, "ASCII STL line 6: facet does not have 3 vertices"},
		{"ASCII STL without endsolid", []byte(strings.TrimSuffix(asciiSTL, "endsolid cube\n")), SlotMesh, `ASCII STL is truncated: no closing "endsolid"`},
		{"OBJ face past the vertices", []byte("v 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 4\n"), SlotMesh, "OBJ line 4: a face refers to a vertex that does not exist"},
		{"OBJ with a NUL byte", []byte("v 0 0 0\x00\n"), SlotAny, "file type not recognised: expected DICOM, STL, OBJ, PLY, glTF/GLB, JPEG or PNG"},
		{"OBJ vertex with two coordinates", []byte("v 0 0\n"), SlotMesh, "OBJ line 1: a vertex needs x y z (optionally w, or r g b)"},
		{"PLY face past the vertices", []byte(strings.Replace(plyASCII, "3 0 1 2", "3 0 1 3", 1)), SlotMesh, "PLY face refers to a vertex that does not exist"},
		{"PLY truncated", binaryPLY(binary.LittleEndian, true)[:len(binaryPLY(binary.LittleEndian, true))-4], SlotMesh, "PLY file is truncated: face element has fewer rows than its header says"},
		{"PLY without format", []byte("ply\nelement vertex 0\nend_header\n"), SlotMesh, "PLY header has no format line"},
		{"GLB version 1", badGLBVersion, SlotMesh, "GLB version is not 2"},
		{"GLB length field wrong", glbLen, SlotMesh, "GLB length field does not match the file size"},
		{"glTF with an external buffer", gltfEmbedded("https://example.org/mesh.bin"), SlotMesh, "glTF buffer refers to an external file or address; only embedded data: URIs are accepted"},
		{"glTF accessor past its view", []byte(strings.Replace(string(gltfEmbedded("data:application/octet-stream;base64,AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAA")), `"count":3`, `"count":4`, 1)), SlotMesh, "glTF accessor runs past the end of its buffer view"},
		{"PNG where a mesh belongs", pngWithText(), SlotMesh, "this place takes a 3D model (STL, OBJ, PLY, glTF or GLB), but the file is a PNG file"},
		{"truncated PNG", pngWithText()[:len(pngWithText())-40], SlotImage, "PNG image data does not decode"},
		{"not DICOM in the DICOM slot", dcmNoMarker, SlotDICOM, "not a DICOM file: missing DICM marker"},
		{"DICOM pixel data past the end", dcmTrunc, SlotDICOM, "DICOM file is malformed: an element runs past the end of the file"},
		{"empty", nil, SlotAny, "file is empty"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Validate(BytesSource(tc.data), tc.slot, Limits{})
			var rej *Rejection
			if !errors.As(err, &rej) || !errors.Is(err, ErrRejected) {
				t.Fatalf("got %v, want rejection %q", err, tc.reason)
			}
			if rej.Reason != tc.reason {
				t.Fatalf("reason %q, want %q", rej.Reason, tc.reason)
			}
		})
	}
}

func TestLimitsAreEnforced(t *testing.T) {
	_, err := Validate(BytesSource(binarySTL(10)), SlotMesh, Limits{MaxFaces: 5})
	if err == nil || err.Error() != "STL file has more than 5 triangles" {
		t.Fatalf("got %v", err)
	}
	long := "v 0 0 0 " + strings.Repeat("#", 200) + "\n"
	_, err = Validate(BytesSource(long), SlotMesh, Limits{MaxLineBytes: 100})
	if err == nil || err.Error() != "OBJ file has a line longer than 100 bytes" {
		t.Fatalf("got %v", err)
	}
}

func TestFileNamedSTLThatIsPNGIsSniffedAsPNG(t *testing.T) {
	// The name is never consulted: only the bytes are.
	info, err := Validate(BytesSource(pngWithText()), SlotAny, Limits{})
	if err != nil || info.Kind != KindPNG {
		t.Fatalf("got %v %v", info.Kind, err)
	}
}

func TestStripMetadataRemovesGPSAndKeepsPixels(t *testing.T) {
	for _, tc := range []struct {
		kind Kind
		data []byte
	}{{KindJPEG, jpegWithEXIF()}, {KindPNG, pngWithText()}} {
		t.Run(string(tc.kind), func(t *testing.T) {
			orig := append([]byte(nil), tc.data...)
			if !bytes.Contains(orig, []byte(gpsCanary)) {
				t.Fatal("test file lacks the canary")
			}
			var out bytes.Buffer
			if err := StripMetadata(tc.kind, &out, bytes.NewReader(tc.data)); err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(orig, tc.data) {
				t.Fatal("original bytes changed")
			}
			if bytes.Contains(out.Bytes(), []byte(gpsCanary)) || bytes.Contains(out.Bytes(), []byte("Exif")) ||
				bytes.Contains(out.Bytes(), []byte("tEXt")) || bytes.Contains(out.Bytes(), []byte("tIME")) {
				t.Fatal("metadata survived stripping")
			}
			a, _, err := image.Decode(bytes.NewReader(orig))
			if err != nil {
				t.Fatal(err)
			}
			b, _, err := image.Decode(bytes.NewReader(out.Bytes()))
			if err != nil {
				t.Fatalf("stripped copy does not decode: %v", err)
			}
			for _, p := range []image.Point{{0, 0}, {20, 15}, {39, 29}} {
				if a.At(p.X, p.Y) != b.At(p.X, p.Y) {
					t.Fatalf("pixel %v changed: %v → %v", p, a.At(p.X, p.Y), b.At(p.X, p.Y))
				}
			}
			if tc.kind == KindPNG && !bytes.Contains(out.Bytes(), []byte("gAMA")) {
				t.Fatal("colour chunk gAMA was dropped")
			}
		})
	}
}

func TestDICOMIndexHoldsNoPatientName(t *testing.T) {
	d := makeDICOM(dicomSpec{rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", pixels: u16le(1, 2, 3, 4), patientName: "CANARY^Zelda"})
	info, err := ValidateDICOM(BytesSource(d), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	if info.StudyInstanceUID != "1.2.826.0.1.3680043.10.1" || info.Modality != "OT" || info.Rows != 2 || info.Frames != 1 ||
		info.TransferSyntax != "Explicit VR Little Endian" || !info.Viewable {
		t.Fatalf("index: %+v", info)
	}
	if strings.Contains(strings.ToUpper(jsonString(t, info)), "CANARY") {
		t.Fatal("patient name in the index")
	}
}

func pixel(t *testing.T, img image.Image, x, y int) uint8 {
	t.Helper()
	g, ok := img.(*image.Gray)
	if !ok {
		t.Fatalf("image is %T, want gray", img)
	}
	return g.GrayAt(x, y).Y
}

func render(t *testing.T, d []byte, frame int, win *Window) image.Image {
	t.Helper()
	info, err := ValidateDICOM(BytesSource(d), Limits{})
	if err != nil {
		t.Fatal(err)
	}
	img, err := RenderFrame(BytesSource(d), info, frame, win)
	if err != nil {
		t.Fatal(err)
	}
	// Every render must also survive PNG encoding.
	if err := EncodePNG(&bytes.Buffer{}, img); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestRenderNative16BitAppliesRescaleAndWindow(t *testing.T) {
	// Stored 0, 1000, 2000, 4000; slope 1, intercept -1000 → -1000, 0, 1000, 3000 HU.
	d := makeDICOM(dicomSpec{rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", pixels: u16le(0, 1000, 2000, 4000),
		slope: "1", intercept: "-1000", wc: "0", ww: "2000"})
	img := render(t, d, 0, nil)
	// Window 0±1000: -1000 → 0, 0 → ~128, 1000 → 255, 3000 → 255.
	for _, c := range []struct {
		x, y int
		want uint8
	}{{0, 0, 0}, {1, 0, 128}, {0, 1, 255}, {1, 1, 255}} {
		if got := pixel(t, img, c.x, c.y); got != c.want {
			t.Errorf("pixel (%d,%d) = %d, want %d", c.x, c.y, got, c.want)
		}
	}
	// A window from the viewer overrides the file's.
	img = render(t, d, 0, &Window{Center: 1000, Width: 2000})
	if got := pixel(t, img, 0, 1); got != 128 {
		t.Errorf("with window 1000/2000, 1000 HU → %d, want 128", got)
	}
	// Signed pixels are sign-extended.
	d = makeDICOM(dicomSpec{rows: 1, cols: 2, bits: 16, signed: true, photometric: "MONOCHROME2", pixels: u16le(-100, 100), wc: "0", ww: "200"})
	img = render(t, d, 0, nil)
	if a, b := pixel(t, img, 0, 0), pixel(t, img, 1, 0); a != 0 || b != 255 {
		t.Errorf("signed: %d %d, want 0 255", a, b)
	}
}

func TestRenderWindowDefaultsToMinMax(t *testing.T) {
	d := makeDICOM(dicomSpec{rows: 1, cols: 3, bits: 8, photometric: "MONOCHROME2", pixels: []byte{10, 60, 110}})
	img := render(t, d, 0, nil)
	if a, b, c := pixel(t, img, 0, 0), pixel(t, img, 1, 0), pixel(t, img, 2, 0); a != 0 || c != 255 || b < 126 || b > 129 {
		t.Fatalf("min/max window: %d %d %d", a, b, c)
	}
}

func TestRenderMonochrome1IsInverted(t *testing.T) {
	d := makeDICOM(dicomSpec{rows: 1, cols: 2, bits: 8, photometric: "MONOCHROME1", pixels: []byte{0, 255}, wc: "128", ww: "256"})
	img := render(t, d, 0, nil)
	if a, b := pixel(t, img, 0, 0), pixel(t, img, 1, 0); a != 255 || b != 0 {
		t.Fatalf("MONOCHROME1: %d %d, want 255 0", a, b)
	}
}

func TestRenderMultiFrameSelectsTheFrame(t *testing.T) {
	// Three 2×1 frames whose values are 0/100, 50/100, 100/100.
	px := u16le(0, 100, 50, 100, 100, 100)
	d := makeDICOM(dicomSpec{rows: 1, cols: 2, frames: 3, bits: 16, photometric: "MONOCHROME2", pixels: px, wc: "50", ww: "100"})
	for f, want := range []uint8{0, 129, 255} {
		if got := pixel(t, render(t, d, f, nil), 0, 0); got != want {
			t.Errorf("frame %d: %d, want %d", f, got, want)
		}
	}
	info, _ := ValidateDICOM(BytesSource(d), Limits{})
	if _, err := RenderFrame(BytesSource(d), info, 3, nil); !errors.Is(err, ErrNoFrame) {
		t.Fatalf("frame past the end: %v", err)
	}
}

func TestRenderRLE(t *testing.T) {
	// 16-bit: samples 0x0102, 0x0102, 0x0102, 0x0400 → MSB segment then LSB.
	msb := []byte{1, 1, 1, 4}
	lsb := []byte{2, 2, 2, 0}
	d := makeDICOM(dicomSpec{ts: tsRLE, rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", wc: "258", ww: "1",
		fragments: [][]byte{rleEncode(msb, lsb)}})
	img := render(t, d, 0, nil)
	// Window centre 258 width 1: 258 (0x0102) → 255 only if > c-0.5, and 1024 → 255.
	if a, b := pixel(t, img, 0, 0), pixel(t, img, 1, 1); a != 255 || b != 255 {
		t.Fatalf("RLE 16-bit: %d %d", a, b)
	}
	img = render(t, d, 0, &Window{Center: 641, Width: 766}) // 258 → 0, 1024 → 255
	if a, b := pixel(t, img, 0, 0), pixel(t, img, 1, 1); a != 0 || b != 255 {
		t.Fatalf("RLE 16-bit windowed: %d %d, want 0 255", a, b)
	}
	// 8-bit RGB, two frames.
	f1 := rleEncode([]byte{255, 0}, []byte{0, 255}, []byte{0, 0})
	f2 := rleEncode([]byte{0, 0}, []byte{0, 0}, []byte{255, 255})
	d = makeDICOM(dicomSpec{ts: tsRLE, rows: 1, cols: 2, frames: 2, spp: 3, bits: 8, photometric: "RGB", fragments: [][]byte{f1, f2}})
	img = render(t, d, 0, nil)
	if r, g, _, _ := img.At(0, 0).RGBA(); r>>8 != 255 || g != 0 {
		t.Fatalf("RLE RGB frame 0 pixel 0: %v", img.At(0, 0))
	}
	if _, g, _, _ := img.At(1, 0).RGBA(); g>>8 != 255 {
		t.Fatalf("RLE RGB frame 0 pixel 1: %v", img.At(1, 0))
	}
	if _, _, b, _ := render(t, d, 1, nil).At(1, 0).RGBA(); b>>8 != 255 {
		t.Fatal("RLE RGB frame 1 is not blue")
	}
}

func TestRenderNativeRGBInterleavedAndPlanar(t *testing.T) {
	for _, tc := range []struct {
		planar int
		px     []byte
	}{{0, []byte{255, 0, 0, 0, 255, 0}}, {1, []byte{255, 0, 0, 255, 0, 0}}} {
		d := makeDICOM(dicomSpec{rows: 1, cols: 2, spp: 3, planar: tc.planar, bits: 8, photometric: "RGB", pixels: tc.px})
		img := render(t, d, 0, nil)
		r0, g0, _, _ := img.At(0, 0).RGBA()
		r1, g1, _, _ := img.At(1, 0).RGBA()
		if r0>>8 != 255 || g0 != 0 || r1 != 0 || g1>>8 != 255 {
			t.Fatalf("planar %d: %v %v", tc.planar, img.At(0, 0), img.At(1, 0))
		}
	}
}

func TestRenderJPEG2000IsNotViewable(t *testing.T) {
	d := makeDICOM(dicomSpec{ts: tsJ2KLossless, rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", fragments: [][]byte{[]byte("\xFF\x4F\xFF\x51fake")}})
	info, err := ValidateDICOM(BytesSource(d), Limits{})
	if err != nil {
		t.Fatalf("a JPEG 2000 file is stored, not rejected: %v", err)
	}
	_, err = RenderFrame(BytesSource(d), info, 0, nil)
	var nv *NotViewableError
	if !errors.Is(err, ErrNotViewable) || !errors.As(err, &nv) {
		t.Fatalf("got %v", err)
	}
	if want := "this transfer syntax (JPEG 2000 (Lossless Only)) is stored but cannot be displayed in the browser viewer"; nv.Reason != want {
		t.Fatalf("reason %q", nv.Reason)
	}
}

func TestThumbnailsFitIn256(t *testing.T) {
	d := makeDICOM(dicomSpec{rows: 300, cols: 600, frames: 3, bits: 8, photometric: "MONOCHROME2", pixels: make([]byte, 3*300*600)})
	info, _ := ValidateDICOM(BytesSource(d), Limits{})
	for _, tc := range []struct {
		kind Kind
		src  Source
		info *DICOMInfo
	}{{KindDICOM, BytesSource(d), info}, {KindJPEG, BytesSource(jpegWithEXIF()), nil}} {
		b, err := Thumbnail(tc.kind, tc.src, tc.info)
		if err != nil {
			t.Fatal(err)
		}
		cfg, err := png.DecodeConfig(bytes.NewReader(b))
		if err != nil || cfg.Width > ThumbSize || cfg.Height > ThumbSize {
			t.Fatalf("%s thumbnail %dx%d %v", tc.kind, cfg.Width, cfg.Height, err)
		}
		if bytes.Contains(b, []byte(gpsCanary)) {
			t.Fatal("metadata in a thumbnail")
		}
	}
	if _, err := Thumbnail(KindSTL, BytesSource(binarySTL(1)), nil); !errors.Is(err, ErrNoThumbnail) {
		t.Fatalf("mesh thumbnail: %v", err)
	}
}

func TestGroupStudiesOrdersSeriesAndInstances(t *testing.T) {
	mk := func(id, study, series string, sn, in int) IndexedInstance {
		return IndexedInstance{FileID: id, Info: DICOMInfo{StudyInstanceUID: study, SeriesInstanceUID: series, SeriesNumber: sn, InstanceNumber: in}}
	}
	got := GroupStudies([]IndexedInstance{
		mk("a", "s1", "s1.2", 2, 2), mk("b", "s1", "s1.1", 1, 1), mk("c", "s2", "s2.1", 1, 1), mk("d", "s1", "s1.2", 2, 1),
	})
	if len(got) != 2 || got[0].StudyInstanceUID != "s1" || len(got[0].Series) != 2 {
		t.Fatalf("%+v", got)
	}
	s := got[0].Series[1]
	if s.SeriesInstanceUID != "s1.2" || s.Instances[0].FileID != "d" || s.Instances[1].FileID != "a" {
		t.Fatalf("series order: %+v", got[0].Series)
	}
}
