-- +goose Up
-- Append-only: rows are inserted in the transaction of the change they record
-- and never updated by the app (a trigger refuses it).
CREATE TABLE audit_log (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    org_id       BIGINT   NOT NULL,
    actor_id     BIGINT,
    ip           TEXT     NOT NULL DEFAULT '',
    user_agent   TEXT     NOT NULL DEFAULT '',
    action       TEXT     NOT NULL,
    target_type  TEXT     NOT NULL,
    target_id    TEXT     NOT NULL DEFAULT '',
    target_label TEXT     NOT NULL DEFAULT '',
    changes      TEXT     NOT NULL DEFAULT '{}',
    created_at   DATETIME NOT NULL
);
CREATE INDEX audit_log_org_time ON audit_log (org_id, id DESC);
CREATE INDEX audit_log_org_actor ON audit_log (org_id, actor_id, id DESC);
CREATE INDEX audit_log_org_action ON audit_log (org_id, action, id DESC);

-- +goose StatementBegin
CREATE TRIGGER audit_log_no_update BEFORE UPDATE ON audit_log
BEGIN
    SELECT RAISE(ABORT, 'audit_log is append-only');
END;
-- +goose StatementEnd

-- +goose Down
DROP TRIGGER audit_log_no_update;
DROP TABLE audit_log;
