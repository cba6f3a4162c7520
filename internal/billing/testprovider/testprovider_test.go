package testprovider

import (
	"context"
	"errors"
	"net/url"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/orgbase"
)

var _ billing.Provider = (*Provider)(nil)

type fakeStore struct{ card string }

func (f fakeStore) FindOrgSlug(context.Context, int64) (string, error) { return "acme", nil }
func (f fakeStore) FindBillingCustomer(_ context.Context, orgID int64, _ string) (*orgbase.BillingCustomer, error) {
	if f.card == "" {
		return nil, nil
	}
	return &orgbase.BillingCustomer{OrgID: orgID, Provider: Name, CustomerID: CustomerID(orgID), CardLast4: f.card}, nil
}

func TestValidate(t *testing.T) {
	now := time.Date(2026, 11, 27, 0, 0, 0, 0, time.UTC)
	ok := CardForm{Number: "4242 4242 4242 4242", Expiry: "12/30", CVC: "123"}
	card, fields := Validate(ok, now)
	if len(fields) != 0 || card.Last4 != "4242" || card.Declined() {
		t.Fatalf("good card: %+v %v", card, fields)
	}
	if c, f := Validate(CardForm{Number: "4000-0000-0000-0002", Expiry: "11/26", CVC: "1234"}, now); len(f) != 0 || !c.Declined() {
		t.Fatalf("decline card: %+v %v", c, f)
	}
	for name, tc := range map[string]struct {
		f     CardForm
		field string
	}{
		"empty number":   {CardForm{Expiry: "12/30", CVC: "123"}, "number"},
		"letters":        {CardForm{Number: "4242abcd42424242", Expiry: "12/30", CVC: "123"}, "number"},
		"short":          {CardForm{Number: "4242", Expiry: "12/30", CVC: "123"}, "number"},
		"luhn":           {CardForm{Number: "4242424242424241", Expiry: "12/30", CVC: "123"}, "number"},
		"real card":      {CardForm{Number: "5555555555554444", Expiry: "12/30", CVC: "123"}, "number"},
		"expired":        {CardForm{Number: CardSuccess, Expiry: "10/26", CVC: "123"}, "expiry"},
		"month 13":       {CardForm{Number: CardSuccess, Expiry: "13/30", CVC: "123"}, "expiry"},
		"no slash":       {CardForm{Number: CardSuccess, Expiry: "1230", CVC: "123"}, "expiry"},
		"far future":     {CardForm{Number: CardSuccess, Expiry: "01/2099", CVC: "123"}, "expiry"},
		"missing cvc":    {CardForm{Number: CardSuccess, Expiry: "12/30"}, "cvc"},
		"cvc letters":    {CardForm{Number: CardSuccess, Expiry: "12/30", CVC: "12a"}, "cvc"},
		"cvc too long":   {CardForm{Number: CardSuccess, Expiry: "12/30", CVC: "12345"}, "cvc"},
		"missing expiry": {CardForm{Number: CardSuccess, CVC: "123"}, "expiry"},
	} {
		if _, f := Validate(tc.f, now); f[tc.field] == "" {
			t.Errorf("%s: no error on %s (%v)", name, tc.field, f)
		}
	}
}

func TestProvider(t *testing.T) {
	ctx := context.Background()
	base, _ := url.Parse("http://example.test")
	p := New(base, fakeStore{card: "4242"})
	co, err := p.StartCheckout(ctx, billing.CheckoutRequest{OrgID: 7, Reference: "co_abc", Purchase: billing.Purchase{AmountCents: 4900}})
	if err != nil || co.URL != "http://example.test/orgs/acme/billing/checkout/co_abc" {
		t.Fatalf("checkout %+v, %v", co, err)
	}
	if _, err := p.StartCheckout(ctx, billing.CheckoutRequest{OrgID: 7}); err == nil {
		t.Error("a checkout without a reference was started")
	}
	charge := billing.OffSessionCharge{OrgID: 7, Reference: "r1", Purchase: billing.Purchase{AmountCents: 1200}}
	if pay, err := p.ChargeOffSession(ctx, charge); err != nil || pay.Status != "succeeded" {
		t.Errorf("charge with 4242: %+v, %v", pay, err)
	}
	for _, card := range []string{"", "0341", "0002"} {
		pay, err := New(base, fakeStore{card: card}).ChargeOffSession(ctx, charge)
		if !errors.Is(err, billing.ErrDeclined) || pay == nil || pay.Status != "failed" || pay.FailureMessage == "" {
			t.Errorf("charge with saved card %q: %+v, %v", card, pay, err)
		}
	}
	if u, err := p.PortalURL(ctx, "x", "y"); u != "" || err != nil {
		t.Errorf("portal %q %v", u, err)
	}
	checkout := &orgbase.Checkout{OrgID: 7, Reference: "co_abc", AmountCents: 4900, Currency: "usd"}
	good, _ := Validate(CardForm{Number: CardSuccess, Expiry: "12/40", CVC: "123"}, time.Now())
	if ev := Pay(checkout, good, time.Now()); ev.Kind != billing.EventCheckoutCompleted || ev.AmountCents != 4900 || ev.CustomerID != "tcus_7" || ev.ID == "" {
		t.Errorf("pay: %+v", ev)
	}
	bad, _ := Validate(CardForm{Number: CardDecline, Expiry: "12/40", CVC: "123"}, time.Now())
	if ev := Pay(checkout, bad, time.Now()); ev.Kind != billing.EventPaymentFailed || ev.Message != DeclineMessage {
		t.Errorf("decline: %+v", ev)
	}
}
