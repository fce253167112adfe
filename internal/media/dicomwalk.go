package media

import (
	"bufio"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/suyashkumar/dicom/pkg/tag"
)

// The DICOM wrapper: before the dicom library sees a file, walk checks its
// structure element by element without keeping any values: the Part 10
// preamble and DICM marker, the file meta group, then every element and
// nested sequence item of the data set, with each length checked against
// what is left of its container and of the file. The library allocates a
// buffer of whatever length an element claims, so this walk is what keeps a
// ten-byte file from asking for four gigabytes. It also finds where the
// pixel data lies (native, or the fragments of an encapsulated stream), so
// frames are read straight from the file later.

// Transfer syntaxes the walker and renderer know by UID.
const (
	tsImplicitLE     = "1.2.840.10008.1.2"
	tsExplicitLE     = "1.2.840.10008.1.2.1"
	tsDeflatedLE     = "1.2.840.10008.1.2.1.99"
	tsExplicitBE     = "1.2.840.10008.1.2.2"
	tsJPEGBaseline   = "1.2.840.10008.1.2.4.50"
	tsJPEGExtended   = "1.2.840.10008.1.2.4.51"
	tsJPEGLossless   = "1.2.840.10008.1.2.4.57"
	tsJPEGLosslessSV = "1.2.840.10008.1.2.4.70"
	tsJPEGLSLossless = "1.2.840.10008.1.2.4.80"
	tsJPEGLSNear     = "1.2.840.10008.1.2.4.81"
	tsJ2KLossless    = "1.2.840.10008.1.2.4.90"
	tsJ2K            = "1.2.840.10008.1.2.4.91"
	tsRLE            = "1.2.840.10008.1.2.5"
)

// TransferSyntaxName names a transfer syntax UID for people.
func TransferSyntaxName(uid string) string {
	switch uid {
	case tsImplicitLE:
		return "Implicit VR Little Endian"
	case tsExplicitLE:
		return "Explicit VR Little Endian"
	case tsDeflatedLE:
		return "Deflated Explicit VR Little Endian"
	case tsExplicitBE:
		return "Explicit VR Big Endian"
	case tsJPEGBaseline:
		return "JPEG Baseline (Process 1)"
	case tsJPEGExtended:
		return "JPEG Extended (Process 2 & 4)"
	case tsJPEGLossless:
		return "JPEG Lossless, Non-Hierarchical (Process 14)"
	case tsJPEGLosslessSV:
		return "JPEG Lossless, First-Order Prediction (Process 14, SV1)"
	case tsJPEGLSLossless:
		return "JPEG-LS Lossless"
	case tsJPEGLSNear:
		return "JPEG-LS Near-Lossless"
	case tsJ2KLossless:
		return "JPEG 2000 (Lossless Only)"
	case tsJ2K:
		return "JPEG 2000"
	case "1.2.840.10008.1.2.4.92", "1.2.840.10008.1.2.4.93":
		return "JPEG 2000 Part 2 Multi-component"
	case "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203":
		return "High-Throughput JPEG 2000"
	case "1.2.840.10008.1.2.4.100", "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
		"1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106":
		return "MPEG video"
	case tsRLE:
		return "RLE Lossless"
	}
	return "unknown transfer syntax"
}

// fragment is one item of an encapsulated pixel data stream.
type fragment struct{ off, len int64 }

// dicomLayout is what the walk learned about a file.
type dicomLayout struct {
	ts        string
	pixelTag  int64      // offset of the top-level (7FE0,0010) tag; -1 if none
	pixelOff  int64      // native: offset of the value
	pixelLen  int64      // native: its length; -1 when encapsulated
	offsets   []uint32   // encapsulated: the basic offset table
	fragments []fragment // encapsulated: every fragment after the table
}

const (
	maxDICOMDepth     = 16
	maxDICOMElements  = 1 << 20
	maxDICOMFragments = 1 << 20
	undefinedLength   = 0xFFFFFFFF
)

type dicomWalker struct {
	r         *bufio.Reader
	pos       int64 // offset in the (inflated, when deflated) stream
	size      int64 // -1 when unknown (deflated)
	bo        binary.ByteOrder
	explicit  bool
	elements  int
	header    int64 // bytes of non-pixel values seen
	maxHeader int64
	lay       dicomLayout
}

var errDICM = reject(KindDICOM, "not a DICOM file: missing DICM marker")

func dicomBad(format string, args ...any) error {
	return reject(KindDICOM, "DICOM file is malformed: "+format, args...)
}

func (w *dicomWalker) read(b []byte) error {
	n, err := io.ReadFull(w.r, b)
	w.pos += int64(n)
	if err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return dicomBad("truncated")
		}
		return fmt.Errorf("read DICOM: %w", err)
	}
	return nil
}

