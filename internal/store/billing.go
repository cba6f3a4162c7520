package store

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// Billing (SPEC §7). A purchase is a checkout with its invoice, created by
// StartCheckout at the catalog's price; a payment provider confirms or
// declines it with an Event, which ApplyBillingEvent applies exactly once:
// on payment it marks both paid and grants the credits through the ledger,
// in the same transaction.

type checkoutRow struct {
	ID                int64
	Reference         string
	OrgID             int64
	Provider          string
	Kind              string
	ItemKey           string
	Description       string
	AmountCents       int64
	Currency          string
	Credits           int64
	Status            string
	Message           string
	ProviderSessionID string
	InvoiceID         int64
	Purpose           string
	CreatedBy         *int64
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

func (checkoutRow) TableName() string { return "checkouts" }

func (r checkoutRow) domain() *orgbase.Checkout {
	return &orgbase.Checkout{ID: r.ID, Reference: r.Reference, OrgID: r.OrgID, Provider: r.Provider, Kind: r.Kind, Key: r.ItemKey,
		Description: r.Description, AmountCents: r.AmountCents, Currency: r.Currency, Credits: orgbase.Credits(r.Credits),
		Status: r.Status, Message: r.Message, ProviderSessionID: r.ProviderSessionID, InvoiceID: r.InvoiceID,
		Purpose: r.Purpose, CreatedAt: r.CreatedAt.UTC(), UpdatedAt: r.UpdatedAt.UTC()}
}

type invoiceRow struct {
	ID             int64
	OrgID          int64
	Seq            int64
	Number         string
	Status         string
	Currency       string
	SubtotalCents  int64
	TotalCents     int64
	PeriodStart    time.Time
	PeriodEnd      time.Time
	BillingEmail   string
	Provider       string
	PaymentRef     string
	FailureMessage string
	CreatedAt      time.Time
	PaidAt         *time.Time
}

func (invoiceRow) TableName() string { return "invoices" }

func (r invoiceRow) domain() orgbase.Invoice {
	inv := orgbase.Invoice{ID: r.ID, OrgID: r.OrgID, Number: r.Number, Status: r.Status, Currency: r.Currency,
		SubtotalCents: r.SubtotalCents, TotalCents: r.TotalCents, PeriodStart: r.PeriodStart.UTC(), PeriodEnd: r.PeriodEnd.UTC(),
		BillingEmail: r.BillingEmail, Provider: r.Provider, PaymentRef: r.PaymentRef, FailureMessage: r.FailureMessage,
		CreatedAt: r.CreatedAt.UTC()}
	if r.PaidAt != nil {
		t := r.PaidAt.UTC()
		inv.PaidAt = &t
	}
	return inv
}

type invoiceLineRow struct {
	ID          int64
	InvoiceID   int64
	Position    int
	Description string
	Quantity    int64
	UnitCents   int64
	AmountCents int64
	Credits     int64
}

func (invoiceLineRow) TableName() string { return "invoice_lines" }

type billingCustomerRow struct {
	OrgID      int64
	Provider   string
	CustomerID string
	CardBrand  string
	CardLast4  string `gorm:"column:card_last4"`
	CreatedAt  time.Time
	UpdatedAt  time.Time
}

func (billingCustomerRow) TableName() string { return "billing_customers" }

type subscriptionRow struct {
	OrgID              int64
	Plan               string
	Status             string
	Provider           string
	CurrentPeriodStart time.Time
	CurrentPeriodEnd   *time.Time
	CancelAtPeriodEnd  bool
	NextPlan           string
	EndedAt            *time.Time
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

func (subscriptionRow) TableName() string { return "subscriptions" }

// NewCheckout is a purchase to start: what to buy, by kind and key from
// the catalog (orgbase.FindOffer), and the provider that will take payment.
type NewCheckout struct {
	Kind     string // orgbase.OfferPlan or orgbase.OfferTopUp
	Key      string
	Provider string
}

// canBill is the policy for billing: owners, admins and billing members, and the operator.
func canBill(a orgbase.Access) bool {
	return a.IsOperator() || a.Membership != nil && orgbase.Can(orgbase.Actor{UserID: a.Membership.UserID, Membership: a.Membership}, orgbase.ActionBillingManage)
}

func newReference() string {
	var b [12]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return "co_" + hex.EncodeToString(b[:])
}

// StartCheckout opens a purchase: it looks the offer up in the catalog (the
// price is always the server's), allocates the organization's next invoice
// number and creates the checkout and its open invoice with one line, in
// one transaction. Invoice numbers have no gaps under concurrency: the
// counter is a column of the organization's row, incremented in the same
// transaction (the row lock queues concurrent checkouts; a rollback gives
// the number back).
//
// EINVALID for an unknown or unpurchasable offer (Free, Enterprise);
// EFORBIDDEN unless the actor may manage billing; ENOTFOUND for an unknown
// organization; ECONFLICT for one scheduled for deletion.
func (db *DB) StartCheckout(ctx context.Context, orgID int64, by orgbase.Access, n NewCheckout) (*orgbase.Checkout, error) {
	offer, err := orgbase.FindOffer(n.Kind, n.Key)
	if err != nil {
		return nil, err
	}
	if n.Provider == "" {
		return nil, orgbase.Errorf(orgbase.EINVALID, "No payment provider is configured.")
	}
	now := db.now()
	var out *orgbase.Checkout
	err = db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, canBill); err != nil {
			return err
		}
		if offer.Kind == orgbase.OfferPlan {
			if err := checkPlanPurchase(tx, orgID, offer.Key, now); err != nil {
				return err
			}
		}
		end := now
		if offer.Kind == orgbase.OfferPlan {
			p, _ := orgbase.FindPlan(offer.Key)
			if e := p.PeriodEnd(now); !e.IsZero() {
				end = e
			}
		}
		co, err := createCheckout(tx, newCheckoutReq{orgID: orgID, by: by, offer: offer, provider: n.Provider,
			purpose: orgbase.PurposePurchase, reference: newReference(), periodStart: now, periodEnd: end, now: now})
		out = co
		return err
	})
	return out, err
}

