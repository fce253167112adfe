package web

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"net/http"
	"sync/atomic"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/db"
)

// AuditLog is what the web layer needs from the audit log: durable appends
// and queries. *audit.Log implements it.
type AuditLog interface {
	audit.Appender
	Query(ctx context.Context, f audit.Filter) (audit.Page, error)
}

// PHIRoute is a route whose successful response releases PHI, and the audit
// action its handler must record before it answers.
type PHIRoute struct {
	Pattern string // the ServeMux pattern, e.g. "GET /api/v1/audit"
	Action  string // the audit action, e.g. "audit.read"; auditedByService when the domain services record their own
}

// auditedByService is the action of a PHI route whose handler calls domain
// services (records, media, rehab, consent, captures) that decide and audit
// themselves: their allow entries reach the guard through AuditReceipts.
const auditedByService = ""

// PHIRoutes lists every PHI route in registration order, so tests can prove
// each one audits (a route without a test fixture fails the suite).
func (s *Server) PHIRoutes() []PHIRoute { return append([]PHIRoute(nil), s.phiRoutes...) }

// phi registers a route that releases PHI. Every PHI route goes through it:
// it records the route for the tests, and its guard refuses to send a
// success response unless the handler first obtained an audit receipt
// through s.recordAccess, or a domain service called with the request's
// context appended an allow entry through the AuditReceipts appender, so
// "no audit, no data" holds even for a handler that forgets.
func (s *Server) phi(mux Mux, pattern, action string, h http.HandlerFunc) {
	s.phiRoutes = append(s.phiRoutes, PHIRoute{Pattern: pattern, Action: action})
	mux.HandleFunc(pattern, func(w http.ResponseWriter, r *http.Request) {
		g := &phiGuard{ResponseWriter: w, s: s, r: r, action: action}
		h(g, r.WithContext(context.WithValue(r.Context(), phiGuardKey, g)))
	})
}

// phiGuardKey has a type of its own: as a ctxKey it once shared its value
// with sessionKey, and a guarded route then lost the session.
type phiGuardCtx struct{}

var phiGuardKey phiGuardCtx

// phiGuard stands between a PHI handler and the client. A success (2xx)
// without a receipt is a programming error: the guard answers 500 instead
// and drops the body. Errors and redirects release nothing and pass.
type phiGuard struct {
	http.ResponseWriter
	s        *Server
	r        *http.Request
	action   string
	receipts atomic.Int64 // services may append from their own goroutines
	exempt   bool
	wrote    bool
	blocked  bool
}

func (g *phiGuard) WriteHeader(code int) {
	if g.wrote {
		return
	}
	g.wrote = true
	if code >= 200 && code < 300 && g.receipts.Load() == 0 && !g.exempt {
		g.blocked = true
		g.s.log.Error("PHI route answered without an audit receipt; response withheld", "route", g.r.Pattern,
			"request_id", RequestID(g.r.Context()))
		g.s.answer(g.ResponseWriter, g.r, http.StatusInternalServerError, "An unexpected error occurred. Quote the request id to support.")
		return
	}
	g.ResponseWriter.WriteHeader(code)
}

func (g *phiGuard) Write(b []byte) (int, error) {
	if !g.wrote {
		g.WriteHeader(http.StatusOK)
	}
	if g.blocked {
		return 0, errors.New("write response: withheld, no audit receipt")
	}
	return g.ResponseWriter.Write(b)
}

func (g *phiGuard) Unwrap() http.ResponseWriter { return g.ResponseWriter }

// Flush lets a streamed export reach the client.
func (g *phiGuard) Flush() {
	if f, ok := g.ResponseWriter.(http.Flusher); ok && !g.blocked {
		f.Flush()
	}
}

// releasesNoPHI tells the PHI guard that this request's success answer holds
// no PHI (an upload's byte count, a member invitation), so it may pass
// without an allow entry. Call it only on the branch that answers so.
func releasesNoPHI(r *http.Request) {
	if g, ok := r.Context().Value(phiGuardKey).(*phiGuard); ok {
		g.exempt = true
	}
}

// AuditReceipts wraps the audit log the domain services append to. An allow
// entry appended durably with a PHI request's context counts as that
// request's receipt on its guard, so routes whose services audit pass it
// and a route whose service forgot still cannot answer with data. A
// system actor's entry (the age check) is not an access for the user and
// does not count.
//
// When a is an audit.Log, what it returns also offers AppendWith and
// Shares, so services that commit their rows in the entry's transaction
// (media's small uploads) keep doing so behind the counter.
func AuditReceipts(a audit.Appender) audit.Appender {
	if l, ok := a.(*audit.Log); ok {
		return receiptCounterWith{receiptCounter{a}, l}
	}
	return receiptCounter{a}
}

type receiptCounter struct{ next audit.Appender }

type receiptCounterWith struct {
	receiptCounter
	log *audit.Log
}

