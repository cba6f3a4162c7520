package orgbase

import (
	"strconv"
	"strings"
	"time"
)

// Plans and top-up packs (SPEC §7) are data: the catalog below is the only
// place a price or a number of credits is written. Checkouts look their
// purchase up here by key, so the price always comes from the server.
//
// Money is an integer number of cents; credits are Credits.

// Currency is the currency of every price in the catalog (ISO 4217, lower case).
const Currency = "usd"

// Rollover says what happens to a plan's unused credits.
type Rollover string

// Rollover rules.
const (
	RolloverNone Rollover = "none" // a one-off grant that stays until spent (Free's trial)
	RolloverKeep Rollover = "keep" // unused credits roll over to the next period (Pro, Teams)
	RolloverBank Rollover = "bank" // usable for the validity; what is left then moves to the credit bank (Onetime)
)

// Label is the rule as people read it.
func (r Rollover) Label() string {
	switch r {
	case RolloverNone:
		return "One-off credits"
	case RolloverKeep:
		return "Unused credits roll over"
	case RolloverBank:
		return "Unused credits move to your credit bank"
	}
	return string(r)
}

// Billing periods.
const (
	PeriodOnce  = "once"
	PeriodMonth = "month"
)

// Plan is one plan of the catalog.
type Plan struct {
	Key        string
	Name       string
	Summary    string   // one line under the name
	PriceCents int64    // per period; 0 for Free and for Enterprise (custom)
	Currency   string   // ISO 4217, lower case
	Period     string   // PeriodMonth or PeriodOnce
	Credits    Credits  // per period (once for Free and Onetime)
	Rollover   Rollover // what happens to unused credits
	// ValidityMonths is how long a one-off purchase's credits stay in the
	// pool (Onetime: 6); 0 means they do not lapse.
	ValidityMonths int
	Entitlements   []string // features the plan includes
	// Custom plans (Enterprise) are set by the operator: shown as "Contact
	// us", never sold in the app.
	Custom bool
}

// Paid reports whether the plan is bought through a checkout.
func (p Plan) Paid() bool { return p.PriceCents > 0 && !p.Custom }

// PriceLabel is the price as a plan card shows it: "$49 / month", "$99 once", "Free", "Contact us".
func (p Plan) PriceLabel() string {
	switch {
	case p.Custom:
		return "Contact us"
	case p.PriceCents == 0:
		return "Free"
	case p.Period == PeriodMonth:
		return FormatMoney(p.PriceCents, p.Currency) + " / month"
	}
	return FormatMoney(p.PriceCents, p.Currency) + " once"
}

// CreditsLabel says how many credits the plan gives, and how often.
func (p Plan) CreditsLabel() string {
	switch {
	case p.Custom:
		return "Credits to fit your usage"
	case p.Period == PeriodMonth:
		return p.Credits.String() + " credits every month"
	case p.ValidityMonths > 0:
		return p.Credits.String() + " credits, usable for " + strconv.Itoa(p.ValidityMonths) + " months"
	}
	// Free: the one-off trial grant at sign-up (store.NewOrg.FreeTrial).
	return p.Credits.String() + " trial credits, once"
}

// PeriodEnd is when a period of the plan that starts at start ends: a
// month later for monthly plans, the validity for one-off purchases, and
// the zero time when the plan has no period (Free, Enterprise).
func (p Plan) PeriodEnd(start time.Time) time.Time {
	switch {
	case p.Period == PeriodMonth:
		return start.AddDate(0, 1, 0)
	case p.ValidityMonths > 0:
		return start.AddDate(0, p.ValidityMonths, 0)
	}
	return time.Time{}
}

// Plan keys.
const (
	PlanFree       = "free"
	PlanPro        = "pro"
	PlanTeams      = "teams"
	PlanOnetime    = "onetime"
	PlanEnterprise = "enterprise"
)

