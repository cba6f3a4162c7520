package web

import (
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// csp allows only our own scripts, styles, fonts and images: no inline script.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; " +
	"connect-src 'self'; object-src 'none'; frame-ancestors 'none'; base-uri 'self'; form-action 'self'"

// bodyLimit caps every request body; forms re-render with field errors well below it.
const bodyLimit = "2M"

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg *prometheus.Registry) *metrics {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orgbase_http_requests_total", Help: "HTTP requests by route, method and status."}, []string{"route", "method", "status"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orgbase_http_request_duration_seconds", Help: "HTTP request latency by route.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
	}
	reg.MustRegister(m.requests, m.duration)
	return m
}

// requestLog logs one structured line per request with its id, and counts it.
func (s *Server) requestLog() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		LogStatus: true, LogURIPath: true, LogMethod: true, LogLatency: true, LogRequestID: true, LogError: true, LogRoutePath: true, HandleError: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			route := v.RoutePath
			if route == "" {
				route = "unmatched"
			}
			s.metrics.requests.WithLabelValues(route, v.Method, strconv.Itoa(v.Status)).Inc()
			s.metrics.duration.WithLabelValues(route, v.Method).Observe(v.Latency.Seconds())
			if strings.HasPrefix(v.URIPath, "/static/") {
				return nil
			}
			level := slog.LevelInfo
			if v.Status >= 500 {
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("request_id", v.RequestID), slog.String("method", v.Method),
				slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("latency", v.Latency))
			return nil
		},
	})
}

// secureHeaders sets the security headers on every response.
func (s *Server) secureHeaders() echo.MiddlewareFunc {
	cfg := middleware.SecureConfig{
		XSSProtection: "0", ContentTypeNosniff: "nosniff", XFrameOptions: "DENY",
		ContentSecurityPolicy: csp, ReferrerPolicy: "same-origin",
	}
	if s.cfg.SecureCookies() {
		cfg.HSTSMaxAge = 31536000
	}
	return middleware.SecureWithConfig(cfg)
}

// crossSiteGuard refuses state-changing requests a browser marks as coming
// from another site, then hides Sec-Fetch-Site so Echo's CSRF middleware
// always checks the token as well (it would otherwise skip the token for
// same-origin requests).
func crossSiteGuard(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Method {
		case http.MethodGet, http.MethodHead, http.MethodOptions:
		default:
			if site := r.Header.Get("Sec-Fetch-Site"); site == "cross-site" {
				return orgbase.Errorf(orgbase.EFORBIDDEN, "This request came from another site and was refused.")
			}
		}
		r.Header.Del("Sec-Fetch-Site")
		return next(c)
	}
}

// csrf checks the token of every state-changing request (form field _csrf or
// header X-CSRF-Token, which app.js adds to htmx requests).
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "header:X-CSRF-Token,form:_csrf",
		CookieName:     "orgbase_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.SecureCookies(),
		CookieSameSite: http.SameSiteLaxMode,
		CookieMaxAge:   int((24 * time.Hour).Seconds()),
		ErrorHandler: func(err error, c echo.Context) error {
			return orgbase.Errorf(orgbase.EFORBIDDEN, "Your form expired or came from somewhere else. Reload the page and try again.")
		},
	})
}

// loadSession attaches the session and, when signed in, the user to the
// request. A session past its absolute lifetime is ended here.
func (s *Server) loadSession(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		sess, err := s.sessions.Get(r, sessionCookie)
		if err != nil {
			return err
		}
		c.Set("session", sess)
		// Who acts and from where, for the audit entries the store writes.
		meta := orgbase.AuditMeta{IP: clientIP(r), UserAgent: truncate(r.UserAgent(), 300)}
		c.SetRequest(r.WithContext(orgbase.WithAuditMeta(r.Context(), meta)))
		uid, _ := sess.Values[keyUserID].(int64)
		if uid == 0 {
			return next(c)
		}
		created, _ := sess.Values[keyCreated].(int64)
		if s.now().Sub(time.Unix(created, 0)) > s.cfg.SessionMax {
			if err := s.endSession(c); err != nil {
				return err
			}
			return next(c)
		}
		user, err := s.users.FindUserByID(r.Context(), uid)
		if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
			return next(c)
		} else if err != nil {
			return err
		}
		if err := s.sessions.touch(r.Context(), sess); err != nil {
			return err
		}
		c.Set("user", user)
		meta.ActorID = user.ID
		c.SetRequest(c.Request().WithContext(orgbase.WithAuditMeta(r.Context(), meta)))
		return next(c)
	}
}

