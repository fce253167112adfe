package web

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// FuzzCheckJSONText: the body checker never panics, and a valid JSON body
// it passes is UTF-8 without the characters it refuses.
func FuzzCheckJSONText(f *testing.F) {
	for _, s := range []string{`{"name":"Ada"}`, `{"a":{"b":[1,"x",{"c":null}]},"A":2}`, "{\"n\":\"\xff\"}", `["\u202e"]`, `{"a":1,"a":2}`, `{`, `"x"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		is := checkJSONText(body)
		if len(is.fields) > maxBodyIssues {
			t.Fatalf("%d issues", len(is.fields))
		}
		if len(is.fields) == 0 && json.Valid(body) && !utf8.Valid(body) {
			t.Fatalf("passed a body that is not UTF-8: %q", body)
		}
	})
}
