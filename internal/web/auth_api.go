package web

import (
	"net/http"
	"strings"
	"time"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/identity"
)

func (s *Server) authAPIRoutes(mux Mux) {
	mux.HandleFunc("POST /api/v1/auth/signup", s.apiSignUp)
	mux.HandleFunc("POST /api/v1/auth/verify-email", s.apiVerifyEmail)
	mux.HandleFunc("POST /api/v1/auth/signin", s.apiSignIn)
	mux.HandleFunc("POST /api/v1/auth/mfa", s.apiMFA)
	mux.HandleFunc("POST /api/v1/auth/signout", s.apiSignOut)
	mux.HandleFunc("POST /api/v1/auth/forgot", s.apiForgot)
	mux.HandleFunc("POST /api/v1/auth/reset", s.apiReset)
	mux.HandleFunc("GET /api/v1/me", s.requireUser(s.apiMe))
	mux.HandleFunc("GET /api/v1/me/sessions", s.requireSession(s.apiSessions))
	mux.HandleFunc("DELETE /api/v1/me/sessions", s.requireSession(s.apiSignOutEverywhere))
	mux.HandleFunc("DELETE /api/v1/me/sessions/{id}", s.requireSession(s.apiRevokeSession))
	mux.HandleFunc("GET /api/v1/me/tokens", s.requireSession(s.apiTokens))
	mux.HandleFunc("POST /api/v1/me/tokens", s.requireSession(s.apiCreateToken))
	mux.HandleFunc("DELETE /api/v1/me/tokens/{id}", s.requireSession(s.apiRevokeToken))
	mux.HandleFunc("GET /api/v1/workspaces/{id}/members", s.requireSession(s.apiMembers))
	mux.HandleFunc("PATCH /api/v1/workspaces/{id}/members/{user}", s.requireSession(s.apiChangeRole))
	mux.HandleFunc("DELETE /api/v1/workspaces/{id}/members/{user}", s.requireSession(s.apiRemoveMember))
	s.phi(mux, "POST /api/v1/workspaces/{id}/invitations", auditedByService, s.requireSession(s.apiInvite))
	mux.HandleFunc("GET /api/v1/workspaces/{id}/invitations", s.requireSession(s.apiPendingInvitations))
	mux.HandleFunc("POST /api/v1/workspaces/{id}/invitations/{invitation}/resend", s.requireSession(s.apiResendInvitation))
	mux.HandleFunc("DELETE /api/v1/workspaces/{id}/invitations/{invitation}", s.requireSession(s.apiRevokeInvitation))
	mux.HandleFunc("PATCH /api/v1/workspaces/{id}", s.requireSession(s.apiRenameWorkspace))
	mux.HandleFunc("POST /api/v1/invitations/accept", s.apiAcceptInvitation)
}

