package web

import (
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/devmail"
	"github.com/orgbase/orgbase/views/layout"
)

// handleDevMailIndex lists the outbox (development only; the route does not
// exist in production or when SMTP is configured).
func (s *Server) handleDevMailIndex(c echo.Context) error {
	return s.showDevMail(c, nil)
}

func (s *Server) handleDevMailShow(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Email not found.")
	}
	m, err := s.mailbox.FindEmailByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	return s.showDevMail(c, m)
}

// handleDevMailHTML serves an email's HTML part on its own, for the
// mailbox's sandboxed iframe: emails carry inline styles, which the app's
// CSP forbids, so they get a CSP of their own that allows styles and nothing else.
func (s *Server) handleDevMailHTML(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Email not found.")
	}
	m, err := s.mailbox.FindEmailByID(c.Request().Context(), id)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'; base-uri 'none'")
	h.Set("X-Frame-Options", "SAMEORIGIN")
	// Links open in the top window (the mailbox), not inside the frame.
	return c.HTML(http.StatusOK, `<base target="_top">`+m.HTML)
}

func (s *Server) showDevMail(c echo.Context, open *orgbase.Email) error {
	mails, err := s.mailbox.FindEmails(c.Request().Context(), "", 100)
	if err != nil {
		return err
	}
	if open == nil && len(mails) > 0 {
		open = mails[0]
	}
	return s.renderPage(c, http.StatusOK, "Dev mailbox", "", func(sh layout.Shell) templ.Component { return devmail.Mailbox(sh, mails, open) })
}

// handleHealthz answers while the process runs.
func (s *Server) handleHealthz(c echo.Context) error {
	return c.String(http.StatusOK, "ok\n")
}

// handleReadyz answers 200 when the database is reachable and migrated.
func (s *Server) handleReadyz(c echo.Context) error {
	if err := s.health.Ready(c.Request().Context()); err != nil {
		return c.String(http.StatusServiceUnavailable, "not ready: "+err.Error()+"\n")
	}
	return c.String(http.StatusOK, "ready\n")
}
