-- +goose Up
-- Alerts (SPEC §5.7) and in-app notifications.
--
-- Alerts are raised from the state (CheckAlerts in the store): this month's
-- limit_periods counter against a workspace's monthly limit, a budget's
-- balance against what it was allocated, the pool against its low-balance
-- level. Each threshold of a subject is raised once per cycle: the unique
-- index below, with INSERT … ON CONFLICT DO NOTHING, makes concurrent checks
-- on several replicas raise it once.

-- The organization's alert levels: percentages of a limit or of a budget's
-- allocation, and the pool's low-balance level (alert when the pool holds
-- this percentage or less of its balance right after its last top-up; 0 is off).
ALTER TABLE organizations ADD COLUMN alert_thresholds TEXT NOT NULL DEFAULT '50,80,100';
ALTER TABLE organizations ADD COLUMN pool_alert_percent INTEGER NOT NULL DEFAULT 10 CHECK (pool_alert_percent BETWEEN 0 AND 99);

-- One row per threshold raised. subject: workspace_limit (cycle: the month,
-- 'YYYY-MM'), budget or pool (cycle: 't' and the id of the top-up transfer
-- that started it). workspace_id is the workspace watched (the Primary for
-- the pool); no foreign key, as in limit_periods: the purge deletes
-- workspaces before their organization. used and base are the figures when
-- raised (base: the limit, or what the balance was allocated).
CREATE TABLE alert_states (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    subject      TEXT        NOT NULL CHECK (subject IN ('workspace_limit', 'budget', 'pool')),
    workspace_id BIGINT      NOT NULL,
    threshold    INTEGER     NOT NULL CHECK (threshold BETWEEN 1 AND 100),
    cycle        TEXT        NOT NULL,
    name         TEXT        NOT NULL DEFAULT '',
    used         BIGINT      NOT NULL,
    base         BIGINT      NOT NULL,
    created_at   DATETIME    NOT NULL
);
CREATE UNIQUE INDEX alert_states_once ON alert_states (org_id, subject, workspace_id, threshold, cycle);

-- What a balance was allocated in a cycle: its balance right after the
-- top-up that started the cycle, computed once from the ledger.
CREATE TABLE alert_cycles (
    org_id       BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    subject      TEXT        NOT NULL CHECK (subject IN ('budget', 'pool')),
    workspace_id BIGINT      NOT NULL,
    cycle        TEXT        NOT NULL,
    base         BIGINT      NOT NULL,
    created_at   DATETIME    NOT NULL,
    PRIMARY KEY (org_id, subject, workspace_id, cycle)
);

-- A budget's cycle also starts when credits move out of it; its debits are
-- mostly usage, so moves out get a small partial index of their own (usage
-- charges never write to it). The predicate must stay exactly the one
-- CheckAlerts queries with (store/alerts.go, budgetMoveKinds).
CREATE INDEX transfers_moves_out ON transfers (debit_account_id, id) WHERE kind IN ('transfer', 'adjustment');

-- In-app notifications, one per member. path is relative to the
-- organization's URL, so a slug change keeps it working. They go with the
-- membership.
CREATE TABLE notifications (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id     BIGINT      NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id    BIGINT      NOT NULL,
    alert_id   BIGINT REFERENCES alert_states (id) ON DELETE CASCADE,
    level      TEXT        NOT NULL DEFAULT 'info' CHECK (level IN ('info', 'warning', 'critical')),
    title      TEXT        NOT NULL,
    body       TEXT        NOT NULL DEFAULT '',
    path       TEXT        NOT NULL DEFAULT '',
    created_at DATETIME    NOT NULL,
    read_at    DATETIME,
    FOREIGN KEY (org_id, user_id) REFERENCES memberships (org_id, user_id) ON DELETE CASCADE
);
CREATE INDEX notifications_member ON notifications (org_id, user_id, id);
-- The bell's count, on every page.
CREATE INDEX notifications_unread ON notifications (org_id, user_id) WHERE read_at IS NULL;

-- +goose Down
DROP INDEX transfers_moves_out;
DROP TABLE notifications;
DROP TABLE alert_cycles;
DROP TABLE alert_states;
ALTER TABLE organizations DROP COLUMN pool_alert_percent;
ALTER TABLE organizations DROP COLUMN alert_thresholds;
