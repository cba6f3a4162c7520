package store

import (
	"context"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The subscription lifecycle (SPEC §7). A monthly plan renews at the end of
// each period: the billing job (internal/jobs) calls RenewSubscription, which
// opens the renewal's checkout under a reference derived from the period
// (so however many instances run the job, a period has one renewal), charges
// it off-session and applies the outcome through ApplyBillingEvent, which
// grants the credits once. Cancel and downgrade take effect at the end of
// the period; resume undoes a cancel before then; an upgrade happens now,
// prorated (orgbase.Prorate). A Onetime purchase expires at the end of its
// validity: what is left of its credits moves from the pool to the credit
// bank, released into the pool by the next plan purchase.

func (r subscriptionRow) domain() *orgbase.Subscription {
	s := &orgbase.Subscription{OrgID: r.OrgID, Plan: r.Plan, Status: r.Status, Provider: r.Provider,
		CurrentPeriodStart: r.CurrentPeriodStart.UTC(), CancelAtPeriodEnd: r.CancelAtPeriodEnd, NextPlan: r.NextPlan}
	if r.CurrentPeriodEnd != nil {
		t := r.CurrentPeriodEnd.UTC()
		s.CurrentPeriodEnd = &t
	}
	if r.EndedAt != nil {
		t := r.EndedAt.UTC()
		s.EndedAt = &t
	}
	return s
}

func lockSubscription(tx *gorm.DB, orgID int64) (*subscriptionRow, error) {
	var rows []subscriptionRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ?", orgID).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// inPeriod reports whether the subscription is active and its period has not ended at now.
func (r *subscriptionRow) inPeriod(now time.Time) bool {
	return r != nil && r.Status == orgbase.SubscriptionActive && r.CurrentPeriodEnd != nil && r.CurrentPeriodEnd.After(now)
}

// checkPlanPurchase refuses to sell a plan in the browser while a monthly
// plan's period runs: that plan is changed with upgrade, downgrade or cancel.
// A Onetime purchase may be bought again (a new validity starts), and any
// plan may follow a canceled, expired or past-due subscription.
func checkPlanPurchase(tx *gorm.DB, orgID int64, key string, now time.Time) error {
	sub, err := lockSubscription(tx, orgID)
	if err != nil || !sub.inPeriod(now) {
		return err
	}
	cur, _ := orgbase.FindPlan(sub.Plan)
	if cur.Period != orgbase.PeriodMonth {
		return nil
	}
	if sub.Plan == key {
		return orgbase.Errorf(orgbase.ECONFLICT, "Your organization is already on %s until %s.", cur.Name, sub.CurrentPeriodEnd.Format("Jan 2, 2006"))
	}
	return orgbase.Errorf(orgbase.ECONFLICT, "Your organization is on %s until %s: upgrade, downgrade or cancel it on the Billing tab.",
		cur.Name, sub.CurrentPeriodEnd.Format("Jan 2, 2006"))
}

// applyPlanPaid sets the organization's plan and subscription when a plan's
// checkout is paid, by purpose: a purchase starts a new period (and releases
// the credit bank), a renewal moves to the next period (taking a scheduled
// downgrade), an upgrade changes the plan and keeps the period.
func (db *DB) applyPlanPaid(tx *gorm.DB, co *checkoutRow, inv *invoiceRow, now time.Time, changes map[string]Change) error {
	var old []string
	if err := tx.Model(&orgRow{}).Where("id = ?", co.OrgID).Pluck("plan", &old).Error; err != nil {
		return err
	}
	if err := tx.Exec("UPDATE organizations SET plan = ?, updated_at = ? WHERE id = ?", co.ItemKey, now, co.OrgID).Error; err != nil {
		return err
	}
	if len(old) > 0 && old[0] != co.ItemKey {
		changes["plan"] = Change{From: orgbase.PlanName(old[0]), To: orgbase.PlanName(co.ItemKey)}
	}
	if co.Purpose == orgbase.PurposeUpgrade {
		return tx.Exec(`UPDATE subscriptions SET plan = ?, next_plan = '', updated_at = ? WHERE org_id = ?`, co.ItemKey, now, co.OrgID).Error
	}
	var end *time.Time
	if !inv.PeriodEnd.Equal(inv.PeriodStart) {
		e := inv.PeriodEnd
		end = &e
	}
	err := tx.Exec(`INSERT INTO subscriptions (org_id, plan, status, provider, current_period_start, current_period_end,
			cancel_at_period_end, next_plan, ended_at, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, FALSE, '', NULL, ?, ?)
		ON CONFLICT (org_id) DO UPDATE SET plan = excluded.plan, status = excluded.status, provider = excluded.provider,
			current_period_start = excluded.current_period_start, current_period_end = excluded.current_period_end,
			cancel_at_period_end = FALSE, next_plan = '', ended_at = NULL, updated_at = excluded.updated_at`,
		co.OrgID, co.ItemKey, orgbase.SubscriptionActive, co.Provider, inv.PeriodStart, end, now, now).Error
	if err != nil {
		return err
	}
	if co.Purpose == orgbase.PurposePurchase {
		return db.releaseBank(tx, co.OrgID, co.Reference, changes)
	}
	return nil
}

// releaseBank moves the whole credit bank into the pool: the next plan
// purchase after a Onetime expiry gets the lapsed credits back.
func (db *DB) releaseBank(tx *gorm.DB, orgID int64, reference string, changes map[string]Change) error {
	var bal []int64
	if err := tx.Model(&accountRow{}).Where("org_id = ? AND kind = ?", orgID, orgbase.AccountBank).Pluck("balance", &bal).Error; err != nil {
		return err
	}
	if len(bal) == 0 || bal[0] <= 0 {
		return nil
	}
	r := grantReq(orgID, orgbase.Credits(bal[0]), orgbase.TransferPlanGrant, "Credit bank released by a plan purchase", "bank-release:"+reference, "credits.bank_release")
	r.from = orgbase.SystemAccount(orgbase.AccountBank)
	if err := r.validate(); err != nil {
		return err
	}
	if _, _, _, err := db.transferIn(tx, &r); err != nil {
		return err
	}
	changes["bank_released"] = Change{To: orgbase.Credits(bal[0]).String()}
	return nil
}

// planPaymentFailed marks the subscription past due when its renewal's
// payment fails (the plan's credits for the period are not granted).
func planPaymentFailed(tx *gorm.DB, co *checkoutRow, now time.Time) error {
	if co.Purpose != orgbase.PurposeRenewal {
		return nil
	}
	return tx.Exec(`UPDATE subscriptions SET status = ?, updated_at = ? WHERE org_id = ? AND status = ?`,
		orgbase.SubscriptionPastDue, now, co.OrgID, orgbase.SubscriptionActive).Error
}

// Subscription changes a billing owner makes on the Billing tab.
const (
	ChangeCancel    = "cancel"    // end at the period's end
	ChangeResume    = "resume"    // undo a cancel before the period ends
	ChangeDowngrade = "downgrade" // renew on a cheaper plan (Plan) at the period's end
	ChangeKeepPlan  = "keep"      // undo a scheduled downgrade
)

// SubscriptionChange is a change to the subscription that takes effect at
// the end of the period (or undoes one).
type SubscriptionChange struct {
	Action string // ChangeCancel, ChangeResume, ChangeDowngrade or ChangeKeepPlan
	Plan   string // the plan to downgrade to
}

// ChangeSubscription cancels, resumes or downgrades the organization's
// subscription at the end of its period. EINVALID for an unknown action or a
// plan that is no downgrade; ECONFLICT when there is no running monthly
// subscription (or nothing to undo); EFORBIDDEN unless the actor may manage
// billing.
func (db *DB) ChangeSubscription(ctx context.Context, orgID int64, by orgbase.Access, ch SubscriptionChange) (*orgbase.Subscription, error) {
	now := db.now()
	var out *orgbase.Subscription
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, canBill); err != nil {
			return err
		}
		sub, err := lockSubscription(tx, orgID)
		if err != nil {
			return err
		}
		if !sub.inPeriod(now) {
			return orgbase.Errorf(orgbase.ECONFLICT, "Your organization has no running subscription to change.")
		}
		cur, _ := orgbase.FindPlan(sub.Plan)
		if cur.Period != orgbase.PeriodMonth {
			return orgbase.Errorf(orgbase.ECONFLICT, "A %s purchase does not renew: there is nothing to cancel.", cur.Name)
		}
		set := map[string]any{"updated_at": now}
		var action string
		changes := map[string]Change{"period_end": {To: sub.CurrentPeriodEnd.Format("2006-01-02")}}
		switch ch.Action {
		case ChangeCancel:
			if sub.CancelAtPeriodEnd {
				return orgbase.Errorf(orgbase.ECONFLICT, "The subscription is already set to end on %s.", sub.CurrentPeriodEnd.Format("Jan 2, 2006"))
			}
			set["cancel_at_period_end"], action = true, "billing.subscription_cancel"
		case ChangeResume:
			if !sub.CancelAtPeriodEnd {
				return orgbase.Errorf(orgbase.ECONFLICT, "The subscription is not canceled.")
			}
			set["cancel_at_period_end"], action = false, "billing.subscription_resume"
		case ChangeDowngrade:
			to, ok := orgbase.FindPlan(ch.Plan)
			switch {
			case sub.CancelAtPeriodEnd:
				return orgbase.Errorf(orgbase.ECONFLICT, "The subscription is set to end: resume it first.")
			case !ok || to.Period != orgbase.PeriodMonth || !to.Paid():
				return orgbase.Errorf(orgbase.EINVALID, "Choose a monthly plan to move to.")
			case to.PriceCents >= cur.PriceCents:
				return orgbase.Errorf(orgbase.EINVALID, "%s costs no less than %s: upgrades take effect now.", to.Name, cur.Name)
			case sub.NextPlan == to.Key:
				return orgbase.Errorf(orgbase.ECONFLICT, "The move to %s is already scheduled.", to.Name)
			}
			set["next_plan"], action = to.Key, "billing.downgrade_schedule"
			changes["plan"] = Change{From: cur.Name, To: to.Name}
		case ChangeKeepPlan:
			if sub.NextPlan == "" {
				return orgbase.Errorf(orgbase.ECONFLICT, "No plan change is scheduled.")
			}
			set["next_plan"], action = "", "billing.downgrade_cancel"
			changes["plan"] = Change{From: orgbase.PlanName(sub.NextPlan), To: cur.Name}
		default:
			return orgbase.Errorf(orgbase.EINVALID, "Choose cancel, resume or a plan change.")
		}
		if err := tx.Model(&subscriptionRow{}).Where("org_id = ?", orgID).Updates(set).Error; err != nil {
			return err
		}
		if err := audit(tx, orgID, action, "subscription", itoa64(orgID), cur.Name, changes); err != nil {
			return err
		}
		fresh, err := lockSubscription(tx, orgID)
		if err != nil {
			return err
		}
		out = fresh.domain()
		return nil
	})
	return out, err
}

