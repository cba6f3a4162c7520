-- +goose Up
-- The History tab (SPEC §8) pages through usage_events newest first on
-- (created_at, id), for the whole organization, for one member (Me mode) or
-- for one workspace. Each index serves one of these as a backward range
-- scan that stops after the page, however deep the page is.
-- (org_id, created_at, id) replaces usage_events_org_time, its prefix.
CREATE INDEX usage_events_org_time_id ON usage_events (org_id, created_at, id);
CREATE INDEX usage_events_org_user_time ON usage_events (org_id, user_id, created_at, id);
CREATE INDEX usage_events_org_ws_time ON usage_events (org_id, workspace_id, created_at, id);
DROP INDEX usage_events_org_time;

-- +goose Down
CREATE INDEX usage_events_org_time ON usage_events (org_id, created_at);
DROP INDEX usage_events_org_ws_time;
DROP INDEX usage_events_org_user_time;
DROP INDEX usage_events_org_time_id;
