package stripe_test

import (
	"errors"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/stripe"
)

const testSecret = "whsec_test_orgbase"

var now = time.Date(2026, 5, 9, 12, 0, 0, 0, time.UTC)

func sign(payload string, at time.Time, secret string) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: secret, Timestamp: at}).Header
}

const checkoutCompleted = `{"id":"evt_checkout_1","object":"event","type":"checkout.session.completed","created":1778328000,
 "api_version":"2025-08-27.basil","data":{"object":{"id":"cs_test_1","object":"checkout.session","mode":"payment",
 "payment_status":"paid","status":"complete","client_reference_id":"inv-42-0001","customer":"cus_42",
 "payment_intent":"pi_42","amount_total":4900,"currency":"usd","metadata":{"org_id":"42","reference":"inv-42-0001"}}}}`

const paymentFailed = `{"id":"evt_failed_1","object":"event","type":"payment_intent.payment_failed","created":1778328000,
 "data":{"object":{"id":"pi_renew","object":"payment_intent","amount":4900,"currency":"usd","customer":"cus_42",
 "status":"requires_payment_method","metadata":{"reference":"renew-42-2026-05","org_id":"42"},
 "last_payment_error":{"type":"card_error","code":"card_declined","message":"Your card has insufficient funds."}}}}`

const checkoutExpired = `{"id":"evt_expired_1","object":"event","type":"checkout.session.expired","created":1778328000,
 "api_version":"2025-08-27.basil","data":{"object":{"id":"cs_test_2","object":"checkout.session","mode":"payment",
 "payment_status":"unpaid","status":"expired","client_reference_id":"inv-42-0002","customer":null,
 "payment_intent":null,"amount_total":1200,"currency":"usd","metadata":{"org_id":"42"}}}}`

