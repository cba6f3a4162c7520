package web_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"
)

// otherSessionIDs returns the ids in the "sign out" forms of the account
// page: every listed session but the current one.
func otherSessionIDs(r *resp) []string {
	var ids []string
	r.find(`[data-testid="session-row"] input[name="session"]`).Each(func(_ int, s *goquery.Selection) {
		ids = append(ids, s.AttrOr("value", ""))
	})
	return ids
}

func TestAccountName(t *testing.T) {
	t.Run("PlainPostRedirectsAndSaves", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			c.get("/account").wantStatus(http.StatusOK)
			c.post("/account/name", url.Values{"name": {"  Ann Marie  "}}).wantRedirect("/account")
			r := c.get("/account")
			if got := r.inputValue("name"); got != "Ann Marie" {
				t.Errorf("name input: got %q, want %q", got, "Ann Marie")
			}
			if got := r.text(`[data-testid="toast"]`); got != "Name saved." {
				t.Errorf("flash: got %q, want %q", got, "Name saved.")
			}
			if got := e.user(t, "ann@example.com").Name; got != "Ann Marie" {
				t.Errorf("stored name: got %q, want %q", got, "Ann Marie")
			}
		})
	})

	t.Run("HtmxPostReturnsOnlyTheCard", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			c.get("/account").wantStatus(http.StatusOK)
			r := c.post("/account/name", url.Values{"name": {"Annie <b>Bold</b>"}}, "HX-Request", "true")
			r.wantStatus(http.StatusOK)
			if strings.Contains(strings.ToLower(r.body), "<html") || strings.Contains(r.body, "<!DOCTYPE") {
				t.Errorf("got a whole page, want only the name card partial:\n%s", abbrev(r.body))
			}
			if got := r.attr(`#name-card input[name="name"]`, "value"); got != "Annie <b>Bold</b>" {
				t.Errorf("name input in partial: got %q, want %q", got, "Annie <b>Bold</b>")
			}
			if r.find("b").Length() != 0 {
				t.Errorf("got a <b> element: the name was not escaped")
			}
			if got := r.text(`#toasts[hx-swap-oob] [data-testid="toast"]`); got != "Name saved." {
				t.Errorf("oob toast: got %q, want %q", got, "Name saved.")
			}
			r.wantNoElement("#password-card")
		})
	})

	t.Run("InvalidNameIs422WithError", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			for name, v := range map[string]string{"Empty": "   ", "TooLong": strings.Repeat("n", 101), "Control": "Ann\x07", "InvalidUTF8": "Ann\xff"} {
				t.Run(name, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/account/name", url.Values{"name": {v}})
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors("name")
					hx := c.post("/account/name", url.Values{"name": {v}}, "HX-Request", "true")
					hx.wantStatus(http.StatusUnprocessableEntity)
					hx.wantElement(`#name-card [data-testid="error-name"]`)
				})
			}
			if got := e.user(t, "ann@example.com").Name; got != "Ann" {
				t.Errorf("stored name: got %q, want %q unchanged", got, "Ann")
			}
		})
	})
}

func TestAccountPassword(t *testing.T) {
	const newPassword = "copper meadow violin 314"

	t.Run("WrongCurrentPasswordIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			r := c.post("/account/password", url.Values{"current_password": {"not my password 1"}, "new_password": {newPassword}})
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("current_password")
			e.client(t).login("ann@example.com", strongPassword)
		})
	})

	t.Run("WeakOrSameNewPasswordIs422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			for _, pw := range []string{"password123", "ann@example.com", strongPassword, ""} {
				r := c.post("/account/password", url.Values{"current_password": {strongPassword}, "new_password": {pw}})
				r.wantStatus(http.StatusUnprocessableEntity)
				r.wantFieldErrors("new_password")
				r.wantNoFieldError("current_password")
			}
		})
	})

	t.Run("SuccessSignsOutOtherSessionsKeepsThisOne", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			other := e.client(t)
			other.login("ann@example.com", strongPassword)
			other.get("/account").wantStatus(http.StatusOK)

			c.post("/account/password", url.Values{"current_password": {strongPassword}, "new_password": {newPassword}}).wantRedirect("/account")
			r := c.get("/account")
			r.wantStatus(http.StatusOK)
			if n := r.find(`[data-testid="session-row"]`).Length(); n != 1 {
				t.Errorf("sessions list: got %d sessions, want only this one", n)
			}
			other.get("/account").wantRedirect("/login?next=%2Faccount")
			e.client(t).post("/login", loginForm("ann@example.com", strongPassword)).wantStatus(http.StatusUnprocessableEntity)
			e.client(t).login("ann@example.com", newPassword)
		})
	})
}