// AppendWith is audit.Log.AppendWith, counting the entry as a receipt once
// it and fn's statements are committed.
func (c receiptCounterWith) AppendWith(ctx context.Context, e audit.Event, fn func(ctx context.Context, tx *sql.Tx) error) (audit.Receipt, error, error) {
	rc, fnErr, err := c.log.AppendWith(ctx, e, fn)
	if err == nil && fnErr == nil {
		CountReceipt(ctx, e)
	}
	return rc, fnErr, err
}

// Shares is audit.Log.Shares.
func (c receiptCounterWith) Shares(d *db.DB) bool { return c.log.Shares(d) }

func (c receiptCounter) Append(ctx context.Context, e audit.Event) (audit.Receipt, error) {
	rc, err := c.next.Append(ctx, e)
	if err == nil {
		CountReceipt(ctx, e)
	}
	return rc, err
}

// CountReceipt is what AuditReceipts does after a successful append: e,
// durably written with ctx, becomes a receipt of ctx's PHI request if it is
// a person's allowed access. Test stacks that build services on their own
// appender call it after each append.
func CountReceipt(ctx context.Context, e audit.Event) {
	if e.Decision != "allow" || e.Outcome == "failure" || e.ActorRole == "system" {
		return
	}
	if g, ok := ctx.Value(phiGuardKey).(*phiGuard); ok {
		g.receipts.Add(1)
	}
}

// answer sends an error as a problem (API) or an error page (everything
// else). message must hold no PHI.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, message string) {
	if wantsHTML(r) {
		s.renderError(w, r, status, message)
		return
	}
	WriteProblem(w, r, status, message)
}

// auditUnavailable is the answer when the audit log cannot be written.
const auditUnavailable = "The access could not be recorded in the audit log, so no data was released. Try again shortly; if it persists, quote the request id to support."

// completeEvent fills in who, where and which request from the principal,
// and the route's action when the handler set none.
func completeEvent(r *http.Request, p *access.Principal, action string, e audit.Event) audit.Event {
	if e.Action == "" {
		e.Action = action
	}
	if p != nil {
		e.ActorUserID, e.ActorTokenID, e.ActorRole = p.UserID, p.TokenID, string(p.Role)
		if e.WorkspaceID == "" {
			e.WorkspaceID = p.WorkspaceID
		}
		if e.OnBehalfOf == "" {
			e.OnBehalfOf = p.OnBehalfOf
		}
		e.ClientAddr = p.ClientAddr
	}
	if e.ClientAddr == "" {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			e.ClientAddr = host
		} else {
			e.ClientAddr = r.RemoteAddr
		}
	}
	if e.RequestID = RequestID(r.Context()); e.RequestID == "" && p != nil {
		e.RequestID = p.RequestID
	}
	return e
}

// recordAccess durably records the PHI access the handler is about to
// release and returns its receipt. If the audit log cannot be written it
// answers 503 with no data and returns false; the handler then returns.
func (s *Server) recordAccess(w http.ResponseWriter, r *http.Request, p *access.Principal, e audit.Event) (audit.Receipt, bool) {
	g, _ := r.Context().Value(phiGuardKey).(*phiGuard)
	action := ""
	if g != nil {
		action = g.action
	}
	e = completeEvent(r, p, action, e)
	if e.Decision == "" {
		e.Decision = "allow"
	}
	if e.Outcome == "" {
		e.Outcome = "success"
	}
	if s.audit == nil {
		s.answer(w, r, http.StatusServiceUnavailable, auditUnavailable)
		return audit.Receipt{}, false
	}
	rc, err := s.audit.Append(r.Context(), e)
	if err != nil {
		s.log.Error("audit append failed; PHI withheld", "route", r.Pattern, "request_id", e.RequestID, "err", err.Error())
		s.answer(w, r, http.StatusServiceUnavailable, auditUnavailable)
		return audit.Receipt{}, false
	}
	if g != nil {
		g.receipts.Add(1)
	}
	return rc, true
}

// recordDenial records a refused PHI access. A denial releases nothing, so
// an audit failure here is logged and the refusal still goes out.
func (s *Server) recordDenial(r *http.Request, p *access.Principal, e audit.Event) {
	g, _ := r.Context().Value(phiGuardKey).(*phiGuard)
	action := ""
	if g != nil {
		action = g.action
	}
	e = completeEvent(r, p, action, e)
	e.Decision, e.Outcome = "deny", "denied"
	if s.audit == nil {
		return
	}
	if _, err := s.audit.Append(r.Context(), e); err != nil {
		s.log.Error("audit append failed for a denial", "route", r.Pattern, "request_id", e.RequestID, "err", err.Error())
	}
}

// principal returns the signed-in principal, or answers 401. The routes
// are wrapped in requireUser, which sends pages to sign in first; this is
// the check the handlers themselves rely on.
func (s *Server) principal(w http.ResponseWriter, r *http.Request) (*access.Principal, bool) {
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		s.answer(w, r, http.StatusUnauthorized, "Sign in to see this.")
		return nil, false
	}
	return p, true
}
