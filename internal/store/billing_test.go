package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func startCheckout(t *testing.T, db *store.DB, org *orgbase.Org, kind, key string) *orgbase.Checkout {
	t.Helper()
	co, err := db.StartCheckout(context.Background(), org.ID, orgbase.OperatorAccess(org.ID), store.NewCheckout{Kind: kind, Key: key, Provider: "test"})
	if err != nil {
		t.Fatalf("StartCheckout(%s %s): %v", kind, key, err)
	}
	return co
}

func paid(co *orgbase.Checkout, id string) billing.Event {
	return billing.Event{Provider: "test", ID: id, Kind: billing.EventCheckoutCompleted, Reference: co.Reference,
		CustomerID: "tcus_1", PaymentID: "tpay_" + id, AmountCents: co.AmountCents, Currency: co.Currency}
}

func ledgerOK(t *testing.T, db *store.DB) {
	t.Helper()
	c, err := db.CheckLedger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !c.OK() {
		t.Fatalf("ledger check: %v", c.Mismatches)
	}
}

func TestStartCheckoutAndPay(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		co := startCheckout(t, db, tr.org, orgbase.OfferPlan, orgbase.PlanPro)
		if co.AmountCents != 4_900 || co.Credits != 50_000*credit || co.Status != orgbase.CheckoutPending || co.Reference == "" {
			t.Fatalf("checkout %+v", co)
		}
		inv, err := db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		if err != nil {
			t.Fatal(err)
		}
		if inv.Number != "ACME-0001" || inv.Status != orgbase.InvoiceOpen || inv.TotalCents != 4_900 || len(inv.Lines) != 1 ||
			inv.Lines[0].AmountCents != 4_900 || inv.OrgName != "Acme" || !inv.PeriodEnd.Equal(inv.PeriodStart.AddDate(0, 1, 0)) {
			t.Fatalf("invoice %+v", inv)
		}
		if err := db.SetCheckoutSession(ctx, tr.org.ID, co.Reference, "sess_1"); err != nil {
			t.Fatal(err)
		}

		out, err := db.ApplyBillingEvent(ctx, paid(co, "evt_1"))
		if err != nil {
			t.Fatal(err)
		}
		if out.Status != store.OutcomePaid || out.Replayed || out.OrgID != tr.org.ID || out.InvoiceID != co.InvoiceID {
			t.Fatalf("outcome %+v", out)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 50_000*credit {
			t.Fatalf("pool %s, want 50,000", b)
		}
		// Replays, by the same event or another for the same checkout, grant nothing.
		again, err := db.ApplyBillingEvent(ctx, paid(co, "evt_1"))
		if err != nil || !again.Replayed || again.Status != store.OutcomePaid || again.InvoiceID != co.InvoiceID {
			t.Fatalf("replay: %+v, %v", again, err)
		}
		if other, err := db.ApplyBillingEvent(ctx, paid(co, "evt_2")); err != nil || other.Status != store.OutcomePaid {
			t.Fatalf("second event: %+v, %v", other, err)
		}
		// A failure after the payment does not undo it.
		if f, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: "test", ID: "evt_3", Kind: billing.EventPaymentFailed, Reference: co.Reference}); err != nil || f.Status != store.OutcomeIgnored {
			t.Fatalf("late failure: %+v, %v", f, err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 50_000*credit {
			t.Fatalf("pool %s after replays, want 50,000", b)
		}
		inv, _ = db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		if inv.Status != orgbase.InvoicePaid || inv.PaidAt == nil || inv.PaymentRef != "tpay_evt_1" {
			t.Fatalf("paid invoice %+v", inv)
		}
		org, _, err := db.FindOrgForMember(ctx, "acme", tr.owner.ID)
		if err != nil || org.Plan != orgbase.PlanPro {
			t.Fatalf("plan %q, %v", org.Plan, err)
		}
		sub, err := db.FindSubscription(ctx, tr.org.ID)
		if err != nil || sub == nil || sub.Plan != orgbase.PlanPro || sub.Status != orgbase.SubscriptionActive || sub.CurrentPeriodEnd == nil {
			t.Fatalf("subscription %+v, %v", sub, err)
		}
		if c, _ := db.FindBillingCustomer(ctx, tr.org.ID, "test"); c == nil || c.CustomerID != "tcus_1" {
			t.Fatalf("customer %+v", c)
		}
		// The grant is a plan_grant keyed by the checkout.
		entries, _, err := db.FindAudit(ctx, tr.org.ID, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]int{}
		for _, e := range entries {
			seen[e.Action]++
		}
		if seen["credits.plan_grant"] != 1 || seen["billing.paid"] != 1 || seen["billing.checkout"] != 1 {
			t.Fatalf("audit actions %v", seen)
		}

		// A top-up: the next number, a top_up grant, the plan unchanged.
		top := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if _, err := db.ApplyBillingEvent(ctx, paid(top, "evt_top")); err != nil {
			t.Fatal(err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 60_000*credit {
			t.Fatalf("pool %s after top-up, want 60,000", b)
		}
		list, err := db.FindInvoices(ctx, tr.org.ID)
		if err != nil || len(list) != 2 || list[0].Number != "ACME-0002" || list[1].Number != "ACME-0001" {
			t.Fatalf("invoices %+v, %v", list, err)
		}
		org, _, _ = db.FindOrgForMember(ctx, "acme", tr.owner.ID)
		if org.Plan != orgbase.PlanPro {
			t.Fatalf("a top-up changed the plan to %q", org.Plan)
		}
		ledgerOK(t, db)
	})
}

func TestCheckoutDeclined(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		co := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-50k")
		out, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: "test", ID: "evt_d", Kind: billing.EventPaymentFailed,
			Reference: co.Reference, Message: "Your card was declined."})
		if err != nil || out.Status != store.OutcomeFailed || out.Message != "Your card was declined." {
			t.Fatalf("decline: %+v, %v", out, err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 0 {
			t.Fatalf("pool %s after a decline, want 0", b)
		}
		inv, _ := db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		got, _ := db.FindCheckout(ctx, tr.org.ID, co.Reference)
		if inv.Status != orgbase.InvoiceFailed || inv.FailureMessage != "Your card was declined." || got.Status != orgbase.CheckoutFailed {
			t.Fatalf("invoice %+v, checkout %+v", inv, got)
		}
		// Paying again after a decline (another card) works once.
		if out, err := db.ApplyBillingEvent(ctx, paid(co, "evt_ok")); err != nil || out.Status != store.OutcomePaid {
			t.Fatalf("pay after decline: %+v, %v", out, err)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 50_000*credit {
			t.Fatalf("pool %s, want 50,000", b)
		}
		// A provider error before payment.
		co2 := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if err := db.FailCheckout(ctx, tr.org.ID, co2.Reference, "The payment provider is unavailable."); err != nil {
			t.Fatal(err)
		}
		if got, _ := db.FindCheckout(ctx, tr.org.ID, co2.Reference); got.Status != orgbase.CheckoutFailed {
			t.Fatalf("checkout after provider error %+v", got)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 50_000*credit {
			t.Fatalf("pool %s after a provider error, want 50,000", b)
		}
		ledgerOK(t, db)
	})
}

func TestBillingEventsThatChangeNothing(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		other := mustUser(t, db, "zed@example.com")
		zorg, err := db.CreateOrg(ctx, other.ID, store.NewOrg{Name: "Zeta", Slug: "zeta"})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.SaveBillingCustomer(ctx, orgbase.BillingCustomer{OrgID: zorg.ID, Provider: "test", CustomerID: "tcus_zeta"}); err != nil {
			t.Fatal(err)
		}
		co := startCheckout(t, db, tr.org, orgbase.OfferPlan, orgbase.PlanTeams)
		for name, ev := range map[string]billing.Event{
			"unknown reference": {Provider: "test", ID: "e1", Kind: billing.EventCheckoutCompleted, Reference: "co_nope"},
			"other provider":    {Provider: "stripe", ID: "e2", Kind: billing.EventCheckoutCompleted, Reference: co.Reference},
			"wrong amount":      {Provider: "test", ID: "e3", Kind: billing.EventCheckoutCompleted, Reference: co.Reference, AmountCents: 1},
			"wrong currency":    {Provider: "test", ID: "e4", Kind: billing.EventCheckoutCompleted, Reference: co.Reference, Currency: "eur"},
			"foreign customer":  {Provider: "test", ID: "e5", Kind: billing.EventCheckoutCompleted, Reference: co.Reference, CustomerID: "tcus_zeta"},
			"ignored kind":      {Provider: "test", ID: "e6", Kind: billing.EventIgnored, Reference: co.Reference},
		} {
			out, err := db.ApplyBillingEvent(ctx, ev)
			if err != nil || out.Status != store.OutcomeIgnored {
				t.Errorf("%s: %+v, %v", name, out, err)
			}
		}
		for _, ev := range []billing.Event{{Provider: "", ID: "x"}, {Provider: "test", ID: ""}} {
			if _, err := db.ApplyBillingEvent(ctx, ev); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Errorf("%+v: %v, want EINVALID", ev, err)
			}
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 0 {
			t.Fatalf("pool %s, want 0", b)
		}
		if got, _ := db.FindCheckout(ctx, tr.org.ID, co.Reference); got.Status != orgbase.CheckoutPending {
			t.Fatalf("checkout %+v", got)
		}
		// Another organization's checkout and invoice are not found.
		if _, err := db.FindCheckout(ctx, zorg.ID, co.Reference); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("foreign checkout: %v", err)
		}
		if _, err := db.FindInvoice(ctx, zorg.ID, co.InvoiceID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("foreign invoice: %v", err)
		}
		if err := db.FailCheckout(ctx, zorg.ID, co.Reference, "x"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("foreign fail: %v", err)
		}
	})
}

