package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/jpeg"
	"image/png"
	"io"
	"math"
)

// PixelLayout locates pixel data inside a DICOM file: a native value at
// Offset of Length bytes, or (Length -1) encapsulated fragments as
// [offset, length] pairs with the basic offset table.
type PixelLayout struct {
	Offset       int64      `json:"offset,omitempty"`
	Length       int64      `json:"length"`
	BasicOffsets []uint32   `json:"bot,omitempty"`
	Fragments    [][2]int64 `json:"fragments,omitempty"`
}

// Window is a display window (DICOM VOI LUT linear function) in modality
// units, after RescaleSlope and RescaleIntercept.
type Window struct {
	Center, Width float64
}

// RenderFrame renders one frame (0-based) of a DICOM file for the browser
// viewer, from its index (ValidateDICOM). What renders:
//
//   - native (uncompressed) Implicit VR Little Endian, Explicit VR Little
//     Endian and Explicit VR Big Endian;
//   - RLE Lossless (decoded here, PS3.5 Annex G);
//   - JPEG Baseline (Process 1), and JPEG Extended with 8-bit samples;
//   - MONOCHROME1 and MONOCHROME2 with 8 or 16 bits allocated, signed or
//     unsigned, with RescaleSlope/Intercept applied and then the window from
//     win, else the file's WindowCenter/Width, else the frame's min/max;
//     MONOCHROME1 is inverted so that it looks like MONOCHROME2;
//   - RGB (interleaved or planar) and YBR_FULL with 8 bits per sample;
//   - every frame of a multi-frame file.
//
// Everything else — JPEG Lossless, JPEG-LS, JPEG 2000, 12-bit JPEG,
// deflated files, palette colour, 1- and 32-bit samples — is stored and can
// be downloaded by its uploader, but yields ErrNotViewable naming why.
func RenderFrame(src Source, info *DICOMInfo, frame int, win *Window) (image.Image, error) {
	if !info.Viewable {
		return nil, &NotViewableError{TransferSyntaxUID: info.TransferSyntaxUID, Reason: info.NotViewable}
	}
	if frame < 0 || frame >= info.Frames {
		return nil, fmt.Errorf("render frame %d: %w", frame, ErrNoFrame)
	}
	data, err := readFrame(src, info, frame)
	if err != nil {
		return nil, err
	}
	return decodeFrame(info, data, win)
}

// ErrNoFrame means the frame index is outside the file's frames.
var ErrNoFrame = errors.New("media: no such frame")

// errFrameData is a file whose pixel data does not hold what its header says.
var errFrameData = &Rejection{Kind: KindDICOM, Reason: "DICOM pixel data is shorter than its rows, columns and frames require"}

func frameBytes(info *DICOMInfo) int64 {
	return int64(info.Rows) * int64(info.Columns) * int64(info.SamplesPerPixel) * int64(info.BitsAllocated/8)
}

// readFrame reads the bytes of one frame: the native slice, or the
// frame's fragments concatenated.
func readFrame(src Source, info *DICOMInfo, frame int) ([]byte, error) {
	pl := info.Pixels
	var spans [][2]int64
	if pl.Length >= 0 {
		fb := frameBytes(info)
		off := int64(frame) * fb
		if off+fb > pl.Length {
			return nil, errFrameData
		}
		spans = [][2]int64{{pl.Offset + off, fb}}
	} else {
		var err error
		if spans, err = frameFragments(pl, info.Frames, frame); err != nil {
			return nil, err
		}
	}
	total := int64(0)
	for _, s := range spans {
		total += s[1]
	}
	if total > 8*frameBytes(info)+1<<20 {
		return nil, errFrameData
	}
	rc, err := src.Open()
	if err != nil {
		return nil, fmt.Errorf("open DICOM: %w", err)
	}
	defer rc.Close()
	br := bufio.NewReaderSize(rc, 64<<10)
	out := make([]byte, 0, total)
	pos := int64(0)
	for _, s := range spans {
		if s[0] < pos {
			return nil, errFrameData
		}
		if _, err := io.CopyN(io.Discard, br, s[0]-pos); err != nil {
			return nil, fmt.Errorf("read DICOM frame: %w", err)
		}
		n := len(out)
		out = out[:n+int(s[1])]
		if _, err := io.ReadFull(br, out[n:]); err != nil {
			return nil, fmt.Errorf("read DICOM frame: %w", err)
		}
		pos = s[0] + s[1]
	}
	return out, nil
}

