package web_test

import (
	"encoding/json"
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/web"
)

// The rules every operation of the merged OpenAPI document keeps, whichever
// fragment it comes from. CI also runs an outside linter (redocly, see
// .ci/run); these are the house rules it does not know.

var (
	httpMethods = []string{"get", "put", "post", "delete", "patch", "head", "options", "trace"}
	operationID = regexp.MustCompile(`^[a-z][a-zA-Z0-9]*$`)
)

// lintOpenAPI returns one line per broken rule, sorted.
func lintOpenAPI(doc map[string]any) []string {
	var problems []string
	bad := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }

	schemes, _ := dig(doc, "components", "securitySchemes").(map[string]any)
	paths, _ := doc["paths"].(map[string]any)
	if len(paths) == 0 {
		bad("the document has no paths")
	}
	ids := map[string]string{}
	for path, item := range paths {
		ops, _ := item.(map[string]any)
		for _, method := range httpMethods {
			op, ok := ops[method].(map[string]any)
			if !ok {
				continue
			}
			where := strings.ToUpper(method) + " " + path

			id, _ := op["operationId"].(string)
			switch {
			case id == "":
				bad("%s: no operationId", where)
			case !operationID.MatchString(id):
				bad("%s: operationId %q is not camelCase", where, id)
			case ids[id] != "":
				bad("%s: operationId %q is also used by %s", where, id, ids[id])
			default:
				ids[id] = where
			}
			if s, _ := op["summary"].(string); strings.TrimSpace(s) == "" {
				bad("%s: no summary", where)
			}

			public := false
			security, declared := op["security"].([]any)
			if !declared {
				bad("%s: no security (declare [] for a public operation)", where)
			}
			if declared && len(security) == 0 {
				public = true
			}
			for _, req := range security {
				m, ok := req.(map[string]any)
				if !ok {
					bad("%s: a security requirement is not an object", where)
					continue
				}
				if len(m) == 0 {
					public = true // {} makes credentials optional
				}
				for name := range m {
					if _, ok := schemes[name]; !ok {
						bad("%s: security scheme %q is not in components.securitySchemes", where, name)
					}
				}
			}

			responses, _ := op["responses"].(map[string]any)
			has := func(status int) bool { _, ok := responses[strconv.Itoa(status)]; return ok }
			clientErrors := 0
			for code, resp := range responses {
				if strings.HasPrefix(code, "4") {
					clientErrors++
				}
				if !strings.HasPrefix(code, "4") && !strings.HasPrefix(code, "5") {
					continue
				}
				m, _ := resp.(map[string]any)
				if ref, _ := m["$ref"].(string); !strings.HasPrefix(ref, "#/components/responses/") {
					bad("%s: response %s is not a $ref to a shared components response", where, code)
				}
			}
			if clientErrors == 0 {
				bad("%s: no 4xx response", where)
			}
			if !public && !has(503) {
				bad("%s: not public but no 503 (audit log or database unavailable)", where)
			}
			if hasJSONBody(op) && !has(415) {
				bad("%s: has a JSON request body but no 415", where)
			}
			if strings.Contains(path, "{") && !has(404) {
				bad("%s: has a path id but no 404", where)
			}
		}
	}
	walkRefs(doc, "#", func(at, ref string) {
		if !strings.HasPrefix(ref, "#/") {
			bad("%s: $ref %q is not local to the document", at, ref)
			return
		}
		if resolve(doc, ref) == nil {
			bad("%s: $ref %q points at nothing", at, ref)
		}
	})
	sort.Strings(problems)
	return problems
}

func hasJSONBody(op map[string]any) bool {
	content, _ := dig(op, "requestBody", "content").(map[string]any)
	for media := range content {
		if media == "application/json" || strings.HasSuffix(media, "+json") {
			return true
		}
	}
	return false
}

