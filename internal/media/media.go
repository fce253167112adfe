// Package media checks, indexes, renders and stores the clinical files a case
// holds: DICOM imaging, 3D models (STL, OBJ, PLY, glTF/GLB) and photographs
// (JPEG, PNG).
//
// Nothing about an upload is trusted from its name or Content-Type: Sniff
// looks at the first bytes and Validate parses the whole file with a parser
// that has hard limits, so a file that claims to be an STL but is a PNG is a
// PNG, and a file that parses as nothing is rejected with a reason a person
// can act on. Parsers never panic on any input (each has a fuzz target).
//
// What leaves this package for viewing is stripped of metadata that can
// identify a person or a place (EXIF with GPS, maker notes, XMP, IPTC,
// comments, PNG text chunks); the original bytes are stored untouched for the
// uploader's download. DICOM headers are indexed into a DICOMInfo struct that
// the caller stores sealed, never as plaintext columns.
//
// The package does not import net/http: internal/web adapts it.
package media

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
)

// Kind is what a file is, as found by parsing it.
type Kind string

// The kinds Custodia accepts.
const (
	KindUnknown Kind = ""
	KindDICOM   Kind = "dicom"
	KindSTL     Kind = "stl"
	KindOBJ     Kind = "obj"
	KindMTL     Kind = "mtl"
	KindPLY     Kind = "ply"
	KindGLB     Kind = "glb"
	KindGLTF    Kind = "gltf"
	KindJPEG    Kind = "jpeg"
	KindPNG     Kind = "png"
)

// ContentType is the media type a kind is served with.
func (k Kind) ContentType() string {
	switch k {
	case KindDICOM:
		return "application/dicom"
	case KindSTL:
		return "model/stl"
	case KindOBJ:
		return "model/obj"
	case KindMTL:
		return "model/mtl"
	case KindPLY:
		return "model/ply" // not registered with IANA; what viewers expect
	case KindGLB:
		return "model/gltf-binary"
	case KindGLTF:
		return "model/gltf+json"
	case KindJPEG:
		return "image/jpeg"
	case KindPNG:
		return "image/png"
	}
	return "application/octet-stream"
}

// IsMesh reports whether k is a 3D model the browser viewer shows.
func (k Kind) IsMesh() bool {
	switch k {
	case KindSTL, KindOBJ, KindPLY, KindGLB, KindGLTF:
		return true
	}
	return false
}

// IsImage reports whether k is a photograph.
func (k Kind) IsImage() bool { return k == KindJPEG || k == KindPNG }

// Valid reports whether k is one of the accepted kinds.
func (k Kind) Valid() bool {
	return k == KindDICOM || k == KindMTL || k.IsMesh() || k.IsImage()
}

// Slot says what a place in the product expects, so that a photo cannot be
// dropped where a scan belongs. SlotAny takes every accepted kind.
type Slot string

// The slots.
const (
	SlotAny   Slot = ""
	SlotMesh  Slot = "mesh"  // a 3D capture or model (MTL and textures go with SlotAny)
	SlotDICOM Slot = "dicom" // imaging
	SlotImage Slot = "image" // a photograph
)

// Accepts reports whether k may fill s.
func (s Slot) Accepts(k Kind) bool {
	switch s {
	case SlotAny:
		return k.Valid()
	case SlotMesh:
		return k.IsMesh()
	case SlotDICOM:
		return k == KindDICOM
	case SlotImage:
		return k.IsImage()
	}
	return false
}

// Rejection is why a file was refused. Reason is written for the person who
// uploaded the file; it never quotes the file's content, so it holds no PHI.
type Rejection struct {
	Kind   Kind   // what the file looked like, if anything
	Reason string // e.g. "binary STL size does not match its triangle count"
}

func (r *Rejection) Error() string { return r.Reason }

// Is makes errors.Is(err, ErrRejected) true for every rejection.
func (r *Rejection) Is(target error) bool { return target == ErrRejected }

// ErrRejected matches every *Rejection.
var ErrRejected = errors.New("media: file rejected")

func reject(k Kind, format string, args ...any) error {
	return &Rejection{Kind: k, Reason: fmt.Sprintf(format, args...)}
}

// Limits bound what the parsers accept, so that a hostile file cannot make
// the server allocate or loop without end. The zero value means DefaultLimits.
type Limits struct {
	MaxFileSize    int64 // bytes, for every kind
	MaxVertices    int64 // mesh vertices (or points)
	MaxFaces       int64 // mesh faces / triangles
	MaxHeaderBytes int   // PLY header, DICOM non-pixel data
	MaxJSONBytes   int64 // glTF JSON (a .gltf with embedded buffers is mostly base64)
	MaxLineBytes   int   // one line of an OBJ, MTL, ASCII STL or ASCII PLY
	MaxPixels      int64 // width × height of a photograph or a DICOM frame
	MaxFrames      int   // DICOM frames
}

// DefaultLimits are generous for clinical captures and imaging.
var DefaultLimits = Limits{
	MaxFileSize:    2 << 30,
	MaxVertices:    50_000_000,
	MaxFaces:       50_000_000,
	MaxHeaderBytes: 64 << 10,
	MaxJSONBytes:   256 << 20,
	MaxLineBytes:   64 << 10,
	MaxPixels:      64_000_000,
	MaxFrames:      10_000,
}

// MaxUploadBytes is the largest file these limits accept.
func (l Limits) MaxUploadBytes() int64 { return l.orDefault().MaxFileSize }

func (l Limits) orDefault() Limits {
	d := DefaultLimits
	if l.MaxFileSize > 0 {
		d.MaxFileSize = l.MaxFileSize
	}
	if l.MaxVertices > 0 {
		d.MaxVertices = l.MaxVertices
	}
	if l.MaxFaces > 0 {
		d.MaxFaces = l.MaxFaces
	}
	if l.MaxHeaderBytes > 0 {
		d.MaxHeaderBytes = l.MaxHeaderBytes
	}
	if l.MaxJSONBytes > 0 {
		d.MaxJSONBytes = l.MaxJSONBytes
	}
	if l.MaxLineBytes > 0 {
		d.MaxLineBytes = l.MaxLineBytes
	}
	if l.MaxPixels > 0 {
		d.MaxPixels = l.MaxPixels
	}
	if l.MaxFrames > 0 {
		d.MaxFrames = l.MaxFrames
	}
	return d
}

// Source is a file that can be read more than once: some formats need a
// second pass (a photograph is measured before it is decoded). Open must
// return a fresh reader at offset 0 each time.
type Source interface {
	Open() (io.ReadCloser, error)
	Size() int64
}

// BytesSource is a Source over a byte slice.
type BytesSource []byte

// Open returns a reader of the bytes.
func (b BytesSource) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }

// Size is the slice's length.
func (b BytesSource) Size() int64 { return int64(len(b)) }

// FileSource is a Source over a file on disk.
type FileSource struct {
	Path string
	Len  int64
}

// NewFileSource stats path.
func NewFileSource(path string) (FileSource, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return FileSource{}, fmt.Errorf("stat file: %w", err)
	}
	return FileSource{Path: path, Len: fi.Size()}, nil
}

// Open opens the file.
func (f FileSource) Open() (io.ReadCloser, error) { return os.Open(f.Path) }

// Size is the file's size when stated.
func (f FileSource) Size() int64 { return f.Len }
