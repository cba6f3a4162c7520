-- +goose Up
-- The subscription lifecycle (SPEC §7): cancel or downgrade at the end of
-- the period, resume before it ends, upgrade now (prorated), renewals and
-- Onetime expiry, run by the billing job.

-- cancel_at_period_end: the subscription ends at current_period_end
-- instead of renewing. next_plan: a downgrade that takes effect at the
-- renewal ('' renews the same plan). ended_at: when a canceled or expired
-- subscription ended.
ALTER TABLE subscriptions ADD COLUMN cancel_at_period_end BOOLEAN NOT NULL DEFAULT FALSE;
ALTER TABLE subscriptions ADD COLUMN next_plan TEXT NOT NULL DEFAULT '';
ALTER TABLE subscriptions ADD COLUMN ended_at TIMESTAMPTZ;
-- The billing job's scan: active subscriptions whose period has ended.
CREATE INDEX subscriptions_due ON subscriptions (current_period_end) WHERE status = 'active';

-- What a checkout is for: a purchase made in the browser, a renewal or an
-- auto-recharge charged off-session, or an upgrade (prorated).
ALTER TABLE checkouts ADD COLUMN purpose TEXT NOT NULL DEFAULT 'purchase'
    CHECK (purpose IN ('purchase', 'renewal', 'upgrade', 'auto_recharge'));
-- Off-session charges left pending by a crash, retried by the billing job.
CREATE INDEX checkouts_pending_off_session ON checkouts (created_at)
    WHERE status = 'pending' AND purpose IN ('renewal', 'auto_recharge');

-- +goose Down
DROP INDEX checkouts_pending_off_session;
ALTER TABLE checkouts DROP COLUMN purpose;
DROP INDEX subscriptions_due;
ALTER TABLE subscriptions DROP COLUMN ended_at;
ALTER TABLE subscriptions DROP COLUMN next_plan;
ALTER TABLE subscriptions DROP COLUMN cancel_at_period_end;
