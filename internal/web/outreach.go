package web

import (
	"errors"
	"net/http"
	"net/url"

	"github.com/custodia-health/custodia/internal/outreach"
)

func init() { routeSets = append(routeSets, (*Server).routesOutreach) }

// routesOutreach serves "News to patients" (admins of a workspace) and the
// one-click unsubscribe links of news emails.
//
// The unsubscribe token is a path segment, /unsubscribe/{token}, not a
// query parameter: the route wrapper logs and audits route patterns, so the
// token never reaches a log line as part of a URL we record, and the
// {token} wildcard is exempt from the id-shape check (pathids.go) because
// the handler checks its signature before reading anything. The token is
// opaque and holds no PHI and no address.
func (s *Server) routesOutreach(mux Mux) {
	mux.HandleFunc("GET /workspace/news", s.newsPage)
	mux.HandleFunc("POST /workspace/news", s.newsComposePost)
	mux.HandleFunc("GET /workspace/news/{id}", s.newsCampaignPage)
	mux.HandleFunc("POST /workspace/news/{id}/send", s.newsSendPost)
	mux.HandleFunc("GET /workspace/news/{id}/progress", s.newsProgress)
	mux.HandleFunc("GET /unsubscribe/{token}", s.unsubscribePage)
	mux.HandleFunc("POST /unsubscribe/{token}", s.unsubscribePost)
}

// newsAdmin is the signed-in admin of the current workspace, or false after
// an answer.
func (s *Server) newsAdmin(w http.ResponseWriter, r *http.Request) (string, bool) {
	if s.outreach == nil || s.identity == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "News to patients is not configured on this server.")
		return "", false
	}
	p := principal(r)
	if p == nil {
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.Path), http.StatusSeeOther)
		return "", false
	}
	return p.WorkspaceID, true
}

func (s *Server) newsError(w http.ResponseWriter, r *http.Request, err error) {
	switch {
	case errors.As(err, new(outreach.DeniedError)):
		s.renderError(w, r, http.StatusForbidden, "Only the practice's administrators write and send news to patients.")
	case errors.Is(err, outreach.ErrNotFound):
		s.renderError(w, r, http.StatusNotFound, "There is no such message in this practice.")
	default:
		s.log.Error("news to patients", "route", r.Pattern, "request_id", RequestID(r.Context()), "err", err.Error())
		s.renderError(w, r, http.StatusServiceUnavailable, unavailableMessage)
	}
}

type newsData struct {
	Workspace string
	Audience  outreach.Audience
	Campaigns []outreach.Campaign
	Campaign  *outreach.Campaign
	Fields    map[string]string
	Values    map[string]string
	MaxSubj   int
}

func (s *Server) renderNews(w http.ResponseWriter, r *http.Request, ws string, status int, d newsData, v View) {
	p := principal(r)
	var err error
	if d.Campaigns, err = s.outreach.Campaigns(r.Context(), p, ws); err != nil {
		s.newsError(w, r, err)
		return
	}
	if d.Audience, err = s.outreach.Preview(r.Context(), p, ws); err != nil {
		s.newsError(w, r, err)
		return
	}
	if d.Workspace, err = s.identity.WorkspaceName(r.Context(), ws); err != nil {
		s.newsError(w, r, err)
		return
	}
	d.MaxSubj = outreach.MaxSubject
	v.Title, v.Data = "News to patients", d
	s.renderView(w, r, status, "news", v)
}

func (s *Server) newsPage(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.newsAdmin(w, r)
	if !ok {
		return
	}
	s.renderNews(w, r, ws, http.StatusOK, newsData{}, View{})
}

func (s *Server) newsComposePost(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.newsAdmin(w, r)
	if !ok {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, outreach.MaxText+(16<<10))
	if err := r.ParseForm(); err != nil {
		s.renderError(w, r, http.StatusBadRequest, "The form could not be read (is the message too long?). Go back and try again.")
		return
	}
	n := outreach.News{Subject: r.PostForm.Get("subject"), Text: r.PostForm.Get("text")}
	c, err := s.outreach.Compose(r.Context(), principal(r), ws, n)
	var ve *outreach.ValidationError
	if errors.As(err, &ve) {
		s.renderNews(w, r, ws, http.StatusUnprocessableEntity, newsData{Fields: ve.Fields,
			Values: map[string]string{"subject": n.Subject, "text": n.Text}},
			View{Error: "The message was not saved. Correct the fields marked below."})
		return
	}
	if err != nil {
		s.newsError(w, r, err)
		return
	}
	http.Redirect(w, r, "/workspace/news/"+c.ID, http.StatusSeeOther)
}

func (s *Server) newsCampaignPage(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.newsAdmin(w, r)
	if !ok {
		return
	}
	p := principal(r)
	c, err := s.outreach.Campaign(r.Context(), p, ws, r.PathValue("id"))
	if err != nil {
		s.newsError(w, r, err)
		return
	}
	d := newsData{Campaign: &c}
	if c.Status == outreach.Draft {
		if d.Audience, err = s.outreach.Preview(r.Context(), p, ws); err != nil {
			s.newsError(w, r, err)
			return
		}
	}
	if d.Workspace, err = s.identity.WorkspaceName(r.Context(), ws); err != nil {
		s.newsError(w, r, err)
		return
	}
	flash := ""
	if r.URL.Query().Get("done") == "sending" {
		flash = "Sending has started. You can leave this page: sending goes on."
	}
	s.renderView(w, r, http.StatusOK, "news_campaign", View{Title: c.Subject + " – News to patients", Data: d, Flash: flash})
}

