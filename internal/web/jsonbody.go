package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxJSONBody is the largest JSON request body DecodeJSON reads.
const maxJSONBody = 1 << 20

// maxBodyIssues caps the fields a refusal names, so a hostile body cannot
// make a large answer.
const maxBodyIssues = 20

// isJSONContentType is true for "application/json", with at most a
// charset parameter of utf-8. Structured-syntax suffix types
// (application/merge-patch+json and the like) are refused: they name
// formats with their own semantics, which these endpoints do not implement.
func isJSONContentType(h string) bool {
	mt, params, err := mime.ParseMediaType(h)
	if err != nil || mt != "application/json" {
		return false
	}
	if cs, ok := params["charset"]; ok && !strings.EqualFold(cs, "utf-8") {
		return false
	}
	return true
}

// bodyIssues are what checkJSONText found: field path → reason, and
// whether any was bytes that are not UTF-8 (a malformed body, 400) rather
// than well-formed text the API refuses (422).
type bodyIssues struct {
	fields  map[string]string
	badUTF8 bool
}

func (b *bodyIssues) add(field, reason string) {
	if b.fields == nil {
		b.fields = map[string]string{}
	}
	if _, dup := b.fields[field]; !dup && len(b.fields) < maxBodyIssues {
		b.fields[field] = reason
	}
}

// jsonFrame is one open object or array while checkJSONText walks a body.
type jsonFrame struct {
	object   bool
	keys     map[string]bool // lower-cased: encoding/json matches field names without regard to case
	key      string          // the current member's name (object)
	index    int             // the current element (array)
	wantsKey bool
}

// checkJSONText walks body token by token and reports, per field, member
// names that appear twice in one object (encoding/json would silently keep
// the last, so a check and a write could see different values), bytes that
// are not UTF-8 (encoding/json would silently replace them), and control or
// bidirectional-override characters in names and string values (they
// disguise what a name or note says). A syntax error is left to the
// decoder, which reports it.
func checkJSONText(body []byte) bodyIssues {
	var out bodyIssues
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var stack []*jsonFrame
	path := func() string { return jsonPath(stack) }
	var prev int64
	for {
		tok, err := dec.Token()
		if err != nil {
			return out
		}
		raw := body[prev:dec.InputOffset()]
		prev = dec.InputOffset()
		var top *jsonFrame
		if len(stack) > 0 {
			top = stack[len(stack)-1]
		}
		if top != nil && top.object && top.wantsKey {
			if d, ok := tok.(json.Delim); ok && d == '}' {
				stack = stack[:len(stack)-1]
				afterValue(stack)
				continue
			}
			key, _ := tok.(string)
			top.wantsKey = false
			switch {
			case !utf8.Valid(raw):
				out.badUTF8 = true
				top.key = "?"
				out.add(jsonPath(stack[:len(stack)-1]), "a field name here is not valid UTF-8")
				continue
			case badRune(key, false) >= 0:
				top.key = "?"
				out.add(jsonPath(stack[:len(stack)-1]), "a field name here holds a control or bidirectional-override character")
				continue
			}
			top.key = key
			if top.keys[strings.ToLower(key)] {
				out.add(path(), "appears more than once (names match without regard to case)")
			}
			top.keys[strings.ToLower(key)] = true
			continue
		}
		switch t := tok.(type) {
		case json.Delim:
			switch t {
			case '{':
				stack = append(stack, &jsonFrame{object: true, keys: map[string]bool{}, wantsKey: true})
			case '[':
				stack = append(stack, &jsonFrame{})
			default: // ']'; '}' is handled with the keys above
				stack = stack[:len(stack)-1]
				afterValue(stack)
			}
			continue
		case string:
			switch {
			case !utf8.Valid(raw):
				out.badUTF8 = true
				out.add(path(), "is not valid UTF-8")
			case badRune(t, true) >= 0:
				out.add(path(), "holds a control or bidirectional-override character")
			}
		}
		afterValue(stack)
	}
}

// jsonPath names the member or element the walk is at, e.g.
// "profile.given_name" or "exercises[2].type"; "body" is the whole body.
func jsonPath(stack []*jsonFrame) string {
	var b strings.Builder
	for _, f := range stack {
		if f.object {
			if b.Len() > 0 {
				b.WriteByte('.')
			}
			b.WriteString(f.key)
		} else {
			b.WriteString("[" + strconv.Itoa(f.index) + "]")
		}
	}
	if b.Len() == 0 {
		return "body"
	}
	return b.String()
}

// afterValue moves the innermost open object or array past the value just
// read.
func afterValue(stack []*jsonFrame) {
	if len(stack) == 0 {
		return
	}
	if top := stack[len(stack)-1]; top.object {
		top.wantsKey = true
	} else {
		top.index++
	}
}

// badRune returns the index of the first character s must not hold, or
// -1: C0 and C1 controls and DEL (a value may hold tab, line feed and
// carriage return, which multi-line notes need; a name may not), and the
// bidirectional embedding, override and isolate controls U+202A–U+202E and
// U+2066–U+2069, which make text display as something other than it is.
func badRune(s string, value bool) int {
	for i, c := range s {
		switch {
		case value && (c == '\t' || c == '\n' || c == '\r'):
		case c < 0x20, c >= 0x7f && c <= 0x9f:
			return i
		case c >= 0x202a && c <= 0x202e, c >= 0x2066 && c <= 0x2069:
			return i
		}
	}
	return -1
}

// readJSONBody reads a JSON request body for DecodeJSON, answering the
// refusal itself (415, 413, 400 or 422) when it returns false.
func readJSONBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	if !isJSONContentType(r.Header.Get("Content-Type")) {
		WriteProblem(w, r, http.StatusUnsupportedMediaType, "Send the request body as application/json (UTF-8).")
		return nil, false
	}
	// A declared length over the limit is refused before the body is read,
	// so a client that sent Expect: 100-continue never sends it and gets
	// the 413 instead of a connection closed under its upload.
	if r.ContentLength > maxJSONBody {
		WriteProblem(w, r, http.StatusRequestEntityTooLarge, "The request body is larger than 1 MiB.")
		return nil, false
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxJSONBody))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			WriteProblem(w, r, http.StatusRequestEntityTooLarge, "The request body is larger than 1 MiB.")
			return nil, false
		}
		WriteProblem(w, r, http.StatusBadRequest, "The request body could not be read.")
		return nil, false
	}
	if is := checkJSONText(body); len(is.fields) > 0 {
		status := http.StatusUnprocessableEntity
		if is.badUTF8 {
			status = http.StatusBadRequest
		}
		writeProblem(w, r, Problem{Status: status, Detail: "Some fields of the request body are refused; nothing was changed.", Errors: is.fields})
		return nil, false
	}
	return body, true
}
