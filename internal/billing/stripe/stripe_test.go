package stripe_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/stripe"
	"github.com/orgbase/orgbase/internal/billing/stripe/stripemock"
)

// call is one API request the provider made, and what came back.
type call struct {
	method, path, idempotencyKey string
	form                         url.Values
	status                       int
	response                     map[string]any
}

// recorder sits between the provider and the API (stripe-mock or a fake)
// and records every call: the tests assert on what was sent, and on the
// mapping of what came back, never on stripe-mock's canned values.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

// proxy starts a recording reverse proxy to target and returns its URL.
func (r *recorder) proxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ModifyResponse = func(res *http.Response) error {
		body, err := io.ReadAll(res.Body)
		if err != nil {
			return err
		}
		res.Body = io.NopCloser(bytes.NewReader(body))
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		req := res.Request
		form, _ := url.ParseQuery(req.Header.Get("X-Test-Body"))
		if req.Method == http.MethodGet {
			form = req.URL.Query()
		}
		r.mu.Lock()
		r.calls = append(r.calls, call{method: req.Method, path: req.URL.Path, idempotencyKey: req.Header.Get("Idempotency-Key"),
			form: form, status: res.StatusCode, response: m})
		r.mu.Unlock()
		return nil
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		if req.Method == http.MethodPost {
			body, _ := io.ReadAll(req.Body)
			req.Body = io.NopCloser(bytes.NewReader(body))
			req.Header.Set("X-Test-Body", string(body)) // for ModifyResponse, which sees the outgoing request
		}
		rp.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func newProvider(t *testing.T, apiURL string) *stripe.Provider {
	t.Helper()
	p, err := stripe.New(stripe.Config{SecretKey: "sk_test_orgbase", APIURL: apiURL})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

var pro = billing.Purchase{Kind: billing.PurchasePlan, Key: "pro", Description: "Pro plan, first month", AmountCents: 4900, Currency: "usd"}

func wantForm(t *testing.T, c call, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if got := c.form.Get(k); got != v {
			t.Errorf("%s %s: %s = %q, want %q", c.method, c.path, k, got, v)
		}
	}
}

func TestStartCheckoutNewCustomer(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, rec.proxy(t, stripemock.Start(t)))
	co, err := p.StartCheckout(context.Background(), billing.CheckoutRequest{
		OrgID: 42, CustomerEmail: "billing@acme.test", Purchase: pro, Reference: "inv-42-0001",
		SuccessURL: "https://orgbase.test/orgs/acme/billing?paid=1", CancelURL: "https://orgbase.test/orgs/acme/billing",
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.all()
	if len(calls) != 2 || calls[0].path != "/v1/customers" || calls[1].path != "/v1/checkout/sessions" {
		t.Fatalf("calls = %+v, want a customer then a checkout session", calls)
	}
	cust, sess := calls[0], calls[1]
	wantForm(t, cust, map[string]string{"email": "billing@acme.test", "metadata[org_id]": "42"})
	customerID, _ := cust.response["id"].(string)
	if customerID == "" {
		t.Fatalf("customer response without id: %v", cust.response)
	}
	wantForm(t, sess, map[string]string{
		"mode": "payment", "customer": customerID, "client_reference_id": "inv-42-0001",
		"success_url": "https://orgbase.test/orgs/acme/billing?paid=1", "cancel_url": "https://orgbase.test/orgs/acme/billing",
		"line_items[0][quantity]":                           "1",
		"line_items[0][price_data][currency]":               "usd",
		"line_items[0][price_data][unit_amount]":            "4900",
		"line_items[0][price_data][product_data][name]":     "Pro plan, first month",
		"payment_intent_data[setup_future_usage]":           "off_session",
		"payment_intent_data[metadata][checkout_reference]": "inv-42-0001",
		"payment_intent_data[metadata][reference]":          "", // a failed attempt inside Checkout is not a failed checkout
		"metadata[org_id]":                                  "42",
		"metadata[reference]":                               "inv-42-0001",
		"metadata[purchase_kind]":                           "plan",
		"metadata[purchase_key]":                            "pro",
		"payment_method_types[0]":                           "card",
	})
	if cust.idempotencyKey != "orgbase-customer-inv-42-0001" || sess.idempotencyKey != "orgbase-checkout-inv-42-0001" {
		t.Errorf("idempotency keys %q, %q: want ones derived from the reference", cust.idempotencyKey, sess.idempotencyKey)
	}
	if co.ID != sess.response["id"] || co.URL != sess.response["url"] || co.URL == "" {
		t.Errorf("checkout = %+v, want the session's id and url (%v, %v)", co, sess.response["id"], sess.response["url"])
	}
}

func TestStartCheckoutExistingCustomer(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, rec.proxy(t, stripemock.Start(t)))
	topUp := billing.Purchase{Kind: billing.PurchaseTopUp, Key: "pack-10k", Description: "10,000 credits", AmountCents: 1000, Currency: "eur"}
	co, err := p.StartCheckout(context.Background(), billing.CheckoutRequest{
		OrgID: 7, CustomerID: "cus_existing", CustomerEmail: "ignored@acme.test", Purchase: topUp, Reference: "inv-7-0003",
		SuccessURL: "https://orgbase.test/s", CancelURL: "https://orgbase.test/c",
	})
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.all()
	if len(calls) != 1 || calls[0].path != "/v1/checkout/sessions" {
		t.Fatalf("calls = %+v, want only a checkout session (no new customer)", calls)
	}
	wantForm(t, calls[0], map[string]string{"customer": "cus_existing", "client_reference_id": "inv-7-0003",
		"line_items[0][price_data][currency]": "eur", "line_items[0][price_data][unit_amount]": "1000",
		"metadata[purchase_kind]": "top_up", "metadata[purchase_key]": "pack-10k", "metadata[org_id]": "7"})
	if co.ID != calls[0].response["id"] {
		t.Errorf("checkout id %q, want %v", co.ID, calls[0].response["id"])
	}
}

func TestStartCheckoutRefusesBadRequestsWithoutCallingStripe(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, rec.proxy(t, stripemock.Start(t)))
	ok := billing.CheckoutRequest{OrgID: 1, Purchase: pro, Reference: "r", SuccessURL: "https://x.test/s", CancelURL: "https://x.test/c"}
	bad := map[string]func(r *billing.CheckoutRequest){
		"zero amount":      func(r *billing.CheckoutRequest) { r.Purchase.AmountCents = 0 },
		"negative amount":  func(r *billing.CheckoutRequest) { r.Purchase.AmountCents = -100 },
		"upper currency":   func(r *billing.CheckoutRequest) { r.Purchase.Currency = "USD" },
		"no currency":      func(r *billing.CheckoutRequest) { r.Purchase.Currency = "" },
		"unknown kind":     func(r *billing.CheckoutRequest) { r.Purchase.Kind = "gift" },
		"no key":           func(r *billing.CheckoutRequest) { r.Purchase.Key = "" },
		"no reference":     func(r *billing.CheckoutRequest) { r.Reference = "" },
		"relative success": func(r *billing.CheckoutRequest) { r.SuccessURL = "/billing" },
		"bad cancel":       func(r *billing.CheckoutRequest) { r.CancelURL = "javascript:alert(1)" },
	}
	for name, mutate := range bad {
		r := ok
		mutate(&r)
		if _, err := p.StartCheckout(context.Background(), r); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if n := len(rec.all()); n != 0 {
		t.Errorf("%d calls to Stripe for refused requests", n)
	}
}

func TestPortalURL(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, rec.proxy(t, stripemock.Start(t)))
	u, err := p.PortalURL(context.Background(), "cus_portal", "https://orgbase.test/orgs/acme/billing")
	if err != nil {
		t.Fatal(err)
	}
	calls := rec.all()
	if len(calls) != 1 || calls[0].method != http.MethodPost || calls[0].path != "/v1/billing_portal/sessions" {
		t.Fatalf("calls = %+v", calls)
	}
	wantForm(t, calls[0], map[string]string{"customer": "cus_portal", "return_url": "https://orgbase.test/orgs/acme/billing"})
	if u == "" || u != calls[0].response["url"] {
		t.Errorf("url %q, want the session's %v", u, calls[0].response["url"])
	}
	if _, err := p.PortalURL(context.Background(), "", "https://orgbase.test/"); err == nil {
		t.Error("no error for an organization without a customer")
	}
	if _, err := p.PortalURL(context.Background(), "cus_portal", "billing"); err == nil {
		t.Error("no error for a relative return URL")
	}
}

