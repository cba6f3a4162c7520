// Package stripe is the Stripe payment provider (SPEC §7): Checkout Sessions
// for plans and top-ups, off-session charges for renewals and auto-recharge,
// the customer portal, and the verification and mapping of Stripe's webhook
// events (webhook.go).
//
// The amount of every payment comes from the app (billing.Purchase), sent
// as inline price_data: nothing is configured in the Stripe dashboard but
// the webhook endpoint.
package stripe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"

	stripeapi "github.com/stripe/stripe-go/v82"

	"github.com/orgbase/orgbase/internal/billing"
)

// Name is the provider's key, stored with customers, invoices and events.
const Name = "stripe"

// Config is what the provider needs.
type Config struct {
	SecretKey string // sk_test_… or sk_live_…
	// APIURL is another API base (stripe-mock in tests); "" is Stripe's.
	APIURL string
	// HTTPClient is the client for API calls; nil is one with a 30 s timeout.
	HTTPClient *http.Client
}

// Provider implements billing.Provider with Stripe.
type Provider struct {
	sc *stripeapi.Client
}

var _ billing.Provider = (*Provider)(nil)

// New returns the provider. It makes no request.
func New(cfg Config) (*Provider, error) {
	if cfg.SecretKey == "" {
		return nil, errors.New("stripe: a secret key is required")
	}
	hc := cfg.HTTPClient
	if hc == nil {
		hc = &http.Client{Timeout: 30 * time.Second}
	}
	bc := &stripeapi.BackendConfig{
		HTTPClient: hc,
		// stripe-go retries network failures and 409/429/5xx itself, with
		// an idempotency key on every POST.
		MaxNetworkRetries: stripeapi.Int64(2),
		// Its own logger writes to stderr; errors reach ours as return values.
		LeveledLogger: &stripeapi.LeveledLogger{Level: stripeapi.LevelNull},
	}
	if cfg.APIURL != "" {
		bc.URL = stripeapi.String(cfg.APIURL)
	}
	return &Provider{sc: stripeapi.NewClient(cfg.SecretKey, stripeapi.WithBackends(stripeapi.NewBackendsWithConfig(bc)))}, nil
}

// Name implements billing.Provider.
func (p *Provider) Name() string { return Name }

// validPurchase refuses what Stripe would refuse later, with a message that
// names the app's mistake.
func validPurchase(pu billing.Purchase, reference string) error {
	switch {
	case pu.Kind != billing.PurchasePlan && pu.Kind != billing.PurchaseTopUp:
		return fmt.Errorf("stripe: unknown purchase kind %q", pu.Kind)
	case pu.Key == "":
		return errors.New("stripe: the purchase has no key")
	case pu.AmountCents <= 0:
		return fmt.Errorf("stripe: the amount must be positive, not %d", pu.AmountCents)
	case !isCurrency(pu.Currency):
		return fmt.Errorf("stripe: %q is not a lower-case ISO 4217 currency", pu.Currency)
	case reference == "":
		return errors.New("stripe: a reference is required")
	}
	return nil
}

// isCurrency reports whether s looks like a lower-case ISO 4217 code.
func isCurrency(s string) bool {
	if len(s) != 3 {
		return false
	}
	for _, c := range []byte(s) {
		if c < 'a' || c > 'z' {
			return false
		}
	}
	return true
}

func absoluteURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("stripe: the %s URL %q is not absolute", name, s)
	}
	return nil
}

