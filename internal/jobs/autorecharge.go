package jobs

import (
	"context"

	"github.com/orgbase/orgbase/internal/store"
)

// autoRecharge is the auto-recharge part of a billing pass: it finds the
// organizations whose pool fell below their auto-recharge threshold (one
// query), opens each one's recharge (store.PrepareAutoRecharge: at most
// one pending per organization, within the monthly cap) and charges it
// off-session with Charge, which applies the outcome once. A decline turns
// auto-recharge off (the store does, in the transaction that fails the
// checkout). Errors of one organization go to fail and the pass goes on.
func (b *Biller) autoRecharge(ctx context.Context, rep *BillingReport, fail func(orgID int64, what string, err error)) error {
	ids, err := b.DB.DueAutoRecharges(ctx, billingBatch)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		step, err := b.DB.PrepareAutoRecharge(ctx, id, b.Payments.Name())
		if err != nil {
			fail(id, "prepare auto-recharge", err)
			continue
		}
		if step.Checkout == nil {
			continue // another instance got there first, or the cap stopped it
		}
		out, err := b.Charge(ctx, step.Checkout)
		if err != nil {
			fail(id, "charge auto-recharge", err)
			continue
		}
		switch {
		case out.Replayed:
		case out.Status == store.OutcomePaid:
			rep.Recharged++
		case out.Status == store.OutcomeFailed:
			rep.Declined++
		}
	}
	return nil
}
