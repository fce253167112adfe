package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/notice"
)

func init() { routeSets = append(routeSets, (*Server).routesNotice) }

// routesNotice registers the privacy notice pages, the acceptance page the
// gate holds users at, the notice administration and the JSON API.
func (s *Server) routesNotice(mux Mux) {
	mux.HandleFunc("GET /privacy", s.privacyPage)
	mux.HandleFunc("GET /notices/accept", s.noticeAcceptPage)
	mux.HandleFunc("POST /notices/accept", s.noticeAcceptPost)
	mux.HandleFunc("GET /admin/notices", s.noticeAdminPage)
	mux.HandleFunc("POST /admin/notices", s.noticePublishPost)
	mux.HandleFunc("POST /admin/processors", s.processorAddPost)
	mux.HandleFunc("POST /admin/processors/{id}/retire", s.processorRetirePost)
	mux.HandleFunc("GET /api/v1/notices/current", s.apiCurrentNotices)
	mux.HandleFunc("POST /api/v1/notices/{id}/accept", s.apiAcceptNotice)
}

func (s *Server) noticesReady(w http.ResponseWriter, r *http.Request) bool {
	if s.notices != nil {
		return true
	}
	if wantsHTML(r) {
		s.renderError(w, r, http.StatusServiceUnavailable, "Privacy notices are not configured on this server.")
	} else {
		WriteProblem(w, r, http.StatusServiceUnavailable, "Privacy notices are not configured on this server.")
	}
	return false
}

func noticeErrorMessage(err error) (int, string) {
	switch {
	case errors.Is(err, notice.ErrNotFound):
		return http.StatusNotFound, "There is no such notice."
	case errors.Is(err, notice.ErrNotCurrent):
		return http.StatusConflict, "A newer version of this notice was published. Read it and accept that one."
	case errors.Is(err, notice.ErrDenied):
		return http.StatusForbidden, "You may not manage this notice."
	case errors.Is(err, audit.ErrUnavailable):
		return http.StatusServiceUnavailable, "The audit log cannot be written right now, so nothing was changed. Try again in a moment."
	}
	return unexpectedStatus(err)
}

func (s *Server) noticePageError(w http.ResponseWriter, r *http.Request, err error) {
	status, msg := noticeErrorMessage(err)
	if status == http.StatusInternalServerError {
		s.log.Error("notice", "request_id", RequestID(r.Context()), "route", r.Pattern, "err", err.Error())
	}
	s.renderError(w, r, status, msg)
}

// noticeView is a notice version ready for a template: blocks of escaped
// text, never HTML.
type noticeView struct {
	ID        string
	Title     string
	Version   int
	Material  bool
	Summary   string
	Published string
	Blocks    []notice.Block
}

func toNoticeView(v notice.Version) noticeView {
	return noticeView{ID: v.ID, Title: v.Title, Version: v.Version, Material: v.Material, Summary: v.Summary,
		Published: when(v.PublishedAt), Blocks: v.Blocks()}
}

type privacyPageData struct {
	Notice     *noticeView
	Processors []notice.Processor
}

// privacyPage is the public privacy notice: the platform notice's current
// version and the processors from the registry.
func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	var d privacyPageData
	v, err := s.notices.Current(r.Context(), "")
	switch {
	case err == nil:
		nv := toNoticeView(v)
		d.Notice = &nv
	case !errors.Is(err, notice.ErrNotFound):
		s.noticePageError(w, r, err)
		return
	}
	if d.Processors, err = s.notices.Processors(r.Context(), ""); err != nil {
		s.noticePageError(w, r, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "privacy", View{Title: "Privacy notice", Data: d})
}

type acceptPageData struct {
	Pending []noticeView
}

func (s *Server) noticeAcceptPage(w http.ResponseWriter, r *http.Request) {
	s.renderAcceptPage(w, r, http.StatusOK, "")
}

func (s *Server) renderAcceptPage(w http.ResponseWriter, r *http.Request, status int, msg string) {
	if !s.noticesReady(w, r) {
		return
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		http.Redirect(w, r, "/privacy", http.StatusSeeOther)
		return
	}
	pending, err := s.notices.Pending(r.Context(), p.UserID, p.WorkspaceID)
	if err != nil {
		s.noticePageError(w, r, err)
		return
	}
	var d acceptPageData
	for _, v := range pending {
		d.Pending = append(d.Pending, toNoticeView(v))
	}
	s.renderView(w, r, status, "notice_accept", View{Title: "Please review the privacy notice", Data: d, Error: msg})
}