func (s *Server) newsSendPost(w http.ResponseWriter, r *http.Request) {
	ws, ok := s.newsAdmin(w, r)
	if !ok {
		return
	}
	id := r.PathValue("id")
	err := s.outreach.Send(r.Context(), principal(r), ws, id)
	if errors.Is(err, outreach.ErrAlreadySent) {
		http.Redirect(w, r, "/workspace/news/"+id, http.StatusSeeOther)
		return
	}
	if err != nil {
		s.newsError(w, r, err)
		return
	}
	http.Redirect(w, r, "/workspace/news/"+id+"?done=sending", http.StatusSeeOther)
}

type newsProgressJSON struct {
	Status   string `json:"status"`
	Total    int    `json:"total"`
	Handled  int    `json:"handled"`
	Sent     int    `json:"sent"`
	Failed   int    `json:"failed"`
	Excluded int    `json:"excluded"`
}

// newsProgress is what the campaign page's script polls: counts only.
func (s *Server) newsProgress(w http.ResponseWriter, r *http.Request) {
	if s.outreach == nil {
		WriteProblem(w, r, http.StatusServiceUnavailable, "News to patients is not configured on this server.")
		return
	}
	p := principal(r)
	if p == nil {
		WriteProblem(w, r, http.StatusUnauthorized, "Sign in first.")
		return
	}
	c, err := s.outreach.Campaign(r.Context(), p, p.WorkspaceID, r.PathValue("id"))
	switch {
	case errors.As(err, new(outreach.DeniedError)):
		WriteProblem(w, r, http.StatusForbidden, "Only the practice's administrators see news sending.")
		return
	case errors.Is(err, outreach.ErrNotFound):
		WriteProblem(w, r, http.StatusNotFound, "There is no such message in this practice.")
		return
	case err != nil:
		WriteProblem(w, r, http.StatusServiceUnavailable, unavailableMessage)
		return
	}
	WriteJSON(w, http.StatusOK, newsProgressJSON{Status: string(c.Status), Total: c.Total, Handled: c.Handled(),
		Sent: c.Sent, Failed: c.Failed, Excluded: c.Excluded})
}

type unsubscribeData struct {
	Token     string
	Workspace string
	Done      bool
}

func (s *Server) unsubscribeBadLink(w http.ResponseWriter, r *http.Request, err error) {
	if errors.Is(err, outreach.ErrBadToken) {
		s.renderError(w, r, http.StatusNotFound, "This unsubscribe link is not valid. Copy the whole link from the email, or change what you receive on your consent page after signing in.")
		return
	}
	s.log.Error("unsubscribe", "route", r.Pattern, "request_id", RequestID(r.Context()), "err", err.Error())
	s.renderError(w, r, http.StatusServiceUnavailable, unavailableMessage)
}

// unsubscribePage shows what the link will stop and a button. It changes
// nothing: mail scanners and link previews fetch links with GET.
func (s *Server) unsubscribePage(w http.ResponseWriter, r *http.Request) {
	if s.outreach == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Unsubscribing is not configured on this server.")
		return
	}
	tok := r.PathValue("token")
	u, err := s.outreach.Peek(r.Context(), tok)
	if err != nil {
		s.unsubscribeBadLink(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.renderView(w, r, http.StatusOK, "unsubscribe", View{Title: "Stop news from " + u.WorkspaceName,
		Data: unsubscribeData{Token: tok, Workspace: u.WorkspaceName}})
}

// unsubscribePost is the one-click unsubscribe of RFC 8058: a mail client
// posts List-Unsubscribe=One-Click with no session and no cookie, and the
// page's button posts the same. The signed token is the authority; the
// withdrawal goes into the consent ledger.
func (s *Server) unsubscribePost(w http.ResponseWriter, r *http.Request) {
	if s.outreach == nil {
		s.renderError(w, r, http.StatusServiceUnavailable, "Unsubscribing is not configured on this server.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, 4<<10)
	if err := r.ParseForm(); err != nil || r.PostForm.Get("List-Unsubscribe") != "One-Click" {
		s.renderError(w, r, http.StatusBadRequest, "This request did not ask to unsubscribe. Open the link from the email and press the button.")
		return
	}
	u, err := s.outreach.Unsubscribe(r.Context(), r.PathValue("token"))
	if err != nil {
		s.unsubscribeBadLink(w, r, err)
		return
	}
	w.Header().Set("Referrer-Policy", "no-referrer")
	s.renderView(w, r, http.StatusOK, "unsubscribe", View{Title: "You are unsubscribed",
		Data: unsubscribeData{Workspace: u.WorkspaceName, Done: true}})
}
