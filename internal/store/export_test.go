package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// ReserveLimitsForTest runs reserveLimits in a transaction of its own,
// committed when it succeeds and rolled back when it refuses, as the
// charging service's transaction will be.
func (db *DB) ReserveLimitsForTest(ctx context.Context, orgID int64, path []int64, userID int64, amount orgbase.Credits, now time.Time) error {
	return db.tx(ctx, func(tx *gorm.DB) error { return reserveLimits(tx, orgID, path, userID, amount, now) })
}

// ScanForTest runs a raw query and scans its rows into dest.
func (db *DB) ScanForTest(ctx context.Context, dest any, query string, args ...any) error {
	return db.q(ctx).Raw(query, args...).Scan(dest).Error
}

// ExecForTest runs a raw statement (to tamper with data a check must catch).
func (db *DB) ExecForTest(ctx context.Context, query string, args ...any) error {
	return db.q(ctx).Exec(query, args...).Error
}
