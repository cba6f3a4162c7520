package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/auth"
	"github.com/orgbase/orgbase/views/invites"
	"github.com/orgbase/orgbase/views/layout"
)

// invitation resolves the link's token, answering the "no longer valid"
// page for unknown, used, revoked, declined and expired links.
func (s *Server) invitation(c echo.Context) (*store.InvitationView, error) {
	return s.invitationByToken(c, c.Param("token"))
}

func (s *Server) invitationByToken(c echo.Context, token string) (*store.InvitationView, error) {
	if len(token) > 100 {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation link is not valid.")
	}
	v, err := s.members.FindInvitationByToken(c.Request().Context(), hashSecret(token))
	if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation link is not valid any more. It may have been replaced by a newer email, or mistyped.")
	} else if err != nil {
		return nil, err
	}
	switch v.Invitation.Status(s.now()) {
	case orgbase.InviteAccepted:
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation has already been accepted.")
	case orgbase.InviteRevoked:
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation was withdrawn by %s.", v.Org.Name)
	case orgbase.InviteDeclined:
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation was declined.")
	case orgbase.InviteExpired:
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This invitation has expired. Ask the person who invited you to send a new one.")
	}
	return v, nil
}

func (s *Server) invitationClosedPage(c echo.Context, err error) error {
	if orgbase.ErrorCode(err) != orgbase.EEXPIRED {
		return err
	}
	m := auth.MessagePage{Title: "Invitation not valid", Body: orgbase.ErrorMessage(err), Kind: "error", LinkHref: "/", LinkLabel: "Go to Orgbase"}
	return s.renderPage(c, http.StatusGone, "Invitation not valid", "", func(sh layout.Shell) templ.Component { return auth.Message(sh, m) })
}

func (s *Server) inviteModel(c echo.Context, v *store.InvitationView) invites.Model {
	m := invites.Model{Token: c.Param("token"), Inv: v.Invitation, Org: v.Org}
	if v.Org.LogoType != "" {
		m.LogoURL = "/invites/" + url.PathEscape(m.Token) + "/logo"
	}
	switch u := currentUser(c); {
	case u == nil:
		m.Case = invites.LoggedOut
	case u.Email == v.Invitation.Email:
		m.Case = invites.SameUser
	default:
		m.Case = invites.OtherUser
	}
	return m
}

// handleInviteShow is the page behind an invitation link, for each of the
// three cases: logged out, logged in as the invited address, or as another.
func (s *Server) handleInviteShow(c echo.Context) error {
	v, err := s.invitation(c)
	if err != nil {
		return s.invitationClosedPage(c, err)
	}
	m := s.inviteModel(c, v)
	return s.renderPage(c, http.StatusOK, "Invitation to "+v.Org.Name, "", func(sh layout.Shell) templ.Component { return invites.Page(sh, m) })
}

// handleInviteLogo serves the inviting organization's logo to the holder of
// a valid link (emails show it; the organization's own logo URL needs membership).
func (s *Server) handleInviteLogo(c echo.Context) error {
	v, err := s.invitation(c)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Not found.")
	}
	typ, data, err := s.orgs.FindOrgLogo(c.Request().Context(), v.Org.ID)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "private, max-age=3600")
	c.Response().Header().Set("Content-Security-Policy", "default-src 'none'")
	return c.Blob(http.StatusOK, typ, data)
}

// acceptAndLand accepts for the signed-in user and sends them to their first
// workspace (or the organization's Overview).
func (s *Server) acceptAndLand(c echo.Context, user *orgbase.User, token string) error {
	slug, wsID, err := s.members.AcceptInvitation(c.Request().Context(), hashSecret(token), user)
	if err != nil {
		return err
	}
	user.EmailVerifiedAt = ptrNow(s)
	if err := s.flash(c, "success", "Welcome! You joined the organization."); err != nil {
		return err
	}
	if wsID != 0 {
		return s.redirect(c, "/orgs/"+slug+"/workspaces/"+strconv.FormatInt(wsID, 10))
	}
	return s.redirect(c, "/orgs/"+slug)
}

func ptrNow(s *Server) *time.Time {
	t := s.now()
	return &t
}

func (s *Server) handleInviteAccept(c echo.Context) error {
	v, err := s.invitation(c)
	if err != nil {
		return s.invitationClosedPage(c, err)
	}
	err = s.acceptAndLand(c, currentUser(c), c.Param("token"))
	switch orgbase.ErrorCode(err) {
	case "":
		return nil
	case orgbase.EEXPIRED:
		return s.invitationClosedPage(c, err)
	case orgbase.EFORBIDDEN:
		m := s.inviteModel(c, v)
		m.Error = orgbase.ErrorMessage(err)
		return s.renderPage(c, http.StatusForbidden, "Invitation to "+v.Org.Name, "", func(sh layout.Shell) templ.Component { return invites.Page(sh, m) })
	}
	return err
}

func (s *Server) handleInviteDecline(c echo.Context) error {
	v, err := s.invitation(c)
	if err != nil {
		return s.invitationClosedPage(c, err)
	}
	err = s.members.DeclineInvitation(c.Request().Context(), hashSecret(c.Param("token")), currentUser(c))
	switch orgbase.ErrorCode(err) {
	case "":
		m := auth.MessagePage{Title: "Invitation declined", Body: "You declined the invitation to " + v.Org.Name + ". Nothing changed for your account.", Kind: "info", LinkHref: "/", LinkLabel: "Continue"}
		return s.renderPage(c, http.StatusOK, "Invitation declined", "", func(sh layout.Shell) templ.Component { return auth.Message(sh, m) })
	case orgbase.EEXPIRED:
		return s.invitationClosedPage(c, err)
	}
	return err
}
