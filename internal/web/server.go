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
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/custodia-health/custodia/internal/db"
)

//go:embed static
var staticFS embed.FS

// Deps is what the server needs from the rest of the program.
type Deps struct {
	DB      *db.DB
	Log     *slog.Logger
	Version string
	Media   MediaService // uploads, viewing and download of case files; nil: not configured
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
	media    MediaService
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
	s := &Server{db: d.DB, log: d.Log, version: d.Version, reg: reg, metrics: newMetrics(reg), pages: p, openapi: doc, media: d.Media}
	mux := http.NewServeMux()
	s.routes(&patternRecorder{mux: mux, s: s})
	s.handler = s.observe(secure(s.crossOrigin(mux)))
	return s, nil
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
	p.mux.Handle(pattern, h)
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
	mux.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /api/v1/openapi.json", s.openAPI)
	mux.HandleFunc("GET /{$}", s.home)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		WriteProblem(w, r, http.StatusNotFound, "No such API endpoint. The API is described at /api/v1/openapi.json.")
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.renderError(w, r, http.StatusNotFound, "There is no page at this address.")
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
	s.render(w, r, http.StatusOK, "home", nil)
}