func (w *dicomWalker) skip(n int64) error {
	m, err := w.r.Discard(int(min(n, 1<<30)))
	w.pos += int64(m)
	for err == nil && int64(m) < n {
		n -= int64(m)
		m, err = w.r.Discard(int(min(n, 1<<30)))
		w.pos += int64(m)
	}
	if err != nil {
		if errors.Is(err, io.EOF) {
			return dicomBad("truncated")
		}
		return fmt.Errorf("read DICOM: %w", err)
	}
	return nil
}

// walkDICOM walks a Part 10 file. The returned layout's offsets are only
// meaningful for non-deflated transfer syntaxes.
func walkDICOM(r io.Reader, size int64, lim Limits) (*dicomLayout, error) {
	w := &dicomWalker{r: bufio.NewReaderSize(r, 64<<10), size: size, bo: binary.LittleEndian, explicit: true,
		maxHeader: dicomHeaderLimit(lim)}
	w.lay.pixelTag = -1
	var pre [132]byte
	if _, err := io.ReadFull(w.r, pre[:]); err != nil || string(pre[128:]) != "DICM" {
		return nil, errDICM
	}
	w.pos = 132
	if err := w.walkMeta(); err != nil {
		return nil, err
	}
	switch w.lay.ts {
	case tsImplicitLE:
		w.explicit = false
	case tsExplicitBE:
		w.bo = binary.BigEndian
	case tsDeflatedLE:
		// The data set is a raw deflate stream; walk the inflated bytes,
		// with no file size to check lengths against (the header budget
		// and a cap on the inflated size bound it instead).
		fr := flate.NewReader(io.LimitReader(w.r, max(size-w.pos, 0)))
		defer fr.Close()
		cap := 4 * lim.orDefault().MaxFileSize
		w.r = bufio.NewReaderSize(io.LimitReader(fr, cap), 64<<10)
		w.size = -1
	}
	// Some writers declare an explicit syntax but write implicit VR; the
	// first element shows which (a VR is two capital letters).
	if w.explicit {
		if b, err := w.r.Peek(6); err == nil && !(isUpper(b[4]) && isUpper(b[5])) {
			w.explicit = false
		}
	}
	if err := w.walkItems(-1, 0, true); err != nil {
		return nil, err
	}
	return &w.lay, nil
}

func dicomHeaderLimit(lim Limits) int64 { return 64 << 20 }

// walkMeta reads the file meta group (always explicit VR little endian).
func (w *dicomWalker) walkMeta() error {
	for {
		g, err := w.r.Peek(2)
		if err != nil || binary.LittleEndian.Uint16(g) != 0x0002 {
			break
		}
		grp, el, vr, vl, err := w.elementHeader()
		if err != nil {
			return err
		}
		if grp != 2 || vl == undefinedLength || vr == "SQ" {
			return dicomBad("file meta information is malformed")
		}
		if err := w.checkLen(int64(vl), -1); err != nil {
			return err
		}
		if vl > 1024 {
			if err := w.skip(int64(vl)); err != nil {
				return err
			}
			continue
		}
		v := make([]byte, vl)
		if err := w.read(v); err != nil {
			return err
		}
		if el == 0x0010 {
			w.lay.ts = strings.TrimRight(string(v), "\x00 ")
		}
	}
	if w.lay.ts == "" {
		return reject(KindDICOM, "DICOM file meta information has no transfer syntax")
	}
	return nil
}

// elementHeader reads a tag, VR (explicit) and value length.
func (w *dicomWalker) elementHeader() (grp, el uint16, vr string, vl uint32, err error) {
	var b [8]byte
	if err = w.read(b[:4]); err != nil {
		return
	}
	bo := w.bo
	grp, el = bo.Uint16(b[0:]), bo.Uint16(b[2:])
	if w.elements++; w.elements > maxDICOMElements {
		err = dicomBad("more than %d elements", maxDICOMElements)
		return
	}
	if grp == 0xFFFE { // items and delimiters: tag + 4-byte length, no VR
		if err = w.read(b[:4]); err != nil {
			return
		}
		vl = bo.Uint32(b[:4])
		return
	}
	explicit := w.explicit || grp == 0x0002
	if !explicit {
		if err = w.read(b[:4]); err != nil {
			return
		}
		vl = bo.Uint32(b[:4])
		if info, ferr := tag.Find(tag.Tag{Group: grp, Element: el}); ferr == nil && len(info.VRs) > 0 {
			vr = info.VRs[0]
		}
		return
	}
	if err = w.read(b[:4]); err != nil {
		return
	}
	vr = string(b[:2])
	for _, c := range b[:2] {
		if c < 'A' || c > 'Z' {
			err = dicomBad("an element has an invalid value representation")
			return
		}
	}
	switch vr {
	case "OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV":
		if err = w.read(b[4:8]); err != nil {
			return
		}
		vl = bo.Uint32(b[4:8])
	default:
		vl = uint32(bo.Uint16(b[2:4]))
	}
	return
}

// checkLen checks a defined length against the container's end and the
// file's end.
func (w *dicomWalker) checkLen(n, end int64) error {
	if end >= 0 && w.pos+n > end {
		return dicomBad("an element runs past the end of its sequence item")
	}
	if w.size >= 0 && w.pos+n > w.size {
		return dicomBad("an element runs past the end of the file")
	}
	return nil
}

