// Package billing is the boundary to payment providers (SPEC §7): the
// built-in test provider for local use and Stripe in production implement
// Provider; the store applies what they confirm (Event) exactly once.
//
// Money here is an integer number of the currency's minor unit (cents).
// Credits stay orgbase.Credits (milli-credits) and move only through the
// ledger, in the store, when an Event is applied.
package billing

import (
	"context"
	"errors"
	"time"
)

// PurchaseKind says what is being bought.
type PurchaseKind string

const (
	PurchasePlan  PurchaseKind = "plan"   // a plan's first period (or an upgrade)
	PurchaseTopUp PurchaseKind = "top_up" // a pack of credits
)

// Purchase is one thing a checkout sells: a plan or a top-up pack, by key,
// at a price the app computed (never a price the browser sent).
type Purchase struct {
	Kind        PurchaseKind
	Key         string // plan key ("pro") or pack key ("pack-10k")
	Description string // as the invoice line and the provider's page show it
	AmountCents int64  // what to charge, > 0
	Currency    string // ISO 4217, lower case ("usd")
}

// CheckoutRequest asks a provider to take payment for a purchase.
type CheckoutRequest struct {
	OrgID         int64
	CustomerID    string // the provider's customer, "" when the organization has none yet
	CustomerEmail string // the billing email, for a new customer
	Purchase      Purchase
	// Reference is the app's id of this checkout (unique, kept with the
	// invoice); the provider hands it back in the Event.
	Reference  string
	SuccessURL string // absolute; where the browser goes after paying
	CancelURL  string // absolute; where it goes when the person gives up
}

// Checkout is a started checkout: send the browser to URL.
type Checkout struct {
	ID  string // the provider's session id
	URL string
}

// OffSessionCharge charges a customer's saved payment method without the
// person present: renewals and auto-recharge.
type OffSessionCharge struct {
	OrgID      int64
	CustomerID string
	Purchase   Purchase
	Reference  string // idempotency: the same reference never charges twice
}

// Payment is the outcome of an off-session charge.
type Payment struct {
	ID     string // the provider's payment id
	Status string // "succeeded" or "failed"
	// FailureMessage says why, in words a billing owner can act on.
	FailureMessage string
}

// Provider takes payments.
type Provider interface {
	// Name is the provider's key, stored with customers, invoices and events: "test" or "stripe".
	Name() string
	StartCheckout(ctx context.Context, r CheckoutRequest) (*Checkout, error)
	ChargeOffSession(ctx context.Context, c OffSessionCharge) (*Payment, error)
	// PortalURL is where a billing owner manages payment methods, "" when
	// the provider has no portal.
	PortalURL(ctx context.Context, customerID, returnURL string) (string, error)
}

// EventKind is what a provider confirmed.
type EventKind string

const (
	EventCheckoutCompleted EventKind = "checkout_completed" // a checkout was paid
	EventPaymentFailed     EventKind = "payment_failed"     // a charge was declined
	EventCheckoutExpired   EventKind = "checkout_expired"   // a checkout ended unpaid (the person never paid)
	EventIgnored           EventKind = "ignored"            // a verified event the app does not act on
)

// Event is a provider's verified confirmation. The store applies each
// (Provider, ID) at most once, whatever the number of deliveries.
type Event struct {
	Provider    string
	ID          string // the provider's event id
	Kind        EventKind
	Reference   string // the CheckoutRequest's Reference
	CustomerID  string
	PaymentID   string
	AmountCents int64
	Currency    string
	Created     time.Time
	Message     string // for failures
}

// CheckoutExpiredMessage is why a checkout that expired unpaid failed.
const CheckoutExpiredMessage = "The checkout expired before payment."

// ErrDeclined is returned (wrapped) when a payment method is declined.
var ErrDeclined = errors.New("the card was declined")
