package store

import (
	"fmt"
	"strings"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Billing emails and notices (SPEC §7, §9): a receipt when an invoice is
// paid and a notice when a payment fails, written to the outbox in the
// transaction that records the payment or the failure, so a rolled-back
// payment sends nothing and a committed one always gets its email.
//
// Emails go to the organization's billing email when it has one, else to
// its active owners and billing members. A failed payment also puts an
// in-app notification (no alert behind it) in the bell of every active
// owner, admin and billing member: those who can fix the payment method.

// Kinds of billing email.
const (
	BillingMailReceipt       = "receipt"
	BillingMailPaymentFailed = "payment_failed"
)

// BillingMail is one billing email to compose for one recipient.
type BillingMail struct {
	Kind    string       // BillingMailReceipt or BillingMailPaymentFailed
	To      orgbase.User // only Email is set for the billing email
	OrgName string
	OrgSlug string
	// The invoice: its id (0 when a failure has none), number and what it sells.
	InvoiceID     int64
	InvoiceNumber string
	Description   string
	TotalCents    int64 // receipts
	Currency      string
	Credits       orgbase.Credits // receipts: the credits the payment added
	Reason        string          // failures: why, in the provider's words, and that no credits were added
}

// Path is the page the email links to: the invoice for a receipt, the
// Billing tab for a failure.
func (m BillingMail) Path() string {
	if m.Kind == BillingMailReceipt && m.InvoiceID != 0 {
		return "/orgs/" + m.OrgSlug + "/billing/invoices/" + itoa64(m.InvoiceID)
	}
	return "/orgs/" + m.OrgSlug + "/billing"
}

// Total is the amount paid, formatted ("$49.00").
func (m BillingMail) Total() string { return orgbase.FormatMoney(m.TotalCents, m.Currency) }

// BillingMailer composes a billing email for one recipient. It runs inside
// the transaction that records the payment: it must not block.
type BillingMailer func(m BillingMail) (*orgbase.Email, error)

// billingMailHook carries the BillingMailer, registered as a GORM plugin
// (as the alert mailer is) so every transaction of the DB finds it.
type billingMailHook struct{ mailer atomic.Pointer[BillingMailer] }

const billingMailHookName = "orgbase:billing-mail"

func (*billingMailHook) Name() string              { return billingMailHookName }
func (*billingMailHook) Initialize(*gorm.DB) error { return nil }

// SetBillingMailer makes receipts and payment-failure notices be composed
// with m; the web server sets one that writes absolute links to the public
// URL. Without one (command-line tools, tests) they are plain text with the
// page's path. Call it before payments are applied: the first call
// registers a plugin. A nil m goes back to plain text.
func (db *DB) SetBillingMailer(m BillingMailer) {
	h, ok := db.gorm.Config.Plugins[billingMailHookName].(*billingMailHook)
	if !ok {
		h = &billingMailHook{}
		if err := db.gorm.Use(h); err != nil { // only fails when registered meanwhile
			h, _ = db.gorm.Config.Plugins[billingMailHookName].(*billingMailHook)
			if h == nil {
				return
			}
		}
	}
	if m == nil {
		h.mailer.Store(nil)
		return
	}
	h.mailer.Store(&m)
}

// composeBillingMail writes the email of m with the configured
// BillingMailer, or as plain text without one.
func composeBillingMail(tx *gorm.DB, m BillingMail) (*orgbase.Email, error) {
	if h, ok := tx.Config.Plugins[billingMailHookName].(*billingMailHook); ok {
		if f := h.mailer.Load(); f != nil {
			return (*f)(m)
		}
	}
	hello := "Hello,"
	if m.To.Name != "" {
		hello = "Hello " + m.To.Name + ","
	}
	var subject, body string
	switch m.Kind {
	case BillingMailReceipt:
		subject = m.OrgName + ": receipt for invoice " + m.InvoiceNumber
		body = "We received your payment of " + m.Total() + " for " + m.OrgName + ".\n\nInvoice " + m.InvoiceNumber + ": " + m.Description + "."
		if m.Credits > 0 {
			body += "\n\n" + m.Credits.String() + " credits were added to the organization's pool."
		}
		body += "\n\nView the invoice in Orgbase: " + m.Path()
	default:
		subject = m.OrgName + ": a payment failed"
		body = "A payment for " + m.OrgName + " failed: " + m.Description
		if m.InvoiceNumber != "" {
			body += " (invoice " + m.InvoiceNumber + ")"
		}
		body += ".\n\nReason: " + m.Reason + "\n\nCheck the payment method in Orgbase: " + m.Path()
	}
	return &orgbase.Email{To: m.To.Email, Subject: subject, Text: hello + "\n\n" + body + "\n\n— Orgbase\n"}, nil
}

// billingOrg is what billing emails read of the organization.
type billingOrg struct {
	ID           int64
	Slug         string
	Name         string
	BillingEmail string
}

func findBillingOrg(tx *gorm.DB, orgID int64) (*billingOrg, error) {
	var rows []billingOrg
	if err := tx.Raw("SELECT id, slug, name, billing_email FROM organizations WHERE id = ?", orgID).Scan(&rows).Error; err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	return &rows[0], nil
}

// billingMembers returns the organization's active members with one of roles.
func billingMembers(tx *gorm.DB, orgID int64, roles ...orgbase.Role) ([]alertRecipient, error) {
	names := make([]string, len(roles))
	for i, r := range roles {
		names[i] = string(r)
	}
	var to []alertRecipient
	err := tx.Raw(`SELECT u.id, u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id
		WHERE m.org_id = ? AND m.status = ? AND m.role IN ? ORDER BY u.id`, orgID, orgbase.MemberActive, names).Scan(&to).Error
	return to, err
}

// billingMailRecipients are who billing emails go to: the billing email
// when the organization has one, else its active owners and billing members.
func billingMailRecipients(tx *gorm.DB, org *billingOrg) ([]orgbase.User, error) {
	if org.BillingEmail != "" {
		return []orgbase.User{{Email: org.BillingEmail}}, nil
	}
	members, err := billingMembers(tx, org.ID, orgbase.RoleOwner, orgbase.RoleBilling)
	if err != nil {
		return nil, err
	}
	out := make([]orgbase.User, len(members))
	for i, r := range members {
		out[i] = orgbase.User{ID: r.ID, Email: r.Email, Name: r.Name}
	}
	return out, nil
}

// sendBillingMail composes m for each recipient and writes it to the outbox in tx.
func sendBillingMail(tx *gorm.DB, org *billingOrg, m BillingMail, now time.Time) error {
	to, err := billingMailRecipients(tx, org)
	if err != nil {
		return err
	}
	m.OrgName, m.OrgSlug = org.Name, org.Slug
	for _, u := range to {
		m.To = u
		e, err := composeBillingMail(tx, m)
		if err != nil {
			return fmt.Errorf("compose billing email: %w", err)
		}
		orgID := org.ID
		e.OrgID = &orgID
		if err := insertEmail(tx, e, now); err != nil {
			return err
		}
	}
	return nil
}

// mailReceipt writes the receipt of the paid invoice invoiceID to the
// outbox inside tx: its number, what it sold (its lines' descriptions),
// the total, the credits added (its lines' credits) and a link to the
// invoice page. Call it once per invoice, in the transaction that marks it
// paid (markPaid does).
func mailReceipt(tx *gorm.DB, orgID, invoiceID int64, now time.Time) error {
	org, err := findBillingOrg(tx, orgID)
	if err != nil {
		return err
	}
	var inv invoiceRow
	if err := tx.Take(&inv, "org_id = ? AND id = ?", orgID, invoiceID).Error; err != nil {
		return notFound(err, "Invoice not found.")
	}
	var lines []invoiceLineRow
	if err := tx.Where("invoice_id = ?", invoiceID).Order("position, id").Find(&lines).Error; err != nil {
		return err
	}
	var credits orgbase.Credits
	descs := make([]string, 0, len(lines))
	for _, l := range lines {
		credits += orgbase.Credits(l.Credits)
		descs = append(descs, l.Description)
	}
	return sendBillingMail(tx, org, BillingMail{Kind: BillingMailReceipt, InvoiceID: inv.ID, InvoiceNumber: inv.Number,
		Description: strings.Join(descs, "; "), TotalCents: inv.TotalCents, Currency: inv.Currency, Credits: credits}, now)
}

// Title of the in-app notification of a failed payment.
const paymentFailedTitle = "A payment failed"

// notifyPaymentFailed tells the organization that a payment failed, inside
// tx: an email to the billing recipients and an in-app notification (level
// warning, linking to the Billing tab) to each active owner, admin and
// billing member. invoiceNumber may be "" (a failure with no invoice).
// failCheckout calls it; call it yourself only for a failure that does not
// go through failCheckout.
func notifyPaymentFailed(tx *gorm.DB, orgID int64, invoiceNumber, description, reason string, now time.Time) error {
	org, err := findBillingOrg(tx, orgID)
	if err != nil {
		return err
	}
	if reason == "" {
		reason = "The payment failed."
	}
	if !strings.Contains(strings.ToLower(reason), "no credits") {
		reason += " No credits were added."
	}
	m := BillingMail{Kind: BillingMailPaymentFailed, InvoiceNumber: invoiceNumber, Description: description, Reason: reason}
	if err := sendBillingMail(tx, org, m, now); err != nil {
		return err
	}
	members, err := billingMembers(tx, orgID, orgbase.RoleOwner, orgbase.RoleAdmin, orgbase.RoleBilling)
	if err != nil || len(members) == 0 {
		return err
	}
	body := description
	if invoiceNumber != "" {
		body += " (invoice " + invoiceNumber + ")"
	}
	body = truncate(body+": "+reason, 1000)
	notes := make([]notificationRow, len(members))
	for i, r := range members {
		notes[i] = notificationRow{OrgID: orgID, UserID: r.ID, Level: orgbase.NotificationWarning, Title: paymentFailedTitle,
			Body: body, Path: "/billing", CreatedAt: now}
	}
	return tx.Create(&notes).Error
}
