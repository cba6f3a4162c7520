-- +goose Up
-- Billing (SPEC §7): checkouts, invoices and their lines, the provider's
-- customers, the provider events applied (each exactly once) and each
-- organization's subscription. Money is in cents of the currency; credits
-- are milli-credits, as in the ledger.

-- The last invoice number each organization used: StartCheckout increments
-- it in the transaction that creates the invoice (the row lock serializes
-- concurrent checkouts, a rollback gives the number back), so numbers have
-- no gaps.
ALTER TABLE organizations ADD COLUMN invoice_seq BIGINT NOT NULL DEFAULT 0 CHECK (invoice_seq >= 0);

CREATE TABLE invoices (
    id              BIGSERIAL PRIMARY KEY,
    org_id          BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    seq             BIGINT      NOT NULL CHECK (seq > 0),
    number          TEXT        NOT NULL CHECK (number <> ''),
    status          TEXT        NOT NULL DEFAULT 'open' CHECK (status IN ('open', 'paid', 'failed', 'void')),
    currency        TEXT        NOT NULL CHECK (length(currency) = 3),
    subtotal_cents  BIGINT      NOT NULL CHECK (subtotal_cents >= 0),
    total_cents     BIGINT      NOT NULL CHECK (total_cents >= 0),
    period_start    TIMESTAMPTZ NOT NULL,
    period_end      TIMESTAMPTZ NOT NULL,
    billing_email   TEXT        NOT NULL DEFAULT '',
    provider        TEXT        NOT NULL,
    payment_ref     TEXT        NOT NULL DEFAULT '',
    failure_message TEXT        NOT NULL DEFAULT '',
    created_at      TIMESTAMPTZ NOT NULL,
    paid_at         TIMESTAMPTZ,
    CHECK (period_end >= period_start),
    CHECK ((status = 'paid') = (paid_at IS NOT NULL))
);
CREATE UNIQUE INDEX invoices_org_number ON invoices (org_id, number);
CREATE UNIQUE INDEX invoices_org_seq ON invoices (org_id, seq);

CREATE TABLE invoice_lines (
    id           BIGSERIAL PRIMARY KEY,
    invoice_id   BIGINT NOT NULL REFERENCES invoices (id) ON DELETE CASCADE,
    position     INT    NOT NULL CHECK (position >= 0),
    description  TEXT   NOT NULL CHECK (description <> ''),
    quantity     BIGINT NOT NULL CHECK (quantity > 0),
    unit_cents   BIGINT NOT NULL CHECK (unit_cents >= 0),
    amount_cents BIGINT NOT NULL CHECK (amount_cents = quantity * unit_cents),
    credits      BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    UNIQUE (invoice_id, position)
);

-- A purchase being paid. reference is the app's id, handed to the provider
-- and back in its events.
CREATE TABLE checkouts (
    id                  BIGSERIAL PRIMARY KEY,
    reference           TEXT        NOT NULL UNIQUE CHECK (reference <> ''),
    org_id              BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider            TEXT        NOT NULL CHECK (provider <> ''),
    kind                TEXT        NOT NULL CHECK (kind IN ('plan', 'top_up')),
    item_key            TEXT        NOT NULL,
    description         TEXT        NOT NULL,
    amount_cents        BIGINT      NOT NULL CHECK (amount_cents > 0),
    currency            TEXT        NOT NULL CHECK (length(currency) = 3),
    credits             BIGINT      NOT NULL CHECK (credits > 0),
    status              TEXT        NOT NULL DEFAULT 'pending' CHECK (status IN ('pending', 'paid', 'failed')),
    message             TEXT        NOT NULL DEFAULT '',
    provider_session_id TEXT        NOT NULL DEFAULT '',
    invoice_id          BIGINT      NOT NULL UNIQUE REFERENCES invoices (id) ON DELETE CASCADE,
    created_by          BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    updated_at          TIMESTAMPTZ NOT NULL
);
CREATE INDEX checkouts_org ON checkouts (org_id, id);

-- The organization's customer at a provider, and the card it paid with
-- last (brand and last four digits only, never the number).
CREATE TABLE billing_customers (
    org_id      BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    provider    TEXT        NOT NULL,
    customer_id TEXT        NOT NULL CHECK (customer_id <> ''),
    card_brand  TEXT        NOT NULL DEFAULT '',
    card_last4  TEXT        NOT NULL DEFAULT '' CHECK (card_last4 = '' OR length(card_last4) = 4),
    created_at  TIMESTAMPTZ NOT NULL,
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, provider)
);
CREATE UNIQUE INDEX billing_customers_provider_id ON billing_customers (provider, customer_id);

-- Every provider event applied, once: ApplyBillingEvent inserts here first,
-- in the transaction that acts on it, so a second delivery of the same
-- event finds its row and changes nothing. No foreign key on org_id: the
-- record outlives a purged organization, so a late redelivery stays a no-op.
CREATE TABLE billing_events (
    id         BIGSERIAL PRIMARY KEY,
    provider   TEXT        NOT NULL,
    event_id   TEXT        NOT NULL CHECK (event_id <> ''),
    kind       TEXT        NOT NULL,
    reference  TEXT        NOT NULL DEFAULT '',
    org_id     BIGINT,
    outcome    TEXT        NOT NULL DEFAULT '',
    applied_at TIMESTAMPTZ NOT NULL,
    UNIQUE (provider, event_id)
);

-- The organization's current plan and period (Free has none).
CREATE TABLE subscriptions (
    org_id               BIGINT      PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    plan                 TEXT        NOT NULL,
    status               TEXT        NOT NULL CHECK (status IN ('active', 'past_due', 'canceled')),
    provider             TEXT        NOT NULL,
    current_period_start TIMESTAMPTZ NOT NULL,
    current_period_end   TIMESTAMPTZ,
    created_at           TIMESTAMPTZ NOT NULL,
    updated_at           TIMESTAMPTZ NOT NULL,
    CHECK (current_period_end IS NULL OR current_period_end > current_period_start)
);

-- +goose Down
DROP TABLE subscriptions;
DROP TABLE billing_events;
DROP TABLE billing_customers;
DROP TABLE checkouts;
DROP TABLE invoice_lines;
DROP TABLE invoices;
ALTER TABLE organizations DROP COLUMN invoice_seq;
