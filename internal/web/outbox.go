package web

import (
	"net/http"
)

func init() { routeSets = append(routeSets, (*Server).outboxRoutes) }

// outboxRoutes serves the development outbox, only when Deps.Outbox is set,
// which app does only without an SMTP relay and outside production, so real
// mail is never readable over the web.
func (s *Server) outboxRoutes(mux Mux) {
	if s.outbox == nil {
		return
	}
	mux.HandleFunc("GET /dev/outbox", func(w http.ResponseWriter, r *http.Request) {
		items, err := s.outbox.List()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.renderView(w, r, http.StatusOK, "outbox", View{Title: "Development outbox", Data: map[string]any{"Items": items}})
	})
	mux.HandleFunc("GET /dev/outbox/{name}", func(w http.ResponseWriter, r *http.Request) {
		it, err := s.outbox.Read(r.PathValue("name"))
		if err != nil {
			s.renderError(w, r, http.StatusNotFound, "There is no such message in the outbox.")
			return
		}
		s.renderView(w, r, http.StatusOK, "outbox_message", View{Title: it.Subject, Data: map[string]any{"Item": it}})
	})
}