// newCheckoutReq is a checkout for createCheckout to open.
type newCheckoutReq struct {
	orgID                  int64
	by                     orgbase.Access
	offer                  orgbase.Offer
	provider               string
	purpose                string
	reference              string
	periodStart, periodEnd time.Time
	now                    time.Time
}

// createCheckout allocates the organization's next invoice number and
// creates the checkout and its open invoice with one line, in tx. Invoice
// numbers have no gaps under concurrency: the counter is a column of the
// organization's row, incremented in the same transaction (the row lock
// queues concurrent checkouts; a rollback gives the number back).
func createCheckout(tx *gorm.DB, r newCheckoutReq) (*orgbase.Checkout, error) {
	var org struct {
		InvoiceSeq   int64
		Slug         string
		Name         string
		BillingEmail string
		DeletedAt    *time.Time
	}
	err := tx.Raw(`UPDATE organizations SET invoice_seq = invoice_seq + 1 WHERE id = ?
		RETURNING invoice_seq, slug, name, billing_email, deleted_at`, r.orgID).Scan(&org).Error
	if err != nil {
		return nil, err
	}
	if org.InvoiceSeq == 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	if org.DeletedAt != nil {
		return nil, orgbase.Errorf(orgbase.ECONFLICT, "This organization is scheduled for deletion.")
	}
	offer := r.offer
	inv := invoiceRow{OrgID: r.orgID, Seq: org.InvoiceSeq, Number: orgbase.InvoiceNumber(orgbase.InvoicePrefix(org.Slug), org.InvoiceSeq),
		Status: orgbase.InvoiceOpen, Currency: offer.Currency, SubtotalCents: offer.PriceCents, TotalCents: offer.PriceCents,
		PeriodStart: r.periodStart, PeriodEnd: r.periodEnd, BillingEmail: org.BillingEmail, Provider: r.provider, CreatedAt: r.now}
	if err := tx.Create(&inv).Error; err != nil {
		return nil, err
	}
	line := invoiceLineRow{InvoiceID: inv.ID, Description: offer.Description, Quantity: 1, UnitCents: offer.PriceCents,
		AmountCents: offer.PriceCents, Credits: int64(offer.Credits)}
	if err := tx.Create(&line).Error; err != nil {
		return nil, err
	}
	co := checkoutRow{Reference: r.reference, OrgID: r.orgID, Provider: r.provider, Kind: offer.Kind, ItemKey: offer.Key,
		Description: offer.Description, AmountCents: offer.PriceCents, Currency: offer.Currency, Credits: int64(offer.Credits),
		Status: orgbase.CheckoutPending, InvoiceID: inv.ID, Purpose: r.purpose, CreatedBy: creator(r.by), CreatedAt: r.now, UpdatedAt: r.now}
	if err := tx.Create(&co).Error; err != nil {
		return nil, err
	}
	action := "billing.checkout"
	if r.purpose != orgbase.PurposePurchase {
		action = "billing." + r.purpose
	}
	return co.domain(), audit(tx, r.orgID, action, "invoice", itoa64(inv.ID), inv.Number, map[string]Change{
		"description": {To: offer.Description},
		"total":       {To: orgbase.FormatMoney(offer.PriceCents, offer.Currency)},
		"provider":    {To: r.provider},
	})
}