// frameFragments maps a frame to its fragments: by the basic offset table
// when there is one, else one fragment per frame, else all fragments for a
// single frame.
func frameFragments(pl *PixelLayout, frames, frame int) ([][2]int64, error) {
	fr := pl.Fragments
	if len(fr) == 0 {
		return nil, errFrameData
	}
	switch {
	case len(pl.BasicOffsets) == frames:
		base := fr[0][0] - 8 // offsets count from the first fragment's item tag
		lo := int64(pl.BasicOffsets[frame])
		hi := int64(math.MaxInt64)
		if frame+1 < frames {
			hi = int64(pl.BasicOffsets[frame+1])
		}
		var out [][2]int64
		for _, f := range fr {
			rel := f[0] - 8 - base
			if rel >= lo && rel < hi {
				out = append(out, f)
			}
		}
		if len(out) == 0 {
			return nil, errFrameData
		}
		return out, nil
	case len(fr) == frames:
		return fr[frame : frame+1], nil
	case frames == 1:
		return fr, nil
	}
	return nil, &NotViewableError{Reason: "this file's compressed frames cannot be told apart (no basic offset table), so it cannot be displayed in the browser viewer"}
}

// decodeFrame turns a frame's bytes into an image.
func decodeFrame(info *DICOMInfo, data []byte, win *Window) (image.Image, error) {
	vals, colour, err := decodeSamples(info, data)
	if err != nil {
		return nil, err
	}
	if colour != nil {
		return colour, nil
	}
	return windowGray(vals, info.Columns, info.Rows, info, win), nil
}

// decodeSamples turns a frame's bytes into modality values (grayscale, after
// RescaleSlope and RescaleIntercept, row by row) or, for colour, an RGBA
// image; exactly one of the two is set.
func decodeSamples(info *DICOMInfo, data []byte) ([]float64, *image.RGBA, error) {
	ci := *info // decodeRLE marks its output planar
	info = &ci
	w, h := info.Columns, info.Rows
	switch info.TransferSyntaxUID {
	case tsRLE:
		var err error
		if data, err = decodeRLE(data, info); err != nil {
			return nil, nil, err
		}
	case tsJPEGBaseline, tsJPEGExtended:
		// The JPEG's own header decides what the decoder allocates; it must
		// agree with the DICOM header, which was checked against the limits.
		cfg, err := jpeg.DecodeConfig(bytes.NewReader(data))
		if err != nil || cfg.Width != w || cfg.Height != h {
			return nil, nil, &Rejection{Kind: KindDICOM, Reason: "DICOM JPEG frame does not match the image's rows and columns"}
		}
		img, err := jpeg.Decode(bytes.NewReader(data))
		if err != nil {
			return nil, nil, &Rejection{Kind: KindDICOM, Reason: "DICOM JPEG frame does not decode"}
		}
		if g, ok := img.(*image.Gray); ok && info.SamplesPerPixel == 1 {
			if g.Rect.Dx() != w || g.Rect.Dy() != h {
				return nil, nil, errFrameData
			}
			vals := make([]float64, w*h)
			for y := 0; y < h; y++ {
				for x := 0; x < w; x++ {
					vals[y*w+x] = float64(g.Pix[y*g.Stride+x])*info.RescaleSlope + info.RescaleIntercept
				}
			}
			return vals, nil, nil
		}
		rgba := image.NewRGBA(img.Bounds())
		draw.Draw(rgba, rgba.Rect, img, img.Bounds().Min, draw.Src)
		return nil, rgba, nil
	}
	need := frameBytes(info)
	if int64(len(data)) < need {
		return nil, nil, errFrameData
	}
	if info.SamplesPerPixel == 3 {
		return nil, nativeColour(data, info), nil
	}
	var bo binary.ByteOrder = binary.LittleEndian
	if info.TransferSyntaxUID == tsExplicitBE {
		bo = binary.BigEndian
	}
	vals := make([]float64, w*h)
	bits := info.BitsStored
	if bits <= 0 || bits > info.BitsAllocated {
		bits = info.BitsAllocated
	}
	mask := uint32(1)<<bits - 1
	for i := range vals {
		var u uint32
		if info.BitsAllocated == 8 {
			u = uint32(data[i])
		} else {
			u = uint32(bo.Uint16(data[2*i:]))
		}
		u &= mask
		v := int64(u)
		if info.PixelRepresentation == 1 && u&(1<<(bits-1)) != 0 {
			v -= int64(1) << bits
		}
		vals[i] = float64(v)*info.RescaleSlope + info.RescaleIntercept
	}
	return vals, nil, nil
}

