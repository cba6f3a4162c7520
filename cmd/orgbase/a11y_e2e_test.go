package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/chromedp"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/password"
	"github.com/orgbase/orgbase/internal/store"
)

// axeSource is axe-core's browser build (npm axe-core, copied by `make
// vendor`): committed, so the test needs no Node.
const axeSource = "testdata/axe.min.js"

// axeFailImpacts are the impacts that fail the test; moderate and minor
// findings are logged.
var axeFailImpacts = []string{"critical", "serious"}

// TestAccessibilityE2E runs axe-core in a real browser on the pages of the
// demo organization (`orgbase seed --demo`: 90 days of usage, a workspace
// tree, members and limits) after a Pro plan was bought through the test provider:
// Overview, Workspaces and a workspace, Members with its invitation dialog,
// Access, History, the card page, an invoice, Billing, Audit, Prices,
// Notifications, Settings and Account; and on the pages of people not signed
// in: sign-in, sign-up and an invitation, which is also checked signed in as
// the invitee (Accept and Decline).
// Every page is checked in the light and the dark color scheme, with axe's
// default rule set (WCAG 2.0, 2.1 and 2.2 A and AA, and best practices; no
// rule is disabled). A violation of serious or critical impact fails the
// test with its rule, help and the selectors of the failing elements; the
// others are logged. Screenshots go to test-artifacts/e2e/a11y.
func TestAccessibilityE2E(t *testing.T) {
	chromium := findBrowser(t)
	axe, err := os.ReadFile(axeSource)
	if err != nil {
		t.Fatalf("read axe-core (run `make vendor` to copy it from node_modules): %v", err)
	}
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	if code, _, stderr := runCmd(t, env, "seed", "--demo", "--if-empty"); code != exitOK {
		t.Fatalf("seed --demo: exit %d; stderr: %s", code, stderr)
	}
	invite := seedA11yInvitation(t, dbURL)
	srv := startServer(t, env)
	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "a11y"))
	a := &axeRun{b: b, src: string(axe)}

	// Not signed in.
	b.navigate("/login")
	a.check("sign-in")
	b.navigate("/signup")
	a.check("sign-up")
	b.navigate("/invites/" + invite)
	b.wantText("main h1", "You are invited to join")
	a.check("invitation")

	// The invitee, signed in: Accept and Decline.
	b.navigate("/login?next=" + "/invites/" + invite)
	b.typeInto("#email", a11yInviteeEmail)
	b.typeInto("#password", a11yPassword)
	b.clickAndLoad(`[data-testid="login-submit"]`)
	b.wantPath("/invites/" + invite)
	if b.count(`[data-testid="invite-accept"]`) != 1 || b.count(`[data-testid="invite-decline"]`) != 1 {
		t.Fatalf("the invitee does not see Accept and Decline on the invitation")
	}
	a.check("invitation-accept")
	cdpCall(b, "sign out (clear the cookies)", network.ClearBrowserCookies, cdp.Empty{})

	// The demo owner, on the organization's tabs.
	org := "/orgs/" + demoOrgSlug
	b.navigate("/login")
	b.typeInto("#email", demoEmail)
	b.typeInto("#password", demoPassword)
	b.clickAndLoad(`[data-testid="login-submit"]`)
	b.wantPath(org)
	b.waitFor("the usage chart", `!!(window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]')))`)
	a.check("overview")
	b.navigate(org + "/workspaces")
	a.check("workspaces")
	ws := evalJS[string](b, `[...document.querySelectorAll('[data-testid="ws-link"]')].find(a => a.textContent.trim() === "Acme Corp").getAttribute("href")`)
	b.navigate(ws)
	a.check("workspace")
	b.navigate(org + "/members")
	a.check("members")
	b.click(`[data-testid="invite-open"]`)
	b.waitFor("the invitation dialog", modalOpen+` && !!document.querySelector('#modal-body [data-testid="invite-form"]')`)
	a.check("members-invite-dialog")
	b.navigate(org + "/access")
	a.check("access")
	b.navigate(org + "/history")
	a.check("history")

	// Billing: buy Pro through the test provider's card page, so the tab
	// shows a plan and an invoice.
	b.navigate(org + "/billing")
	b.clickAndLoad(`[data-testid="buy-pro"]`)
	a.check("checkout")
	pay(b, "4242 4242 4242 4242")
	b.waitFor("the invoice", `location.pathname.indexOf('/billing/invoices/') > 0`)
	a.check("invoice")
	b.navigate(org + "/billing")
	b.wantText(`[data-testid="current-plan-name"]`, "Pro")
	a.check("billing")

	b.navigate(org + "/audit")
	a.check("audit")
	b.navigate(org + "/prices")
	a.check("prices")
	b.navigate(org + "/notifications")
	a.check("notifications")
	b.navigate(org + "/settings")
	a.check("settings")
	b.navigate("/account")
	a.check("account")
	t.Logf("axe-core %s, %d rules: %d pages, %d checks (light and dark)", a.version, a.rules, a.pages, a.runs)
}

