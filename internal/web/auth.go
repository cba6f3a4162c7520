package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/auth"
	"github.com/orgbase/orgbase/views/home"
	"github.com/orgbase/orgbase/views/layout"
)

// Token lifetimes and rate limits (SPEC §1).
const (
	verifyTTL        = 24 * time.Hour
	resetTTL         = 30 * time.Minute
	loginWindow      = 15 * time.Minute
	loginMaxPerAcct  = 10
	loginMaxPerIP    = 50
	resetWindow      = time.Hour
	resetMaxPerAcct  = 3
	resetMaxPerIP    = 20
	verifyMaxPerUser = 5
)

const genericLoginError = "That email and password do not match an account."

// handleHome shows the product page, or sends a signed-in user to their
// last organization (or to create one).
func (s *Server) handleHome(c echo.Context) error {
	u := currentUser(c)
	if u == nil {
		return s.renderPage(c, http.StatusOK, "", "", func(sh layout.Shell) templ.Component { return home.Landing(sh) })
	}
	orgs, err := s.orgs.FindOrgsForUser(c.Request().Context(), u.ID)
	if err != nil {
		return err
	}
	last, _ := session(c).Values[keyLastOrg].(string)
	first := ""
	for _, o := range orgs {
		if o.Deleted() {
			continue
		}
		if last != "" && o.Slug == last {
			return s.redirect(c, "/orgs/"+o.Slug)
		}
		if first == "" {
			first = o.Slug
		}
	}
	if first != "" {
		return s.redirect(c, "/orgs/"+first)
	}
	if len(orgs) > 0 {
		return s.redirect(c, "/orgs")
	}
	return s.redirect(c, "/orgs/new")
}

func (s *Server) handleSignupNew(c echo.Context) error {
	f := auth.SignupForm{Next: safeNext(c.QueryParam("next"), "")}
	if token := c.QueryParam("invite"); token != "" {
		v, err := s.invitationByToken(c, token)
		if err != nil {
			return s.invitationClosedPage(c, err)
		}
		f.Invite, f.Email, f.OrgName = token, v.Invitation.Email, v.Org.Name
	}
	return s.renderPage(c, http.StatusOK, "Sign up", "", func(sh layout.Shell) templ.Component { return auth.Signup(sh, f) })
}

func (s *Server) handleSignupCreate(c echo.Context) error {
	f := auth.SignupForm{Name: c.FormValue("name"), Email: c.FormValue("email"), Next: safeNext(c.FormValue("next"), ""), Invite: c.FormValue("invite")}
	if f.Invite != "" {
		// Signing up through an invitation: the address is the invited one,
		// whatever the form says.
		inv, err := s.invitationByToken(c, f.Invite)
		if err != nil {
			return s.invitationClosedPage(c, err)
		}
		f.Email, f.OrgName = inv.Invitation.Email, inv.Org.Name
	}
	var v orgbase.Validator
	name, err := orgbase.CleanText(f.Name, "Name", orgbase.MaxNameLen, true)
	v.Add("name", err)
	email, err := orgbase.NormalizeEmail(f.Email)
	v.Add("email", err)
	password := c.FormValue("password")
	v.Add("password", orgbase.CheckPassword(password, email, name))
	if !v.Valid() {
		f.Fields = v.Fields
		f.Name, f.Email = sanitizeEcho(f.Name), sanitizeEcho(f.Email)
		return s.renderPage(c, http.StatusUnprocessableEntity, "Sign up", "", func(sh layout.Shell) templ.Component { return auth.Signup(sh, f) })
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	token, tokenHash := newToken()
	link := s.cfg.URL("/verify/" + token)
	msg, err := s.composer.Verify(&orgbase.User{Email: email, Name: name}, link)
	if err != nil {
		return err
	}
	if f.Invite != "" {
		msg = nil // the invitation link proves the address: no verification email
	}
	user, err := s.users.CreateUser(c.Request().Context(), email, name, hash, store.NewToken{Hash: tokenHash, ExpiresAt: s.now().Add(verifyTTL), Email: msg})
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		f.Fields = map[string]string{"email": "An account with this email already exists. Log in instead, or reset your password."}
		f.Name, f.Email = name, email
		return s.renderPage(c, http.StatusUnprocessableEntity, "Sign up", "", func(sh layout.Shell) templ.Component { return auth.Signup(sh, f) })
	} else if err != nil {
		return err
	}
	if err := s.startSession(c, user.ID); err != nil {
		return err
	}
	if f.Invite != "" {
		// The invitation link proves the address: no verification email needed.
		err := s.acceptAndLand(c, user, f.Invite)
		if orgbase.ErrorCode(err) == orgbase.EEXPIRED {
			return s.invitationClosedPage(c, err)
		}
		return err
	}
	s.logDevMail(c, msg.To, msg.Subject, link)
	if err := s.flash(c, "success", "Welcome to Orgbase! We sent a verification link to "+user.Email+"."); err != nil {
		return err
	}
	return s.redirect(c, safeNext(f.Next, "/orgs/new"))
}

