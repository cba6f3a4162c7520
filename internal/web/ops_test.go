package web_test

import (
	"net/http"
	"strings"
	"testing"
)

func TestOperations(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		c := e.client(t)
		t.Run("HealthzIs200", func(t *testing.T) {
			c := c.in(t)
			r := c.get("/healthz")
			r.wantStatus(http.StatusOK)
			if strings.TrimSpace(r.body) != "ok" {
				t.Errorf("body: got %q, want ok", r.body)
			}
		})
		t.Run("ReadyzIs200", func(t *testing.T) {
			c := c.in(t)
			r := c.get("/readyz")
			r.wantStatus(http.StatusOK)
			if strings.TrimSpace(r.body) != "ready" {
				t.Errorf("body: got %q, want ready", r.body)
			}
		})
		t.Run("SecurityHeadersAreSet", func(t *testing.T) {
			c := c.in(t)
			r := c.get("/login")
			for name, want := range map[string]string{
				"X-Content-Type-Options": "nosniff",
				"X-Frame-Options":        "DENY",
				"Referrer-Policy":        "same-origin",
			} {
				if got := r.header.Get(name); got != want {
					t.Errorf("%s: got %q, want %q", name, got, want)
				}
			}
			if csp := r.header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
				t.Errorf("Content-Security-Policy: got %q, want script-src 'self'", csp)
			}
		})
	})
}

func TestNotFound(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		check := func(t *testing.T, r *resp) {
			t.Helper()
			r.wantStatus(http.StatusNotFound)
			if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
				t.Errorf("Content-Type: got %q, want an HTML page", ct)
			}
			r.wantElement(`[data-testid="error-page"]`)
			if got := r.text(`[data-testid="error-page"] h1`); got != "Page not found" {
				t.Errorf("heading: got %q, want %q", got, "Page not found")
			}
			r.wantNoElement(`[data-testid="error-page"] code`) // request ids are for 5xx only
		}
		t.Run("SignedInUnknownRouteIs404Page", func(t *testing.T) {
			c := e.newUser(t, "Ann", "ann@example.com")
			check(t, c.get("/no-such-page"))
			check(t, c.get("/orgs/no-such-org/no-such-tab"))
		})
		t.Run("VisitorUnknownRouteIs404Page", func(t *testing.T) {
			check(t, e.client(t).get("/no-such-page"))
		})
		t.Run("UnknownStaticFileIs404", func(t *testing.T) {
			r := e.client(t).get("/static/no-such-file.js")
			r.wantStatus(http.StatusNotFound)
		})
	})
}