func TestStartCheckoutRefuses(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		op := orgbase.OperatorAccess(tr.org.ID)
		for _, n := range []store.NewCheckout{
			{Kind: orgbase.OfferPlan, Key: orgbase.PlanFree, Provider: "test"},
			{Kind: orgbase.OfferPlan, Key: orgbase.PlanEnterprise, Provider: "test"},
			{Kind: orgbase.OfferPlan, Key: "platinum", Provider: "test"},
			{Kind: orgbase.OfferTopUp, Key: "pack-1", Provider: "test"},
			{Kind: "gift", Key: "pro", Provider: "test"},
			{Kind: orgbase.OfferPlan, Key: orgbase.PlanPro, Provider: ""},
		} {
			if _, err := db.StartCheckout(ctx, tr.org.ID, op, n); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Errorf("%+v: %v, want EINVALID", n, err)
			}
		}
		m := mustUser(t, db, "member@example.com")
		if err := db.AddMember(ctx, tr.org.ID, m.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		_, mem, err := db.FindOrgForMember(ctx, "acme", m.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.StartCheckout(ctx, tr.org.ID, orgbase.Access{Membership: mem}, store.NewCheckout{Kind: orgbase.OfferPlan, Key: orgbase.PlanPro, Provider: "test"}); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("member: %v, want EFORBIDDEN", err)
		}
		if err := db.ChangeRole(ctx, tr.org.ID, op, m.ID, orgbase.RoleBilling); err != nil {
			t.Fatal(err)
		}
		_, mem, _ = db.FindOrgForMember(ctx, "acme", m.ID)
		if _, err := db.StartCheckout(ctx, tr.org.ID, orgbase.Access{Membership: mem}, store.NewCheckout{Kind: orgbase.OfferPlan, Key: orgbase.PlanPro, Provider: "test"}); err != nil {
			t.Errorf("billing member: %v", err)
		}
		// The refused attempts used no number.
		list, _ := db.FindInvoices(ctx, tr.org.ID)
		if len(list) != 1 || list[0].Number != "ACME-0001" {
			t.Errorf("invoices %+v", list)
		}
	})
}

