package web

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"html/template"

	"github.com/custodia-health/custodia/internal/access"
	"github.com/custodia-health/custodia/internal/audit"
	"github.com/custodia-health/custodia/internal/identity"
	"github.com/custodia-health/custodia/internal/labels"
)

func init() { routeSets = append(routeSets, (*Server).authRoutes) }

// authRoutes registers the sign-in pages and the identity API, when the
// server has an identity service.
func (s *Server) authRoutes(mux Mux) {
	if s.identity == nil {
		return
	}
	mux.HandleFunc("GET /signup", s.signUpPage)
	mux.HandleFunc("POST /signup", s.signUpPost)
	mux.HandleFunc("GET /signup/patient", s.patientSignUpPage)
	mux.HandleFunc("POST /signup/patient", s.patientSignUpPost)
	mux.HandleFunc("GET /portal", s.requireSession(s.portalPage))
	mux.HandleFunc("POST /portal/practice-request", s.requireSession(s.practiceRequestPost))
	mux.HandleFunc("GET /verify", s.verifyPage)
	mux.HandleFunc("POST /verify", s.verifyPost)
	mux.HandleFunc("GET /signin", s.signInPage)
	mux.HandleFunc("POST /signin", s.signInPost)
	mux.HandleFunc("GET /signin/mfa", s.mfaPage)
	mux.HandleFunc("POST /signin/mfa", s.mfaPost)
	mux.HandleFunc("POST /signout", s.signOutPost)
	mux.HandleFunc("GET /forgot", s.forgotPage)
	mux.HandleFunc("POST /forgot", s.forgotPost)
	mux.HandleFunc("GET /reset", s.resetPage)
	mux.HandleFunc("POST /reset", s.resetPost)
	mux.HandleFunc("GET /invitations/accept", s.invitationPage)
	mux.HandleFunc("POST /invitations/accept", s.invitationPost)
	mux.HandleFunc("GET /account", s.requireSession(s.accountPage))
	mux.HandleFunc("POST /account/password", s.requireSession(s.passwordPost))
	mux.HandleFunc("GET /account/mfa/enrol", s.enrolPage)
	mux.HandleFunc("POST /account/mfa/enrol", s.enrolPost)
	mux.HandleFunc("POST /account/mfa/disable", s.requireSession(s.mfaDisablePost))
	mux.HandleFunc("POST /account/recovery-codes", s.requireSession(s.recoveryCodesPost))
	mux.HandleFunc("POST /account/sessions/{id}/revoke", s.requireSession(s.sessionRevokePost))
	mux.HandleFunc("POST /account/sessions/revoke-all", s.requireSession(s.signOutEverywherePost))
	mux.HandleFunc("POST /account/tokens", s.requireSession(s.tokenCreatePost))
	mux.HandleFunc("POST /account/tokens/{id}/revoke", s.requireSession(s.tokenRevokePost))
	mux.HandleFunc("POST /workspaces/switch", s.requireSession(s.switchPost))
	mux.HandleFunc("GET /workspace/members", s.requireSession(s.requireRole(s.membersPage, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/members/invite", s.requireSession(s.requireRole(s.memberInvitePost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/members/{user}/role", s.requireSession(s.requireRole(s.memberRolePost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/members/{user}/remove", s.requireSession(s.requireRole(s.memberRemovePost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/members/{user}/unlock", s.requireSession(s.requireRole(s.memberUnlockPost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/settings/mfa", s.requireSession(s.requireRole(s.mfaSettingPost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/settings/name", s.requireSession(s.requireRole(s.workspaceNamePost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/invitations/{id}/resend", s.requireSession(s.requireRole(s.invitationResendPost, access.RoleAdmin)))
	mux.HandleFunc("POST /workspace/invitations/{id}/revoke", s.requireSession(s.requireRole(s.invitationRevokePost, access.RoleAdmin)))
	s.phi(mux, "GET /workspace/patients/invite", auditedByService, s.requireSession(s.requireRole(s.patientInvitePage, access.RoleClinician, access.RoleAdmin, access.RoleStaff)))
	s.phi(mux, "POST /workspace/patients/invite", auditedByService, s.requireSession(s.requireRole(s.patientInvitePost, access.RoleClinician, access.RoleAdmin, access.RoleStaff)))
	s.authAPIRoutes(mux)
}

// flashes are the confirmations a redirect can ask for with ?m=, so no
// user-supplied text is ever reflected into a page.
var flashes = map[string]string{
	"verified":       "Your email address is confirmed. You can sign in now.",
	"reset":          "Your password has been changed. Sign in with the new one.",
	"signed-out":     "You have signed out.",
	"signed-out-all": "You have signed out everywhere: every session, on every device, has ended.",
	"joined":         "You have accepted the invitation.",
	"account-made":   "Your account is ready. Sign in with your email address and new password.",
	"password":       "Your password has been changed, and your other sessions have been signed out.",
	"mfa-off":        "Two-step verification is off.",
	"session-ended":  "That session has been signed out.",
	"token-revoked":  "The token has been revoked; apps using it are locked out.",
	"switched":       "You have switched workspace.",
	"invited":        "The invitation is on its way. The link works once, for 7 days.",
	"role":           "The roles have been saved.",
	"renamed":        "The practice's name has been saved.",
	"practice-asked": "If that address belongs to a doctor on Custodia, they have your request. Their practice registers you and sends you an invitation; open it while signed in.",
	"resent":         "The invitation has been sent again with a new link; the old link no longer works.",
	"revoked":        "The invitation has been withdrawn; its link no longer works.",
	"removed":        "The member has been removed from the workspace.",
	"unlocked":       "Sign-in for that member is unlocked.",
	"mfa-setting":    "The two-step verification requirement has been saved.",
}

func flash(r *http.Request) string { return flashes[r.URL.Query().Get("m")] }

// form is the data of a page with a form: submitted values (never
// passwords) and an error per field.
type form map[string]any

func newForm(r *http.Request) form {
	return form{"Errors": map[string]string{}, "Values": map[string]string{}, "Criteria": identity.PasswordCriteria, "Next": r.FormValue("next")}
}

func (f form) set(name, value string) { f["Values"].(map[string]string)[name] = value }

// showForm renders a page with a form; err, if an identity error, is shown
// next to its field or at the top.
func (s *Server) showForm(w http.ResponseWriter, r *http.Request, page, title string, f form, err error) {
	v := View{Title: title, Data: f, Flash: flash(r)}
	status := http.StatusOK
	if err != nil {
		e, ok := identity.AsError(err)
		if !ok {
			s.fail(w, r, err)
			return
		}
		status = statusOf(e.Kind)
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", itoa(int(e.RetryAfter.Seconds())))
		}
		if e.Field != "" && e.Field != "token" {
			f["Errors"].(map[string]string)[e.Field] = e.Message
			v.Error = "Please correct the marked field."
		} else {
			v.Error = e.Message
		}
	}
	s.renderView(w, r, status, page, v)
}

func (s *Server) message(w http.ResponseWriter, r *http.Request, title, text string, links map[string]string) {
	s.renderView(w, r, http.StatusOK, "message", View{Title: title, Data: map[string]any{"Text": text, "Links": links}})
}

func (s *Server) signUpPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, "signup", "Sign up", newForm(r), nil)
}

func (s *Server) signUpPost(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	in := identity.SignUpInput{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Password: r.PostFormValue("password"), WorkspaceName: r.PostFormValue("workspace")}
	f.set("name", in.Name)
	f.set("email", in.Email)
	f.set("workspace", in.WorkspaceName)
	if err := s.identity.SignUp(r.Context(), in, meta(r)); err != nil {
		s.showForm(w, r, "signup", "Sign up", f, err)
		return
	}
	links := map[string]string{}
	if s.outbox != nil && isLoopback(r.RemoteAddr) {
		links["Open the development outbox"] = "/dev/outbox"
	}
	s.message(w, r, "Check your email", "We have sent a link to confirm your email address. Open it to finish signing up; it works once, for 48 hours.", links)
}

func (s *Server) patientSignUpPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, "signup_patient", "Create a patient account", newForm(r), nil)
}

func (s *Server) patientSignUpPost(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	in := identity.PatientSignUpInput{Name: r.PostFormValue("name"), Email: r.PostFormValue("email"), Password: r.PostFormValue("password")}
	f.set("name", in.Name)
	f.set("email", in.Email)
	if err := s.identity.SignUpPatient(r.Context(), in, meta(r)); err != nil {
		s.showForm(w, r, "signup_patient", "Create a patient account", f, err)
		return
	}
	links := map[string]string{}
	if s.outbox != nil && isLoopback(r.RemoteAddr) {
		links["Open the development outbox"] = "/dev/outbox"
	}
	s.message(w, r, "Check your email", "We have sent a link to confirm your email address. Open it, then sign in: your account page explains how to connect to your practice.", links)
}

// portalPage is where an account that no practice has linked lands: what
// it can do now and how a practice links it. A member or linked patient
// goes to their usual pages.
func (s *Server) portalPage(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if p.WorkspaceID != "" || p.Role != "" {
		http.Redirect(w, r, "/", http.StatusSeeOther)
		return
	}
	u, err := s.identity.User(r.Context(), p.UserID)
	if err != nil {
		s.fail(w, r, err)
		return
	}
	f := newForm(r)
	f["User"] = u
	s.showForm(w, r, "portal", "Your Custodia account", f, nil)
}

func (s *Server) practiceRequestPost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	email := r.PostFormValue("email")
	if err := s.identity.RequestPractice(r.Context(), p.UserID, email, meta(r)); err != nil {
		f := newForm(r)
		f.set("email", email)
		if u, uerr := s.identity.User(r.Context(), p.UserID); uerr == nil {
			f["User"] = u
		}
		s.showForm(w, r, "portal", "Your Custodia account", f, err)
		return
	}
	http.Redirect(w, r, "/portal?m=practice-asked", http.StatusSeeOther)
}

func (s *Server) verifyPage(w http.ResponseWriter, r *http.Request) {
	// A button, not an automatic GET: mail scanners that prefetch links
	// must not use up the single-use token.
	f := newForm(r)
	f["Token"] = r.URL.Query().Get("token")
	s.showForm(w, r, "verify", "Confirm your email address", f, nil)
}

func (s *Server) verifyPost(w http.ResponseWriter, r *http.Request) {
	if err := s.identity.VerifyEmail(r.Context(), r.PostFormValue("token"), meta(r)); err != nil {
		f := newForm(r)
		f["Token"] = r.PostFormValue("token")
		s.showForm(w, r, "verify", "Confirm your email address", f, err)
		return
	}
	http.Redirect(w, r, "/signin?m=verified", http.StatusSeeOther)
}

func (s *Server) signInPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, "signin", "Sign in", newForm(r), nil)
}

func (s *Server) signInPost(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	email := r.PostFormValue("email")
	f.set("email", email)
	res, err := s.identity.SignIn(r.Context(), email, r.PostFormValue("password"), meta(r))
	if err != nil {
		s.showForm(w, r, "signin", "Sign in", f, err)
		return
	}
	s.setSessionCookie(w, r, res.Token)
	home := "/"
	if res.Session.WorkspaceID == "" {
		// An account no practice has linked yet: the page that says what
		// it can do.
		home = "/portal"
	}
	next := safeNext(r.PostFormValue("next"), home)
	switch res.Session.Stage {
	case identity.StageMFA:
		http.Redirect(w, r, "/signin/mfa?next="+url.QueryEscape(next), http.StatusSeeOther)
	case identity.StageEnrol:
		http.Redirect(w, r, "/account/mfa/enrol", http.StatusSeeOther)
	default:
		http.Redirect(w, r, next, http.StatusSeeOther)
	}
}

func (s *Server) mfaPage(w http.ResponseWriter, r *http.Request) {
	if sess := sessionFrom(r.Context()); sess == nil || sess.Stage != identity.StageMFA {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	s.showForm(w, r, "signin_mfa", "Two-step verification", newForm(r), nil)
}

func (s *Server) mfaPost(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if sess == nil || sess.Stage != identity.StageMFA {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	tok, err := s.identity.VerifySecondFactor(r.Context(), sess, r.PostFormValue("code"), meta(r))
	if err != nil {
		s.showForm(w, r, "signin_mfa", "Two-step verification", newForm(r), err)
		return
	}
	s.setSessionCookie(w, r, tok)
	http.Redirect(w, r, safeNext(r.PostFormValue("next"), "/"), http.StatusSeeOther)
}

func (s *Server) signOutPost(w http.ResponseWriter, r *http.Request) {
	if sess := sessionFrom(r.Context()); sess != nil {
		if err := s.identity.SignOut(r.Context(), sess, meta(r)); err != nil {
			s.fail(w, r, err)
			return
		}
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/signin?m=signed-out", http.StatusSeeOther)
}

const forgotAnswer = "If an account exists for that address, we have sent it a link to choose a new password. The link works once, for one hour."

func (s *Server) forgotPage(w http.ResponseWriter, r *http.Request) {
	s.showForm(w, r, "forgot", "Forgot password", newForm(r), nil)
}

func (s *Server) forgotPost(w http.ResponseWriter, r *http.Request) {
	s.identity.ForgotPassword(r.Context(), r.PostFormValue("email"), meta(r))
	s.message(w, r, "Check your email", forgotAnswer, nil)
}

func (s *Server) resetPage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	f["Token"] = r.URL.Query().Get("token")
	s.showForm(w, r, "reset", "Choose a new password", f, nil)
}

func (s *Server) resetPost(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	f["Token"] = r.PostFormValue("token")
	if err := s.identity.ResetPassword(r.Context(), r.PostFormValue("token"), r.PostFormValue("password"), meta(r)); err != nil {
		s.showForm(w, r, "reset", "Choose a new password", f, err)
		return
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/signin?m=reset", http.StatusSeeOther)
}

func (s *Server) invitationForm(r *http.Request, tok string) (form, error) {
	f := newForm(r)
	f["Token"] = tok
	inv, err := s.identity.InvitationByToken(r.Context(), tok)
	if err != nil {
		return f, err
	}
	f["Invitation"] = inv
	p, signedIn := access.PrincipalFrom(r.Context())
	f["SignedIn"] = signedIn && p.TokenID == ""
	f["SignInURL"] = "/signin?next=" + url.QueryEscape("/invitations/accept?token="+tok)
	return f, nil
}

func (s *Server) invitationPage(w http.ResponseWriter, r *http.Request) {
	tok := r.URL.Query().Get("token")
	f, err := s.invitationForm(r, tok)
	s.showForm(w, r, "invitation", "Accept an invitation", f, err)
}

func (s *Server) invitationPost(w http.ResponseWriter, r *http.Request) {
	tok := r.PostFormValue("token")
	in := identity.AcceptInput{Token: tok, Name: r.PostFormValue("name"), Password: r.PostFormValue("password")}
	if p, ok := access.PrincipalFrom(r.Context()); ok && p.TokenID == "" {
		in.SignedInUserID = p.UserID
	}
	if _, err := s.identity.AcceptInvitation(r.Context(), in, meta(r)); err != nil {
		f, ferr := s.invitationForm(r, tok)
		if ferr != nil {
			err = ferr
		}
		f.set("name", in.Name)
		s.showForm(w, r, "invitation", "Accept an invitation", f, err)
		return
	}
	if in.SignedInUserID != "" {
		http.Redirect(w, r, "/account?m=joined", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/signin?m=account-made", http.StatusSeeOther)
}

// account gathers the account page's data; extra carries what a POST just
// produced (a new token's secret, shown once).
func (s *Server) account(w http.ResponseWriter, r *http.Request, status int, extra map[string]any, err error) {
	p, _ := access.PrincipalFrom(r.Context())
	ctx := r.Context()
	u, uerr := s.identity.User(ctx, p.UserID)
	if uerr != nil {
		s.fail(w, r, uerr)
		return
	}
	sessions, serr := s.identity.Sessions(ctx, p.UserID)
	tokens, terr := s.identity.Tokens(ctx, p.UserID)
	wss, werr := s.identity.Workspaces(ctx, p.UserID)
	required, rerr := s.identity.MFARequired(ctx, p.UserID)
	for _, e := range []error{serr, terr, werr, rerr} {
		if e != nil {
			s.fail(w, r, e)
			return
		}
	}
	f := newForm(r)
	f["User"], f["Sessions"], f["Tokens"], f["Workspaces"], f["MFARequired"] = u, sessions, tokens, wss, required
	f["Current"], f["Active"], f["Role"], f["Scopes"] = p.SessionID, p.WorkspaceID, p.Role, identity.Scopes
	for k, v := range extra {
		f[k] = v
	}
	if err != nil {
		s.showForm(w, r, "account", "Account security", f, err)
		return
	}
	s.renderView(w, r, status, "account", View{Title: "Account security", Data: f, Flash: flash(r)})
}

func (s *Server) accountPage(w http.ResponseWriter, r *http.Request) {
	s.account(w, r, http.StatusOK, nil, nil)
}

func (s *Server) passwordPost(w http.ResponseWriter, r *http.Request) {
	tok, err := s.identity.ChangePassword(r.Context(), sessionFrom(r.Context()), r.PostFormValue("current"), r.PostFormValue("new"), meta(r))
	if err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	s.setSessionCookie(w, r, tok)
	http.Redirect(w, r, "/account?m=password", http.StatusSeeOther)
}

// enrolPage shows a new TOTP secret as a QR code and as text. It serves
// both enrolling (MFA required, not yet set up) and full sessions.
func (s *Server) enrolPage(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if sess == nil || sess.Stage == identity.StageMFA {
		http.Redirect(w, r, "/signin?next=/account/mfa/enrol", http.StatusSeeOther)
		return
	}
	s.enrolForm(w, r, sess, nil)
}

func (s *Server) enrolForm(w http.ResponseWriter, r *http.Request, sess *identity.Session, err error) {
	en, eerr := s.identity.BeginTOTP(r.Context(), sess.UserID)
	if eerr != nil {
		s.fail(w, r, eerr)
		return
	}
	f := newForm(r)
	f["Secret"], f["QR"], f["Required"] = en.Secret, template.URL(en.QR), sess.Stage == identity.StageEnrol
	s.showForm(w, r, "mfa_enrol", "Set up two-step verification", f, err)
}

func (s *Server) enrolPost(w http.ResponseWriter, r *http.Request) {
	sess := sessionFrom(r.Context())
	if sess == nil || sess.Stage == identity.StageMFA {
		http.Redirect(w, r, "/signin", http.StatusSeeOther)
		return
	}
	codes, tok, err := s.identity.ConfirmTOTP(r.Context(), sess, r.PostFormValue("code"), meta(r))
	if err != nil {
		s.enrolForm(w, r, sess, err)
		return
	}
	s.setSessionCookie(w, r, tok)
	s.renderView(w, r, http.StatusOK, "recovery_codes", View{Title: "Your recovery codes", Data: map[string]any{"Codes": codes, "Enrolled": true},
		Flash: "Two-step verification is on."})
}

func (s *Server) mfaDisablePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.DisableMFA(r.Context(), p.UserID, r.PostFormValue("code"), meta(r)); err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	http.Redirect(w, r, "/account?m=mfa-off", http.StatusSeeOther)
}

func (s *Server) recoveryCodesPost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	codes, err := s.identity.RegenerateRecoveryCodes(r.Context(), p.UserID, r.PostFormValue("recovery_code"), meta(r))
	if err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	s.renderView(w, r, http.StatusOK, "recovery_codes", View{Title: "Your recovery codes", Data: map[string]any{"Codes": codes}})
}

func (s *Server) sessionRevokePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RevokeSession(r.Context(), p.UserID, r.PathValue("id"), meta(r)); err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	if r.PathValue("id") == p.SessionID {
		s.clearSessionCookie(w, r)
		http.Redirect(w, r, "/signin?m=signed-out", http.StatusSeeOther)
		return
	}
	http.Redirect(w, r, "/account?m=session-ended", http.StatusSeeOther)
}

func (s *Server) signOutEverywherePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.SignOutEverywhere(r.Context(), p.UserID, meta(r)); err != nil {
		s.fail(w, r, err)
		return
	}
	s.clearSessionCookie(w, r)
	http.Redirect(w, r, "/signin?m=signed-out-all", http.StatusSeeOther)
}

func (s *Server) tokenCreatePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	_ = r.ParseForm()
	days := atoi(r.PostFormValue("days"))
	in := identity.TokenInput{Name: r.PostFormValue("name"), Scopes: r.PostForm["scope"], Lifetime: time.Duration(days) * 24 * time.Hour}
	t, secret, err := s.identity.CreateToken(r.Context(), p, in, meta(r))
	if err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	s.account(w, r, http.StatusCreated, map[string]any{"NewToken": t, "NewSecret": secret}, nil)
}

func (s *Server) tokenRevokePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RevokeToken(r.Context(), p, r.PathValue("id"), meta(r)); err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	http.Redirect(w, r, "/account?m=token-revoked", http.StatusSeeOther)
}