// SetCheckoutSession records the provider's session id of a started checkout.
func (db *DB) SetCheckoutSession(ctx context.Context, orgID int64, reference, sessionID string) error {
	res := db.q(ctx).Model(&checkoutRow{}).Where("org_id = ? AND reference = ?", orgID, reference).
		Updates(map[string]any{"provider_session_id": sessionID, "updated_at": db.now()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Checkout not found.")
	}
	return nil
}

// FailCheckout marks a checkout whose provider could not start it (an
// error before any payment) as failed, with its invoice, and grants
// nothing. A paid checkout stays paid.
func (db *DB) FailCheckout(ctx context.Context, orgID int64, reference, message string) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		co, err := lockCheckout(tx, reference)
		if err != nil || co.OrgID != orgID {
			return notFoundCheckout(err)
		}
		if co.Status == orgbase.CheckoutPaid {
			return nil
		}
		return failCheckout(tx, co, message, db.now())
	})
}

func notFoundCheckout(err error) error {
	if err == nil || errors.Is(err, gorm.ErrRecordNotFound) {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Checkout not found.")
	}
	return err
}

func lockCheckout(tx *gorm.DB, reference string) (*checkoutRow, error) {
	var co checkoutRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&co, "reference = ?", reference).Error; err != nil {
		return nil, err
	}
	return &co, nil
}

// failCheckout marks the checkout and its invoice failed and tells the
// organization (notifyPaymentFailed: email and notifications).
func failCheckout(tx *gorm.DB, co *checkoutRow, message string, now time.Time) error {
	if err := planPaymentFailed(tx, co, now); err != nil {
		return err
	}
	message, err := autoRechargePaymentFailed(tx, co, message, now)
	if err != nil {
		return err
	}
	number, err := markCheckoutFailed(tx, co, message, now)
	if err != nil {
		return err
	}
	return notifyPaymentFailed(tx, co.OrgID, number, co.Description, truncate(message, 500), now)
}

// markCheckoutFailed marks the checkout and its invoice failed, audited,
// without telling anyone; it returns the invoice's number.
func markCheckoutFailed(tx *gorm.DB, co *checkoutRow, message string, now time.Time) (string, error) {
	message = truncate(message, 500)
	if err := tx.Model(&checkoutRow{}).Where("id = ?", co.ID).
		Updates(map[string]any{"status": orgbase.CheckoutFailed, "message": message, "updated_at": now}).Error; err != nil {
		return "", err
	}
	if err := tx.Model(&invoiceRow{}).Where("id = ? AND status <> ?", co.InvoiceID, orgbase.InvoicePaid).
		Updates(map[string]any{"status": orgbase.InvoiceFailed, "failure_message": message}).Error; err != nil {
		return "", err
	}
	var number string
	if err := tx.Model(&invoiceRow{}).Where("id = ?", co.InvoiceID).Pluck("number", &number).Error; err != nil {
		return "", err
	}
	return number, audit(tx, co.OrgID, "billing.payment_failed", "invoice", itoa64(co.InvoiceID), number, map[string]Change{
		"description": {To: co.Description},
		"total":       {To: orgbase.FormatMoney(co.AmountCents, co.Currency)},
		"reason":      {To: message},
	})
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "")
}

