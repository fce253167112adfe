package web

import (
	_ "embed"
	"net/http"
)

// openapiJSON describes the JSON API. Keep it current with every route
// under /api/v1; a test checks that each registered API route appears in it.
//
//go:embed openapi.json
var openapiJSON []byte

func (s *Server) openAPI(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(openapiJSON)
}
