package store_test

import (
	"context"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// subFixture is Acme with a clock the test moves, on each dialect.
type subFixture struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *alertClock
	org   *orgbase.Org
	op    orgbase.Access
}

var subStart = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC) // November has 30 days

func eachSub(t *testing.T, fn func(f *subFixture)) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			clk := &alertClock{now: subStart}
			db := dbtest.Open(t, d, store.Options{Now: clk.Now})
			tr := newTree(t, db)
			fn(&subFixture{t: t, ctx: context.Background(), db: db, clock: clk, org: tr.org, op: orgbase.OperatorAccess(tr.org.ID)})
			ledgerOK(t, db)
		})
	}
}

// buy opens a checkout for the plan and pays it.
func (f *subFixture) buy(kind, key string) *orgbase.Checkout {
	f.t.Helper()
	co := startCheckout(f.t, f.db, f.org, kind, key)
	f.pay(co)
	return co
}

func (f *subFixture) pay(co *orgbase.Checkout) {
	f.t.Helper()
	out, err := f.db.ApplyBillingEvent(f.ctx, paid(co, "evt_"+co.Reference))
	if err != nil || out.Status != store.OutcomePaid {
		f.t.Fatalf("pay %s: %+v, %v", co.Reference, out, err)
	}
}

func (f *subFixture) sub() *orgbase.Subscription {
	f.t.Helper()
	s, err := f.db.FindSubscription(f.ctx, f.org.ID)
	if err != nil || s == nil {
		f.t.Fatalf("subscription: %+v, %v", s, err)
	}
	return s
}

