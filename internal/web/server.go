// Package web is Custodia's HTTP edge: the JSON API under /api/v1, the
// server-rendered pages, and the middleware every request passes through.
// Handlers decode, call a domain service and encode; they hold no business
// rules.
package web

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custodia-health/custodia/internal/capture"
	"github.com/custodia-health/custodia/internal/consent"
	"github.com/custodia-health/custodia/internal/db"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/mail"
	"github.com/custodia-health/custodia/internal/notice"
	"github.com/custodia-health/custodia/internal/outreach"
	"github.com/custodia-health/custodia/internal/rehab"
)

//go:embed static
var staticFS embed.FS

// Deps is what the server needs from the rest of the program.
type Deps struct {
	DB      *db.DB
	Log     *slog.Logger
	Version string
	// Identity signs people in; nil serves only the public pages (tests of
	// the shell build the server without it).
	Identity *identity.Service
	// Outbox is the development mail outbox shown at /dev/outbox, to
	// loopback clients only. Set it only when no SMTP relay is configured
	// and the server is not in production.
	Outbox *mail.Outbox
	// BaseURL is the public address; an https one makes cookies Secure.
	BaseURL string
	// Audit records PHI accesses. Without it every PHI route answers 503:
	// no audit, no data.
	Audit AuditLog
	// ActorNames maps user ids to display names for the access-history
	// pages. Optional: without it (or for ids it does not know) the pages
	// show the user id.
	ActorNames func(ctx context.Context, userIDs []string) map[string]string
	// Consent and Notices serve consent per purpose and the privacy
	// notices; nil answers their routes with 503 (shell tests build the
	// server without them).
	Consent *consent.Service
	Notices *notice.Service
	// NoticeDelivery tracks who has been given the notices; nil answers
	// the delivery page with 503.
	NoticeDelivery *notice.Delivery
	// Rehab is remote rehabilitation; nil answers its routes with 503.
	Rehab *rehab.Service
	Media MediaService // uploads, viewing and download of case files; nil: not configured
	// Records are the patient and case services; nil serves no records
	// routes (tests of the shell build the server without them).
	Records *Records
	// Captures are patients' own 3D captures and their connections to
	// doctors; nil serves no captures routes.
	Captures *capture.Service
	// Outreach is the workspace's news to patients and the unsubscribe
	// links; nil answers its routes with 503.
	Outreach *outreach.Service
}

// Server holds the dependencies of the handlers.
type Server struct {
	db       *db.DB
	log      *slog.Logger
	version  string
	reg      *prometheus.Registry
	metrics  *metrics
	pages    *pages
	openapi  []byte
	patterns []string
	handler  http.Handler
	mux      *http.ServeMux // the routes, asked which methods a path has

	identity *identity.Service
	outbox   *mail.Outbox
	baseURL  string

	audit      AuditLog
	actorNames func(ctx context.Context, userIDs []string) map[string]string
	phiRoutes  []PHIRoute
	consent    *consent.Service
	notices    *notice.Service
	delivery   *notice.Delivery
	rehab      *rehab.Service
	media      MediaService
	records    *Records
	captures   *capture.Service
	outreach   *outreach.Service
}

// New builds the server and its routes. It fails if a page template does not
// parse, so a broken template stops the start rather than a request.
func New(d Deps) (*Server, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	p, err := parsePages()
	if err != nil {
		return nil, err
	}
	doc, err := OpenAPI()
	if err != nil {
		return nil, err
	}
	s := &Server{db: d.DB, log: d.Log, version: d.Version, reg: reg, metrics: newMetrics(reg), pages: p, openapi: doc,
		audit: d.Audit, actorNames: d.ActorNames,
		identity: d.Identity, outbox: d.Outbox, baseURL: d.BaseURL,
		consent: d.Consent, notices: d.Notices, delivery: d.NoticeDelivery, rehab: d.Rehab, media: d.Media, records: d.Records, captures: d.Captures}
	s.outreach = d.Outreach
	p.bindPerson(s.person)
	mux := http.NewServeMux()
	s.mux = mux
	s.routes(&patternRecorder{mux: mux, s: s})
	// requireNoticeAcceptance sits right after authentication, so it sees
	// the principal and holds users at a material notice they must accept.
	s.handler = s.observe(secure(s.crossOrigin(s.authenticate(s.requireNoticeAcceptance(mux)))))
	return s, nil
}

// MetricsHandler serves the Prometheus metrics. It is not on the main
// handler: request counts by route and the process's figures are for the
// operator, so the command serves them on a loopback-only listener of
// their own (-metrics-addr).
func (s *Server) MetricsHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }

