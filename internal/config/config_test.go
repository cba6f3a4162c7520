package config

import (
	"strings"
	"testing"
	"time"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestLoadDefaults(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil {
		t.Fatal(err)
	}
	if c.Env != "dev" || c.Addr != "localhost:8080" || c.BaseURL.String() != "http://localhost:8080" {
		t.Fatalf("got %+v", c)
	}
	if c.DatabaseURL != "data/orgbase.db" || !c.DevMailbox() || c.SecureCookies() {
		t.Fatalf("got db=%q devmailbox=%v secure=%v", c.DatabaseURL, c.DevMailbox(), c.SecureCookies())
	}
}

func TestLoadBadValueNamesVariable(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"Env", map[string]string{"ORGBASE_ENV": "staging"}, "ORGBASE_ENV:"},
		{"Addr", map[string]string{"ORGBASE_ADDR": "nonsense"}, "ORGBASE_ADDR:"},
		{"Port", map[string]string{"ORGBASE_ADDR": ":99999"}, "ORGBASE_ADDR:"},
		{"BaseURL", map[string]string{"ORGBASE_BASE_URL": "ftp://x"}, "ORGBASE_BASE_URL:"},
		{"DatabaseURL", map[string]string{"DATABASE_URL": "mysql://x"}, "DATABASE_URL:"},
		{"SessionKey", map[string]string{"ORGBASE_SESSION_KEYS": "abc"}, "ORGBASE_SESSION_KEYS:"},
		{"ProdNeedsKey", map[string]string{"ORGBASE_ENV": "prod"}, "ORGBASE_SESSION_KEYS:"},
		{"Idle", map[string]string{"ORGBASE_SESSION_IDLE_TIMEOUT": "soon"}, "ORGBASE_SESSION_IDLE_TIMEOUT:"},
		{"IdleAboveMax", map[string]string{"ORGBASE_SESSION_IDLE_TIMEOUT": "1000h"}, "ORGBASE_SESSION_IDLE_TIMEOUT:"},
		{"SMTPPort", map[string]string{"SMTP_PORT": "x"}, "SMTP_PORT:"},
		{"SMTPFrom", map[string]string{"SMTP_FROM": "not an address"}, "SMTP_FROM:"},
		{"SMTPTLS", map[string]string{"SMTP_TLS": "maybe"}, "SMTP_TLS:"},
		{"LogFormat", map[string]string{"ORGBASE_LOG_FORMAT": "xml"}, "ORGBASE_LOG_FORMAT:"},
		{"ShutdownDrain", map[string]string{"ORGBASE_SHUTDOWN_DRAIN": "a while"}, "ORGBASE_SHUTDOWN_DRAIN:"},
		{"ShutdownDrainNegative", map[string]string{"ORGBASE_SHUTDOWN_DRAIN": "-1s"}, "ORGBASE_SHUTDOWN_DRAIN:"},
		{"StripeKeyKind", map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "pk_test_abc", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_abc"}, "ORGBASE_STRIPE_SECRET_KEY:"},
		{"StripeWebhookKind", map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_abc", "ORGBASE_STRIPE_WEBHOOK_SECRET": "secret"}, "ORGBASE_STRIPE_WEBHOOK_SECRET:"},
		{"StripeKeyAlone", map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_abc"}, "ORGBASE_STRIPE_WEBHOOK_SECRET:"},
		{"StripeWebhookAlone", map[string]string{"ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_abc"}, "ORGBASE_STRIPE_SECRET_KEY:"},
		{"StripeAPIURL", map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_abc", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_abc", "ORGBASE_STRIPE_API_URL": "localhost:12111"}, "ORGBASE_STRIPE_API_URL:"},
		{"StripeAPIURLLiveKey", map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_live_abc", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_abc", "ORGBASE_STRIPE_API_URL": "http://localhost:12111"}, "ORGBASE_STRIPE_API_URL:"},
		{"StripeAPIURLNoKey", map[string]string{"ORGBASE_STRIPE_API_URL": "http://localhost:12111"}, "ORGBASE_STRIPE_API_URL:"},
		{"Payments", map[string]string{"ORGBASE_PAYMENTS": "paypal"}, "ORGBASE_PAYMENTS:"},
		{"PaymentsStripeWithoutKeys", map[string]string{"ORGBASE_PAYMENTS": "stripe"}, "ORGBASE_PAYMENTS:"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Load(env(tt.env))
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("got %v, want one line starting with %q", err, tt.want)
			}
		})
	}
}

func TestLoadHTTPSBaseURLMakesCookiesSecure(t *testing.T) {
	c, err := Load(env(map[string]string{"ORGBASE_BASE_URL": "https://orgbase.example.com",
		"ORGBASE_ENV": "prod", "ORGBASE_SESSION_KEYS": strings.Repeat("ab", 32)}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.SecureCookies() || c.DevMailbox() || len(c.SessionKeys) != 1 {
		t.Fatalf("got secure=%v devmailbox=%v keys=%d", c.SecureCookies(), c.DevMailbox(), len(c.SessionKeys))
	}
}

func TestLoadShutdownDrain(t *testing.T) {
	prod := map[string]string{"ORGBASE_ENV": "prod", "ORGBASE_SESSION_KEYS": strings.Repeat("ab", 32)}
	for _, tt := range []struct {
		env  map[string]string
		want time.Duration
	}{
		{nil, 0}, // dev: Ctrl-C stops at once
		{prod, 5 * time.Second},
		{map[string]string{"ORGBASE_SHUTDOWN_DRAIN": "1500ms"}, 1500 * time.Millisecond},
	} {
		c, err := Load(env(tt.env))
		if err != nil || c.ShutdownDrain != tt.want {
			t.Errorf("Load(%v): drain %v, err %v; want %v", tt.env, c.ShutdownDrain, err, tt.want)
		}
	}
}

func TestLoadStripe(t *testing.T) {
	c, err := Load(env(nil))
	if err != nil || c.StripeEnabled() {
		t.Fatalf("default: enabled=%v err=%v, want Stripe off", c != nil && c.StripeEnabled(), err)
	}
	c, err = Load(env(map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_123", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_456",
		"ORGBASE_STRIPE_API_URL": "http://localhost:12111/"}))
	if err != nil {
		t.Fatal(err)
	}
	if !c.StripeEnabled() || c.Stripe.SecretKey != "sk_test_123" || c.Stripe.WebhookSecret != "whsec_456" || c.Stripe.APIURL != "http://localhost:12111" {
		t.Fatalf("got %+v", c.Stripe)
	}
	if c.Payments != "test" {
		t.Fatalf("with Stripe configured the provider is still %q until ORGBASE_PAYMENTS=stripe; want test", c.Payments)
	}
	c, err = Load(env(map[string]string{"ORGBASE_PAYMENTS": "stripe", "ORGBASE_STRIPE_SECRET_KEY": "sk_test_123", "ORGBASE_STRIPE_WEBHOOK_SECRET": "whsec_456"}))
	if err != nil || c.Payments != "stripe" {
		t.Fatalf("ORGBASE_PAYMENTS=stripe with both keys: %v, %v", c, err)
	}
	// An error never repeats a secret.
	_, err = Load(env(map[string]string{"ORGBASE_STRIPE_SECRET_KEY": "sk_test_SECRETVALUE", "ORGBASE_STRIPE_WEBHOOK_SECRET": "nope_SECRETVALUE"}))
	if err == nil || strings.Contains(err.Error(), "SECRETVALUE") {
		t.Fatalf("got %v, want an error without the value", err)
	}
}
