package media

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
)

// plyProp is one property of a PLY element: a scalar, or a list with a count
// type and an item type.
type plyProp struct {
	name      string
	typ       int // size in bytes of the scalar or list item
	float     bool
	signed    bool
	list      bool
	countType int
}

type plyElement struct {
	name  string
	count int64
	props []plyProp
}

var plyTypes = map[string]struct {
	size          int
	float, signed bool
}{
	"char": {1, false, true}, "int8": {1, false, true}, "uchar": {1, false, false}, "uint8": {1, false, false},
	"short": {2, false, true}, "int16": {2, false, true}, "ushort": {2, false, false}, "uint16": {2, false, false},
	"int": {4, false, true}, "int32": {4, false, true}, "uint": {4, false, false}, "uint32": {4, false, false},
	"float": {4, true, true}, "float32": {4, true, true}, "double": {8, true, true}, "float64": {8, true, true},
}

// maxPLYList bounds one face's vertex count (or any list), so a hostile
// count cannot make the parser read for ever within one row.
const maxPLYList = 1024

// ValidatePLY checks a PLY file: the header (format ascii 1.0,
// binary_little_endian 1.0 or binary_big_endian 1.0; elements with scalar
// and list properties), a vertex element with x, y and z, and every row of
// every element. A file without faces is a point cloud and is accepted.
// Face indices must refer to existing vertices.
func ValidatePLY(r io.Reader, lim Limits) (Info, error) {
	lim = lim.orDefault()
	br := bufio.NewReaderSize(r, 64<<10)
	format, elems, err := readPLYHeader(br, lim)
	if err != nil {
		return Info{}, err
	}
	var info Info
	var nverts int64
	for _, e := range elems {
		switch e.name {
		case "vertex":
			nverts = e.count
			info.Vertices = e.count
			if e.count > lim.MaxVertices {
				return Info{}, reject(KindPLY, "PLY file has more than %d vertices", lim.MaxVertices)
			}
		case "face":
			info.Faces = e.count
			if e.count > lim.MaxFaces {
				return Info{}, reject(KindPLY, "PLY file has more than %d faces", lim.MaxFaces)
			}
		default:
			if e.count > lim.MaxVertices+lim.MaxFaces {
				return Info{}, reject(KindPLY, "PLY element has too many rows")
			}
		}
	}
	if format == "ascii" {
		err = readPLYASCII(br, elems, nverts, lim)
	} else {
		var bo binary.ByteOrder = binary.LittleEndian
		if format == "binary_big_endian" {
			bo = binary.BigEndian
		}
		err = readPLYBinary(br, elems, nverts, bo)
	}
	if err != nil {
		return Info{}, err
	}
	return info, nil
}