func (f *subFixture) pool() orgbase.Credits {
	f.t.Helper()
	b, err := f.db.PoolBalance(f.ctx, f.org.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

func (f *subFixture) plan() string {
	f.t.Helper()
	o, err := f.db.FindOrgBySlug(f.ctx, f.org.Slug)
	if err != nil {
		f.t.Fatal(err)
	}
	return o.Plan
}

func (f *subFixture) change(action, plan string) (*orgbase.Subscription, error) {
	return f.db.ChangeSubscription(f.ctx, f.org.ID, f.op, store.SubscriptionChange{Action: action, Plan: plan})
}

func (f *subFixture) wantCode(err error, code string) {
	f.t.Helper()
	if orgbase.ErrorCode(err) != code {
		f.t.Fatalf("error %v, want %s", err, code)
	}
}

// renew runs the renewal of the organization and, when it opens a charge,
// pays it with the given event kind.
func (f *subFixture) renew(kind billing.EventKind) *store.Renewal {
	f.t.Helper()
	r, err := f.db.RenewSubscription(f.ctx, f.org.ID, "test")
	if err != nil {
		f.t.Fatalf("renew: %v", err)
	}
	if r.Action == store.RenewalCharge && r.Checkout.Status == orgbase.CheckoutPending {
		ev := billing.Event{Provider: "test", ID: "offsession_" + r.Checkout.Reference, Kind: kind, Reference: r.Checkout.Reference,
			AmountCents: r.Checkout.AmountCents, Currency: r.Checkout.Currency, PaymentID: "tpay_x", Message: "The saved card was declined."}
		if _, err := f.db.ApplyBillingEvent(f.ctx, ev); err != nil {
			f.t.Fatalf("apply renewal: %v", err)
		}
	}
	return r
}

func TestSubscriptionCancelResumeRenew(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		end := subStart.AddDate(0, 1, 0)
		if s := f.sub(); s.Plan != orgbase.PlanPro || !s.CurrentPeriodStart.Equal(subStart) || !s.CurrentPeriodEnd.Equal(end) || !s.Renews() {
			f.t.Fatalf("after purchase: %+v", s)
		}
		// While the period runs, the plan is changed, not bought again.
		_, err := f.db.StartCheckout(f.ctx, f.org.ID, f.op, store.NewCheckout{Kind: orgbase.OfferPlan, Key: orgbase.PlanPro, Provider: "test"})
		f.wantCode(err, orgbase.ECONFLICT)
		_, err = f.db.StartCheckout(f.ctx, f.org.ID, f.op, store.NewCheckout{Kind: orgbase.OfferPlan, Key: orgbase.PlanTeams, Provider: "test"})
		f.wantCode(err, orgbase.ECONFLICT)

		// Nothing is due before the period ends.
		if r := f.renew(billing.EventCheckoutCompleted); r.Action != store.RenewalNone {
			f.t.Fatalf("renewal before the end: %+v", r)
		}
		s, err := f.change(store.ChangeCancel, "")
		if err != nil || !s.CancelAtPeriodEnd || s.Renews() {
			f.t.Fatalf("cancel: %+v, %v", s, err)
		}
		_, err = f.change(store.ChangeCancel, "")
		f.wantCode(err, orgbase.ECONFLICT)
		_, err = f.change(store.ChangeDowngrade, orgbase.PlanPro)
		f.wantCode(err, orgbase.ECONFLICT)
		_, err = f.db.PreviewUpgrade(f.ctx, f.org.ID, orgbase.PlanTeams)
		f.wantCode(err, orgbase.ECONFLICT)
		if s, err = f.change(store.ChangeResume, ""); err != nil || s.CancelAtPeriodEnd || !s.Renews() {
			f.t.Fatalf("resume: %+v, %v", s, err)
		}
		_, err = f.change(store.ChangeResume, "")
		f.wantCode(err, orgbase.ECONFLICT)
		_, err = f.change("explode", "")
		f.wantCode(err, orgbase.EINVALID)

		// The period ends: one renewal, however often the job asks.
		f.clock.Set(end.Add(time.Minute))
		r, err := f.db.RenewSubscription(f.ctx, f.org.ID, "test")
		if err != nil || r.Action != store.RenewalCharge || !r.Created || r.Checkout.Reference != store.RenewalReference(f.org.ID, end) ||
			r.Checkout.Purpose != orgbase.PurposeRenewal || r.Checkout.AmountCents != 4_900 {
			f.t.Fatalf("renewal: %+v, %v", r, err)
		}
		again, err := f.db.RenewSubscription(f.ctx, f.org.ID, "test")
		if err != nil || again.Created || again.Checkout.Reference != r.Checkout.Reference {
			f.t.Fatalf("second renewal call: %+v, %v", again, err)
		}
		// A subscription of another provider is left alone.
		if other, err := f.db.RenewSubscription(f.ctx, f.org.ID, "stripe"); err != nil || other.Action != store.RenewalNone {
			f.t.Fatalf("other provider: %+v, %v", other, err)
		}
		f.renew(billing.EventCheckoutCompleted)
		if got := f.pool(); got != 100_000*credit {
			f.t.Fatalf("pool after renewal %s, want 100,000 (Pro rolls over)", got)
		}
		next := end.AddDate(0, 1, 0)
		if s := f.sub(); !s.CurrentPeriodStart.Equal(end) || !s.CurrentPeriodEnd.Equal(next) || s.Status != orgbase.SubscriptionActive {
			f.t.Fatalf("after renewal: %+v", s)
		}
		inv, err := f.db.FindInvoice(f.ctx, f.org.ID, r.Checkout.InvoiceID)
		if err != nil || inv.Number != "ACME-0002" || inv.Status != orgbase.InvoicePaid || !inv.PeriodStart.Equal(end) || !inv.PeriodEnd.Equal(next) {
			f.t.Fatalf("renewal invoice: %+v, %v", inv, err)
		}
		if r := f.renew(billing.EventCheckoutCompleted); r.Action != store.RenewalNone {
			f.t.Fatalf("renewed twice: %+v", r)
		}

		// Canceled: at the end the organization is back on Free and keeps its credits.
		if _, err := f.change(store.ChangeCancel, ""); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Set(next.Add(time.Second))
		if r := f.renew(billing.EventCheckoutCompleted); r.Action != store.RenewalEnded {
			f.t.Fatalf("end: %+v", r)
		}
		if s := f.sub(); s.Status != orgbase.SubscriptionCanceled || s.EndedAt == nil || !s.EndedAt.Equal(next) || s.Renews() {
			f.t.Fatalf("ended: %+v", s)
		}
		if f.plan() != orgbase.PlanFree || f.pool() != 100_000*credit {
			f.t.Fatalf("after the end: plan %s pool %s", f.plan(), f.pool())
		}
		_, err = f.change(store.ChangeResume, "")
		f.wantCode(err, orgbase.ECONFLICT)
		// A new purchase starts a new period.
		f.buy(orgbase.OfferPlan, orgbase.PlanTeams)
		if s := f.sub(); s.Plan != orgbase.PlanTeams || s.Status != orgbase.SubscriptionActive || s.EndedAt != nil || !s.CurrentPeriodStart.Equal(f.clock.Now()) {
			f.t.Fatalf("bought again: %+v", s)
		}
	})
}