func TestChargeOffSessionAgainstStripeMock(t *testing.T) {
	rec := &recorder{}
	p := newProvider(t, rec.proxy(t, stripemock.Start(t)))
	pay, err := p.ChargeOffSession(context.Background(), billing.OffSessionCharge{OrgID: 42, CustomerID: "cus_renew", Purchase: pro, Reference: "renew-42-2026-05"})
	calls := rec.all()
	var pi *call
	for i := range calls {
		if calls[i].method == http.MethodPost && calls[i].path == "/v1/payment_intents" {
			pi = &calls[i]
		}
	}
	if pi == nil {
		t.Fatalf("no PaymentIntent created; calls = %+v", calls)
	}
	if calls[0].method != http.MethodGet || calls[0].path != "/v1/customers/cus_renew" {
		t.Errorf("first call %s %s, want the customer read for its default payment method", calls[0].method, calls[0].path)
	}
	// stripe-mock's customer has no invoice default, so the newest saved card is used.
	if len(calls) != 3 || calls[1].path != "/v1/customers/cus_renew/payment_methods" || calls[1].form.Get("type") != "card" {
		t.Fatalf("calls = %+v, want customer, its cards, then the payment", calls)
	}
	cards, _ := calls[1].response["data"].([]any)
	if len(cards) == 0 {
		t.Fatalf("stripe-mock listed no cards: %v", calls[1].response)
	}
	card, _ := cards[0].(map[string]any)
	wantForm(t, *pi, map[string]string{"amount": "4900", "currency": "usd", "customer": "cus_renew", "payment_method": card["id"].(string),
		"off_session": "true", "confirm": "true", "metadata[reference]": "renew-42-2026-05", "metadata[org_id]": "42",
		"metadata[purchase_kind]": "plan", "metadata[purchase_key]": "pro"})
	if pi.idempotencyKey != "renew-42-2026-05" {
		t.Errorf("Idempotency-Key %q, want the reference", pi.idempotencyKey)
	}
	// Map whatever status stripe-mock answered with.
	status, _ := pi.response["status"].(string)
	switch status {
	case "succeeded":
		if err != nil || pay.Status != "succeeded" || pay.ID != pi.response["id"] {
			t.Errorf("succeeded intent mapped to %+v, %v", pay, err)
		}
	default:
		if !errors.Is(err, billing.ErrDeclined) || pay == nil || pay.Status != "failed" || pay.ID != pi.response["id"] || pay.FailureMessage == "" {
			t.Errorf("intent in status %q mapped to %+v, %v; want a failed payment and ErrDeclined", status, pay, err)
		}
	}
}

