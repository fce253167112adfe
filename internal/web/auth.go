package web

import (
	"context"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/mail"
)

// SessionCookie names the browser session cookie on plain-HTTP loopback
// development servers. It holds an opaque random token; the server keeps
// only the token's hash.
const SessionCookie = "custodia_session"

// SecureSessionCookie is the session cookie's name when cookies are Secure
// (TLS or an https base URL). Browsers accept a __Host- cookie only if it
// is Secure, has Path=/ and no Domain, so neither a sibling subdomain nor
// a plain-HTTP page can plant or shadow it.
const SecureSessionCookie = "__Host-" + SessionCookie

const sessionKey ctxKey = 100

// sessionFrom returns the cookie session of the request, if any, including
// one still at the MFA or enrolment stage.
func sessionFrom(ctx context.Context) *identity.Session {
	s, _ := ctx.Value(sessionKey).(*identity.Session)
	return s
}

// meta is what the identity service needs to know about the request. The
// client address is the TCP peer: Custodia terminates TLS itself, and a
// trusted-proxy setting can come when a deployment needs one.
func meta(r *http.Request) identity.Meta {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	return identity.Meta{ClientAddr: host, UserAgent: r.UserAgent(), RequestID: RequestID(r.Context())}
}

// authenticate resolves the bearer token or the session cookie. A bad bearer
// token is refused outright (an app must notice); a bad or expired cookie is
// cleared and the request goes on anonymously, so public pages still work.
func (s *Server) authenticate(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if s.identity == nil {
			next.ServeHTTP(w, r)
			return
		}
		m := meta(r)
		ctx := r.Context()
		if h := r.Header.Get("Authorization"); h != "" {
			tok, ok := strings.CutPrefix(h, "Bearer ")
			var p *access.Principal
			var err error
			if ok {
				p, err = s.identity.AuthenticateToken(ctx, strings.TrimSpace(tok), m)
			}
			if !ok || err != nil {
				if err != nil && !isIdentityError(err) {
					// A token that cannot be checked is not a bad token:
					// telling the app so would make it drop a good one.
					s.fail(w, r, err)
					return
				}
				w.Header().Set("WWW-Authenticate", `Bearer realm="custodia"`)
				WriteProblem(w, r, http.StatusUnauthorized, "The API token is not valid: it may be mistyped, expired or revoked. Send it as “Authorization: Bearer cus_…”.")
				return
			}
			next.ServeHTTP(w, r.WithContext(access.WithPrincipal(ctx, p)))
			return
		}
		if c, err := r.Cookie(s.sessionCookieName(r)); err == nil && c.Value != "" {
			sess, p, err := s.identity.Authenticate(ctx, c.Value, m)
			switch {
			case err == nil:
				ctx = context.WithValue(ctx, sessionKey, sess)
				if p != nil {
					ctx = access.WithPrincipal(ctx, p)
				}
			case isIdentityError(err):
				s.clearSessionCookie(w, r)
			default:
				s.fail(w, r, err) // logs; an unavailable store answers 503
				return
			}
		}
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

func isIdentityError(err error) bool {
	_, ok := identity.AsError(err)
	return ok
}

// secureCookies: the cookie is Secure whenever the request came over TLS or
// the public base URL is https. Plain HTTP is only ever served on loopback
// (config refuses anything else), so a non-Secure cookie there lets local
// development work without exposing the cookie to a network.
func (s *Server) secureCookies(r *http.Request) bool {
	return r.TLS != nil || strings.HasPrefix(s.baseURL, "https://")
}

// sessionCookieName is the name the session cookie has on this request:
// SecureSessionCookie whenever cookies are Secure. Only that name is read,
// so a cookie without the prefix cannot stand in for it.
func (s *Server) sessionCookieName(r *http.Request) string {
	if s.secureCookies(r) {
		return SecureSessionCookie
	}
	return SessionCookie
}

func (s *Server) setSessionCookie(w http.ResponseWriter, r *http.Request, token string) {
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookieName(r), Value: token, Path: "/", HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
}

func (s *Server) clearSessionCookie(w http.ResponseWriter, r *http.Request) {
	http.SetCookie(w, &http.Cookie{Name: s.sessionCookieName(r), Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: s.secureCookies(r), SameSite: http.SameSiteLaxMode})
}

// requireUser lets through requests with a full principal. Pages send
// others to sign in (or to the pending MFA step); the API answers 401.
func (s *Server) requireUser(h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		if _, ok := access.PrincipalFrom(r.Context()); ok {
			h(w, r)
			return
		}
		if !wantsHTML(r) {
			WriteProblem(w, r, http.StatusUnauthorized, "Sign in first: send the session cookie or an API token.")
			return
		}
		if sess := sessionFrom(r.Context()); sess != nil {
			switch sess.Stage {
			case identity.StageMFA:
				http.Redirect(w, r, "/signin/mfa?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
				return
			case identity.StageEnrol:
				http.Redirect(w, r, "/account/mfa/enrol", http.StatusSeeOther)
				return
			}
		}
		http.Redirect(w, r, "/signin?next="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
	}
}

// requireSession is requireUser for actions only a person at a browser may
// take (managing tokens, sessions, members): API tokens are refused.
func (s *Server) requireSession(h http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := access.PrincipalFrom(r.Context()); p.TokenID != "" || sessionFrom(r.Context()) == nil {
			WriteProblem(w, r, http.StatusForbidden, "API tokens cannot do this; sign in as a person.")
			return
		}
		h(w, r)
	})
}

