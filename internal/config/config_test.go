package config

import (
	"strings"
	"testing"
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
		{"Payments", map[string]string{"ORGBASE_PAYMENTS": "paypal"}, "ORGBASE_PAYMENTS:"},
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