func (s *Server) apiSignUp(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name          string `json:"name"`
		Email         string `json:"email"`
		Password      string `json:"password"`
		WorkspaceName string `json:"workspace_name"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.identity.SignUp(r.Context(), identity.SignUpInput{Name: in.Name, Email: in.Email, Password: in.Password, WorkspaceName: in.WorkspaceName}, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusAccepted, map[string]string{"status": "We have sent a link to confirm the email address."})
}

func (s *Server) apiVerifyEmail(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token string `json:"token"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.identity.VerifyEmail(r.Context(), in.Token, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

// apiSignIn answers with the session cookie and the stage: "mfa" means
// POST /api/v1/auth/mfa next; "enrol" means set up MFA in the browser.
func (s *Server) apiSignIn(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	res, err := s.identity.SignIn(r.Context(), in.Email, in.Password, meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setSessionCookie(w, r, res.Token)
	WriteJSON(w, http.StatusOK, map[string]string{"stage": string(res.Session.Stage)})
}

func (s *Server) apiMFA(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Code string `json:"code"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	sess := sessionFrom(r.Context())
	if sess == nil {
		WriteProblem(w, r, http.StatusUnauthorized, "Sign in with your password first.")
		return
	}
	tok, err := s.identity.VerifySecondFactor(r.Context(), sess, in.Code, meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	s.setSessionCookie(w, r, tok)
	WriteJSON(w, http.StatusOK, map[string]string{"stage": string(identity.StageFull)})
}

func (s *Server) apiSignOut(w http.ResponseWriter, r *http.Request) {
	if sess := sessionFrom(r.Context()); sess != nil {
		if err := s.identity.SignOut(r.Context(), sess, meta(r)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiForgot(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Email string `json:"email"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	s.identity.ForgotPassword(r.Context(), in.Email, meta(r))
	WriteJSON(w, http.StatusAccepted, map[string]string{"status": forgotAnswer})
}

func (s *Server) apiReset(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Password string `json:"password"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if err := s.identity.ResetPassword(r.Context(), in.Token, in.Password, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMe(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	u, err := s.identity.User(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusOK, map[string]any{
		"id": u.ID, "name": u.Name, "email": u.Email, "mfa_enabled": u.MFAEnabled,
		"workspace_id": p.WorkspaceID, "role": p.Role, "roles": p.Roles, "patient_id": p.PatientID, "token_id": p.TokenID, "scopes": p.Scopes,
	})
}

type sessionJSON struct {
	ID         string    `json:"id"`
	Current    bool      `json:"current"`
	CreatedAt  time.Time `json:"created_at"`
	LastSeenAt time.Time `json:"last_seen_at"`
	ClientAddr string    `json:"client_addr"`
	UserAgent  string    `json:"user_agent"`
}

func (s *Server) apiSessions(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	list, err := s.identity.Sessions(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []sessionJSON{}
	for _, x := range list {
		out = append(out, sessionJSON{x.ID, x.ID == p.SessionID, x.CreatedAt, x.LastSeenAt, x.ClientAddr, x.UserAgent})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"sessions": out})
}

func (s *Server) apiSignOutEverywhere(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.SignOutEverywhere(r.Context(), p.UserID, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.clearSessionCookie(w, r)
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRevokeSession(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RevokeSession(r.Context(), p.UserID, r.PathValue("id"), meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

type tokenJSON struct {
	ID          string    `json:"id"`
	Name        string    `json:"name"`
	WorkspaceID string    `json:"workspace_id"`
	Scopes      []string  `json:"scopes"`
	CreatedAt   time.Time `json:"created_at"`
	ExpiresAt   time.Time `json:"expires_at"`
	LastUsedAt  time.Time `json:"last_used_at,omitzero"`
	Secret      string    `json:"secret,omitempty"` // only in the creation response
}

func toTokenJSON(t identity.APIToken) tokenJSON {
	return tokenJSON{ID: t.ID, Name: t.Name, WorkspaceID: t.WorkspaceID, Scopes: t.Scopes, CreatedAt: t.CreatedAt, ExpiresAt: t.ExpiresAt, LastUsedAt: t.LastUsedAt}
}

func (s *Server) apiTokens(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	list, err := s.identity.Tokens(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []tokenJSON{}
	for _, t := range list {
		out = append(out, toTokenJSON(t))
	}
	WriteJSON(w, http.StatusOK, map[string]any{"tokens": out})
}

func (s *Server) apiCreateToken(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name         string   `json:"name"`
		Scopes       []string `json:"scopes"`
		LifetimeDays int      `json:"lifetime_days"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	p, _ := access.PrincipalFrom(r.Context())
	t, secret, err := s.identity.CreateToken(r.Context(), p, identity.TokenInput{Name: in.Name, Scopes: in.Scopes, Lifetime: time.Duration(in.LifetimeDays) * 24 * time.Hour}, meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := toTokenJSON(*t)
	out.Secret = secret
	WriteJSON(w, http.StatusCreated, out)
}

func (s *Server) apiRevokeToken(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RevokeToken(r.Context(), p, r.PathValue("id"), meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiMembers(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	ms, err := s.identity.Members(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, m := range ms {
		out = append(out, map[string]any{"user_id": m.UserID, "name": m.Name, "email": m.Email, "role": m.Role, "roles": m.Roles, "mfa_enabled": m.MFAEnabled, "since": m.Since})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"members": out})
}

func (s *Server) apiChangeRole(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Role  access.Role   `json:"role"`
		Roles []access.Role `json:"roles"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	if in.Roles == nil && in.Role != "" {
		in.Roles = []access.Role{in.Role}
	}
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.SetRoles(r.Context(), p, r.PathValue("id"), r.PathValue("user"), in.Roles, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRemoveMember(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RemoveMember(r.Context(), p, r.PathValue("id"), r.PathValue("user"), meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiInvite(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Kind      string      `json:"kind"`
		Email     string      `json:"email"`
		Role      access.Role `json:"role"`
		PatientID string      `json:"patient_id"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	p, _ := access.PrincipalFrom(r.Context())
	ii := identity.InviteInput{Kind: in.Kind, Email: in.Email, Role: in.Role, PatientID: strings.TrimSpace(in.PatientID)}
	if ii.Kind == identity.InvitePatient {
		var ok bool
		if ii.Receipt, ok = s.authorizePatientInvite(w, r, ii.PatientID, s.apiError); !ok {
			return
		}
	} else {
		// A member invitation names staff, not a patient.
		releasesNoPHI(r)
	}
	inv, err := s.identity.Invite(r.Context(), p, r.PathValue("id"), ii, meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]any{"id": inv.ID, "kind": inv.Kind, "role": inv.Role, "expires_at": inv.ExpiresAt})
}

func (s *Server) apiAcceptInvitation(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Token    string `json:"token"`
		Name     string `json:"name"`
		Password string `json:"password"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	acc := identity.AcceptInput{Token: in.Token, Name: in.Name, Password: in.Password}
	if p, ok := access.PrincipalFrom(r.Context()); ok && p.TokenID == "" {
		acc.SignedInUserID = p.UserID
	}
	uid, err := s.identity.AcceptInvitation(r.Context(), acc, meta(r))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	WriteJSON(w, http.StatusCreated, map[string]string{"user_id": uid})
}

func (s *Server) apiPendingInvitations(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	invs, err := s.identity.PendingInvitations(r.Context(), p, r.PathValue("id"))
	if err != nil {
		s.fail(w, r, err)
		return
	}
	out := []map[string]any{}
	for _, inv := range invs {
		out = append(out, map[string]any{"id": inv.ID, "email": inv.Email, "role": inv.Role, "invited_by": inv.InvitedBy,
			"sent_at": inv.SentAt, "expires_at": inv.ExpiresAt, "expired": inv.Expired})
	}
	WriteJSON(w, http.StatusOK, map[string]any{"invitations": out})
}

func (s *Server) apiResendInvitation(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.ResendInvitation(r.Context(), p, r.PathValue("id"), r.PathValue("invitation"), meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRevokeInvitation(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RevokeInvitation(r.Context(), p, r.PathValue("id"), r.PathValue("invitation"), meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) apiRenameWorkspace(w http.ResponseWriter, r *http.Request) {
	var in struct {
		Name string `json:"name"`
	}
	if !DecodeJSON(w, r, &in) {
		return
	}
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RenameWorkspace(r.Context(), p, r.PathValue("id"), in.Name, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	w.WriteHeader(http.StatusNoContent)
}
