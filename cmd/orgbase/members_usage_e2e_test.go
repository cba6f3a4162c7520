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
	"github.com/orgbase/orgbase/internal/password"
	"github.com/orgbase/orgbase/internal/store"
)

// TestMembersUsageE2E looks at the Members tab's usage columns and a
// workspace home page's usage card in a browser, with usage charged through
// the store's charging service over the last two months: the period picker
// and the sort headings swap the list with htmx and keep the URL, the row
// menu opens, and both pages are screenshot at 1280 and 390 px.
func TestMembersUsageE2E(t *testing.T) {
	chromium := findBrowser(t)
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			dbURL := dbtest.URL(t, dialect)
			srv := startServer(t, map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL})
			acc := seedUsageOrg(t, dbURL)
			b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "members-usage/"+dialect))
			u := &treeUI{b: b, slug: acc.slug}
			u.login(acc.ownerEmail)

			// Members tab: this month, by name.
			b.navigate(u.orgPath("/members"))
			b.page("members-month")
			b.wantText(`#member-`+fmt.Sprint(acc.topID)+` [data-testid="member-used-total"]`, acc.topMonth)
			b.mobileScreenshot("members-month")

			// All time, sorted by total: the list swaps in place, the URL follows.
			u.markPage()
			choose(b, "m-period", "all")
			b.waitFor("the all-time list", `location.search.includes("period=all")`)
			b.click(`[data-testid="sort-total"]`)
			b.waitFor("the list sorted by total", `location.search.includes("sort=total") && document.querySelector('th[aria-sort="descending"] [data-testid="sort-total"]') !== null`)
			u.wantNoReload("changing the period and the sort")
			first := evalJS[string](b, `document.querySelector('[data-testid="member-row"]').dataset.email`)
			if first != acc.oldEmail {
				t.Errorf("first by all-time total = %s, want %s (the big spender of last month)", first, acc.oldEmail)
			}
			b.click(`#member-` + fmt.Sprint(acc.topID) + ` [data-testid="member-menu"]`)
			b.do("wait for the row menu", chromedp.WaitVisible(chromedp.CSS(`#member-`+fmt.Sprint(acc.topID)+` [data-testid="member-suspend"]`)))
			b.page("members-all-by-total")
			// Reloading keeps the period and sort (they live in the URL).
			b.navigate(strings.TrimPrefix(b.location(), srv.URL))
			if got := b.value(`#m-period`); got != "all" {
				t.Errorf("after reload the period is %q, want all", got)
			}
			b.mobileScreenshot("members-all-by-total")

			// A workspace's home page: its usage, and its children's.
			b.navigate(u.orgPath(fmt.Sprintf("/workspaces/%d", acc.clientsID)))
			b.page("workspace-home")
			b.wantText(`[data-testid="ws-home-total"]`, acc.clientsMonth)
			u.markPage()
			choose(b, "ws-home-period", "all")
			b.waitFor("the all-time card", `location.search.includes("period=all") && document.querySelector('[data-testid="ws-home-total"]').textContent.trim() === `+jsString(acc.clientsAll))
			u.wantNoReload("changing the workspace page's period")
			b.page("workspace-home-all")
			b.mobileScreenshot("workspace-home-all")
		})
	}
}

// choose picks a value of a select as a person does (a change event).
func choose(b *browser, id, value string) {
	b.t.Helper()
	evalJS[bool](b, fmt.Sprintf(`(function(){ const s = document.getElementById(%s); s.value = %s; return s.dispatchEvent(new Event("change", {bubbles: true})); })()`, jsString(id), jsString(value)))
}

type usageOrg struct {
	slug, ownerEmail, oldEmail string
	topID, clientsID           int64
	// What the store reports, formatted: the top spender's total this
	// month, and Clients' this month and all time.
	topMonth, clientsMonth, clientsAll string
}