// PreviewUpgrade computes what moving the organization to plan now would
// cost and give (EINVALID when it is no upgrade, ECONFLICT without a running
// monthly subscription).
func (db *DB) PreviewUpgrade(ctx context.Context, orgID int64, plan string) (orgbase.Proration, error) {
	sub, err := db.FindSubscription(ctx, orgID)
	if err != nil {
		return orgbase.Proration{}, err
	}
	return prorate(sub, plan, db.now())
}

func prorate(sub *orgbase.Subscription, plan string, now time.Time) (orgbase.Proration, error) {
	if sub == nil || sub.Status != orgbase.SubscriptionActive || sub.CurrentPeriodEnd == nil || !sub.CurrentPeriodEnd.After(now) {
		return orgbase.Proration{}, orgbase.Errorf(orgbase.ECONFLICT, "Your organization has no running subscription to upgrade: choose a plan instead.")
	}
	if sub.CancelAtPeriodEnd {
		return orgbase.Proration{}, orgbase.Errorf(orgbase.ECONFLICT, "The subscription is set to end: resume it first.")
	}
	from, _ := orgbase.FindPlan(sub.Plan)
	to, ok := orgbase.FindPlan(plan)
	if !ok {
		return orgbase.Proration{}, orgbase.Errorf(orgbase.EINVALID, "Choose one of the plans.")
	}
	return orgbase.Prorate(from, to, sub.CurrentPeriodStart, *sub.CurrentPeriodEnd, now)
}

