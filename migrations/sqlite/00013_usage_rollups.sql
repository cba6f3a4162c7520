-- +goose Up
-- Coarser daily rollups beside usage_daily, maintained in the charging
-- transaction, so dashboards read a few thousand rows whatever the number
-- of events: per workspace (the Overview chart, its workspace filter, top
-- workspaces, the Workspaces tab columns) and per member (top members, the
-- Members tab columns, a member's own usage). Same units and day format as
-- usage_daily; `orgbase usage rollups` proves all three equal the events.
CREATE TABLE usage_daily_ws (
    org_id       BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL,
    category     TEXT   NOT NULL,
    day          TEXT   NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    credits      BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    events       BIGINT NOT NULL DEFAULT 0 CHECK (events >= 0),
    PRIMARY KEY (org_id, workspace_id, category, day)
);
CREATE INDEX usage_daily_ws_org_day ON usage_daily_ws (org_id, day);

CREATE TABLE usage_daily_member (
    org_id   BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id  BIGINT NOT NULL,
    category TEXT   NOT NULL,
    day      TEXT   NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    credits  BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    events   BIGINT NOT NULL DEFAULT 0 CHECK (events >= 0),
    PRIMARY KEY (org_id, user_id, category, day)
);
CREATE INDEX usage_daily_member_org_day ON usage_daily_member (org_id, day);

-- Fill them from what usage_daily already holds.
INSERT INTO usage_daily_ws (org_id, workspace_id, category, day, credits, events)
SELECT org_id, workspace_id, category, day, SUM(credits), SUM(events) FROM usage_daily GROUP BY org_id, workspace_id, category, day;
INSERT INTO usage_daily_member (org_id, user_id, category, day, credits, events)
SELECT org_id, user_id, category, day, SUM(credits), SUM(events) FROM usage_daily GROUP BY org_id, user_id, category, day;

-- +goose Down
DROP TABLE usage_daily_member;
DROP TABLE usage_daily_ws;
