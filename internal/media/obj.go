package media

import (
	"fmt"
	"io"
	"strconv"
	"unicode/utf8"
)

// ValidateOBJ checks a Wavefront OBJ: v (x y z [w] or x y z r g b), vt, vn,
// vp, and f/l/p statements whose indices (1-based, or negative relative to
// the end) refer to elements defined before them. Grouping, smoothing and
// material statements are allowed; other statements (curves, surfaces) are
// ignored as long as the file is text. The MTL and textures an OBJ names are
// uploaded as their own files.
func ValidateOBJ(r io.Reader, lim Limits) (Info, error) {
	lim = lim.orDefault()
	lr := newLineReader(r, lim.MaxLineBytes)
	var nv, nvt, nvn, faces int64
	var f [][]byte
	bad := func(what string) error { return reject(KindOBJ, "OBJ line %d: %s", lr.n, what) }
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err == errLineTooLong {
			return Info{}, reject(KindOBJ, "OBJ file has a line longer than %d bytes", lim.MaxLineBytes)
		}
		if err != nil {
			return Info{}, fmt.Errorf("read OBJ: %w", err)
		}
		if hasBinary(line) || !utf8.Valid(line) {
			return Info{}, bad("holds binary data")
		}
		f = fields(f, line)
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		switch string(f[0]) {
		case "v":
			if n := len(f) - 1; n != 3 && n != 4 && n != 6 && n != 7 {
				return Info{}, bad("a vertex needs x y z (optionally w, or r g b)")
			}
			if !allFinite(f[1:]) {
				return Info{}, bad("vertex coordinate is not a finite number")
			}
			if nv++; nv > lim.MaxVertices {
				return Info{}, reject(KindOBJ, "OBJ file has more than %d vertices", lim.MaxVertices)
			}
		case "vt":
			if n := len(f) - 1; n < 1 || n > 3 || !allFinite(f[1:]) {
				return Info{}, bad("a texture coordinate needs 1 to 3 numbers")
			}
			if nvt++; nvt > lim.MaxVertices {
				return Info{}, reject(KindOBJ, "OBJ file has more than %d texture coordinates", lim.MaxVertices)
			}
		case "vn":
			if len(f) != 4 || !allFinite(f[1:]) {
				return Info{}, bad("a normal needs three numbers")
			}
			if nvn++; nvn > lim.MaxVertices {
				return Info{}, reject(KindOBJ, "OBJ file has more than %d normals", lim.MaxVertices)
			}
		case "vp":
			if !allFinite(f[1:]) {
				return Info{}, bad("a parameter-space vertex needs numbers")
			}
		case "f", "l", "p":
			need := map[string]int{"f": 3, "l": 2, "p": 1}[string(f[0])]
			if len(f)-1 < need {
				return Info{}, bad(fmt.Sprintf("%s needs at least %d vertices", map[string]string{"f": "a face", "l": "a line", "p": "a point"}[string(f[0])], need))
			}
			for _, ref := range f[1:] {
				if err := checkOBJRef(ref, nv, nvt, nvn); err != "" {
					return Info{}, bad(err)
				}
			}
			if string(f[0]) == "f" {
				if faces++; faces > lim.MaxFaces {
					return Info{}, reject(KindOBJ, "OBJ file has more than %d faces", lim.MaxFaces)
				}
			}
		}
	}
	if nv == 0 {
		return Info{}, reject(KindOBJ, "OBJ file has no vertices")
	}
	return Info{Vertices: nv, Faces: faces}, nil
}

func allFinite(fs [][]byte) bool {
	for _, v := range fs {
		if _, ok := finite(v); !ok {
			return false
		}
	}
	return true
}

// checkOBJRef checks one v, v/vt, v//vn or v/vt/vn reference.
func checkOBJRef(ref []byte, nv, nvt, nvn int64) string {
	var parts [3][]byte
	n := 0
	start := 0
	for i := 0; i <= len(ref); i++ {
		if i == len(ref) || ref[i] == '/' {
			if n == 3 {
				return "a face vertex has more than three indices"
			}
			parts[n] = ref[start:i]
			n++
			start = i + 1
		}
	}
	limits := [3]int64{nv, nvt, nvn}
	names := [3]string{"vertex", "texture coordinate", "normal"}
	for i := 0; i < n; i++ {
		if len(parts[i]) == 0 {
			if i == 0 {
				return "a face vertex has no vertex index"
			}
			continue
		}
		idx, err := strconv.ParseInt(string(parts[i]), 10, 64)
		if err != nil {
			return "a face index is not a whole number"
		}
		if idx == 0 || idx > limits[i] || -idx > limits[i] {
			return fmt.Sprintf("a face refers to a %s that does not exist", names[i])
		}
	}
	return ""
}

// ValidateMTL checks that a material library is text with known or at least
// well-formed statements. Texture maps it names are separate uploads.
func ValidateMTL(r io.Reader, lim Limits) error {
	lim = lim.orDefault()
	lr := newLineReader(r, lim.MaxLineBytes)
	var f [][]byte
	materials := 0
	for {
		line, err := lr.next()
		if err == io.EOF {
			break
		}
		if err == errLineTooLong {
			return reject(KindMTL, "MTL file has a line longer than %d bytes", lim.MaxLineBytes)
		}
		if err != nil {
			return fmt.Errorf("read MTL: %w", err)
		}
		if hasBinary(line) || !utf8.Valid(line) {
			return reject(KindMTL, "MTL line %d: holds binary data", lr.n)
		}
		f = fields(f, line)
		if len(f) == 0 || f[0][0] == '#' {
			continue
		}
		if string(f[0]) == "newmtl" {
			materials++
		} else if materials == 0 {
			return reject(KindMTL, "MTL line %d: a statement comes before the first newmtl", lr.n)
		}
	}
	if materials == 0 {
		return reject(KindMTL, "MTL file defines no material")
	}
	return nil
}
