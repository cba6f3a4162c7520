package store

import (
	"context"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Auto-recharge (SPEC §7). A billing owner sets a threshold, a pack and a
// monthly cap (SaveAutoRecharge); the billing job (internal/jobs) finds the
// organizations whose pool fell below their threshold (DueAutoRecharges),
// opens one auto-recharge checkout each (PrepareAutoRecharge) and charges it
// off-session like a renewal; ApplyBillingEvent grants the pack once. A
// failed payment turns auto-recharge off and records why (failCheckout calls
// autoRechargePaymentFailed).
//
// At most one recharge of an organization is open at a time: Prepare locks
// the organization's settings row for its whole transaction, opens nothing
// while an auto-recharge checkout of the organization is pending, and takes
// the reference of the new one from a counter on that row
// (AutoRechargeReference), so concurrent billing passes open one.

type autoRechargeRow struct {
	OrgID           int64 `gorm:"primaryKey"`
	Enabled         bool
	Threshold       int64
	Pack            string
	MonthlyCapCents int64
	Recharges       int64
	CappedUntil     *time.Time
	OffCause        string
	OffReason       string
	OffAt           *time.Time
	OffInvoiceID    *int64
	UpdatedBy       *int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (autoRechargeRow) TableName() string { return "auto_recharges" }

func (r *autoRechargeRow) domain() *orgbase.AutoRecharge {
	a := &orgbase.AutoRecharge{OrgID: r.OrgID, Saved: true, AutoRechargeSettings: orgbase.AutoRechargeSettings{Enabled: r.Enabled,
		Threshold: orgbase.Credits(r.Threshold), Pack: r.Pack, MonthlyCapCents: r.MonthlyCapCents},
		OffCause: r.OffCause, OffReason: r.OffReason, UpdatedBy: r.UpdatedBy, UpdatedAt: r.UpdatedAt.UTC()}
	if r.OffAt != nil {
		t := r.OffAt.UTC()
		a.OffAt = &t
	}
	if r.OffInvoiceID != nil {
		a.OffInvoiceID = *r.OffInvoiceID
	}
	return a
}

// The audit actions of auto-recharge.
const (
	auditAutoRecharge    = "billing.auto_recharge_settings" // a billing owner saved the settings
	auditAutoRechargeOff = "billing.auto_recharge_off"      // a failed payment turned it off
)

// AutoRechargeReference is the checkout reference of an organization's n-th
// auto-recharge: unique, so that two billing passes that both decided to
// recharge cannot open two.
func AutoRechargeReference(orgID, n int64) string {
	return "autorecharge_" + strconv.FormatInt(orgID, 10) + "_" + strconv.FormatInt(n, 10)
}

func findAutoRechargeRow(tx *gorm.DB, orgID int64, lock bool) (*autoRechargeRow, error) {
	q := tx
	if lock {
		q = q.Clauses(clause.Locking{Strength: "UPDATE"})
	}
	var rows []autoRechargeRow
	if err := q.Where("org_id = ?", orgID).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return &rows[0], nil
}

// autoRechargeSpent is what the organization's auto-recharges spent in the
// calendar month (UTC) of now: paid and pending checkouts, by when they
// were opened. The purpose is written out ('auto_recharge', not a
// parameter) here and below so that SQLite can use the partial index
// checkouts_auto_recharge.
func autoRechargeSpent(tx *gorm.DB, orgID int64, now time.Time) (int64, error) {
	start := orgbase.MonthStart(now)
	var sum int64
	err := tx.Raw(`SELECT COALESCE(SUM(amount_cents), 0) FROM checkouts
		WHERE org_id = ? AND purpose = 'auto_recharge' AND status IN (?, ?) AND created_at >= ? AND created_at < ?`,
		orgID, orgbase.CheckoutPaid, orgbase.CheckoutPending, start, start.AddDate(0, 1, 0)).Scan(&sum).Error
	return sum, err
}

// FindAutoRecharge returns the organization's auto-recharge with what it
// spent this month; the defaults, off and not Saved, when it never saved
// any.
func (db *DB) FindAutoRecharge(ctx context.Context, orgID int64) (*orgbase.AutoRecharge, error) {
	q := db.q(ctx)
	row, err := findAutoRechargeRow(q, orgID, false)
	if err != nil {
		return nil, err
	}
	out := &orgbase.AutoRecharge{OrgID: orgID, AutoRechargeSettings: orgbase.DefaultAutoRechargeSettings()}
	if row != nil {
		out = row.domain()
	}
	if out.SpentCents, err = autoRechargeSpent(q, orgID, db.now()); err != nil {
		return nil, err
	}
	return out, nil
}

// SaveAutoRecharge sets the organization's auto-recharge and records the
// change in the audit log; it returns it as stored. Turning it on needs a
// payment method saved at provider (the card the organization paid with
// last), and clears why it was turned off; saving also lifts this month's
// cap pause (the cap may have been raised).
//
// EINVALID naming the field ("enabled", "threshold", "pack",
// "monthly_cap"); EFORBIDDEN unless the actor may manage billing;
// ENOTFOUND for an unknown organization; ECONFLICT for one scheduled for
// deletion.
func (db *DB) SaveAutoRecharge(ctx context.Context, orgID int64, by orgbase.Access, s orgbase.AutoRechargeSettings, provider string) (*orgbase.AutoRecharge, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	now := db.now()
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, canBill); err != nil {
			return err
		}
		var org []orgRow
		if err := tx.Select("id", "name", "deleted_at").Where("id = ?", orgID).Find(&org).Error; err != nil {
			return err
		}
		switch {
		case len(org) == 0:
			return orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
		case org[0].DeletedAt != nil:
			return orgbase.Errorf(orgbase.ECONFLICT, "This organization is scheduled for deletion.")
		}
		// The first save creates the row (off, with the defaults); every
		// save then changes the locked row.
		def := orgbase.DefaultAutoRechargeSettings()
		if err := tx.Exec(`INSERT INTO auto_recharges (org_id, enabled, threshold, pack, monthly_cap_cents, created_at, updated_at)
			VALUES (?, FALSE, ?, ?, ?, ?, ?) ON CONFLICT (org_id) DO NOTHING`,
			orgID, int64(def.Threshold), def.Pack, def.MonthlyCapCents, now, now).Error; err != nil {
			return err
		}
		old, err := findAutoRechargeRow(tx, orgID, true)
		if err != nil {
			return err
		}
		if s.Enabled && !old.Enabled {
			var n int64
			if err := tx.Model(&billingCustomerRow{}).Where("org_id = ? AND provider = ?", orgID, provider).Count(&n).Error; err != nil {
				return err
			}
			if n == 0 || provider == "" {
				return &orgbase.Error{Code: orgbase.EINVALID, Message: "Auto-recharge needs a saved card.",
					Fields: map[string]string{"enabled": "Auto-recharge pays with the card your organization paid with last, and none is saved yet: buy a plan or a credit pack once by card, then turn auto-recharge on."}}
			}
		}
		set := map[string]any{"threshold": int64(s.Threshold), "pack": s.Pack, "monthly_cap_cents": s.MonthlyCapCents,
			"enabled": s.Enabled, "capped_until": nil, "updated_by": creator(by), "updated_at": now}
		changes := map[string]Change{}
		switch {
		case s.Enabled && !old.Enabled:
			set["off_cause"], set["off_reason"], set["off_at"], set["off_invoice_id"] = "", "", nil, nil
			changes["enabled"] = Change{From: "off", To: "on"}
		case !s.Enabled && old.Enabled:
			set["off_cause"], set["off_at"] = orgbase.AutoRechargeOffByUser, now
			changes["enabled"] = Change{From: "on", To: "off"}
		}
		if old.Threshold != int64(s.Threshold) {
			changes["threshold"] = Change{From: orgbase.Credits(old.Threshold).String(), To: s.Threshold.String()}
		}
		if old.Pack != s.Pack {
			changes["pack"] = Change{From: packName(old.Pack), To: packName(s.Pack)}
		}
		if old.MonthlyCapCents != s.MonthlyCapCents {
			changes["monthly_cap"] = Change{From: orgbase.FormatMoney(old.MonthlyCapCents, orgbase.Currency), To: orgbase.FormatMoney(s.MonthlyCapCents, orgbase.Currency)}
		}
		if len(changes) == 0 && old.CappedUntil == nil {
			return nil // nothing changed: no update, no audit entry
		}
		if err := tx.Model(&autoRechargeRow{}).Where("org_id = ?", orgID).Updates(set).Error; err != nil {
			return err
		}
		if len(changes) == 0 {
			return nil
		}
		return audit(tx, orgID, auditAutoRecharge, "organization", itoa64(orgID), org[0].Name, changes)
	})
	if err != nil {
		return nil, err
	}
	return db.FindAutoRecharge(ctx, orgID)
}

