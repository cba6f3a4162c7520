package web_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stripe/stripe-go/v82/webhook"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/internal/web"
)

// The Stripe webhook endpoint needs no database of its own (the store's
// ApplyBillingEvent is faked: exactly-once is the store's job, tested
// there), so it runs on SQLite only.

const webhookSecret = "whsec_orgbase_test_secret"

// billingFake records the events the endpoint hands over and answers with
// err; the rest of the billing store is the real one. With real set, it
// hands the events on to the real store too.
type billingFake struct {
	web.BillingStore
	mu     sync.Mutex
	events []billing.Event
	err    error
	real   bool
}

func (f *billingFake) ApplyBillingEvent(ctx context.Context, e billing.Event) (*store.BillingOutcome, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, e)
	if f.real {
		return f.BillingStore.ApplyBillingEvent(ctx, e)
	}
	if f.err != nil {
		return nil, f.err
	}
	return &store.BillingOutcome{Status: store.OutcomePaid, Reference: e.Reference}, nil
}

func (f *billingFake) answer(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *billingFake) calls() []billing.Event {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]billing.Event(nil), f.events...)
}

// syncBuffer is a log sink the server writes to from handler goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

type webhookEnv struct {
	url   string
	clock *clock
	db    *store.DB
	fake  *billingFake
	logs  *syncBuffer
}

func newWebhookEnv(t *testing.T, withStripe bool) *webhookEnv {
	t.Helper()
	clk := &clock{}
	db := dbtest.Open(t, store.SQLite, store.Options{Now: clk.Now})
	vars := map[string]string{"ORGBASE_SESSION_KEYS": testSessionKey, "ORGBASE_BASE_URL": "http://example.test",
		"ORGBASE_STRIPE_SECRET_KEY": "sk_test_orgbase", "ORGBASE_STRIPE_WEBHOOK_SECRET": webhookSecret}
	if !withStripe {
		delete(vars, "ORGBASE_STRIPE_SECRET_KEY")
		delete(vars, "ORGBASE_STRIPE_WEBHOOK_SECRET")
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	we := &webhookEnv{clock: clk, db: db, fake: &billingFake{BillingStore: db}, logs: &syncBuffer{}}
	deps := web.Deps{Config: cfg, Logger: slog.New(slog.NewTextHandler(we.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Users: db, Sessions: db, Orgs: db, Mail: db, Health: db, Workspaces: db, Members: db, API: db, Alerts: db, Now: clk.Now,
		Billing: we.fake, Payments: testprovider.New(cfg.BaseURL, db)}
	h, err := web.NewServer(deps)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	we.url = srv.URL + "/webhooks/stripe"
	return we
}

// deliver posts payload signed at the given time as Stripe does: no cookie,
// no CSRF token.
func (we *webhookEnv) deliver(t *testing.T, payload string, header string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPost, we.url, strings.NewReader(payload))
	req.Header.Set("Content-Type", "application/json; charset=utf-8")
	req.Header.Set("User-Agent", "Stripe/1.0 (+https://stripe.com/docs/webhooks)")
	if header != "" {
		req.Header.Set("Stripe-Signature", header)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var b bytes.Buffer
	_, _ = b.ReadFrom(res.Body)
	return res.StatusCode, b.String()
}

func (we *webhookEnv) signed(payload string, age time.Duration) string {
	return webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(payload), Secret: webhookSecret,
		Timestamp: we.clock.Now().Add(-age)}).Header
}

const paidCheckout = `{"id":"evt_1PaidCheckout","object":"event","type":"checkout.session.completed","created":1778328000,
 "api_version":"2025-08-27.basil","livemode":false,"data":{"object":{"id":"cs_test_a1","object":"checkout.session",
 "mode":"payment","payment_status":"paid","status":"complete","client_reference_id":"inv-7-0001","customer":"cus_Acme",
 "payment_intent":"pi_Acme1","amount_total":4900,"currency":"usd","metadata":{"org_id":"7","reference":"inv-7-0001"}}}}`

func TestStripeWebhookAppliesAVerifiedCheckout(t *testing.T) {
	we := newWebhookEnv(t, true)
	status, body := we.deliver(t, paidCheckout, we.signed(paidCheckout, 0))
	if status != 200 {
		t.Fatalf("status %d (%s), want 200", status, body)
	}
	calls := we.fake.calls()
	want := billing.Event{Provider: "stripe", ID: "evt_1PaidCheckout", Kind: billing.EventCheckoutCompleted, Reference: "inv-7-0001",
		CustomerID: "cus_Acme", PaymentID: "pi_Acme1", AmountCents: 4900, Currency: "usd", Created: time.Unix(1778328000, 0).UTC()}
	if len(calls) != 1 || calls[0] != want {
		t.Fatalf("calls = %+v, want one %+v", calls, want)
	}
	var ans map[string]any
	if err := json.Unmarshal([]byte(body), &ans); err != nil || ans["received"] != true {
		t.Errorf("body %q, want {\"received\":true}", body)
	}
}

func TestStripeWebhookReplayedTenTimes(t *testing.T) {
	we := newWebhookEnv(t, true)
	for i := range 10 {
		// Stripe signs every delivery afresh; a replay of the same bytes
		// within the tolerance is just as valid.
		header := we.signed(paidCheckout, time.Duration(i)*time.Second)
		if status, body := we.deliver(t, paidCheckout, header); status != 200 {
			t.Fatalf("delivery %d: status %d (%s)", i+1, status, body)
		}
	}
	calls := we.fake.calls()
	if len(calls) != 10 {
		t.Fatalf("%d calls, want 10 (the store applies one)", len(calls))
	}
	for _, c := range calls {
		if c.ID != "evt_1PaidCheckout" || c.Provider != "stripe" || c != calls[0] {
			t.Fatalf("call %+v differs from the first %+v: the store could not deduplicate", c, calls[0])
		}
	}
}

func TestStripeWebhookRefusesWhatStripeDidNotSign(t *testing.T) {
	we := newWebhookEnv(t, true)
	other := webhook.GenerateTestSignedPayload(&webhook.UnsignedPayload{Payload: []byte(paidCheckout), Secret: "whsec_someone_else",
		Timestamp: we.clock.Now()}).Header
	malformed := `{"id":"evt_1","type":"checkout.session.completed","data":{"object":`
	tests := []struct {
		name, payload, header, reason string
	}{
		{"no signature", paidCheckout, "", "bad signature"},
		{"another secret", paidCheckout, other, "bad signature"},
		{"tampered amount", strings.Replace(paidCheckout, "4900", "490000", 1), we.signed(paidCheckout, 0), "bad signature"},
		{"ten minutes old", paidCheckout, we.signed(paidCheckout, 10*time.Minute), "timestamp outside the 5-minute tolerance"},
		{"malformed JSON", malformed, we.signed(malformed, 0), "malformed event"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(we.logs.String())
			status, body := we.deliver(t, tt.payload, tt.header)
			if status != 400 || !strings.Contains(body, tt.reason) {
				t.Fatalf("status %d (%s), want 400 saying %q", status, body, tt.reason)
			}
			logged := we.logs.String()[before:]
			if !strings.Contains(logged, "stripe webhook refused") || !strings.Contains(logged, tt.reason) {
				t.Errorf("log %q does not record the refusal and its reason", logged)
			}
			for _, secret := range []string{webhookSecret, "cus_Acme", "inv-7-0001", "evt_1"} {
				if strings.Contains(logged, secret) {
					t.Errorf("the log carries %q from the payload or the secret: %q", secret, logged)
				}
			}
		})
	}
	if n := len(we.fake.calls()); n != 0 {
		t.Fatalf("%d refused deliveries reached the store", n)
	}
}

