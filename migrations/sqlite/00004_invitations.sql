-- +goose Up
CREATE TABLE invitations (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email        TEXT        NOT NULL CHECK (email = lower(email)),
    role         TEXT        NOT NULL CHECK (role IN ('admin', 'billing', 'member')),
    -- SHA-256 of the 256-bit token in the link; the token itself is never stored.
    token_hash   TEXT        NOT NULL,
    note         TEXT        NOT NULL DEFAULT '',
    invited_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   DATETIME NOT NULL,
    sent_at      DATETIME NOT NULL,
    send_count   INT         NOT NULL DEFAULT 1,
    expires_at   DATETIME NOT NULL,
    accepted_at  DATETIME,
    accepted_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    declined_at  DATETIME,
    revoked_at   DATETIME
);
CREATE UNIQUE INDEX invitations_token ON invitations (token_hash);
-- One open invitation per address and organization (expired ones stay open until resent or revoked).
CREATE UNIQUE INDEX invitations_open ON invitations (org_id, email) WHERE accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL;
CREATE INDEX invitations_org ON invitations (org_id, created_at DESC);

CREATE TABLE invitation_grants (
    invitation_id BIGINT NOT NULL REFERENCES invitations (id) ON DELETE CASCADE,
    workspace_id  BIGINT NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    role          TEXT   NOT NULL CHECK (role IN ('manager', 'member')),
    PRIMARY KEY (invitation_id, workspace_id)
);

-- +goose Down
DROP TABLE invitation_grants;
DROP TABLE invitations;