// TestInvoiceNumbersConcurrent: concurrent checkouts get consecutive
// numbers without gaps or duplicates.
func TestInvoiceNumbersConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		tr := newTree(t, db)
		const n = 12
		var wg sync.WaitGroup
		errs := make(chan error, n)
		for range n {
			wg.Go(func() {
				_, err := db.StartCheckout(context.Background(), tr.org.ID, orgbase.OperatorAccess(tr.org.ID),
					store.NewCheckout{Kind: orgbase.OfferTopUp, Key: "pack-10k", Provider: "test"})
				errs <- err
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		list, err := db.FindInvoices(context.Background(), tr.org.ID)
		if err != nil || len(list) != n {
			t.Fatalf("%d invoices, %v", len(list), err)
		}
		for i, inv := range list {
			if want := fmt.Sprintf("ACME-%04d", n-i); inv.Number != want {
				t.Errorf("invoice %d is %s, want %s", i, inv.Number, want)
			}
		}
	})
}

// TestBillingEventConcurrent: the same event applied from 20 goroutines at
// once grants once (PostgreSQL: real concurrency; SQLite queues them).
func TestBillingEventConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		co := startCheckout(t, db, tr.org, orgbase.OfferPlan, orgbase.PlanPro)
		const n = 20
		var wg sync.WaitGroup
		var mu sync.Mutex
		fresh := 0
		for range n {
			wg.Go(func() {
				out, err := db.ApplyBillingEvent(ctx, paid(co, "evt_same"))
				if err != nil {
					t.Error(err)
					return
				}
				if out.Status != store.OutcomePaid {
					t.Errorf("outcome %+v", out)
				}
				if !out.Replayed {
					mu.Lock()
					fresh++
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		if fresh != 1 {
			t.Errorf("%d deliveries applied the event, want 1", fresh)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 50_000*credit {
			t.Fatalf("pool %s, want 50,000", b)
		}
		ledgerOK(t, db)
	})
}

func TestTrialCreditsOnce(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		for range 2 {
			if _, err := db.GrantTrialCredits(ctx, tr.org.ID); err != nil {
				t.Fatal(err)
			}
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 1_000*credit {
			t.Fatalf("pool %s, want 1,000", b)
		}
		if slug, err := db.FindOrgSlug(ctx, tr.org.ID); err != nil || slug != "acme" {
			t.Fatalf("slug %q, %v", slug, err)
		}
		if _, err := db.FindOrgSlug(ctx, 987654); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Fatalf("unknown org: %v", err)
		}
	})
}

