package jobs

import (
	"context"
	"log/slog"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// testClock is the stores' shared clock: a fixed instant the test moves.
type testClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

var billingStart = time.Date(2026, 11, 1, 9, 0, 0, 0, time.UTC)

// billingInstances opens n stores on one fresh database of the dialect (n
// app instances), migrated once, on a shared clock.
func billingInstances(t *testing.T, dialect string, n int) ([]*store.DB, *testClock) {
	t.Helper()
	u := dbtest.URL(t, dialect)
	clk := &testClock{now: billingStart}
	dbs := make([]*store.DB, n)
	for i := range dbs {
		db, err := store.Open(context.Background(), u, store.Options{Now: clk.Now})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	if err := dbs[0].Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return dbs, clk
}

// subscribed creates an organization on plan, paid in the browser with a
// card ending last4 (saved for off-session charges).
func subscribed(t *testing.T, db *store.DB, plan, last4 string) *orgbase.Org {
	t.Helper()
	ctx := context.Background()
	owner, err := db.CreateVerifiedUser(ctx, "owner@acme.test", "Owner", "x")
	if err != nil {
		t.Fatal(err)
	}
	org, err := db.CreateOrg(ctx, owner, store.NewOrg{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	op := orgbase.OperatorAccess(org.ID)
	co, err := db.StartCheckout(ctx, org.ID, op, store.NewCheckout{Kind: orgbase.OfferPlan, Key: plan, Provider: testprovider.Name})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.SaveBillingCustomer(ctx, orgbase.BillingCustomer{OrgID: org.ID, Provider: testprovider.Name,
		CustomerID: testprovider.CustomerID(org.ID), CardBrand: "Visa", CardLast4: last4}); err != nil {
		t.Fatal(err)
	}
	out, err := db.ApplyBillingEvent(ctx, billing.Event{Provider: testprovider.Name, ID: "evt_first", Kind: billing.EventCheckoutCompleted,
		Reference: co.Reference, AmountCents: co.AmountCents, Currency: co.Currency})
	if err != nil || out.Status != store.OutcomePaid {
		t.Fatalf("first payment: %+v, %v", out, err)
	}
	return org
}

func biller(db *store.DB) *Biller {
	base, _ := url.Parse("http://orgbase.test")
	return &Biller{DB: db, Payments: testprovider.New(base, db)}
}

type billingState struct {
	invoices []orgbase.Invoice
	pool     orgbase.Credits
	sub      *orgbase.Subscription
}

func stateOf(t *testing.T, db *store.DB, orgID int64) billingState {
	t.Helper()
	ctx := context.Background()
	var s billingState
	var err error
	if s.invoices, err = db.FindInvoices(ctx, orgID); err != nil {
		t.Fatal(err)
	}
	if s.pool, err = db.PoolBalance(ctx, orgID); err != nil {
		t.Fatal(err)
	}
	if s.sub, err = db.FindSubscription(ctx, orgID); err != nil {
		t.Fatal(err)
	}
	return s
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

// TestRenewalExactlyOnce runs the billing job for the same period from
// three app instances on one PostgreSQL database, at once and repeatedly,
// then as River periodic jobs on three running clients: each period is
// renewed once — one invoice, one grant of the plan's credits.
func TestRenewalExactlyOnce(t *testing.T) {
	dbs, clk := billingInstances(t, store.Postgres, 3)
	ctx := context.Background()
	org := subscribed(t, dbs[0], orgbase.PlanPro, "4242")
	end := billingStart.AddDate(0, 1, 0)
	clk.Set(end.Add(time.Minute))

	var wg sync.WaitGroup
	gate := make(chan struct{})
	reps := make([]BillingReport, len(dbs)*3)
	errs := make([]error, len(reps))
	for i := range reps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-gate
			reps[i], errs[i] = biller(dbs[i%len(dbs)]).Run(ctx)
		}()
	}
	close(gate)
	wg.Wait()
	renewed := 0
	for i := range reps {
		if errs[i] != nil {
			t.Fatalf("run %d: %v", i, errs[i])
		}
		renewed += reps[i].Renewed
	}
	s := stateOf(t, dbs[0], org.ID)
	if renewed != 1 || len(s.invoices) != 2 || s.pool != 100_000*orgbase.Credit {
		t.Fatalf("after concurrent runs: %d renewals reported, %d invoices, pool %s; want 1, 2, 100,000", renewed, len(s.invoices), s.pool)
	}
	inv := s.invoices[0]
	if inv.Status != orgbase.InvoicePaid || !inv.PeriodStart.Equal(end) || inv.TotalCents != 4_900 || inv.PaymentRef == "" {
		t.Fatalf("renewal invoice: %+v", inv)
	}
	if !s.sub.CurrentPeriodStart.Equal(end) || !s.sub.CurrentPeriodEnd.Equal(end.AddDate(0, 1, 0)) {
		t.Fatalf("subscription: %+v", s.sub)
	}
	ledgerOK(t, dbs[0])

	// The next period, through River: three running clients, the periodic
	// job inserted by the elected leader every second.
	next := end.AddDate(0, 1, 0)
	clk.Set(next.Add(time.Minute))
	for _, db := range dbs {
		r, err := New(db, nil, Options{
			Logger:            slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
			Payments:          biller(db).Payments,
			BillingInterval:   time.Second,
			FetchPollInterval: 50 * time.Millisecond,
			StopTimeout:       5 * time.Second,
			testOnly:          true,
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Start(ctx); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if err := r.Stop(ctx); err != nil {
				t.Errorf("stop: %v", err)
			}
		})
	}
	waitFor(t, "the River renewal", 30*time.Second, func() bool { return len(stateOf(t, dbs[1], org.ID).invoices) >= 3 })
	time.Sleep(3 * time.Second) // three more intervals: nothing more may happen
	s = stateOf(t, dbs[2], org.ID)
	if len(s.invoices) != 3 || s.pool != 150_000*orgbase.Credit || s.invoices[0].Status != orgbase.InvoicePaid || !s.sub.CurrentPeriodStart.Equal(next) {
		t.Fatalf("after River: %d invoices, pool %s, sub %+v; want 3, 150,000", len(s.invoices), s.pool, s.sub)
	}
	ledgerOK(t, dbs[0])
}

// TestRenewalDeclinedOffSession: the card that pays in the browser and
// declines off-session makes the renewal fail: nothing granted, the
// invoice failed with the reason, the subscription past due.
func TestRenewalDeclinedOffSession(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			dbs, clk := billingInstances(t, d, 1)
			db := dbs[0]
			org := subscribed(t, db, orgbase.PlanPro, testprovider.CardDeclineOffSession[12:])
			clk.Set(billingStart.AddDate(0, 1, 0))
			rep, err := biller(db).Run(context.Background())
			if err != nil || rep.Declined != 1 || rep.Renewed != 0 {
				t.Fatalf("run: %+v, %v", rep, err)
			}
			s := stateOf(t, db, org.ID)
			if s.pool != 50_000*orgbase.Credit || s.sub.Status != orgbase.SubscriptionPastDue || len(s.invoices) != 2 ||
				s.invoices[0].Status != orgbase.InvoiceFailed || s.invoices[0].FailureMessage == "" {
				t.Fatalf("after a decline: pool %s, sub %+v, invoice %+v", s.pool, s.sub, s.invoices[0])
			}
			if rep, err := biller(db).Run(context.Background()); err != nil || rep != (BillingReport{}) {
				t.Fatalf("second run: %+v, %v", rep, err)
			}
			ledgerOK(t, db)
		})
	}
}

// TestRenewalRetriedAfterCrash: a renewal opened by an instance that died
// before charging is charged by the next pass, once.
func TestRenewalRetriedAfterCrash(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			dbs, clk := billingInstances(t, d, 1)
			db := dbs[0]
			org := subscribed(t, db, orgbase.PlanPro, "4242")
			clk.Set(billingStart.AddDate(0, 1, 0))
			r, err := db.RenewSubscription(context.Background(), org.ID, testprovider.Name) // then "crash"
			if err != nil || r.Action != store.RenewalCharge || !r.Created {
				t.Fatalf("renew: %+v, %v", r, err)
			}
			clk.Set(clk.Now().Add(StaleAfter + time.Minute))
			for range 2 {
				if _, err := biller(db).Run(context.Background()); err != nil {
					t.Fatal(err)
				}
			}
			s := stateOf(t, db, org.ID)
			if len(s.invoices) != 2 || s.invoices[0].Status != orgbase.InvoicePaid || s.pool != 100_000*orgbase.Credit {
				t.Fatalf("after the retry: %d invoices, %+v, pool %s", len(s.invoices), s.invoices[0], s.pool)
			}
			ledgerOK(t, db)
		})
	}
}