// requireRole lets through principals holding one of roles in their active
// workspace.
func (s *Server) requireRole(h http.HandlerFunc, roles ...access.Role) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		p, _ := access.PrincipalFrom(r.Context())
		if p.HasAny(roles...) {
			h(w, r)
			return
		}
		s.forbidden(w, r, roleRefusal(p, roles))
	})
}

// requireScope limits API tokens to the scopes they were given; sessions
// pass (HasScope is true without a token).
func (s *Server) requireScope(scope string, h http.HandlerFunc) http.HandlerFunc {
	return s.requireUser(func(w http.ResponseWriter, r *http.Request) {
		if p, _ := access.PrincipalFrom(r.Context()); !p.HasScope(scope) {
			WriteProblem(w, r, http.StatusForbidden, "This API token lacks the scope "+scope+".")
			return
		}
		h(w, r)
	})
}

func (s *Server) forbidden(w http.ResponseWriter, r *http.Request, msg string) {
	if wantsHTML(r) {
		s.renderError(w, r, http.StatusForbidden, msg)
		return
	}
	WriteProblem(w, r, http.StatusForbidden, msg)
}

// statusOf maps the identity service's error kinds to HTTP, in one place.
func statusOf(k identity.Kind) int {
	switch k {
	case identity.KindInvalid:
		return http.StatusUnprocessableEntity
	case identity.KindUnauthenticated:
		return http.StatusUnauthorized
	case identity.KindForbidden:
		return http.StatusForbidden
	case identity.KindNotFound:
		return http.StatusNotFound
	case identity.KindConflict:
		return http.StatusConflict
	case identity.KindThrottled, identity.KindLocked:
		return http.StatusTooManyRequests
	}
	return http.StatusInternalServerError
}

// fail answers an error from the identity service: its own message for an
// expected failure, a generic one (and a log line with the request id, no
// personal data) otherwise.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, err error) {
	e, ok := identity.AsError(err)
	if !ok {
		s.log.Error("identity request failed", "request_id", RequestID(r.Context()), "route", r.Pattern, "err", mail.RedactAddresses(err.Error()))
		status, msg := unexpectedStatus(err)
		if wantsHTML(r) && status == http.StatusInternalServerError {
			msg = "Something went wrong on our side. Try again; if it keeps happening, quote the request id to support."
		}
		s.answer(w, r, status, msg)
		return
	}
	if e.RetryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(int(e.RetryAfter.Seconds())))
	}
	status := statusOf(e.Kind)
	if wantsHTML(r) {
		s.renderError(w, r, status, e.Message)
		return
	}
	if e.Field != "" {
		writeProblem(w, r, Problem{Status: status, Detail: e.Message, Errors: map[string]string{e.Field: e.Message}})
		return
	}
	WriteProblem(w, r, status, e.Message)
}

// safeNext keeps a post-sign-in redirect on this site: a local absolute
// path, not "//host" or "/\host", which browsers treat as another site.
func safeNext(next, fallback string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.HasPrefix(next, "/\\") || strings.ContainsAny(next, "\r\n") {
		return fallback
	}
	u, err := url.Parse(next)
	if err != nil || u.Host != "" || u.Scheme != "" {
		return fallback
	}
	return next
}

// Nav is what the layout's navigation needs to know about the viewer.
type Nav struct {
	SignedIn    bool
	Pending     bool // signed in with a password, second factor still due
	Name        string
	Workspace   string
	Admin       bool
	Clinical    bool   // a workspace member who may work with patient records
	Officer     bool   // privacy officer: audit log, break-glass reviews
	PatientID   string // set for patients and their representatives
	CanInvite   bool   // may invite patients
	ShowOutbox  bool
	RequestPath string
	UserID      string // the signed-in user, for per-user links
}

func (s *Server) navFor(r *http.Request) *Nav {
	n := &Nav{ShowOutbox: s.outbox != nil, RequestPath: r.URL.Path}
	if s.identity == nil {
		return n
	}
	if sessionFrom(r.Context()) != nil {
		n.Pending = true
	}
	p, ok := access.PrincipalFrom(r.Context())
	if !ok {
		return n
	}
	n.SignedIn, n.Pending, n.UserID = true, false, p.UserID
	if name, ws, err := s.identity.SignedInAs(r.Context(), p.UserID, p.WorkspaceID); err == nil {
		n.Name, n.Workspace = name, ws
	}
	n.Admin = p.Has(access.RoleAdmin)
	n.CanInvite = p.HasAny(access.RoleAdmin, access.RoleClinician, access.RoleStaff)
	n.Clinical = p.HasAny(access.RoleAdmin, access.RoleClinician, access.RolePrivacyOfficer, access.RoleStaff)
	n.Officer = p.Has(access.RolePrivacyOfficer)
	if p.Role == access.RolePatient || p.Role == access.RoleRepresentative {
		n.PatientID = p.PatientID
	}
	return n
}

func itoa(n int) string { return strconv.Itoa(n) }

func atoi(s string) int {
	n, _ := strconv.Atoi(strings.TrimSpace(s))
	return n
}
