// Package config reads Orgbase's configuration from environment variables,
// applies defaults and validates every value. A bad value is reported as one
// line naming the variable.
package config

import (
	"encoding/hex"
	"fmt"
	"net"
	"net/mail"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Environments.
const (
	EnvDev  = "dev"
	EnvProd = "prod"
)

// Config is the whole configuration of the program.
type Config struct {
	Env         string        // ORGBASE_ENV: dev or prod
	Addr        string        // ORGBASE_ADDR: listen address
	BaseURL     *url.URL      // ORGBASE_BASE_URL: public URL used in links and cookies
	DatabaseURL string        // DATABASE_URL: postgres:// URL, or a SQLite file path
	DataDir     string        // ORGBASE_DATA_DIR: SQLite file and dev session key
	SessionKeys [][]byte      // ORGBASE_SESSION_KEYS: hex keys, newest first; empty in dev means generate
	SessionIdle time.Duration // ORGBASE_SESSION_IDLE_TIMEOUT
	SessionMax  time.Duration // ORGBASE_SESSION_MAX_AGE
	DeleteGrace time.Duration // ORGBASE_DELETION_GRACE
	// ShutdownDrain (ORGBASE_SHUTDOWN_DRAIN) is how long serve keeps serving
	// after SIGTERM with /readyz answering 503, so that a load balancer
	// stops sending new requests before the listener closes.
	ShutdownDrain time.Duration
	LogFormat     string // ORGBASE_LOG_FORMAT: text or json
	Payments      string // ORGBASE_PAYMENTS: the payment provider, "test" or "stripe"
	SMTP          SMTP
	Stripe        Stripe
}

// Stripe configures the Stripe payment provider. Both keys set enable it;
// neither leaves billing to the built-in test provider.
type Stripe struct {
	SecretKey     string // ORGBASE_STRIPE_SECRET_KEY: sk_test_… or sk_live_…
	WebhookSecret string // ORGBASE_STRIPE_WEBHOOK_SECRET: whsec_…
	APIURL        string // ORGBASE_STRIPE_API_URL: another API base (stripe-mock in tests); "" is Stripe's
}

// SMTP configures outgoing mail. An empty Host keeps mail in the dev mailbox.
type SMTP struct {
	Host     string // SMTP_HOST
	Port     int    // SMTP_PORT
	Username string // SMTP_USERNAME
	Password string // SMTP_PASSWORD
	From     string // SMTP_FROM
	TLS      string // SMTP_TLS: starttls, tls or none
}

// Var documents one environment variable (for the README and --help).
type Var struct{ Name, Default, Help string }

// Vars lists every variable Load reads.
var Vars = []Var{
	{"ORGBASE_ENV", "dev", "`dev` or `prod`. Production requires session keys and never serves the dev mailbox."},
	{"ORGBASE_ADDR", "localhost:8080", "Address to listen on (host:port; port 0 picks a free port)."},
	{"ORGBASE_BASE_URL", "http://<ORGBASE_ADDR>", "Public URL used in email links; https makes cookies Secure."},
	{"DATABASE_URL", "<data dir>/orgbase.db", "A `postgres://` URL selects PostgreSQL; otherwise a SQLite file path."},
	{"ORGBASE_DATA_DIR", "./data", "Where the embedded SQLite database and the development session key live."},
	{"ORGBASE_SESSION_KEYS", "generated in dev", "Comma-separated hex keys of 32 or 64 bytes, newest first, to sign session cookies. Required in prod."},
	{"ORGBASE_SESSION_IDLE_TIMEOUT", "72h", "A session ends after this long without a request."},
	{"ORGBASE_SESSION_MAX_AGE", "720h", "A session ends this long after sign-in, however active."},
	{"ORGBASE_DELETION_GRACE", "720h", "How long a deleted organization can be restored before it is purged."},
	{"ORGBASE_SHUTDOWN_DRAIN", "5s in prod, 0s in dev", "After SIGTERM, how long to keep serving with /readyz answering 503 before closing the listener and finishing in-flight requests."},
	{"ORGBASE_LOG_FORMAT", "text", "`text` or `json` structured logs."},
	{"ORGBASE_PAYMENTS", "test", "Payment provider: `test` is the built-in test provider (a card page in test mode, no money moves); `stripe` takes payments with Stripe Checkout (needs both Stripe keys)."},
	{"SMTP_HOST", "", "SMTP server; empty keeps mail in the dev mailbox at /dev/mail."},
	{"SMTP_PORT", "587", "SMTP port."},
	{"SMTP_USERNAME", "", "SMTP user (optional)."},
	{"SMTP_PASSWORD", "", "SMTP password (optional)."},
	{"SMTP_FROM", "Orgbase <no-reply@localhost>", "Sender address."},
	{"SMTP_TLS", "starttls", "`starttls`, `tls` (implicit) or `none`."},
	{"ORGBASE_STRIPE_SECRET_KEY", "", "Stripe secret key (`sk_test_…` or `sk_live_…`); with the webhook secret it enables Stripe."},
	{"ORGBASE_STRIPE_WEBHOOK_SECRET", "", "Signing secret (`whsec_…`) of the webhook endpoint `<ORGBASE_BASE_URL>/webhooks/stripe`."},
	{"ORGBASE_STRIPE_API_URL", "", "Another Stripe API base URL, e.g. stripe-mock's `http://localhost:12111`; test keys only."},
}

// Load reads the configuration through getenv. Its error names the variable
// and the problem on one line.
func Load(getenv func(string) string) (*Config, error) {
	get := func(name, def string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		return def
	}
	c := &Config{}
	c.Env = get("ORGBASE_ENV", EnvDev)
	if c.Env != EnvDev && c.Env != EnvProd {
		return nil, fmt.Errorf("ORGBASE_ENV: %q is not dev or prod", c.Env)
	}
	c.Addr = get("ORGBASE_ADDR", "localhost:8080")
	host, port, err := net.SplitHostPort(c.Addr)
	if err != nil {
		return nil, fmt.Errorf("ORGBASE_ADDR: %q is not host:port", c.Addr)
	}
	if p, err := strconv.Atoi(port); err != nil || p < 0 || p > 65535 {
		return nil, fmt.Errorf("ORGBASE_ADDR: port %q is not a number from 0 to 65535", port)
	}
	if host == "" {
		host = "localhost"
	}
	base := get("ORGBASE_BASE_URL", "http://"+net.JoinHostPort(host, port))
	u, err := url.Parse(base)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || (u.Path != "" && u.Path != "/") || u.RawQuery != "" {
		return nil, fmt.Errorf("ORGBASE_BASE_URL: %q is not an http(s) URL without a path", base)
	}
	u.Path = ""
	c.BaseURL = u
	c.DataDir = get("ORGBASE_DATA_DIR", "data")
	c.DatabaseURL = get("DATABASE_URL", filepath.Join(c.DataDir, "orgbase.db"))
	if strings.Contains(c.DatabaseURL, "://") && !strings.HasPrefix(c.DatabaseURL, "postgres://") && !strings.HasPrefix(c.DatabaseURL, "postgresql://") {
		return nil, fmt.Errorf("DATABASE_URL: only postgres:// URLs or SQLite file paths are supported")
	}
	if raw := get("ORGBASE_SESSION_KEYS", ""); raw != "" {
		for i, k := range strings.Split(raw, ",") {
			b, err := hex.DecodeString(strings.TrimSpace(k))
			if err != nil || (len(b) != 32 && len(b) != 64) {
				return nil, fmt.Errorf("ORGBASE_SESSION_KEYS: key %d is not 64 or 128 hex characters", i+1)
			}
			c.SessionKeys = append(c.SessionKeys, b)
		}
	} else if c.Env == EnvProd {
		return nil, fmt.Errorf("ORGBASE_SESSION_KEYS: required when ORGBASE_ENV=prod (generate one with: openssl rand -hex 32)")
	}
	durations := []struct {
		name, def string
		dst       *time.Duration
	}{
		{"ORGBASE_SESSION_IDLE_TIMEOUT", "72h", &c.SessionIdle},
		{"ORGBASE_SESSION_MAX_AGE", "720h", &c.SessionMax},
		{"ORGBASE_DELETION_GRACE", "720h", &c.DeleteGrace},
	}
	for _, d := range durations {
		v, err := time.ParseDuration(get(d.name, d.def))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("%s: %q is not a positive duration like 72h or 30m", d.name, get(d.name, d.def))
		}
		*d.dst = v
	}
	drainDef := "0s"
	if c.Env == EnvProd {
		drainDef = "5s"
	}
	if c.ShutdownDrain, err = time.ParseDuration(get("ORGBASE_SHUTDOWN_DRAIN", drainDef)); err != nil || c.ShutdownDrain < 0 || c.ShutdownDrain > 5*time.Minute {
		return nil, fmt.Errorf("ORGBASE_SHUTDOWN_DRAIN: %q is not a duration from 0s to 5m, like 5s", get("ORGBASE_SHUTDOWN_DRAIN", drainDef))
	}
	if c.SessionIdle > c.SessionMax {
		return nil, fmt.Errorf("ORGBASE_SESSION_IDLE_TIMEOUT: must not exceed ORGBASE_SESSION_MAX_AGE")
	}
	c.LogFormat = get("ORGBASE_LOG_FORMAT", "text")
	if c.LogFormat != "text" && c.LogFormat != "json" {
		return nil, fmt.Errorf("ORGBASE_LOG_FORMAT: %q is not text or json", c.LogFormat)
	}
	c.Payments = get("ORGBASE_PAYMENTS", "test")
	if c.Payments != "test" && c.Payments != "stripe" {
		return nil, fmt.Errorf("ORGBASE_PAYMENTS: %q is not a payment provider (test or stripe)", c.Payments)
	}
	c.SMTP = SMTP{Host: get("SMTP_HOST", ""), Username: get("SMTP_USERNAME", ""), Password: getenv("SMTP_PASSWORD"),
		From: get("SMTP_FROM", "Orgbase <no-reply@localhost>"), TLS: get("SMTP_TLS", "starttls")}
	p, err := strconv.Atoi(get("SMTP_PORT", "587"))
	if err != nil || p < 1 || p > 65535 {
		return nil, fmt.Errorf("SMTP_PORT: %q is not a port number", get("SMTP_PORT", ""))
	}
	c.SMTP.Port = p
	if _, err := mail.ParseAddress(c.SMTP.From); err != nil {
		return nil, fmt.Errorf("SMTP_FROM: %q is not an email address", c.SMTP.From)
	}
	switch c.SMTP.TLS {
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("SMTP_TLS: %q is not starttls, tls or none", c.SMTP.TLS)
	}
	if err := c.loadStripe(get); err != nil {
		return nil, err
	}
	if c.Payments == "stripe" && !c.StripeEnabled() {
		return nil, fmt.Errorf("ORGBASE_PAYMENTS: stripe needs ORGBASE_STRIPE_SECRET_KEY and ORGBASE_STRIPE_WEBHOOK_SECRET")
	}
	return c, nil
}