func TestStripeWebhookAnswers(t *testing.T) {
	we := newWebhookEnv(t, true)
	unknown := `{"id":"evt_Other","type":"customer.updated","created":1778328000,"data":{"object":{"id":"cus_Acme","object":"customer"}}}`
	if status, body := we.deliver(t, unknown, we.signed(unknown, 0)); status != 200 {
		t.Fatalf("unknown type: status %d (%s), want 200", status, body)
	}
	if n := len(we.fake.calls()); n != 0 {
		t.Fatalf("an ignored event reached the store (%d calls)", n)
	}

	// Nothing of ours: the store changed nothing; Stripe must stop retrying.
	we.fake.answer(orgbase.Errorf(orgbase.ENOTFOUND, "no checkout with this reference"))
	if status, body := we.deliver(t, paidCheckout, we.signed(paidCheckout, 0)); status != 200 {
		t.Fatalf("ENOTFOUND: status %d (%s), want 200", status, body)
	}
	if !strings.Contains(we.logs.String(), "nothing changed") || !strings.Contains(we.logs.String(), "evt_1PaidCheckout") {
		t.Errorf("the unknown reference is not logged: %s", we.logs.String())
	}

	// A transient failure: Stripe must retry.
	we.fake.answer(context.DeadlineExceeded)
	if status, body := we.deliver(t, paidCheckout, we.signed(paidCheckout, 0)); status != 500 || strings.Contains(body, "deadline") {
		t.Fatalf("transient error: status %d (%s), want 500 without the internal error", status, body)
	}
	if n := len(we.fake.calls()); n != 2 {
		t.Fatalf("%d calls, want 2", n)
	}

	// Too large a body never reaches the parser.
	big := `{"id":"evt_big","type":"customer.updated","data":{"object":{"pad":"` + strings.Repeat("x", 300<<10) + `"}}}`
	if status, _ := we.deliver(t, big, we.signed(big, 0)); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("300 KiB body: status %d, want 413", status)
	}
}

func TestStripeWebhookWithoutStripe(t *testing.T) {
	we := newWebhookEnv(t, false)
	status, body := we.deliver(t, paidCheckout, we.signed(paidCheckout, 0))
	if status != http.StatusNotFound || len(we.fake.calls()) != 0 {
		t.Fatalf("without Stripe configured: status %d (%s), %d calls; want 404 and none", status, body, len(we.fake.calls()))
	}
}

