-- +goose Up
-- A fourth daily rollup, per workspace and member (no tool, no category):
-- the Overview's top members under a workspace filter read it instead of
-- usage_daily, whose tool and category dimensions make it nearly as large
-- as the events. Maintained in the charging transaction like the others;
-- the second index lets a subtree's days be read without the table.
CREATE TABLE usage_daily_ws_member (
    org_id       BIGINT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    workspace_id BIGINT NOT NULL,
    user_id      BIGINT NOT NULL,
    day          TEXT   NOT NULL CHECK (day GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]'),
    credits      BIGINT NOT NULL DEFAULT 0 CHECK (credits >= 0),
    events       BIGINT NOT NULL DEFAULT 0 CHECK (events >= 0),
    PRIMARY KEY (org_id, workspace_id, user_id, day)
);
CREATE INDEX usage_daily_ws_member_day ON usage_daily_ws_member (org_id, workspace_id, day, user_id, credits);

INSERT INTO usage_daily_ws_member (org_id, workspace_id, user_id, day, credits, events)
SELECT org_id, workspace_id, user_id, day, SUM(credits), SUM(events) FROM usage_daily
GROUP BY org_id, workspace_id, user_id, day;

-- +goose Down
DROP TABLE usage_daily_ws_member;
