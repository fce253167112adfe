// Package mediatest makes small, valid media files for tests in other
// packages (the media package's own tests have fuller generators).
package mediatest

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// BinarySTL returns a binary STL of n triangles fanned around the origin.
func BinarySTL(n int) []byte {
	var b bytes.Buffer
	b.Write(make([]byte, 80))
	binary.Write(&b, binary.LittleEndian, uint32(n))
	for i := 0; i < n; i++ {
		x := float32(i % 10)
		y := float32(i / 10)
		binary.Write(&b, binary.LittleEndian, []float32{0, 0, 1, x, y, 0, x + 1, y, 0, x, y + 1, 0.5})
		b.Write([]byte{0, 0})
	}
	return b.Bytes()
}

// DICOMGray16 returns an explicit VR little endian DICOM file of frames
// frames of rows×cols unsigned 16-bit samples forming a ramp from 0 to max
// along each row (plus 100 per frame), with the given window and patient
// name.
func DICOMGray16(rows, cols, frames int, max int, wc, ww int, patientName string) []byte {
	le := binary.LittleEndian
	elem := func(b *bytes.Buffer, g, e uint16, vr string, v []byte) {
		if len(v)%2 == 1 {
			pad := byte(' ')
			if vr == "UI" || vr == "OB" {
				pad = 0
			}
			v = append(v, pad)
		}
		binary.Write(b, le, []uint16{g, e})
		b.WriteString(vr)
		switch vr {
		case "OB", "OW":
			b.Write([]byte{0, 0})
			binary.Write(b, le, uint32(len(v)))
		default:
			binary.Write(b, le, uint16(len(v)))
		}
		b.Write(v)
	}
	us := func(v int) []byte { return []byte{byte(v), byte(v >> 8)} }
	var meta bytes.Buffer
	elem(&meta, 2, 1, "OB", []byte{0, 1})
	elem(&meta, 2, 2, "UI", []byte("1.2.840.10008.5.1.4.1.1.7"))
	elem(&meta, 2, 3, "UI", []byte("1.2.826.0.1.3680043.10.9.1.1"))
	elem(&meta, 2, 0x10, "UI", []byte("1.2.840.10008.1.2.1"))
	var out bytes.Buffer
	out.Write(make([]byte, 128))
	out.WriteString("DICM")
	gl := make([]byte, 4)
	le.PutUint32(gl, uint32(meta.Len()))
	elem(&out, 2, 0, "UL", gl)
	out.Write(meta.Bytes())
	elem(&out, 0x0008, 0x0016, "UI", []byte("1.2.840.10008.5.1.4.1.1.7"))
	elem(&out, 0x0008, 0x0018, "UI", []byte("1.2.826.0.1.3680043.10.9.1.1"))
	elem(&out, 0x0008, 0x0060, "CS", []byte("OT"))
	elem(&out, 0x0010, 0x0010, "PN", []byte(patientName))
	elem(&out, 0x0020, 0x000D, "UI", []byte("1.2.826.0.1.3680043.10.9"))
	elem(&out, 0x0020, 0x000E, "UI", []byte("1.2.826.0.1.3680043.10.9.1"))
	elem(&out, 0x0028, 0x0002, "US", us(1))
	elem(&out, 0x0028, 0x0004, "CS", []byte("MONOCHROME2"))
	elem(&out, 0x0028, 0x0008, "IS", []byte(fmt.Sprint(frames)))
	elem(&out, 0x0028, 0x0010, "US", us(rows))
	elem(&out, 0x0028, 0x0011, "US", us(cols))
	elem(&out, 0x0028, 0x0100, "US", us(16))
	elem(&out, 0x0028, 0x0101, "US", us(16))
	elem(&out, 0x0028, 0x0102, "US", us(15))
	elem(&out, 0x0028, 0x0103, "US", us(0))
	elem(&out, 0x0028, 0x1050, "DS", []byte(fmt.Sprint(wc)))
	elem(&out, 0x0028, 0x1051, "DS", []byte(fmt.Sprint(ww)))
	px := make([]byte, 0, rows*cols*frames*2)
	for f := 0; f < frames; f++ {
		for y := 0; y < rows; y++ {
			for x := 0; x < cols; x++ {
				px = append(px, us(x*max/max1(cols-1)+100*f)...)
			}
		}
	}
	elem(&out, 0x7FE0, 0x0010, "OW", px)
	return out.Bytes()
}

func max1(v int) int {
	if v < 1 {
		return 1
	}
	return v
}
