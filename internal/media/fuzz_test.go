package media

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
)

// Fuzz limits are small so that a hostile header cannot make one iteration
// allocate much: what the fuzzer hunts is panics and hangs.
var fuzzLimits = Limits{MaxVertices: 1 << 16, MaxFaces: 1 << 16, MaxPixels: 1 << 16, MaxFrames: 64, MaxJSONBytes: 1 << 20, MaxLineBytes: 4096}

func FuzzDICOM(f *testing.F) {
	f.Add(makeDICOM(dicomSpec{rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME2", pixels: u16le(1, 2, 3, 4)}))
	f.Add(makeDICOM(dicomSpec{rows: 1, cols: 2, spp: 3, bits: 8, photometric: "RGB", pixels: []byte{1, 2, 3, 4, 5, 6}}))
	f.Add(makeDICOM(dicomSpec{ts: tsRLE, rows: 2, cols: 2, bits: 16, photometric: "MONOCHROME1", fragments: [][]byte{rleEncode([]byte{1, 1, 1, 4}, []byte{2, 2, 2, 0})}}))
	f.Add(makeDICOM(dicomSpec{ts: tsImplicitLE, rows: 1, cols: 1, bits: 8, photometric: "MONOCHROME2", pixels: []byte{7}}))
	f.Fuzz(func(t *testing.T, data []byte) {
		// The walk is our code: it runs without a recover.
		_, _ = walkDICOM(bytes.NewReader(data), int64(len(data)), fuzzLimits)
		info, err := ValidateDICOM(BytesSource(data), fuzzLimits)
		if err != nil || !info.Viewable {
			return
		}
		for _, fr := range []int{0, info.Frames - 1} {
			if img, err := RenderFrame(BytesSource(data), info, fr, &Window{Center: 40, Width: 400}); err == nil {
				_ = EncodePNG(io.Discard, img)
			}
		}
	})
}

func FuzzSTL(f *testing.F) {
	f.Add(binarySTL(2))
	f.Add([]byte(asciiSTL))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ValidateSTL(bytes.NewReader(data), int64(len(data)), fuzzLimits)
	})
}

func FuzzOBJ(f *testing.F) {
	f.Add([]byte(objText))
	f.Add([]byte("newmtl a\nKd 1 1 1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ValidateOBJ(bytes.NewReader(data), fuzzLimits)
		_ = ValidateMTL(bytes.NewReader(data), fuzzLimits)
	})
}

func FuzzPLY(f *testing.F) {
	f.Add([]byte(plyASCII))
	f.Add(binaryPLY(binary.LittleEndian, true))
	f.Add(binaryPLY(binary.BigEndian, false))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ValidatePLY(bytes.NewReader(data), fuzzLimits)
	})
}

func FuzzGLTF(f *testing.F) {
	f.Add(glbTriangle())
	f.Add(gltfEmbedded("data:application/octet-stream;base64,AAAAAAAAAAAAAAAAAACAPwAAAAAAAAAAAAAAAAAAgD8AAAAA"))
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = ValidateGLB(bytes.NewReader(data), int64(len(data)), fuzzLimits)
		_, _ = ValidateGLTF(bytes.NewReader(data), fuzzLimits)
	})
}

// FuzzSniff runs the whole front door: sniffing, every parser through
// Validate, and metadata stripping of whatever validates as a photograph.
func FuzzSniff(f *testing.F) {
	f.Add(pngWithText())
	f.Add(jpegWithEXIF())
	f.Add(binarySTL(1))
	f.Add([]byte(plyASCII))
	f.Add(glbTriangle())
	f.Fuzz(func(t *testing.T, data []byte) {
		_ = Sniff(data, int64(len(data)))
		for _, k := range []Kind{KindJPEG, KindPNG} {
			_ = StripMetadata(k, io.Discard, bytes.NewReader(data))
		}
		info, err := Validate(BytesSource(data), SlotAny, fuzzLimits)
		if err == nil && info.Kind.IsImage() {
			var out bytes.Buffer
			if err := StripMetadata(info.Kind, &out, bytes.NewReader(data)); err == nil {
				if _, err := decodeImage(info.Kind, &out); err != nil {
					t.Fatalf("a valid %s no longer decodes after stripping: %v", info.Kind, err)
				}
			}
		}
	})
}

func FuzzContentRange(f *testing.F) {
	for _, s := range []string{"bytes 0-99/100", "bytes 100-199/*", "bytes 5-4/10", "bytes -1-2/3", "bytes 0-0/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseContentRange(s)
		if err != nil {
			return
		}
		if c.Start < 0 || c.End < c.Start || c.Len() <= 0 || (c.Total >= 0 && c.End >= c.Total) {
			t.Fatalf("%q parsed to an impossible range %+v", s, c)
		}
	})
}
