package web

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/go-pdf/fpdf"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	billingviews "github.com/orgbase/orgbase/views/billing"
	"github.com/orgbase/orgbase/views/layout"
)

// BillingStore is what the Billing tab, checkouts and invoices need.
type BillingStore interface {
	AutoRechargeStore // autorecharge.go
	StartCheckout(ctx context.Context, orgID int64, by orgbase.Access, n store.NewCheckout) (*orgbase.Checkout, error)
	SetCheckoutSession(ctx context.Context, orgID int64, reference, sessionID string) error
	FailCheckout(ctx context.Context, orgID int64, reference, message string) error
	FindCheckout(ctx context.Context, orgID int64, reference string) (*orgbase.Checkout, error)
	ApplyBillingEvent(ctx context.Context, ev billing.Event) (*store.BillingOutcome, error)
	SaveBillingCustomer(ctx context.Context, c orgbase.BillingCustomer) error
	FindBillingCustomer(ctx context.Context, orgID int64, provider string) (*orgbase.BillingCustomer, error)
	FindSubscription(ctx context.Context, orgID int64) (*orgbase.Subscription, error)
	FindInvoices(ctx context.Context, orgID int64) ([]orgbase.Invoice, error)
	FindInvoice(ctx context.Context, orgID, id int64) (*orgbase.Invoice, error)
	FindInvoiceCheckout(ctx context.Context, orgID, invoiceID int64) (*orgbase.Checkout, error)
	GrantTrialCredits(ctx context.Context, orgID int64) (*orgbase.Transfer, error)
	PoolBalance(ctx context.Context, orgID int64) (orgbase.Credits, error)
	CreditBank(ctx context.Context, orgID int64) (orgbase.Credits, error)
	ChangeSubscription(ctx context.Context, orgID int64, by orgbase.Access, ch store.SubscriptionChange) (*orgbase.Subscription, error)
	PreviewUpgrade(ctx context.Context, orgID int64, plan string) (orgbase.Proration, error)
	StartUpgrade(ctx context.Context, orgID int64, by orgbase.Access, plan, provider string) (*orgbase.Checkout, error)
	// SetBillingMailer sets how receipts and payment-failure notices are composed.
	SetBillingMailer(m store.BillingMailer)
}

// billingMail composes a receipt or a payment-failure notice with the
// server's composer, linking to the public URL.
func (s *Server) billingMail(m store.BillingMail) (*orgbase.Email, error) {
	if m.Kind == store.BillingMailReceipt {
		return s.composer.Receipt(&m.To, m.OrgName, m.InvoiceNumber, m.Description, m.Total(), m.Credits, s.cfg.URL(m.Path()))
	}
	return s.composer.PaymentFailed(&m.To, m.OrgName, m.InvoiceNumber, m.Description, m.Reason, s.cfg.URL(m.Path()))
}

// handleBillingIndex is the Billing tab: the current plan, the plans, the
// credit packs, auto-recharge and the invoices.
func (s *Server) handleBillingIndex(c echo.Context) error {
	return s.renderBilling(c, http.StatusOK, nil)
}

// renderBilling renders the Billing tab with status; autoRecharge, when
// set, is the Auto-recharge form sent back with its messages.
func (s *Server) renderBilling(c echo.Context, status int, autoRecharge *billingviews.AutoRechargeModel) error {
	ctx := c.Request().Context()
	org := orgOf(c).Org
	m := billingviews.Model{TestMode: s.payments.Name() == testprovider.Name}
	var ok bool
	if m.Current, ok = orgbase.FindPlan(org.Plan); !ok {
		m.Current = orgbase.Plan{Key: org.Plan, Name: org.Plan, Custom: true}
	}
	var err error
	if m.Subscription, err = s.billing.FindSubscription(ctx, org.ID); err != nil {
		return err
	}
	if m.Pool, err = s.billing.PoolBalance(ctx, org.ID); err != nil {
		return err
	}
	if m.Card, err = s.billing.FindBillingCustomer(ctx, org.ID, s.payments.Name()); err != nil {
		return err
	}
	if m.Invoices, err = s.billing.FindInvoices(ctx, org.ID); err != nil {
		return err
	}
	if m.Bank, err = s.billing.CreditBank(ctx, org.ID); err != nil {
		return err
	}
	m.Now = s.now()
	if m.AutoRecharge, err = s.autoRechargeModel(c, m.Card, autoRecharge); err != nil {
		return err
	}
	return s.renderPage(c, status, "Billing", "billing", func(sh layout.Shell) templ.Component { return billingviews.Page(sh, m) })
}