// nativeInt16 is FramePixels' fast path for the common CT and MR case:
// native grayscale with a whole-number rescale whose values all fit int16,
// converted without the float64 detour. ok is false when it does not
// apply; the general path then decodes.
func nativeInt16(info *DICOMInfo, data []byte) (Pixels, bool) {
	slope, icpt := info.RescaleSlope, info.RescaleIntercept
	switch {
	case info.TransferSyntaxUID != tsImplicitLE && info.TransferSyntaxUID != tsExplicitLE && info.TransferSyntaxUID != tsExplicitBE,
		info.SamplesPerPixel != 1, info.BitsAllocated != 16,
		slope != math.Trunc(slope), icpt != math.Trunc(icpt), math.Abs(slope) > 1<<16, math.Abs(icpt) > 1<<20:
		return Pixels{}, false
	}
	n := info.Rows * info.Columns
	if len(data) < 2*n {
		return Pixels{}, false
	}
	bits := info.BitsStored
	if bits <= 0 || bits > 16 {
		bits = 16
	}
	mask, sign := uint32(1)<<bits-1, uint32(1)<<(bits-1)
	var bo binary.ByteOrder = binary.LittleEndian
	if info.TransferSyntaxUID == tsExplicitBE {
		bo = binary.BigEndian
	}
	m, c := int64(slope), int64(icpt)
	out := make([]byte, 2*n)
	for i := 0; i < n; i++ {
		u := uint32(bo.Uint16(data[2*i:])) & mask
		v := int64(u)
		if info.PixelRepresentation == 1 && u&sign != 0 {
			v -= int64(1) << bits
		}
		v = v*m + c
		if v < math.MinInt16 || v > math.MaxInt16 {
			return Pixels{}, false
		}
		binary.LittleEndian.PutUint16(out[2*i:], uint16(int16(v)))
	}
	return Pixels{Width: info.Columns, Height: info.Rows, Format: PixelInt16, Data: out}, true
}

// PixelFormat is how FramePixels lays out a frame's samples.
type PixelFormat string

// The formats, all little endian, row by row from the top left.
const (
	PixelInt16   PixelFormat = "int16"   // grayscale modality values that are whole numbers in int16's range
	PixelFloat32 PixelFormat = "float32" // other grayscale modality values
	PixelRGBA8   PixelFormat = "rgba8"   // colour, 4 bytes a pixel, already for display
)

// Pixels is one frame decoded for a viewer that windows on its own (the
// browser's canvas): grayscale as modality values, so the window is applied
// in the browser without asking the server again.
type Pixels struct {
	Width, Height int
	Format        PixelFormat
	Data          []byte
}

// FramePixels decodes one frame (0-based) of a DICOM file into Pixels. It
// decodes what RenderFrame decodes and refuses what it refuses.
func FramePixels(src Source, info *DICOMInfo, frame int) (Pixels, error) {
	if !info.Viewable {
		return Pixels{}, &NotViewableError{TransferSyntaxUID: info.TransferSyntaxUID, Reason: info.NotViewable}
	}
	if frame < 0 || frame >= info.Frames {
		return Pixels{}, fmt.Errorf("frame pixels %d: %w", frame, ErrNoFrame)
	}
	data, err := readFrame(src, info, frame)
	if err != nil {
		return Pixels{}, err
	}
	if px, ok := nativeInt16(info, data); ok {
		return px, nil
	}
	vals, colour, err := decodeSamples(info, data)
	if err != nil {
		return Pixels{}, err
	}
	px := Pixels{Width: info.Columns, Height: info.Rows}
	if colour != nil {
		px.Format, px.Data = PixelRGBA8, colour.Pix
		return px, nil
	}
	whole := true
	for _, v := range vals {
		if v != math.Trunc(v) || v < math.MinInt16 || v > math.MaxInt16 {
			whole = false
			break
		}
	}
	if whole {
		px.Format, px.Data = PixelInt16, make([]byte, 2*len(vals))
		for i, v := range vals {
			binary.LittleEndian.PutUint16(px.Data[2*i:], uint16(int16(v)))
		}
		return px, nil
	}
	px.Format, px.Data = PixelFloat32, make([]byte, 4*len(vals))
	for i, v := range vals {
		binary.LittleEndian.PutUint32(px.Data[4*i:], math.Float32bits(float32(v)))
	}
	return px, nil
}

// windowGray applies the VOI linear function (PS3.3 C.11.2.1.2) and
// MONOCHROME1 inversion.
func windowGray(vals []float64, w, h int, info *DICOMInfo, win *Window) *image.Gray {
	c, width := info.WindowCenter, info.WindowWidth
	if win != nil && win.Width >= 1 {
		c, width = win.Center, win.Width
	} else if width < 1 {
		lo, hi := math.Inf(1), math.Inf(-1)
		for _, v := range vals {
			lo, hi = math.Min(lo, v), math.Max(hi, v)
		}
		c, width = (lo+hi)/2+0.5, hi-lo+1
	}
	if width < 1 {
		width = 1
	}
	img := image.NewGray(image.Rect(0, 0, w, h))
	lo := c - 0.5 - (width-1)/2
	hi := c - 0.5 + (width-1)/2
	invert := info.Photometric == "MONOCHROME1"
	for i, v := range vals {
		var y float64
		switch {
		case v <= lo:
			y = 0
		case v > hi:
			y = 255
		default:
			y = ((v-(c-0.5))/(width-1) + 0.5) * 255
		}
		b := uint8(math.Round(math.Max(0, math.Min(255, y))))
		if invert {
			b = 255 - b
		}
		img.Pix[i] = b
	}
	return img
}