// StartUpgrade opens the checkout of an upgrade now: the prorated difference
// for the rest of the period (orgbase.Prorate), paid like any purchase; when
// paid, the plan changes and the period stays.
func (db *DB) StartUpgrade(ctx context.Context, orgID int64, by orgbase.Access, plan, provider string) (*orgbase.Checkout, error) {
	if provider == "" {
		return nil, orgbase.Errorf(orgbase.EINVALID, "No payment provider is configured.")
	}
	now := db.now()
	var out *orgbase.Checkout
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, canBill); err != nil {
			return err
		}
		row, err := lockSubscription(tx, orgID)
		if err != nil {
			return err
		}
		var sub *orgbase.Subscription
		if row != nil {
			sub = row.domain()
		}
		p, err := prorate(sub, plan, now)
		if err != nil {
			return err
		}
		offer := orgbase.Offer{Kind: orgbase.OfferPlan, Key: p.To.Key, PriceCents: p.PriceCents, Currency: p.To.Currency, Credits: p.Credits,
			Description: "Upgrade from " + p.From.Name + " to " + p.To.Name + ", prorated to " + p.PeriodEnd.Format("Jan 2, 2006") + ": " + p.Credits.String() + " credits"}
		co, err := createCheckout(tx, newCheckoutReq{orgID: orgID, by: by, offer: offer, provider: provider, purpose: orgbase.PurposeUpgrade,
			reference: newReference(), periodStart: now, periodEnd: p.PeriodEnd, now: now})
		out = co
		return err
	})
	return out, err
}