// sanitizeEcho makes a rejected input safe to show back: valid UTF-8 and not
// absurdly long (the field error already says what was wrong).
func sanitizeEcho(v string) string {
	v = strings.ToValidUTF8(v, "\uFFFD")
	if len(v) > 1024 {
		v = strings.ToValidUTF8(v[:1024], "")
	}
	return v
}

// logDevMail prints the link of a queued email when no SMTP server is set,
// so a developer can follow it from the terminal.
func (s *Server) logDevMail(c echo.Context, to, subject, link string) {
	if s.cfg.DevMailbox() {
		s.log.InfoContext(c.Request().Context(), "dev mail queued (see /dev/mail)", slog.String("to", to), slog.String("subject", subject), slog.String("link", link))
	}
}

func (s *Server) handleLoginNew(c echo.Context) error {
	f := auth.LoginForm{Next: safeNext(c.QueryParam("next"), "")}
	if e, err := orgbase.NormalizeEmail(c.QueryParam("email")); err == nil {
		f.Email = e // from an invitation's "log in" button
	}
	if strings.HasPrefix(f.Next, "/invites/") {
		f.Notice = "Log in to accept your invitation."
	}
	switch c.QueryParam("notice") {
	case "logged_out":
		f.Notice = "You have been logged out."
	case "password_reset":
		f.Notice = "Your password has been changed. Log in with the new one."
	}
	return s.renderPage(c, http.StatusOK, "Log in", "", func(sh layout.Shell) templ.Component { return auth.Login(sh, f) })
}

// handleLoginCreate signs a person in. Failures say the same thing whether
// or not the address has an account, cost the same time, and are counted
// per account and per IP.
func (s *Server) handleLoginCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := auth.LoginForm{Email: sanitizeEcho(c.FormValue("email")), Next: safeNext(c.FormValue("next"), "")}
	password := c.FormValue("password")
	fail := func(status int, msg string) error {
		f.Error = msg
		return s.renderPage(c, status, "Log in", "", func(sh layout.Shell) templ.Component { return auth.Login(sh, f) })
	}
	email, err := orgbase.NormalizeEmail(f.Email)
	if err != nil || password == "" || len(password) > 4*orgbase.MaxPasswordLen {
		return fail(http.StatusUnprocessableEntity, "Enter your email and password.")
	}
	acctKey, ipKey := "login:acct:"+email, "login:ip:"+clientIP(c.Request())
	counts, err := s.users.CountAttempts(ctx, s.now().Add(-loginWindow), acctKey, ipKey)
	if err != nil {
		return err
	}
	if counts[acctKey] >= loginMaxPerAcct || counts[ipKey] >= loginMaxPerIP {
		return fail(http.StatusTooManyRequests, "Too many failed attempts. Wait 15 minutes, or reset your password.")
	}
	user, hash, err := s.users.FindUserByEmail(ctx, email)
	if err != nil && orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
		return err
	}
	if user == nil {
		hash = s.dummyHash()
	}
	if !checkPassword(password, hash) || user == nil {
		if err := s.users.RecordAttempts(ctx, acctKey, ipKey); err != nil {
			return err
		}
		return fail(http.StatusUnprocessableEntity, genericLoginError)
	}
	if err := s.users.ClearAttempts(ctx, acctKey); err != nil {
		return err
	}
	if err := s.startSession(c, user.ID); err != nil {
		return err
	}
	return s.redirect(c, safeNext(f.Next, "/"))
}

