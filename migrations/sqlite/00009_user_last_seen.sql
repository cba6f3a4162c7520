-- +goose Up
-- When the person last made a request in any session; kept after logout so
-- the Members tab's "Last active" survives the session.
ALTER TABLE users ADD COLUMN last_seen_at DATETIME;
UPDATE users SET last_seen_at = (SELECT MAX(s.last_seen_at) FROM sessions s WHERE s.user_id = users.id);

-- +goose Down
ALTER TABLE users DROP COLUMN last_seen_at;
