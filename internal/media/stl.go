package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// ValidateSTL checks an STL file of the given size, binary or ASCII. A binary
// STL is an 80-byte header, a little-endian uint32 triangle count and 50
// bytes per triangle, and its size must match that count exactly; that
// match is also what tells it from ASCII, since binary headers may begin
// with "solid" too.
func ValidateSTL(r io.Reader, size int64, lim Limits) (Info, error) {
	lim = lim.orDefault()
	br := bufio.NewReaderSize(r, 64<<10)
	head, err := br.Peek(84)
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) && !errors.Is(err, bufio.ErrBufferFull) {
		return Info{}, fmt.Errorf("read STL: %w", err)
	}
	ascii := bytes.HasPrefix(bytes.TrimLeft(head, " \t\r\n"), []byte("solid")) && looksText(head)
	if len(head) == 84 {
		n := int64(binary.LittleEndian.Uint32(head[80:84]))
		if 84+50*n == size {
			return validateBinarySTL(br, n, lim)
		}
	}
	if ascii {
		return validateASCIISTL(br, lim)
	}
	if size < 84 {
		return Info{}, reject(KindSTL, "binary STL is shorter than its 84-byte header")
	}
	return Info{}, reject(KindSTL, "binary STL size does not match its triangle count")
}

func validateBinarySTL(r io.Reader, n int64, lim Limits) (Info, error) {
	if n == 0 {
		return Info{}, reject(KindSTL, "STL file has no triangles")
	}
	if n > lim.MaxFaces {
		return Info{}, reject(KindSTL, "STL file has more than %d triangles", lim.MaxFaces)
	}
	if _, err := io.CopyN(io.Discard, r, 84); err != nil {
		return Info{}, reject(KindSTL, "binary STL is shorter than its 84-byte header")
	}
	var buf [50 * 1024]byte
	for left := n; left > 0; {
		k := min(left, 1024)
		b := buf[:50*k]
		if _, err := io.ReadFull(r, b); err != nil {
			return Info{}, reject(KindSTL, "binary STL is truncated")
		}
		for t := int64(0); t < k; t++ {
			tri := b[t*50 : t*50+48]
			for i := 0; i < 48; i += 4 {
				// A float32 is NaN or infinite exactly when its exponent
				// bits are all ones; testing the bits skips the float
				// conversions, a third of the validation's time.
				if binary.LittleEndian.Uint32(tri[i:])&0x7f800000 == 0x7f800000 {
					return Info{}, reject(KindSTL, "binary STL holds a coordinate that is not a finite number")
				}
			}
		}
		left -= k
	}
	return Info{Vertices: 3 * n, Faces: n}, nil
}

// validateASCIISTL walks the grammar: solid { facet normal n n n / outer loop
// / vertex x y z ×3 / endloop / endfacet } endsolid, repeated per solid.
func validateASCIISTL(r io.Reader, lim Limits) (Info, error) {
	lr := newLineReader(r, lim.MaxLineBytes)
	const (
		outside = iota
		inSolid
		inFacet
		inLoop
		afterLoop
	)
	state, verts, faces, solids := outside, 0, int64(0), 0
	var f [][]byte
	bad := func(what string) error {
		return reject(KindSTL, "ASCII STL line %d: %s", lr.n, what)
	}
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err == errLineTooLong {
			return Info{}, reject(KindSTL, "ASCII STL has a line longer than %d bytes", lim.MaxLineBytes)
		}
		if err != nil {
			return Info{}, fmt.Errorf("read STL: %w", err)
		}
		if hasBinary(line) {
			return Info{}, bad("holds binary data")
		}
		f = fields(f, line)
		if len(f) == 0 {
			continue
		}
		kw := string(f[0])
		switch {
		case state == outside && kw == "solid":
			state = inSolid
			solids++
		case state == inSolid && kw == "facet":
			if len(f) != 5 || string(f[1]) != "normal" {
				return Info{}, bad(`expected "facet normal nx ny nz"`)
			}
			for _, v := range f[2:] {
				if _, ok := finite(v); !ok {
					return Info{}, bad("normal is not three finite numbers")
				}
			}
			state = inFacet
		case state == inSolid && kw == "endsolid":
			state = outside
		case state == inFacet && kw == "outer":
			if len(f) != 2 || string(f[1]) != "loop" {
				return Info{}, bad(`expected "outer loop"`)
			}
			state, verts = inLoop, 0
		case state == inLoop && kw == "vertex":
			if len(f) != 4 {
				return Info{}, bad("vertex needs three coordinates")
			}
			for _, v := range f[1:] {
				if _, ok := finite(v); !ok {
					return Info{}, bad("vertex coordinate is not a finite number")
				}
			}
			verts++
		case state == inLoop && kw == "endloop":
			if verts != 3 {
				return Info{}, bad("facet does not have 3 vertices")
			}
			state = afterLoop
		case state == afterLoop && kw == "endfacet":
			faces++
			if faces > lim.MaxFaces {
				return Info{}, reject(KindSTL, "STL file has more than %d triangles", lim.MaxFaces)
			}
			state = inSolid
		default:
			return Info{}, bad("unexpected statement for this point in the file")
		}
	}
	if solids == 0 {
		return Info{}, reject(KindSTL, `ASCII STL does not start with "solid"`)
	}
	if state != outside {
		return Info{}, reject(KindSTL, `ASCII STL is truncated: no closing "endsolid"`)
	}
	if faces == 0 {
		return Info{}, reject(KindSTL, "STL file has no triangles")
	}
	return Info{Vertices: 3 * faces, Faces: faces}, nil
}