// TestCreateOrgFreeTrial: an organization created on Free gets the trial
// credits in the transaction that creates it, as a plan_grant in the
// audit log, and never a second time.
func TestCreateOrgFreeTrial(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		owner := mustUser(t, db, "owner@example.com")
		org, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Acme", Slug: "acme", FreeTrial: true})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := db.PoolBalance(ctx, org.ID); b != 1_000*credit {
			t.Fatalf("pool %s, want the 1,000 trial credits", b)
		}
		if _, err := db.GrantTrialCredits(ctx, org.ID); err != nil {
			t.Fatal(err)
		}
		if b, _ := db.PoolBalance(ctx, org.ID); b != 1_000*credit {
			t.Fatalf("pool %s after a repeat, want 1,000", b)
		}
		entries, _, err := db.FindAudit(ctx, org.ID, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		var actions []string
		for _, e := range entries {
			actions = append(actions, e.Action)
		}
		if fmt.Sprint(actions) != "[credits.plan_grant organization.create]" {
			t.Fatalf("audit actions %v, want the creation and one trial grant", actions)
		}
		// Without FreeTrial (an organization created for a paid plan) the pool starts empty.
		paidOrg, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Bravo", Slug: "bravo"})
		if err != nil {
			t.Fatal(err)
		}
		if b, _ := db.PoolBalance(ctx, paidOrg.ID); b != 0 {
			t.Fatalf("pool %s without the trial, want 0", b)
		}
		// A taken slug creates nothing, grants nothing.
		if _, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Acme 2", Slug: "acme", FreeTrial: true}); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Fatalf("taken slug: %v", err)
		}
		ledgerOK(t, db)
	})
}

