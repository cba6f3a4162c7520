package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestVerifyEmail(t *testing.T) {
	t.Run("LinkShowsButtonThenPostVerifiesOnce", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			link := e.emailLink(t, "ann@example.com", "/verify/")

			show := c.get(link)
			show.wantStatus(http.StatusOK)
			show.wantElement(`button[data-testid="verify-submit"]`)
			if got := show.attr(`form:has([data-testid="verify-submit"])`, "action"); got != link {
				t.Errorf("verify form action: got %q, want %q", got, link)
			}
			if e.user(t, "ann@example.com").Verified() {
				t.Fatalf("user verified by a GET, want only the button's POST to verify (link scanners)")
			}

			ok := c.post(link, nil)
			ok.wantStatus(http.StatusOK)
			if got := ok.text(`[data-testid="message"] h1`); got != "Email verified" {
				t.Errorf("heading: got %q, want %q", got, "Email verified")
			}
			if !e.user(t, "ann@example.com").Verified() {
				t.Errorf("user: got unverified after POST %s, want verified", link)
			}
			c.get("/orgs/new").wantNoElement(`[data-testid="verify-banner"]`)

			again := c.post(link, nil)
			again.wantStatus(http.StatusGone)
			if msg := again.text(`[data-testid="message"]`); !strings.Contains(msg, "already been used") {
				t.Errorf("second use message: got %q, want it to say the link was already used", msg)
			}
		})
	})

	t.Run("WorksWhenSignedOut", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			link := e.emailLink(t, "ann@example.com", "/verify/")
			c := e.client(t)
			r := c.post(link, nil)
			r.wantStatus(http.StatusOK)
			if got := r.attr(`[data-testid="message"] a`, "href"); got != "/login" {
				t.Errorf("next step link: got %q, want /login for a signed-out visitor", got)
			}
		})
	})

	t.Run("UnknownTokenIsGoneNever500", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			for name, tok := range map[string]string{
				"Garbage":   "garbage",
				"LongToken": strings.Repeat("x", 4000),
				"Escaped":   url.PathEscape("a b/../\x00c"),
			} {
				t.Run(name, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/verify/"+tok, nil)
					r.wantStatus(http.StatusGone)
					if msg := r.text(`[data-testid="message"]`); !strings.Contains(msg, "not valid") {
						t.Errorf("message: got %q, want it to say the link is not valid", msg)
					}
				})
			}
		})
	})

	t.Run("ResendReplacesTheOldLink", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			old := e.emailLink(t, "ann@example.com", "/verify/")
			c.post("/verify/resend", nil).wantRedirect("/account")
			fresh := e.emailLink(t, "ann@example.com", "/verify/")
			if fresh == old {
				t.Fatalf("got the same link after resend, want a new one")
			}
			c.post(old, nil).wantStatus(http.StatusGone)
			c.post(fresh, nil).wantStatus(http.StatusOK)
		})
	})
}

func TestForgotPassword(t *testing.T) {
	t.Run("RegisteredAndUnknownAddressesGetTheSamePage", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			c.get("/forgot").wantStatus(http.StatusOK)
			known := c.post("/forgot", url.Values{"email": {"ann@example.com"}})
			unknown := c.post("/forgot", url.Values{"email": {"nobody@example.com"}})
			if known.status != unknown.status {
				t.Errorf("status: got %d for a registered and %d for an unknown address, want the same", known.status, unknown.status)
			}
			known.wantStatus(http.StatusOK)
			kt := strings.ReplaceAll(known.text(`[data-testid="forgot-sent"]`), "ann@example.com", "<addr>")
			ut := strings.ReplaceAll(unknown.text(`[data-testid="forgot-sent"]`), "nobody@example.com", "<addr>")
			if kt != ut {
				t.Errorf("page text differs:\n registered: %q\n unknown:    %q\nwant the same", kt, ut)
			}
			if n := len(mustEmails(t, e, "nobody@example.com")); n != 0 {
				t.Errorf("outbox: got %d emails to an unknown address, want none", n)
			}
			e.emailLink(t, "ann@example.com", "/reset/")
		})
	})

	t.Run("MalformedAddressIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			r := e.client(t).post("/forgot", url.Values{"email": {"not an email"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("email")
		})
	})

	t.Run("RequestsAreRateLimitedPerAccount", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			for i := 1; i <= 3; i++ {
				c.post("/forgot", url.Values{"email": {"ann@example.com"}}).wantStatus(http.StatusOK)
			}
			r := c.post("/forgot", url.Values{"email": {"ann@example.com"}})
			r.wantStatus(http.StatusTooManyRequests)
			r.wantElement(`[data-testid="error-page"]`)
		})
	})
}

