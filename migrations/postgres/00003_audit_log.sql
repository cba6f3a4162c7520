-- +goose Up
-- Append-only: rows are inserted in the transaction of the change they record
-- and never updated or deleted by the app (a trigger refuses it).
CREATE TABLE audit_log (
    id           BIGSERIAL PRIMARY KEY,
    org_id       BIGINT      NOT NULL,
    actor_id     BIGINT,
    ip           TEXT        NOT NULL DEFAULT '',
    user_agent   TEXT        NOT NULL DEFAULT '',
    action       TEXT        NOT NULL,
    target_type  TEXT        NOT NULL,
    target_id    TEXT        NOT NULL DEFAULT '',
    target_label TEXT        NOT NULL DEFAULT '',
    changes      TEXT        NOT NULL DEFAULT '{}',
    created_at   TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_org_time ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_org_actor ON audit_log (org_id, actor_id, id DESC);
CREATE INDEX audit_log_org_action ON audit_log (org_id, action, id DESC);

-- +goose StatementBegin
CREATE FUNCTION audit_log_append_only() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only';
END;
$$ LANGUAGE plpgsql;
-- +goose StatementEnd
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();

-- +goose Down
DROP TRIGGER audit_log_no_update ON audit_log;
DROP FUNCTION audit_log_append_only();
DROP TABLE audit_log;