func (s *Server) switchPost(w http.ResponseWriter, r *http.Request) {
	tok, err := s.identity.SwitchWorkspace(r.Context(), sessionFrom(r.Context()), r.PostFormValue("workspace"), meta(r))
	if err != nil {
		s.account(w, r, 0, nil, err)
		return
	}
	s.setSessionCookie(w, r, tok)
	http.Redirect(w, r, "/account?m=switched", http.StatusSeeOther)
}

func (s *Server) members(w http.ResponseWriter, r *http.Request, f form, err error) {
	p, _ := access.PrincipalFrom(r.Context())
	ms, merr := s.identity.Members(r.Context(), p, p.WorkspaceID)
	if merr != nil {
		s.fail(w, r, merr)
		return
	}
	wss, _ := s.identity.Workspaces(r.Context(), p.UserID)
	for _, ws := range wss {
		if ws.ID == p.WorkspaceID {
			f["Workspace"] = ws
		}
	}
	pending, perr := s.identity.PendingInvitations(r.Context(), p, p.WorkspaceID)
	if perr != nil {
		s.fail(w, r, perr)
		return
	}
	rows := make([]memberRow, len(ms))
	for i, m := range ms {
		rows[i] = memberRow{Member: m, Self: m.UserID == p.UserID}
		for _, c := range roleChoices {
			rows[i].Choices = append(rows[i].Choices, roleChoice{roleInfo: c, Held: slices.Contains(m.Roles, c.Role)})
		}
	}
	if f["Values"].(map[string]string)["role"] == "" {
		f.set("role", string(access.RoleClinician))
	}
	f["Members"], f["Roles"], f["Self"], f["Pending"] = rows, roleChoices, p.UserID, pending
	s.showForm(w, r, "members", "Workspace members", f, err)
}

