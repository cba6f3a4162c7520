// Package testprovider is the built-in payment provider for local use and
// tests (SPEC §7): no money moves. A checkout sends the browser to the
// app's own card page (/orgs/:org/billing/checkout/:reference), clearly
// labelled TEST MODE, which takes the documented test cards:
//
//	4242 4242 4242 4242  paid (any future expiry, any CVC)
//	4000 0000 0000 0002  declined
//	4000 0000 0000 0341  paid now; later off-session charges are declined
//
// Any other number is refused as a field error: only test cards work here.
// Submitting the page produces a billing.Event that the app applies through
// the same path as Stripe's webhook (store.ApplyBillingEvent).
//
// ChargeOffSession succeeds when the organization's saved test card (the
// last one it paid with) is 4242…; it is declined when the saved card is
// 4000…0341 or when the organization has no saved card.
//
// The full card number is never stored or logged: only the brand and the
// last four digits are kept, as a real provider shows them.
package testprovider

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// Name is the provider's key.
const Name = "test"

// The documented test cards.
const (
	CardSuccess           = "4242424242424242"
	CardDecline           = "4000000000000002"
	CardDeclineOffSession = "4000000000000341"
)

// TestCard is one documented card, as the card page lists it.
type TestCard struct {
	Number string // grouped by four for reading
	Result string
}

// TestCards are the cards the page documents.
var TestCards = []TestCard{
	{"4242 4242 4242 4242", "Payment succeeds"},
	{"4000 0000 0000 0002", "Card is declined"},
	{"4000 0000 0000 0341", "Payment succeeds; later automatic charges are declined"},
}

// DeclineMessage is what a person reads when the decline card is used.
const DeclineMessage = "Your card was declined. No money was taken and no credits were added. Try another card."

// Store is what the provider reads: the organization's URL slug (for the
// card page's address) and its saved card (for off-session charges).
type Store interface {
	FindOrgSlug(ctx context.Context, orgID int64) (string, error)
	FindBillingCustomer(ctx context.Context, orgID int64, provider string) (*orgbase.BillingCustomer, error)
}

// Provider is the test provider.
type Provider struct {
	base  *url.URL
	store Store
}

// New returns the test provider; base is the app's public URL.
func New(base *url.URL, store Store) *Provider {
	return &Provider{base: base, store: store}
}

// Name implements billing.Provider.
func (p *Provider) Name() string { return Name }

// CheckoutPath is the card page of a checkout, relative to the site.
func CheckoutPath(slug, reference string) string {
	return "/orgs/" + slug + "/billing/checkout/" + url.PathEscape(reference)
}

// StartCheckout implements billing.Provider: the checkout is the app's card page.
func (p *Provider) StartCheckout(ctx context.Context, r billing.CheckoutRequest) (*billing.Checkout, error) {
	if r.Reference == "" || r.Purchase.AmountCents <= 0 {
		return nil, fmt.Errorf("test provider: a checkout needs a reference and an amount above zero")
	}
	slug, err := p.store.FindOrgSlug(ctx, r.OrgID)
	if err != nil {
		return nil, err
	}
	u := *p.base
	u.Path = CheckoutPath(slug, r.Reference)
	return &billing.Checkout{ID: "tcs_" + r.Reference, URL: u.String()}, nil
}

// ChargeOffSession implements billing.Provider: see the package comment.
func (p *Provider) ChargeOffSession(ctx context.Context, c billing.OffSessionCharge) (*billing.Payment, error) {
	if c.Reference == "" || c.Purchase.AmountCents <= 0 {
		return nil, fmt.Errorf("test provider: a charge needs a reference and an amount above zero")
	}
	cust, err := p.store.FindBillingCustomer(ctx, c.OrgID, Name)
	if err != nil {
		return nil, err
	}
	id := "tpay_" + c.Reference
	switch {
	case cust == nil || cust.CardLast4 == "":
		return &billing.Payment{ID: id, Status: "failed", FailureMessage: "No card is saved for this organization."},
			fmt.Errorf("test provider: no saved card: %w", billing.ErrDeclined)
	case cust.CardLast4 == CardDeclineOffSession[12:] || cust.CardLast4 == CardDecline[12:]:
		return &billing.Payment{ID: id, Status: "failed", FailureMessage: "The saved card (ending " + cust.CardLast4 + ") was declined."},
			fmt.Errorf("test provider: card ending %s: %w", cust.CardLast4, billing.ErrDeclined)
	}
	return &billing.Payment{ID: id, Status: "succeeded"}, nil
}