// DueSubscriptions lists the organizations whose active subscription's
// period ended at or before now (at most limit), oldest first.
func (db *DB) DueSubscriptions(ctx context.Context, limit int) ([]int64, error) {
	var ids []int64
	err := db.q(ctx).Model(&subscriptionRow{}).Where("status = ? AND current_period_end <= ?", orgbase.SubscriptionActive, db.now()).
		Order("current_period_end, org_id").Limit(limit).Pluck("org_id", &ids).Error
	return ids, err
}

// What RenewSubscription did.
const (
	RenewalNone    = "none"    // nothing was due (another instance got there first)
	RenewalCharge  = "charge"  // Checkout is the period's renewal: charge it off-session
	RenewalEnded   = "ended"   // the subscription was canceled at period end and has ended
	RenewalExpired = "expired" // a Onetime purchase expired; its remainder is in the credit bank
)

// Renewal is what RenewSubscription did.
type Renewal struct {
	Action   string
	Checkout *orgbase.Checkout // RenewalCharge: the pending renewal to charge
	// Created is false when the period's renewal already existed (opened by
	// another instance, or by an earlier run that did not get to charge it).
	Created bool
	Banked  orgbase.Credits // RenewalExpired: what moved to the credit bank
}

// RenewalReference is the checkout reference of the renewal of an
// organization's subscription for the period starting at start: unique, so
// a period is renewed once, whoever runs the job.
func RenewalReference(orgID int64, start time.Time) string {
	return "renew_" + strconv.FormatInt(orgID, 10) + "_" + start.UTC().Format("20060102T150405Z")
}