// loadStripe reads the Stripe settings: both keys or neither, each of the
// right kind, and another API URL only with a test key (a live key is never
// sent anywhere but Stripe). Errors never repeat a key's value.
func (c *Config) loadStripe(get func(name, def string) string) error {
	st := Stripe{SecretKey: get("ORGBASE_STRIPE_SECRET_KEY", ""), WebhookSecret: get("ORGBASE_STRIPE_WEBHOOK_SECRET", ""),
		APIURL: get("ORGBASE_STRIPE_API_URL", "")}
	switch {
	case st.SecretKey != "" && !strings.HasPrefix(st.SecretKey, "sk_test_") && !strings.HasPrefix(st.SecretKey, "sk_live_"):
		return fmt.Errorf("ORGBASE_STRIPE_SECRET_KEY: is not a Stripe secret key (sk_test_… or sk_live_…)")
	case st.WebhookSecret != "" && !strings.HasPrefix(st.WebhookSecret, "whsec_"):
		return fmt.Errorf("ORGBASE_STRIPE_WEBHOOK_SECRET: is not a webhook signing secret (whsec_…)")
	case st.SecretKey != "" && st.WebhookSecret == "":
		return fmt.Errorf("ORGBASE_STRIPE_WEBHOOK_SECRET: required with ORGBASE_STRIPE_SECRET_KEY (set both or neither)")
	case st.SecretKey == "" && st.WebhookSecret != "":
		return fmt.Errorf("ORGBASE_STRIPE_SECRET_KEY: required with ORGBASE_STRIPE_WEBHOOK_SECRET (set both or neither)")
	}
	if st.APIURL != "" {
		u, err := url.Parse(st.APIURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" {
			return fmt.Errorf("ORGBASE_STRIPE_API_URL: %q is not an http(s) URL", st.APIURL)
		}
		if !strings.HasPrefix(st.SecretKey, "sk_test_") {
			return fmt.Errorf("ORGBASE_STRIPE_API_URL: only with a test key (ORGBASE_STRIPE_SECRET_KEY=sk_test_…)")
		}
		st.APIURL = strings.TrimSuffix(st.APIURL, "/")
	}
	c.Stripe = st
	return nil
}

// StripeEnabled reports whether Stripe takes payments (both keys are set).
func (c *Config) StripeEnabled() bool { return c.Stripe.SecretKey != "" }

// Dev reports whether the program runs in development mode.
func (c *Config) Dev() bool { return c.Env == EnvDev }

// SecureCookies reports whether cookies must carry the Secure flag.
func (c *Config) SecureCookies() bool { return c.BaseURL.Scheme == "https" }

// DevMailbox reports whether emails stay in the database for /dev/mail.
func (c *Config) DevMailbox() bool { return c.Dev() && c.SMTP.Host == "" }

// URL returns the absolute public URL of path.
func (c *Config) URL(path string) string {
	return strings.TrimSuffix(c.BaseURL.String(), "/") + path
}
