package main

import (
	"testing"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/store"
)

// ORGBASE_PAYMENTS picks the provider the Billing tab takes payments with:
// the test provider by default, Stripe when asked (and configured).
func TestPaymentProvider(t *testing.T) {
	db := dbtest.Open(t, store.SQLite, store.Options{})
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{}, "test"},
		{map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_1", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_1"}, "test"},
		{map[string]string{"ORGBASE_PAYMENTS": "stripe", "ORGBASE_STRIPE_SECRET_KEY": "sk_test_1", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_1"}, "stripe"},
	} {
		cfg, err := config.Load(func(k string) string { return tc.env[k] })
		if err != nil {
			t.Fatal(err)
		}
		p, err := paymentProvider(cfg, db)
		if err != nil || p.Name() != tc.want {
			t.Errorf("%v: provider %v, %v; want %s", tc.env, p, err, tc.want)
		}
	}
}