func TestSubscriptionUpgradeProrated(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		f.clock.Set(subStart.Add(15 * 24 * time.Hour)) // half of November's 30 days
		p, err := f.db.PreviewUpgrade(f.ctx, f.org.ID, orgbase.PlanTeams)
		if err != nil || p.PriceCents != 7_500 || p.Credits != 100_000*credit {
			f.t.Fatalf("preview: %+v, %v", p, err)
		}
		_, err = f.db.PreviewUpgrade(f.ctx, f.org.ID, orgbase.PlanPro)
		f.wantCode(err, orgbase.EINVALID)
		_, err = f.db.PreviewUpgrade(f.ctx, f.org.ID, orgbase.PlanOnetime)
		f.wantCode(err, orgbase.EINVALID)
		_, err = f.db.StartUpgrade(f.ctx, f.org.ID, f.op, "nope", "test")
		f.wantCode(err, orgbase.EINVALID)

		co, err := f.db.StartUpgrade(f.ctx, f.org.ID, f.op, orgbase.PlanTeams, "test")
		if err != nil || co.AmountCents != 7_500 || co.Credits != 100_000*credit || co.Purpose != orgbase.PurposeUpgrade || co.Key != orgbase.PlanTeams {
			f.t.Fatalf("upgrade checkout: %+v, %v", co, err)
		}
		if f.plan() != orgbase.PlanPro {
			f.t.Fatal("the plan changed before the upgrade was paid")
		}
		f.pay(co)
		end := subStart.AddDate(0, 1, 0)
		if s := f.sub(); s.Plan != orgbase.PlanTeams || !s.CurrentPeriodStart.Equal(subStart) || !s.CurrentPeriodEnd.Equal(end) {
			f.t.Fatalf("after upgrade: %+v", s)
		}
		if f.plan() != orgbase.PlanTeams || f.pool() != 150_000*credit {
			f.t.Fatalf("after upgrade: plan %s pool %s", f.plan(), f.pool())
		}
		// The renewal is at the new plan's price.
		f.clock.Set(end)
		r := f.renew(billing.EventCheckoutCompleted)
		if r.Action != store.RenewalCharge || r.Checkout.AmountCents != 19_900 || f.pool() != 400_000*credit {
			f.t.Fatalf("renewal after upgrade: %+v, pool %s", r.Checkout, f.pool())
		}
		// No upgrade without a running subscription.
		if _, err := f.change(store.ChangeCancel, ""); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Set(end.AddDate(0, 1, 0))
		f.renew(billing.EventCheckoutCompleted)
		_, err = f.db.StartUpgrade(f.ctx, f.org.ID, f.op, orgbase.PlanTeams, "test")
		f.wantCode(err, orgbase.ECONFLICT)
	})
}

func TestSubscriptionDowngradeAtPeriodEnd(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanTeams)
		_, err := f.change(store.ChangeDowngrade, orgbase.PlanTeams)
		f.wantCode(err, orgbase.EINVALID)
		_, err = f.change(store.ChangeDowngrade, orgbase.PlanOnetime)
		f.wantCode(err, orgbase.EINVALID)
		_, err = f.change(store.ChangeKeepPlan, "")
		f.wantCode(err, orgbase.ECONFLICT)
		s, err := f.change(store.ChangeDowngrade, orgbase.PlanPro)
		if err != nil || s.NextPlan != orgbase.PlanPro || s.Plan != orgbase.PlanTeams {
			f.t.Fatalf("downgrade: %+v, %v", s, err)
		}
		if s, err := f.change(store.ChangeKeepPlan, ""); err != nil || s.NextPlan != "" {
			f.t.Fatalf("keep: %+v, %v", s, err)
		}
		if _, err := f.change(store.ChangeDowngrade, orgbase.PlanPro); err != nil {
			f.t.Fatal(err)
		}
		f.clock.Set(subStart.AddDate(0, 1, 0))
		r := f.renew(billing.EventCheckoutCompleted)
		if r.Action != store.RenewalCharge || r.Checkout.AmountCents != 4_900 || r.Checkout.Key != orgbase.PlanPro {
			f.t.Fatalf("renewal: %+v", r.Checkout)
		}
		if s := f.sub(); s.Plan != orgbase.PlanPro || s.NextPlan != "" || f.plan() != orgbase.PlanPro || f.pool() != 300_000*credit {
			f.t.Fatalf("after downgrade: %+v plan %s pool %s", s, f.plan(), f.pool())
		}
	})
}

