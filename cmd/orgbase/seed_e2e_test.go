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

	b.navigate("/orgs/" + demoOrgSlug + "/audit")
	b.page("audit")
}