// FindCheckout returns the organization's checkout with reference
// (ENOTFOUND for an unknown one or another organization's).
func (db *DB) FindCheckout(ctx context.Context, orgID int64, reference string) (*orgbase.Checkout, error) {
	var co checkoutRow
	if err := db.q(ctx).Take(&co, "org_id = ? AND reference = ?", orgID, reference).Error; err != nil {
		return nil, notFoundCheckout(err)
	}
	return co.domain(), nil
}

// Billing outcomes of ApplyBillingEvent.
const (
	OutcomePaid    = "paid"    // the checkout is paid and its credits granted
	OutcomeFailed  = "failed"  // the payment failed; nothing granted
	OutcomeIgnored = "ignored" // nothing to do (an event the app does not act on, an unknown checkout, a mismatch)
)

// BillingOutcome is what applying an event did.
type BillingOutcome struct {
	Status    string // OutcomePaid, OutcomeFailed or OutcomeIgnored
	Message   string // why it failed or was ignored
	OrgID     int64  // 0 when the event named no checkout of ours
	Reference string
	InvoiceID int64
	// Replayed is set when the event had been applied before: nothing
	// changed this time, the outcome is the first one's.
	Replayed bool
}

type billingEventRow struct {
	ID        int64
	Provider  string
	EventID   string
	Kind      string
	Reference string
	OrgID     *int64
	Outcome   string
	AppliedAt time.Time
}

func (billingEventRow) TableName() string { return "billing_events" }