func TestResetPassword(t *testing.T) {
	t.Run("LinkWorksOnceAndEndsOldSessions", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			old := e.newUser(t, "Ann", "ann@example.com")
			other := e.client(t)
			other.login("ann@example.com", strongPassword)

			c := e.client(t)
			c.post("/forgot", url.Values{"email": {"ann@example.com"}}).wantStatus(http.StatusOK)
			link := e.emailLink(t, "ann@example.com", "/reset/")

			form := c.get(link)
			form.wantStatus(http.StatusOK)
			if got := form.attr(`form:has(input[name="password"])`, "action"); got != link {
				t.Errorf("reset form action: got %q, want %q", got, link)
			}

			weak := c.post(link, url.Values{"password": {"password123"}})
			weak.wantStatus(http.StatusUnprocessableEntity)
			weak.wantFieldErrors("password")

			const newPassword = "saffron lantern glacier 58"
			c.post(link, url.Values{"password": {newPassword}}).wantRedirect("/login?notice=password_reset")
			if !e.user(t, "ann@example.com").Verified() {
				t.Errorf("user: got unverified after a reset through an emailed link, want verified")
			}

			t.Run("OldSessionsAreGone", func(t *testing.T) {
				old, other := old.in(t), other.in(t)
				old.get("/account").wantRedirect("/login?next=%2Faccount")
				other.get("/account").wantRedirect("/login?next=%2Faccount")
			})
			t.Run("SecondUseIsGone", func(t *testing.T) {
				c := c.in(t)
				r := c.get(link)
				r.wantStatus(http.StatusGone)
				r.wantElement(`[data-testid="message"]`)
				c.post(link, url.Values{"password": {"another fine passphrase 77"}}).wantStatus(http.StatusGone)
			})
			t.Run("NewPasswordWorksOldDoesNot", func(t *testing.T) {
				e.client(t).post("/login", loginForm("ann@example.com", strongPassword)).wantStatus(http.StatusUnprocessableEntity)
				e.client(t).login("ann@example.com", newPassword)
			})
		})
	})

	t.Run("ExpiredLinkIsGone", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			c.post("/forgot", url.Values{"email": {"ann@example.com"}}).wantStatus(http.StatusOK)
			link := e.emailLink(t, "ann@example.com", "/reset/")
			c.get(link).wantStatus(http.StatusOK)

			e.clock.Advance(31 * time.Minute)
			r := c.get(link)
			r.wantStatus(http.StatusGone)
			if msg := r.text(`[data-testid="message"]`); !strings.Contains(msg, "expired") {
				t.Errorf("message: got %q, want it to say the link expired", msg)
			}
			c.post(link, url.Values{"password": {"saffron lantern glacier 58"}}).wantStatus(http.StatusGone)
			e.client(t).login("ann@example.com", strongPassword)
		})
	})

	t.Run("NewerLinkReplacesOlder", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			c := e.client(t)
			c.post("/forgot", url.Values{"email": {"ann@example.com"}}).wantStatus(http.StatusOK)
			first := e.emailLink(t, "ann@example.com", "/reset/")
			c.post("/forgot", url.Values{"email": {"ann@example.com"}}).wantStatus(http.StatusOK)
			second := e.emailLink(t, "ann@example.com", "/reset/")
			if first == second {
				t.Fatal("got the same reset link twice, want a new one")
			}
			c.get(first).wantStatus(http.StatusGone)
			c.get(second).wantStatus(http.StatusOK)
		})
	})

	t.Run("GarbageTokenIsGone", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			r := c.get("/reset/garbage")
			r.wantStatus(http.StatusGone)
			r.wantElement(`[data-testid="message"]`)
			c.post("/reset/garbage", url.Values{"password": {"saffron lantern glacier 58"}}).wantStatus(http.StatusGone)
			c.get("/reset/" + strings.Repeat("z", 4000)).wantStatus(http.StatusGone)
		})
	})
}
