-- +goose Up
CREATE TABLE users (
    id                INTEGER PRIMARY KEY AUTOINCREMENT,
    email             TEXT        NOT NULL,
    name              TEXT        NOT NULL,
    password_hash     TEXT        NOT NULL,
    email_verified_at DATETIME,
    created_at        DATETIME NOT NULL,
    updated_at        DATETIME NOT NULL,
    CONSTRAINT users_email_lower CHECK (email = lower(email))
);
CREATE UNIQUE INDEX users_email_key ON users (email);

-- id is the SHA-256 of the secret the browser holds; the secret is never stored.
CREATE TABLE sessions (
    id           TEXT PRIMARY KEY,
    user_id      BIGINT REFERENCES users (id) ON DELETE CASCADE,
    user_agent   TEXT        NOT NULL DEFAULT '',
    ip           TEXT        NOT NULL DEFAULT '',
    data         BLOB,
    created_at   DATETIME NOT NULL,
    last_seen_at DATETIME NOT NULL,
    expires_at   DATETIME NOT NULL
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

-- Single-use tokens for email verification and password reset, stored as hashes.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    TEXT        NOT NULL CHECK (purpose IN ('verify', 'reset')),
    email      TEXT        NOT NULL,
    created_at DATETIME NOT NULL,
    expires_at DATETIME NOT NULL,
    used_at    DATETIME
);
CREATE INDEX user_tokens_user ON user_tokens (user_id, purpose);

-- Failed sign-in and reset attempts, counted per key (account or IP) in a window.
CREATE TABLE auth_attempts (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    key        TEXT        NOT NULL,
    created_at DATETIME NOT NULL
);
CREATE INDEX auth_attempts_key_time ON auth_attempts (key, created_at);

CREATE TABLE organizations (
    id               INTEGER PRIMARY KEY AUTOINCREMENT,
    slug             TEXT        NOT NULL,
    name             TEXT        NOT NULL,
    billing_email    TEXT        NOT NULL DEFAULT '',
    company_size     TEXT        NOT NULL DEFAULT '',
    creator_function TEXT        NOT NULL DEFAULT '',
    plan             TEXT        NOT NULL DEFAULT 'free',
    logo_type        TEXT        NOT NULL DEFAULT '',
    logo_data        BLOB,
    logo_version     BIGINT      NOT NULL DEFAULT 0,
    created_at       DATETIME NOT NULL,
    updated_at       DATETIME NOT NULL,
    deleted_at       DATETIME,
    purge_after      DATETIME
);
-- A slug stays taken during the deletion grace period so restore cannot collide.
CREATE UNIQUE INDEX organizations_slug_key ON organizations (slug);

CREATE TABLE memberships (
    org_id     BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    role       TEXT        NOT NULL CHECK (role IN ('owner', 'admin', 'billing', 'member')),
    status     TEXT        NOT NULL DEFAULT 'active' CHECK (status IN ('active', 'suspended')),
    created_at DATETIME NOT NULL,
    PRIMARY KEY (org_id, user_id)
);
CREATE INDEX memberships_user ON memberships (user_id);

CREATE TABLE workspaces (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id      BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    parent_id   BIGINT REFERENCES workspaces (id),
    name        TEXT        NOT NULL,
    description TEXT        NOT NULL DEFAULT '',
    path        TEXT        NOT NULL DEFAULT '',
    depth       INT         NOT NULL DEFAULT 0,
    created_by  BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at  DATETIME NOT NULL,
    archived_at DATETIME
);
CREATE INDEX workspaces_org_path ON workspaces (org_id, path);
-- One root (the Primary workspace) per organization.
CREATE UNIQUE INDEX workspaces_one_root ON workspaces (org_id) WHERE parent_id IS NULL;

-- The mail outbox: written in the transaction that causes the email.
CREATE TABLE emails (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     BIGINT REFERENCES organizations (id) ON DELETE SET NULL,
    to_address TEXT        NOT NULL,
    subject    TEXT        NOT NULL,
    text_body  TEXT        NOT NULL,
    html_body  TEXT        NOT NULL,
    created_at DATETIME NOT NULL,
    sent_at    DATETIME,
    attempts   INT         NOT NULL DEFAULT 0,
    last_error TEXT        NOT NULL DEFAULT ''
);
CREATE INDEX emails_created ON emails (created_at);

-- +goose Down
DROP TABLE emails;
DROP TABLE workspaces;
DROP TABLE memberships;
DROP TABLE organizations;
DROP TABLE auth_attempts;
DROP TABLE user_tokens;
DROP TABLE sessions;
DROP TABLE users;
