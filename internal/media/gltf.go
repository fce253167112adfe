package media

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
)

// The parts of glTF 2.0 that validation checks: every buffer, view and
// accessor must be in bounds, so a viewer that trusts them reads no further
// than the data, and every URI must be embedded (data:) because a model that
// fetches from elsewhere would leak that it is being viewed.
type gltfDoc struct {
	Asset *struct {
		Version string `json:"version"`
	} `json:"asset"`
	Buffers []struct {
		URI        *string `json:"uri"`
		ByteLength int64   `json:"byteLength"`
	} `json:"buffers"`
	BufferViews []struct {
		Buffer     int   `json:"buffer"`
		ByteOffset int64 `json:"byteOffset"`
		ByteLength int64 `json:"byteLength"`
		ByteStride int64 `json:"byteStride"`
	} `json:"bufferViews"`
	Accessors []struct {
		BufferView    *int   `json:"bufferView"`
		ByteOffset    int64  `json:"byteOffset"`
		ComponentType int    `json:"componentType"`
		Count         int64  `json:"count"`
		Type          string `json:"type"`
	} `json:"accessors"`
	Meshes []struct {
		Primitives []struct {
			Attributes map[string]int `json:"attributes"`
			Indices    *int           `json:"indices"`
			Mode       *int           `json:"mode"`
		} `json:"primitives"`
	} `json:"meshes"`
	Images []struct {
		URI        *string `json:"uri"`
		BufferView *int    `json:"bufferView"`
	} `json:"images"`
}

const (
	glbMagic     = 0x46546C67 // "glTF"
	glbChunkJSON = 0x4E4F534A // "JSON"
	glbChunkBIN  = 0x004E4942 // "BIN\0"
)

// ValidateGLB checks a binary glTF: the 12-byte header (magic, version 2, a
// length equal to the file size), a JSON chunk that parses and stays within
// MaxJSONBytes, an optional BIN chunk inside the file, and the JSON's
// buffers, views and accessors within their bounds.
func ValidateGLB(r io.Reader, size int64, lim Limits) (Info, error) {
	lim = lim.orDefault()
	var hdr [20]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return Info{}, reject(KindGLB, "GLB file is shorter than its header")
	}
	if binary.LittleEndian.Uint32(hdr[0:]) != glbMagic {
		return Info{}, reject(KindGLB, "not a GLB file: missing glTF magic")
	}
	if v := binary.LittleEndian.Uint32(hdr[4:]); v != 2 {
		return Info{}, reject(KindGLB, "GLB version is not 2")
	}
	if int64(binary.LittleEndian.Uint32(hdr[8:])) != size {
		return Info{}, reject(KindGLB, "GLB length field does not match the file size")
	}
	jlen := int64(binary.LittleEndian.Uint32(hdr[12:]))
	if binary.LittleEndian.Uint32(hdr[16:]) != glbChunkJSON {
		return Info{}, reject(KindGLB, "GLB first chunk is not JSON")
	}
	if jlen > lim.MaxJSONBytes {
		return Info{}, reject(KindGLB, "GLB JSON chunk is larger than %d bytes", lim.MaxJSONBytes)
	}
	if 20+jlen > size {
		return Info{}, reject(KindGLB, "GLB JSON chunk runs past the end of the file")
	}
	js := make([]byte, jlen)
	if _, err := io.ReadFull(r, js); err != nil {
		return Info{}, reject(KindGLB, "GLB JSON chunk is truncated")
	}
	pos := 20 + jlen
	binLen := int64(-1)
	for pos < size {
		var ch [8]byte
		if size-pos < 8 {
			return Info{}, reject(KindGLB, "GLB has trailing bytes that are not a chunk")
		}
		if _, err := io.ReadFull(r, ch[:]); err != nil {
			return Info{}, reject(KindGLB, "GLB chunk header is truncated")
		}
		clen := int64(binary.LittleEndian.Uint32(ch[0:]))
		ctype := binary.LittleEndian.Uint32(ch[4:])
		pos += 8
		if clen > size-pos {
			return Info{}, reject(KindGLB, "GLB chunk runs past the end of the file")
		}
		if ctype == glbChunkBIN {
			if binLen >= 0 {
				return Info{}, reject(KindGLB, "GLB has more than one BIN chunk")
			}
			binLen = clen
		}
		if _, err := io.CopyN(io.Discard, r, clen); err != nil {
			return Info{}, reject(KindGLB, "GLB chunk is truncated")
		}
		pos += clen
	}
	return checkGLTF(KindGLB, js, binLen, lim)
}

// ValidateGLTF checks a .gltf JSON file; its buffers and images must be
// embedded as data: URIs.
func ValidateGLTF(r io.Reader, lim Limits) (Info, error) {
	lim = lim.orDefault()
	js, err := io.ReadAll(io.LimitReader(r, lim.MaxJSONBytes+1))
	if err != nil {
		return Info{}, fmt.Errorf("read glTF: %w", err)
	}
	if int64(len(js)) > lim.MaxJSONBytes {
		return Info{}, reject(KindGLTF, "glTF JSON is larger than %d bytes", lim.MaxJSONBytes)
	}
	return checkGLTF(KindGLTF, js, -1, lim)
}