var plans = []Plan{
	{Key: PlanFree, Name: "Free", Summary: "Try Orgbase with your team.", Currency: Currency, Period: PeriodOnce,
		Credits: 1_000 * Credit, Rollover: RolloverNone,
		Entitlements: []string{"Up to 3 workspace levels", "Usage API", "Community support"}},
	{Key: PlanPro, Name: "Pro", Summary: "For a team using AI every day.", PriceCents: 4_900, Currency: Currency, Period: PeriodMonth,
		Credits: 50_000 * Credit, Rollover: RolloverKeep,
		Entitlements: []string{"Workspace budgets and limits", "Usage API", "Email support"}},
	{Key: PlanTeams, Name: "Teams", Summary: "For several teams with their own budgets.", PriceCents: 19_900, Currency: Currency, Period: PeriodMonth,
		Credits: 250_000 * Credit, Rollover: RolloverKeep,
		Entitlements: []string{"Everything in Pro", "Audit log export", "Priority support"}},
	{Key: PlanOnetime, Name: "Onetime", Summary: "Prepaid credits, no subscription.", PriceCents: 9_900, Currency: Currency, Period: PeriodOnce,
		Credits: 100_000 * Credit, Rollover: RolloverBank, ValidityMonths: 6,
		Entitlements: []string{"Workspace budgets and limits", "Usage API", "Email support"}},
	{Key: PlanEnterprise, Name: "Enterprise", Summary: "Custom credits, price and terms.", Currency: Currency, Custom: true,
		Entitlements: []string{"Everything in Teams", "Single sign-on", "Dedicated support and invoicing"}},
}

// Plans returns the catalog's plans, cheapest first (Enterprise last).
func Plans() []Plan { return append([]Plan(nil), plans...) }

// FindPlan returns the plan with key.
func FindPlan(key string) (Plan, bool) {
	for _, p := range plans {
		if p.Key == key {
			return p, true
		}
	}
	return Plan{}, false
}

// PlanName is the name of the plan with key ("Free", "Pro"), or the key itself.
func PlanName(key string) string {
	if p, ok := FindPlan(key); ok {
		return p.Name
	}
	return key
}

// Pack is a top-up pack ("Buy more credits"): credits that land in the pool at once.
type Pack struct {
	Key        string
	Name       string
	Credits    Credits
	PriceCents int64
	Currency   string
}

var packs = []Pack{
	{Key: "pack-10k", Name: "10,000 credits", Credits: 10_000 * Credit, PriceCents: 1_200, Currency: Currency},
	{Key: "pack-50k", Name: "50,000 credits", Credits: 50_000 * Credit, PriceCents: 5_500, Currency: Currency},
	{Key: "pack-200k", Name: "200,000 credits", Credits: 200_000 * Credit, PriceCents: 20_000, Currency: Currency},
}

// Packs returns the top-up packs, smallest first.
func Packs() []Pack { return append([]Pack(nil), packs...) }

// FindPack returns the pack with key.
func FindPack(key string) (Pack, bool) {
	for _, p := range packs {
		if p.Key == key {
			return p, true
		}
	}
	return Pack{}, false
}

// Offer kinds: what a checkout sells (the same strings as billing.PurchaseKind).
const (
	OfferPlan  = "plan"
	OfferTopUp = "top_up"
)

// Offer is one thing a checkout can sell, resolved from the catalog.
type Offer struct {
	Kind        string // OfferPlan or OfferTopUp
	Key         string
	Description string // the invoice line
	PriceCents  int64
	Currency    string
	Credits     Credits
}

// FindOffer resolves a purchase by kind and key: a paid plan or a pack.
// EINVALID (with a message a person can act on) for anything else: an
// unknown key, Free (nothing to pay) or Enterprise (contact us).
func FindOffer(kind, key string) (Offer, error) {
	switch kind {
	case OfferPlan:
		p, ok := FindPlan(key)
		switch {
		case !ok:
			return Offer{}, Errorf(EINVALID, "Choose one of the plans.")
		case p.Custom:
			return Offer{}, Errorf(EINVALID, "The %s plan is set up with you by our team: contact us.", p.Name)
		case !p.Paid():
			return Offer{}, Errorf(EINVALID, "The %s plan has nothing to pay.", p.Name)
		}
		desc := p.Name + " plan, " + p.CreditsLabel()
		return Offer{Kind: kind, Key: key, Description: desc, PriceCents: p.PriceCents, Currency: p.Currency, Credits: p.Credits}, nil
	case OfferTopUp:
		p, ok := FindPack(key)
		if !ok {
			return Offer{}, Errorf(EINVALID, "Choose one of the credit packs.")
		}
		return Offer{Kind: kind, Key: key, Description: "Top-up: " + p.Name, PriceCents: p.PriceCents, Currency: p.Currency, Credits: p.Credits}, nil
	}
	return Offer{}, Errorf(EINVALID, "Choose a plan or a credit pack.")
}

