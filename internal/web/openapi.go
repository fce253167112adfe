package web

import (
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"net/http"
	"sort"
)

// The OpenAPI document is kept as one fragment per domain under openapi/
// (00-base.json holds info and shared components); they are merged at start.
// Keep it current with every route under /api/v1: a test checks that each
// registered API route appears in it. Every operation names an operationId,
// its security (00-base.json's "session" and "bearer" schemes; [] when
// public) and its errors as $refs to components.responses (BadRequest,
// Unauthorized, Forbidden, NotFound, Conflict, UnsupportedMediaType,
// ServiceUnavailable, ...): openapi_lint_test.go checks that of every
// fragment, and CI runs Redocly's linter on the merged document.
//
//go:embed openapi/*.json
var openapiFS embed.FS

// OpenAPI returns the merged OpenAPI document.
func OpenAPI() ([]byte, error) {
	files, err := fs.Glob(openapiFS, "openapi/*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	doc := map[string]any{}
	for _, f := range files {
		b, err := fs.ReadFile(openapiFS, f)
		if err != nil {
			return nil, err
		}
		var frag map[string]any
		if err := json.Unmarshal(b, &frag); err != nil {
			return nil, fmt.Errorf("openapi fragment %s: %w", f, err)
		}
		mergeJSON(doc, frag)
	}
	return json.MarshalIndent(doc, "", "  ")
}

// mergeJSON merges src into dst: objects recursively, anything else replaced.
func mergeJSON(dst, src map[string]any) {
	for k, v := range src {
		if sm, ok := v.(map[string]any); ok {
			if dm, ok := dst[k].(map[string]any); ok {
				mergeJSON(dm, sm)
				continue
			}
		}
		dst[k] = v
	}
}

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(s.openapi)
}
