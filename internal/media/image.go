package media

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"image"
	"image/jpeg"
	"image/png"
	"io"
)

var pngSignature = []byte("\x89PNG\r\n\x1a\n")

// validateImage measures the picture first (DecodeConfig reads only the
// header), refuses one with too many pixels, then decodes all of it: a
// header alone proves nothing about the rest of the file.
func validateImage(kind Kind, src Source, lim Limits) (Info, error) {
	cfgDecode, decode := png.DecodeConfig, png.Decode
	if kind == KindJPEG {
		cfgDecode, decode = jpeg.DecodeConfig, jpeg.Decode
	}
	rc, err := src.Open()
	if err != nil {
		return Info{}, fmt.Errorf("open image: %w", err)
	}
	cfg, err := cfgDecode(bufio.NewReader(rc))
	rc.Close()
	if err != nil {
		return Info{}, reject(kind, "%s header does not decode", kindName(kind))
	}
	if cfg.Width <= 0 || cfg.Height <= 0 || int64(cfg.Width)*int64(cfg.Height) > lim.MaxPixels {
		return Info{}, reject(kind, "%s image is larger than %d pixels", kindName(kind), lim.MaxPixels)
	}
	rc, err = src.Open()
	if err != nil {
		return Info{}, fmt.Errorf("open image: %w", err)
	}
	defer rc.Close()
	if _, err := decode(bufio.NewReader(rc)); err != nil {
		return Info{}, reject(kind, "%s image data does not decode", kindName(kind))
	}
	return Info{Width: cfg.Width, Height: cfg.Height}, nil
}

// StripMetadata copies a photograph from src to dst without the metadata
// that can identify a person or a place, for the viewing copy; the original
// stays untouched for its uploader.
//
// JPEG: the segments are copied losslessly except APP1–APP15 and COM (EXIF
// with GPS, maker notes and serial numbers, XMP, IPTC, comments); APP0 JFIF,
// APP2 ICC profiles and APP14 Adobe (colour transform) are kept, as are
// segments between progressive scans. Bytes after EOI are dropped.
//
// PNG: only critical chunks and colour chunks are kept (IHDR, PLTE, IDAT,
// IEND, tRNS, cHRM, gAMA, iCCP, sBIT, sRGB, cICP, bKGD, pHYs); tEXt, zTXt,
// iTXt, eXIf, tIME and every other ancillary or private chunk are dropped.
func StripMetadata(kind Kind, dst io.Writer, src io.Reader) error {
	switch kind {
	case KindJPEG:
		return stripJPEG(dst, src)
	case KindPNG:
		return stripPNG(dst, src)
	}
	return fmt.Errorf("strip metadata: %s is not a photograph", kindName(kind))
}

var errBadJPEG = &Rejection{Kind: KindJPEG, Reason: "JPEG segment structure is malformed"}

func stripJPEG(dst io.Writer, src io.Reader) error {
	br := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(dst, 64<<10)
	var soi [2]byte
	if _, err := io.ReadFull(br, soi[:]); err != nil || soi != [2]byte{0xFF, 0xD8} {
		return errBadJPEG
	}
	bw.Write(soi[:])
	inScan := false
	for {
		if inScan {
			// Entropy-coded data: copy until a marker that is not a stuffed
			// 0xFF00 or a restart marker.
			b, err := br.ReadByte()
			if err != nil {
				return errBadJPEG
			}
			if b != 0xFF {
				bw.WriteByte(b)
				continue
			}
			m, err := br.ReadByte()
			if err != nil {
				return errBadJPEG
			}
			if m == 0x00 || (m >= 0xD0 && m <= 0xD7) {
				bw.WriteByte(0xFF)
				bw.WriteByte(m)
				continue
			}
			if m == 0xFF {
				br.UnreadByte()
				continue
			}
			inScan = false
			if err := stripJPEGSegment(bw, br, m, &inScan); err != nil {
				return err
			}
			if m == 0xD9 {
				return bw.Flush()
			}
			continue
		}
		b, err := br.ReadByte()
		if err != nil {
			return errBadJPEG
		}
		if b != 0xFF {
			return errBadJPEG
		}
		m, err := br.ReadByte()
		for err == nil && m == 0xFF { // fill bytes
			m, err = br.ReadByte()
		}
		if err != nil {
			return errBadJPEG
		}
		if err := stripJPEGSegment(bw, br, m, &inScan); err != nil {
			return err
		}
		if m == 0xD9 {
			return bw.Flush()
		}
	}
}

// stripJPEGSegment copies or drops the segment that marker m starts.
func stripJPEGSegment(bw *bufio.Writer, br *bufio.Reader, m byte, inScan *bool) error {
	if m == 0xD9 || m == 0x01 || (m >= 0xD0 && m <= 0xD7) { // EOI, TEM, RSTn: no length
		bw.Write([]byte{0xFF, m})
		return nil
	}
	var l [2]byte
	if _, err := io.ReadFull(br, l[:]); err != nil {
		return errBadJPEG
	}
	n := int(binary.BigEndian.Uint16(l[:]))
	if n < 2 {
		return errBadJPEG
	}
	body := make([]byte, n-2)
	if _, err := io.ReadFull(br, body); err != nil {
		return errBadJPEG
	}
	keep := true
	switch {
	case m == 0xE0:
		keep = bytes.HasPrefix(body, []byte("JFIF\x00"))
	case m == 0xE2:
		keep = bytes.HasPrefix(body, []byte("ICC_PROFILE\x00"))
	case m == 0xEE:
		keep = bytes.HasPrefix(body, []byte("Adobe"))
	case m >= 0xE1 && m <= 0xEF, m == 0xFE:
		keep = false
	}
	if keep {
		bw.Write([]byte{0xFF, m})
		bw.Write(l[:])
		bw.Write(body)
	}
	if m == 0xDA {
		*inScan = true
	}
	return nil
}

// pngKeep are the chunks the viewing copy keeps: critical and colour.
var pngKeep = map[string]bool{
	"IHDR": true, "PLTE": true, "IDAT": true, "IEND": true,
	"tRNS": true, "cHRM": true, "gAMA": true, "iCCP": true, "sBIT": true, "sRGB": true, "cICP": true, "bKGD": true, "pHYs": true,
}

var errBadPNG = &Rejection{Kind: KindPNG, Reason: "PNG chunk structure is malformed"}

func stripPNG(dst io.Writer, src io.Reader) error {
	br := bufio.NewReaderSize(src, 64<<10)
	bw := bufio.NewWriterSize(dst, 64<<10)
	sig := make([]byte, 8)
	if _, err := io.ReadFull(br, sig); err != nil || !bytes.Equal(sig, pngSignature) {
		return errBadPNG
	}
	bw.Write(sig)
	for {
		var h [8]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			return errBadPNG
		}
		n := int64(binary.BigEndian.Uint32(h[:4]))
		if n > 1<<31-1 {
			return errBadPNG
		}
		typ := string(h[4:8])
		if pngKeep[typ] {
			bw.Write(h[:])
			if _, err := io.CopyN(bw, br, n+4); err != nil {
				return errBadPNG
			}
		} else if _, err := io.CopyN(io.Discard, br, n+4); err != nil {
			return errBadPNG
		}
		if typ == "IEND" {
			return bw.Flush()
		}
	}
}

// decodeImage decodes a photograph of a known kind.
func decodeImage(kind Kind, r io.Reader) (image.Image, error) {
	switch kind {
	case KindJPEG:
		return jpeg.Decode(bufio.NewReader(r))
	case KindPNG:
		return png.Decode(bufio.NewReader(r))
	}
	return nil, errors.New("not a photograph")
}
