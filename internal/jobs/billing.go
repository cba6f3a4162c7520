package jobs

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/riverqueue/river"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// QueueBilling is the queue the billing job runs on (one worker: passes never overlap within an instance).
const QueueBilling = "billing"

// BillingIntervalDefault is how often the billing job runs.
const BillingIntervalDefault = time.Minute

// StaleAfter is how long an off-session checkout may stay pending before the
// billing job charges it again (a crash between opening and charging it).
const StaleAfter = 10 * time.Minute

// billingBatch bounds the subscriptions one pass renews.
const billingBatch = 200

// BillingArgs is the periodic billing job.
type BillingArgs struct{}

// Kind is the job's name in River's tables.
func (BillingArgs) Kind() string { return "billing" }

// InsertOpts puts the job on the billing queue; a pass that fails is not
// retried (the next one, a minute later, does the same work).
func (BillingArgs) InsertOpts() river.InsertOpts {
	return river.InsertOpts{Queue: QueueBilling, MaxAttempts: 1}
}

type billingWorker struct {
	river.WorkerDefaults[BillingArgs]
	b *Biller
}

func (w *billingWorker) Timeout(*river.Job[BillingArgs]) time.Duration { return 5 * time.Minute }

func (w *billingWorker) Work(ctx context.Context, _ *river.Job[BillingArgs]) error {
	rep, err := w.b.Run(ctx)
	if rep.Renewed+rep.Declined+rep.Ended+rep.Expired+rep.Retried+rep.Recharged > 0 {
		w.b.log().Info("billing pass", slog.Int("renewed", rep.Renewed), slog.Int("declined", rep.Declined),
			slog.Int("ended", rep.Ended), slog.Int("expired", rep.Expired), slog.Int("retried", rep.Retried),
			slog.Int("recharged", rep.Recharged))
	}
	return err
}

// Biller does the billing job's work: each Run renews the subscriptions
// whose period ended, recharges the pools that fell below their
// auto-recharge threshold (autorecharge.go) and charges off-session
// checkouts left pending.
// Every step is idempotent (a period's renewal has one reference, an event
// applies once), so Runs may overlap across instances.
type Biller struct {
	DB       *store.DB
	Payments billing.Provider
	Log      *slog.Logger
}

func (b *Biller) log() *slog.Logger {
	if b.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return b.Log
}

// BillingReport counts what a Run did.
type BillingReport struct {
	Renewed  int // renewals paid
	Declined int // renewals, auto-recharges or retries whose payment failed
	Ended    int // subscriptions canceled at period end that ended
	Expired  int // Onetime purchases expired into the credit bank
	Retried  int // stale off-session checkouts charged again
	// Recharged counts auto-recharges paid (autorecharge.go).
	Recharged int
}

// Run does one billing pass. Errors of one organization are logged and the
// pass goes on; the first is returned.
func (b *Biller) Run(ctx context.Context) (BillingReport, error) {
	var rep BillingReport
	var first error
	fail := func(orgID int64, what string, err error) {
		b.log().Error("billing: "+what, slog.Int64("org_id", orgID), slog.String("error", err.Error()))
		if first == nil {
			first = err
		}
	}
	ids, err := b.DB.DueSubscriptions(ctx, billingBatch)
	if err != nil {
		return rep, err
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return rep, ctx.Err()
		}
		r, err := b.DB.RenewSubscription(ctx, id, b.Payments.Name())
		if err != nil {
			fail(id, "renew", err)
			continue
		}
		switch r.Action {
		case store.RenewalEnded:
			rep.Ended++
		case store.RenewalExpired:
			rep.Expired++
		case store.RenewalCharge:
			if r.Checkout.Status != orgbase.CheckoutPending {
				continue
			}
			out, err := b.Charge(ctx, r.Checkout)
			if err != nil {
				fail(id, "charge renewal", err)
				continue
			}
			rep.count(out, r.Checkout)
		}
	}
	if err := b.autoRecharge(ctx, &rep, fail); err != nil {
		return rep, errors.Join(first, err)
	}
	stale, err := b.DB.FindStaleOffSessionCheckouts(ctx, b.DB.Now().Add(-StaleAfter), billingBatch)
	if err != nil {
		return rep, errors.Join(first, err)
	}
	for _, co := range stale {
		if co.Provider != b.Payments.Name() {
			continue
		}
		out, err := b.Charge(ctx, co)
		if err != nil {
			fail(co.OrgID, "charge stale checkout", err)
			continue
		}
		rep.Retried++
		rep.count(out, co)
	}
	return rep, first
}

// count adds a charge's outcome: a paid renewal or auto-recharge, or a decline.
func (r *BillingReport) count(o *store.BillingOutcome, c *orgbase.Checkout) {
	switch {
	case o == nil:
	case o.Status == store.OutcomePaid && !o.Replayed && c.Purpose == orgbase.PurposeAutoRecharge:
		r.Recharged++
	case o.Status == store.OutcomePaid && !o.Replayed:
		r.Renewed++
	case o.Status == store.OutcomeFailed && !o.Replayed:
		r.Declined++
	}
}

// Charge charges a pending off-session checkout (a renewal or an
// auto-recharge) with the organization's saved payment method and applies
// the outcome exactly once: the event id is derived from the checkout's
// reference, which is also the provider's idempotency key, so charging the
// same checkout again (a retry, another instance) pays once. A decline
// fails the checkout (nothing granted; the subscription goes past due);
// any other provider error leaves it pending for a later pass.
func (b *Biller) Charge(ctx context.Context, co *orgbase.Checkout) (*store.BillingOutcome, error) {
	name := b.Payments.Name()
	ev := billing.Event{Provider: name, ID: "offsession_" + co.Reference, Reference: co.Reference, Created: b.DB.Now()}
	cust, err := b.DB.FindBillingCustomer(ctx, co.OrgID, name)
	if err != nil {
		return nil, err
	}
	if cust == nil {
		ev.Kind, ev.Message = billing.EventPaymentFailed, "No payment method is saved for this organization."
		return b.DB.ApplyBillingEvent(ctx, ev)
	}
	pay, err := b.Payments.ChargeOffSession(ctx, billing.OffSessionCharge{OrgID: co.OrgID, CustomerID: cust.CustomerID, Reference: co.Reference,
		Purchase: billing.Purchase{Kind: billing.PurchaseKind(co.Kind), Key: co.Key, Description: co.Description, AmountCents: co.AmountCents, Currency: co.Currency}})
	switch {
	case err != nil && !errors.Is(err, billing.ErrDeclined):
		return nil, fmt.Errorf("charge %s: %w", co.Reference, err)
	case err != nil || pay == nil || pay.Status != "succeeded":
		ev.Kind, ev.Message = billing.EventPaymentFailed, billing.ErrDeclined.Error()
		if pay != nil {
			ev.PaymentID = pay.ID
			if pay.FailureMessage != "" {
				ev.Message = pay.FailureMessage
			}
		}
	default:
		ev.Kind, ev.PaymentID, ev.AmountCents, ev.Currency = billing.EventCheckoutCompleted, pay.ID, co.AmountCents, co.Currency
	}
	return b.DB.ApplyBillingEvent(ctx, ev)
}

// Biller returns the runner's biller, nil without a payment provider.
func (r *Runner) Biller() *Biller { return r.biller }
