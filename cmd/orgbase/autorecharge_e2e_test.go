package main

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/jobs"
	"github.com/orgbase/orgbase/internal/store"
)

// TestAutoRechargeE2E: on the Billing tab, auto-recharge is off and
// explains that a card must be saved first (turning it on is refused with
// the message); after paying a pack with 4000 0000 0000 0341 (paid now,
// declined off-session) the owner turns it on with the keyboard; a billing
// pass declines the recharge, and the tab says prominently that a failed
// payment turned auto-recharge off, with nothing granted. SQLite only (the
// store, job and handler tests cover PostgreSQL). Screenshots at 1280 and
// 390 px go to test-artifacts/e2e/autorecharge.
func TestAutoRechargeE2E(t *testing.T) {
	chromium := findBrowser(t)
	dbURL := dbtest.URL(t, store.SQLite)
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
	srv := startServer(t, env)
	b := newBrowser(t, chromium, srv.URL, artifactsDir(t, "autorecharge"))

	b.navigate("/signup")
	b.typeInto("#name", "Ada Auto")
	b.typeInto("#email", "ada@example.com")
	b.typeInto("#password", "correct horse battery staple 42")
	b.clickAndLoad(`[data-testid="signup-submit"]`)
	b.wantPath("/orgs/new")
	b.typeInto(`[data-testid="new-org-form"] #name`, "Acme Robotics")
	b.clickAndLoad(`[data-testid="create-org"]`)

	// Off by default; no card yet.
	b.navigate("/orgs/acme-robotics/billing")
	b.wantText(`[data-testid="auto-recharge-state"]`, "Off: no credits are bought automatically.")
	b.wantText(`[data-testid="auto-recharge"] [data-testid="alert-info"]`, "No card is saved yet")
	if evalJS[bool](b, `document.querySelector('#enabled').checked`) {
		t.Error("auto-recharge is on by default")
	}
	b.page("billing-auto-recharge-off")
	elementShot(b, `[data-testid="auto-recharge"]`, "card-no-card")

	// Turning it on without a card: the field message, nothing saved.
	b.do("tick the toggle with the keyboard", chromedp.Focus(chromedp.CSS("#enabled")), chromedp.KeyEvent(" "))
	submitWithEnter(b, "#monthly_cap", 422)
	b.wantText(`[data-testid="error-enabled"]`, "none is saved yet")
	// The page comes back scrolled to the card, not to the top of the tab.
	if !evalJS[bool](b, `location.hash === "#auto-recharge" && document.querySelector("#auto-recharge").getBoundingClientRect().top < innerHeight / 2`) {
		t.Errorf("after the refused save the card is not in view (at %s)", b.location())
	}
	elementShot(b, `[data-testid="auto-recharge"]`, "card-needs-a-card")
	for _, p := range b.problems.take() { // the browser logs the 422 it was answered; nothing else
		if !strings.Contains(p, "422") {
			t.Errorf("refused save: %s", p)
		}
	}

	// Pay a pack with the card that pays now and declines off-session.
	b.navigate("/orgs/acme-robotics/billing")
	b.clickAndLoad(`[data-testid="buy-pack-10k"]`)
	pay(b, "4000 0000 0000 0341")
	b.waitFor("the invoice", `location.pathname.indexOf('/billing/invoices/') > 0`)
	b.navigate("/orgs/acme-robotics/billing")
	b.wantText(`[data-testid="auto-recharge-card"]`, "Pays with Visa ending 0341.")
	pool := b.text(`[data-testid="pool-balance"]`)

	// On, with the keyboard: below 1,000,000 credits (the pool is far
	// below), buy 10,000, at most $60 a month.
	b.do("tick the toggle with the keyboard", chromedp.Focus(chromedp.CSS("#enabled")), chromedp.KeyEvent(" "))
	b.typeInto("#threshold", "1,000,000")
	b.typeInto("#monthly_cap", "60")
	submitWithEnter(b, "#monthly_cap", 200)
	b.wantText(`[data-testid="toast"]`, "Auto-recharge is on")
	b.wantText(`[data-testid="auto-recharge-state"]`, "On: when the pool falls below 1,000,000 credits, buy 10,000 credits for $12.00, at most $60.00 a month;")
	b.page("billing-auto-recharge-on")
	elementShot(b, `[data-testid="auto-recharge"]`, "card-on")

	// A billing pass (the server's own job may run it too: either way the
	// recharge is charged once) is declined off-session.
	runBillingPass(t, dbURL, srv.URL)
	b.navigate("/orgs/acme-robotics/billing")
	b.wantText(`[data-testid="auto-recharge-failed"]`, "Auto-recharge was turned off")
	b.wantText(`[data-testid="auto-recharge-failed"]`, "because a payment failed")
	b.wantText(`[data-testid="auto-recharge-failed"]`, "The saved card (ending 0341) was declined.")
	b.wantText(`[data-testid="auto-recharge-state"]`, "Off: no credits are bought automatically.")
	b.wantText(`[data-testid="pool-balance"]`, pool)
	if evalJS[bool](b, `document.querySelector('#enabled').checked`) {
		t.Error("the toggle is still on after the decline")
	}
	b.page("billing-auto-recharge-declined")
	elementShot(b, `[data-testid="auto-recharge"]`, "card-declined")
	phoneShot(b, "billing-auto-recharge-declined")
	b.do("emulate a phone", chromedp.EmulateViewport(billingPhoneWidth, mobileHeight, chromedp.EmulateMobile, chromedp.EmulateScale(2)), chromedp.Reload())
	elementShot(b, `[data-testid="auto-recharge"]`, "card-declined-390")
	b.do("back to desktop size", chromedp.EmulateViewport(desktopWidth, desktopHeight), chromedp.Reload())

	// The failed invoice says so too.
	b.clickAndLoad(`[data-testid="auto-recharge-failed"] a`)
	b.wantText(`[data-testid="invoice"] [data-testid="invoice-status"]`, "Payment failed")
	b.wantText(`[data-testid="invoice"] [role="alert"]`, "Auto-recharge is now off")
	b.checkConsole("end")

	srv.Stop(t)
	if code, stdout, stderr := runCmd(t, env, "ledger", "check"); code != 0 {
		t.Errorf("orgbase ledger check exited %d:\n%s\n%s", code, stdout, stderr)
	}
}

