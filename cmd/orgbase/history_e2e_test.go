package main

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestHistoryE2E: the owner opens the History tab of an organization with
// 130 AI actions in a real browser, sees the newest 50, scrolls and the
// next pages load by themselves (infinite scroll), then picks a tool and
// the list updates in place with the filter in the address bar. SQLite
// only: the store and web tests cover PostgreSQL. Screenshots (1280 px and
// a 390 px phone) go to test-artifacts/e2e/history.
func TestHistoryE2E(t *testing.T) {
	chromium := findBrowser(t)
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	srv := startServer(t, env) // migrates and seeds the catalog (dev mode)
	acc := seedTreeAccounts(t, dbURL)

	// Usage over the last days, charged through the store at set times.
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var mu sync.Mutex
	now := time.Now().UTC().Add(-72 * time.Hour)
	db, err := store.Open(ctx, dbURL, store.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
	if err != nil {
		t.Fatal(err)
	}
	op := orgbase.OperatorAccess(acc.orgID)
	primary, err := db.FindPrimaryWorkspace(ctx, acc.orgID)
	if err != nil {
		t.Fatal(err)
	}
	clients, err := db.CreateWorkspace(ctx, acc.orgID, op, store.NewWorkspace{ParentID: primary.ID, Name: "Clients"}, orgbase.DefaultMaxDepth)
	if err != nil {
		t.Fatal(err)
	}
	acme, err := db.CreateWorkspace(ctx, acc.orgID, op, store.NewWorkspace{ParentID: clients.ID, Name: "Acme Corp website relaunch"}, orgbase.DefaultMaxDepth)
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SetGrant(ctx, acc.orgID, op, clients.ID, acc.memberID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	if _, err := db.GrantCredits(ctx, acc.orgID, 100000*orgbase.Credit, "e2e", ""); err != nil {
		t.Fatal(err)
	}
	uses := []struct {
		tool, model string
		units       int64
	}{{"chat.completion", "gpt-4.1-nano", 12}, {"image.generate", "flux-dev", 2}, {"chat.completion", "gpt-4.1", 3}, {"speech.generate", "default", 1}, {"kb.upload", "default", 40}}
	for i := range 130 {
		mu.Lock()
		now = now.Add(31 * time.Minute)
		mu.Unlock()
		u := uses[i%len(uses)]
		ws, user := []*orgbase.Workspace{primary, clients, acme}[i%3], acc.ownerID
		if i%2 == 1 && ws.ID != primary.ID {
			user = acc.memberID
		}
		if _, err := db.Charge(ctx, acc.orgID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: user, Tool: u.tool, Model: u.model, Units: u.units,
			IdempotencyKey: fmt.Sprintf("e2e-%03d", i)}); err != nil {
			t.Fatalf("charge %d: %v", i, err)
		}
	}
	db.Close()

	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "history"))
	u := &treeUI{b: b, slug: acc.slug}
	u.login(acc.ownerEmail)
	b.click(`[data-testid="nav-history"]`)
	b.waitFor("the History tab", `location.pathname.endsWith("/history") && document.readyState === "complete" && !!document.querySelector('[data-testid="history-table"]')`)
	if n := b.count(`[data-testid="history-row"]`); n != 50 {
		t.Fatalf("the first page shows %d rows, want 50", n)
	}
	b.page("history")

	// Scrolling to the end loads the next pages by themselves.
	evalJS[bool](b, `(() => { document.querySelector('[data-testid="history-more"]').scrollIntoView(); return true })()`)
	b.waitFor("the second page", `document.querySelectorAll('[data-testid="history-row"]').length >= 100`)
	evalJS[bool](b, `(() => { document.querySelector('[data-testid="history-more"]').scrollIntoView(); return true })()`)
	b.waitFor("every row", `document.querySelectorAll('[data-testid="history-row"]').length === 130 && !document.querySelector('[data-testid="history-more"]')`)
	b.checkConsole("history-scrolled")

	// A filter updates the list in place and lands in the address bar.
	evalJS[bool](b, `(() => { const s = document.querySelector('#tool'); s.value = 'image.generate'; return s.dispatchEvent(new Event('change', {bubbles: true})) })()`)
	b.waitFor("the filtered list", `location.search.includes("tool=image.generate") && document.querySelectorAll('[data-testid="history-row"]').length === 26`)
	for _, tool := range strings.Split(b.textContent(`[data-testid="history-table"] tbody`), "\n") {
		if strings.Contains(tool, "Chat") {
			t.Fatalf("the image filter still shows chat rows")
		}
	}
	b.screenshot("history-filtered")

	// A phone (390 px): the table scrolls inside its card, the page does not.
	b.navigate(u.orgPath("/history"))
	b.do("emulate a 390 px phone", chromedp.EmulateViewport(390, 844, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulateScale(2)), chromedp.Reload())
	b.page("history-390")
	if w := evalJS[int](b, "document.documentElement.scrollWidth"); w > 390 {
		t.Errorf("the page is %dpx wide on a 390px phone: it scrolls sideways", w)
	}
}
