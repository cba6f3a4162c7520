package orgbase

import (
	"strconv"
	"strings"
	"time"
)

// Auto-recharge (SPEC §7): when the organization pool falls below a
// threshold, the billing job buys a chosen credit pack with the saved card,
// at most a monthly cap of spend (calendar month, UTC). It is off by
// default, and a failed payment turns it off.

// Bounds of the auto-recharge settings (the database checks them too).
const (
	// MaxAutoRechargeThreshold is the highest threshold: ten million credits.
	MaxAutoRechargeThreshold = 10_000_000 * Credit
	// MaxAutoRechargeCapCents is the highest monthly cap: $100,000.
	MaxAutoRechargeCapCents int64 = 10_000_000
)

// Who turned auto-recharge off last (AutoRecharge.OffCause).
const (
	AutoRechargeOffByUser        = "user"           // a billing owner turned it off
	AutoRechargeOffPaymentFailed = "payment_failed" // an auto-recharge's payment failed
)

// AutoRechargeSettings are what a billing owner sets.
type AutoRechargeSettings struct {
	Enabled bool
	// Threshold: a recharge starts when the pool holds less than this.
	Threshold Credits
	// Pack is the key of the credit pack bought (FindPack).
	Pack string
	// MonthlyCapCents bounds what auto-recharge spends in a calendar month
	// (UTC), counting paid and pending recharges.
	MonthlyCapCents int64
}

// DefaultAutoRechargeSettings are the settings of an organization that
// saved none: off, and the values the form offers first.
func DefaultAutoRechargeSettings() AutoRechargeSettings {
	return AutoRechargeSettings{Threshold: 5_000 * Credit, Pack: packs[0].Key, MonthlyCapCents: 10 * packs[0].PriceCents}
}

// Validate checks the settings as a person sets them: EINVALID naming each
// field that is wrong ("threshold", "pack", "monthly_cap"). The cap must
// pay for at least one pack.
func (s AutoRechargeSettings) Validate() error {
	var v Validator
	switch {
	case s.Threshold <= 0:
		v.Check(false, "threshold", "Enter a number of credits above zero, such as 5,000.")
	case s.Threshold > MaxAutoRechargeThreshold:
		v.Check(false, "threshold", "Enter at most "+MaxAutoRechargeThreshold.String()+" credits.")
	}
	p, ok := FindPack(s.Pack)
	v.Check(ok, "pack", "Choose one of the credit packs.")
	switch {
	case s.MonthlyCapCents <= 0:
		v.Check(false, "monthly_cap", "Enter the most auto-recharge may spend in a month, such as $120.")
	case s.MonthlyCapCents > MaxAutoRechargeCapCents:
		v.Check(false, "monthly_cap", "Enter at most "+FormatMoney(MaxAutoRechargeCapCents, Currency)+" a month.")
	case ok && s.MonthlyCapCents < p.PriceCents:
		v.Check(false, "monthly_cap", "The cap must cover at least one pack: "+FormatMoney(p.PriceCents, p.Currency)+" for "+p.Name+".")
	}
	return v.Err()
}

// AutoRecharge is an organization's auto-recharge as stored, with what it
// spent this month.
type AutoRecharge struct {
	OrgID int64
	AutoRechargeSettings
	// Saved is false for an organization that never saved its settings
	// (the defaults, off).
	Saved bool
	// OffCause, OffReason, OffAt and OffInvoiceID say who turned it off
	// last and why: AutoRechargeOffByUser, or AutoRechargeOffPaymentFailed
	// with the provider's message and the failed invoice. Cleared when it
	// is turned back on.
	OffCause     string
	OffReason    string
	OffAt        *time.Time
	OffInvoiceID int64
	UpdatedBy    *int64
	UpdatedAt    time.Time
	// SpentCents is what auto-recharge spent this calendar month (UTC):
	// its paid and pending checkouts.
	SpentCents int64
}

// OffByFailedPayment reports whether a failed payment turned it off (and
// nobody turned it back on since).
func (a AutoRecharge) OffByFailedPayment() bool {
	return !a.Enabled && a.OffCause == AutoRechargeOffPaymentFailed
}

// MonthStart is the start of the calendar month (UTC) of t: the period of
// the auto-recharge cap.
func MonthStart(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), 1, 0, 0, 0, 0, time.UTC)
}

// ParseMoney reads an amount of money written as people do: "120",
// "$120", "120.50", "1,200" (thousands separators, when correctly
// grouped), in the catalog's currency, and returns cents. It refuses
// negative amounts, more than two decimals and anything that is not a
// number, with an EINVALID error a person can act on.
func ParseMoney(s string) (int64, error) {
	bad := func(msg string) (int64, error) { return 0, Errorf(EINVALID, "%s", msg) }
	s = strings.TrimSpace(s)
	s = strings.TrimSpace(strings.TrimPrefix(s, "$"))
	switch {
	case s == "":
		return bad("Enter an amount in dollars, such as 120.")
	case len(s) > 20:
		return bad("That amount is too large.")
	case strings.HasPrefix(s, "-"):
		return bad("The amount cannot be negative.")
	}
	whole, frac, hasPoint := strings.Cut(s, ".")
	if hasPoint && frac == "" || whole == "" && frac == "" {
		return bad("Enter an amount in dollars, such as 120 or 99.50.")
	}
	if len(frac) > 2 {
		return bad("Amounts have at most two decimals (cents).")
	}
	if strings.Contains(whole, ",") {
		grouped, ok := ungroup(whole)
		if !ok {
			return bad("Enter an amount in dollars, such as 120 or 99.50.")
		}
		whole = grouped
	}
	if !allDigits(whole) || !allDigits(frac) {
		return bad("Enter an amount in dollars, such as 120 or 99.50.")
	}
	whole = strings.TrimLeft(whole, "0")
	if len(whole) > 12 {
		return bad("That amount is too large.")
	}
	var w int64
	if whole != "" {
		var err error
		if w, err = strconv.ParseInt(whole, 10, 64); err != nil {
			return bad("That amount is too large.")
		}
	}
	f := int64(0)
	for i := range 2 {
		f *= 10
		if i < len(frac) {
			f += int64(frac[i] - '0')
		}
	}
	return w*100 + f, nil
}

// FormatDollars writes cents as a form field shows them: "120", "99.50",
// "1200" (no currency sign, no separators: what ParseMoney reads back).
func FormatDollars(cents int64) string {
	if cents%100 == 0 {
		return strconv.FormatInt(cents/100, 10)
	}
	return strconv.FormatInt(cents/100, 10) + "." + pad2(cents%100)
}