// StartCheckout creates the customer when the organization has none, then a
// Checkout Session in payment mode that saves the card for off-session
// charges (renewals, auto-recharge). The session's client_reference_id is
// the Reference, which the checkout.session.completed event hands back.
//
// Both requests carry an idempotency key derived from the Reference, so a
// retried StartCheckout never creates a second customer or session.
func (p *Provider) StartCheckout(ctx context.Context, r billing.CheckoutRequest) (*billing.Checkout, error) {
	if err := validPurchase(r.Purchase, r.Reference); err != nil {
		return nil, err
	}
	if err := absoluteURL("success", r.SuccessURL); err != nil {
		return nil, err
	}
	if err := absoluteURL("cancel", r.CancelURL); err != nil {
		return nil, err
	}
	org := strconv.FormatInt(r.OrgID, 10)
	customer := r.CustomerID
	if customer == "" {
		cp := &stripeapi.CustomerCreateParams{Metadata: map[string]string{"org_id": org}}
		if r.CustomerEmail != "" {
			cp.Email = stripeapi.String(r.CustomerEmail)
		}
		cp.SetIdempotencyKey("orgbase-customer-" + r.Reference)
		c, err := p.sc.V1Customers.Create(ctx, cp)
		if err != nil {
			return nil, fmt.Errorf("stripe: creating the customer: %w", err)
		}
		customer = c.ID
	}
	meta := map[string]string{"org_id": org, "reference": r.Reference,
		"purchase_kind": string(r.Purchase.Kind), "purchase_key": r.Purchase.Key}
	desc := r.Purchase.Description
	if desc == "" {
		desc = r.Purchase.Key
	}
	sp := &stripeapi.CheckoutSessionCreateParams{
		Mode:              stripeapi.String(string(stripeapi.CheckoutSessionModePayment)),
		Customer:          stripeapi.String(customer),
		ClientReferenceID: stripeapi.String(r.Reference),
		SuccessURL:        stripeapi.String(r.SuccessURL),
		CancelURL:         stripeapi.String(r.CancelURL),
		// Cards only: a card payment is settled when the session completes
		// (no delayed methods), and a card can be charged off-session later.
		PaymentMethodTypes: []*string{stripeapi.String("card")},
		LineItems: []*stripeapi.CheckoutSessionCreateLineItemParams{{
			Quantity: stripeapi.Int64(1),
			PriceData: &stripeapi.CheckoutSessionCreateLineItemPriceDataParams{
				Currency:    stripeapi.String(r.Purchase.Currency),
				UnitAmount:  stripeapi.Int64(r.Purchase.AmountCents),
				ProductData: &stripeapi.CheckoutSessionCreateLineItemPriceDataProductDataParams{Name: stripeapi.String(desc)},
			},
		}},
		PaymentIntentData: &stripeapi.CheckoutSessionCreatePaymentIntentDataParams{
			SetupFutureUsage: stripeapi.String(string(stripeapi.PaymentIntentSetupFutureUsageOffSession)),
			Description:      stripeapi.String(desc),
			// Not "reference": a declined attempt inside Checkout is no
			// failure of the checkout (the person tries another card), so
			// payment_intent.payment_failed ignores these (webhook.go).
			Metadata: map[string]string{"org_id": org, "checkout_reference": r.Reference,
				"purchase_kind": string(r.Purchase.Kind), "purchase_key": r.Purchase.Key},
		},
		Metadata: meta,
	}
	sp.SetIdempotencyKey("orgbase-checkout-" + r.Reference)
	s, err := p.sc.V1CheckoutSessions.Create(ctx, sp)
	if err != nil {
		return nil, fmt.Errorf("stripe: creating the checkout session: %w", err)
	}
	if s.URL == "" {
		return nil, fmt.Errorf("stripe: checkout session %s has no URL", s.ID)
	}
	return &billing.Checkout{ID: s.ID, URL: s.URL}, nil
}

// noCardMessage is the failure when a customer has nothing to charge.
const noCardMessage = "There is no saved card to charge. Add one under Manage payment methods."

// ChargeOffSession charges the customer's default payment method (the
// invoice default, else the most recently saved card) with a PaymentIntent
// confirmed off-session. The Reference is the idempotency key: the same
// reference never charges twice (within Stripe's 24 hours of key memory;
// the store keeps the reference unique beyond that).
//
// A declined card returns a failed Payment and an error wrapping
// billing.ErrDeclined with Stripe's message; any other API error is returned
// as an error and a nil Payment.
func (p *Provider) ChargeOffSession(ctx context.Context, c billing.OffSessionCharge) (*billing.Payment, error) {
	if err := validPurchase(c.Purchase, c.Reference); err != nil {
		return nil, err
	}
	if c.CustomerID == "" {
		return declined("", noCardMessage)
	}
	pm, err := p.defaultPaymentMethod(ctx, c.CustomerID)
	if err != nil {
		return nil, err
	}
	if pm == "" {
		return declined("", noCardMessage)
	}
	desc := c.Purchase.Description
	if desc == "" {
		desc = c.Purchase.Key
	}
	pp := &stripeapi.PaymentIntentCreateParams{
		Amount:             stripeapi.Int64(c.Purchase.AmountCents),
		Currency:           stripeapi.String(c.Purchase.Currency),
		Customer:           stripeapi.String(c.CustomerID),
		PaymentMethod:      stripeapi.String(pm),
		PaymentMethodTypes: []*string{stripeapi.String("card")},
		OffSession:         stripeapi.Bool(true),
		Confirm:            stripeapi.Bool(true),
		Description:        stripeapi.String(desc),
		Metadata: map[string]string{"org_id": strconv.FormatInt(c.OrgID, 10), "reference": c.Reference,
			"purchase_kind": string(c.Purchase.Kind), "purchase_key": c.Purchase.Key},
	}
	pp.SetIdempotencyKey(c.Reference)
	pi, err := p.sc.V1PaymentIntents.Create(ctx, pp)
	if err != nil {
		return chargeError(err)
	}
	return paymentOf(pi)
}

