-- +goose Up
-- Usage events (SPEC §5.5, §6): one row per accepted charge, written in the
-- charging transaction with its ledger transfer (kind 'usage') and the daily
-- rollup. Amounts are BIGINT milli-credits; units are a whole count of the
-- catalog unit (an image, 1,000 words, a megabyte, ...).
CREATE TABLE usage_events (
    id              INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id          BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- No foreign keys on the workspace and the user, as for transfers.actor_id:
    -- events are a record of what happened, kept as written.
    workspace_id    BIGINT      NOT NULL,
    user_id         BIGINT      NOT NULL,
    tool            TEXT        NOT NULL CHECK (tool <> ''),
    model           TEXT        NOT NULL CHECK (model <> ''),
    units           BIGINT      NOT NULL CHECK (units > 0),
    credits         BIGINT      NOT NULL CHECK (credits >= 0),
    category        TEXT        NOT NULL CHECK (category IN ('chatbot', 'image_speech')),
    idempotency_key TEXT        NOT NULL CHECK (idempotency_key <> ''),
    -- sha256 of the canonical request, to tell a replay from a different
    -- request with the same key.
    request_hash    TEXT        NOT NULL,
    -- The funding account's balance right after the charge: a replay answers it.
    balance_after   BIGINT      NOT NULL DEFAULT 0,
    metadata        TEXT        NOT NULL DEFAULT '{}',
    transfer_id     BIGINT,
    created_at      DATETIME    NOT NULL,
    CONSTRAINT usage_events_idempotency UNIQUE (org_id, idempotency_key)
);
CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at);

-- Daily rollups of usage_events, maintained in the charging transaction
-- (INSERT ... ON CONFLICT DO UPDATE), so reports never scan the events.
-- day is the UTC date 'YYYY-MM-DD'.
CREATE TABLE usage_daily (
    org_id       BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    category     TEXT   NOT NULL,
    tool         TEXT   NOT NULL,
    day          TEXT   NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    credits      BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    events       BIGINT NOT NULL DEFAULT 0 CHECK (events >= 0),
    PRIMARY KEY (org_id, workspace_id, user_id, category, tool, day)
);
CREATE INDEX usage_daily_org_day ON usage_daily (org_id, day);

-- +goose Down
DROP TABLE usage_daily;
DROP TABLE usage_events;