// roleInfo says in words what a member role is for; the members page and
// the README's role table say the same.
type roleInfo struct {
	Role  access.Role
	Label string
	Does  string
}

// roleChoices are the member roles in the order the invite form offers
// them, clinician first: most people a practice invites are its doctors.
var roleChoices = []roleInfo{
	{access.RoleClinician, labels.Role("clinician"), "sees and works on the patients whose care team they are on: profiles, cases, imaging, rehab, consents; emergency access to others"},
	{access.RoleAdmin, labels.Role("admin"), "runs the workspace: members, invitations, name, security, who is on each care team; sees patients' names, not their records"},
	{access.RoleStaff, labels.Role("staff"), "registers patients with their details for the clinician who treats them and invites them to the portal; sees no cases, files, rehab or consents"},
	{access.RolePrivacyOfficer, labels.Role("privacy_officer"), "reads the audit log, reviews emergency access, records consents; sees profiles, not clinical content"},
}

// memberRow is one member on the members page, with a checkbox per role.
type memberRow struct {
	identity.Member
	Self    bool
	Choices []roleChoice
}

type roleChoice struct {
	roleInfo
	Held bool
}

// roleLabel is the word a person reads for a role.
func roleLabel(r access.Role) string { return labels.Role(string(r)) }

func (s *Server) membersPage(w http.ResponseWriter, r *http.Request) {
	s.members(w, r, newForm(r), nil)
}