func readPLYHeader(br *bufio.Reader, lim Limits) (string, []plyElement, error) {
	lr := newLineReader(br, 1024)
	var f [][]byte
	format := ""
	var elems []plyElement
	read := 0
	for i := 0; ; i++ {
		line, err := lr.next()
		if err == io.EOF {
			return "", nil, reject(KindPLY, "PLY header has no end_header line")
		}
		if err == errLineTooLong {
			return "", nil, reject(KindPLY, "PLY header has a line longer than 1024 bytes")
		}
		if err != nil {
			return "", nil, fmt.Errorf("read PLY: %w", err)
		}
		if read += len(line) + 1; read > lim.MaxHeaderBytes {
			return "", nil, reject(KindPLY, "PLY header is longer than %d bytes", lim.MaxHeaderBytes)
		}
		if i == 0 {
			if string(line) != "ply" {
				return "", nil, reject(KindPLY, `not a PLY file: missing "ply" magic line`)
			}
			continue
		}
		f = fields(f, line)
		if len(f) == 0 {
			continue
		}
		switch string(f[0]) {
		case "comment", "obj_info":
		case "format":
			if len(f) != 3 || string(f[2]) != "1.0" {
				return "", nil, reject(KindPLY, "PLY format line must be: format <ascii|binary_little_endian|binary_big_endian> 1.0")
			}
			switch string(f[1]) {
			case "ascii", "binary_little_endian", "binary_big_endian":
				format = string(f[1])
			default:
				return "", nil, reject(KindPLY, "PLY format is not ascii, binary_little_endian or binary_big_endian")
			}
		case "element":
			if len(f) != 3 {
				return "", nil, reject(KindPLY, "PLY element line must be: element <name> <count>")
			}
			n, err := strconv.ParseInt(string(f[2]), 10, 64)
			if err != nil || n < 0 {
				return "", nil, reject(KindPLY, "PLY element count is not a whole number")
			}
			if len(elems) >= 32 {
				return "", nil, reject(KindPLY, "PLY header declares more than 32 elements")
			}
			elems = append(elems, plyElement{name: string(f[1]), count: n})
		case "property":
			if len(elems) == 0 {
				return "", nil, reject(KindPLY, "PLY property comes before any element")
			}
			e := &elems[len(elems)-1]
			if len(e.props) >= 64 {
				return "", nil, reject(KindPLY, "PLY element has more than 64 properties")
			}
			var p plyProp
			if len(f) == 5 && string(f[1]) == "list" {
				ct, ok1 := plyTypes[string(f[2])]
				it, ok2 := plyTypes[string(f[3])]
				if !ok1 || !ok2 || ct.float {
					return "", nil, reject(KindPLY, "PLY list property has an unknown or non-integer count type")
				}
				p = plyProp{name: string(f[4]), list: true, countType: ct.size, typ: it.size, float: it.float, signed: it.signed}
			} else if len(f) == 3 {
				t, ok := plyTypes[string(f[1])]
				if !ok {
					return "", nil, reject(KindPLY, "PLY property has an unknown type")
				}
				p = plyProp{name: string(f[2]), typ: t.size, float: t.float, signed: t.signed}
			} else {
				return "", nil, reject(KindPLY, "PLY property line is malformed")
			}
			e.props = append(e.props, p)
		case "end_header":
			if format == "" {
				return "", nil, reject(KindPLY, "PLY header has no format line")
			}
			return format, elems, checkPLYElements(elems)
		default:
			return "", nil, reject(KindPLY, "PLY header line %d is not a known header statement", lr.n)
		}
	}
}

func checkPLYElements(elems []plyElement) error {
	hasVertex := false
	for _, e := range elems {
		if len(e.props) == 0 && e.count > 0 {
			return reject(KindPLY, "PLY element has rows but no properties")
		}
		if e.name == "vertex" {
			hasVertex = true
			var x, y, z bool
			for _, p := range e.props {
				switch p.name {
				case "x":
					x = !p.list
				case "y":
					y = !p.list
				case "z":
					z = !p.list
				}
			}
			if !x || !y || !z {
				return reject(KindPLY, "PLY vertex element lacks x, y or z")
			}
			if e.count == 0 {
				return reject(KindPLY, "PLY file has no vertices")
			}
		}
		if e.name == "face" {
			ok := false
			for _, p := range e.props {
				if p.list && (p.name == "vertex_indices" || p.name == "vertex_index") && !p.float {
					ok = true
				}
			}
			if !ok && e.count > 0 {
				return reject(KindPLY, "PLY face element lacks an integer vertex_indices list")
			}
		}
	}
	if !hasVertex {
		return reject(KindPLY, "PLY file has no vertex element")
	}
	return nil
}

func isFaceIndex(e *plyElement, p *plyProp) bool {
	return e.name == "face" && p.list && (p.name == "vertex_indices" || p.name == "vertex_index")
}