func (s *Server) noticeAcceptPost(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		http.Redirect(w, r, "/privacy", http.StatusSeeOther)
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 16<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	if r.PostForm.Get("agree") != "yes" {
		s.renderAcceptPage(w, r, http.StatusUnprocessableEntity, "Tick the box to confirm you have read the notice, then accept.")
		return
	}
	for _, id := range r.PostForm["notice"] {
		if _, err := s.notices.Accept(r.Context(), p, id); err != nil {
			if errors.Is(err, notice.ErrNotCurrent) {
				s.renderAcceptPage(w, r, http.StatusConflict, "The notice changed while you were reading. Please review the new version.")
				return
			}
			s.noticePageError(w, r, err)
			return
		}
	}
	pending, err := s.notices.Pending(r.Context(), p.UserID, p.WorkspaceID)
	if err != nil {
		s.noticePageError(w, r, err)
		return
	}
	if len(pending) > 0 {
		s.renderAcceptPage(w, r, http.StatusUnprocessableEntity, "Accept every notice listed to continue.")
		return
	}
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

// noticeScope is the notice a principal manages: the platform's for the
// operator, their workspace's for its administrator or privacy officer.
func noticeScope(p *access.Principal) (string, bool) {
	switch {
	case p.Role == access.RoleOperator:
		return "", true
	case p.HasAny(access.RoleAdmin, access.RolePrivacyOfficer):
		return p.WorkspaceID, p.WorkspaceID != ""
	}
	return "", false
}

type noticeAdminData struct {
	Scope      string // "the platform" or "this workspace"
	Current    *noticeView
	History    []noticeView
	Processors []notice.Processor
	Fields     map[string]string
	Values     map[string]string
}

func (s *Server) noticeAdmin(w http.ResponseWriter, r *http.Request) (*access.Principal, string, bool) {
	if !s.noticesReady(w, r) {
		return nil, "", false
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		s.renderError(w, r, http.StatusUnauthorized, "Sign in to manage the privacy notice.")
		return nil, "", false
	}
	scope, ok := noticeScope(p)
	if !ok {
		s.renderError(w, r, http.StatusForbidden, "Only the platform operator, or a workspace's administrator or privacy officer, manages privacy notices.")
		return nil, "", false
	}
	return p, scope, true
}

func (s *Server) renderNoticeAdmin(w http.ResponseWriter, r *http.Request, scope string, status int, d noticeAdminData, v View) {
	d.Scope = "this workspace"
	if scope == "" {
		d.Scope = "the platform"
	}
	hist, err := s.notices.History(r.Context(), scope)
	if err != nil {
		s.noticePageError(w, r, err)
		return
	}
	for i, h := range hist {
		nv := toNoticeView(h)
		if i == 0 {
			d.Current = &nv
		}
		d.History = append(d.History, nv)
	}
	if d.Processors, err = s.notices.Processors(r.Context(), scope); err != nil {
		s.noticePageError(w, r, err)
		return
	}
	v.Title, v.Data = "Privacy notice and processors", d
	s.renderView(w, r, status, "notice_admin", v)
}

var noticeAdminFlash = map[string]string{
	"published": "The new version is published.",
	"added":     "The processor was added to the registry.",
	"retired":   "The processor was taken off the list.",
}

func (s *Server) noticeAdminPage(w http.ResponseWriter, r *http.Request) {
	_, scope, ok := s.noticeAdmin(w, r)
	if !ok {
		return
	}
	s.renderNoticeAdmin(w, r, scope, http.StatusOK, noticeAdminData{}, View{Flash: noticeAdminFlash[r.URL.Query().Get("done")]})
}

func (s *Server) noticePublishPost(w http.ResponseWriter, r *http.Request) {
	p, scope, ok := s.noticeAdmin(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, notice.MaxBody+(64<<10))
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read (is the text too long?). Go back and try again.")
		return
	}
	in := notice.NewVersion{WorkspaceID: scope, Title: r.PostForm.Get("title"), Body: r.PostForm.Get("body"),
		Summary: r.PostForm.Get("summary"), Material: r.PostForm.Get("material") == "yes"}
	if _, err := s.notices.Publish(r.Context(), p, in); err != nil {
		var ve *notice.ValidationError
		if errors.As(err, &ve) {
			s.renderNoticeAdmin(w, r, scope, http.StatusUnprocessableEntity,
				noticeAdminData{Fields: ve.Fields, Values: map[string]string{"title": in.Title, "body": in.Body, "summary": in.Summary}},
				View{Error: "The notice was not published. Correct the fields marked below."})
			return
		}
		s.noticePageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/notices?done=published", http.StatusSeeOther)
}

func (s *Server) processorAddPost(w http.ResponseWriter, r *http.Request) {
	p, scope, ok := s.noticeAdmin(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read. Go back and try again.")
		return
	}
	in := notice.Processor{WorkspaceID: scope, Name: r.PostForm.Get("name"), Purpose: r.PostForm.Get("purpose"),
		BAA: r.PostForm.Get("baa") == "yes", DataCategories: r.PostForm.Get("data_categories"), Location: r.PostForm.Get("location")}
	if _, err := s.notices.AddProcessor(r.Context(), p, in); err != nil {
		var ve *notice.ValidationError
		if errors.As(err, &ve) {
			pf := map[string]string{}
			for k, v := range ve.Fields {
				pf["p_"+k] = v
			}
			s.renderNoticeAdmin(w, r, scope, http.StatusUnprocessableEntity,
				noticeAdminData{Fields: pf, Values: map[string]string{"p_name": in.Name, "p_purpose": in.Purpose,
					"p_data_categories": in.DataCategories, "p_location": in.Location}},
				View{Error: "The processor was not added. Correct the fields marked below."})
			return
		}
		s.noticePageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/notices?done=added", http.StatusSeeOther)
}

func (s *Server) processorRetirePost(w http.ResponseWriter, r *http.Request) {
	p, _, ok := s.noticeAdmin(w, r)
	if !ok {
		return
	}
	if err := s.notices.RetireProcessor(r.Context(), p, r.PathValue("id")); err != nil {
		s.noticePageError(w, r, err)
		return
	}
	http.Redirect(w, r, "/admin/notices?done=retired", http.StatusSeeOther)
}

type noticeJSON struct {
	ID          string    `json:"id"`
	Scope       string    `json:"scope"` // "platform" or "workspace"
	WorkspaceID string    `json:"workspace_id,omitempty"`
	Version     int       `json:"version"`
	Material    bool      `json:"material"`
	Title       string    `json:"title"`
	Body        string    `json:"body"`
	Summary     string    `json:"summary,omitempty"`
	PublishedAt time.Time `json:"published_at"`
}

func toNoticeJSON(v notice.Version) noticeJSON {
	j := noticeJSON{ID: v.ID, Scope: "platform", WorkspaceID: v.WorkspaceID, Version: v.Version, Material: v.Material,
		Title: v.Title, Body: v.Body, Summary: v.Summary, PublishedAt: v.PublishedAt}
	if v.WorkspaceID != "" {
		j.Scope = "workspace"
	}
	return j
}

// apiCurrentNotices returns the current platform notice, the active
// workspace's (for a signed-in member), and which ones the caller must
// still accept.
func (s *Server) apiCurrentNotices(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	out := struct {
		Notices []noticeJSON `json:"notices"`
		Pending []string     `json:"pending"`
	}{Notices: []noticeJSON{}, Pending: []string{}}
	scopes := []string{""}
	p, signedIn := access.PrincipalFrom(r.Context())
	if signedIn && p.WorkspaceID != "" {
		scopes = append(scopes, p.WorkspaceID)
	}
	for _, sc := range scopes {
		v, err := s.notices.Current(r.Context(), sc)
		if errors.Is(err, notice.ErrNotFound) {
			continue
		}
		if err != nil {
			s.log.Error("current notice", "request_id", RequestID(r.Context()), "err", err.Error())
			status, msg := unexpectedStatus(err)
			WriteProblem(w, r, status, msg)
			return
		}
		out.Notices = append(out.Notices, toNoticeJSON(v))
	}
	if signedIn {
		pending, err := s.notices.Pending(r.Context(), p.UserID, p.WorkspaceID)
		if err != nil {
			s.log.Error("pending notices", "request_id", RequestID(r.Context()), "err", err.Error())
			WriteProblem(w, r, http.StatusServiceUnavailable, "The privacy notice cannot be checked right now; try again.")
			return
		}
		for _, v := range pending {
			out.Pending = append(out.Pending, v.ID)
		}
	}
	WriteJSON(w, http.StatusOK, out)
}

func (s *Server) apiAcceptNotice(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		WriteProblem(w, r, http.StatusUnauthorized, "Sign in first: send the session cookie or an API token.")
		return
	}
	v, err := s.notices.Accept(r.Context(), p, r.PathValue("id"))
	if err != nil {
		status, msg := noticeErrorMessage(err)
		if status == http.StatusInternalServerError {
			s.log.Error("accept notice", "request_id", RequestID(r.Context()), "err", err.Error())
		}
		WriteProblem(w, r, status, msg)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{"notice_id": v.ID, "version": v.Version, "accepted": true})
}
