package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func loginForm(email, password string) url.Values {
	return url.Values{"email": {email}, "password": {password}}
}

func TestLogin(t *testing.T) {
	t.Run("SuccessRedirectsAndSignsIn", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			c.get("/login").wantStatus(http.StatusOK)
			c.post("/login", loginForm("ANN@example.com", strongPassword)).wantRedirect("/")
			c.get("/account").wantStatus(http.StatusOK)
		})
	})

	t.Run("NextParameterIsFollowedOnlyOnSite", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			f := loginForm("ann@example.com", strongPassword)
			f.Set("next", "/account")
			c.post("/login", f).wantRedirect("/account")
			c.logout()
			f.Set("next", "//evil.example/steal")
			c.post("/login", f).wantRedirect("/")
		})
	})

	t.Run("WrongPasswordAndUnknownEmailLookTheSame", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			wrong := c.post("/login", loginForm("ann@example.com", "not the right password 1"))
			unknown := c.post("/login", loginForm("nobody@example.com", "not the right password 1"))
			if wrong.status != unknown.status {
				t.Errorf("status: got %d for a wrong password and %d for an unknown email, want the same", wrong.status, unknown.status)
			}
			wrong.wantStatus(http.StatusUnprocessableEntity)
			wm, um := wrong.text(`[data-testid="alert-error"]`), unknown.text(`[data-testid="alert-error"]`)
			if wm != um {
				t.Errorf("message: got %q for a wrong password and %q for an unknown email, want the same", wm, um)
			}
			if wm == "" {
				t.Errorf("message: got none, want an explanation")
			}
			if got := unknown.inputValue("email"); got != "nobody@example.com" {
				t.Errorf("email input: got %q, want the typed address kept", got)
			}
			if c.cookie(sessionCookie) != "" {
				t.Errorf("got a session cookie after failed logins, want none")
			}
		})
	})

	t.Run("EmptyOrMalformedInputIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			for name, f := range map[string]url.Values{
				"Empty":         loginForm("", ""),
				"NoPassword":    loginForm("ann@example.com", ""),
				"BadEmail":      loginForm("ann@", "whatever password"),
				"InvalidUTF8":   loginForm("ann\xff@example.com", "whatever password"),
				"HugePassword":  loginForm("ann@example.com", strings.Repeat("p", 1<<20)),
				"DisplayedName": loginForm("Ann <ann@example.com>", "whatever password"),
			} {
				t.Run(name, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/login", f)
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantElement(`[data-testid="alert-error"]`)
				})
			}
		})
	})

	t.Run("AccountIsRateLimitedAfterTenFailures", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			for i := 1; i <= 10; i++ {
				r := c.post("/login", loginForm("ann@example.com", "wrong password number x"))
				if r.status != http.StatusUnprocessableEntity {
					t.Fatalf("failure %d: got status %d, want 422", i, r.status)
				}
			}
			r := c.post("/login", loginForm("ann@example.com", strongPassword))
			r.wantStatus(http.StatusTooManyRequests)
			r.wantElement(`[data-testid="alert-error"]`)
			if c.cookie(sessionCookie) != "" {
				t.Errorf("got a session cookie from a rate-limited login, want none")
			}

			t.Run("OtherAccountsAreNotLimited", func(t *testing.T) {
				e.newUser(t, "Bob", "bob@example.com")
				e.client(t).login("bob@example.com", strongPassword)
			})
			t.Run("LimitLiftsAfterTheWindow", func(t *testing.T) {
				e.clock.Advance(16 * time.Minute)
				e.client(t).login("ann@example.com", strongPassword)
			})
		})
	})

	t.Run("NewSessionIDAfterLogin", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			planted, secret := e.plantAnonymousSession(t)
			c := e.client(t)
			c.setCookie(sessionCookie, planted)
			c.get("/login").wantStatus(http.StatusOK)
			if got := c.cookie(sessionCookie); got != planted {
				t.Fatalf("before login: got session cookie %q, want the planted one kept", got)
			}
			c.login("ann@example.com", strongPassword)
			after := c.cookie(sessionCookie)
			if after == "" || after == planted {
				t.Fatalf("after login: got session cookie %q, want a new value different from the pre-login %q", after, planted)
			}
			if _, err := e.db.FindSession(t.Context(), hashSecret(secret)); !isNotFound(err) {
				t.Errorf("pre-login session row: got %v, want it deleted", err)
			}
			attacker := e.client(t)
			attacker.setCookie(sessionCookie, planted)
			attacker.get("/account").wantRedirect("/login?next=%2Faccount")
			c.get("/account").wantStatus(http.StatusOK)
		})
	})

	t.Run("NewSessionIDAfterSignupLogoutLogin", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			first := c.cookie(sessionCookie)
			c.logout()
			c.login("ann@example.com", strongPassword)
			if second := c.cookie(sessionCookie); second == "" || second == first {
				t.Errorf("got session cookie %q after logging in again, want a new value (was %q)", second, first)
			}
		})
	})

	t.Run("ForgedSessionCookieIsNoSession", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			c.setCookie(sessionCookie, "forged-value")
			c.get("/account").wantRedirect("/login?next=%2Faccount")
			c.get("/login").wantStatus(http.StatusOK)
		})
	})
}

func TestLogout(t *testing.T) {
	t.Run("InvalidatesSessionOnServer", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			c.get("/account").wantStatus(http.StatusOK)
			saved := c.cookie(sessionCookie)
			if saved == "" {
				t.Fatal("got no session cookie after sign-up")
			}
			c.logout()
			if got := c.cookie(sessionCookie); got != "" {
				t.Errorf("after logout: got session cookie %q in the browser, want it cleared", got)
			}
			replay := e.client(t)
			replay.setCookie(sessionCookie, saved)
			replay.get("/account").wantRedirect("/login?next=%2Faccount")
			r := c.get("/login?notice=logged_out")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="alert-success"]`)
		})
	})

	t.Run("VisitorPagesRequireLogin", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			c.get("/account").wantRedirect("/login?next=%2Faccount")
			c.get("/orgs/new").wantRedirect("/login?next=%2Forgs%2Fnew")
			c.get("/orgs/acme/settings").wantRedirect("/login?next=%2Forgs%2Facme%2Fsettings")
			c.post("/account/name", url.Values{"name": {"X"}}).wantRedirect("/login")
		})
	})
}
