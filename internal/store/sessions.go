package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type sessionRow struct {
	ID         string `gorm:"primaryKey"`
	UserID     *int64
	UserAgent  string
	IP         string `gorm:"column:ip"`
	Data       []byte
	CreatedAt  time.Time
	LastSeenAt time.Time
	ExpiresAt  time.Time
}

func (sessionRow) TableName() string { return "sessions" }

func (r sessionRow) domain() *orgbase.Session {
	s := &orgbase.Session{ID: r.ID, UserAgent: r.UserAgent, IP: r.IP, Data: r.Data, CreatedAt: r.CreatedAt, LastSeenAt: r.LastSeenAt, ExpiresAt: r.ExpiresAt}
	if r.UserID != nil {
		s.UserID = *r.UserID
	}
	return s
}

// SaveSession inserts a new session row.
func (db *DB) SaveSession(ctx context.Context, s *orgbase.Session) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(sessionRowOf(s)).Error; err != nil {
			return err
		}
		if s.UserID == 0 {
			return nil
		}
		return tx.Exec("UPDATE users SET last_seen_at = ? WHERE id = ?", s.LastSeenAt.UTC(), s.UserID).Error
	})
}

// UpdateSession rewrites a live session's data and activity. It never
// re-creates a session that was ended meanwhile (logout, revocation, password
// change): then it returns ENOTFOUND.
func (db *DB) UpdateSession(ctx context.Context, s *orgbase.Session) error {
	row := sessionRowOf(s)
	res := db.q(ctx).Model(&sessionRow{}).Where("id = ? AND expires_at > ?", s.ID, db.now()).Updates(map[string]any{
		"user_id": row.UserID, "user_agent": row.UserAgent, "ip": row.IP, "data": row.Data,
		"last_seen_at": row.LastSeenAt, "expires_at": row.ExpiresAt,
	})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Session ended.")
	}
	return nil
}

func sessionRowOf(s *orgbase.Session) *sessionRow {
	row := &sessionRow{ID: s.ID, UserAgent: s.UserAgent, IP: s.IP, Data: s.Data,
		CreatedAt: s.CreatedAt.UTC(), LastSeenAt: s.LastSeenAt.UTC(), ExpiresAt: s.ExpiresAt.UTC()}
	if s.UserID != 0 {
		row.UserID = &s.UserID
	}
	return row
}

// FindSession returns a live session by id, or ENOTFOUND when it is unknown,
// revoked or expired.
func (db *DB) FindSession(ctx context.Context, id string) (*orgbase.Session, error) {
	var row sessionRow
	err := db.q(ctx).Take(&row, "id = ? AND expires_at > ?", id, db.now()).Error
	if err != nil {
		return nil, notFound(err, "Session not found.")
	}
	return row.domain(), nil
}

// TouchSession records activity on a session and pushes its idle expiry.
// The session's user is marked as seen too (users.last_seen_at outlives the
// session, for "Last active").
func (db *DB) TouchSession(ctx context.Context, id string, seen, expires time.Time) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Model(&sessionRow{}).Where("id = ?", id).
			Updates(map[string]any{"last_seen_at": seen.UTC(), "expires_at": expires.UTC()}).Error; err != nil {
			return err
		}
		return tx.Exec("UPDATE users SET last_seen_at = ? WHERE id = (SELECT user_id FROM sessions WHERE id = ?)", seen.UTC(), id).Error
	})
}

// DeleteSession ends one session. Deleting an unknown session is not an error.
func (db *DB) DeleteSession(ctx context.Context, id string) error {
	return db.q(ctx).Where("id = ?", id).Delete(&sessionRow{}).Error
}

// DeleteUserSession ends one session of the user; ENOTFOUND when the user has
// no such session (so nobody can end another person's session).
func (db *DB) DeleteUserSession(ctx context.Context, userID int64, id string) error {
	res := db.q(ctx).Where("id = ? AND user_id = ?", id, userID).Delete(&sessionRow{})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgbase.Errorf(orgbase.ENOTFOUND, "That session has already ended.")
	}
	return nil
}

// DeleteOtherSessions ends every session of the user except keepID and
// returns how many ended.
func (db *DB) DeleteOtherSessions(ctx context.Context, userID int64, keepID string) (int64, error) {
	res := db.q(ctx).Where("user_id = ? AND id <> ?", userID, keepID).Delete(&sessionRow{})
	return res.RowsAffected, res.Error
}

// FindUserSessions lists the live sessions of a user, most recent first.
func (db *DB) FindUserSessions(ctx context.Context, userID int64) ([]*orgbase.Session, error) {
	var rows []sessionRow
	err := db.q(ctx).Where("user_id = ? AND expires_at > ?", userID, db.now()).
		Order("last_seen_at DESC").Find(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]*orgbase.Session, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// PurgeExpiredSessions deletes sessions past their expiry.
func (db *DB) PurgeExpiredSessions(ctx context.Context) (int64, error) {
	res := db.q(ctx).Where("expires_at <= ?", db.now()).Delete(&sessionRow{})
	return res.RowsAffected, res.Error
}

type attemptRow struct {
	ID        int64
	Key       string
	CreatedAt time.Time
}

func (attemptRow) TableName() string { return "auth_attempts" }

// CountAttempts returns how many attempts were recorded for each key since
// the given time.
func (db *DB) CountAttempts(ctx context.Context, since time.Time, keys ...string) (map[string]int, error) {
	type cnt struct {
		Key string
		N   int
	}
	var rows []cnt
	err := db.q(ctx).Model(&attemptRow{}).Select("key, COUNT(*) AS n").
		Where("key IN ? AND created_at > ?", keys, since.UTC()).Group("key").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[string]int, len(keys))
	for _, r := range rows {
		out[r.Key] = r.N
	}
	return out, nil
}

// RecordAttempts records one attempt under each key and forgets attempts
// older than a day.
func (db *DB) RecordAttempts(ctx context.Context, keys ...string) error {
	now := db.now()
	return db.tx(ctx, func(tx *gorm.DB) error {
		for _, k := range keys {
			if err := tx.Create(&attemptRow{Key: k, CreatedAt: now}).Error; err != nil {
				return err
			}
		}
		return tx.Where("created_at < ?", now.Add(-24*time.Hour)).Delete(&attemptRow{}).Error
	})
}

// ClearAttempts forgets the attempts under key (after a successful sign-in).
func (db *DB) ClearAttempts(ctx context.Context, key string) error {
	return db.q(ctx).Where("key = ?", key).Delete(&attemptRow{}).Error
}