// seedUsageOrg creates an agency with 40 members in a few workspaces and
// charges their usage over this month and the previous one.
func seedUsageOrg(t *testing.T, dbURL string) usageOrg {
	t.Helper()
	ctx := context.Background()
	var mu sync.Mutex
	now := time.Now().UTC()
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	db, err := store.Open(ctx, dbURL, store.Options{Now: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	hash, err := password.Hash(treePassword)
	if err != nil {
		t.Fatal(err)
	}
	a := usageOrg{slug: "northwind", ownerEmail: "olivia@example.com"}
	ownerID, err := db.CreateVerifiedUser(ctx, a.ownerEmail, "Olivia Owner", hash)
	if err != nil {
		t.Fatal(err)
	}
	org, err := db.CreateOrg(ctx, ownerID, store.NewOrg{Name: "Northwind Agency", Slug: a.slug, CompanySize: "11-50", CreatorFunction: "Engineering", BillingEmail: a.ownerEmail})
	if err != nil {
		t.Fatal(err)
	}
	op := orgbase.OperatorAccess(org.ID)
	root, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(parent int64, name string) *orgbase.Workspace {
		ws, err := db.CreateWorkspace(ctx, org.ID, op, store.NewWorkspace{ParentID: parent, Name: name}, orgbase.DefaultMaxDepth)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	clients := mk(root.ID, "Clients")
	acme := mk(clients.ID, "Acme Corporation — Brand refresh")
	globex := mk(clients.ID, "Globex")
	internal := mk(root.ID, "Internal")
	a.clientsID = clients.ID
	if _, err := db.GrantCredits(ctx, org.ID, 100000*orgbase.Credit, "e2e", "e2e-grant"); err != nil {
		t.Fatal(err)
	}
	first := []string{"Ada", "Bruno", "Chiara", "Dmitri", "Elif", "Farah", "Goran", "Hana", "Ivo", "Jun"}
	last := []string{"Lovelace", "Marchetti", "Okonkwo", "Svensson"}
	spaces := []*orgbase.Workspace{acme, globex, internal}
	n := 0
	charge := func(ws *orgbase.Workspace, uid int64, tool, model string, units int64) {
		n++
		if _, err := db.Charge(ctx, org.ID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: uid, Tool: tool, Model: model, Units: units, IdempotencyKey: fmt.Sprintf("e2e-%d", n)}); err != nil {
			t.Fatalf("charge: %v", err)
		}
	}
	for i := range 40 {
		name := first[i%len(first)] + " " + last[i/len(first)]
		email := strings.ToLower(strings.ReplaceAll(name, " ", ".")) + "@example.com"
		uid, err := db.CreateVerifiedUser(ctx, email, name, hash)
		if err != nil {
			t.Fatal(err)
		}
		role := orgbase.RoleMember
		if i%13 == 0 {
			role = orgbase.RoleAdmin
		}
		if err := db.AddMember(ctx, org.ID, uid, role); err != nil {
			t.Fatal(err)
		}
		ws := spaces[i%len(spaces)]
		if err := db.SetGrant(ctx, org.ID, op, ws.ID, uid, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		if i%5 == 4 {
			continue // some use nothing
		}
		charge(ws, uid, "chat.completion", "gpt-4.1-nano", int64(i*7+3))
		if i%3 == 0 {
			charge(ws, uid, "image.generate", "imagegen-fast", int64(i+1))
		}
		switch i {
		case 1: // the biggest spender this month: 337 images on Globex
			a.topID = uid
			charge(ws, uid, "image.generate", "imagegen-fast", 337)
		case 3: // a big spender 45 days ago (on Acme, inside Clients)
			a.oldEmail = email
			mu.Lock()
			now = now.AddDate(0, 0, -45)
			mu.Unlock()
			charge(ws, uid, "image.generate", "imagegen-fast", 1000)
			mu.Lock()
			now = time.Now().UTC()
			mu.Unlock()
		}
	}
	month := orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, "month", now)
	byMember, err := db.MemberUsageByCategory(ctx, org.ID, month.From, month.To)
	if err != nil {
		t.Fatal(err)
	}
	total := func(m map[orgbase.Category]orgbase.Credits) string {
		return (m[orgbase.CategoryImageSpeech] + m[orgbase.CategoryChatbot]).String()
	}
	a.topMonth = total(byMember[a.topID])
	byWS, err := db.WorkspaceUsageByCategory(ctx, org.ID, month.From, month.To)
	if err != nil {
		t.Fatal(err)
	}
	a.clientsMonth = total(byWS[clients.ID])
	byWS, err = db.WorkspaceUsageByCategory(ctx, org.ID, orgbase.AllTimeFrom, month.To)
	if err != nil {
		t.Fatal(err)
	}
	a.clientsAll = total(byWS[clients.ID])
	return a
}
