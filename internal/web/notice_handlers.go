package web

import (
	"errors"
	"net/http"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/notice"
	"github.com/custodia-health/custodia/internal/patient"
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
	Effective string // the effective date the notice declares, "" if none
	Blocks    []notice.Block
}

func toNoticeView(v notice.Version) noticeView {
	nv := noticeView{ID: v.ID, Title: v.Title, Version: v.Version, Material: v.Material, Summary: v.Summary,
		Published: when(v.PublishedAt), Blocks: v.Blocks()}
	if d := v.EffectiveDate(); !d.IsZero() {
		nv.Effective = d.Format("2 January 2006")
	}
	return nv
}

// processorView is a registry entry as the notice shows it, the business
// associate agreement in words.
type processorView struct {
	ID, Name, Purpose, DataCategories, Location string
	ReceivesPHI                                 bool
	BAAState, BAAWords                          string
}

func toProcessorViews(ps []notice.Processor) []processorView {
	out := make([]processorView, 0, len(ps))
	for _, p := range ps {
		out = append(out, processorView{ID: p.ID, Name: p.Name, Purpose: p.Purpose, DataCategories: p.DataCategories,
			Location: p.Location, ReceivesPHI: p.ReceivesPHI, BAAState: p.BAAState(), BAAWords: p.BAAWords()})
	}
	return out
}

// privacySection is one notice on the privacy page: the practice's or the
// platform's, with its processors.
type privacySection struct {
	Key        string // "workspace" or "platform"
	Heading    string // whose notice, in words
	Notice     *noticeView
	Processors []processorView
}

type privacyPageData struct {
	Sections []privacySection
}

// visitorWorkspace is the workspace whose notice applies to the visitor: a
// member's active workspace, a patient's (or representative's) record's
// workspace, "" for a visitor who is not signed in.
func (s *Server) visitorWorkspace(r *http.Request) string {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		return ""
	}
	if p.WorkspaceID != "" {
		return p.WorkspaceID
	}
	if p.PatientID != "" && s.records != nil && s.records.Patients != nil {
		if ws, err := (patient.Subjects{S: s.records.Patients}).Workspace(r.Context(), p.PatientID); err == nil {
			return ws
		}
	}
	return ""
}

// privacyPage is the privacy notice in force for the visitor: for someone
// signed in to a practice (member or patient) that practice's notice and
// processors, and always the platform's, each with its version and
// effective date.
func (s *Server) privacyPage(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	var d privacyPageData
	scopes := []string{""}
	if ws := s.visitorWorkspace(r); ws != "" {
		scopes = []string{ws, ""}
	}
	for _, sc := range scopes {
		sec := privacySection{Key: "platform", Heading: "Custodia, the platform"}
		if sc != "" {
			sec.Key, sec.Heading = "workspace", "Your practice"
			if s.identity != nil {
				if name, err := s.identity.WorkspaceName(r.Context(), sc); err == nil && name != "" {
					sec.Heading = name
				}
			}
		}
		v, err := s.notices.Current(r.Context(), sc)
		switch {
		case err == nil:
			nv := toNoticeView(v)
			sec.Notice = &nv
		case !errors.Is(err, notice.ErrNotFound):
			s.noticePageError(w, r, err)
			return
		}
		ps, err := s.notices.Processors(r.Context(), sc)
		if err != nil {
			s.noticePageError(w, r, err)
			return
		}
		sec.Processors = toProcessorViews(ps)
		if sc != "" && sec.Notice == nil && len(sec.Processors) == 0 {
			continue // the practice has no notice of its own: the platform's applies
		}
		d.Sections = append(d.Sections, sec)
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
	Processors []processorView
	Required   []requiredSection // the sections a notice must have, for the form's help
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
	ps, err := s.notices.Processors(r.Context(), scope)
	if err != nil {
		s.noticePageError(w, r, err)
		return
	}
	d.Processors, d.Required = toProcessorViews(ps), requiredSections(d.Fields)
	if d.Values == nil { // a starting point: the current text, or an example with every section
		d.Values = map[string]string{"body": notice.ExampleBody}
		if len(hist) > 0 {
			d.Values = map[string]string{"title": hist[0].Title, "body": hist[0].Body}
		}
	}
	v.Title, v.Data = "Privacy notice and processors", d
	s.renderView(w, r, status, "notice_admin", v)
}

// requiredSection is a required part of a notice with what a refused
// publication said about it.
type requiredSection struct {
	Heading, What string
	Lines         []string
	Errors        []string
}

func requiredSections(fields map[string]string) []requiredSection {
	var out []requiredSection
	for _, sec := range notice.RequiredSections {
		rs := requiredSection{Heading: sec.Heading, What: sec.What, Lines: sec.Lines}
		if m, ok := fields[sec.Key]; ok {
			rs.Errors = append(rs.Errors, m)
		}
		for _, l := range sec.Lines {
			if m, ok := fields[sec.Key+"."+notice.LineKey(l)]; ok {
				rs.Errors = append(rs.Errors, m)
			}
		}
		out = append(out, rs)
	}
	return out
}

// publishErrorWords is the banner when a publication is refused: the
// missing sections by name when that is the reason.
func publishErrorWords(f map[string]string) string {
	if _, ok := f["body"]; ok && len(f) > 1 {
		return "The notice was not published: " + f["body"]
	}
	return "The notice was not published. Correct the fields marked below."
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
				View{Error: publishErrorWords(ve.Fields)})
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
		BAA: r.PostForm.Get("baa") == "yes", ReceivesPHI: r.PostForm.Get("receives_phi") == "yes", DataCategories: r.PostForm.Get("data_categories"), Location: r.PostForm.Get("location")}
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
