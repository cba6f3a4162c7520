package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestOverviewE2E: four weeks of usage charged through the store (its clock
// moved back day by day), then the Overview in a real browser: the owner's
// dashboard with a drawn chart, filter changes swapped by htmx without a
// reload (period, workspace, custom range, a refused range), and a member's
// limited view. SQLite only: the store and handler tests cover PostgreSQL.
// Screenshots at 1280 and 390 px go to test-artifacts/e2e/overview.
func TestOverviewE2E(t *testing.T) {
	chromium := findBrowser(t)
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	srv := startServer(t, env) // migrates and seeds the catalog (dev mode)
	acc := seedTreeAccounts(t, dbURL)
	clientsID := chargeWeeks(t, dbURL, acc)

	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "overview"))
	u := &treeUI{b: b, slug: acc.slug}
	u.login(acc.ownerEmail)
	b.wantText("main h1", "Overview")
	b.waitFor("the chart to be drawn", `!!(window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]')))`)
	if n := evalJS[int](b, `Chart.getChart(document.querySelector('canvas[data-chart]')).data.labels.length`); n != 30 {
		t.Errorf("the chart has %d days, want 30", n)
	}
	b.page("owner")
	b.mobileScreenshot("owner")

	// A period change swaps the panel in place and pushes the URL.
	u.markPage()
	b.click(`label:has(#usage-range-7d)`)
	b.waitFor("the 7-day chart", `(function(){var c=document.querySelector('canvas[data-chart]');var ch=c&&window.Chart&&Chart.getChart(c);return !!ch&&ch.data.labels.length===7})()`)
	if !evalJS[bool](b, `window.__wsNoReload === true`) {
		t.Error("changing the period reloaded the page")
	}
	if !strings.Contains(b.location(), "range=7d") {
		t.Errorf("the address bar shows %s, want range=7d", b.location())
	}
	if n := evalJS[int](b, `Object.keys(Chart.instances).length`); n != 1 {
		t.Errorf("%d chart instances alive after a swap, want 1 (the old one destroyed)", n)
	}
	// The workspace filter.
	waitSettled(b)
	setAndChange(b, "usage-workspace", fmt.Sprint(clientsID))
	b.waitFor("the Clients filter", `location.search.indexOf('workspace=`+fmt.Sprint(clientsID)+`') >= 0 && !!document.querySelector('canvas[data-chart]')`)
	b.screenshot("owner-7d-clients")
	b.checkConsole("owner filters")
	// Custom: the day fields appear; a reversed range is refused in place.
	b.click(`label:has(#usage-range-custom)`)
	b.waitFor("the custom fields", `!!document.getElementById('usage-from') && location.search.indexOf('range=custom') >= 0`)
	waitSettled(b)
	setAndChange(b, "usage-from", "2030-01-02")
	b.waitFor("the refusal", `!!document.querySelector('[data-testid="usage-error"]')`)
	b.wantText(`[data-testid="usage-error"]`, "must not be after")
	b.screenshot("owner-custom-refused")
	for _, p := range b.problems.take() { // the browser logs the 422 it was answered; nothing else
		if !strings.Contains(p, "422") {
			t.Errorf("refused range: %s", p)
		}
	}

	u.logout()
	u.login(acc.memberEmail)
	b.waitFor("the member's chart", `!!(window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]')))`)
	if b.count(`[data-testid="top-members"]`) != 0 || b.count(`[data-testid="stat-Remaining credits"]`) != 0 {
		t.Error("a member sees the organization's totals")
	}
	b.page("member")
	b.mobileScreenshot("member")
}

// waitSettled waits until htmx is done with the last swap: no request in
// flight and the swapped-in filter form wired (a change fired earlier
// would be lost).
func waitSettled(b *browser) {
	b.t.Helper()
	b.waitFor("htmx to settle", `!document.querySelector('.htmx-request, .htmx-settling, .htmx-swapping') && !!document.querySelector('[data-testid="usage-filters"]')['htmx-internal-data']`)
}