// nativeColour builds an RGBA image from 8-bit RGB or YBR_FULL samples,
// interleaved (planar configuration 0) or planar (1).
func nativeColour(data []byte, info *DICOMInfo) *image.RGBA {
	w, h := info.Columns, info.Rows
	n := w * h
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	ybr := info.Photometric == "YBR_FULL"
	for i := 0; i < n; i++ {
		var a, b, c byte
		if info.PlanarConfiguration == 1 {
			a, b, c = data[i], data[n+i], data[2*n+i]
		} else {
			a, b, c = data[3*i], data[3*i+1], data[3*i+2]
		}
		if ybr {
			a, b, c = color.YCbCrToRGB(a, b, c)
		}
		img.Pix[4*i], img.Pix[4*i+1], img.Pix[4*i+2], img.Pix[4*i+3] = a, b, c, 255
	}
	return img
}

// decodeRLE decodes one RLE Lossless frame (PS3.5 Annex G) into native
// little-endian layout: a 64-byte header of segment count and offsets, then
// one PackBits segment per byte of each sample, most significant byte
// first. Colour comes out planar, which nativeColour reads when the result
// is marked planar.
func decodeRLE(data []byte, info *DICOMInfo) ([]byte, error) {
	bad := &Rejection{Kind: KindDICOM, Reason: "DICOM RLE frame is malformed"}
	if len(data) < 64 {
		return nil, bad
	}
	bps := info.BitsAllocated / 8
	px := info.Rows * info.Columns
	// PackBits expands at most 64 times (2 bytes → 128), so a frame that
	// claims more pixels than its data could hold is refused before the
	// output is allocated.
	if int64(px)*int64(info.SamplesPerPixel*bps) > 64*int64(len(data)) {
		return nil, bad
	}
	nseg := int(binary.LittleEndian.Uint32(data))
	if nseg != info.SamplesPerPixel*bps || nseg < 1 || nseg > 15 {
		return nil, bad
	}
	var offs [16]int
	for i := 0; i < nseg; i++ {
		offs[i] = int(binary.LittleEndian.Uint32(data[4+4*i:]))
	}
	offs[nseg] = len(data)
	out := make([]byte, px*nseg)
	seg := make([]byte, px)
	for s := 0; s < nseg; s++ {
		lo, hi := offs[s], offs[s+1]
		if s == nseg-1 {
			hi = len(data)
		}
		if lo < 64 || hi > len(data) || lo > hi {
			return nil, bad
		}
		n := packBits(seg, data[lo:hi])
		clear(seg[n:]) // a short segment leaves zeros, not stale bytes
		sample, byteIdx := s/bps, s%bps
		// Native little endian: the segment of the most significant byte
		// (byteIdx 0) goes to the highest byte of the sample.
		lePos := bps - 1 - byteIdx
		for i := 0; i < px; i++ {
			if info.SamplesPerPixel == 1 {
				out[i*bps+lePos] = seg[i]
			} else {
				out[sample*px+i] = seg[i] // planar, 8-bit colour only
			}
		}
	}
	if info.SamplesPerPixel > 1 {
		info.PlanarConfiguration = 1
	}
	return out, nil
}

// packBits decodes a PackBits run into dst, stopping when dst is full.
func packBits(dst, src []byte) int {
	n := 0
	for i := 0; i < len(src) && n < len(dst); {
		c := int8(src[i])
		i++
		switch {
		case c >= 0:
			k := int(c) + 1
			if i+k > len(src) {
				k = len(src) - i
			}
			n += copy(dst[n:], src[i:i+k])
			i += k
		case c != -128:
			if i >= len(src) {
				return n
			}
			k := -int(c) + 1
			for ; k > 0 && n < len(dst); k-- {
				dst[n] = src[i]
				n++
			}
			i++
		}
	}
	return n
}

// EncodePNG writes img as a PNG quickly: viewing favours speed over size.
func EncodePNG(w io.Writer, img image.Image) error {
	enc := png.Encoder{CompressionLevel: png.BestSpeed}
	return enc.Encode(w, img)
}