// PortalURL implements billing.Provider: the test provider has no portal.
func (p *Provider) PortalURL(context.Context, string, string) (string, error) { return "", nil }

// CustomerID is the test provider's customer id of an organization.
func CustomerID(orgID int64) string { return "tcus_" + strconv.FormatInt(orgID, 10) }

// CardForm is what the card page's form sends.
type CardForm struct {
	Name   string
	Number string
	Expiry string // MM/YY
	CVC    string
}

// Card is a validated card: only what may be kept.
type Card struct {
	Brand  string
	Last4  string
	digits string // the number, for deciding the outcome; never stored
}

// Declined reports whether the card is the decline card.
func (c Card) Declined() bool { return c.digits == CardDecline }

// Validate checks the form: the number (digits, length, Luhn, and one of
// the test cards), the expiry (MM/YY, not past) and the CVC (3 or 4
// digits). It returns the card, or the field errors.
func Validate(f CardForm, now time.Time) (Card, map[string]string) {
	fields := map[string]string{}
	digits := strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, strings.TrimSpace(f.Number))
	switch {
	case digits == "":
		fields["number"] = "Enter the card number."
	case strings.Trim(digits, "0123456789") != "":
		fields["number"] = "A card number has only digits."
	case len(digits) < 12 || len(digits) > 19:
		fields["number"] = "A card number has 12 to 19 digits."
	case !luhn(digits):
		fields["number"] = "This card number is not valid: check for a typo."
	case digits != CardSuccess && digits != CardDecline && digits != CardDeclineOffSession:
		fields["number"] = "This is test mode: use one of the test card numbers listed on this page."
	}
	if msg := checkExpiry(f.Expiry, now); msg != "" {
		fields["expiry"] = msg
	}
	cvc := strings.TrimSpace(f.CVC)
	if cvc == "" {
		fields["cvc"] = "Enter the security code."
	} else if (len(cvc) != 3 && len(cvc) != 4) || strings.Trim(cvc, "0123456789") != "" {
		fields["cvc"] = "The security code is 3 or 4 digits."
	}
	if len(strings.TrimSpace(f.Name)) > 100 {
		fields["name"] = "The name on the card is at most 100 characters."
	}
	if len(fields) > 0 {
		return Card{}, fields
	}
	return Card{Brand: "Visa", Last4: digits[len(digits)-4:], digits: digits}, nil
}

func checkExpiry(s string, now time.Time) string {
	s = strings.ReplaceAll(strings.TrimSpace(s), " ", "")
	if s == "" {
		return "Enter the expiry date."
	}
	mm, yy, ok := strings.Cut(s, "/")
	if !ok || len(mm) < 1 || len(mm) > 2 || (len(yy) != 2 && len(yy) != 4) {
		return "Enter the expiry as MM/YY, like 12/30."
	}
	m, err1 := strconv.Atoi(mm)
	y, err2 := strconv.Atoi(yy)
	if err1 != nil || err2 != nil || m < 1 || m > 12 || y < 0 {
		return "Enter the expiry as MM/YY, like 12/30."
	}
	if len(yy) == 2 {
		y += 2000
	}
	// A card is valid through the last day of its expiry month.
	if y < now.Year() || y == now.Year() && m < int(now.Month()) {
		return "This card has expired."
	}
	if y > now.Year()+20 {
		return "That expiry date is too far in the future."
	}
	return ""
}

// luhn reports whether the digits pass the Luhn check.
func luhn(digits string) bool {
	sum := 0
	double := false
	for i := len(digits) - 1; i >= 0; i-- {
		d := int(digits[i] - '0')
		if double {
			d *= 2
			if d > 9 {
				d -= 9
			}
		}
		sum += d
		double = !double
	}
	return sum%10 == 0
}

// Pay decides a submitted card's payment of checkout and returns the event
// the app applies: checkout_completed, or payment_failed for the decline card.
func Pay(co *orgbase.Checkout, card Card, now time.Time) billing.Event {
	ev := billing.Event{Provider: Name, ID: "tevt_" + random(), Reference: co.Reference, CustomerID: CustomerID(co.OrgID),
		PaymentID: "tpay_" + random(), AmountCents: co.AmountCents, Currency: co.Currency, Created: now,
		Kind: billing.EventCheckoutCompleted}
	if card.Declined() {
		ev.Kind, ev.Message = billing.EventPaymentFailed, DeclineMessage
	}
	return ev
}

func random() string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	return hex.EncodeToString(b[:])
}
