package web_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/db/dbtest"
	"github.com/custodia-health/custodia/internal/web"
)

// phiEnv is a server on a real SQLite store with a real audit log.
type phiEnv struct {
	DB     *db.DB
	Audit  *audit.Log
	Server *web.Server
}

func newPHIEnv(t *testing.T, d web.Deps) *phiEnv {
	t.Helper()
	store := dbtest.SQLite(t)
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	l, err := audit.Open(context.Background(), store, key, audit.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	d.DB, d.Audit, d.Log, d.Version = store, l, slog.New(slog.DiscardHandler), "test"
	s, err := web.New(d)
	if err != nil {
		t.Fatal(err)
	}
	return &phiEnv{DB: store, Audit: l, Server: s}
}

// do sends a request as p (nil: signed out). Identity is built elsewhere;
// this puts the principal where its middleware will.
func (e *phiEnv) do(t *testing.T, method, target string, p *access.Principal) *httptest.ResponseRecorder {
	t.Helper()
	r := httptest.NewRequest(method, target, nil)
	if p != nil {
		r = r.WithContext(access.WithPrincipal(r.Context(), p))
	}
	w := httptest.NewRecorder()
	e.Server.ServeHTTP(w, r)
	return w
}

// append records e directly, to seed a history.
func (e *phiEnv) append(t *testing.T, ev audit.Event) {
	t.Helper()
	if _, err := e.Audit.Append(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
}

// entriesAfter returns the entries appended after seq, oldest first.
func (e *phiEnv) entriesAfter(t *testing.T, seq int64) []audit.Entry {
	t.Helper()
	p, err := e.Audit.Query(context.Background(), audit.Filter{Limit: audit.MaxLimit})
	if err != nil {
		t.Fatal(err)
	}
	var out []audit.Entry
	for i := len(p.Entries) - 1; i >= 0; i-- {
		if p.Entries[i].Seq > seq {
			out = append(out, p.Entries[i])
		}
	}
	return out
}

func (e *phiEnv) head(t *testing.T) int64 {
	t.Helper()
	p, err := e.Audit.Query(context.Background(), audit.Filter{Limit: 1})
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Entries) == 0 {
		return 0
	}
	return p.Entries[0].Seq
}

// breakAudit makes every audit insert fail, as a full disk or a lost
// database would.
func (e *phiEnv) breakAudit(t *testing.T) {
	t.Helper()
	if _, err := e.DB.Write.Exec(`CREATE TRIGGER audit_test_broken BEFORE INSERT ON audit_entries BEGIN SELECT RAISE(ABORT, 'disk full'); END`); err != nil {
		t.Fatal(err)
	}
}

// phiFixture tells the PHI-route tests how to exercise one route. Every
// route registered through Server.phi needs one (TestEveryPHIRouteHasAFixture
// fails otherwise); a package adding PHI routes adds its fixtures in an
// init function of its own test file.
type phiFixture struct {
	Principal *access.Principal
	Target    string                                // the URL to request; the method comes from the pattern
	Setup     func(t *testing.T, env *phiEnv) error // seeds the data the response releases
	// Canary is a value the seeded data holds: a successful response
	// contains it, a refused one must not.
	Canary  string
	Entries int // audit entries one request appends; 0 means 1
}

var (
	patientP = &access.Principal{UserID: "u-pat", Role: access.RolePatient, PatientID: "p-1"}
	officerP = &access.Principal{UserID: "u-po", Role: access.RolePrivacyOfficer, WorkspaceID: "w-1"}
)

// seedAccess records a clinician reading patient p-1 in workspace w-1.
func seedAccess(t *testing.T, env *phiEnv) error {
	env.append(t, audit.Event{ActorUserID: "u-canary-clinician", ActorRole: "clinician", WorkspaceID: "w-1",
		Action: "patient.read", ResourceType: "patient", ResourceID: "p-1", PatientID: "p-1",
		Purpose: "treatment", Decision: "allow", Outcome: "success"})
	return nil
}

var phiFixtures = map[string]phiFixture{
	"GET /api/v1/me/access-history": {Principal: patientP, Target: "/api/v1/me/access-history", Setup: seedAccess, Canary: "u-canary-clinician"},
	"GET /me/access-history":        {Principal: patientP, Target: "/me/access-history", Setup: seedAccess, Canary: "opened your record"},
	"GET /api/v1/audit":             {Principal: officerP, Target: "/api/v1/audit?patient=p-1", Setup: seedAccess, Canary: "u-canary-clinician"},
	"GET /privacy/audit":            {Principal: officerP, Target: "/privacy/audit", Setup: seedAccess, Canary: "u-canary-clinician"},
	"GET /privacy/audit.csv":        {Principal: officerP, Target: "/privacy/audit.csv", Setup: seedAccess, Canary: "u-canary-clinician"},
}

func method(pattern string) string {
	m, _, _ := strings.Cut(pattern, " ")
	return m
}

func TestEveryPHIRouteHasAFixture(t *testing.T) {
	env := newPHIEnv(t, web.Deps{})
	if len(env.Server.PHIRoutes()) == 0 {
		t.Fatal("no PHI routes registered")
	}
	walked := map[string]bool{}
	for _, r := range coverage {
		walked[r.Pattern] = len(r.Calls) > 0
	}
	for _, r := range env.Server.PHIRoutes() {
		// Routes whose domain services audit are proved by the route walk
		// (phicoverage_test.go) against the whole program.
		if _, ok := phiFixtures[r.Pattern]; !ok && !walked[r.Pattern] {
			t.Errorf("PHI route %q has no fixture: add one to phiFixtures so the suite proves it audits %q before answering", r.Pattern, r.Action)
		}
	}
}

func TestEveryPHIRouteAuditsItsAccess(t *testing.T) {
	for _, route := range newPHIEnv(t, web.Deps{}).Server.PHIRoutes() {
		fx, ok := phiFixtures[route.Pattern]
		if !ok {
			continue // reported by TestEveryPHIRouteHasAFixture
		}
		t.Run(route.Pattern, func(t *testing.T) {
			env := newPHIEnv(t, web.Deps{})
			if fx.Setup != nil {
				if err := fx.Setup(t, env); err != nil {
					t.Fatal(err)
				}
			}
			before := env.head(t)
			w := env.do(t, method(route.Pattern), fx.Target, fx.Principal)
			if w.Code != http.StatusOK {
				t.Fatalf("status %d: %s", w.Code, w.Body)
			}
			if fx.Canary != "" && !strings.Contains(w.Body.String(), fx.Canary) {
				t.Errorf("the response does not hold the seeded data %q", fx.Canary)
			}
			want := max(fx.Entries, 1)
			got := env.entriesAfter(t, before)
			if len(got) != want {
				t.Fatalf("%d audit entries appended, want %d", len(got), want)
			}
			for _, e := range got {
				if e.Action != route.Action || e.Decision != "allow" || e.Outcome != "success" {
					t.Errorf("entry %+v, want action %q allowed", e, route.Action)
				}
				if e.ActorUserID != fx.Principal.UserID || e.ActorRole != string(fx.Principal.Role) || e.RequestID == "" {
					t.Errorf("entry does not name the actor and request: %+v", e)
				}
			}
		})
	}
}

func TestPHIRoutesReleaseNothingWhenTheAuditLogCannotBeWritten(t *testing.T) {
	for _, route := range newPHIEnv(t, web.Deps{}).Server.PHIRoutes() {
		fx, ok := phiFixtures[route.Pattern]
		if !ok {
			continue
		}
		t.Run(route.Pattern, func(t *testing.T) {
			env := newPHIEnv(t, web.Deps{})
			if fx.Setup != nil {
				if err := fx.Setup(t, env); err != nil {
					t.Fatal(err)
				}
			}
			env.breakAudit(t)
			w := env.do(t, method(route.Pattern), fx.Target, fx.Principal)
			if w.Code != http.StatusServiceUnavailable {
				t.Fatalf("status %d, want 503", w.Code)
			}
			body := w.Body.String()
			if fx.Canary != "" && strings.Contains(body, fx.Canary) {
				t.Fatalf("the 503 response released data: %s", body)
			}
			ct := w.Header().Get("Content-Type")
			if strings.HasPrefix(fx.Target, "/api/") {
				if ct != "application/problem+json" {
					t.Errorf("content type %q, want problem+json", ct)
				}
			} else if !strings.HasPrefix(ct, "text/html") || !strings.Contains(body, "no data was released") {
				t.Errorf("want a readable page, got %q: %s", ct, body)
			}
		})
	}
}

func TestPHIRoutesWithoutAnAuditLogAnswer503(t *testing.T) {
	s, err := web.New(web.Deps{DB: dbtest.SQLite(t), Log: slog.New(slog.DiscardHandler), Version: "test"})
	if err != nil {
		t.Fatal(err)
	}
	for _, route := range s.PHIRoutes() {
		fx, ok := phiFixtures[route.Pattern]
		if !ok {
			continue
		}
		r := httptest.NewRequest(method(route.Pattern), fx.Target, nil)
		r = r.WithContext(access.WithPrincipal(r.Context(), fx.Principal))
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		if w.Code != http.StatusServiceUnavailable {
			t.Errorf("%s: status %d, want 503", route.Pattern, w.Code)
		}
	}
}