func dig(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// resolve follows a local JSON pointer (RFC 6901), or returns nil.
func resolve(doc map[string]any, ref string) any {
	var v any = doc
	for _, part := range strings.Split(strings.TrimPrefix(ref, "#/"), "/") {
		part = strings.NewReplacer("~1", "/", "~0", "~").Replace(part)
		switch x := v.(type) {
		case map[string]any:
			v = x[part]
		case []any:
			i, err := strconv.Atoi(part)
			if err != nil || i < 0 || i >= len(x) {
				return nil
			}
			v = x[i]
		default:
			return nil
		}
		if v == nil {
			return nil
		}
	}
	return v
}

func walkRefs(v any, at string, fn func(at, ref string)) {
	switch x := v.(type) {
	case map[string]any:
		if ref, ok := x["$ref"].(string); ok {
			fn(at, ref)
		}
		for k, child := range x {
			walkRefs(child, at+"/"+k, fn)
		}
	case []any:
		for i, child := range x {
			walkRefs(child, at+"/"+strconv.Itoa(i), fn)
		}
	}
}

// TestOpenAPIEveryOperationDeclaresSecurityIDAndErrors lints the merged
// document the server serves: every fragment, including ones added later.
func TestOpenAPIEveryOperationDeclaresSecurityIDAndErrors(t *testing.T) {
	b, err := web.OpenAPI()
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for _, p := range lintOpenAPI(doc) {
		t.Error(p)
	}
}

// TestOpenAPILintCatchesEachBrokenRule proves each rule of lintOpenAPI
// fires, so a passing document means something.
func TestOpenAPILintCatchesEachBrokenRule(t *testing.T) {
	const base = `{"components":{"securitySchemes":{"session":{"type":"apiKey","in":"cookie","name":"c"}},
		"responses":{"NotFound":{"description":"x"},"ServiceUnavailable":{"description":"x"},"UnsupportedMediaType":{"description":"x"}}},
		"paths":{%s}}`
	good := `"/things/{id}":{"post":{"operationId":"createThing","summary":"s","security":[{"session":[]}],
		"requestBody":{"content":{"application/json":{}}},
		"responses":{"201":{"description":"ok"},"404":{"$ref":"#/components/responses/NotFound"},
		"415":{"$ref":"#/components/responses/UnsupportedMediaType"},"503":{"$ref":"#/components/responses/ServiceUnavailable"}}}}`
	tests := []struct {
		name  string
		paths string
		want  string // a substring of the one expected problem; "" for none
	}{
		{"a complete operation passes", good, ""},
		{"operationId missing", strings.Replace(good, `"operationId":"createThing",`, "", 1), "no operationId"},
		{"operationId not camelCase", strings.Replace(good, `createThing`, `create_thing`, 1), "not camelCase"},
		{"operationId used twice", good + `,` + strings.Replace(good, `/things/{id}`, `/others/{id}`, 1), "is also used by"},
		{"summary missing", strings.Replace(good, `"summary":"s",`, "", 1), "no summary"},
		{"security missing", strings.Replace(good, `"security":[{"session":[]}],`, "", 1), "no security"},
		{"unknown security scheme", strings.Replace(good, `{"session":[]}`, `{"cookie":[]}`, 1), `"cookie" is not in`},
		{"no 4xx", strings.NewReplacer(`"404":{"$ref":"#/components/responses/NotFound"},`, "", `"415":{"$ref":"#/components/responses/UnsupportedMediaType"},`, "", `{id}`, `x`).Replace(good), "no 4xx"},
		{"no 503 on a non-public operation", strings.Replace(good, `,"503":{"$ref":"#/components/responses/ServiceUnavailable"}`, "", 1), "no 503"},
		{"a public operation needs no 503", strings.NewReplacer(`[{"session":[]}]`, `[]`, `,"503":{"$ref":"#/components/responses/ServiceUnavailable"}`, "").Replace(good), ""},
		{"JSON body without 415", strings.Replace(good, `"415":{"$ref":"#/components/responses/UnsupportedMediaType"},`, "", 1), "no 415"},
		{"path id without 404", strings.Replace(good, `"404":{"$ref":"#/components/responses/NotFound"},`, "", 1), "no 404"},
		{"inline error response", strings.Replace(good, `"404":{"$ref":"#/components/responses/NotFound"}`, `"404":{"description":"gone"}`, 1), "not a $ref"},
		{"dangling $ref", strings.Replace(good, `responses/NotFound"`, `responses/Gone"`, 1), "points at nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal([]byte(fmt.Sprintf(base, tt.paths)), &doc); err != nil {
				t.Fatal(err)
			}
			got := lintOpenAPI(doc)
			if tt.want == "" {
				if len(got) != 0 {
					t.Fatalf("want no problems, got %q", got)
				}
				return
			}
			found := false
			for _, p := range got {
				found = found || strings.Contains(p, tt.want)
			}
			if !found {
				t.Fatalf("want a problem containing %q, got %q", tt.want, got)
			}
		})
	}
}