// checkGLTF checks the JSON document. binLen is the GLB BIN chunk's length,
// or -1 when there is none.
func checkGLTF(kind Kind, js []byte, binLen int64, lim Limits) (Info, error) {
	var doc gltfDoc
	dec := json.NewDecoder(bytes.NewReader(js))
	if err := dec.Decode(&doc); err != nil {
		return Info{}, reject(kind, "glTF JSON does not parse")
	}
	if dec.More() {
		return Info{}, reject(kind, "glTF JSON has data after the document")
	}
	if doc.Asset == nil || !strings.HasPrefix(doc.Asset.Version, "2.") {
		return Info{}, reject(kind, "glTF asset version is not 2.x")
	}
	// Real lengths of each buffer, from the BIN chunk or the decoded URI.
	lens := make([]int64, len(doc.Buffers))
	for i, b := range doc.Buffers {
		if b.ByteLength < 0 {
			return Info{}, reject(kind, "glTF buffer has a negative length")
		}
		switch {
		case b.URI == nil:
			if kind != KindGLB || i != 0 || binLen < 0 {
				return Info{}, reject(kind, "glTF buffer has no data")
			}
			if b.ByteLength > binLen {
				return Info{}, reject(kind, "glTF buffer is longer than the GLB BIN chunk")
			}
			lens[i] = b.ByteLength
		default:
			n, err := dataURILen(*b.URI)
			if err != nil {
				return Info{}, reject(kind, "glTF buffer %s", err.Error())
			}
			if b.ByteLength > n {
				return Info{}, reject(kind, "glTF buffer is longer than its data")
			}
			lens[i] = b.ByteLength
		}
	}
	for _, im := range doc.Images {
		if im.URI != nil {
			if _, err := dataURILen(*im.URI); err != nil {
				return Info{}, reject(kind, "glTF image %s", err.Error())
			}
		} else if im.BufferView == nil || *im.BufferView < 0 || *im.BufferView >= len(doc.BufferViews) {
			return Info{}, reject(kind, "glTF image refers to a buffer view that does not exist")
		}
	}
	for _, v := range doc.BufferViews {
		if v.Buffer < 0 || v.Buffer >= len(lens) {
			return Info{}, reject(kind, "glTF buffer view refers to a buffer that does not exist")
		}
		if v.ByteOffset < 0 || v.ByteLength < 0 || v.ByteOffset > lens[v.Buffer] || v.ByteLength > lens[v.Buffer]-v.ByteOffset {
			return Info{}, reject(kind, "glTF buffer view runs past the end of its buffer")
		}
		if v.ByteStride != 0 && (v.ByteStride < 4 || v.ByteStride > 252) {
			return Info{}, reject(kind, "glTF buffer view stride is out of range")
		}
	}
	for _, a := range doc.Accessors {
		comp := map[int]int64{5120: 1, 5121: 1, 5122: 2, 5123: 2, 5125: 4, 5126: 4}[a.ComponentType]
		n := map[string]int64{"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}[a.Type]
		if comp == 0 || n == 0 {
			return Info{}, reject(kind, "glTF accessor has an unknown component type or type")
		}
		if a.Count < 1 || a.Count > lim.MaxVertices+lim.MaxFaces*3 {
			return Info{}, reject(kind, "glTF accessor count is out of range")
		}
		if a.BufferView == nil {
			continue // all zeros (or sparse); nothing to read out of bounds
		}
		if *a.BufferView < 0 || *a.BufferView >= len(doc.BufferViews) {
			return Info{}, reject(kind, "glTF accessor refers to a buffer view that does not exist")
		}
		v := doc.BufferViews[*a.BufferView]
		elem := comp * n
		stride := v.ByteStride
		if stride == 0 {
			stride = elem
		}
		if a.ByteOffset < 0 || a.ByteOffset > v.ByteLength || (a.Count-1) > (v.ByteLength-a.ByteOffset-elem)/stride || v.ByteLength-a.ByteOffset < elem {
			return Info{}, reject(kind, "glTF accessor runs past the end of its buffer view")
		}
	}
	var info Info
	for _, m := range doc.Meshes {
		for _, p := range m.Primitives {
			pos, ok := p.Attributes["POSITION"]
			if !ok {
				continue
			}
			for _, acc := range p.Attributes {
				if acc < 0 || acc >= len(doc.Accessors) {
					return Info{}, reject(kind, "glTF mesh attribute refers to an accessor that does not exist")
				}
			}
			if doc.Accessors[pos].Type != "VEC3" || doc.Accessors[pos].ComponentType != 5126 {
				return Info{}, reject(kind, "glTF POSITION is not a float VEC3 accessor")
			}
			info.Vertices += doc.Accessors[pos].Count
			if p.Indices != nil {
				i := *p.Indices
				if i < 0 || i >= len(doc.Accessors) || doc.Accessors[i].Type != "SCALAR" {
					return Info{}, reject(kind, "glTF mesh indices refer to an accessor that does not exist or is not scalar")
				}
				info.Faces += doc.Accessors[i].Count / 3
			} else if p.Mode == nil || *p.Mode == 4 {
				info.Faces += doc.Accessors[pos].Count / 3
			}
		}
	}
	if info.Vertices == 0 {
		return Info{}, reject(kind, "glTF file has no mesh with positions")
	}
	if info.Vertices > lim.MaxVertices {
		return Info{}, reject(kind, "glTF file has more than %d vertices", lim.MaxVertices)
	}
	return info, nil
}

var errExternalURI = errors.New("refers to an external file or address; only embedded data: URIs are accepted")

// dataURILen decodes a base64 data: URI and returns the decoded length.
func dataURILen(uri string) (int64, error) {
	if !strings.HasPrefix(uri, "data:") {
		return 0, errExternalURI
	}
	comma := strings.IndexByte(uri, ',')
	if comma < 0 || !strings.HasSuffix(uri[:comma], ";base64") {
		return 0, errors.New("has a data: URI that is not base64")
	}
	n, err := base64.StdEncoding.DecodeString(uri[comma+1:])
	if err != nil {
		return 0, errors.New("has a data: URI with invalid base64")
	}
	return int64(len(n)), nil
}
