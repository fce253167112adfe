package web

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db/dbtest"
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

// TestPHIGuardCountsTheServicesAllowEntries proves the guard over routes
// whose domain services audit: a durable allow entry appended through
// AuditReceipts with the request's context lets the answer out; a deny
// entry, a system actor's entry or no entry at all does not.
func TestPHIGuardCountsTheServicesAllowEntries(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), dbtest.SQLite(t), key, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	svc := AuditReceipts(l) // what the app hands the domain services
	s := &Server{log: slog.New(slog.DiscardHandler)}
	if s.pages, err = parsePages(); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	for _, tc := range []struct {
		path  string
		event *audit.Event
		want  int
	}{
		{"/allow", &audit.Event{Action: "rehab.read", ActorUserID: "u-1", ActorRole: "clinician", Decision: "allow", Outcome: "success"}, http.StatusOK},
		{"/deny", &audit.Event{Action: "rehab.read", ActorUserID: "u-1", ActorRole: "clinician", Decision: "deny", Outcome: "denied"}, http.StatusInternalServerError},
		{"/system", &audit.Event{Action: "patient.age_check", ActorUserID: "system", ActorRole: "system", Decision: "allow", Outcome: "success"}, http.StatusInternalServerError},
		{"/forgot", nil, http.StatusInternalServerError},
	} {
		s.phi(&patternRecorder{mux: mux, s: s}, "GET "+tc.path, auditedByService, func(w http.ResponseWriter, r *http.Request) {
			if tc.event != nil {
				if _, err := svc.Append(r.Context(), *tc.event); err != nil {
					t.Fatal(err)
				}
			}
			WriteJSON(w, http.StatusOK, map[string]string{"name": "CANARY-NAME"})
		})
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", tc.path, nil))
		if w.Code != tc.want || (tc.want != http.StatusOK && strings.Contains(w.Body.String(), "CANARY")) {
			t.Errorf("%s: got %d %s, want %d", tc.path, w.Code, w.Body, tc.want)
		}
	}
}
