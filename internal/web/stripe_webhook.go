package web

import (
	"errors"
	"io"
	"log/slog"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/billing"
	billingstripe "github.com/orgbase/orgbase/internal/billing/stripe"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// stripeWebhookMaxBody caps a webhook delivery; Stripe's events are a few KiB.
const stripeWebhookMaxBody = 256 << 10

// handleStripeWebhook receives Stripe's events (POST /webhooks/stripe): no
// session and no CSRF token, the Stripe-Signature header with the signing
// secret is the authentication. The answers tell Stripe what to do:
//   - 400 for a delivery that is not Stripe's (bad signature, a timestamp
//     outside the tolerance, a malformed event): logged, never applied;
//   - 200 once the event is applied, already applied, ignored, or refers to
//     nothing of ours (ENOTFOUND): Stripe stops retrying;
//   - 500 when applying failed for a reason that may pass: Stripe retries;
//   - 404 when Stripe is not enabled (no ORGBASE_STRIPE_WEBHOOK_SECRET).
//
// Logs carry the reason and the event id, never the payload or the secret.
func (s *Server) handleStripeWebhook(c echo.Context) error {
	ctx := c.Request().Context()
	rid := c.Response().Header().Get(echo.HeaderXRequestID)
	secret := s.cfg.Stripe.WebhookSecret
	if secret == "" {
		// Stripe is not enabled on this installation: nothing listens here.
		return c.JSON(http.StatusNotFound, webhookAnswer{Error: "Stripe is not enabled on this server"})
	}
	payload, err := io.ReadAll(io.LimitReader(c.Request().Body, stripeWebhookMaxBody+1))
	if err != nil {
		return c.JSON(http.StatusBadRequest, webhookAnswer{Error: "the body could not be read"})
	}
	if len(payload) > stripeWebhookMaxBody {
		s.log.WarnContext(ctx, "stripe webhook refused", slog.String("request_id", rid), slog.String("reason", "body larger than 256 KiB"))
		return c.JSON(http.StatusRequestEntityTooLarge, webhookAnswer{Error: "the body is larger than 256 KiB"})
	}
	ev, err := billingstripe.ParseWebhook(payload, c.Request().Header.Get("Stripe-Signature"), secret, s.now())
	if err != nil {
		reason := "malformed event"
		switch {
		case errors.Is(err, billingstripe.ErrBadSignature):
			reason = "bad signature"
		case errors.Is(err, billingstripe.ErrTooOld):
			reason = "timestamp outside the 5-minute tolerance"
		}
		s.log.WarnContext(ctx, "stripe webhook refused", slog.String("request_id", rid), slog.String("reason", reason))
		return c.JSON(http.StatusBadRequest, webhookAnswer{Error: reason})
	}
	if ev.Kind == billing.EventIgnored {
		return c.JSON(http.StatusOK, webhookAnswer{Received: true})
	}
	out, err := s.billing.ApplyBillingEvent(ctx, ev)
	switch {
	case err == nil:
		s.log.InfoContext(ctx, "stripe webhook applied", slog.String("request_id", rid), slog.String("event", ev.ID),
			slog.String("kind", string(ev.Kind)), slog.String("reference", ev.Reference),
			slog.String("outcome", out.Status), slog.Bool("replayed", out.Replayed), slog.String("message", out.Message))
		return c.JSON(http.StatusOK, webhookAnswer{Received: true})
	case orgbase.ErrorCode(err) == orgbase.ENOTFOUND:
		// Not ours (another installation's checkout, a deleted organization,
		// a forged reference under a valid signature): nothing changed, and
		// retrying cannot help.
		s.log.WarnContext(ctx, "stripe webhook for nothing of ours; nothing changed", slog.String("request_id", rid),
			slog.String("event", ev.ID), slog.String("kind", string(ev.Kind)), slog.String("reference", ev.Reference),
			slog.String("customer", ev.CustomerID))
		return c.JSON(http.StatusOK, webhookAnswer{Received: true})
	default:
		s.log.ErrorContext(ctx, "stripe webhook not applied; Stripe retries", slog.String("request_id", rid),
			slog.String("event", ev.ID), slog.String("kind", string(ev.Kind)), slog.String("error", err.Error()))
		return c.JSON(http.StatusInternalServerError, webhookAnswer{Error: "the event could not be applied; retry later"})
	}
}

// webhookAnswer is the JSON body of every webhook answer.
type webhookAnswer struct {
	Received bool   `json:"received,omitempty"`
	Error    string `json:"error,omitempty"`
}