func (s *Server) memberInvitePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	in := identity.InviteInput{Kind: identity.InviteMember, Email: r.PostFormValue("email"), Role: access.Role(r.PostFormValue("role"))}
	if _, err := s.identity.Invite(r.Context(), p, p.WorkspaceID, in, meta(r)); err != nil {
		f := newForm(r)
		f.set("email", in.Email)
		f.set("role", string(in.Role))
		s.members(w, r, f, err)
		return
	}
	http.Redirect(w, r, "/workspace/members?m=invited", http.StatusSeeOther)
}

func (s *Server) memberAction(w http.ResponseWriter, r *http.Request, done string, act func(p *access.Principal) error) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := act(p); err != nil {
		s.members(w, r, newForm(r), err)
		return
	}
	http.Redirect(w, r, "/workspace/members?m="+done, http.StatusSeeOther)
}

// memberRolePost saves the roles ticked for a member (one "role" field
// per ticked box).
func (s *Server) memberRolePost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "role", func(p *access.Principal) error {
		if err := r.ParseForm(); err != nil {
			return err
		}
		var roles []access.Role
		for _, v := range r.PostForm["role"] {
			roles = append(roles, access.Role(v))
		}
		return s.identity.SetRoles(r.Context(), p, p.WorkspaceID, r.PathValue("user"), roles, meta(r))
	})
}

