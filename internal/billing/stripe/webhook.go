package stripe

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	stripeapi "github.com/stripe/stripe-go/v82"
	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/orgbase/orgbase/internal/billing"
)

// Tolerance is how far a webhook's signed timestamp may be from now, either
// way: an older delivery is refused as a possible replay.
const Tolerance = 5 * time.Minute

// Why ParseWebhook refuses a payload. Each is distinct so the endpoint can
// log the reason; none carries the payload or the secret.
var (
	ErrBadSignature = errors.New("stripe webhook: missing or invalid signature")
	ErrTooOld       = errors.New("stripe webhook: signed timestamp outside the 5-minute tolerance")
	ErrMalformed    = errors.New("stripe webhook: malformed event")
)

// ParseWebhook verifies a webhook delivery (the Stripe-Signature header over
// the raw payload, with the signing secret, and the signed timestamp within
// Tolerance of now) and maps the event:
//
//   - checkout.session.completed and checkout.session.async_payment_succeeded
//     with payment_status "paid" and a client_reference_id (every session
//     StartCheckout creates has one): EventCheckoutCompleted;
//   - checkout.session.expired with a client_reference_id (the person never
//     paid before the session expired): EventCheckoutExpired;
//   - payment_intent.payment_failed of a PaymentIntent with a "reference" in
//     its metadata (the off-session charges of ChargeOffSession):
//     EventPaymentFailed with Stripe's failure message;
//   - any other verified event: EventIgnored.
//
// It makes no request to Stripe. The event's API version is not checked
// against stripe-go's: only long-stable fields are read, and an endpoint
// pinned to another version must not be refused (Stripe would retry for days).
func ParseWebhook(payload []byte, signatureHeader, secret string, now time.Time) (billing.Event, error) {
	if secret == "" {
		return billing.Event{}, errors.New("stripe webhook: no signing secret configured")
	}
	ts, err := signedAt(signatureHeader)
	if err != nil {
		return billing.Event{}, err
	}
	// The signature is checked first, so an unsigned request never learns
	// anything about timestamps; the tolerance is ours, on the app's clock.
	ev, err := webhook.ConstructEventWithOptions(payload, signatureHeader, secret,
		webhook.ConstructEventOptions{IgnoreTolerance: true, IgnoreAPIVersionMismatch: true})
	switch {
	case errors.Is(err, webhook.ErrNoValidSignature), errors.Is(err, webhook.ErrNotSigned), errors.Is(err, webhook.ErrInvalidHeader):
		return billing.Event{}, ErrBadSignature
	case err != nil:
		return billing.Event{}, ErrMalformed
	}
	if d := now.Sub(ts); d > Tolerance || d < -Tolerance {
		return billing.Event{}, ErrTooOld
	}
	if ev.ID == "" || ev.Type == "" || ev.Data == nil || len(ev.Data.Raw) == 0 {
		return billing.Event{}, fmt.Errorf("%w: no id, type or data.object", ErrMalformed)
	}
	out := billing.Event{Provider: Name, ID: ev.ID, Kind: billing.EventIgnored, Created: time.Unix(ev.Created, 0).UTC()}
	switch ev.Type {
	case stripeapi.EventTypeCheckoutSessionCompleted, stripeapi.EventTypeCheckoutSessionAsyncPaymentSucceeded:
		var s stripeapi.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return billing.Event{}, fmt.Errorf("%w: checkout session: %v", ErrMalformed, err)
		}
		if s.PaymentStatus != stripeapi.CheckoutSessionPaymentStatusPaid || s.ClientReferenceID == "" {
			return out, nil // not paid yet, or not a session of ours
		}
		out.Kind = billing.EventCheckoutCompleted
		out.Reference = s.ClientReferenceID
		out.AmountCents = s.AmountTotal
		out.Currency = string(s.Currency)
		if s.Customer != nil {
			out.CustomerID = s.Customer.ID
		}
		if s.PaymentIntent != nil {
			out.PaymentID = s.PaymentIntent.ID
		}
	case stripeapi.EventTypeCheckoutSessionExpired:
		var s stripeapi.CheckoutSession
		if err := json.Unmarshal(ev.Data.Raw, &s); err != nil {
			return billing.Event{}, fmt.Errorf("%w: checkout session: %v", ErrMalformed, err)
		}
		if s.ClientReferenceID == "" {
			return out, nil // not a session of ours
		}
		out.Kind = billing.EventCheckoutExpired
		out.Reference = s.ClientReferenceID
		out.AmountCents = s.AmountTotal
		out.Currency = string(s.Currency)
		if s.Customer != nil {
			out.CustomerID = s.Customer.ID
		}
		out.Message = billing.CheckoutExpiredMessage
	case stripeapi.EventTypePaymentIntentPaymentFailed:
		var pi stripeapi.PaymentIntent
		if err := json.Unmarshal(ev.Data.Raw, &pi); err != nil {
			return billing.Event{}, fmt.Errorf("%w: payment intent: %v", ErrMalformed, err)
		}
		ref := pi.Metadata["reference"]
		if ref == "" {
			return out, nil // an attempt inside Checkout, or not ours
		}
		out.Kind = billing.EventPaymentFailed
		out.Reference = ref
		out.PaymentID = pi.ID
		out.AmountCents = pi.Amount
		out.Currency = string(pi.Currency)
		if pi.Customer != nil {
			out.CustomerID = pi.Customer.ID
		}
		out.Message = "The payment failed."
		if pi.LastPaymentError != nil && pi.LastPaymentError.Msg != "" {
			out.Message = pi.LastPaymentError.Msg
		}
	}
	return out, nil
}

// signedAt is the t= timestamp of a Stripe-Signature header
// ("t=1495999758,v1=…,v1=…").
func signedAt(header string) (time.Time, error) {
	for _, part := range strings.Split(header, ",") {
		k, v, ok := strings.Cut(part, "=")
		if ok && k == "t" {
			sec, err := strconv.ParseInt(v, 10, 64)
			if err != nil || sec <= 0 {
				return time.Time{}, ErrBadSignature
			}
			return time.Unix(sec, 0), nil
		}
	}
	return time.Time{}, ErrBadSignature
}
