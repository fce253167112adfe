package web

import (
	"net"
	"net/http"
)

func init() { routeSets = append(routeSets, (*Server).outboxRoutes) }

// outboxRoutes serves the development outbox, only when Deps.Outbox is set,
// which app does only without an SMTP relay and outside production, so real
// mail is never readable over the web. Even then the mail holds sign-up,
// invitation and reset links, so only a browser on this machine may read it.
func (s *Server) outboxRoutes(mux Mux) {
	if s.outbox == nil {
		return
	}
	mux.HandleFunc("GET /dev/outbox", s.fromLoopback(func(w http.ResponseWriter, r *http.Request) {
		items, err := s.outbox.List()
		if err != nil {
			s.fail(w, r, err)
			return
		}
		s.renderView(w, r, http.StatusOK, "outbox", View{Title: "Development outbox", Data: map[string]any{"Items": items}})
	}))
	mux.HandleFunc("GET /dev/outbox/{name}", s.fromLoopback(func(w http.ResponseWriter, r *http.Request) {
		it, err := s.outbox.Read(r.PathValue("name"))
		if err != nil {
			s.renderError(w, r, http.StatusNotFound, "There is no such message in the outbox.")
			return
		}
		s.renderView(w, r, http.StatusOK, "outbox_message", View{Title: it.Subject, Data: map[string]any{"Item": it}})
	}))
}

// fromLoopback lets through requests whose TCP peer is a loopback address
// and that name no proxy (a proxy on this machine would make everyone look
// local); others get the answer for a page that does not exist.
func (s *Server) fromLoopback(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if !isLoopback(r.RemoteAddr) || r.Header.Get("Forwarded") != "" || r.Header.Get("X-Forwarded-For") != "" {
			s.renderError(w, r, http.StatusNotFound, "There is no page at this address.")
			return
		}
		h(w, r)
	}
}

func isLoopback(remoteAddr string) bool {
	host, _, err := net.SplitHostPort(remoteAddr)
	if err != nil {
		host = remoteAddr
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