// RenewSubscription acts on the organization's subscription if its period
// has ended: it ends a canceled one (the plan goes back to Free), expires a
// Onetime purchase (moving what is left of its credits from the pool to the
// credit bank), or opens the renewal's checkout for the next period on the
// plan (or the scheduled downgrade). The caller charges that checkout
// off-session and applies the outcome with ApplyBillingEvent. provider is
// the configured provider: a subscription with another provider is left
// alone (RenewalNone).
//
// The subscription's row is locked for the whole transaction and the renewal
// reference is unique, so concurrent calls for the same period open one
// renewal.
func (db *DB) RenewSubscription(ctx context.Context, orgID int64, provider string) (*Renewal, error) {
	now := db.now()
	out := &Renewal{Action: RenewalNone}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		sub, err := lockSubscription(tx, orgID)
		if err != nil {
			return err
		}
		if sub == nil || sub.Status != orgbase.SubscriptionActive || sub.CurrentPeriodEnd == nil || sub.CurrentPeriodEnd.After(now) {
			return nil
		}
		end := *sub.CurrentPeriodEnd
		plan, _ := orgbase.FindPlan(sub.Plan)
		var org struct {
			ID        int64
			DeletedAt *time.Time
		}
		if err := tx.Raw("SELECT id, deleted_at FROM organizations WHERE id = ?", orgID).Scan(&org).Error; err != nil {
			return err
		}
		switch {
		case plan.Period != orgbase.PeriodMonth:
			banked, err := db.expireOnetime(tx, sub, plan, now)
			out.Action, out.Banked = RenewalExpired, banked
			return err
		case sub.CancelAtPeriodEnd || org.ID == 0 || org.DeletedAt != nil:
			out.Action = RenewalEnded
			return endSubscription(tx, sub, now, "billing.subscription_end", map[string]Change{
				"plan": {From: plan.Name, To: orgbase.PlanName(orgbase.PlanFree)}, "ended": {To: end.Format("2006-01-02")}})
		case sub.Provider != provider:
			return nil
		}
		ref := RenewalReference(orgID, end)
		var existing []checkoutRow
		if err := tx.Where("reference = ?", ref).Find(&existing).Error; err != nil {
			return err
		}
		if len(existing) > 0 {
			out.Action, out.Checkout = RenewalCharge, existing[0].domain()
			return nil
		}
		key := sub.Plan
		if sub.NextPlan != "" {
			key = sub.NextPlan
		}
		offer, err := orgbase.FindOffer(orgbase.OfferPlan, key)
		if err != nil {
			return err
		}
		next, _ := orgbase.FindPlan(key)
		offer.Description = next.Name + " plan renewal, " + next.CreditsLabel()
		co, err := createCheckout(tx, newCheckoutReq{orgID: orgID, by: orgbase.OperatorAccess(orgID), offer: offer, provider: provider,
			purpose: orgbase.PurposeRenewal, reference: ref, periodStart: end, periodEnd: next.PeriodEnd(end), now: now})
		if err != nil {
			return err
		}
		out.Action, out.Checkout, out.Created = RenewalCharge, co, true
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// endSubscription ends the locked subscription at its period's end and puts
// the organization back on Free (its credits stay in the pool).
func endSubscription(tx *gorm.DB, sub *subscriptionRow, now time.Time, action string, changes map[string]Change) error {
	if err := tx.Model(&subscriptionRow{}).Where("org_id = ?", sub.OrgID).Updates(map[string]any{
		"status": orgbase.SubscriptionCanceled, "ended_at": sub.CurrentPeriodEnd, "cancel_at_period_end": false, "next_plan": "", "updated_at": now,
	}).Error; err != nil {
		return err
	}
	if err := tx.Exec("UPDATE organizations SET plan = ?, updated_at = ? WHERE id = ? AND plan = ?", orgbase.PlanFree, now, sub.OrgID, sub.Plan).Error; err != nil {
		return err
	}
	return audit(tx, sub.OrgID, action, "subscription", itoa64(sub.OrgID), orgbase.PlanName(sub.Plan), changes)
}

// expireOnetime ends a Onetime purchase at the end of its validity and moves
// what is left of its credits to the credit bank: the pool's balance, up to
// the credits the purchase granted (the pool also holds top-ups and grants,
// which do not lapse). Budget workspaces keep what was moved to them.
func (db *DB) expireOnetime(tx *gorm.DB, sub *subscriptionRow, plan orgbase.Plan, now time.Time) (orgbase.Credits, error) {
	var pool []int64
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Model(&accountRow{}).
		Where("org_id = ? AND kind = ?", sub.OrgID, orgbase.AccountPool).Pluck("balance", &pool).Error; err != nil {
		return 0, err
	}
	var banked orgbase.Credits
	if len(pool) > 0 {
		banked = min(orgbase.Credits(pool[0]), plan.Credits)
	}
	changes := map[string]Change{"plan": {From: plan.Name, To: orgbase.PlanName(orgbase.PlanFree)}, "banked": {To: banked.String()}}
	if banked > 0 {
		r := grantReq(sub.OrgID, banked, orgbase.TransferExpiry, plan.Name+" credits lapsed: kept in the credit bank until the next plan purchase",
			"onetime-expiry:"+strconv.FormatInt(sub.OrgID, 10)+":"+sub.CurrentPeriodStart.UTC().Format(time.RFC3339), "credits.expiry")
		r.from, r.to = orgbase.PoolAccount(), orgbase.SystemAccount(orgbase.AccountBank)
		if err := r.validate(); err != nil {
			return 0, err
		}
		if _, _, _, err := db.transferIn(tx, &r); err != nil {
			return 0, err
		}
	}
	return banked, endSubscription(tx, sub, now, "billing.onetime_expire", changes)
}

// FindStaleOffSessionCheckouts lists off-session checkouts (renewals and
// auto-recharges) still pending since before olderThan: a crash between
// opening and charging one. The billing job charges them again under the
// same reference (the providers' idempotency makes it one payment).
func (db *DB) FindStaleOffSessionCheckouts(ctx context.Context, olderThan time.Time, limit int) ([]*orgbase.Checkout, error) {
	var rows []checkoutRow
	err := db.q(ctx).Where("status = ? AND purpose IN ? AND created_at < ?", orgbase.CheckoutPending,
		[]string{orgbase.PurposeRenewal, orgbase.PurposeAutoRecharge}, olderThan).Order("created_at").Limit(limit).Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*orgbase.Checkout, len(rows))
	for i := range rows {
		out[i] = rows[i].domain()
	}
	return out, nil
}

// CreditBank returns the organization's credit bank balance: Onetime credits
// that lapsed, awaiting the next plan purchase.
func (db *DB) CreditBank(ctx context.Context, orgID int64) (orgbase.Credits, error) {
	var b []int64
	err := db.q(ctx).Model(&accountRow{}).Where("org_id = ? AND kind = ?", orgID, orgbase.AccountBank).Pluck("balance", &b).Error
	if err != nil || len(b) == 0 {
		return 0, err
	}
	return orgbase.Credits(b[0]), nil
}
