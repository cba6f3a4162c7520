-- +goose Up
-- Auto-recharge (SPEC §7): when the organization pool falls below a
-- threshold, the billing job buys a chosen credit pack off-session, at most
-- a monthly cap of spend (calendar month, UTC). Off by default: an
-- organization has no row until a billing owner saves its settings, and a
-- saved row starts off. A failed payment turns it off and records why.
--
-- threshold is in milli-credits (as in the ledger), monthly_cap_cents in
-- cents of the packs' currency. recharges counts the auto-recharges opened:
-- the next one's checkout reference is derived from it, so concurrent
-- billing passes open at most one. capped_until: the monthly cap was reached,
-- the billing job's scan skips the organization until then (the next
-- month); saving the settings clears it. off_cause says who turned it off
-- last: the user, or a failed payment (off_reason and off_invoice_id tell
-- which), shown on the Billing tab until it is turned back on.
CREATE TABLE auto_recharges (
    org_id            BIGINT      PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    enabled           BOOLEAN     NOT NULL DEFAULT FALSE,
    threshold         BIGINT      NOT NULL CHECK (threshold > 0 AND threshold <= 10000000000),
    pack              TEXT        NOT NULL CHECK (pack <> ''),
    monthly_cap_cents BIGINT      NOT NULL CHECK (monthly_cap_cents > 0 AND monthly_cap_cents <= 10000000),
    recharges         BIGINT      NOT NULL DEFAULT 0 CHECK (recharges >= 0),
    capped_until      TIMESTAMPTZ,
    off_cause         TEXT        NOT NULL DEFAULT '' CHECK (off_cause IN ('', 'user', 'payment_failed')),
    off_reason        TEXT        NOT NULL DEFAULT '' CHECK (length(off_reason) <= 1000),
    off_at            TIMESTAMPTZ,
    off_invoice_id    BIGINT REFERENCES invoices (id) ON DELETE SET NULL,
    updated_by        BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at        TIMESTAMPTZ NOT NULL,
    updated_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT auto_recharges_on_has_no_off_cause CHECK (NOT enabled OR off_cause = ''),
    CONSTRAINT auto_recharges_off_at CHECK ((off_cause = '') = (off_at IS NULL)),
    CONSTRAINT auto_recharges_off_reason CHECK (off_cause = 'payment_failed' OR (off_reason = '' AND off_invoice_id IS NULL))
);
-- The billing job's scan: organizations with auto-recharge on.
CREATE INDEX auto_recharges_enabled ON auto_recharges (org_id) WHERE enabled;
-- An organization's auto-recharge checkouts: the one still pending, and
-- this month's spend against the cap.
CREATE INDEX checkouts_auto_recharge ON checkouts (org_id, status, created_at) WHERE purpose = 'auto_recharge';

-- +goose Down
DROP INDEX checkouts_auto_recharge;
DROP TABLE auto_recharges;
