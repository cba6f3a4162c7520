-- +goose Up
-- Paths compare byte-wise so that prefix ranges and LIKE 'prefix%' select subtrees.
ALTER TABLE workspaces ALTER COLUMN path TYPE TEXT COLLATE "C";
DROP INDEX workspaces_org_path;
CREATE INDEX workspaces_org_path ON workspaces (org_id, path text_pattern_ops);
-- Names are unique among active siblings (case-insensitively).
CREATE UNIQUE INDEX workspaces_sibling_name ON workspaces (parent_id, lower(name)) WHERE archived_at IS NULL AND parent_id IS NOT NULL;
ALTER TABLE workspaces ADD CONSTRAINT workspaces_depth CHECK (depth >= 0);
ALTER TABLE workspaces ADD CONSTRAINT workspaces_root_depth CHECK ((parent_id IS NULL) = (depth = 0));

CREATE TABLE workspace_grants (
    org_id       BIGINT      NOT NULL,
    workspace_id BIGINT      NOT NULL REFERENCES workspaces (id) ON DELETE CASCADE,
    user_id      BIGINT      NOT NULL,
    role         TEXT        NOT NULL CHECK (role IN ('manager', 'member')),
    created_by   BIGINT REFERENCES users (id) ON DELETE SET NULL,
    created_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workspace_id, user_id),
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX workspace_grants_org_user ON workspace_grants (org_id, user_id);

-- +goose Down
DROP TABLE workspace_grants;
ALTER TABLE workspaces DROP CONSTRAINT workspaces_root_depth;
ALTER TABLE workspaces DROP CONSTRAINT workspaces_depth;
DROP INDEX workspaces_sibling_name;
DROP INDEX workspaces_org_path;
CREATE INDEX workspaces_org_path ON workspaces (org_id, path);
ALTER TABLE workspaces ALTER COLUMN path TYPE TEXT;