// FormatMoney writes cents in a currency as people read it: "$49.00",
// "$1,200.50", "€12.00", "12.00 CHF".
func FormatMoney(cents int64, currency string) string {
	neg := cents < 0
	if neg {
		cents = -cents
	}
	whole := Credits(cents / 100 * 1000).String()
	s := whole + "." + pad2(cents%100)
	switch strings.ToLower(currency) {
	case "usd":
		s = "$" + s
	case "eur":
		s = "€" + s
	case "gbp":
		s = "£" + s
	default:
		s += " " + strings.ToUpper(currency)
	}
	if neg {
		return "-" + s
	}
	return s
}

func pad2(n int64) string {
	if n < 10 {
		return "0" + strconv.FormatInt(n, 10)
	}
	return strconv.FormatInt(n, 10)
}

// Checkout, invoice and subscription statuses.
const (
	CheckoutPending = "pending"
	CheckoutPaid    = "paid"
	CheckoutFailed  = "failed"

	InvoiceOpen   = "open"
	InvoicePaid   = "paid"
	InvoiceFailed = "failed"
	InvoiceVoid   = "void"

	SubscriptionActive   = "active"
	SubscriptionPastDue  = "past_due" // the renewal's payment failed
	SubscriptionCanceled = "canceled" // ended: canceled at period end, or a Onetime purchase expired
)

// Checkout purposes: what a checkout is for.
const (
	PurposePurchase     = "purchase"      // bought in the browser (a plan's first period, a pack)
	PurposeRenewal      = "renewal"       // a monthly plan's next period, charged off-session by the billing job
	PurposeUpgrade      = "upgrade"       // a move to a dearer plan now, prorated (Proration)
	PurposeAutoRecharge = "auto_recharge" // a pack charged off-session when the pool runs low
)

// InvoiceStatusLabel is an invoice status as people read it.
func InvoiceStatusLabel(s string) string {
	switch s {
	case InvoiceOpen:
		return "Awaiting payment"
	case InvoicePaid:
		return "Paid"
	case InvoiceFailed:
		return "Payment failed"
	case InvoiceVoid:
		return "Void"
	}
	return s
}

