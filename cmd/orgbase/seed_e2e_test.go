package main

import (
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/store"
)

// TestDemoE2E: what a newcomer sees after `make run` (seed --demo, then
// serve): the demo owner logs in and the organization's pages show the
// demo's people, budgets, limits and usage. SQLite only, as `make run`.
// Screenshots go to test-artifacts/e2e/demo.
func TestDemoE2E(t *testing.T) {
	chromium := findBrowser(t)
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	if code, _, stderr := runCmd(t, env, "seed", "--demo", "--if-empty"); code != exitOK {
		t.Fatalf("seed --demo: exit %d; stderr: %s", code, stderr)
	}
	srv := startServer(t, env)

	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "demo"))
	b.navigate("/login")
	b.typeInto("#email", demoEmail)
	b.typeInto("#password", demoPassword)
	b.clickAndLoad(`[data-testid="login-submit"]`)
	b.wantPath("/orgs/" + demoOrgSlug)
	b.page("home")
	b.mobileScreenshot("home")

	b.navigate("/orgs/" + demoOrgSlug + "/workspaces")
	b.page("workspaces")
	b.mobileScreenshot("workspaces")
	page := b.textContent("main")
	for _, want := range []string{"Platform", "Brand", "Website", "Mobile app", "Globex"} {
		if !strings.Contains(page, want) {
			t.Errorf("the Workspaces tab does not show %s", want)
		}
	}
	if n := b.count(`[data-testid="limit-bar"]`); n != len(demoLimits.workspaces) {
		t.Errorf("the Workspaces tab shows %d limit bars, want %d (%v)", n, len(demoLimits.workspaces), demoLimits.workspaces)
	}

	b.navigate("/orgs/" + demoOrgSlug + "/members")
	b.page("members")
	page = b.textContent("main")
	for _, p := range demoPeople {
		if !strings.Contains(page, p.name) {
			t.Errorf("the Members tab does not list %s", p.name)
		}
	}
	if n := evalJS[int](b, `[...document.querySelectorAll('[data-testid="member-limit-text"]')].filter(e => e.textContent.includes(" / ")).length`); n != len(demoLimits.members) {
		t.Errorf("the Members tab shows %d member limits in use, want %d", n, len(demoLimits.members))
	}

	b.mobileScreenshot("members")

	b.navigate("/orgs/" + demoOrgSlug + "/audit")
	b.page("audit")
	b.mobileScreenshot("audit")

	demoHistory(t, b)
}

// demoHistory: the History tab over the demo's 90 days: the feed, a
// category filter and Me mode applied through htmx without a reload, and
// the CSV export of the filtered set, downloaded with the session.
func demoHistory(t *testing.T, b *browser) {
	t.Helper()
	b.navigate("/orgs/" + demoOrgSlug + "/history")
	b.page("history")
	if n := b.count(`[data-testid="history-row"]`); n != 50 {
		t.Errorf("the History tab shows %d rows on its first page, want 50", n)
	}
	evalJS[bool](b, `window.__historyMark = true`)

	setAndChange(b, "tool", "category:chatbot")
	b.waitFor("the Chatbot filter", `location.search.includes("tool=category%3Achatbot") && !document.querySelector("#history-panel.htmx-request, .htmx-request")`)
	tools := evalJS[[]string](b, `[...document.querySelectorAll('[data-testid="history-tool"]')].map(e => e.textContent.trim())`)
	if len(tools) == 0 {
		t.Fatalf("no Chatbot actions in the demo's history")
	}
	b.click(`[data-testid="history-me"] input`)
	b.waitFor("Me mode", `location.search.includes("me=1") && !document.querySelector(".htmx-request")`)
	members := evalJS[[]string](b, `[...document.querySelectorAll('[data-testid="history-member"]')].map(e => e.textContent)`)
	if len(members) == 0 {
		t.Fatalf("Me mode shows none of the demo owner's Chatbot actions")
	}
	for _, m := range members {
		if !strings.Contains(m, demoEmail) {
			t.Errorf("Me mode shows another member's action: %q", strings.Join(strings.Fields(m), " "))
			break
		}
	}
	if !evalJS[bool](b, `window.__historyMark === true`) {
		t.Errorf("changing the History filters reloaded the page; want the panel swapped by htmx")
	}
	b.page("history-chatbot-me")
	b.mobileScreenshot("history-chatbot-me")

	// The export link carries the filters; fetch it as the browser would.
	href := evalJS[string](b, `document.querySelector('[data-testid="history-export"]').href`)
	if !strings.Contains(href, "me=1") || !strings.Contains(href, "tool=category%3Achatbot") {
		t.Errorf("the Export CSV link %q does not carry the filters", href)
	}
	csv := evalJS[string](b, `(() => { const x = new XMLHttpRequest(); x.open("GET", `+jsQuote(href)+`, false); x.send();
		return x.status + " " + x.getResponseHeader("Content-Type") + "\n" + x.responseText })()`)
	lines := strings.Split(strings.TrimRight(csv, "\n"), "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "200 text/csv") || !strings.HasPrefix(lines[1], "time_utc,member_email,") {
		t.Fatalf("the CSV export answered %.300q", csv)
	}
	for _, l := range lines[2:] {
		if !strings.Contains(l, ","+demoEmail+",") || !strings.Contains(l, ",Chatbot,") {
			t.Errorf("a CSV row is not the demo owner's Chatbot action: %q", l)
			break
		}
	}
	if rows := len(lines) - 2; rows < len(members) {
		t.Errorf("the CSV has %d rows; the page alone shows %d", rows, len(members))
	}
}