// HTTPServer wraps h with the timeouts a server facing the network needs.
// WriteTimeout is left at zero because uploads and downloads stream for as
// long as they take; ReadHeaderTimeout and IdleTimeout bound slow clients.
func HTTPServer(addr string, h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// routeSets are the route registrations of each domain's handler file. A
// file adds its own in an init function, so domains never edit one shared
// list: func init() { routeSets = append(routeSets, (*Server).routesPatients) }
var routeSets []func(*Server, Mux)

// patternRecorder registers on the mux and remembers each pattern, so tests
// can walk every route (for OpenAPI coverage and audit coverage).
type patternRecorder struct {
	mux *http.ServeMux
	s   *Server
}

func (p *patternRecorder) Handle(pattern string, h http.Handler) {
	p.s.patterns = append(p.s.patterns, pattern)
	idNames := pathIDNames(pattern)
	p.mux.Handle(pattern, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Middleware between observe and the mux copies the request, so the
		// pattern the mux matched is handed back through the context.
		if m, ok := r.Context().Value(matchedKey).(*string); ok {
			*m = pattern
		}
		// Before anything else reads them, every id in the path must have
		// the shape of an id: a handler never sees, and the audit log never
		// keeps, a name typed into a URL.
		for _, name := range idNames {
			if !validPathValue(name, r.PathValue(name)) {
				p.s.malformedID(w, r)
				return
			}
		}
		h.ServeHTTP(w, r)
	}))
}

func (p *patternRecorder) HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request)) {
	p.Handle(pattern, http.HandlerFunc(h))
}

// Patterns lists every registered route pattern.
func (s *Server) Patterns() []string { return append([]string(nil), s.patterns...) }

// Mux is where handler files register routes.
type Mux interface {
	Handle(pattern string, h http.Handler)
	HandleFunc(pattern string, h func(http.ResponseWriter, *http.Request))
}

func (s *Server) routes(mux Mux) {
	for _, set := range routeSets {
		set(s, mux)
	}
	static, _ := fs.Sub(staticFS, "static")
	mux.Handle("GET /static/", http.StripPrefix("/static/", s.staticFiles(static)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	s.phi(mux, "GET /{$}", auditedByService, s.home) // landing pages (home.go) read names under the policy
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		if s.methodNotAllowed(w, r) {
			return
		}
		WriteProblem(w, r, http.StatusNotFound, "No such API endpoint. The API is described at /api/v1/openapi.json.")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		if s.methodNotAllowed(w, r) {
			return
		}
		s.renderError(w, r, http.StatusNotFound, "There is no page at this address.")
	})
}

// probeMethods are the methods a path is asked about for a 405's Allow.
var probeMethods = []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete}

// methodNotAllowed answers 405 with Allow when the catch-all caught a
// request whose path a route serves with other methods: the catch-alls
// match every method, so the mux's own 405 never fires. It returns false
// (and writes nothing) when no route has the path.
func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request) bool {
	var allow []string
	for _, m := range probeMethods {
		probe := r.Clone(r.Context())
		probe.Method = m
		if _, pattern := s.mux.Handler(probe); pattern != "" && pattern != "/" && pattern != "/api/" {
			allow = append(allow, m)
			if m == http.MethodGet {
				allow = append(allow, http.MethodHead)
			}
		}
	}
	if len(allow) == 0 {
		return false
	}
	w.Header().Set("Allow", strings.Join(allow, ", "))
	s.answer(w, r, http.StatusMethodNotAllowed, "This address does not take this method; it takes "+strings.Join(allow, ", ")+".")
	return true
}

// staticFiles serves the embedded assets, files only: a directory answers
// 404 rather than a listing of what the binary carries.
func (s *Server) staticFiles(static fs.FS) http.Handler {
	files := http.FileServerFS(static)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		name := strings.TrimSuffix(path.Clean("/" + r.URL.Path)[1:], "/")
		if name == "" {
			name = "."
		}
		if st, err := fs.Stat(static, name); err != nil || st.IsDir() {
			s.renderError(w, r, http.StatusNotFound, "There is no page at this address.")
			return
		}
		files.ServeHTTP(w, r)
	})
}

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// readyz says whether this instance can serve: the database answers.
func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
	defer cancel()
	if err := s.db.Write.PingContext(ctx); err != nil {
		WriteProblem(w, r, http.StatusServiceUnavailable, "The database is not reachable.")
		return
	}
	WriteJSON(w, http.StatusOK, map[string]string{"status": "ready"})
}

func (s *Server) home(w http.ResponseWriter, r *http.Request) {
	s.landing(w, r)
}

// person names a user for a page: their display name when known, else words
// for an account that is gone, so a page never fails for want of a name.
// Without a name lookup at all (shell tests build the server so) it shows
// the id.
func (s *Server) person(id string) string {
	if s.actorNames == nil || id == "" {
		return id
	}
	if n, ok := s.actorNames(context.Background(), []string{id})[id]; ok && n != "" {
		return n
	}
	// A person is never shown an id: an account the lookup no longer
	// knows is named as the audit pages name it.
	return personName(id, "", nil)
}