// handleCheckoutCreate starts a purchase chosen on the Billing tab (a plan
// or a pack, by key: the price is the catalog's) and sends the browser to
// the provider's checkout.
func (s *Server) handleCheckoutCreate(c echo.Context) error {
	to, _, err := s.startCheckout(c, c.FormValue("kind"), c.FormValue("key"))
	if err != nil {
		return s.billingError(c, err, s.orgPath(c, "/billing"))
	}
	return s.redirect(c, to)
}

// startCheckout opens the checkout in the store and at the provider and
// returns where to send the browser. A provider error marks the checkout
// failed (nothing is granted) and comes back as a message on the Billing tab
// (started is false).
func (s *Server) startCheckout(c echo.Context, kind, key string) (to string, started bool, err error) {
	sc := orgOf(c)
	co, err := s.billing.StartCheckout(c.Request().Context(), sc.Org.ID, sc.Access, store.NewCheckout{Kind: kind, Key: key, Provider: s.payments.Name()})
	if err != nil {
		return "", false, err
	}
	return s.sendToProvider(c, co)
}

// sendToProvider starts the provider's checkout of an open checkout.
func (s *Server) sendToProvider(c echo.Context, co *orgbase.Checkout) (to string, started bool, err error) {
	ctx := c.Request().Context()
	sc := orgOf(c)
	base := strings.TrimRight(s.cfg.BaseURL.String(), "/") + "/orgs/" + sc.Org.Slug + "/billing"
	var customerID string
	if cust, err := s.billing.FindBillingCustomer(ctx, sc.Org.ID, s.payments.Name()); err != nil {
		return "", false, err
	} else if cust != nil {
		customerID = cust.CustomerID
	}
	session, err := s.payments.StartCheckout(ctx, billing.CheckoutRequest{
		OrgID: sc.Org.ID, CustomerID: customerID, CustomerEmail: sc.Org.BillingEmail, Reference: co.Reference,
		Purchase:   billing.Purchase{Kind: billing.PurchaseKind(co.Kind), Key: co.Key, Description: co.Description, AmountCents: co.AmountCents, Currency: co.Currency},
		SuccessURL: base + "/invoices/" + strconv.FormatInt(co.InvoiceID, 10), CancelURL: base,
	})
	if err != nil {
		s.log.Error("start checkout", "provider", s.payments.Name(), "reference", co.Reference, "error", err.Error())
		msg := "The payment provider could not start the payment. Nothing was charged; try again in a moment."
		if ferr := s.billing.FailCheckout(ctx, sc.Org.ID, co.Reference, msg); ferr != nil {
			return "", false, ferr
		}
		if ferr := s.flash(c, "error", msg); ferr != nil {
			return "", false, ferr
		}
		return "/orgs/" + sc.Org.Slug + "/billing", false, nil
	}
	if err := s.billing.SetCheckoutSession(ctx, sc.Org.ID, co.Reference, session.ID); err != nil {
		return "", false, err
	}
	return session.URL, true, nil
}

// testCheckout finds the checkout of the card page: the test provider's
// only (ENOTFOUND for another provider's, another organization's or an unknown one).
func (s *Server) testCheckout(c echo.Context) (*orgbase.Checkout, *orgbase.Invoice, error) {
	ctx := c.Request().Context()
	org := orgOf(c).Org
	co, err := s.billing.FindCheckout(ctx, org.ID, c.Param("id"))
	if err != nil {
		return nil, nil, err
	}
	if co.Provider != testprovider.Name {
		return nil, nil, orgbase.Errorf(orgbase.ENOTFOUND, "Checkout not found.")
	}
	inv, err := s.billing.FindInvoice(ctx, org.ID, co.InvoiceID)
	return co, inv, err
}

func (s *Server) renderCardPage(c echo.Context, status int, m billingviews.CheckoutModel) error {
	return s.renderPage(c, status, "Pay · Test mode", "billing", func(sh layout.Shell) templ.Component { return billingviews.Checkout(sh, m) })
}