func readPLYASCII(br *bufio.Reader, elems []plyElement, nverts int64, lim Limits) error {
	lr := newLineReader(br, lim.MaxLineBytes)
	var f [][]byte
	for ei := range elems {
		e := &elems[ei]
		for row := int64(0); row < e.count; row++ {
			line, err := lr.next()
			if err == io.EOF {
				return reject(KindPLY, "PLY file is truncated: %s element has fewer rows than its header says", plyName(e))
			}
			if err == errLineTooLong {
				return reject(KindPLY, "PLY file has a line longer than %d bytes", lim.MaxLineBytes)
			}
			if err != nil {
				return fmt.Errorf("read PLY: %w", err)
			}
			f = fields(f, line)
			i := 0
			take := func() ([]byte, bool) {
				if i >= len(f) {
					return nil, false
				}
				i++
				return f[i-1], true
			}
			for pi := range e.props {
				p := &e.props[pi]
				n := int64(1)
				if p.list {
					c, ok := take()
					if !ok {
						return reject(KindPLY, "PLY row has fewer values than its properties")
					}
					cnt, err := strconv.ParseInt(string(c), 10, 64)
					if err != nil || cnt < 0 || cnt > maxPLYList {
						return reject(KindPLY, "PLY list length is not a whole number from 0 to %d", maxPLYList)
					}
					n = cnt
				}
				for ; n > 0; n-- {
					v, ok := take()
					if !ok {
						return reject(KindPLY, "PLY row has fewer values than its properties")
					}
					x, ok := finite(v)
					if !ok || (!p.float && x != math.Trunc(x)) {
						return reject(KindPLY, "PLY value is not a finite number of its type")
					}
					if isFaceIndex(e, p) && (x < 0 || int64(x) >= nverts) {
						return reject(KindPLY, "PLY face refers to a vertex that does not exist")
					}
				}
			}
			if i != len(f) {
				return reject(KindPLY, "PLY row has more values than its properties")
			}
		}
	}
	return nil
}

func plyName(e *plyElement) string {
	switch e.name {
	case "vertex", "face", "edge", "material":
		return e.name
	}
	return "an"
}

func readPLYBinary(br *bufio.Reader, elems []plyElement, nverts int64, bo binary.ByteOrder) error {
	var buf [8 * maxPLYList]byte
	trunc := func(e *plyElement) error {
		return reject(KindPLY, "PLY file is truncated: %s element has fewer rows than its header says", plyName(e))
	}
	for ei := range elems {
		e := &elems[ei]
		for row := int64(0); row < e.count; row++ {
			for pi := range e.props {
				p := &e.props[pi]
				n := 1
				if p.list {
					b := buf[:p.countType]
					if _, err := io.ReadFull(br, b); err != nil {
						return trunc(e)
					}
					cnt := readPLYUint(b, bo)
					if cnt > maxPLYList {
						return reject(KindPLY, "PLY list length is more than %d", maxPLYList)
					}
					n = int(cnt)
				}
				b := buf[:n*p.typ]
				if _, err := io.ReadFull(br, b); err != nil {
					return trunc(e)
				}
				for k := 0; k < n; k++ {
					v := b[k*p.typ : (k+1)*p.typ]
					if p.float {
						var x float64
						if p.typ == 4 {
							x = float64(math.Float32frombits(bo.Uint32(v)))
						} else {
							x = math.Float64frombits(bo.Uint64(v))
						}
						if math.IsNaN(x) || math.IsInf(x, 0) {
							return reject(KindPLY, "PLY value is not a finite number")
						}
						continue
					}
					if isFaceIndex(e, p) {
						idx := readPLYInt(v, bo, p.signed)
						if idx < 0 || idx >= nverts {
							return reject(KindPLY, "PLY face refers to a vertex that does not exist")
						}
					}
				}
			}
		}
	}
	// Trailing bytes are tolerated: some exporters pad the file.
	if _, err := br.Peek(1); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("read PLY: %w", err)
	}
	return nil
}

func readPLYUint(b []byte, bo binary.ByteOrder) uint64 {
	switch len(b) {
	case 1:
		return uint64(b[0])
	case 2:
		return uint64(bo.Uint16(b))
	case 4:
		return uint64(bo.Uint32(b))
	}
	return bo.Uint64(b)
}

func readPLYInt(b []byte, bo binary.ByteOrder, signed bool) int64 {
	u := readPLYUint(b, bo)
	if !signed {
		return int64(u)
	}
	switch len(b) {
	case 1:
		return int64(int8(u))
	case 2:
		return int64(int16(u))
	case 4:
		return int64(int32(u))
	}
	return int64(u)
}
