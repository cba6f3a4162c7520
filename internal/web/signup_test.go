package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func signupForm(name, email, password string) url.Values {
	return url.Values{"name": {name}, "email": {email}, "password": {password}}
}

func TestSignup(t *testing.T) {
	t.Run("SuccessSignsInAndQueuesVerificationEmail", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			c.get("/signup").wantStatus(http.StatusOK)
			r := c.post("/signup", signupForm("Ann Example", "Ann@Example.com", strongPassword))
			r.wantRedirect("/orgs/new")

			page := c.get("/orgs/new")
			page.wantStatus(http.StatusOK)
			if got := page.text("#user-menu p.truncate.text-xs"); got != "ann@example.com" {
				t.Errorf("user menu email: got %q, want %q (normalized to lower case)", got, "ann@example.com")
			}
			page.wantElement(`[data-testid="verify-banner"]`)

			u := e.user(t, "ann@example.com")
			if u.Name != "Ann Example" || u.Verified() {
				t.Errorf("stored user: got name %q verified %v, want %q unverified", u.Name, u.Verified(), "Ann Example")
			}
			mails, err := e.db.FindEmails(context.Background(), "ann@example.com", 10)
			if err != nil {
				t.Fatal(err)
			}
			if len(mails) != 1 {
				t.Fatalf("outbox: got %d emails to ann@example.com, want 1 verification email", len(mails))
			}
			if link := e.emailLink(t, "ann@example.com", "/verify/"); link == "" {
				t.Errorf("verification email: got no /verify/ link")
			}
		})
	})

	t.Run("EmptyFormShowsFieldErrors", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			r := c.post("/signup", signupForm("", "", ""))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name", "email", "password")
			r.wantElement(`form[data-testid="signup-form"]`)
		})
	})

	t.Run("OversizeFieldsAreRefusedWith422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			big := strings.Repeat("a", 1<<20)
			cases := []struct {
				name  string
				form  url.Values
				field string
			}{
				{"Name", signupForm(big, "big1@example.com", strongPassword), "name"},
				{"Email", signupForm("Ann", big+"@example.com", strongPassword), "email"},
				{"Password", signupForm("Ann", "big3@example.com", big), "password"},
			}
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/signup", tc.form)
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors(tc.field)
					if v := r.find(`input[name="`+tc.field+`"]`).AttrOr("value", ""); len(v) > 2048 {
						t.Errorf("field %s: got a %d-byte value echoed back, want it cut short", tc.field, len(v))
					}
				})
			}
			if n := len(mustEmails(t, e, "")); n != 0 {
				t.Errorf("outbox: got %d emails, want none after refused sign-ups", n)
			}
		})
	})

	t.Run("InvalidUTF8IsRefusedWith422", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			r := c.post("/signup", signupForm("Ann \xff\xfe", "ann\xc3\x28@example.com", strongPassword))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name", "email")
		})
	})

	t.Run("MalformedEmailsAreRefused", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			for _, email := range []string{"a@b", "no-at", "x@y..com", "Ann <ann@x.org>", "@example.com", "ann@", "ann@.example.com", "ann@example.com."} {
				t.Run(email, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/signup", signupForm("Ann", email, strongPassword))
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors("email")
					r.wantNoFieldError("name")
					r.wantNoFieldError("password")
				})
			}
		})
	})

	t.Run("DuplicateEmailShowsFieldError", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			e.newUser(t, "Ann", "ann@example.com")
			for _, email := range []string{"ann@example.com", "ANN@Example.COM", "  ann@example.com "} {
				t.Run(email, func(t *testing.T) {
					c := e.client(t)
					r := c.post("/signup", signupForm("Other Ann", email, "another strong passphrase 93"))
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors("email")
					if got := r.inputValue("name"); got != "Other Ann" {
						t.Errorf("name input: got %q, want the submitted name kept", got)
					}
					if c.cookie(sessionCookie) != "" {
						t.Errorf("got a session cookie after a refused sign-up, want none")
					}
				})
			}
			if n := len(mustEmails(t, e, "ann@example.com")); n != 1 {
				t.Errorf("outbox: got %d emails to ann@example.com, want only the first sign-up's", n)
			}
		})
	})

	t.Run("WeakPasswordsAreRefused", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.client(t)
			const email = "jonathan.weakling@example.com"
			for _, pw := range []string{"password123", "aaaaaaaaaaaa", "qwertyuiop", "short", email, "jonathan.weakling"} {
				t.Run(pw, func(t *testing.T) {
					c := c.in(t)
					r := c.post("/signup", signupForm("Jonathan Weakling", email, pw))
					r.wantStatus(http.StatusUnprocessableEntity)
					r.wantFieldErrors("password")
					r.wantNoFieldError("email")
					if got := r.find(`input[name="password"]`).AttrOr("value", ""); got != "" {
						t.Errorf("password input: got value %q echoed back, want it never rendered", got)
					}
				})
			}
			if _, _, err := e.db.FindUserByEmail(context.Background(), email); !isNotFound(err) {
				t.Errorf("FindUserByEmail after refused sign-ups: got %v, want not found", err)
			}
		})
	})

	t.Run("SignedInUserIsSentAwayFromSignup", func(t *testing.T) {
		eachDialect(t, func(t *testing.T, e *env) {
			c := e.newUser(t, "Ann", "ann@example.com")
			c.get("/signup").wantRedirect("/")
		})
	})
}

func mustEmails(t *testing.T, e *env, to string) []string {
	t.Helper()
	mails, err := e.db.FindEmails(context.Background(), to, 100)
	if err != nil {
		t.Fatalf("FindEmails: %v", err)
	}
	out := make([]string, len(mails))
	for i, m := range mails {
		out[i] = m.To + ": " + m.Subject
	}
	return out
}
