package web

import (
	"context"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	billingviews "github.com/orgbase/orgbase/views/billing"
)

// AutoRechargeStore is what the Auto-recharge card of the Billing tab needs.
type AutoRechargeStore interface {
	FindAutoRecharge(ctx context.Context, orgID int64) (*orgbase.AutoRecharge, error)
	SaveAutoRecharge(ctx context.Context, orgID int64, by orgbase.Access, s orgbase.AutoRechargeSettings, provider string) (*orgbase.AutoRecharge, error)
}

// autoRechargeModel builds the Auto-recharge card: the settings as stored
// and this month's spend, the saved card (card, already read by the Billing
// tab), and the form as posted when posted is set (with its messages).
func (s *Server) autoRechargeModel(c echo.Context, card *orgbase.BillingCustomer, posted *billingviews.AutoRechargeModel) (billingviews.AutoRechargeModel, error) {
	ar, err := s.billing.FindAutoRecharge(c.Request().Context(), orgOf(c).Org.ID)
	if err != nil {
		return billingviews.AutoRechargeModel{}, err
	}
	m := billingviews.AutoRechargeModel{State: *ar, Form: billingviews.AutoRechargeFormOf(*ar), Fields: map[string]string{}}
	if posted != nil {
		m.Form, m.Fields = posted.Form, posted.Fields
	}
	switch {
	case card == nil:
	case card.CardLast4 != "":
		m.Card = strings.TrimSpace(card.CardBrand + " ending " + card.CardLast4)
	default:
		m.Card = "the card saved with the payment provider"
	}
	if ar.OffByFailedPayment() && ar.OffInvoiceID != 0 {
		m.OffInvoice = s.orgPath(c, "/billing/invoices/"+strconv.FormatInt(ar.OffInvoiceID, 10))
	}
	return m, nil
}

// decodeAutoRecharge reads the Auto-recharge card's form: the threshold in
// credits (orgbase.ParseCredits), the pack's key and the monthly cap in
// dollars (orgbase.ParseMoney). fields has a message per wrong field, every
// one at once, checked as the store checks them; empty, the settings are
// valid.
func decodeAutoRecharge(form billingviews.AutoRechargeForm) (orgbase.AutoRechargeSettings, map[string]string) {
	in := orgbase.AutoRechargeSettings{Enabled: form.Enabled, Pack: form.Pack}
	fields := map[string]string{}
	if v, err := orgbase.ParseCredits(form.Threshold); err != nil {
		fields["threshold"] = orgbase.ErrorMessage(err)
	} else {
		in.Threshold = v
	}
	if v, err := orgbase.ParseMoney(form.MonthlyCap); err != nil {
		fields["monthly_cap"] = orgbase.ErrorMessage(err)
	} else {
		in.MonthlyCapCents = v
	}
	for k, v := range orgbase.ErrorFields(in.Validate()) {
		if _, seen := fields[k]; !seen {
			fields[k] = v
		}
	}
	return in, fields
}

// handleAutoRechargeSave saves the Auto-recharge card's form (owners,
// admins and billing members): a message and back to the card, or the
// Billing tab again with the field messages and what was typed (422).
func (s *Server) handleAutoRechargeSave(c echo.Context) error {
	sc := orgOf(c)
	form := billingviews.AutoRechargeForm{Enabled: c.FormValue("enabled") != "", Threshold: sanitizeEcho(c.FormValue("threshold")),
		Pack: sanitizeEcho(strings.TrimSpace(c.FormValue("pack"))), MonthlyCap: sanitizeEcho(c.FormValue("monthly_cap"))}
	in, fields := decodeAutoRecharge(form)
	if len(fields) == 0 {
		saved, err := s.billing.SaveAutoRecharge(c.Request().Context(), sc.Org.ID, sc.Access, in, s.payments.Name())
		if err == nil {
			msg := "Auto-recharge is off."
			if saved.Enabled {
				msg = "Auto-recharge is on: " + strings.TrimPrefix(billingviews.AutoRechargeState(*saved), "On: ")
			}
			return s.flashRedirect(c, msg, "", s.orgPath(c, "/billing#auto-recharge"))
		}
		if orgbase.ErrorCode(err) != orgbase.EINVALID {
			return err
		}
		fields = fieldsOf(err)
	}
	return s.renderBilling(c, http.StatusUnprocessableEntity, &billingviews.AutoRechargeModel{Form: form, Fields: fields})
}
