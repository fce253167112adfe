package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestPHIGuardWithholdsAResponseWithoutAReceipt proves the guard: a PHI
// handler that forgets to audit gets a 500, and its data never leaves.
func TestPHIGuardWithholdsAResponseWithoutAReceipt(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	p, err := parsePages()
	if err != nil {
		t.Fatal(err)
	}
	s.pages = p
	mux := http.NewServeMux()
	s.phi(&patternRecorder{mux: mux, s: s}, "GET /api/v1/leaky", "patient.read", func(w http.ResponseWriter, r *http.Request) {
		WriteJSON(w, http.StatusOK, map[string]string{"name": "CANARY-NAME"})
	})
	w := httptest.NewRecorder()
	mux.ServeHTTP(w, httptest.NewRequest("GET", "/api/v1/leaky", nil))
	if w.Code != http.StatusInternalServerError || strings.Contains(w.Body.String(), "CANARY") {
		t.Fatalf("got %d %s, want 500 without the data", w.Code, w.Body)
	}
	if got := s.PHIRoutes(); len(got) != 1 || got[0] != (PHIRoute{"GET /api/v1/leaky", "patient.read"}) {
		t.Fatalf("registry %v", got)
	}
}
