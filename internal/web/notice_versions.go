package web

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/notice"
)

func init() { routeSets = append(routeSets, (*Server).routesNoticeVersions) }

// routesNoticeVersions registers the page showing any published notice
// version (public: notices are published texts, and records link to the
// version they were collected under) and the publish API.
func (s *Server) routesNoticeVersions(mux Mux) {
	mux.HandleFunc("GET /privacy/versions/{id}", s.privacyVersionPage)
	mux.HandleFunc("POST /api/v1/notices", s.apiPublishNotice)
}

// noticeWords names a version as a person reads it: "privacy notice of
// 1 January 2026, version 3" (the effective date it declares, else the day
// it was published).
func noticeWords(v notice.Version) string {
	d := v.EffectiveDate()
	if d.IsZero() {
		d = v.PublishedAt
	}
	scope := "privacy notice"
	if v.WorkspaceID != "" {
		scope = "practice's privacy notice"
	}
	return scope + " of " + d.UTC().Format("2 January 2006") + ", version " + strconv.Itoa(v.Version)
}

// describeNotices fills each history row's words for the notice version it
// was given under; a version that cannot be read leaves the words empty.
func (s *Server) describeNotices(ctx context.Context, rows []consentHistoryRow) {
	if s.notices == nil {
		return
	}
	seen := map[string]string{}
	for i := range rows {
		id := rows[i].NoticeID
		if id == "" {
			continue
		}
		words, ok := seen[id]
		if !ok {
			if v, err := s.notices.Get(ctx, id); err == nil {
				words = noticeWords(v)
			}
			seen[id] = words
		}
		rows[i].NoticeWords = words
	}
}

type privacyVersionData struct {
	Notice  noticeView
	Current bool // it is the version in force now
	Scope   string
}

// privacyVersionPage shows one published version, current or not.
func (s *Server) privacyVersionPage(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	v, err := s.notices.Get(r.Context(), r.PathValue("id"))
	if err != nil {
		s.noticePageError(w, r, err)
		return
	}
	d := privacyVersionData{Notice: toNoticeView(v), Scope: "the platform's privacy notice"}
	if v.WorkspaceID != "" {
		d.Scope = "a practice's privacy notice"
	}
	if cur, err := s.notices.Current(r.Context(), v.WorkspaceID); err == nil {
		d.Current = cur.ID == v.ID
	}
	s.renderView(w, r, http.StatusOK, "privacy_version", View{Title: "Privacy notice, version " + strconv.Itoa(v.Version), Data: d})
}

type publishNoticeRequest struct {
	Title    string `json:"title"`
	Body     string `json:"body"`
	Summary  string `json:"summary"`
	Material bool   `json:"material"`
}

// apiPublishNotice publishes the next version of the notice the caller
// manages (the platform's for the operator, their workspace's for its
// administrator or privacy officer). A notice lacking a required section is
// refused with 422 naming each missing section.
func (s *Server) apiPublishNotice(w http.ResponseWriter, r *http.Request) {
	if !s.noticesReady(w, r) {
		return
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		WriteProblem(w, r, http.StatusUnauthorized, "Sign in first: send the session cookie or an API token.")
		return
	}
	scope, ok := noticeScope(p)
	if !ok {
		WriteProblem(w, r, http.StatusForbidden, "Only the platform operator, or a workspace's administrator or privacy officer, publishes privacy notices.")
		return
	}
	var in publishNoticeRequest
	if !DecodeJSON(w, r, &in) {
		return
	}
	v, err := s.notices.Publish(r.Context(), p, notice.NewVersion{WorkspaceID: scope, Title: in.Title, Body: in.Body, Summary: in.Summary, Material: in.Material})
	if err != nil {
		var ve *notice.ValidationError
		if errors.As(err, &ve) {
			WriteValidation(w, r, "The notice was not published.", ve.Fields)
			return
		}
		status, msg := noticeErrorMessage(err)
		if status == http.StatusInternalServerError {
			s.log.Error("publish notice", "request_id", RequestID(r.Context()), "err", err.Error())
		}
		WriteProblem(w, r, status, msg)
		return
	}
	WriteJSON(w, http.StatusCreated, toNoticeJSON(v))
}