// TestCheckoutExpired: an expired checkout fails with a clear message,
// grants nothing and tells nobody (nobody was charged); a paid one stays
// paid; a replay changes nothing.
func TestCheckoutExpired(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		expired := func(co *orgbase.Checkout, id string) billing.Event {
			return billing.Event{Provider: "test", ID: id, Kind: billing.EventCheckoutExpired, Reference: co.Reference,
				AmountCents: co.AmountCents, Currency: co.Currency, Message: billing.CheckoutExpiredMessage}
		}
		co := startCheckout(t, db, tr.org, orgbase.OfferPlan, orgbase.PlanPro)
		out, err := db.ApplyBillingEvent(ctx, expired(co, "evt_x"))
		if err != nil || out.Status != store.OutcomeFailed || out.Message != "The checkout expired before payment." || out.InvoiceID != co.InvoiceID {
			t.Fatalf("expiry: %+v, %v", out, err)
		}
		inv, _ := db.FindInvoice(ctx, tr.org.ID, co.InvoiceID)
		got, _ := db.FindCheckout(ctx, tr.org.ID, co.Reference)
		if inv.Status != orgbase.InvoiceFailed || inv.FailureMessage != "The checkout expired before payment." ||
			got.Status != orgbase.CheckoutFailed || got.Message != "The checkout expired before payment." {
			t.Fatalf("invoice %+v, checkout %+v", inv, got)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 0 {
			t.Fatalf("pool %s, want 0", b)
		}
		if org, _, _ := db.FindOrgForMember(ctx, "acme", tr.owner.ID); org.Plan != orgbase.PlanFree {
			t.Fatalf("plan %q after an expired checkout, want free", org.Plan)
		}
		if n := len(orgEmails(t, db, tr.org.ID)); n != 0 {
			t.Errorf("%d emails after an expiry, want none", n)
		}
		if n, _ := db.CountUnreadNotifications(ctx, tr.org.ID, tr.owner.ID); n != 0 {
			t.Errorf("%d notifications after an expiry, want none", n)
		}
		entries, _, _ := db.FindAudit(ctx, tr.org.ID, store.AuditFilter{})
		if entries[0].Action != "billing.payment_failed" || !strings.Contains(entries[0].Changes, "The checkout expired before payment.") {
			t.Errorf("latest audit entry %+v, want the failure with its reason", entries[0])
		}
		// A replay changes nothing and answers as the first time.
		again, err := db.ApplyBillingEvent(ctx, expired(co, "evt_x"))
		if err != nil || !again.Replayed || again.Status != store.OutcomeFailed {
			t.Fatalf("replay: %+v, %v", again, err)
		}
		// Another expiry event of a checkout that already failed changes nothing either.
		if o, err := db.ApplyBillingEvent(ctx, expired(co, "evt_x2")); err != nil || o.Status != store.OutcomeIgnored {
			t.Fatalf("second expiry: %+v, %v", o, err)
		}
		if n, _, _ := db.FindAudit(ctx, tr.org.ID, store.AuditFilter{}); len(n) != len(entries) {
			t.Errorf("audit grew from %d to %d entries on replays", len(entries), len(n))
		}

		// A paid checkout stays paid when its session expires afterwards.
		co2 := startCheckout(t, db, tr.org, orgbase.OfferTopUp, "pack-10k")
		if _, err := db.ApplyBillingEvent(ctx, paid(co2, "evt_p")); err != nil {
			t.Fatal(err)
		}
		if o, err := db.ApplyBillingEvent(ctx, expired(co2, "evt_late")); err != nil || o.Status != store.OutcomeIgnored {
			t.Fatalf("late expiry: %+v, %v", o, err)
		}
		got, _ = db.FindCheckout(ctx, tr.org.ID, co2.Reference)
		inv, _ = db.FindInvoice(ctx, tr.org.ID, co2.InvoiceID)
		if got.Status != orgbase.CheckoutPaid || inv.Status != orgbase.InvoicePaid {
			t.Fatalf("after a late expiry: checkout %s, invoice %s; want both paid", got.Status, inv.Status)
		}
		if b, _ := db.PoolBalance(ctx, tr.org.ID); b != 10_000*credit {
			t.Fatalf("pool %s, want 10,000", b)
		}
		ledgerOK(t, db)
	})
}