func TestSubscriptionRenewalDeclined(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		f.clock.Set(subStart.AddDate(0, 1, 0))
		r := f.renew(billing.EventPaymentFailed)
		if r.Action != store.RenewalCharge {
			f.t.Fatalf("renewal: %+v", r)
		}
		if s := f.sub(); s.Status != orgbase.SubscriptionPastDue || s.Renews() {
			f.t.Fatalf("after a decline: %+v", s)
		}
		inv, err := f.db.FindInvoice(f.ctx, f.org.ID, r.Checkout.InvoiceID)
		if err != nil || inv.Status != orgbase.InvoiceFailed || inv.FailureMessage == "" {
			f.t.Fatalf("invoice: %+v, %v", inv, err)
		}
		if f.pool() != 50_000*credit {
			f.t.Fatalf("a declined renewal granted credits: pool %s", f.pool())
		}
		if again := f.renew(billing.EventCheckoutCompleted); again.Action != store.RenewalNone {
			f.t.Fatalf("past due renewed again: %+v", again)
		}
		// Paying in the browser starts a new period.
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		if s := f.sub(); s.Status != orgbase.SubscriptionActive || f.pool() != 100_000*credit {
			f.t.Fatalf("paid after past due: %+v pool %s", s, f.pool())
		}
	})
}

func TestOnetimeExpiryToCreditBank(t *testing.T) {
	eachSub(t, func(f *subFixture) {
		f.buy(orgbase.OfferPlan, orgbase.PlanOnetime)
		if _, err := f.db.GrantCredits(f.ctx, f.org.ID, 5_000*credit, "goodwill", "goodwill-1"); err != nil {
			f.t.Fatal(err)
		}
		// Cancel means nothing for a purchase that does not renew.
		_, err := f.change(store.ChangeCancel, "")
		f.wantCode(err, orgbase.ECONFLICT)
		end := subStart.AddDate(0, 6, 0)
		if s := f.sub(); !s.CurrentPeriodEnd.Equal(end) || s.Renews() {
			f.t.Fatalf("onetime: %+v", s)
		}
		f.clock.Set(end)
		r := f.renew(billing.EventCheckoutCompleted)
		if r.Action != store.RenewalExpired || r.Banked != 100_000*credit {
			f.t.Fatalf("expiry: %+v", r)
		}
		bank := func() orgbase.Credits {
			accts, err := f.db.FindAccounts(f.ctx, f.org.ID)
			if err != nil {
				f.t.Fatal(err)
			}
			for _, a := range accts {
				if a.Kind == orgbase.AccountBank {
					return a.Balance
				}
			}
			f.t.Fatal("no bank account")
			return 0
		}
		if f.pool() != 5_000*credit || bank() != 100_000*credit || f.plan() != orgbase.PlanFree {
			f.t.Fatalf("after expiry: pool %s bank %s plan %s", f.pool(), bank(), f.plan())
		}
		if s := f.sub(); s.Status != orgbase.SubscriptionCanceled {
			f.t.Fatalf("expired subscription: %+v", s)
		}
		if again := f.renew(billing.EventCheckoutCompleted); again.Action != store.RenewalNone {
			f.t.Fatalf("expired twice: %+v", again)
		}
		// A top-up does not release the bank; the next plan purchase does.
		f.buy(orgbase.OfferTopUp, "pack-10k")
		if bank() != 100_000*credit {
			f.t.Fatal("a top-up released the bank")
		}
		f.buy(orgbase.OfferPlan, orgbase.PlanPro)
		if f.pool() != (5_000+10_000+50_000+100_000)*credit || bank() != 0 {
			f.t.Fatalf("after the next plan: pool %s bank %s", f.pool(), bank())
		}
	})
}
