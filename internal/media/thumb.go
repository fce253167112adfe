package media

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/draw"
)

// ThumbSize is the longest side of a thumbnail, in pixels.
const ThumbSize = 256

// ErrNoThumbnail means a kind has no rendered thumbnail (meshes: the page
// shows a generic icon instead).
var ErrNoThumbnail = errors.New("media: no thumbnail for this kind")

// Thumbnail renders a PNG of at most ThumbSize pixels on its longest side:
// photographs from their pixels (so no metadata survives), DICOM from the
// middle frame with the file's default window.
func Thumbnail(kind Kind, src Source, info *DICOMInfo) ([]byte, error) {
	var img image.Image
	switch {
	case kind.IsImage():
		rc, err := src.Open()
		if err != nil {
			return nil, fmt.Errorf("open image: %w", err)
		}
		img, err = decodeImage(kind, rc)
		rc.Close()
		if err != nil {
			return nil, &Rejection{Kind: kind, Reason: kindName(kind) + " image data does not decode"}
		}
	case kind == KindDICOM && info != nil:
		var err error
		if img, err = RenderFrame(src, info, info.Frames/2, nil); err != nil {
			return nil, err
		}
	default:
		return nil, ErrNoThumbnail
	}
	var buf bytes.Buffer
	if err := EncodePNG(&buf, Downscale(img, ThumbSize)); err != nil {
		return nil, fmt.Errorf("encode thumbnail: %w", err)
	}
	return buf.Bytes(), nil
}

// Downscale shrinks img so that its longest side is at most limit, averaging
// the source pixels under each target pixel (a box filter: good enough for
// thumbnails and free of aliasing stripes).
func Downscale(img image.Image, limit int) image.Image {
	b := img.Bounds()
	sw, sh := b.Dx(), b.Dy()
	if sw <= limit && sh <= limit {
		return img
	}
	dw, dh := limit, limit
	if sw > sh {
		dh = max(1, sh*limit/sw)
	} else {
		dw = max(1, sw*limit/sh)
	}
	src := image.NewRGBA(image.Rect(0, 0, sw, sh))
	draw.Draw(src, src.Rect, img, b.Min, draw.Src)
	dst := image.NewRGBA(image.Rect(0, 0, dw, dh))
	for y := 0; y < dh; y++ {
		y0, y1 := y*sh/dh, max(y*sh/dh+1, (y+1)*sh/dh)
		for x := 0; x < dw; x++ {
			x0, x1 := x*sw/dw, max(x*sw/dw+1, (x+1)*sw/dw)
			var r, g, bl, a, n int
			for yy := y0; yy < y1; yy++ {
				row := src.Pix[yy*src.Stride:]
				for xx := x0; xx < x1; xx++ {
					p := row[4*xx : 4*xx+4]
					r, g, bl, a = r+int(p[0]), g+int(p[1]), bl+int(p[2]), a+int(p[3])
					n++
				}
			}
			o := dst.Pix[y*dst.Stride+4*x:]
			o[0], o[1], o[2], o[3] = uint8(r/n), uint8(g/n), uint8(bl/n), uint8(a/n)
		}
	}
	return dst
}