// walkItems walks elements until end (a defined length), or until an item
// delimiter (end < 0 and not top), or until the end of the file (top).
func (w *dicomWalker) walkItems(end int64, depth int, top bool) error {
	if depth > maxDICOMDepth {
		return dicomBad("sequences nested deeper than %d", maxDICOMDepth)
	}
	for {
		if end >= 0 && w.pos >= end {
			if w.pos > end {
				return dicomBad("an element runs past the end of its sequence item")
			}
			return nil
		}
		if top {
			if _, err := w.r.Peek(1); errors.Is(err, io.EOF) {
				return nil
			}
		}
		start := w.pos
		grp, el, vr, vl, err := w.elementHeader()
		if err != nil {
			return err
		}
		if grp == 0xFFFE {
			if el == 0xE00D && end < 0 && !top {
				return nil // end of an undefined-length item
			}
			if top && el == 0xFFFC {
				continue
			}
			return dicomBad("an item or delimiter appears outside a sequence")
		}
		if grp == 0x7FE0 && el == 0x0010 && top {
			w.lay.pixelTag = start
			if err := w.walkPixelData(vl); err != nil {
				return err
			}
			continue
		}
		if vr == "SQ" || vl == undefinedLength {
			// UN of undefined length holds a sequence in implicit VR
			// (PS3.5 6.2.2).
			saved := w.explicit
			if vr == "UN" {
				w.explicit = false
			}
			err := w.walkSequence(vl, end, depth+1)
			w.explicit = saved
			if err != nil {
				return err
			}
			continue
		}
		n := int64(vl)
		if err := w.checkLen(n, end); err != nil {
			return err
		}
		if w.header += n; w.header > w.maxHeader {
			return reject(KindDICOM, "DICOM header is larger than %d bytes", w.maxHeader)
		}
		if err := w.skip(n); err != nil {
			return err
		}
	}
}

func (w *dicomWalker) walkSequence(vl uint32, parentEnd int64, depth int) error {
	seqEnd := int64(-1)
	if vl != undefinedLength {
		if err := w.checkLen(int64(vl), parentEnd); err != nil {
			return err
		}
		seqEnd = w.pos + int64(vl)
	}
	for {
		if seqEnd >= 0 && w.pos >= seqEnd {
			if w.pos > seqEnd {
				return dicomBad("a sequence item runs past the end of its sequence")
			}
			return nil
		}
		grp, el, _, il, err := w.elementHeader()
		if err != nil {
			return err
		}
		if grp != 0xFFFE {
			return dicomBad("a sequence holds something other than items")
		}
		switch el {
		case 0xE0DD:
			if seqEnd >= 0 {
				return dicomBad("a sequence of defined length has a delimiter")
			}
			return nil
		case 0xE000:
			itemEnd := int64(-1)
			if il != undefinedLength {
				if err := w.checkLen(int64(il), seqEnd); err != nil {
					return err
				}
				itemEnd = w.pos + int64(il)
			}
			if err := w.walkItems(itemEnd, depth, false); err != nil {
				return err
			}
		default:
			return dicomBad("a sequence holds an unexpected delimiter")
		}
	}
}

func (w *dicomWalker) walkPixelData(vl uint32) error {
	if vl != undefinedLength {
		if err := w.checkLen(int64(vl), -1); err != nil {
			return err
		}
		w.lay.pixelOff, w.lay.pixelLen = w.pos, int64(vl)
		return w.skip(int64(vl))
	}
	w.lay.pixelLen = -1
	for i := 0; ; i++ {
		grp, el, _, il, err := w.elementHeader()
		if err != nil {
			return err
		}
		if grp != 0xFFFE {
			return dicomBad("encapsulated pixel data holds something other than items")
		}
		if el == 0xE0DD {
			return nil
		}
		if el != 0xE000 || il == undefinedLength {
			return dicomBad("encapsulated pixel data has a malformed item")
		}
		if err := w.checkLen(int64(il), -1); err != nil {
			return err
		}
		if i == 0 {
			// The basic offset table: small, kept.
			if il%4 != 0 || il > 4*1<<20 {
				return dicomBad("basic offset table is malformed")
			}
			b := make([]byte, il)
			if err := w.read(b); err != nil {
				return err
			}
			for k := 0; k < len(b); k += 4 {
				w.lay.offsets = append(w.lay.offsets, w.bo.Uint32(b[k:]))
			}
			continue
		}
		if len(w.lay.fragments) >= maxDICOMFragments {
			return dicomBad("more than %d pixel data fragments", maxDICOMFragments)
		}
		w.lay.fragments = append(w.lay.fragments, fragment{off: w.pos, len: int64(il)})
		if err := w.skip(int64(il)); err != nil {
			return err
		}
	}
}

func isUpper(c byte) bool { return c >= 'A' && c <= 'Z' }
