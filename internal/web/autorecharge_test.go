package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/orgbase"
)

func arForm(enabled bool, threshold, pack, limit string) url.Values {
	v := url.Values{"threshold": {threshold}, "pack": {pack}, "monthly_cap": {limit}}
	if enabled {
		v.Set("enabled", "1")
	}
	return v
}

func TestAutoRechargeCard(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		owner.createOrg("Acme", "acme")
		org := e.org(t, "acme", "olga@example.com")
		bill := e.newUser(t, "Bill Billing", "bill@example.com")
		member := e.newUser(t, "Mia Member", "mia@example.com")
		e.addMember(t, org.ID, e.user(t, "bill@example.com").ID, orgbase.RoleBilling)
		e.addMember(t, org.ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)
		const path = "/orgs/acme/billing/auto-recharge"

		t.Run("OffByDefault", func(t *testing.T) {
			r := owner.in(t).get("/orgs/acme/billing")
			r.wantStatus(http.StatusOK)
			r.wantElement(`#auto-recharge [data-testid="auto-recharge"] form[method="post"][action="` + path + `#auto-recharge"] input[name="_csrf"]`)
			if got := r.attr(`[data-testid="auto-recharge-badge"]`, "data-state"); got != "off" {
				t.Errorf("badge %q, want off", got)
			}
			if got := r.text(`[data-testid="auto-recharge-state"]`); got != "Off: no credits are bought automatically." {
				t.Errorf("state %q", got)
			}
			if !strings.Contains(r.text(`[data-testid="auto-recharge"] [data-testid="alert-info"]`), "No card is saved yet") {
				t.Error("no explanation that a card must be saved first")
			}
			if _, checked := r.find(`input[name="enabled"]`).Attr("checked"); checked {
				t.Error("the toggle is on by default")
			}
			if r.inputValue("threshold") != "5,000" || r.inputValue("monthly_cap") != "120" ||
				r.attr(`select[name="pack"] option[selected]`, "value") != "pack-10k" {
				t.Errorf("defaults %q %q %q", r.inputValue("threshold"), r.inputValue("monthly_cap"), r.attr(`select[name="pack"] option[selected]`, "value"))
			}
			// Every field has its label.
			for _, id := range []string{"enabled", "threshold", "pack", "monthly_cap"} {
				r.wantElement(`label[for="` + id + `"]`)
			}
			r.wantNoElement(`[data-testid="auto-recharge-failed"]`)
		})

		t.Run("Validation", func(t *testing.T) {
			c := owner.in(t)
			c.get("/orgs/acme/billing")
			r := c.post(path, arForm(false, "lots", "pack-1", "-5"))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("threshold", "pack", "monthly_cap")
			r.wantElement(`[data-testid="auto-recharge-form"] [role="alert"]`)
			if r.inputValue("threshold") != "lots" || r.inputValue("monthly_cap") != "-5" {
				t.Errorf("typed values lost: %q %q", r.inputValue("threshold"), r.inputValue("monthly_cap"))
			}
			r.wantElement(`[data-testid="plans"]`) // the whole tab, not a fragment
			// The cap must pay for the pack.
			r = c.post(path, arForm(false, "5000", "pack-50k", "50"))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantNoFieldError("threshold")
			if msg := r.fieldError("monthly_cap"); !strings.Contains(msg, "$55.00") {
				t.Errorf("cap message %q", msg)
			}
			if got := r.attr(`select[name="pack"] option[selected]`, "value"); got != "pack-50k" {
				t.Errorf("pack %q not kept", got)
			}
			// On without a saved card.
			r = c.post(path, arForm(true, "5000", "pack-10k", "120"))
			r.wantStatus(http.StatusUnprocessableEntity)
			if msg := r.fieldError("enabled"); !strings.Contains(msg, "card") {
				t.Errorf("enabled message %q", msg)
			}
			if _, checked := r.find(`input[name="enabled"]`).Attr("checked"); !checked {
				t.Error("the toggle was not kept on")
			}
			// Garbage never gives a 500.
			for _, f := range []url.Values{
				{},
				arForm(true, strings.Repeat("9", 5000), "\xff", "\x00"),
				arForm(false, "1e9", "pack-10k", "12.345"),
				arForm(false, "99999999999", "pack-10k", "9999999999999"),
			} {
				if r := c.post(path, f); r.status != http.StatusUnprocessableEntity {
					t.Errorf("%v: %d, want 422", f, r.status)
				}
			}
			if ar, _ := e.db.FindAutoRecharge(ctx, org.ID); ar.Saved {
				t.Fatalf("a refused form saved %+v", ar)
			}
		})

		t.Run("Authz", func(t *testing.T) {
			c := member.in(t)
			c.get("/orgs/acme")
			if r := c.post(path, arForm(false, "5000", "pack-10k", "120")); r.status != http.StatusForbidden {
				t.Errorf("member: %d, want 403", r.status)
			}
			other := e.newUser(t, "Zed", "zed@example.com")
			other.createOrg("Zeta", "zeta")
			zc := other.in(t)
			zc.get("/orgs/zeta")
			if r := zc.post(path, arForm(false, "5000", "pack-10k", "120")); r.status != http.StatusNotFound {
				t.Errorf("another organization's owner: %d, want 404", r.status)
			}
			if ar, _ := e.db.FindAutoRecharge(ctx, org.ID); ar.Saved {
				t.Fatalf("a refused post saved %+v", ar)
			}
		})

		t.Run("OnThenTurnedOffByADecline", func(t *testing.T) {
			// Paying once with the card that declines off-session saves it.
			if err := e.db.SaveBillingCustomer(ctx, orgbase.BillingCustomer{OrgID: org.ID, Provider: testprovider.Name,
				CustomerID: testprovider.CustomerID(org.ID), CardBrand: "Visa", CardLast4: "0341"}); err != nil {
				t.Fatal(err)
			}
			c := bill.in(t)
			r := c.get("/orgs/acme/billing")
			if got := r.text(`[data-testid="auto-recharge-card"]`); got != "Pays with Visa ending 0341." {
				t.Errorf("card %q", got)
			}
			r = c.post(path, arForm(true, " 5,000 ", "pack-50k", "$110"))
			r.wantRedirect("/orgs/acme/billing#auto-recharge")
			r = c.get("/orgs/acme/billing")
			const state = "On: when the pool falls below 5,000 credits, buy 50,000 credits for $55.00, at most $110.00 a month; $0.00 used this month."
			if got := r.text(`[data-testid="auto-recharge-state"]`); got != state {
				t.Errorf("state %q", got)
			}
			if !strings.Contains(r.body, "Auto-recharge is on: when the pool falls below 5,000 credits") {
				t.Error("no success message")
			}
			if got := r.attr(`[data-testid="auto-recharge-badge"]`, "data-state"); got != "on" {
				t.Errorf("badge %q", got)
			}
			if r.inputValue("threshold") != "5,000" || r.inputValue("monthly_cap") != "110" {
				t.Errorf("saved values %q %q", r.inputValue("threshold"), r.inputValue("monthly_cap"))
			}
			r.wantNoElement(`[data-testid="auto-recharge"] [data-testid="alert-info"]`)
			ar, err := e.db.FindAutoRecharge(ctx, org.ID)
			if err != nil || !ar.Enabled || ar.Pack != "pack-50k" || ar.MonthlyCapCents != 11_000 || ar.Threshold != 5_000*orgbase.Credit {
				t.Fatalf("stored %+v, %v", ar, err)
			}

			// The billing job's recharge is declined off-session.
			before, _ := e.db.PoolBalance(ctx, org.ID) // the Free plan's trial credits, below the threshold
			step, err := e.db.PrepareAutoRecharge(ctx, org.ID, testprovider.Name)
			if err != nil || step.Checkout == nil {
				t.Fatalf("prepare: %+v, %v", step, err)
			}
			const why = "The saved card (ending 0341) was declined."
			if _, err := e.db.ApplyBillingEvent(ctx, billing.Event{Provider: testprovider.Name, ID: "offsession_" + step.Checkout.Reference,
				Kind: billing.EventPaymentFailed, Reference: step.Checkout.Reference, Message: why}); err != nil {
				t.Fatal(err)
			}
			r = owner.in(t).get("/orgs/acme/billing")
			r.wantStatus(http.StatusOK)
			failed := r.text(`[data-testid="auto-recharge-failed"]`)
			if !strings.Contains(failed, "Auto-recharge was turned off") || !strings.Contains(failed, "because a payment failed") || !strings.Contains(failed, why) {
				t.Errorf("failure notice %q", failed)
			}
			if got := r.attr(`[data-testid="auto-recharge-failed"]`, "role"); got != "alert" {
				t.Errorf("failure notice role %q", got)
			}
			inv := r.attr(`[data-testid="auto-recharge-failed"] a`, "href")
			if !strings.HasPrefix(inv, "/orgs/acme/billing/invoices/") {
				t.Fatalf("failed invoice link %q", inv)
			}
			if got := r.attr(`[data-testid="auto-recharge-badge"]`, "data-state"); got != "off" {
				t.Errorf("badge %q after the decline", got)
			}
			if _, checked := r.find(`input[name="enabled"]`).Attr("checked"); checked {
				t.Error("the toggle is still on after the decline")
			}
			if r := owner.in(t).get(inv); !strings.Contains(r.text(`[data-testid="invoice"] [role="alert"]`), "Auto-recharge is now off") {
				t.Errorf("invoice alert %q", r.text(`[data-testid="invoice"] [role="alert"]`))
			}
			if b, _ := e.db.PoolBalance(ctx, org.ID); b != before {
				t.Errorf("pool %s after a declined recharge, want %s", b, before)
			}
			// Turned back on: the notice goes.
			c = owner.in(t)
			c.get("/orgs/acme/billing")
			c.post(path, arForm(true, "5000", "pack-10k", "120")).wantRedirect("/orgs/acme/billing#auto-recharge")
			r = c.get("/orgs/acme/billing")
			r.wantNoElement(`[data-testid="auto-recharge-failed"]`)
			if got := r.attr(`[data-testid="auto-recharge-badge"]`, "data-state"); got != "on" {
				t.Errorf("badge %q after turning it back on", got)
			}
			// And off again.
			c.post(path, arForm(false, "5000", "pack-10k", "120")).wantRedirect("/orgs/acme/billing#auto-recharge")
			r = c.get("/orgs/acme/billing")
			if !strings.Contains(r.body, "Auto-recharge is off.") || !strings.HasPrefix(r.text(`[data-testid="auto-recharge-state"]`), "Off:") {
				t.Error("turning it off did not say so")
			}
		})
	})
}
