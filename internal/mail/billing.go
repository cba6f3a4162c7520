package mail

import (
	"github.com/orgbase/orgbase/internal/orgbase"
)

// Receipt is the email of a paid invoice (SPEC §7, §9) to one recipient:
// what was paid, for what, the credits it added, and a link to the
// invoice page (which has the PDF).
func (c *Composer) Receipt(to *orgbase.User, orgName, invoiceNumber, description, total string, credits orgbase.Credits, link string) (*orgbase.Email, error) {
	lines := []string{
		"We received your payment of " + total + " for " + orgName + ". Thank you.",
		"Invoice " + invoiceNumber + ": " + description + ".",
	}
	if credits > 0 {
		lines = append(lines, credits.String()+" credits were added to the organization's pool.")
	}
	return c.compose(to.Email, orgName+": receipt for invoice "+invoiceNumber, message{
		Greeting: greeting(to.Name),
		Lines:    lines,
		Action:   "View the invoice",
		URL:      link,
		Footer:   "You get this receipt as the billing contact, an owner or a billing member of " + orgName + ". The invoice page has a PDF to download.",
	})
}

// PaymentFailed is the notice of a failed payment (a declined card, a
// failed renewal or auto-recharge) to one recipient: what could not be
// paid, why, and a link to the Billing tab to fix it.
func (c *Composer) PaymentFailed(to *orgbase.User, orgName, invoiceNumber, description, reason, link string) (*orgbase.Email, error) {
	what := description
	if invoiceNumber != "" {
		what += " (invoice " + invoiceNumber + ")"
	}
	return c.compose(to.Email, orgName+": a payment failed", message{
		Greeting: greeting(to.Name),
		Lines: []string{
			"A payment for " + orgName + " failed: " + what + ".",
			"Reason: " + reason,
			"Check the payment method on the Billing tab, then try again.",
		},
		Action: "Open billing",
		URL:    link,
		Footer: "You get this notice as the billing contact, an owner or a billing member of " + orgName + ".",
	})
}