func TestAccountSessions(t *testing.T) {
	t.Run("ListShowsEverySessionAndMarksThisOne", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			other := e.client(t)
			other.login("ann@example.com", strongPassword)
			r := c.get("/account")
			if n := r.find(`[data-testid="session-row"]`).Length(); n != 2 {
				t.Fatalf("sessions list: got %d rows, want 2", n)
			}
			current := r.find(`[data-testid="session-row"]:contains("This browser")`)
			if current.Length() != 1 {
				t.Errorf("got %d rows marked \"This browser\", want 1", current.Length())
			}
			if current.Find(`[data-testid="revoke-session"]`).Length() != 0 {
				t.Errorf("current session row: got a sign-out button, want none (log out instead)")
			}
			if ids := otherSessionIDs(r); len(ids) != 1 {
				t.Errorf("got %d sign-out forms, want 1 for the other session", len(ids))
			}
			if !strings.Contains(r.text(`[data-testid="session-row"]`), "127.0.0.1") {
				t.Errorf("session row: got %q, want it to show the IP", r.text(`[data-testid="session-row"]`))
			}
			r.wantElement(`[data-testid="revoke-others"]`)
		})
	})

	t.Run("SignOutAnotherSession", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			other := e.client(t)
			other.login("ann@example.com", strongPassword)
			ids := otherSessionIDs(c.get("/account"))
			if len(ids) != 1 {
				t.Fatalf("got %d other sessions, want 1", len(ids))
			}
			c.post("/account/sessions/revoke", url.Values{"session": {ids[0]}}).wantRedirect("/account")
			other.get("/account").wantRedirect("/login?next=%2Faccount")
			r := c.get("/account")
			r.wantStatus(http.StatusOK)
			if n := r.find(`[data-testid="session-row"]`).Length(); n != 1 {
				t.Errorf("sessions list: got %d rows, want 1", n)
			}
			t.Run("AgainIsNotFound", func(t *testing.T) {
				c := c.in(t)
				c.post("/account/sessions/revoke", url.Values{"session": {ids[0]}}).wantStatus(http.StatusNotFound)
			})
		})
	})

	t.Run("SignOutEverywhereElse", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			o1, o2 := e.client(t), e.client(t)
			o1.login("ann@example.com", strongPassword)
			o2.login("ann@example.com", strongPassword)
			c.post("/account/sessions/revoke-others", nil).wantRedirect("/account")
			o1.get("/account").wantRedirect("/login?next=%2Faccount")
			o2.get("/account").wantRedirect("/login?next=%2Faccount")
			c.get("/account").wantStatus(http.StatusOK)
		})
	})

	t.Run("CannotRevokeAnotherUsersSession", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			ann := e.newUser(t, "Ann", "ann@example.com")
			ann2 := e.client(t)
			ann2.login("ann@example.com", strongPassword)
			annOther := otherSessionIDs(ann.get("/account"))
			if len(annOther) != 1 {
				t.Fatalf("got %d other sessions for Ann, want 1", len(annOther))
			}
			bob := e.newUser(t, "Bob", "bob@example.com")
			r := bob.post("/account/sessions/revoke", url.Values{"session": {annOther[0]}})
			r.wantStatus(http.StatusNotFound)
			r.wantElement(`[data-testid="error-page"]`)
			ann2.get("/account").wantStatus(http.StatusOK)

			for name, id := range map[string]string{"Empty": "", "Unknown": "deadbeef", "TooLong": strings.Repeat("a", 500)} {
				t.Run(name, func(t *testing.T) {
					bob := bob.in(t)
					bob.post("/account/sessions/revoke", url.Values{"session": {id}}).wantStatus(http.StatusNotFound)
				})
			}
			bob.get("/account").wantStatus(http.StatusOK)
		})
	})
}