// fakeAPI answers every request with one status and body: the error paths
// stripe-mock cannot produce (it never declines).
func fakeAPI(t *testing.T, handler http.HandlerFunc) string {
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestChargeOffSessionMapsDeclinesAndErrors(t *testing.T) {
	customer := `{"id":"cus_1","object":"customer","invoice_settings":{"default_payment_method":"pm_default"}}`
	api := func(status int, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if r.Method == http.MethodGet {
				_, _ = io.WriteString(w, customer)
				return
			}
			_ = r.ParseForm()
			if r.PostForm.Get("payment_method") != "pm_default" {
				w.WriteHeader(400)
				_, _ = io.WriteString(w, `{"error":{"type":"invalid_request_error","message":"wrong payment method"}}`)
				return
			}
			w.WriteHeader(status)
			_, _ = io.WriteString(w, body)
		}
	}
	charge := billing.OffSessionCharge{OrgID: 1, CustomerID: "cus_1", Purchase: pro, Reference: "ref-1"}
	tests := []struct {
		name       string
		status     int
		body       string
		declined   bool
		wantMsg    string
		wantStatus string
		wantID     string
	}{
		{"card declined", 402, `{"error":{"type":"card_error","code":"card_declined","decline_code":"insufficient_funds","message":"Your card has insufficient funds.","payment_intent":{"id":"pi_declined","object":"payment_intent","status":"requires_payment_method"}}}`,
			true, "Your card has insufficient funds.", "failed", "pi_declined"},
		{"authentication required", 402, `{"error":{"type":"card_error","code":"authentication_required","message":"This payment requires authentication."}}`,
			true, "This payment requires authentication.", "failed", ""},
		{"succeeded", 200, `{"id":"pi_ok","object":"payment_intent","status":"succeeded","amount":4900,"currency":"usd"}`,
			false, "", "succeeded", "pi_ok"},
		{"requires action", 200, `{"id":"pi_3ds","object":"payment_intent","status":"requires_action"}`,
			true, "confirm this payment", "failed", "pi_3ds"},
		{"invalid request", 400, `{"error":{"type":"invalid_request_error","message":"No such customer: 'cus_1'"}}`,
			false, "No such customer", "", ""},
		{"bad key", 401, `{"error":{"type":"invalid_request_error","message":"Invalid API Key provided"}}`,
			false, "Invalid API Key", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProvider(t, fakeAPI(t, api(tt.status, tt.body)))
			pay, err := p.ChargeOffSession(context.Background(), charge)
			switch {
			case tt.wantStatus == "succeeded":
				if err != nil || pay.Status != "succeeded" || pay.ID != tt.wantID {
					t.Fatalf("got %+v, %v", pay, err)
				}
			case tt.declined:
				if !errors.Is(err, billing.ErrDeclined) || pay == nil || pay.Status != "failed" || pay.ID != tt.wantID || !strings.Contains(pay.FailureMessage, tt.wantMsg) {
					t.Fatalf("got %+v, %v; want a failed payment %q with ErrDeclined", pay, err, tt.wantMsg)
				}
			default:
				if err == nil || errors.Is(err, billing.ErrDeclined) || pay != nil || !strings.Contains(err.Error(), tt.wantMsg) {
					t.Fatalf("got %+v, %v; want a plain error mentioning %q", pay, err, tt.wantMsg)
				}
			}
		})
	}
}