// ApplyBillingEvent applies a provider's verified event exactly once. It
// first inserts (provider, event id) into billing_events, in the
// transaction that acts on the event: a second delivery, even concurrent,
// finds the row, changes nothing and returns the first outcome (Replayed).
//
// checkout_completed marks the checkout and its invoice paid and grants
// the credits through the ledger (plan_grant for a plan, top_up for a pack;
// the checkout reference is the transfer's idempotency key), and for a plan
// sets the organization's plan and subscription, and writes the receipt
// email. payment_failed marks them failed, grants nothing and notifies the
// billing people; checkout_expired (the person never paid) marks a pending
// checkout failed without a notice. An event for an unknown checkout, another
// provider's, or one whose amount, currency or customer does not match is
// ignored and changes nothing but its record.
func (db *DB) ApplyBillingEvent(ctx context.Context, ev billing.Event) (*BillingOutcome, error) {
	if ev.Provider == "" || ev.ID == "" {
		return nil, orgbase.Errorf(orgbase.EINVALID, "A billing event needs its provider and id.")
	}
	if len(ev.ID) > 255 || len(ev.Reference) > 255 {
		return nil, orgbase.Errorf(orgbase.EINVALID, "The billing event's id or reference is too long.")
	}
	now := db.now()
	var out *BillingOutcome
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Exec(`INSERT INTO billing_events (provider, event_id, kind, reference, outcome, applied_at)
			VALUES (?, ?, ?, ?, '', ?) ON CONFLICT (provider, event_id) DO NOTHING`, ev.Provider, ev.ID, string(ev.Kind), ev.Reference, now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			var prev billingEventRow
			if err := tx.Take(&prev, "provider = ? AND event_id = ?", ev.Provider, ev.ID).Error; err != nil {
				return err
			}
			out = outcomeOf(tx, &prev)
			return nil
		}
		o, err := db.applyEvent(tx, ev, now)
		if err != nil {
			return err
		}
		out = o
		rec := o.Status
		if o.Message != "" {
			rec += ": " + truncate(o.Message, 400)
		}
		var org any
		if o.OrgID != 0 {
			org = o.OrgID
		}
		return tx.Model(&billingEventRow{}).Where("provider = ? AND event_id = ?", ev.Provider, ev.ID).
			Updates(map[string]any{"outcome": rec, "org_id": org}).Error
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// outcomeOf reads back the outcome recorded for an event applied before.
func outcomeOf(tx *gorm.DB, e *billingEventRow) *BillingOutcome {
	status, msg, _ := strings.Cut(e.Outcome, ": ")
	o := &BillingOutcome{Status: status, Message: msg, Reference: e.Reference, Replayed: true}
	if e.OrgID != nil {
		o.OrgID = *e.OrgID
		var ids []int64
		if tx.Model(&checkoutRow{}).Where("org_id = ? AND reference = ?", o.OrgID, e.Reference).Pluck("invoice_id", &ids).Error == nil && len(ids) > 0 {
			o.InvoiceID = ids[0]
		}
	}
	return o
}

func (db *DB) applyEvent(tx *gorm.DB, ev billing.Event, now time.Time) (*BillingOutcome, error) {
	ignored := func(msg string) (*BillingOutcome, error) {
		return &BillingOutcome{Status: OutcomeIgnored, Message: msg, Reference: ev.Reference}, nil
	}
	if ev.Kind != billing.EventCheckoutCompleted && ev.Kind != billing.EventPaymentFailed && ev.Kind != billing.EventCheckoutExpired {
		return ignored("not an event the app acts on")
	}
	if ev.Reference == "" {
		return ignored("no checkout reference")
	}
	co, err := lockCheckout(tx, ev.Reference)
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return ignored("unknown checkout")
	} else if err != nil {
		return nil, err
	}
	if co.Provider != ev.Provider {
		return ignored("the checkout belongs to another provider")
	}
	out := &BillingOutcome{OrgID: co.OrgID, Reference: co.Reference, InvoiceID: co.InvoiceID}
	if ev.CustomerID != "" {
		var cust []billingCustomerRow
		if err := tx.Where("provider = ? AND customer_id = ?", ev.Provider, ev.CustomerID).Find(&cust).Error; err != nil {
			return nil, err
		}
		if len(cust) > 0 && cust[0].OrgID != co.OrgID {
			out.Status, out.Message = OutcomeIgnored, "the customer belongs to another organization"
			return out, nil
		}
	}
	if ev.Kind == billing.EventCheckoutExpired {
		// Nobody was charged: the checkout fails quietly (it shows on the
		// Billing tab), unless it was paid or had already failed.
		switch co.Status {
		case orgbase.CheckoutPaid:
			out.Status, out.Message = OutcomeIgnored, "the checkout is already paid"
			return out, nil
		case orgbase.CheckoutFailed:
			out.Status, out.Message = OutcomeIgnored, "the checkout had already failed"
			return out, nil
		}
		out.Status, out.Message = OutcomeFailed, billing.CheckoutExpiredMessage
		_, err := markCheckoutFailed(tx, co, billing.CheckoutExpiredMessage, now)
		return out, err
	}
	if ev.Kind == billing.EventPaymentFailed {
		if co.Status == orgbase.CheckoutPaid {
			out.Status, out.Message = OutcomeIgnored, "the checkout is already paid"
			return out, nil
		}
		msg := ev.Message
		if msg == "" {
			msg = billing.ErrDeclined.Error()
		}
		out.Status, out.Message = OutcomeFailed, msg
		return out, failCheckout(tx, co, msg, now)
	}
	if co.Status == orgbase.CheckoutPaid {
		out.Status = OutcomePaid // another event for the same payment: paid once already
		return out, nil
	}
	if ev.AmountCents != 0 && ev.AmountCents != co.AmountCents || ev.Currency != "" && !strings.EqualFold(ev.Currency, co.Currency) {
		out.Status, out.Message = OutcomeIgnored, "the amount paid does not match the checkout"
		return out, nil
	}
	if err := db.markPaid(tx, co, ev, now); err != nil {
		return nil, err
	}
	out.Status = OutcomePaid
	return out, nil
}