func (s *Server) workspaceNamePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	if err := s.identity.RenameWorkspace(r.Context(), p, p.WorkspaceID, r.PostFormValue("name"), meta(r)); err != nil {
		f := newForm(r)
		f.set("name", r.PostFormValue("name"))
		s.members(w, r, f, err)
		return
	}
	http.Redirect(w, r, "/workspace/members?m=renamed", http.StatusSeeOther)
}

func (s *Server) invitationResendPost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "resent", func(p *access.Principal) error {
		return s.identity.ResendInvitation(r.Context(), p, p.WorkspaceID, r.PathValue("id"), meta(r))
	})
}

func (s *Server) invitationRevokePost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "revoked", func(p *access.Principal) error {
		return s.identity.RevokeInvitation(r.Context(), p, p.WorkspaceID, r.PathValue("id"), meta(r))
	})
}

func (s *Server) memberRemovePost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "removed", func(p *access.Principal) error {
		return s.identity.RemoveMember(r.Context(), p, p.WorkspaceID, r.PathValue("user"), meta(r))
	})
}

func (s *Server) memberUnlockPost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "unlocked", func(p *access.Principal) error {
		return s.identity.UnlockMember(r.Context(), p, p.WorkspaceID, r.PathValue("user"), meta(r))
	})
}