func TestParseWebhookMapsEvents(t *testing.T) {
	created := time.Unix(1778328000, 0).UTC()
	tests := []struct {
		name    string
		payload string
		want    billing.Event
	}{
		{"checkout completed", checkoutCompleted, billing.Event{Provider: "stripe", ID: "evt_checkout_1", Kind: billing.EventCheckoutCompleted,
			Reference: "inv-42-0001", CustomerID: "cus_42", PaymentID: "pi_42", AmountCents: 4900, Currency: "usd", Created: created}},
		{"async payment succeeded", `{"id":"evt_async","type":"checkout.session.async_payment_succeeded","created":1778328000,
			"data":{"object":{"object":"checkout.session","payment_status":"paid","client_reference_id":"inv-9","customer":{"id":"cus_9","object":"customer"},
			"payment_intent":"pi_9","amount_total":1000,"currency":"eur"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_async", Kind: billing.EventCheckoutCompleted, Reference: "inv-9", CustomerID: "cus_9",
				PaymentID: "pi_9", AmountCents: 1000, Currency: "eur", Created: created}},
		{"checkout not paid yet", `{"id":"evt_unpaid","type":"checkout.session.completed","created":1778328000,
			"data":{"object":{"object":"checkout.session","payment_status":"unpaid","client_reference_id":"inv-1","amount_total":100,"currency":"usd"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_unpaid", Kind: billing.EventIgnored, Created: created}},
		{"checkout not ours", `{"id":"evt_link","type":"checkout.session.completed","created":1778328000,
			"data":{"object":{"object":"checkout.session","payment_status":"paid","amount_total":100,"currency":"usd"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_link", Kind: billing.EventIgnored, Created: created}},
		{"checkout expired", checkoutExpired, billing.Event{Provider: "stripe", ID: "evt_expired_1", Kind: billing.EventCheckoutExpired,
			Reference: "inv-42-0002", AmountCents: 1200, Currency: "usd", Created: created, Message: "The checkout expired before payment."}},
		{"checkout expired with a customer", `{"id":"evt_exp2","type":"checkout.session.expired","created":1778328000,
			"data":{"object":{"object":"checkout.session","status":"expired","client_reference_id":"inv-7","customer":"cus_7","amount_total":4900,"currency":"usd"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_exp2", Kind: billing.EventCheckoutExpired, Reference: "inv-7", CustomerID: "cus_7",
				AmountCents: 4900, Currency: "usd", Created: created, Message: "The checkout expired before payment."}},
		{"expired checkout not ours", `{"id":"evt_exp3","type":"checkout.session.expired","created":1778328000,
			"data":{"object":{"object":"checkout.session","status":"expired","amount_total":100,"currency":"usd"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_exp3", Kind: billing.EventIgnored, Created: created}},
		{"payment failed", paymentFailed, billing.Event{Provider: "stripe", ID: "evt_failed_1", Kind: billing.EventPaymentFailed,
			Reference: "renew-42-2026-05", CustomerID: "cus_42", PaymentID: "pi_renew", AmountCents: 4900, Currency: "usd",
			Created: created, Message: "Your card has insufficient funds."}},
		{"payment failed without message", `{"id":"evt_f2","type":"payment_intent.payment_failed","created":1778328000,
			"data":{"object":{"id":"pi_2","object":"payment_intent","amount":10,"currency":"usd","metadata":{"reference":"r-2"}}}}`,
			billing.Event{Provider: "stripe", ID: "evt_f2", Kind: billing.EventPaymentFailed, Reference: "r-2", PaymentID: "pi_2",
				AmountCents: 10, Currency: "usd", Created: created, Message: "The payment failed."}},
		{"failed attempt inside checkout", `{"id":"evt_f3","type":"payment_intent.payment_failed","created":1778328000,
			"data":{"object":{"id":"pi_3","object":"payment_intent","metadata":{"checkout_reference":"inv-3"}}}}`,
			billing.Event{Provider: "stripe", ID: "evt_f3", Kind: billing.EventIgnored, Created: created}},
		{"unknown type", `{"id":"evt_other","type":"customer.updated","created":1778328000,"data":{"object":{"id":"cus_1","object":"customer"}}}`,
			billing.Event{Provider: "stripe", ID: "evt_other", Kind: billing.EventIgnored, Created: created}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stripe.ParseWebhook([]byte(tt.payload), sign(tt.payload, now, testSecret), testSecret, now)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseWebhookRefuses(t *testing.T) {
	good := sign(checkoutCompleted, now, testSecret)
	tests := []struct {
		name    string
		payload string
		header  string
		now     time.Time
		want    error
	}{
		{"no header", checkoutCompleted, "", now, stripe.ErrBadSignature},
		{"garbage header", checkoutCompleted, "hello", now, stripe.ErrBadSignature},
		{"wrong secret", checkoutCompleted, sign(checkoutCompleted, now, "whsec_other"), now, stripe.ErrBadSignature},
		{"tampered payload", `{"id":"evt_checkout_1","type":"checkout.session.completed","data":{"object":{"amount_total":1}}}`, good, now, stripe.ErrBadSignature},
		{"no v1 signature", checkoutCompleted, "t=1778328000", now, stripe.ErrBadSignature},
		{"ten minutes old", checkoutCompleted, sign(checkoutCompleted, now.Add(-10*time.Minute), testSecret), now, stripe.ErrTooOld},
		{"ten minutes ahead", checkoutCompleted, sign(checkoutCompleted, now.Add(10*time.Minute), testSecret), now, stripe.ErrTooOld},
		{"replayed ten minutes later", checkoutCompleted, good, now.Add(10 * time.Minute), stripe.ErrTooOld},
		{"malformed JSON", `{"id":"evt_1","type":`, sign(`{"id":"evt_1","type":`, now, testSecret), now, stripe.ErrMalformed},
		{"not an object", `[1,2,3]`, sign(`[1,2,3]`, now, testSecret), now, stripe.ErrMalformed},
		{"no id", `{"type":"customer.updated","data":{"object":{}}}`, sign(`{"type":"customer.updated","data":{"object":{}}}`, now, testSecret), now, stripe.ErrMalformed},
		{"no data", `{"id":"evt_1","type":"customer.updated"}`, sign(`{"id":"evt_1","type":"customer.updated"}`, now, testSecret), now, stripe.ErrMalformed},
		{"wrong field type", `{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"amount_total":"lots"}}}`,
			sign(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":{"amount_total":"lots"}}}`, now, testSecret), now, stripe.ErrMalformed},
		{"expired session of the wrong shape", `{"id":"evt_1","type":"checkout.session.expired","data":{"object":{"client_reference_id":7}}}`,
			sign(`{"id":"evt_1","type":"checkout.session.expired","data":{"object":{"client_reference_id":7}}}`, now, testSecret), now, stripe.ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ev, err := stripe.ParseWebhook([]byte(tt.payload), tt.header, testSecret, tt.now)
			if !errors.Is(err, tt.want) {
				t.Fatalf("got %+v, %v; want %v", ev, err, tt.want)
			}
		})
	}
	// Within the tolerance is fine, either way.
	for _, d := range []time.Duration{-4 * time.Minute, 4 * time.Minute} {
		if _, err := stripe.ParseWebhook([]byte(checkoutCompleted), sign(checkoutCompleted, now.Add(d), testSecret), testSecret, now); err != nil {
			t.Errorf("signed %v from now: %v", d, err)
		}
	}
	if _, err := stripe.ParseWebhook([]byte(checkoutCompleted), good, "", now); err == nil {
		t.Error("no error without a secret")
	}
}

// FuzzParseWebhook signs arbitrary payloads (seeds in testdata/fuzz): the
// parser never panics, a verified event is always one of the four kinds
// with an id, and the same bytes with one byte changed are always refused.
func FuzzParseWebhook(f *testing.F) {
	f.Add([]byte(checkoutCompleted))
	f.Add([]byte(paymentFailed))
	f.Add([]byte(checkoutExpired))
	f.Add([]byte(`{"id":"evt_1","type":"checkout.session.completed","data":{"object":null}}`))
	f.Fuzz(func(t *testing.T, payload []byte) {
		header := sign(string(payload), now, testSecret)
		ev, err := stripe.ParseWebhook(payload, header, testSecret, now)
		if err == nil {
			switch ev.Kind {
			case billing.EventCheckoutCompleted, billing.EventPaymentFailed, billing.EventCheckoutExpired:
				if ev.Reference == "" {
					t.Fatalf("%s without a reference: %+v", ev.Kind, ev)
				}
			case billing.EventIgnored:
			default:
				t.Fatalf("unknown kind %q", ev.Kind)
			}
			if ev.ID == "" || ev.Provider != "stripe" {
				t.Fatalf("event without id or provider: %+v", ev)
			}
		} else if !errors.Is(err, stripe.ErrMalformed) {
			t.Fatalf("a correctly signed payload refused with %v", err)
		}
		if len(payload) > 0 {
			tampered := append([]byte(nil), payload...)
			tampered[len(tampered)/2] ^= 0x01
			if _, err := stripe.ParseWebhook(tampered, header, testSecret, now); !errors.Is(err, stripe.ErrBadSignature) {
				t.Fatalf("tampered payload: got %v, want ErrBadSignature", err)
			}
		}
	})
}
