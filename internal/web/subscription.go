package web

import (
	"net/http"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	billingviews "github.com/orgbase/orgbase/views/billing"
	"github.com/orgbase/orgbase/views/layout"
)

// The subscription's lifecycle on the Billing tab (SPEC §7): cancel and
// downgrade take effect at the end of the period, resume and "keep plan"
// undo them, an upgrade happens now at a prorated price. Each change that
// costs or takes something away is confirmed on its own page first (no
// JavaScript needed); the store re-checks everything.

// handleSubscriptionConfirm shows the confirmation of a change:
// ?action=cancel|downgrade|upgrade&plan=key.
func (s *Server) handleSubscriptionConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	sc := orgOf(c)
	back := s.orgPath(c, "/billing")
	sub, err := s.billing.FindSubscription(ctx, sc.Org.ID)
	if err != nil {
		return err
	}
	m := billingviews.ConfirmModel{Action: c.QueryParam("action"), Subscription: sub}
	switch {
	case sub != nil && sub.CancelAtPeriodEnd:
		return s.flashRedirect(c, "", "The subscription is set to end: resume it first.", back)
	case !sub.Renews():
		return s.flashRedirect(c, "", "Your organization has no running subscription to change.", back)
	}
	m.Current, _ = orgbase.FindPlan(sub.Plan)
	switch m.Action {
	case store.ChangeCancel:
	case store.ChangeDowngrade:
		to, ok := orgbase.FindPlan(c.QueryParam("plan"))
		if !ok || to.Period != orgbase.PeriodMonth || !to.Paid() || to.PriceCents >= m.Current.PriceCents {
			return s.flashRedirect(c, "", "Choose a cheaper monthly plan to move to.", back)
		}
		m.To = to
	case "upgrade":
		p, err := s.billing.PreviewUpgrade(ctx, sc.Org.ID, c.QueryParam("plan"))
		if err != nil {
			return s.billingError(c, err, back)
		}
		m.To, m.Proration = p.To, p
	default:
		return s.flashRedirect(c, "", "Choose cancel, upgrade or a plan to move to.", back)
	}
	return s.renderPage(c, http.StatusOK, "Billing", "billing", func(sh layout.Shell) templ.Component { return billingviews.Confirm(sh, m) })
}

// billingError turns a conflict with the subscription's state (already on
// the plan, already canceled, no running subscription: a stale page) into a
// message on the Billing tab. Anything else (a value no form sends) is the
// error page's, with its status.
func (s *Server) billingError(c echo.Context, err error, back string) error {
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		return s.flashRedirect(c, "", orgbase.ErrorMessage(err), back)
	}
	return err
}

// handleSubscriptionChange applies a cancel, resume, downgrade or keep.
func (s *Server) handleSubscriptionChange(c echo.Context) error {
	sc := orgOf(c)
	back := s.orgPath(c, "/billing")
	ch := store.SubscriptionChange{Action: c.FormValue("action"), Plan: c.FormValue("plan")}
	sub, err := s.billing.ChangeSubscription(c.Request().Context(), sc.Org.ID, sc.Access, ch)
	if err != nil {
		return s.billingError(c, err, back)
	}
	plan := orgbase.PlanName(sub.Plan)
	end := sub.CurrentPeriodEnd.Format("Jan 2, 2006")
	var msg string
	switch ch.Action {
	case store.ChangeCancel:
		msg = "Your " + plan + " subscription ends on " + end + ". Your credits stay in the pool; resume any time before then."
	case store.ChangeResume:
		msg = "Your " + plan + " subscription is back on: it renews on " + end + "."
	case store.ChangeDowngrade:
		msg = "Your organization moves to " + orgbase.PlanName(sub.NextPlan) + " on " + end + "."
	case store.ChangeKeepPlan:
		msg = "You stay on " + plan + ": it renews on " + end + "."
	}
	return s.flashRedirect(c, msg, "", back)
}

// handleUpgrade opens the prorated checkout of an upgrade and sends the
// browser to the provider.
func (s *Server) handleUpgrade(c echo.Context) error {
	sc := orgOf(c)
	co, err := s.billing.StartUpgrade(c.Request().Context(), sc.Org.ID, sc.Access, c.FormValue("plan"), s.payments.Name())
	if err != nil {
		return s.billingError(c, err, s.orgPath(c, "/billing"))
	}
	to, _, err := s.sendToProvider(c, co)
	if err != nil {
		return err
	}
	return s.redirect(c, to)
}

// handlePortal sends a billing owner to the provider's customer portal
// (Stripe's: payment methods and receipts). The test provider has none.
func (s *Server) handlePortal(c echo.Context) error {
	ctx := c.Request().Context()
	sc := orgOf(c)
	back := s.orgPath(c, "/billing")
	cust, err := s.billing.FindBillingCustomer(ctx, sc.Org.ID, s.payments.Name())
	if err != nil {
		return err
	}
	if cust == nil {
		return s.flashRedirect(c, "", "Your organization has no payment method yet: it is saved with the first payment.", back)
	}
	u, err := s.payments.PortalURL(ctx, cust.CustomerID, strings.TrimRight(s.cfg.BaseURL.String(), "/")+back)
	if err != nil {
		s.log.Error("open the customer portal", "provider", s.payments.Name(), "error", err.Error())
		return s.flashRedirect(c, "", "The payment provider's portal could not be opened. Try again in a moment.", back)
	}
	if u == "" {
		return s.flashRedirect(c, "", "The test provider has no customer portal: pay with another test card to change the saved one.", back)
	}
	return c.Redirect(http.StatusSeeOther, u)
}