// currentUser returns the signed-in user, or nil.
func currentUser(c echo.Context) *orgbase.User {
	u, _ := c.Get("user").(*orgbase.User)
	return u
}

// requireUser sends visitors who are not signed in to the login page,
// remembering where they were going.
func (s *Server) requireUser(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return next(c)
		}
		target := "/login"
		if c.Request().Method == http.MethodGet {
			target += "?next=" + url.QueryEscape(c.Request().URL.RequestURI())
		}
		return s.redirect(c, target)
	}
}

// redirectSignedIn sends signed-in users away from the sign-in pages.
func (s *Server) redirectSignedIn(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		if currentUser(c) != nil {
			return s.redirect(c, safeNext(c.QueryParam("next"), "/"))
		}
		return next(c)
	}
}

// scope is the organization a request works in, resolved once per request.
type scope struct {
	Org        *orgbase.Org
	Membership *orgbase.Membership
	Access     orgbase.Access // membership and workspace grants, for the policy
}

func (sc *scope) actor() orgbase.Actor {
	return orgbase.Actor{UserID: sc.Membership.UserID, Membership: sc.Membership}
}

// orgScope loads the organization from the URL and the caller's membership.
// Non-members get 404, so an organization's existence never leaks. While an
// organization is in its deletion grace period only its deleted page and
// the restore action answer.
func (s *Server) orgScope(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		user := currentUser(c)
		org, m, err := s.orgs.FindOrgForMember(c.Request().Context(), c.Param("org"), user.ID)
		if err != nil {
			return err
		}
		sc := &scope{Org: org, Membership: m, Access: orgbase.Access{Membership: m}}
		if !sc.Access.SeesAll() {
			// Grants carry their workspace's current path, so a move changes
			// inherited access on the very next request.
			if sc.Access.Grants, err = s.workspaces.FindGrantsForUser(c.Request().Context(), org.ID, user.ID); err != nil {
				return err
			}
		}
		c.Set("scope", sc)
		if org.Deleted() {
			switch c.Path() {
			case "/orgs/:org/restore":
				return next(c)
			case "/orgs/:org":
				return s.handleOrgDeletedShow(c)
			}
			return s.redirect(c, "/orgs/"+org.Slug)
		}
		if c.Request().Method == http.MethodGet {
			sess := session(c)
			if last, _ := sess.Values[keyLastOrg].(string); last != org.Slug {
				sess.Values[keyLastOrg] = org.Slug
				if err := s.saveSession(c); err != nil {
					return err
				}
			}
		}
		return next(c)
	}
}

// orgOf returns the request's organization scope.
func orgOf(c echo.Context) *scope {
	sc, _ := c.Get("scope").(*scope)
	return sc
}

// requireCan answers 403 unless the policy allows the action to the caller.
func requireCan(action orgbase.Action) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if !orgbase.Can(orgOf(c).actor(), action) {
				return orgbase.Errorf(orgbase.EFORBIDDEN, "Your role in this organization does not allow this.")
			}
			return next(c)
		}
	}
}

// safeNext returns next when it is a path on this site, else def. It refuses
// absolute and scheme-relative URLs so it cannot become an open redirect,
// backslashes and control characters (browsers drop tabs and line breaks,
// so "/\t/evil" would be "//evil"; a NUL byte breaks the Location header),
// and text that is not UTF-8.
func safeNext(next, def string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") || strings.ContainsRune(next, '\\') ||
		!orgbase.Printable(next) || strings.HasPrefix(next, "/logout") {
		return def
	}
	return next
}
