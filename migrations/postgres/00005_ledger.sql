-- +goose Up
-- The credit ledger (SPEC §5.2). Amounts are BIGINT milli-credits (1 credit = 1000).
--
-- Every balance change is a transfer between two accounts of one organization,
-- so each organization's balances always sum to zero. Accounts:
--   pool        the organization's pool, held by its Primary workspace
--   workspace   a workspace in budget mode (its own balance)
--   purchases   where bought and granted credits come from (plan grants, top-ups, operator grants)
--   usage       where spent credits go (usage charges; refunds come back from it)
--   expired     where credits go when they lapse
--   bank        the credit bank: leftovers of a lapsed one-time pack, released by a later purchase
--   adjustment  the operator's corrections, in either direction
-- Balances never go below zero, except on the two source accounts through which
-- credits enter the organization from outside (purchases, adjustment): their
-- balance is minus what they have put in, so it is negative by design.
CREATE TABLE accounts (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT      NOT NULL REFERENCES organizations (id),
    kind         TEXT        NOT NULL CHECK (kind IN ('pool', 'workspace', 'purchases', 'usage', 'expired', 'bank', 'adjustment')),
    workspace_id BIGINT REFERENCES workspaces (id),
    balance      BIGINT      NOT NULL DEFAULT 0,
    created_at   TIMESTAMPTZ NOT NULL,
    CONSTRAINT accounts_balance_non_negative CHECK (balance >= 0 OR kind IN ('purchases', 'adjustment')),
    -- The pool and budget accounts belong to a workspace; system accounts to none.
    CONSTRAINT accounts_workspace_kind CHECK ((kind IN ('pool', 'workspace')) = (workspace_id IS NOT NULL))
);
-- One pool and one of each system account per organization.
CREATE UNIQUE INDEX accounts_org_kind ON accounts (org_id, kind) WHERE kind <> 'workspace';
-- One account per workspace (the Primary's is the pool).
CREATE UNIQUE INDEX accounts_workspace ON accounts (workspace_id) WHERE workspace_id IS NOT NULL;

-- Append-only: corrections are new transfers (a trigger refuses updates).
CREATE TABLE transfers (
    id                BIGSERIAL PRIMARY KEY,
    org_id            BIGINT      NOT NULL REFERENCES organizations (id),
    debit_account_id  BIGINT      NOT NULL REFERENCES accounts (id),
    credit_account_id BIGINT      NOT NULL REFERENCES accounts (id),
    amount            BIGINT      NOT NULL CHECK (amount > 0),
    kind              TEXT        NOT NULL CHECK (kind IN ('plan_grant', 'top_up', 'transfer', 'usage', 'refund', 'expiry', 'adjustment', 'grant')),
    -- Who caused it. No foreign key (as in audit_log): transfers are never updated, so
    -- ON DELETE SET NULL could not run; the id stays as the record of who it was.
    actor_id          BIGINT,
    idempotency_key   TEXT,
    memo              TEXT        NOT NULL DEFAULT '',
    created_at        TIMESTAMPTZ NOT NULL,
    CONSTRAINT transfers_two_accounts CHECK (debit_account_id <> credit_account_id)
);
CREATE UNIQUE INDEX transfers_idempotency ON transfers (org_id, idempotency_key) WHERE idempotency_key IS NOT NULL;
CREATE INDEX transfers_debit ON transfers (debit_account_id, created_at);
CREATE INDEX transfers_credit ON transfers (credit_account_id, created_at);
CREATE INDEX transfers_org_time ON transfers (org_id, created_at);

-- +goose StatementBegin
CREATE FUNCTION transfers_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'transfers are append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER transfers_no_update BEFORE UPDATE ON transfers FOR EACH ROW EXECUTE FUNCTION transfers_append_only();

-- shared: spends from the nearest ancestor with its own balance (ultimately the pool);
-- budget: has its own account and spends only that. The Primary holds the pool.
ALTER TABLE workspaces ADD COLUMN funding_mode TEXT NOT NULL DEFAULT 'shared' CHECK (funding_mode IN ('shared', 'budget'));

-- Organizations created before the ledger get their pool and system accounts.
INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at)
SELECT w.org_id, 'pool', w.id, 0, now() FROM workspaces w WHERE w.parent_id IS NULL;
INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at)
SELECT o.id, k.kind, NULL, 0, now() FROM organizations o
CROSS JOIN (VALUES ('purchases'), ('usage'), ('expired'), ('bank'), ('adjustment')) AS k (kind);

-- +goose Down
ALTER TABLE workspaces DROP COLUMN funding_mode;
DROP TRIGGER transfers_no_update ON transfers;
DROP FUNCTION transfers_append_only();
DROP TABLE transfers;
DROP TABLE accounts;
