-- +goose Up
-- SQLite compares TEXT byte-wise (BINARY collation), so prefix ranges select subtrees as is.
CREATE UNIQUE INDEX workspaces_sibling_name ON workspaces (parent_id, lower(name)) WHERE archived_at IS NULL AND parent_id IS NOT NULL;

CREATE TABLE workspace_grants (
    org_id       BIGINT   NOT NULL,
    workspace_id BIGINT   NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT   NOT NULL,
    role         TEXT     NOT NULL CHECK (role IN ('manager', 'member')),
    created_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   DATETIME NOT NULL,
    PRIMARY KEY (workspace_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX workspace_grants_org_user ON workspace_grants (org_id, user_id);

-- +goose Down
DROP TABLE workspace_grants;
DROP INDEX workspaces_sibling_name;
