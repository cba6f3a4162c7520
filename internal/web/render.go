package web

import (
	"bytes"
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
)

// isHTMX reports whether htmx sent the request (and it is not a boosted
// navigation, which wants the whole page).
func isHTMX(c echo.Context) bool {
	h := c.Request().Header
	return h.Get("HX-Request") == "true" && h.Get("HX-Boosted") != "true"
}

// render writes the full page, or only the partial when htmx asked and a
// partial exists. It renders into a buffer first, so a template failure
// becomes a clean 500 instead of half a page.
func render(c echo.Context, status int, page, partial templ.Component) error {
	comp := page
	if partial != nil && isHTMX(c) {
		comp = partial
	}
	var buf bytes.Buffer
	if err := comp.Render(c.Request().Context(), &buf); err != nil {
		return err
	}
	c.Response().Header().Add("Vary", "HX-Request")
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.HTMLBlob(status, buf.Bytes())
}

// redirect navigates after a mutation: 303 for plain requests, HX-Redirect
// for htmx ones (which would otherwise follow the redirect in place).
func (s *Server) redirect(c echo.Context, to string) error {
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Redirect", to)
		return c.NoContent(http.StatusNoContent)
	}
	return c.Redirect(http.StatusSeeOther, to)
}

// csrfToken is the request's CSRF token for forms.
func csrfToken(c echo.Context) string {
	t, _ := c.Get("csrf").(string)
	return t
}

// shell builds the frame of a page: user, organizations for the switcher,
// current org, CSRF token and the pending flash (which it consumes).
func (s *Server) shell(c echo.Context, title, tab string) (layout.Shell, error) {
	sh := layout.Shell{Title: title, Tab: tab, CSRF: csrfToken(c), DevMailbox: s.cfg.DevMailbox()}
	ctx := c.Request().Context()
	if u := currentUser(c); u != nil {
		sh.User = u
		orgs, err := s.orgs.FindOrgsForUser(ctx, u.ID)
		if err != nil {
			return sh, err
		}
		sh.Orgs = orgs
	}
	if sc := orgOf(c); sc != nil {
		sh.Org, sh.Membership = sc.Org, sc.Membership
		if !sc.Org.Deleted() {
			links, err := s.workspaceLinks(c)
			if err != nil {
				return sh, err
			}
			sh.Workspaces = links
			sh.Workspace, _ = strconv.ParseInt(c.Param("ws"), 10, 64)
		}
	}
	if sess := session(c); sess != nil {
		if msg, _ := sess.Values[keyFlashMsg].(string); msg != "" {
			kind, _ := sess.Values[keyFlashKind].(string)
			sh.Flashes = append(sh.Flashes, components.Flash{Kind: kind, Message: msg})
			delete(sess.Values, keyFlashMsg)
			delete(sess.Values, keyFlashKind)
			if err := s.saveSession(c); err != nil {
				return sh, err
			}
		}
	}
	return sh, nil
}

// renderPage builds the shell and renders page(shell) with status.
func (s *Server) renderPage(c echo.Context, status int, title, tab string, page func(layout.Shell) templ.Component) error {
	sh, err := s.shell(c, title, tab)
	if err != nil {
		return err
	}
	return render(c, status, page(sh), nil)
}

// fieldsOf returns the field errors of a validation error (never nil).
func fieldsOf(err error) map[string]string {
	if f := orgbase.ErrorFields(err); f != nil {
		return f
	}
	return map[string]string{}
}

func flashOf(kind, msg string) components.Flash { return components.Flash{Kind: kind, Message: msg} }

// withToasts appends an out-of-band toast region to an htmx partial.
func withToasts(part templ.Component, flashes []components.Flash) templ.Component {
	return templ.Join(part, components.Toasts(flashes, true))
}

// flashRedirect answers a plain (non-htmx) form post: the outcome as a flash
// (the error when there is one) and a redirect to the page it came from.
func (s *Server) flashRedirect(c echo.Context, msg, errMsg, to string) error {
	kind, text := "success", msg
	if errMsg != "" {
		kind, text = "error", errMsg
	}
	if err := s.flash(c, kind, text); err != nil {
		return err
	}
	return s.redirect(c, to)
}