// submitWithEnter presses Enter in a field of a plain form and waits for the
// page it loads, which must answer status.
func submitWithEnter(b *browser, sel string, status int64) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Focus(chromedp.CSS(sel))); err != nil {
		b.t.Fatalf("focus %s: %v", sel, err)
	}
	resp, err := chromedp.RunResponse(ctx, chromedp.KeyEvent("\r"))
	if err != nil {
		b.t.Fatalf("press Enter in %s: %v", sel, err)
	}
	if resp == nil || resp.Status != status {
		b.t.Fatalf("press Enter in %s: the page answered %v, want %d", sel, resp, status)
	}
}

// elementShot saves a screenshot of one element.
func elementShot(b *browser, sel, name string) {
	b.t.Helper()
	png := runValue(b, "screenshot "+sel, chromedp.Screenshot(chromedp.CSS(sel)))
	b.shots++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatalf("save screenshot: %v", err)
	}
	b.t.Logf("screenshot %s (%s)", file, sel)
}

// runBillingPass runs one pass of the billing job on the server's database
// (a second connection to the same SQLite file), with the test provider.
func runBillingPass(t *testing.T, dbURL, base string) {
	t.Helper()
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := (&jobs.Biller{DB: db, Payments: testprovider.New(u, db)}).Run(ctx)
	if err != nil {
		t.Fatalf("billing pass: %v", err)
	}
	t.Logf("billing pass: %+v", rep)
}