// handleTestCheckoutShow is the test provider's card page.
func (s *Server) handleTestCheckoutShow(c echo.Context) error {
	co, inv, err := s.testCheckout(c)
	if err != nil {
		return err
	}
	m := billingviews.CheckoutModel{Checkout: co, Invoice: inv, Fields: map[string]string{}}
	if co.Status == orgbase.CheckoutFailed {
		m.Error = co.Message
	}
	return s.renderCardPage(c, http.StatusOK, m)
}

// handleTestCheckoutPay takes the card page's form: invalid fields come
// back with what was typed; a valid test card produces the provider's
// event, applied through ApplyBillingEvent (the path Stripe's webhook
// uses). Paid: to the invoice with a message. Declined: the page again with
// the reason, nothing granted.
func (s *Server) handleTestCheckoutPay(c echo.Context) error {
	ctx := c.Request().Context()
	co, inv, err := s.testCheckout(c)
	if err != nil {
		return err
	}
	invoicePath := s.orgPath(c, "/billing/invoices/"+strconv.FormatInt(co.InvoiceID, 10))
	if co.Status == orgbase.CheckoutPaid {
		return s.flashRedirect(c, "This purchase is already paid.", "", invoicePath)
	}
	form := testprovider.CardForm{Name: sanitizeEcho(c.FormValue("name")), Number: sanitizeEcho(c.FormValue("number")),
		Expiry: sanitizeEcho(c.FormValue("expiry")), CVC: sanitizeEcho(c.FormValue("cvc"))}
	m := billingviews.CheckoutModel{Checkout: co, Invoice: inv, Form: form, Fields: map[string]string{}}
	card, fields := testprovider.Validate(form, s.now())
	if len(fields) > 0 {
		m.Fields = fields
		return s.renderCardPage(c, http.StatusUnprocessableEntity, m)
	}
	ev := testprovider.Pay(co, card, s.now())
	out, err := s.billing.ApplyBillingEvent(ctx, ev)
	if err != nil {
		return err
	}
	switch out.Status {
	case store.OutcomePaid:
		if err := s.billing.SaveBillingCustomer(ctx, orgbase.BillingCustomer{OrgID: co.OrgID, Provider: testprovider.Name,
			CustomerID: testprovider.CustomerID(co.OrgID), CardBrand: card.Brand, CardLast4: card.Last4}); err != nil {
			return err
		}
		msg := "Payment received: " + co.Credits.String() + " credits added to the organization pool."
		return s.flashRedirect(c, msg, "", invoicePath)
	case store.OutcomeFailed:
		m.Error = out.Message
		m.Checkout.Status = orgbase.CheckoutFailed
		m.Form.CVC = "" // as payment pages do: the security code is typed again
		return s.renderCardPage(c, http.StatusPaymentRequired, m)
	}
	s.log.Error("test checkout event ignored", "reference", co.Reference, "message", out.Message)
	return orgbase.Errorf(orgbase.ECONFLICT, "This payment could not be applied: %s.", out.Message)
}

func (s *Server) orgPath(c echo.Context, rest string) string {
	return "/orgs/" + orgOf(c).Org.Slug + rest
}

// invoiceParam reads the :id of an invoice route (ENOTFOUND when it is no id).
func (s *Server) invoiceParam(c echo.Context) (*orgbase.Invoice, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Invoice not found.")
	}
	return s.billing.FindInvoice(c.Request().Context(), orgOf(c).Org.ID, id)
}

// handleInvoiceShow is one invoice: lines, totals, status.
func (s *Server) handleInvoiceShow(c echo.Context) error {
	inv, err := s.invoiceParam(c)
	if err != nil {
		return err
	}
	co, err := s.billing.FindInvoiceCheckout(c.Request().Context(), inv.OrgID, inv.ID)
	if err != nil {
		return err
	}
	m := billingviews.InvoiceModel{Invoice: inv, Checkout: co}
	return s.renderPage(c, http.StatusOK, "Invoice "+inv.Number, "billing", func(sh layout.Shell) templ.Component { return billingviews.Invoice(sh, m) })
}

// handleInvoicePDF downloads the invoice as a PDF.
func (s *Server) handleInvoicePDF(c echo.Context) error {
	inv, err := s.invoiceParam(c)
	if err != nil {
		return err
	}
	b, err := InvoicePDF(inv)
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Content-Disposition", fmt.Sprintf("attachment; filename=%q", "invoice-"+inv.Number+".pdf"))
	h.Set("Cache-Control", "private, no-store")
	return c.Blob(http.StatusOK, "application/pdf", b)
}