// A checkout session that expired unpaid, as Stripe sends it (%s: the
// client_reference_id, the app's checkout reference).
const expiredCheckout = `{"id":"evt_1Expired%[2]s","object":"event","type":"checkout.session.expired","created":1778328000,
 "api_version":"2025-08-27.basil","livemode":false,"data":{"object":{"id":"cs_test_x1","object":"checkout.session",
 "mode":"payment","payment_status":"unpaid","status":"expired","client_reference_id":"%[1]s","customer":null,
 "payment_intent":null,"amount_total":1200,"currency":"usd","metadata":{}}}}`

const paidTopUp = `{"id":"evt_1PaidTopUp","object":"event","type":"checkout.session.completed","created":1778328000,
 "data":{"object":{"id":"cs_test_p1","object":"checkout.session","mode":"payment","payment_status":"paid","status":"complete",
 "client_reference_id":"%s","customer":"cus_Acme","payment_intent":"pi_Acme2","amount_total":1200,"currency":"usd"}}}`

// TestStripeWebhookExpiredCheckout runs checkout.session.expired through
// the real store: the pending checkout and its invoice fail with a clear
// message and nothing granted, redeliveries change nothing, and a paid
// checkout whose session expires later stays paid.
func TestStripeWebhookExpiredCheckout(t *testing.T) {
	we := newWebhookEnv(t, true)
	we.fake.real = true
	ctx := context.Background()
	uid, err := we.db.CreateVerifiedUser(ctx, "olga@example.com", "Olga Owner", "hash")
	if err != nil {
		t.Fatal(err)
	}
	org, err := we.db.CreateOrg(ctx, uid, store.NewOrg{Name: "Acme", Slug: "acme", BillingEmail: "olga@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	start := func() *orgbase.Checkout {
		co, err := we.db.StartCheckout(ctx, org.ID, orgbase.OperatorAccess(org.ID), store.NewCheckout{Kind: orgbase.OfferTopUp, Key: "pack-10k", Provider: "stripe"})
		if err != nil {
			t.Fatal(err)
		}
		return co
	}
	co := start()
	payload := fmt.Sprintf(expiredCheckout, co.Reference, "A")
	for i := range 3 {
		if status, body := we.deliver(t, payload, we.signed(payload, time.Duration(i)*time.Second)); status != 200 {
			t.Fatalf("delivery %d: status %d (%s), want 200", i+1, status, body)
		}
	}
	for _, c := range we.fake.calls() {
		if c.Kind != billing.EventCheckoutExpired || c.Reference != co.Reference || c.Message != "The checkout expired before payment." {
			t.Fatalf("event %+v, want the expiry of %s", c, co.Reference)
		}
	}
	got, err := we.db.FindCheckout(ctx, org.ID, co.Reference)
	if err != nil || got.Status != orgbase.CheckoutFailed || got.Message != "The checkout expired before payment." {
		t.Fatalf("checkout %+v, %v; want failed as expired", got, err)
	}
	inv, err := we.db.FindInvoice(ctx, org.ID, co.InvoiceID)
	if err != nil || inv.Status != orgbase.InvoiceFailed || inv.FailureMessage != "The checkout expired before payment." {
		t.Fatalf("invoice %+v, %v; want failed as expired", inv, err)
	}
	if b, _ := we.db.PoolBalance(ctx, org.ID); b != 0 {
		t.Fatalf("pool %s after an expiry, want 0", b)
	}
	entries, _, err := we.db.FindAudit(ctx, org.ID, store.AuditFilter{Action: "billing.payment_failed"})
	if err != nil || len(entries) != 1 {
		t.Fatalf("%d failure entries in the audit log after three deliveries, want 1 (%v)", len(entries), err)
	}

	// Paid first, expired later: it stays paid, with its one receipt.
	co2 := start()
	paid := fmt.Sprintf(paidTopUp, co2.Reference)
	if status, body := we.deliver(t, paid, we.signed(paid, 0)); status != 200 {
		t.Fatalf("payment: status %d (%s)", status, body)
	}
	late := fmt.Sprintf(expiredCheckout, co2.Reference, "B")
	if status, body := we.deliver(t, late, we.signed(late, 0)); status != 200 {
		t.Fatalf("late expiry: status %d (%s)", status, body)
	}
	if got, _ := we.db.FindCheckout(ctx, org.ID, co2.Reference); got.Status != orgbase.CheckoutPaid {
		t.Fatalf("checkout %s after a late expiry, want paid", got.Status)
	}
	if b, _ := we.db.PoolBalance(ctx, org.ID); b != 10_000*orgbase.Credit {
		t.Fatalf("pool %s, want 10,000", b)
	}
	mails, err := we.db.FindEmails(ctx, "olga@example.com", 10)
	if err != nil || len(mails) != 1 || !strings.Contains(mails[0].Subject, "receipt") {
		t.Fatalf("emails to the billing email: %d, %v; want the top-up's receipt only (an expiry tells nobody)", len(mails), err)
	}
	if want := "http://example.test/orgs/acme/billing/invoices/"; !strings.Contains(mails[0].Text, want) || !strings.Contains(mails[0].HTML, want) {
		t.Errorf("the receipt does not link to the invoice at the public URL:\n%s", mails[0].Text)
	}
}