func (s *Server) handleLogout(c echo.Context) error {
	if err := s.endSession(c); err != nil {
		return err
	}
	if next := safeNext(c.FormValue("next"), ""); next != "" {
		// "Log out and continue" from an invitation for another address.
		return s.redirect(c, "/login?notice=logged_out&next="+url.QueryEscape(next))
	}
	return s.redirect(c, "/login?notice=logged_out")
}

func (s *Server) handleForgotNew(c echo.Context) error {
	return s.renderPage(c, http.StatusOK, "Reset password", "", func(sh layout.Shell) templ.Component { return auth.Forgot(sh, auth.ForgotForm{}) })
}

// handleForgotCreate sends a reset link when the address has an account; the
// answer is the same either way.
func (s *Server) handleForgotCreate(c echo.Context) error {
	ctx := c.Request().Context()
	f := auth.ForgotForm{Email: sanitizeEcho(c.FormValue("email"))}
	email, err := orgbase.NormalizeEmail(f.Email)
	if err != nil {
		f.Fields = map[string]string{"email": orgbase.ErrorMessage(err)}
		return s.renderPage(c, http.StatusUnprocessableEntity, "Reset password", "", func(sh layout.Shell) templ.Component { return auth.Forgot(sh, f) })
	}
	acctKey, ipKey := "reset:acct:"+email, "reset:ip:"+clientIP(c.Request())
	counts, err := s.users.CountAttempts(ctx, s.now().Add(-resetWindow), acctKey, ipKey)
	if err != nil {
		return err
	}
	if counts[acctKey] >= resetMaxPerAcct || counts[ipKey] >= resetMaxPerIP {
		return orgbase.Errorf(orgbase.ERATELIMIT, "Too many reset requests. Wait an hour before asking again.")
	}
	if err := s.users.RecordAttempts(ctx, acctKey, ipKey); err != nil {
		return err
	}
	user, _, err := s.users.FindUserByEmail(ctx, email)
	if err == nil {
		token, hash := newToken()
		link := s.cfg.URL("/reset/" + token)
		msg, err := s.composer.Reset(user, link)
		if err != nil {
			return err
		}
		if err := s.users.CreatePasswordReset(ctx, user, store.NewToken{Hash: hash, ExpiresAt: s.now().Add(resetTTL), Email: msg}); err != nil {
			return err
		}
		s.logDevMail(c, msg.To, msg.Subject, link)
	} else if orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
		return err
	}
	f.Email, f.Sent = email, true
	return s.renderPage(c, http.StatusOK, "Check your email", "", func(sh layout.Shell) templ.Component { return auth.Forgot(sh, f) })
}

func (s *Server) linkInvalid(c echo.Context, err error, title string) error {
	if orgbase.ErrorCode(err) != orgbase.EEXPIRED {
		return err
	}
	m := auth.MessagePage{Title: title, Body: orgbase.ErrorMessage(err), Kind: "error", LinkHref: "/", LinkLabel: "Go to Orgbase"}
	return s.renderPage(c, http.StatusGone, title, "", func(sh layout.Shell) templ.Component { return auth.Message(sh, m) })
}

func (s *Server) handleResetShow(c echo.Context) error {
	token := c.Param("token")
	if err := s.users.CheckPasswordReset(c.Request().Context(), hashSecret(token)); err != nil {
		return s.linkInvalid(c, err, "Reset link not valid")
	}
	return s.renderPage(c, http.StatusOK, "Choose a new password", "", func(sh layout.Shell) templ.Component {
		return auth.Reset(sh, auth.ResetForm{Token: token})
	})
}

