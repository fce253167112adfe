package media

import (
	"errors"
	"strconv"
	"strings"
)

// ContentRange is a parsed Content-Range request header of an upload chunk:
// bytes Start through End (inclusive) of a file of Total bytes (Total is -1
// for "*", when the client does not say).
type ContentRange struct {
	Start, End, Total int64
}

// Len is the number of bytes the range covers.
func (c ContentRange) Len() int64 { return c.End - c.Start + 1 }

// ErrContentRange means a Content-Range header is malformed.
var ErrContentRange = errors.New(`Content-Range must be "bytes START-END/TOTAL" with 0 <= START <= END < TOTAL`)

// ParseContentRange parses "bytes START-END/TOTAL" or "bytes START-END/*"
// (RFC 9110 14.4). Numbers are plain decimal digits, at most 18 of them, so
// nothing overflows.
func ParseContentRange(s string) (ContentRange, error) {
	rest, ok := strings.CutPrefix(s, "bytes ")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	rng, total, ok := strings.Cut(rest, "/")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	a, b, ok := strings.Cut(rng, "-")
	if !ok {
		return ContentRange{}, ErrContentRange
	}
	var c ContentRange
	var err error
	if c.Start, err = digits(a); err != nil {
		return ContentRange{}, err
	}
	if c.End, err = digits(b); err != nil {
		return ContentRange{}, err
	}
	if total == "*" {
		c.Total = -1
	} else if c.Total, err = digits(total); err != nil {
		return ContentRange{}, err
	}
	if c.End < c.Start || (c.Total >= 0 && c.End >= c.Total) {
		return ContentRange{}, ErrContentRange
	}
	return c, nil
}

func digits(s string) (int64, error) {
	if len(s) == 0 || len(s) > 18 {
		return 0, ErrContentRange
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, ErrContentRange
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, ErrContentRange
	}
	return n, nil
}