// markPaid marks the locked checkout and its invoice paid, grants the
// credits, for a plan sets the organization's plan and subscription, and
// writes the receipt email.
func (db *DB) markPaid(tx *gorm.DB, co *checkoutRow, ev billing.Event, now time.Time) error {
	if err := tx.Model(&checkoutRow{}).Where("id = ?", co.ID).
		Updates(map[string]any{"status": orgbase.CheckoutPaid, "message": "", "updated_at": now}).Error; err != nil {
		return err
	}
	if err := tx.Model(&invoiceRow{}).Where("id = ?", co.InvoiceID).
		Updates(map[string]any{"status": orgbase.InvoicePaid, "paid_at": now, "payment_ref": ev.PaymentID, "failure_message": ""}).Error; err != nil {
		return err
	}
	var inv invoiceRow
	if err := tx.Take(&inv, "id = ?", co.InvoiceID).Error; err != nil {
		return err
	}
	if ev.CustomerID != "" {
		if err := upsertCustomer(tx, co.OrgID, ev.Provider, ev.CustomerID, "", "", now); err != nil {
			return err
		}
	}
	kind, action := orgbase.TransferTopUp, "credits.top_up"
	if co.Kind == orgbase.OfferPlan {
		kind, action = orgbase.TransferPlanGrant, "credits.plan_grant"
	}
	r := grantReq(co.OrgID, orgbase.Credits(co.Credits), kind, co.Description+" (invoice "+inv.Number+")", "checkout:"+co.Reference, action)
	if err := r.validate(); err != nil {
		return err
	}
	if _, _, _, err := db.transferIn(tx, &r); err != nil {
		return err
	}
	changes := map[string]Change{
		"description": {To: co.Description},
		"total":       {To: orgbase.FormatMoney(co.AmountCents, co.Currency)},
		"credits":     {To: orgbase.Credits(co.Credits).String()},
	}
	if co.Kind == orgbase.OfferPlan {
		if err := db.applyPlanPaid(tx, co, &inv, now, changes); err != nil {
			return err
		}
	}
	if err := audit(tx, co.OrgID, "billing.paid", "invoice", itoa64(inv.ID), inv.Number, changes); err != nil {
		return err
	}
	return mailReceipt(tx, co.OrgID, inv.ID, now)
}

func upsertCustomer(tx *gorm.DB, orgID int64, provider, customerID, brand, last4 string, now time.Time) error {
	set := "customer_id = excluded.customer_id, updated_at = excluded.updated_at"
	if last4 != "" {
		set += ", card_brand = excluded.card_brand, card_last4 = excluded.card_last4"
	}
	err := tx.Exec(`INSERT INTO billing_customers (org_id, provider, customer_id, card_brand, card_last4, created_at, updated_at)
		VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (org_id, provider) DO UPDATE SET `+set,
		orgID, provider, customerID, brand, last4, now, now).Error
	if isUniqueViolation(err) {
		return orgbase.Errorf(orgbase.ECONFLICT, "That customer belongs to another organization.")
	}
	return err
}

// SaveBillingCustomer records the organization's customer at a provider
// and, when last4 is set, the card it pays with (brand and last four
// digits, never the number).
func (db *DB) SaveBillingCustomer(ctx context.Context, c orgbase.BillingCustomer) error {
	if c.CustomerID == "" || c.Provider == "" {
		return orgbase.Errorf(orgbase.EINVALID, "A billing customer needs its provider and id.")
	}
	if c.CardLast4 != "" && (len(c.CardLast4) != 4 || strings.Trim(c.CardLast4, "0123456789") != "") {
		return orgbase.Errorf(orgbase.EINVALID, "A card's last four digits are four digits.")
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		return upsertCustomer(tx, c.OrgID, c.Provider, c.CustomerID, truncate(c.CardBrand, 40), c.CardLast4, db.now())
	})
}