// InvoicePDF renders an invoice as an A4 PDF: number, organization, billing
// email, date, period, lines, total and status. The content streams are not
// compressed (an invoice is a few kilobytes), so its text can be searched.
func InvoicePDF(inv *orgbase.Invoice) ([]byte, error) {
	pdf := fpdf.New("P", "mm", "A4", "")
	pdf.SetCompression(false)
	pdf.SetTitle("Invoice "+inv.Number, true)
	pdf.SetCreator("Orgbase", true)
	pdf.SetMargins(20, 20, 20)
	pdf.SetAutoPageBreak(true, 20)
	tr := pdf.UnicodeTranslatorFromDescriptor("") // UTF-8 to the core fonts' cp1252
	money := func(c int64) string { return tr(orgbase.FormatMoney(c, inv.Currency)) }
	pdf.AddPage()
	pdf.SetFont("Helvetica", "B", 20)
	pdf.CellFormat(0, 10, "Invoice "+tr(inv.Number), "", 1, "L", false, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	pdf.SetTextColor(90, 90, 90)
	pdf.CellFormat(0, 6, "Status: "+tr(orgbase.InvoiceStatusLabel(inv.Status)), "", 1, "L", false, 0, "")
	pdf.Ln(4)
	pdf.SetTextColor(0, 0, 0)
	row := func(label, value string) {
		pdf.SetFont("Helvetica", "B", 10)
		pdf.CellFormat(40, 6, label, "", 0, "L", false, 0, "")
		pdf.SetFont("Helvetica", "", 10)
		pdf.MultiCell(0, 6, tr(value), "", "L", false)
	}
	row("Billed to", inv.OrgName)
	if inv.BillingEmail != "" {
		row("Billing email", inv.BillingEmail)
	}
	row("Date", inv.CreatedAt.UTC().Format("January 2, 2006"))
	period := inv.PeriodStart.UTC().Format("January 2, 2006")
	if !inv.PeriodEnd.Equal(inv.PeriodStart) {
		period += " - " + inv.PeriodEnd.UTC().Format("January 2, 2006")
	}
	row("Period", period)
	if inv.PaidAt != nil {
		row("Paid", inv.PaidAt.UTC().Format("January 2, 2006"))
	}
	if inv.PaymentRef != "" {
		row("Payment reference", inv.PaymentRef)
	}
	pdf.Ln(6)
	pdf.SetFont("Helvetica", "B", 10)
	pdf.SetFillColor(243, 244, 246)
	pdf.CellFormat(95, 8, "Description", "B", 0, "L", true, 0, "")
	pdf.CellFormat(15, 8, "Qty", "B", 0, "R", true, 0, "")
	pdf.CellFormat(30, 8, "Unit price", "B", 0, "R", true, 0, "")
	pdf.CellFormat(30, 8, "Amount", "B", 1, "R", true, 0, "")
	pdf.SetFont("Helvetica", "", 10)
	for _, l := range inv.Lines {
		y := pdf.GetY()
		pdf.MultiCell(95, 7, tr(l.Description), "", "L", false)
		end := pdf.GetY()
		pdf.SetXY(115, y)
		pdf.CellFormat(15, 7, strconv.FormatInt(l.Quantity, 10), "", 0, "R", false, 0, "")
		pdf.CellFormat(30, 7, money(l.UnitCents), "", 0, "R", false, 0, "")
		pdf.CellFormat(30, 7, money(l.AmountCents), "", 0, "R", false, 0, "")
		pdf.SetXY(20, end)
	}
	pdf.CellFormat(170, 1, "", "T", 1, "L", false, 0, "")
	pdf.Ln(2)
	pdf.SetFont("Helvetica", "B", 12)
	pdf.CellFormat(140, 8, "Total", "", 0, "R", false, 0, "")
	pdf.CellFormat(30, 8, money(inv.TotalCents), "", 1, "R", false, 0, "")
	if inv.Status == orgbase.InvoiceFailed && inv.FailureMessage != "" {
		pdf.Ln(4)
		pdf.SetFont("Helvetica", "", 10)
		pdf.SetTextColor(185, 28, 28)
		pdf.MultiCell(0, 6, tr(inv.FailureMessage), "", "L", false)
	}
	var buf bytes.Buffer
	if err := pdf.Output(&buf); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
