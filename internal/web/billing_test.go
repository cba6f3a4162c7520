package web_test

import (
	"bytes"
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/web"
)

// checkoutPath follows a checkout redirect to the test provider's card
// page and returns its path.
func checkoutPath(t *testing.T, r *resp, slug string) string {
	t.Helper()
	r.wantStatus(http.StatusSeeOther)
	u, err := url.Parse(r.header.Get("Location"))
	if err != nil || !strings.HasPrefix(u.Path, "/orgs/"+slug+"/billing/checkout/co_") {
		t.Fatalf("%s: Location %q, want the card page", r.req, r.header.Get("Location"))
	}
	return u.Path
}

func card(number string) url.Values {
	return url.Values{"name": {"Olga Owner"}, "number": {number}, "expiry": {"12/40"}, "cvc": {"123"}}
}

func TestBillingTab(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		owner.createOrg("Acme", "acme")
		org := e.org(t, "acme", "olga@example.com")
		bill := e.newUser(t, "Bill Billing", "bill@example.com")
		member := e.newUser(t, "Mia Member", "mia@example.com")
		e.addMember(t, org.ID, e.user(t, "bill@example.com").ID, orgbase.RoleBilling)
		e.addMember(t, org.ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)

		t.Run("PagePerRole", func(t *testing.T) {
			r := owner.in(t).get("/orgs/acme/billing")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="nav-billing"][aria-current="page"]`)
			r.wantElement(`[data-testid="test-mode"]`)
			if got := r.text(`[data-testid="current-plan-name"]`); got != "Free" {
				t.Errorf("current plan %q, want Free", got)
			}
			r.wantElement(`[data-testid="plan-card"][data-plan="free"] [data-testid="current-plan-badge"]`)
			if got := r.text(`[data-plan="free"]`); !strings.Contains(got, "1,000 trial credits, once") {
				t.Errorf("free card %q, want it to promise 1,000 trial credits, once", got)
			}
			// Created on Free: the trial credits are in the pool.
			if got := r.text(`[data-testid="pool-balance"]`); got != "1,000 credits" {
				t.Errorf("pool %q, want the 1,000 trial credits", got)
			}
			if n := r.find(`[data-testid="plan-card"]`).Length(); n != 5 {
				t.Errorf("%d plan cards, want 5", n)
			}
			r.wantElement(`[data-plan="pro"] [data-testid="buy-pro"]`)
			r.wantNoElement(`[data-plan="free"] button`)
			r.wantNoElement(`[data-plan="enterprise"] button`)
			if !strings.Contains(r.text(`[data-plan="enterprise"]`), "Contact us") {
				t.Errorf("enterprise card %q, want Contact us", r.text(`[data-plan="enterprise"]`))
			}
			if n := r.find(`[data-testid="pack"] button`).Length(); n != 3 {
				t.Errorf("%d pack buttons, want 3", n)
			}
			r.wantElement(`[data-testid="invoices"] [data-testid="empty-state"]`)

			bill.in(t).get("/orgs/acme/billing").wantStatus(http.StatusOK)
			mr := member.in(t).get("/orgs/acme/billing")
			mr.wantStatus(http.StatusForbidden)
			mr = member.in(t).get("/orgs/acme")
			mr.wantNoElement(`[data-testid="nav-billing"]`)
		})

		t.Run("BadInput", func(t *testing.T) {
			c := owner.in(t)
			c.get("/orgs/acme/billing")
			for _, form := range []url.Values{
				{"kind": {"plan"}, "key": {"enterprise"}},
				{"kind": {"plan"}, "key": {"free"}},
				{"kind": {"plan"}, "key": {"platinum"}},
				{"kind": {"top_up"}, "key": {"pack-1"}},
				{"kind": {"gift"}, "key": {"pro"}},
				{},
			} {
				r := c.post("/orgs/acme/billing/checkout", form)
				if r.status != http.StatusUnprocessableEntity && r.status != http.StatusBadRequest {
					t.Errorf("checkout %v: status %d, want 4xx", form, r.status)
				}
			}
			for _, p := range []string{"/orgs/acme/billing/invoices/abc", "/orgs/acme/billing/invoices/-1", "/orgs/acme/billing/invoices/999999",
				"/orgs/acme/billing/invoices/999999/pdf", "/orgs/acme/billing/checkout/co_nope"} {
				if r := c.get(p); r.status != http.StatusNotFound {
					t.Errorf("GET %s: %d, want 404", p, r.status)
				}
			}
		})

		t.Run("BuyPlanPayAndDownload", func(t *testing.T) {
			c := bill.in(t)
			c.get("/orgs/acme/billing")
			page := checkoutPath(t, c.post("/orgs/acme/billing/checkout", url.Values{"kind": {"plan"}, "key": {"pro"}, "price": {"1"}}), "acme")
			r := c.get(page)
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="test-mode"]`)
			if got := r.text(`[data-testid="checkout-total"]`); got != "$49.00" {
				t.Errorf("checkout total %q, want $49.00 (a posted price is ignored)", got)
			}
			if !strings.Contains(r.text(`[data-testid="test-cards"]`), "4000 0000 0000 0002") {
				t.Error("the card page does not document the decline number")
			}
			// Field errors keep what was typed.
			r = c.post(page, url.Values{"number": {"4242 4242 4242 4241"}, "expiry": {"13/40"}, "cvc": {"12"}, "name": {"Bill"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("number", "expiry", "cvc")
			if r.inputValue("number") != "4242 4242 4242 4241" || r.inputValue("expiry") != "13/40" || r.inputValue("name") != "Bill" {
				t.Errorf("typed values lost: %q %q %q", r.inputValue("number"), r.inputValue("expiry"), r.inputValue("name"))
			}
			// Pay.
			r = c.post(page, card("4242 4242 4242 4242"))
			r.wantStatus(http.StatusSeeOther)
			inv := r.header.Get("Location")
			if !strings.HasPrefix(inv, "/orgs/acme/billing/invoices/") {
				t.Fatalf("after paying: Location %q, want the invoice", inv)
			}
			r = c.get(inv)
			r.wantStatus(http.StatusOK)
			if !strings.Contains(r.body, "Payment received: 50,000 credits") {
				t.Error("no success message on the invoice")
			}
			if got := r.attr(`[data-testid="invoice"] [data-testid="invoice-status"]`, "data-status"); got != "paid" {
				t.Errorf("invoice status %q, want paid", got)
			}
			if got := r.text(`[data-testid="invoice-total"]`); got != "$49.00" {
				t.Errorf("invoice total %q", got)
			}
			// The receipt went to the billing email (the creator's), linking to the invoice.
			receipts := billingMails(t, e, "olga@example.com", "receipt")
			if len(receipts) != 1 || receipts[0].Subject != "Acme: receipt for invoice ACME-0001" {
				t.Fatalf("%d receipts to the billing email, want one for ACME-0001", len(receipts))
			}
			for _, want := range []string{"$49.00", "Pro plan, 50,000 credits every month", "50,000 credits were added", "http://example.test" + inv} {
				if !strings.Contains(receipts[0].Text, want) || !strings.Contains(receipts[0].HTML, want) {
					t.Errorf("the receipt lacks %q:\n%s", want, receipts[0].Text)
				}
			}
			// Paying again is refused politely and grants nothing more, and sends no second receipt.
			c.get(page)
			r = c.post(page, card("4242424242424242"))
			r.wantRedirect(inv)
			if n := len(billingMails(t, e, "olga@example.com", "receipt")); n != 1 {
				t.Errorf("%d receipts after paying again, want 1", n)
			}
			if b, _ := e.db.PoolBalance(ctx, org.ID); b != 51_000*orgbase.Credit {
				t.Fatalf("pool %s, want 51,000 (the trial's 1,000 and Pro's 50,000)", b)
			}
			r = c.get("/orgs/acme/billing")
			if got := r.text(`[data-testid="current-plan-name"]`); got != "Pro" {
				t.Errorf("current plan %q, want Pro", got)
			}
			if got := r.text(`[data-testid="card-on-file"]`); got != "Visa ending 4242" {
				t.Errorf("card on file %q", got)
			}
			if got := r.text(`[data-testid="pool-balance"]`); got != "51,000 credits" {
				t.Errorf("pool %q", got)
			}
			if n := r.find(`[data-testid="invoice-row"]`).Length(); n != 1 {
				t.Errorf("%d invoice rows, want 1", n)
			}
			// The PDF.
			r = c.get(inv + "/pdf")
			r.wantStatus(http.StatusOK)
			if ct := r.header.Get("Content-Type"); ct != "application/pdf" {
				t.Errorf("content type %q", ct)
			}
			if !strings.HasPrefix(r.body, "%PDF-") {
				t.Fatal("not a PDF")
			}
			for _, want := range []string{"Invoice ACME-0001", "Acme", "olga@example.com", "Pro plan, 50,000 credits every month", "$49.00", "Status: Paid", "Period"} {
				if !strings.Contains(r.body, "("+want) && !strings.Contains(r.body, want) {
					t.Errorf("the PDF does not contain %q", want)
				}
			}
			// The member and another organization's owner see none of it.
			if r := member.in(t).get(inv); r.status != http.StatusForbidden {
				t.Errorf("member on the invoice: %d", r.status)
			}
			other := e.newUser(t, "Zed", "zed@example.com")
			other.createOrg("Zeta", "zeta")
			if r := other.in(t).get(strings.Replace(inv, "/acme/", "/zeta/", 1)); r.status != http.StatusNotFound {
				t.Errorf("another organization's invoice: %d, want 404", r.status)
			}
			if r := other.in(t).get(strings.Replace(page, "/acme/", "/zeta/", 1)); r.status != http.StatusNotFound {
				t.Errorf("another organization's checkout: %d, want 404", r.status)
			}
		})

		t.Run("DeclinedTopUp", func(t *testing.T) {
			c := owner.in(t)
			c.get("/orgs/acme/billing")
			before, _ := e.db.PoolBalance(ctx, org.ID)
			page := checkoutPath(t, c.post("/orgs/acme/billing/checkout", url.Values{"kind": {"top_up"}, "key": {"pack-10k"}}), "acme")
			c.get(page)
			r := c.post(page, card("4000 0000 0000 0002"))
			r.wantStatus(http.StatusPaymentRequired)
			if !strings.Contains(r.text(`[role="alert"]`), "declined") {
				t.Errorf("decline message %q", r.text(`[role="alert"]`))
			}
			if r.inputValue("number") != "4000 0000 0000 0002" {
				t.Errorf("number not kept: %q", r.inputValue("number"))
			}
			if b, _ := e.db.PoolBalance(ctx, org.ID); b != before {
				t.Fatalf("pool %s after a decline, want %s", b, before)
			}
			r = c.get("/orgs/acme/billing")
			if got := r.attr(`[data-testid="invoice-row"][data-number="ACME-0002"] [data-testid="invoice-status"]`, "data-status"); got != "failed" {
				t.Errorf("declined invoice status %q", got)
			}
			// The billing email gets a notice; the owner and the billing member a notification, the member none.
			notices := billingMails(t, e, "olga@example.com", "a payment failed")
			if len(notices) != 1 || !strings.Contains(notices[0].Text, "ACME-0002") || !strings.Contains(notices[0].Text, "declined") ||
				!strings.Contains(notices[0].Text, "http://example.test/orgs/acme/billing") {
				t.Fatalf("%d payment-failed notices to the billing email, want one for ACME-0002", len(notices))
			}
			for who, cl := range map[string]*client{"owner": owner, "billing": bill} {
				n := cl.in(t).get("/orgs/acme/notifications")
				if got := notificationTitles(n); len(got) != 1 || got[0] != "A payment failed" {
					t.Errorf("%s's notifications %q, want the failed payment", who, got)
				}
				if href := n.attr(`[data-testid="notification"] [data-testid="notification-title"]`, "href"); href != "/orgs/acme/billing" {
					t.Errorf("%s's notification links to %q, want the Billing tab", who, href)
				}
			}
			if n, _ := e.db.CountUnreadNotifications(ctx, org.ID, e.user(t, "mia@example.com").ID); n != 0 {
				t.Errorf("the member has %d notifications, want none", n)
			}
			// Another card on the same checkout pays it.
			c.get(page)
			c.post(page, card("4242 4242 4242 4242")).wantStatus(http.StatusSeeOther)
			if b, _ := e.db.PoolBalance(ctx, org.ID); b != before+10_000*orgbase.Credit {
				t.Fatalf("pool %s after the top-up, want %s", b, before+10_000*orgbase.Credit)
			}
			check, err := e.db.CheckLedger(ctx)
			if err != nil || !check.OK() {
				t.Fatalf("ledger check: %+v, %v", check, err)
			}
		})

		t.Run("Subscription", func(t *testing.T) {
			c := bill.in(t)
			c.get("/orgs/acme/billing")
			// Confirmation pages (Pro is running since BuyPlanPayAndDownload).
			r := c.get("/orgs/acme/billing/subscription?action=cancel")
			r.wantStatus(http.StatusOK)
			if !strings.Contains(r.text(`[data-testid="confirm-change"] h1`), "Cancel your Pro subscription?") {
				t.Errorf("cancel confirmation %q", r.text(`[data-testid="confirm-change"] h1`))
			}
			r = c.get("/orgs/acme/billing/subscription?action=upgrade&plan=teams")
			r.wantStatus(http.StatusOK)
			if r.text(`[data-testid="proration-price"]`) == "" {
				t.Error("no prorated price on the upgrade confirmation")
			}
			// A downgrade to a plan that is no cheaper, an unknown action, resume (a POST only): back to the tab with a message.
			for _, q := range []string{"action=downgrade&plan=teams", "action=explode", "action=upgrade&plan=pro", "action=resume", ""} {
				if r := c.get("/orgs/acme/billing/subscription?" + q); r.status != http.StatusSeeOther && r.status != http.StatusUnprocessableEntity {
					t.Errorf("confirm %s: %d", q, r.status)
				}
			}
			r = c.post("/orgs/acme/billing/subscription", url.Values{"action": {"cancel"}})
			r.wantRedirect("/orgs/acme/billing")
			r = c.get("/orgs/acme/billing")
			if got := r.attr(`[data-testid="subscription-status"] > div`, "data-state"); got != "canceled" {
				t.Errorf("after cancel: state %q", got)
			}
			if !strings.Contains(r.body, "subscription ends on") {
				t.Error("no message after cancel")
			}
			// Canceling again is a conflict shown on the tab; nothing else changes.
			r = c.post("/orgs/acme/billing/subscription", url.Values{"action": {"cancel"}})
			r.wantRedirect("/orgs/acme/billing")
			if r := c.get("/orgs/acme/billing"); !strings.Contains(r.body, "already set to end") {
				t.Error("no message for a second cancel")
			}
			r = c.post("/orgs/acme/billing/subscription", url.Values{"action": {"resume"}})
			r.wantRedirect("/orgs/acme/billing")
			if got := c.get("/orgs/acme/billing").attr(`[data-testid="subscription-status"] > div`, "data-state"); got != "renews" {
				t.Errorf("after resume: state %q", got)
			}
			for _, form := range []url.Values{{"action": {"explode"}}, {}, {"action": {"downgrade"}, "plan": {"enterprise"}}} {
				if r := c.post("/orgs/acme/billing/subscription", form); r.status != http.StatusUnprocessableEntity {
					t.Errorf("change %v: %d, want 422", form, r.status)
				}
			}
			if r := c.post("/orgs/acme/billing/upgrade", url.Values{"plan": {"nope"}}); r.status != http.StatusUnprocessableEntity {
				t.Errorf("upgrade to nope: %d, want 422", r.status)
			}
			// Buying the running plan again is refused with a message, and opens no invoice.
			invoices, _ := e.db.FindInvoices(ctx, org.ID)
			r = c.post("/orgs/acme/billing/checkout", url.Values{"kind": {"plan"}, "key": {"pro"}})
			r.wantRedirect("/orgs/acme/billing")
			if after, _ := e.db.FindInvoices(ctx, org.ID); len(after) != len(invoices) {
				t.Errorf("%d invoices after a refused purchase, want %d", len(after), len(invoices))
			}
			// The upgrade goes to the card page at the prorated price.
			page := checkoutPath(t, c.post("/orgs/acme/billing/upgrade", url.Values{"plan": {"teams"}}), "acme")
			r = c.get(page)
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="checkout-total"]`); got == "" || got == "$199.00" {
				t.Errorf("upgrade total %q, want the prorated difference", got)
			}
			// The test provider has no customer portal: said on the tab.
			c.post("/orgs/acme/billing/portal", nil).wantRedirect("/orgs/acme/billing")
			if r := c.get("/orgs/acme/billing"); !strings.Contains(r.body, "no customer portal") {
				t.Error("no message for the portal")
			}
			// Members without billing rights see none of it.
			for _, p := range []string{"/orgs/acme/billing/subscription?action=cancel"} {
				if r := member.in(t).get(p); r.status != http.StatusForbidden {
					t.Errorf("member GET %s: %d", p, r.status)
				}
			}
			m := member.in(t)
			m.get("/orgs/acme")
			if r := m.post("/orgs/acme/billing/subscription", url.Values{"action": {"cancel"}}); r.status != http.StatusForbidden {
				t.Errorf("member cancel: %d", r.status)
			}
		})
	})
}

// billingMails returns the outbox emails to addr whose subject contains about.
func billingMails(t *testing.T, e *env, addr, about string) []*orgbase.Email {
	t.Helper()
	all, err := e.db.FindEmails(context.Background(), addr, 100)
	if err != nil {
		t.Fatal(err)
	}
	var out []*orgbase.Email
	for _, m := range all {
		if strings.Contains(m.Subject, about) {
			out = append(out, m)
		}
	}
	return out
}

func TestCreateOrgWithPlan(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		c := e.newUser(t, "Olga Owner", "olga@example.com")
		r := c.get("/orgs/new")
		if got := r.attr(`input[name="plan"][checked]`, "value"); got != "free" {
			t.Errorf("default plan %q, want free", got)
		}
		r.wantNoElement(`input[name="plan"][value="enterprise"]`)
		r = c.post("/orgs/new", url.Values{"name": {"Acme"}, "slug": {"acme"}, "plan": {"enterprise"}})
		r.wantStatus(http.StatusUnprocessableEntity)
		r.wantFieldErrors("plan")
		if n := r.find(`input[name="plan"][checked]`).Length(); n != 0 {
			t.Errorf("%d plans checked after an invalid choice, want none", n)
		}
		page := checkoutPath(t, c.post("/orgs/new", url.Values{"name": {"Acme"}, "slug": {"acme"}, "plan": {"teams"}}), "acme")
		r = c.get(page)
		r.wantStatus(http.StatusOK)
		if got := r.text(`[data-testid="checkout-total"]`); got != "$199.00" {
			t.Errorf("total %q, want $199.00", got)
		}
		c.post(page, card("4242 4242 4242 4242")).wantStatus(http.StatusSeeOther)
		org := e.org(t, "acme", "olga@example.com")
		if org.Plan != orgbase.PlanTeams {
			t.Errorf("plan %q, want teams", org.Plan)
		}
		// A paid plan's credits come with its payment: no Free trial on top.
		if b, _ := e.db.PoolBalance(context.Background(), org.ID); b != 250_000*orgbase.Credit {
			t.Errorf("pool %s, want 250,000", b)
		}
		// On Free (the default), the trial credits come with the organization, once.
		c.createOrg("Bravo", "bravo")
		if got := c.get("/orgs/bravo").text(`[data-testid="toast"]`); !strings.Contains(got, "Bravo is ready with its 1,000 trial credits") {
			t.Errorf("toast %q, want it to name the trial credits", got)
		}
		bravo := e.org(t, "bravo", "olga@example.com")
		if b, _ := e.db.PoolBalance(context.Background(), bravo.ID); b != 1_000*orgbase.Credit || bravo.Plan != orgbase.PlanFree {
			t.Errorf("free org: pool %s, plan %q; want the 1,000 trial credits on free", b, bravo.Plan)
		}
		if _, err := e.db.GrantTrialCredits(context.Background(), bravo.ID); err != nil {
			t.Fatal(err)
		}
		if b, _ := e.db.PoolBalance(context.Background(), bravo.ID); b != 1_000*orgbase.Credit {
			t.Errorf("pool %s after a second trial grant, want 1,000 (once)", b)
		}
	})
}

func TestInvoicePDFText(t *testing.T) {
	inv := &orgbase.Invoice{Number: "ACME-0007", OrgName: "Acme Café", BillingEmail: "billing@acme.test", Status: orgbase.InvoiceFailed,
		Currency: "usd", TotalCents: 1_200, FailureMessage: "Your card was declined.",
		Lines: []orgbase.InvoiceLine{{Description: "Top-up: 10,000 credits", Quantity: 1, UnitCents: 1_200, AmountCents: 1_200}}}
	b, err := web.InvoicePDF(inv)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"(Invoice ACME-0007)", "(Acme Caf\xe9)", "(billing@acme.test)", "(Top-up: 10,000 credits)", "($12.00)", "(Status: Payment failed)", "(Your card was declined.)"} {
		if !bytes.Contains(b, []byte(want)) {
			t.Errorf("PDF lacks %q", want)
		}
	}
}
