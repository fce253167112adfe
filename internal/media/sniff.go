package media

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"unicode"
	"unicode/utf8"
)

// SniffLen is how many leading bytes Sniff looks at.
const SniffLen = 4096

// Sniff says what the first bytes of a file (up to SniffLen) and its total
// size look like. It is a first guess that picks the parser; only Validate
// decides. Binary STL has no magic number, so it is recognised by its size
// matching its triangle count, which is checked before an ASCII "solid"
// header (binary STL headers often start with "solid" too).
func Sniff(head []byte, size int64) Kind {
	switch {
	case len(head) >= 132 && string(head[128:132]) == "DICM":
		return KindDICOM
	case bytes.HasPrefix(head, pngSignature):
		return KindPNG
	case len(head) >= 3 && head[0] == 0xFF && head[1] == 0xD8 && head[2] == 0xFF:
		return KindJPEG
	case bytes.HasPrefix(head, []byte("glTF")):
		return KindGLB
	case bytes.HasPrefix(head, []byte("ply\n")) || bytes.HasPrefix(head, []byte("ply\r\n")):
		return KindPLY
	}
	if len(head) >= 84 && size >= 84 {
		n := int64(binary.LittleEndian.Uint32(head[80:84]))
		if 84+50*n == size {
			return KindSTL
		}
	}
	if !looksText(head) {
		return KindUnknown
	}
	t := bytes.TrimLeft(bytes.TrimPrefix(head, []byte("\xEF\xBB\xBF")), " \t\r\n")
	switch {
	case bytes.HasPrefix(t, []byte("{")):
		return KindGLTF
	case bytes.HasPrefix(t, []byte("solid")):
		return KindSTL
	}
	return sniffOBJish(t)
}

// sniffOBJish tells OBJ from MTL by the first statement that is not a
// comment.
func sniffOBJish(t []byte) Kind {
	for len(t) > 0 {
		line := t
		if i := bytes.IndexByte(t, '\n'); i >= 0 {
			line, t = t[:i], t[i+1:]
		} else {
			t = nil
		}
		f := bytes.Fields(line)
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		switch string(f[0]) {
		case "v", "vt", "vn", "vp", "f", "o", "g", "s", "l", "p", "mtllib", "usemtl":
			return KindOBJ
		case "newmtl":
			return KindMTL
		}
		return KindUnknown
	}
	return KindUnknown
}

// looksText is true when head has no NUL and few control bytes.
func looksText(head []byte) bool {
	if len(head) == 0 {
		return false
	}
	bad := 0
	for _, c := range head {
		if c == 0 {
			return false
		}
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' && c != '\f' {
			bad++
		}
	}
	return bad*100 < len(head)
}

// Info is what validation found out about a file. It holds counts and
// dimensions; DICOM headers (which do hold PHI) are in DICOM, and the name
// the uploader's browser gave the file (which may name a person) in Name,
// so the caller must store it sealed, as Store does.
type Info struct {
	Name     string // the uploader's file name (CleanName), or ""
	Kind     Kind
	Size     int64
	Vertices int64 // meshes: vertices or points
	Faces    int64 // meshes: triangles/polygons; 0 for a point cloud
	Width    int   // photographs
	Height   int
	DICOM    *DICOMInfo
}

// Validate sniffs src, checks that its kind fits slot and parses all of it
// with limits (the zero Limits means DefaultLimits). A refused file yields a
// *Rejection (errors.Is(err, ErrRejected)) naming the reason; any other error
// is a failure reading src.
func Validate(src Source, slot Slot, lim Limits) (info Info, err error) {
	lim = lim.orDefault()
	size := src.Size()
	if size > lim.MaxFileSize {
		return Info{}, reject(KindUnknown, "file is larger than the limit of %d bytes", lim.MaxFileSize)
	}
	if size == 0 {
		return Info{}, reject(KindUnknown, "file is empty")
	}
	head, err := readHead(src)
	if err != nil {
		return Info{}, err
	}
	kind := Sniff(head, size)
	if kind == KindUnknown {
		// A slot that takes one kind gets that parser's precise reason.
		switch slot {
		case SlotDICOM:
			kind = KindDICOM
		case SlotMesh:
			kind = KindSTL // binary STL is the one mesh format without a magic number
		default:
			return Info{}, reject(KindUnknown, "file type not recognised: expected DICOM, STL, OBJ, PLY, glTF/GLB, JPEG or PNG")
		}
	}
	if !slot.Accepts(kind) {
		return Info{Kind: kind}, reject(kind, "%s", slotMismatch(slot, kind))
	}
	// A parser bug must never take the server down: the fuzz targets hunt
	// for panics, and this is the backstop if one slips through.
	defer func() {
		if v := recover(); v != nil {
			info, err = Info{Kind: kind}, reject(kind, "%s file could not be parsed", kindName(kind))
		}
	}()
	info, err = validateKind(kind, src, lim)
	info.Kind, info.Size = kind, size
	return info, err
}

func validateKind(kind Kind, src Source, lim Limits) (Info, error) {
	switch kind {
	case KindDICOM:
		di, err := ValidateDICOM(src, lim)
		return Info{DICOM: di}, err
	case KindPNG, KindJPEG:
		return validateImage(kind, src, lim)
	}
	rc, err := src.Open()
	if err != nil {
		return Info{}, fmt.Errorf("open file: %w", err)
	}
	defer rc.Close()
	switch kind {
	case KindSTL:
		return ValidateSTL(rc, src.Size(), lim)
	case KindOBJ:
		return ValidateOBJ(rc, lim)
	case KindMTL:
		return Info{}, ValidateMTL(rc, lim)
	case KindPLY:
		return ValidatePLY(rc, lim)
	case KindGLB:
		return ValidateGLB(rc, src.Size(), lim)
	case KindGLTF:
		return ValidateGLTF(rc, lim)
	}
	return Info{}, reject(kind, "file type not recognised")
}

func readHead(src Source) ([]byte, error) {
	rc, err := src.Open()
	if err != nil {
		return nil, fmt.Errorf("open file: %w", err)
	}
	defer rc.Close()
	head := make([]byte, SniffLen)
	n, err := io.ReadFull(rc, head)
	if err != nil && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("read file: %w", err)
	}
	return head[:n], nil
}

func kindName(k Kind) string {
	switch k {
	case KindDICOM:
		return "DICOM"
	case KindSTL:
		return "STL"
	case KindOBJ:
		return "OBJ"
	case KindMTL:
		return "MTL material"
	case KindPLY:
		return "PLY"
	case KindGLB:
		return "GLB"
	case KindGLTF:
		return "glTF"
	case KindJPEG:
		return "JPEG"
	case KindPNG:
		return "PNG"
	}
	return "unknown"
}

func slotMismatch(s Slot, k Kind) string {
	what := map[Slot]string{SlotMesh: "a 3D model (STL, OBJ, PLY, glTF or GLB)", SlotDICOM: "a DICOM file", SlotImage: "a JPEG or PNG photograph"}[s]
	if what == "" {
		what = "a supported file"
	}
	return fmt.Sprintf("this place takes %s, but the file is a %s file", what, kindName(k))
}

// CleanName is a file name as the uploader's browser gave it, made safe to
// keep and show: the last path element, without control characters, at
// most 200 characters. It may still name a person, so it is kept sealed.
func CleanName(name string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	name = strings.Map(func(r rune) rune {
		if unicode.IsControl(r) || r == utf8.RuneError {
			return -1
		}
		return r
	}, name)
	name = strings.TrimSpace(name)
	if r := []rune(name); len(r) > 200 {
		name = string(r[:200])
	}
	return name
}
