-- +goose Up
-- Monthly limits (SPEC §5.4). Limits are BIGINT milli-credits; NULL means no
-- limit. A charge is accepted when used + amount <= limit, for the charged
-- workspace, every ancestor that has a limit, and the member who acted.
ALTER TABLE workspaces ADD COLUMN monthly_limit BIGINT CHECK (monthly_limit IS NULL OR monthly_limit >= 0);
ALTER TABLE memberships ADD COLUMN monthly_limit BIGINT CHECK (monthly_limit IS NULL OR monthly_limit >= 0);

-- The counters limits are checked against: what a workspace (with its
-- subtree) or a member spent in one calendar month (UTC, 'YYYY-MM').
-- subject_id is the workspace id (scope 'workspace') or the user id
-- (scope 'member'). A charge creates the rows it needs (INSERT … ON CONFLICT
-- DO NOTHING), locks them and increments them with a conditional update.
CREATE TABLE limit_periods (
    org_id     BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope      TEXT   NOT NULL CHECK (scope IN ('workspace', 'member')),
    subject_id BIGINT NOT NULL,
    period     TEXT   NOT NULL CHECK (period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$'),
    used       BIGINT NOT NULL DEFAULT 0 CHECK (used >= 0),
    PRIMARY KEY (org_id, scope, subject_id, period)
);

-- +goose Down
DROP TABLE limit_periods;
ALTER TABLE memberships DROP COLUMN monthly_limit;
ALTER TABLE workspaces DROP COLUMN monthly_limit;