func (s *Server) mfaSettingPost(w http.ResponseWriter, r *http.Request) {
	s.memberAction(w, r, "mfa-setting", func(p *access.Principal) error {
		return s.identity.SetMFARequired(r.Context(), p, p.WorkspaceID, r.PostFormValue("required") == "on", meta(r))
	})
}

// patientInvitePage names the patient chosen on their page (?patient=id),
// a summary read the patient service audits; without one it asks the user
// to find the patient by name first, and shows no PHI.
func (s *Server) patientInvitePage(w http.ResponseWriter, r *http.Request) {
	f := newForm(r)
	id := strings.TrimSpace(r.URL.Query().Get("patient"))
	if id == "" || s.records == nil {
		releasesNoPHI(r)
		s.showForm(w, r, "invite_patient", "Invite a patient", f, nil)
		return
	}
	pt, err := s.records.Patients.GetSummary(r.Context(), principal(r), id)
	if err != nil {
		s.pageError(w, r, err)
		return
	}
	f.set("patient_id", id)
	f["PatientName"] = strings.TrimSpace(pt.Summary.GivenName + " " + pt.Summary.FamilyName)
	f["BirthDate"] = pt.Summary.BirthDate
	s.showForm(w, r, "invite_patient", "Invite "+f["PatientName"].(string), f, nil)
}