func TestChargeOffSessionWithoutCard(t *testing.T) {
	var posts int
	url := fakeAPI(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch {
		case r.Method == http.MethodPost:
			posts++
			w.WriteHeader(500)
		case strings.HasSuffix(r.URL.Path, "/payment_methods"):
			_, _ = io.WriteString(w, `{"object":"list","data":[],"has_more":false,"url":"/v1/customers/cus_1/payment_methods"}`)
		default:
			_, _ = io.WriteString(w, `{"id":"cus_1","object":"customer","invoice_settings":{"default_payment_method":null}}`)
		}
	})
	p := newProvider(t, url)
	pay, err := p.ChargeOffSession(context.Background(), billing.OffSessionCharge{OrgID: 1, CustomerID: "cus_1", Purchase: pro, Reference: "r"})
	if !errors.Is(err, billing.ErrDeclined) || pay == nil || pay.Status != "failed" || !strings.Contains(pay.FailureMessage, "no saved card") {
		t.Fatalf("got %+v, %v; want a declined payment saying there is no card", pay, err)
	}
	if posts != 0 {
		t.Errorf("%d payment attempts without a card", posts)
	}
	pay, err = p.ChargeOffSession(context.Background(), billing.OffSessionCharge{OrgID: 1, Purchase: pro, Reference: "r"})
	if !errors.Is(err, billing.ErrDeclined) || pay == nil {
		t.Fatalf("no customer: got %+v, %v; want a declined payment", pay, err)
	}
}
