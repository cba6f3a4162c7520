package web

import (
	"errors"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/errorpage"
	"github.com/orgbase/orgbase/views/layout"
)

// statusOf maps domain error codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case orgbase.EINVALID:
		return http.StatusUnprocessableEntity
	case orgbase.ENOTFOUND:
		return http.StatusNotFound
	case orgbase.EFORBIDDEN:
		return http.StatusForbidden
	case orgbase.EUNAUTHORIZED:
		return http.StatusUnauthorized
	case orgbase.ECONFLICT:
		return http.StatusConflict
	case orgbase.ERATELIMIT:
		return http.StatusTooManyRequests
	case orgbase.EEXPIRED:
		return http.StatusGone
	}
	return http.StatusInternalServerError
}

var statusTitles = map[int]string{
	http.StatusBadRequest:            "Bad request",
	http.StatusUnauthorized:          "Please log in",
	http.StatusForbidden:             "Not allowed",
	http.StatusNotFound:              "Page not found",
	http.StatusMethodNotAllowed:      "Not allowed",
	http.StatusConflict:              "That did not work",
	http.StatusGone:                  "Link no longer valid",
	http.StatusRequestEntityTooLarge: "Too large",
	http.StatusUnprocessableEntity:   "Please check your input",
	http.StatusTooManyRequests:       "Slow down",
	http.StatusInternalServerError:   "Something went wrong",
	http.StatusServiceUnavailable:    "Unavailable",
}

// handleError is Echo's one error handler: it maps the error to a status,
// logs internal errors with the request id, and renders an error page (or,
// for htmx, an error toast). Users never read a driver error or a trace.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	if isAPIPath(c) {
		_ = writeAPIError(c, s.apiErrorFromHTTP(err, c))
		return
	}
	status := http.StatusInternalServerError
	msg := orgbase.ErrorMessage(err)
	var he *echo.HTTPError
	var de *orgbase.Error
	switch {
	case errors.As(err, &de):
		status = statusOf(de.Code)
	case errors.As(err, &he):
		status = he.Code
		switch status {
		case http.StatusNotFound:
			msg = "There is nothing at this address. Check the link, or go back home."
		case http.StatusRequestEntityTooLarge:
			msg = "What you sent is larger than we accept. Try a smaller file or shorter text."
		case http.StatusMethodNotAllowed:
			msg = "This page does not accept that kind of request."
		default:
			msg = http.StatusText(status)
		}
	}
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.log.ErrorContext(c.Request().Context(), "internal error", slog.String("request_id", rid), slog.String("error", err.Error()))
	}
	title := statusTitles[status]
	if title == "" {
		title = http.StatusText(status)
	}
	m := errorpage.Model{Status: status, Title: title, Message: msg}
	if status >= 500 {
		m.RequestID = rid
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	if c.Request().Header.Get("HX-Request") == "true" {
		c.Response().Header().Set("HX-Reswap", "none")
		_ = render(c, status, errorpage.Toast(m), nil)
		return
	}
	if currentUser(c) != nil && status < 500 {
		// Signed in: keep the app frame (header, switcher, navigation).
		if sh, err := s.shell(c, title, ""); err == nil {
			if rerr := render(c, status, errorpage.AppPage(sh, m), nil); rerr == nil {
				return
			}
		}
	}
	sh := layout.Shell{Title: title, CSRF: csrfToken(c), User: currentUser(c)}
	if rerr := render(c, status, errorpage.Page(sh, m), nil); rerr != nil {
		_ = c.String(status, title)
	}
}
