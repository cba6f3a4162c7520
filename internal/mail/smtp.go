package mail

import (
	"context"
	"fmt"
	netmail "net/mail"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"

	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// Mailer delivers one outbox email.
type Mailer interface {
	Send(ctx context.Context, e *orgbase.Email) error
}

// SMTPTimeout bounds connecting to the SMTP server and each command after.
const SMTPTimeout = 30 * time.Second

// SMTP delivers emails through an SMTP server (github.com/wneessen/go-mail),
// as multipart/alternative messages with a plain-text and an HTML part. It
// opens one connection per email; it is safe for concurrent use.
type SMTP struct {
	cfg     config.SMTP
	from    *netmail.Address
	domain  string
	timeout time.Duration
}

// NewSMTP returns a Mailer for the configured server. cfg.TLS is starttls
// (STARTTLS required), tls (implicit TLS) or none (plain text, for local
// relays and tests). With a username, the client authenticates with the
// strongest mechanism the server offers.
func NewSMTP(cfg config.SMTP) (*SMTP, error) {
	if cfg.Host == "" {
		return nil, fmt.Errorf("smtp: no host configured")
	}
	from, err := netmail.ParseAddress(cfg.From)
	if err != nil {
		return nil, fmt.Errorf("smtp: from address: %w", err)
	}
	switch cfg.TLS {
	case "starttls", "tls", "none":
	default:
		return nil, fmt.Errorf("smtp: TLS mode %q is not starttls, tls or none", cfg.TLS)
	}
	domain := "localhost"
	if i := strings.LastIndexByte(from.Address, '@'); i >= 0 {
		domain = from.Address[i+1:]
	}
	m := &SMTP{cfg: cfg, from: from, domain: domain, timeout: SMTPTimeout}
	if _, err := m.client(); err != nil { // reject bad settings at start-up
		return nil, err
	}
	return m, nil
}

func (m *SMTP) client() (*gomail.Client, error) {
	opts := []gomail.Option{gomail.WithPort(m.cfg.Port), gomail.WithTimeout(m.timeout)}
	switch m.cfg.TLS {
	case "starttls":
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory))
	case "tls":
		opts = append(opts, gomail.WithSSL())
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	}
	if m.cfg.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover),
			gomail.WithUsername(m.cfg.Username), gomail.WithPassword(m.cfg.Password))
	}
	c, err := gomail.NewClient(m.cfg.Host, opts...)
	if err != nil {
		return nil, fmt.Errorf("smtp: %w", err)
	}
	return c, nil
}

// Send delivers e. Its Message-ID derives from the outbox row, so a retried
// delivery carries the same identifier.
func (m *SMTP) Send(ctx context.Context, e *orgbase.Email) error {
	msg := gomail.NewMsg()
	msg.FromMailAddress(m.from)
	if err := msg.To(e.To); err != nil {
		return fmt.Errorf("smtp: recipient %q: %w", e.To, err)
	}
	msg.Subject(e.Subject)
	msg.SetMessageIDWithValue(fmt.Sprintf("orgbase.email.%d.%d@%s", e.ID, e.CreatedAt.UnixNano(), m.domain))
	if e.CreatedAt.IsZero() {
		msg.SetDate()
	} else {
		msg.SetDateWithValue(e.CreatedAt)
	}
	msg.SetUserAgent("Orgbase")
	msg.SetBodyString(gomail.TypeTextPlain, e.Text)
	if e.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, e.HTML)
	}
	c, err := m.client()
	if err != nil {
		return err
	}
	if err := c.DialAndSendWithContext(ctx, msg); err != nil {
		return fmt.Errorf("smtp %s:%d: %w", m.cfg.Host, m.cfg.Port, err)
	}
	return nil
}