// Checkout is a purchase being paid: one checkout, one invoice.
type Checkout struct {
	ID                int64
	Reference         string // the app's id, handed to the provider and back
	OrgID             int64
	Provider          string
	Kind              string // OfferPlan or OfferTopUp
	Key               string
	Description       string
	AmountCents       int64
	Currency          string
	Credits           Credits
	Status            string
	Message           string // why the last payment failed
	ProviderSessionID string
	InvoiceID         int64
	Purpose           string // PurposePurchase, PurposeRenewal, PurposeUpgrade or PurposeAutoRecharge
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// Invoice is a billing record (SPEC §7): number, date, period, lines, total, status.
type Invoice struct {
	ID             int64
	OrgID          int64
	Number         string // "ACME-0001", unique within the organization
	Status         string
	Currency       string
	SubtotalCents  int64
	TotalCents     int64
	PeriodStart    time.Time
	PeriodEnd      time.Time
	BillingEmail   string
	OrgName        string
	Provider       string
	PaymentRef     string
	FailureMessage string
	CreatedAt      time.Time
	PaidAt         *time.Time
	Lines          []InvoiceLine
}

// InvoiceLine is one line of an invoice.
type InvoiceLine struct {
	Description string
	Quantity    int64
	UnitCents   int64
	AmountCents int64
	Credits     Credits
}

// Subscription is an organization's current plan and period.
type Subscription struct {
	OrgID              int64
	Plan               string
	Status             string
	Provider           string
	CurrentPeriodStart time.Time
	CurrentPeriodEnd   *time.Time
	// CancelAtPeriodEnd: the subscription ends at CurrentPeriodEnd instead
	// of renewing (Resume clears it).
	CancelAtPeriodEnd bool
	// NextPlan is a downgrade taking effect at the renewal ("" renews Plan).
	NextPlan string
	EndedAt  *time.Time
}

// Renews reports whether the subscription renews at the end of its period:
// an active monthly plan not canceled.
func (s *Subscription) Renews() bool {
	if s == nil || s.Status != SubscriptionActive || s.CancelAtPeriodEnd || s.CurrentPeriodEnd == nil {
		return false
	}
	p, ok := FindPlan(s.Plan)
	return ok && p.Period == PeriodMonth
}

// Proration is what an upgrade now costs and gives: the difference between
// the two plans' prices and credits for the part of the period that is
// left. Money is rounded up to the cent and credits down to a whole
// credit, so an upgrade never gives more than the new plan would have
// for the whole period, nor costs less than its share.
type Proration struct {
	From, To    Plan
	PriceCents  int64
	Credits     Credits
	PeriodStart time.Time
	PeriodEnd   time.Time
	Now         time.Time
}

// Prorate computes the upgrade from from to to at now, in the period
// [start, end). EINVALID when to is not a dearer monthly plan or the period
// is over.
func Prorate(from, to Plan, start, end, now time.Time) (Proration, error) {
	switch {
	case from.Period != PeriodMonth || to.Period != PeriodMonth || !to.Paid():
		return Proration{}, Errorf(EINVALID, "Upgrades move from one monthly plan to another.")
	case to.PriceCents <= from.PriceCents:
		return Proration{}, Errorf(EINVALID, "%s costs no more than %s: downgrades take effect at the end of the period.", to.Name, from.Name)
	case !end.After(now) || !end.After(start):
		return Proration{}, Errorf(EINVALID, "The current period has ended; the renewal comes first.")
	}
	if now.Before(start) {
		now = start
	}
	left, total := int64(end.Sub(now)/time.Second), int64(end.Sub(start)/time.Second)
	if left <= 0 || total <= 0 {
		return Proration{}, Errorf(EINVALID, "The current period has ended; the renewal comes first.")
	}
	price := ((to.PriceCents-from.PriceCents)*left + total - 1) / total
	credits := (int64(to.Credits) - int64(from.Credits)) * left / total
	credits -= credits % int64(Credit) // whole credits
	if price <= 0 || credits <= 0 {
		return Proration{}, Errorf(EINVALID, "The current period is about to end: choose %s at the renewal.", to.Name)
	}
	return Proration{From: from, To: to, PriceCents: price, Credits: Credits(credits), PeriodStart: start, PeriodEnd: end, Now: now}, nil
}

// InvoicePrefix is the start of an organization's invoice numbers: its
// slug's letters and digits in capitals, at most eight ("acme-inc" gives
// "ACMEINC").
func InvoicePrefix(slug string) string {
	var b strings.Builder
	for _, r := range strings.ToUpper(slug) {
		if (r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') && b.Len() < 8 {
			b.WriteRune(r)
		}
	}
	if b.Len() == 0 {
		return "INV"
	}
	return b.String()
}

// InvoiceNumber is the number of an organization's seq-th invoice: "ACME-0001".
func InvoiceNumber(prefix string, seq int64) string {
	s := strconv.FormatInt(seq, 10)
	if len(s) < 4 {
		s = strings.Repeat("0", 4-len(s)) + s
	}
	return prefix + "-" + s
}

// BillingCustomer is an organization's customer at a payment provider, with
// the card it paid with last (brand and last four digits only).
type BillingCustomer struct {
	OrgID      int64
	Provider   string
	CustomerID string
	CardBrand  string
	CardLast4  string
}