// FindBillingCustomer returns the organization's customer at provider, nil when it has none.
func (db *DB) FindBillingCustomer(ctx context.Context, orgID int64, provider string) (*orgbase.BillingCustomer, error) {
	var rows []billingCustomerRow
	if err := db.q(ctx).Where("org_id = ? AND provider = ?", orgID, provider).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	r := rows[0]
	return &orgbase.BillingCustomer{OrgID: r.OrgID, Provider: r.Provider, CustomerID: r.CustomerID, CardBrand: r.CardBrand, CardLast4: r.CardLast4}, nil
}

// FindSubscription returns the organization's subscription, nil when it has none (Free).
func (db *DB) FindSubscription(ctx context.Context, orgID int64) (*orgbase.Subscription, error) {
	var rows []subscriptionRow
	if err := db.q(ctx).Where("org_id = ?", orgID).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].domain(), nil
}

// MaxInvoicesListed bounds the invoices FindInvoices returns.
const MaxInvoicesListed = 200

// FindInvoices lists the organization's invoices, newest first, without their lines.
func (db *DB) FindInvoices(ctx context.Context, orgID int64) ([]orgbase.Invoice, error) {
	var rows []invoiceRow
	if err := db.q(ctx).Where("org_id = ?", orgID).Order("seq DESC").Limit(MaxInvoicesListed).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]orgbase.Invoice, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// FindInvoice returns the organization's invoice with id, with its lines
// and the organization's name (ENOTFOUND for another organization's).
func (db *DB) FindInvoice(ctx context.Context, orgID, id int64) (*orgbase.Invoice, error) {
	var r invoiceRow
	if err := db.q(ctx).Take(&r, "org_id = ? AND id = ?", orgID, id).Error; err != nil {
		return nil, notFound(err, "Invoice not found.")
	}
	inv := r.domain()
	var lines []invoiceLineRow
	if err := db.q(ctx).Where("invoice_id = ?", id).Order("position, id").Find(&lines).Error; err != nil {
		return nil, err
	}
	for _, l := range lines {
		inv.Lines = append(inv.Lines, orgbase.InvoiceLine{Description: l.Description, Quantity: l.Quantity, UnitCents: l.UnitCents,
			AmountCents: l.AmountCents, Credits: orgbase.Credits(l.Credits)})
	}
	var names []string
	if err := db.q(ctx).Model(&orgRow{}).Where("id = ?", orgID).Pluck("name", &names).Error; err != nil {
		return nil, err
	}
	if len(names) > 0 {
		inv.OrgName = names[0]
	}
	return &inv, nil
}

// FindInvoiceCheckout returns the checkout that pays the invoice, nil when none does.
func (db *DB) FindInvoiceCheckout(ctx context.Context, orgID, invoiceID int64) (*orgbase.Checkout, error) {
	var rows []checkoutRow
	if err := db.q(ctx).Where("org_id = ? AND invoice_id = ?", orgID, invoiceID).Find(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, nil
	}
	return rows[0].domain(), nil
}

// FindOrgSlug returns the URL slug of the organization with id.
func (db *DB) FindOrgSlug(ctx context.Context, orgID int64) (string, error) {
	var slugs []string
	if err := db.q(ctx).Model(&orgRow{}).Where("id = ?", orgID).Pluck("slug", &slugs).Error; err != nil {
		return "", err
	}
	if len(slugs) == 0 {
		return "", orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	return slugs[0], nil
}

// GrantTrialCredits grants the Free plan's one-off trial credits to a new
// organization, once: the transfer's idempotency key makes a repeat a no-op.
// CreateOrg grants them itself for an organization created on Free.
func (db *DB) GrantTrialCredits(ctx context.Context, orgID int64) (*orgbase.Transfer, error) {
	return db.transfer(ctx, trialGrantReq(orgID))
}

// trialGrantReq is the Free plan's trial grant into the pool, keyed so that
// an organization gets it at most once.
func trialGrantReq(orgID int64) transferReq {
	free, _ := orgbase.FindPlan(orgbase.PlanFree)
	return grantReq(orgID, free.Credits, orgbase.TransferPlanGrant, "Free plan trial credits", "plan:free:trial", "credits.plan_grant")
}