// setAndChange sets a field's value and fires its change event, as a person
// picking a value does.
func setAndChange(b *browser, id, value string) {
	b.t.Helper()
	evalJS[bool](b, `(function(){var el=document.getElementById(`+jsQuote(id)+`);el.value=`+jsQuote(value)+`;el.dispatchEvent(new Event('change',{bubbles:true}));return true})()`)
}

// chargeWeeks builds a tree (Clients › Acme, Globex; Marketing; Research),
// grants credits, gives the member Acme Corp, and charges four weeks of usage by
// three people through the store, its clock moved to each day. It
// returns the id of Clients.
func chargeWeeks(t *testing.T, dbURL string, acc treeAccounts) (clientsID int64) {
	t.Helper()
	var mu sync.Mutex
	now := time.Now().UTC()
	real := now
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	op := orgbase.OperatorAccess(acc.orgID)
	primary, err := db.FindPrimaryWorkspace(ctx, acc.orgID)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(parent int64, name string) *orgbase.Workspace {
		ws, err := db.CreateWorkspace(ctx, acc.orgID, op, store.NewWorkspace{ParentID: parent, Name: name}, orgbase.DefaultMaxDepth)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	clients := mk(primary.ID, "Clients")
	acme := mk(clients.ID, "Acme Corp")
	globex := mk(clients.ID, "Globex")
	marketing := mk(primary.ID, "Marketing")
	research := mk(primary.ID, "Research")
	if err := db.SetGrant(ctx, acc.orgID, op, acme.ID, acc.memberID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GrantCredits(ctx, acc.orgID, 25000*orgbase.Credit, "Onboarding grant", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetFundingMode(ctx, acc.orgID, op, research.ID, orgbase.FundingBudget); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Transfer(ctx, acc.orgID, op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(research.ID), 3000*orgbase.Credit, orgbase.TransferMove, "", ""); err != nil {
		t.Fatal(err)
	}
	hash := "x"
	sam, err := db.CreateVerifiedUser(ctx, "sam@example.com", "Sam Designer", hash)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.AddMember(ctx, acc.orgID, sam, orgbase.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	type plan struct {
		ws          *orgbase.Workspace
		user        int64
		tool, model string
		units       int64
	}
	plans := []plan{
		{acme, acc.memberID, "image.generate", "flux-dev", 3},
		{acme, acc.memberID, "chat.completion", "gpt-4.1", 6},
		{globex, sam, "image.generate", "dall-e-3", 2},
		{marketing, sam, "image.generate", "nano-banana-2", 1},
		{marketing, acc.ownerID, "chat.completion", "gemini-2.5-pro", 3},
		{research, acc.ownerID, "chat.completion", "o4-mini", 12},
		{primary, acc.ownerID, "speech.generate", "default", 2},
	}
	n := 0
	for d := 27; d >= 0; d-- {
		mu.Lock()
		now = real.AddDate(0, 0, -d).Add(-time.Hour)
		mu.Unlock()
		for i, p := range plans {
			// A weekly rhythm with quieter weekends, different per workspace.
			day := real.AddDate(0, 0, -d)
			times := 1 + (d+i)%3
			if wd := day.Weekday(); wd == time.Saturday || wd == time.Sunday {
				times = (d + i) % 2
			}
			for k := 0; k < times; k++ {
				n++
				_, err := db.Charge(ctx, acc.orgID, orgbase.ChargeRequest{WorkspaceID: p.ws.ID, UserID: p.user, Tool: p.tool, Model: p.model,
					Units: p.units + int64((d*7+k)%4), IdempotencyKey: fmt.Sprintf("e2e-%d", n)})
				if err != nil {
					t.Fatalf("charge %d (%s in %s): %v", n, p.tool, p.ws.Name, err)
				}
			}
		}
	}
	return clients.ID
}
