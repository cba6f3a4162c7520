-- +goose Up
-- The usage account (where spent credits go) is split into shards, one
-- chosen by the charged workspace's id, so concurrent charges of different
-- workspaces of one organization do not queue on one balance row. The
-- other system accounts and the pool keep a single row (shard 0).
ALTER TABLE accounts ADD COLUMN shard SMALLINT NOT NULL DEFAULT 0 CHECK (shard >= 0 AND (shard = 0 OR kind = 'usage'));
DROP INDEX accounts_org_kind;
CREATE UNIQUE INDEX accounts_org_kind ON accounts (org_id, kind, shard) WHERE kind <> 'workspace';

-- +goose Down
DELETE FROM accounts WHERE shard <> 0 AND balance = 0;
DROP INDEX accounts_org_kind;
CREATE UNIQUE INDEX accounts_org_kind ON accounts (org_id, kind) WHERE kind <> 'workspace';
ALTER TABLE accounts DROP COLUMN shard;
