package web_test

import (
	"net/http"
	"net/url"
	"testing"
)

// TestCSRF checks that every state-changing form refuses requests without the
// right token, and requests a browser marks as cross-site even with it.
func TestCSRF(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		slug := owner.createOrg("Acme", "acme")
		e.newUser(t, "Ann", "ann@example.com") // an account to log in to

		type target struct {
			name string
			path string
			form url.Values
			// signedIn: post as the signed-in owner (else as a visitor)
			signedIn bool
		}
		targets := []target{
			{"Signup", "/signup", signupForm("Eve", "eve@example.com", strongPassword), false},
			{"Login", "/login", url.Values{"email": {"ann@example.com"}, "password": {strongPassword}}, false},
			{"Logout", "/logout", url.Values{}, true},
			{"OrgSettings", "/orgs/" + slug + "/settings", url.Values{"name": {"Hacked"}, "slug": {slug}}, true},
		}
		visitor := e.client(t)
		visitor.get("/login").wantStatus(http.StatusOK)
		owner.get("/orgs/" + slug).wantStatus(http.StatusOK)

		for _, tg := range targets {
			c := visitor
			if tg.signedIn {
				c = owner
			}
			with := func(extra ...string) url.Values {
				f := url.Values{}
				for k, v := range tg.form {
					f[k] = v
				}
				for i := 0; i+1 < len(extra); i += 2 {
					f.Set(extra[i], extra[i+1])
				}
				return f
			}
			t.Run(tg.name+"/MissingTokenIsForbidden", func(t *testing.T) {
				c := c.in(t)
				r := c.postRaw(tg.path, with())
				r.wantStatus(http.StatusForbidden)
				r.wantElement(`[data-testid="error-page"]`)
			})
			t.Run(tg.name+"/WrongTokenIsForbidden", func(t *testing.T) {
				c := c.in(t)
				r := c.postRaw(tg.path, with("_csrf", "not-the-token-0123456789abcdef"))
				r.wantStatus(http.StatusForbidden)
			})
			t.Run(tg.name+"/WrongTokenInHeaderIsForbidden", func(t *testing.T) {
				c := c.in(t)
				r := c.postRaw(tg.path, with(), "X-CSRF-Token", "not-the-token-0123456789abcdef")
				r.wantStatus(http.StatusForbidden)
			})
			t.Run(tg.name+"/SameOriginHeaderDoesNotReplaceToken", func(t *testing.T) {
				c := c.in(t)
				r := c.postRaw(tg.path, with(), "Sec-Fetch-Site", "same-origin")
				r.wantStatus(http.StatusForbidden)
			})
			t.Run(tg.name+"/CrossSiteIsForbiddenEvenWithToken", func(t *testing.T) {
				c := c.in(t)
				r := c.postRaw(tg.path, with("_csrf", c.token()), "Sec-Fetch-Site", "cross-site")
				r.wantStatus(http.StatusForbidden)
			})
		}

		t.Run("RefusedRequestsChangedNothing", func(t *testing.T) {
			owner, visitor := owner.in(t), visitor.in(t)
			if owner.get("/account").status != http.StatusOK {
				t.Errorf("owner: got signed out by a forged logout, want still signed in")
			}
			if got := e.org(t, slug, "olga@example.com").Name; got != "Acme" {
				t.Errorf("org name: got %q, want %q unchanged", got, "Acme")
			}
			if visitor.cookie(sessionCookie) != "" {
				t.Errorf("visitor: got a session cookie from a forged login or sign-up, want none")
			}
			if _, _, err := e.db.FindUserByEmail(t.Context(), "eve@example.com"); !isNotFound(err) {
				t.Errorf("forged sign-up: got user lookup %v, want not found", err)
			}
		})

		t.Run("TokenInHeaderIsAccepted", func(t *testing.T) {
			owner := owner.in(t)
			r := owner.postRaw("/orgs/"+slug+"/settings", url.Values{"name": {"Acme"}, "slug": {slug}, "billing_email": {"billing@example.com"}}, "X-CSRF-Token", owner.token())
			r.wantRedirect("/orgs/" + slug + "/settings")
		})
	})
}
