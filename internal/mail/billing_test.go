package mail

import (
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

func TestReceipt(t *testing.T) {
	c := NewComposer()
	link := "https://orgbase.example/orgs/acme/billing/invoices/7"
	e, err := c.Receipt(&orgbase.User{Email: "books@acme.example"}, "Acme <R&D>", "ACME-0007", "Top-up: 10,000 credits", "$12.00", 10_000*orgbase.Credit, link)
	if err != nil {
		t.Fatal(err)
	}
	if e.To != "books@acme.example" || e.Subject != "Acme <R&D>: receipt for invoice ACME-0007" {
		t.Errorf("to %q, subject %q", e.To, e.Subject)
	}
	for _, want := range []string{"Hello,", "$12.00", "Invoice ACME-0007: Top-up: 10,000 credits.", "10,000 credits were added", link} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, e.Text)
		}
	}
	if !strings.Contains(e.HTML, `href="`+link+`"`) || strings.Contains(e.HTML, "<R&D>") || !strings.Contains(e.HTML, "Acme &lt;R&amp;D&gt;") {
		t.Errorf("HTML part does not link to the invoice or does not escape the name:\n%s", e.HTML)
	}
	// A receipt for nothing credited says nothing about credits.
	e, _ = c.Receipt(&orgbase.User{Email: "o@acme.example", Name: "Olga"}, "Acme", "ACME-0008", "Setup", "$5.00", 0, link)
	if strings.Contains(e.Text, "credits were added") || !strings.Contains(e.Text, "Hello Olga,") {
		t.Errorf("receipt without credits:\n%s", e.Text)
	}
}

func TestPaymentFailed(t *testing.T) {
	c := NewComposer()
	link := "https://orgbase.example/orgs/acme/billing"
	e, err := c.PaymentFailed(&orgbase.User{Email: "olga@acme.example", Name: "Olga"}, "Acme", "ACME-0002", "Pro plan renewal",
		"Your card has insufficient funds. No credits were added.", link)
	if err != nil {
		t.Fatal(err)
	}
	if e.Subject != "Acme: a payment failed" {
		t.Errorf("subject %q", e.Subject)
	}
	for _, want := range []string{"Hello Olga,", "Pro plan renewal (invoice ACME-0002)", "Reason: Your card has insufficient funds.", "Billing tab", link} {
		if !strings.Contains(e.Text, want) {
			t.Errorf("text lacks %q:\n%s", want, e.Text)
		}
	}
	// Without an invoice number (a failure before any invoice).
	e, _ = c.PaymentFailed(&orgbase.User{Email: "olga@acme.example"}, "Acme", "", "Auto-recharge", "The payment failed.", link)
	if strings.Contains(e.Text, "invoice") || !strings.Contains(e.Text, "failed: Auto-recharge.") {
		t.Errorf("failure without an invoice:\n%s", e.Text)
	}
}
