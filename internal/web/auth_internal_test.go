package web

import (
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
)

func TestSafeNextKeepsRedirectsOnThisSite(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/account", "/account"},
		{"/workspace/members?m=x", "/workspace/members?m=x"},
		{"", "/home"},
		{"https://evil.example/", "/home"},
		{"//evil.example/", "/home"},
		{"/\\evil.example", "/home"},
		{"account", "/home"},
		{"/x\r\nSet-Cookie: a=b", "/home"},
	} {
		if got := safeNext(tc.in, "/home"); got != tc.want {
			t.Errorf("safeNext(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRequireScopeLimitsTokensButNotSessions(t *testing.T) {
	s := &Server{log: slog.New(slog.DiscardHandler)}
	h := s.requireScope("media:upload", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	for _, tc := range []struct {
		name string
		p    *access.Principal
		want int
	}{
		{"token with the scope", &access.Principal{UserID: "u", TokenID: "t", Scopes: []string{"media:upload"}}, 204},
		{"token without the scope", &access.Principal{UserID: "u", TokenID: "t", Scopes: []string{"records:read"}}, 403},
		{"session", &access.Principal{UserID: "u", SessionID: "s"}, 204},
		{"nobody", nil, 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("POST", "/api/v1/media", nil)
			if tc.p != nil {
				r = r.WithContext(access.WithPrincipal(r.Context(), tc.p))
			}
			w := httptest.NewRecorder()
			h(w, r)
			if w.Code != tc.want {
				t.Fatalf("got %d, want %d", w.Code, tc.want)
			}
		})
	}
}