const (
	a11yInviteeEmail = "noor@example.com"
	a11yPassword     = "violet harbor lantern 58"
)

// seedA11yInvitation creates a person with an account and an invitation of
// the demo organization for them, and returns the invitation's link token.
func seedA11yInvitation(t *testing.T, dbURL string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatalf("open the demo database: %v", err)
	}
	defer db.Close()
	hash, err := password.Hash(a11yPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.CreateVerifiedUser(ctx, a11yInviteeEmail, "Noor Newcomer", hash); err != nil {
		t.Fatal(err)
	}
	demo, _, err := db.FindUserByEmail(ctx, demoEmail)
	if err != nil {
		t.Fatal(err)
	}
	org, _, err := db.FindOrgForMember(ctx, demoOrgSlug, demo.ID)
	if err != nil {
		t.Fatal(err)
	}
	root, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	token := "a11y-invitation-token-0123456789abcdefghij"
	sum := sha256.Sum256([]byte(token))
	if _, err := db.CreateInvitations(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.InviteBatch{
		Role: orgbase.RoleMember, ExpiresAt: time.Now().Add(7 * 24 * time.Hour),
		Grants:  []orgbase.InvitationGrant{{WorkspaceID: root.ID, Role: orgbase.WorkspaceMember}},
		Invites: []store.NewInvite{{Email: a11yInviteeEmail, TokenHash: hex.EncodeToString(sum[:])}},
	}); err != nil {
		t.Fatal(err)
	}
	return token
}

// axeRun injects axe-core into pages and reports their violations.
type axeRun struct {
	b       *browser
	src     string
	version string
	rules   int // rules the last run applied or found inapplicable
	pages   int
	runs    int
}

type axeResults struct {
	Violations []axeViolation `json:"violations"`
	Rules      int            `json:"rules"`
}

type axeViolation struct {
	ID      string `json:"id"`
	Impact  string `json:"impact"`
	Help    string `json:"help"`
	HelpURL string `json:"helpUrl"`
	Nodes   []struct {
		Target         []any  `json:"target"`
		HTML           string `json:"html"`
		FailureSummary string `json:"failureSummary"`
	} `json:"nodes"`
}

// check runs axe on the current page, light and dark, after the usual page
// checks (scripts loaded, a clean console, a screenshot).
func (a *axeRun) check(name string) {
	b := a.b
	b.t.Helper()
	a.pages++
	b.page(name)
	for _, scheme := range []string{"light", "dark"} {
		cdpCall(b, "emulate prefers-color-scheme: "+scheme, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
			Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: scheme}}})
		// Let colour transitions finish and fonts settle before measuring contrast.
		b.waitFor("fonts", `document.fonts.status === "loaded"`)
		time.Sleep(400 * time.Millisecond)
		if scheme == "dark" {
			b.screenshot(name + "-dark")
		}
		a.run(name + " (" + scheme + ")")
	}
	cdpCall(b, "stop emulating a color scheme", emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{})
}

// cdpCall sends one DevTools protocol command to the browser's tab.
func cdpCall[P, R any](b *browser, what string, cmd cdp.Command[P, R], params P) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Call(ctx, cmd, params); err != nil {
		b.t.Fatalf("%s: %v", what, err)
	}
}

func (a *axeRun) run(name string) {
	b := a.b
	b.t.Helper()
	a.runs++
	if !evalJS[bool](b, `typeof window.axe === "object"`) {
		// Evaluated through DevTools, axe is not subject to the page's CSP.
		runValue(b, "inject axe-core", chromedp.Evaluate[chromedp.Void](a.src))
	}
	a.version = evalJS[string](b, `axe.version`)
	ctx, cancel := context.WithTimeout(b.ctx, 2*stepTimeout)
	defer cancel()
	res, err := chromedp.Run(ctx, chromedp.Evaluate[axeResults](
		`axe.run(document, {resultTypes: ["violations"]}).then(r => ({violations: r.violations,
			rules: r.violations.length + r.passes.length + r.incomplete.length + r.inapplicable.length}))`, chromedp.EvalAwaitPromise))
	if err != nil {
		b.t.Fatalf("%s: run axe-core: %v (at %s)", name, err, b.location())
	}
	a.rules = res.Rules
	for _, v := range res.Violations {
		var nodes []string
		for _, n := range v.Nodes {
			sel := fmt.Sprint(n.Target...)
			summary := strings.Join(strings.Fields(n.FailureSummary), " ")
			nodes = append(nodes, fmt.Sprintf("    %s\n      %s\n      %s", sel, abbrevHTML(n.HTML), summary))
		}
		msg := fmt.Sprintf("%s (%s): axe %s [%s]: %s (%s)\n%s", name, b.path(), v.ID, v.Impact, v.Help, v.HelpURL, strings.Join(nodes, "\n"))
		if contains(axeFailImpacts, v.Impact) {
			b.t.Error(msg)
		} else {
			b.t.Log(msg)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func abbrevHTML(s string) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > 200 {
		return s[:200] + "…"
	}
	return s
}