// defaultPaymentMethod is the customer's invoice default payment method, or
// the most recently saved card, or "" when there is none.
func (p *Provider) defaultPaymentMethod(ctx context.Context, customer string) (string, error) {
	cu, err := p.sc.V1Customers.Retrieve(ctx, customer, nil)
	if err != nil {
		return "", fmt.Errorf("stripe: reading customer %s: %w", customer, err)
	}
	if cu.InvoiceSettings != nil && cu.InvoiceSettings.DefaultPaymentMethod != nil && cu.InvoiceSettings.DefaultPaymentMethod.ID != "" {
		return cu.InvoiceSettings.DefaultPaymentMethod.ID, nil
	}
	lp := &stripeapi.CustomerListPaymentMethodsParams{Customer: stripeapi.String(customer), Type: stripeapi.String("card")}
	lp.Limit = stripeapi.Int64(1)
	lp.Single = true // one page: the newest card is all we want
	for pm, err := range p.sc.V1Customers.ListPaymentMethods(ctx, lp) {
		if err != nil {
			return "", fmt.Errorf("stripe: listing the cards of customer %s: %w", customer, err)
		}
		return pm.ID, nil
	}
	return "", nil
}

// paymentOf maps a confirmed PaymentIntent. Only "succeeded" is paid; a
// card PaymentIntent confirmed off-session that is not paid needs the
// person (authentication) or another card, which for an off-session charge
// is a decline.
func paymentOf(pi *stripeapi.PaymentIntent) (*billing.Payment, error) {
	switch pi.Status {
	case stripeapi.PaymentIntentStatusSucceeded:
		return &billing.Payment{ID: pi.ID, Status: "succeeded"}, nil
	case stripeapi.PaymentIntentStatusProcessing:
		// Cards never stay processing; were one to, it is neither paid nor
		// declined yet, and no credits may be granted for it.
		return nil, fmt.Errorf("stripe: payment %s is still processing", pi.ID)
	}
	msg := "The card was declined."
	if pi.LastPaymentError != nil && pi.LastPaymentError.Msg != "" {
		msg = pi.LastPaymentError.Msg
	} else if pi.Status == stripeapi.PaymentIntentStatusRequiresAction {
		msg = "The bank asks the card holder to confirm this payment; pay once by hand to authorise the card."
	}
	return declined(pi.ID, msg)
}

// chargeError maps a failed PaymentIntent creation: card errors (declines,
// authentication required, expired card) are declines, the rest are errors.
func chargeError(err error) (*billing.Payment, error) {
	var se *stripeapi.Error
	if errors.As(err, &se) && se.Type == stripeapi.ErrorTypeCard {
		id := ""
		if se.PaymentIntent != nil {
			id = se.PaymentIntent.ID
		}
		msg := se.Msg
		if msg == "" {
			msg = "The card was declined."
		}
		return declined(id, msg)
	}
	return nil, fmt.Errorf("stripe: creating the payment: %w", err)
}

func declined(id, msg string) (*billing.Payment, error) {
	return &billing.Payment{ID: id, Status: "failed", FailureMessage: msg}, fmt.Errorf("%w: %s", billing.ErrDeclined, msg)
}

// PortalURL is a Stripe customer portal session for the customer, which
// returns to returnURL.
func (p *Provider) PortalURL(ctx context.Context, customerID, returnURL string) (string, error) {
	if customerID == "" {
		return "", errors.New("stripe: the organization has no Stripe customer yet")
	}
	if err := absoluteURL("return", returnURL); err != nil {
		return "", err
	}
	s, err := p.sc.V1BillingPortalSessions.Create(ctx, &stripeapi.BillingPortalSessionCreateParams{
		Customer: stripeapi.String(customerID), ReturnURL: stripeapi.String(returnURL)})
	if err != nil {
		return "", fmt.Errorf("stripe: creating the portal session: %w", err)
	}
	if s.URL == "" {
		return "", fmt.Errorf("stripe: portal session %s has no URL", s.ID)
	}
	return s.URL, nil
}