func (s *Server) patientInvitePost(w http.ResponseWriter, r *http.Request) {
	p, _ := access.PrincipalFrom(r.Context())
	in := identity.InviteInput{Kind: identity.InvitePatient, Email: r.PostFormValue("email"), Role: access.Role(r.PostFormValue("role")),
		PatientID: strings.TrimSpace(r.PostFormValue("patient_id"))}
	var ok bool
	if in.Receipt, ok = s.authorizePatientInvite(w, r, in.PatientID, s.pageError); !ok {
		return
	}
	if _, err := s.identity.Invite(r.Context(), p, p.WorkspaceID, in, meta(r)); err != nil {
		f := newForm(r)
		f.set("email", in.Email)
		f.set("role", string(in.Role))
		f.set("patient_id", in.PatientID)
		s.showForm(w, r, "invite_patient", "Invite a patient", f, err)
		return
	}
	s.message(w, r, "Invitation sent", flashes["invited"], map[string]string{"Invite another patient": "/workspace/patients/invite"})
}

// authorizePatientInvite asks the patient records whether the signed-in
// user may invite someone to the portal for patientID (decided and audited
// as patient.portal_invite) and returns the receipt identity requires. A
// refusal is answered with fail. Without records or without a patient id
// there is no receipt, and identity refuses the invitation with a field
// error.
func (s *Server) authorizePatientInvite(w http.ResponseWriter, r *http.Request, patientID string,
	fail func(http.ResponseWriter, *http.Request, error)) (audit.Receipt, bool) {
	if s.records == nil || patientID == "" {
		return audit.Receipt{}, true
	}
	rc, err := s.records.Patients.AuthorizePortalInvite(r.Context(), principal(r), patientID)
	if err != nil {
		fail(w, r, err)
		return audit.Receipt{}, false
	}
	return rc, true
}
