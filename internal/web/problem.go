package web

import (
	"bytes"
	"encoding/json"
	"net/http"
)

// Problem is an RFC 9457 problem detail. Detail is shown to the caller, so it
// never holds PHI, SQL or a stack trace.
type Problem struct {
	Type     string            `json:"type"`
	Title    string            `json:"title"`
	Status   int               `json:"status"`
	Detail   string            `json:"detail,omitempty"`
	Instance string            `json:"instance,omitempty"`
	Errors   map[string]string `json:"errors,omitempty"` // field → reason, for validation failures
}

// WriteProblem writes an application/problem+json response. The request id
// goes in "instance" so a user can quote it to support.
func WriteProblem(w http.ResponseWriter, r *http.Request, status int, detail string) {
	writeProblem(w, r, Problem{Status: status, Detail: detail})
}

// WriteValidation writes a 422 naming each bad field and why.
func WriteValidation(w http.ResponseWriter, r *http.Request, detail string, fields map[string]string) {
	writeProblem(w, r, Problem{Status: http.StatusUnprocessableEntity, Detail: detail, Errors: fields})
}

func writeProblem(w http.ResponseWriter, r *http.Request, p Problem) {
	if p.Type == "" {
		p.Type = "about:blank"
	}
	if p.Title == "" {
		p.Title = http.StatusText(p.Status)
	}
	p.Instance = "urn:request:" + RequestID(r.Context())
	w.Header().Set("Content-Type", "application/problem+json")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

// WriteJSON writes v as JSON with the given status.
func WriteJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// DecodeJSON reads a JSON body of at most 1 MiB into v. It refuses (415) a
// Content-Type other than application/json; (400/422, naming each field)
// duplicate member names, bytes that are not UTF-8 and control or
// bidirectional-override characters; and (400) unknown fields and trailing
// data. On failure it writes the problem and returns false, so a handler
// simply returns. Every JSON-body endpoint goes through it; uploads of
// binary bodies do not.
func DecodeJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body, ok := readJSONBody(w, r)
	if !ok {
		return false
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		WriteProblem(w, r, http.StatusBadRequest, "The request body is not valid JSON for this operation: "+jsonErrorSummary(err))
		return false
	}
	if dec.More() {
		WriteProblem(w, r, http.StatusBadRequest, "The request body holds more than one JSON value.")
		return false
	}
	return true
}

// jsonErrorSummary names what was wrong without echoing the input.
func jsonErrorSummary(err error) string {
	switch e := err.(type) {
	case *json.SyntaxError:
		return "syntax error"
	case *json.UnmarshalTypeError:
		return "field " + e.Field + " has the wrong type"
	case *http.MaxBytesError:
		return "body too large"
	}
	if s := err.Error(); len(s) > 20 && s[:20] == "json: unknown field " {
		return "unknown field " + s[20:]
	}
	return "malformed body"
}