// handleResetUpdate sets the new password and signs the person out everywhere.
func (s *Server) handleResetUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	token := c.Param("token")
	if err := s.users.CheckPasswordReset(ctx, hashSecret(token)); err != nil {
		return s.linkInvalid(c, err, "Reset link not valid")
	}
	password := c.FormValue("password")
	if err := orgbase.CheckPassword(password); err != nil {
		f := auth.ResetForm{Token: token, Fields: map[string]string{"password": orgbase.ErrorMessage(err)}}
		return s.renderPage(c, http.StatusUnprocessableEntity, "Choose a new password", "", func(sh layout.Shell) templ.Component { return auth.Reset(sh, f) })
	}
	hash, err := hashPassword(password)
	if err != nil {
		return err
	}
	if _, err := s.users.ResetPassword(ctx, hashSecret(token), hash); err != nil {
		return s.linkInvalid(c, err, "Reset link not valid")
	}
	if currentUser(c) != nil {
		if err := s.endSession(c); err != nil {
			return err
		}
	}
	return s.redirect(c, "/login?notice=password_reset")
}

// handleVerifyShow asks for a click before using the token, so link scanners
// that fetch every URL in an email do not consume it.
func (s *Server) handleVerifyShow(c echo.Context) error {
	token := c.Param("token")
	m := auth.MessagePage{Title: "Verify your email", Body: "Confirm that this is your email address.", Kind: "info"}
	return s.renderPage(c, http.StatusOK, "Verify your email", "", func(sh layout.Shell) templ.Component { return auth.Verify(sh, m, token) })
}

func (s *Server) handleVerifyCreate(c echo.Context) error {
	user, err := s.users.VerifyEmail(c.Request().Context(), hashSecret(c.Param("token")))
	if err != nil {
		return s.linkInvalid(c, err, "Verification link not valid")
	}
	m := auth.MessagePage{Title: "Email verified", Body: user.Email + " is verified. Thank you!", Kind: "success", LinkHref: "/", LinkLabel: "Continue"}
	if currentUser(c) == nil {
		m.LinkHref, m.LinkLabel = "/login", "Log in"
	}
	return s.renderPage(c, http.StatusOK, "Email verified", "", func(sh layout.Shell) templ.Component { return auth.Message(sh, m) })
}

// handleVerifyResend sends a fresh verification link (older ones stop working).
func (s *Server) handleVerifyResend(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	if u.Verified() {
		if err := s.flash(c, "info", "Your email address is already verified."); err != nil {
			return err
		}
		return s.redirect(c, "/account")
	}
	key := "verify:user:" + u.Email
	counts, err := s.users.CountAttempts(ctx, s.now().Add(-time.Hour), key)
	if err != nil {
		return err
	}
	if counts[key] >= verifyMaxPerUser {
		return orgbase.Errorf(orgbase.ERATELIMIT, "We have sent several links in the last hour. Check your spam folder, or try again later.")
	}
	if err := s.users.RecordAttempts(ctx, key); err != nil {
		return err
	}
	token, hash := newToken()
	link := s.cfg.URL("/verify/" + token)
	msg, err := s.composer.Verify(u, link)
	if err != nil {
		return err
	}
	if err := s.users.CreateVerification(ctx, u, store.NewToken{Hash: hash, ExpiresAt: s.now().Add(verifyTTL), Email: msg}); err != nil {
		return err
	}
	s.logDevMail(c, msg.To, msg.Subject, link)
	if err := s.flash(c, "success", "We sent a new verification link to "+u.Email+"."); err != nil {
		return err
	}
	return s.redirect(c, refererPath(c, "/account"))
}

// refererPath returns the path of the Referer header when it is this site,
// else def: a way back to the page a form was posted from.
func refererPath(c echo.Context, def string) string {
	u, err := url.Parse(c.Request().Referer())
	if err != nil || u.Host != c.Request().Host {
		return def
	}
	return safeNext(u.RequestURI(), def)
}
