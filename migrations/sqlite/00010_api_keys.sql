-- +goose Up
-- Workspace API keys (SPEC §6). Only the SHA-256 of the secret is kept; the
-- prefix lets people recognise a key in the list.
CREATE TABLE api_keys (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id BIGINT      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    name         TEXT        NOT NULL CHECK (name <> ''),
    prefix       TEXT        NOT NULL,
    secret_hash  TEXT        NOT NULL UNIQUE,
    created_by   BIGINT      REFERENCES users (id) ON DELETE SET NULL,
    created_at   DATETIME NOT NULL,
    last_used_at DATETIME,
    revoked_at   DATETIME
);
CREATE INDEX api_keys_workspace ON api_keys (org_id, workspace_id);

-- +goose Down
DROP TABLE api_keys;