func packName(key string) string {
	if p, ok := orgbase.FindPack(key); ok {
		return p.Name
	}
	return key
}

// Why PrepareAutoRecharge opened nothing (AutoRechargeStep.Skipped).
const (
	AutoRechargeOff     = "off"             // auto-recharge is off (or never saved)
	AutoRechargeAbove   = "above_threshold" // the pool holds the threshold or more
	AutoRechargePending = "pending"         // an auto-recharge of the organization is still pending
	AutoRechargeCapped  = "capped"          // one more pack would pass this month's cap
	AutoRechargeDeleted = "deleted"         // the organization is scheduled for deletion
)

// AutoRechargeStep is what PrepareAutoRecharge did: opened Checkout (to
// charge off-session), or opened nothing for the reason Skipped.
type AutoRechargeStep struct {
	Checkout *orgbase.Checkout
	Skipped  string
}

// PrepareAutoRecharge opens the organization's next auto-recharge when it
// is due: auto-recharge is on, the pool holds less than the threshold, no
// auto-recharge of the organization is pending, and this month's spend
// (paid and pending auto-recharges, calendar month UTC) plus the pack's
// price stays within the cap. The checkout sells the chosen pack at the
// catalog's price, for provider; the caller charges it off-session and
// applies the outcome with ApplyBillingEvent (jobs.Biller.Charge).
//
// All of it happens in one transaction holding the lock on the
// organization's auto-recharge row, and the reference comes from the
// counter on that row: concurrent calls open at most one checkout. When the
// cap stops a recharge, the billing job's scan skips the organization until
// the next month (or until the settings are saved again).
func (db *DB) PrepareAutoRecharge(ctx context.Context, orgID int64, provider string) (*AutoRechargeStep, error) {
	if provider == "" {
		return nil, orgbase.Errorf(orgbase.EINVALID, "No payment provider is configured.")
	}
	now := db.now()
	out := &AutoRechargeStep{}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		ar, err := findAutoRechargeRow(tx, orgID, true)
		if err != nil {
			return err
		}
		if ar == nil || !ar.Enabled {
			out.Skipped = AutoRechargeOff
			return nil
		}
		var org []orgRow
		if err := tx.Select("id", "deleted_at").Where("id = ?", orgID).Find(&org).Error; err != nil {
			return err
		}
		if len(org) == 0 || org[0].DeletedAt != nil {
			out.Skipped = AutoRechargeDeleted
			return nil
		}
		var pool []int64
		if err := tx.Model(&accountRow{}).Where("org_id = ? AND kind = ?", orgID, orgbase.AccountPool).Pluck("balance", &pool).Error; err != nil {
			return err
		}
		if len(pool) > 0 && pool[0] >= ar.Threshold {
			out.Skipped = AutoRechargeAbove
			return nil
		}
		var pending int64
		if err := tx.Model(&checkoutRow{}).Where("org_id = ? AND status = ? AND purpose = 'auto_recharge'", orgID, orgbase.CheckoutPending).
			Count(&pending).Error; err != nil {
			return err
		}
		if pending > 0 {
			out.Skipped = AutoRechargePending
			return nil
		}
		offer, err := orgbase.FindOffer(orgbase.OfferTopUp, ar.Pack)
		if err != nil {
			return err
		}
		spent, err := autoRechargeSpent(tx, orgID, now)
		if err != nil {
			return err
		}
		if spent+offer.PriceCents > ar.MonthlyCapCents {
			out.Skipped = AutoRechargeCapped
			return tx.Model(&autoRechargeRow{}).Where("org_id = ?", orgID).
				Update("capped_until", orgbase.MonthStart(now).AddDate(0, 1, 0)).Error
		}
		n := ar.Recharges + 1
		if err := tx.Model(&autoRechargeRow{}).Where("org_id = ?", orgID).
			Updates(map[string]any{"recharges": n, "capped_until": nil}).Error; err != nil {
			return err
		}
		pack, _ := orgbase.FindPack(ar.Pack)
		offer.Description = "Auto-recharge: " + pack.Name
		co, err := createCheckout(tx, newCheckoutReq{orgID: orgID, by: orgbase.OperatorAccess(orgID), offer: offer, provider: provider,
			purpose: orgbase.PurposeAutoRecharge, reference: AutoRechargeReference(orgID, n), periodStart: now, periodEnd: now, now: now})
		out.Checkout = co
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// DueAutoRecharges lists the organizations (at most limit, by id) whose
// auto-recharge is on and whose pool holds less than its threshold, with no
// auto-recharge pending and not paused by this month's cap, and that are not
// scheduled for deletion: the billing job's scan, in one query. It walks the
// partial index auto_recharges_enabled and looks each organization's pool up
// in accounts_org_kind and its pending recharge in checkouts_auto_recharge.
// (On SQLite the CROSS JOIN keeps auto_recharges the outer loop, and the
// redundant kind <> 'workspace' lets it use accounts_org_kind, a partial
// index with that predicate; PostgreSQL plans it as an inner join.)
func (db *DB) DueAutoRecharges(ctx context.Context, limit int) ([]int64, error) {
	var ids []int64
	err := db.q(ctx).Raw(`SELECT ar.org_id FROM auto_recharges ar
		CROSS JOIN accounts a
		JOIN organizations o ON o.id = ar.org_id AND o.deleted_at IS NULL
		WHERE ar.enabled AND (ar.capped_until IS NULL OR ar.capped_until <= ?)
			AND a.org_id = ar.org_id AND a.kind = ? AND a.kind <> 'workspace' AND a.balance < ar.threshold
			AND NOT EXISTS (SELECT 1 FROM checkouts c WHERE c.org_id = ar.org_id AND c.status = ? AND c.purpose = 'auto_recharge')
		ORDER BY ar.org_id LIMIT ?`,
		db.now(), orgbase.AccountPool, orgbase.CheckoutPending, limit).Scan(&ids).Error
	return ids, err
}

// autoRechargePaymentFailed turns auto-recharge off when the payment of one
// of its checkouts fails, in failCheckout's transaction, records why (the
// provider's message and the invoice) in the settings and the audit log,
// and returns the failure message with a sentence saying so (the invoice
// and the payment-failed notice carry it). Other checkouts pass through.
func autoRechargePaymentFailed(tx *gorm.DB, co *checkoutRow, message string, now time.Time) (string, error) {
	if co.Purpose != orgbase.PurposeAutoRecharge {
		return message, nil
	}
	res := tx.Model(&autoRechargeRow{}).Where("org_id = ? AND enabled", co.OrgID).Updates(map[string]any{
		"enabled": false, "off_cause": orgbase.AutoRechargeOffPaymentFailed, "off_reason": truncate(message, 1000),
		"off_at": now, "off_invoice_id": co.InvoiceID, "updated_by": nil, "updated_at": now,
	})
	if res.Error != nil {
		return "", res.Error
	}
	if res.RowsAffected == 0 {
		return message, nil // already off: a billing owner turned it off meanwhile
	}
	var number string
	if err := tx.Model(&invoiceRow{}).Where("id = ?", co.InvoiceID).Pluck("number", &number).Error; err != nil {
		return "", err
	}
	if err := audit(tx, co.OrgID, auditAutoRechargeOff, "invoice", itoa64(co.InvoiceID), number, map[string]Change{
		"enabled": {From: "on", To: "off"},
		"reason":  {To: message},
	}); err != nil {
		return "", err
	}
	return message + " Auto-recharge is now off: turn it back on on the Billing tab once the card is sorted out.", nil
}
