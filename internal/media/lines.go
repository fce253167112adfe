package media

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"math"
	"strconv"
)

// lineReader yields lines of at most max bytes, so one endless line cannot
// make a parser buffer a whole file.
type lineReader struct {
	br   *bufio.Reader
	max  int
	n    int64 // line number, for messages
	long []byte
}

var errLineTooLong = errors.New("line too long")

func newLineReader(r io.Reader, max int) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 64<<10), max: max}
}

// next returns the next line without its line ending, or io.EOF.
func (l *lineReader) next() ([]byte, error) {
	l.long = l.long[:0]
	for {
		frag, err := l.br.ReadSlice('\n')
		if len(l.long)+len(frag) > l.max+2 {
			return nil, errLineTooLong
		}
		if err == bufio.ErrBufferFull {
			l.long = append(l.long, frag...)
			continue
		}
		var line []byte
		if len(l.long) > 0 {
			l.long = append(l.long, frag...)
			line = l.long
		} else {
			line = frag
		}
		if err == io.EOF && len(line) == 0 {
			return nil, io.EOF
		}
		if err != nil && err != io.EOF {
			return nil, err
		}
		l.n++
		line = bytes.TrimSuffix(line, []byte("\n"))
		line = bytes.TrimSuffix(line, []byte("\r"))
		return line, nil
	}
}

// fields splits a line on ASCII white space into dst.
func fields(dst [][]byte, line []byte) [][]byte {
	dst = dst[:0]
	i := 0
	for i < len(line) {
		for i < len(line) && isSpace(line[i]) {
			i++
		}
		j := i
		for j < len(line) && !isSpace(line[j]) {
			j++
		}
		if j > i {
			dst = append(dst, line[i:j])
		}
		i = j
	}
	return dst
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\f' || c == '\v' }

// finite parses a float that must be a finite number: a NaN or an infinity
// in a coordinate breaks bounding boxes and viewers downstream.
func finite(b []byte) (float64, bool) {
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// hasBinary reports a NUL or other control byte that no text format holds.
func hasBinary(line []byte) bool {
	for _, c := range line {
		if c < 0x20 && c != '\t' && c != '\r' && c != '\f' && c != '\v' {
			return true
		}
	}
	return false
}
