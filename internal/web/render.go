package web

import (
	"bytes"
	"embed"
	"fmt"
	"html/template"
	"io/fs"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/labels"
)

//go:embed templates
var templateFS embed.FS

// pages holds one parsed template set per page: the layout plus the page's
// own file, parsed once at start.
type pages struct {
	sets map[string]*template.Template
}

func parsePages() (*pages, error) {
	p := &pages{sets: map[string]*template.Template{}}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	for _, f := range files {
		name := strings.TrimSuffix(path.Base(f), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html", f)
		if err != nil {
			return nil, fmt.Errorf("parse page %s: %w", name, err)
		}
		p.sets[name] = t
	}
	return p, nil
}

var funcs = template.FuncMap{
	// person shows a user's display name; the server replaces this
	// placeholder with its own lookup (Deps.ActorNames) once built.
	"person": func(id string) string { return id },
	// capturesConnected says whether a patient is connected to a user, for
	// the link to the patient's captures; captures.go binds it.
	"capturesConnected": func(patientID, userID string) bool { return false },
	// when shows an instant the one way every page does (timeFuncs).
	"when": whenHTML,
	// Codes in words, from the one table of labels.
	"actionLabel":  labels.Action,
	"purposeLabel": labels.Purpose,
	"reasonLabel":  labels.Reason,
	"roleLabel":    roleLabel,
	"scopeWords":   access.ScopeDescription, // takes an access.Role; the words are labels.Role
	// nobreak keeps a short phrase (a person's name) on one line in a
	// narrow table column.
	"nobreak": func(s string) string { return strings.ReplaceAll(s, " ", "\u00a0") },
}

// whenLayout is the one format of a time on every page, in UTC until
// static/localtime.js rewrites it into the viewer's own time zone.
const whenLayout = "2 Jan 2006 15:04 UTC"

// whenHTML renders t as <time class="when" datetime="RFC 3339 UTC">, with the
// UTC text as the fallback for a browser without script. A zero time is
// an empty string.
func whenHTML(t time.Time) template.HTML {
	if t.IsZero() {
		return ""
	}
	u := t.UTC()
	return template.HTML(`<time class="when" datetime="` + u.Format(time.RFC3339) + `">` + u.Format(whenLayout) + `</time>`)
}

// bindPerson points every page's person function at the server's name
// lookup. html/template allows replacing functions before first execution.
func (p *pages) bindPerson(f func(string) string) {
	for _, t := range p.sets {
		t.Funcs(template.FuncMap{"person": f})
	}
}

// View is what every page template receives.
type View struct {
	Title string
	Data  any
	Flash string
	Error string
	Nav   *Nav // the viewer, for the navigation; filled in by renderView
}

// render writes page name with data. The page is rendered to a buffer first
// so that a template error becomes a clean 500, not half a page.
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, data any) {
	s.renderView(w, r, status, name, View{Data: data})
}

func (s *Server) renderView(w http.ResponseWriter, r *http.Request, status int, name string, v View) {
	t, ok := s.pages.sets[name]
	if !ok {
		s.log.Error("page not registered", "page", name)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	if v.Nav == nil {
		v.Nav = s.navFor(r)
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("render page", "page", name, "err", err.Error())
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// renderError shows a readable error page; message must hold no PHI.
func (s *Server) renderError(w http.ResponseWriter, r *http.Request, status int, message string) {
	s.renderView(w, r, status, "error", View{
		Title: http.StatusText(status),
		Data:  map[string]any{"Status": status, "Message": message, "RequestID": RequestID(r.Context())},
	})
}
