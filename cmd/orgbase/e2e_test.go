package main

import (
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/orgbase/orgbase/internal/dbtest"
)

// TestE2E walks the first-run journey of SPEC in a real browser against the
// real program, on SQLite and (when TEST_DATABASE_URL is set, or required
// under CI) on PostgreSQL: sign up, verify the email through the dev
// mailbox, create an organization, rename it in Settings, log out, log back
// in. Every page is screenshotted into test-artifacts/e2e (or $E2E_ARTIFACTS)
// and must load without console errors or CSP violations.
func TestE2E(t *testing.T) {
	chromium := findBrowser(t)
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{
				"ORGBASE_ADDR":     "127.0.0.1:0",
				"ORGBASE_DATA_DIR": t.TempDir(),
				"DATABASE_URL":     dbtest.URL(t, dialect),
			}
			srv := startServer(t, env)
			b := newBrowser(t, chromium, srv.URL, artifactsDir(t, dialect))
			firstRun(t, b)
			if code := srv.Stop(t); code != 0 {
				t.Errorf("run returned %d after the context was cancelled, want 0", code)
			}
		})
	}
}

var verifyLink = regexp.MustCompile(`https?://[^\s"'<>]+/verify/[A-Za-z0-9_-]+`)

func firstRun(t *testing.T, b *browser) {
	const (
		name     = "Ada Lovelace"
		email    = "ada@example.com"
		password = "correct horse battery staple 42"
	)

	// The product page, for visitors.
	b.navigate("/")
	b.page("landing")
	b.clickAndLoad(`header a[href="/signup"]`)
	b.wantPath("/signup")
	b.page("signup")

	// Sign up: the app lands on the create-organization page.
	b.typeInto("#name", name)
	b.typeInto("#email", email)
	b.typeInto("#password", password)
	b.clickAndLoad(`[data-testid="signup-submit"]`)
	b.wantPath("/orgs/new")
	b.wantText(`[data-testid="verify-banner"]`, email)
	b.wantText(`[data-testid="toast"]`, "Welcome to Orgbase!")
	b.page("orgs-new-unverified")

	// The verification email is in the dev mailbox, opened as the newest.
	b.click(`[data-testid="user-menu"]`) // the header's user menu names the new user
	b.wantText("#user-menu", name)
	b.wantText("#user-menu", email)
	b.clickAndLoad(`[data-testid="dev-mail-link"]`)
	b.wantPath("/dev/mail")
	if n := b.count(`[data-testid="mail-item"]`); n != 1 {
		t.Errorf("dev mailbox lists %d emails, want 1", n)
	}
	b.wantText(`[data-testid="mail-open"] header`, "Verify your email")
	b.wantText(`[data-testid="mail-open"] header`, email)
	b.page("dev-mail")
	text := b.textContent(`[data-testid="mail-text"]`)
	link := verifyLink.FindString(text)
	if link == "" {
		t.Fatalf("no verification link in the email's text:\n%s", text)
	}
	if !strings.HasPrefix(link, b.base+"/verify/") {
		t.Errorf("verification link %s does not point at the server %s", link, b.base)
	}
	if html := evalJS[string](b, `(document.querySelector('[data-testid="mail-open"] a[href*="/verify/"]') || {}).href || ""`); html != link {
		t.Errorf("the HTML part links to %q, the text part to %q", html, link)
	}

	// Verify: the link asks for a click first.
	b.navigate(link)
	b.page("verify")
	b.clickAndLoad(`[data-testid="verify-submit"]`)
	b.wantText(`[data-testid="message"] h1`, "Email verified")
	b.wantText(`[data-testid="message"]`, email+" is verified")
	b.page("email-verified")

	// Create an organization; the slug follows the name as it is typed.
	b.navigate("/orgs/new")
	if n := b.count(`[data-testid="verify-banner"]`); n != 0 {
		t.Errorf("the verify banner is still shown after verification")
	}
	b.do("wait for the form", chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-org-form"]`)))
	b.typeInto(`[data-testid="new-org-form"] #name`, "Acme Robotics")
	if got := b.value(`[data-testid="new-org-form"] #slug`); got != "acme-robotics" {
		t.Errorf("slug auto-filled as %q, want %q", got, "acme-robotics")
	}
	b.page("orgs-new-filled")
	b.clickAndLoad(`[data-testid="create-org"]`)
	b.wantPath("/orgs/acme-robotics")
	b.wantText("main h1", "Overview")
	b.wantText("main h1 + p", "Acme Robotics")
	b.wantText(`[data-testid="org-switcher"]`, "Acme Robotics")
	b.wantText(`[data-testid="toast"]`, "Acme Robotics is ready")
	b.wantText(`[data-testid="stat-Your role"]`, "Owner")
	b.wantText(`[data-testid="stat-Members"]`, "1")
	b.page("overview")
	b.mobileScreenshot("overview")

	// Settings: rename. The form posts with htmx; since the name changes the
	// server answers with HX-Redirect and the whole page reloads.
	b.clickAndLoad(`[data-testid="nav-settings"]`)
	b.wantPath("/orgs/acme-robotics/settings")
	b.page("settings")
	b.mobileScreenshot("settings")
	if got := b.value(`[data-testid="profile-form"] #name`); got != "Acme Robotics" {
		t.Errorf("settings name field is %q, want %q", got, "Acme Robotics")
	}
	b.problems.xhrResponses() // forget earlier requests
	b.typeInto(`[data-testid="profile-form"] #name`, "Acme Robotics Europe")
	evalJS[bool](b, `window.__e2eBeforeSave = true`)
	b.click(`[data-testid="save-profile"]`)
	b.waitFor("the page to reload after saving", `window.__e2eBeforeSave !== true && document.readyState === "complete"`)
	b.wantPath("/orgs/acme-robotics/settings")
	checkHXRedirect(t, b, "/orgs/acme-robotics/settings")
	b.wantText(`[data-testid="toast"]`, "Profile saved.")
	b.wantText(`[data-testid="org-switcher"]`, "Acme Robotics Europe")
	if got := b.value(`[data-testid="profile-form"] #name`); got != "Acme Robotics Europe" {
		t.Errorf("after saving, the name field is %q, want %q", got, "Acme Robotics Europe")
	}
	if title := runValue(b, "read title", chromedp.Title()); !strings.Contains(title, "Settings") {
		t.Errorf("page title %q does not mention Settings", title)
	}
	b.page("settings-renamed")
	b.click(`[data-testid="org-switcher"]`)
	b.wantText(`[data-testid="org-switcher-item"]`, "Acme Robotics Europe")
	b.page("settings-org-switcher-open")
	b.click(`[data-testid="org-switcher"]`) // close it again

	// Log out through the user menu.
	b.click(`[data-testid="user-menu"]`)
	b.do("wait for the user menu", chromedp.WaitVisible(chromedp.CSS(`[data-testid="logout"]`)))
	b.page("user-menu-open")
	b.clickAndLoad(`[data-testid="logout"]`)
	b.wantPath("/login?notice=logged_out")
	b.wantText(`[data-testid="alert-success"]`, "You have been logged out.")
	b.page("logged-out")

	// A signed-out visitor cannot see the organization any more.
	b.navigate("/orgs/acme-robotics")
	b.wantPath("/login?next=%2Forgs%2Facme-robotics")
	b.checkConsole("login-redirect")

	// Log back in: the organization's Overview.
	b.navigate("/login")
	b.typeInto("#email", email)
	b.typeInto("#password", password)
	b.page("login-filled")
	b.clickAndLoad(`[data-testid="login-submit"]`)
	b.wantPath("/orgs/acme-robotics")
	b.wantText("main h1 + p", "Acme Robotics Europe")
	b.wantText(`[data-testid="org-switcher"]`, "Acme Robotics Europe")
	b.page("overview-after-login")
}

// checkHXRedirect asserts that the save was an htmx request answered with
// HX-Redirect, not a plain form post.
func checkHXRedirect(t *testing.T, b *browser, to string) {
	t.Helper()
	for _, r := range b.problems.xhrResponses() {
		if !strings.HasSuffix(r.URL, "/settings") {
			continue
		}
		var redirect string
		for k, v := range r.Headers {
			if strings.EqualFold(k, "HX-Redirect") {
				redirect, _ = v.(string)
			}
		}
		if r.Status != http.StatusNoContent || redirect != to {
			t.Errorf("htmx save answered %d with HX-Redirect %q, want 204 with %q", r.Status, redirect, to)
		}
		return
	}
	t.Errorf("saving the profile sent no htmx request (was htmx loaded?)")
}
