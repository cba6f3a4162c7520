package store

import (
	"context"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Usage reports read the daily rollups (written by Charge, see rollups.go),
// never the events.

// WorkspaceUsageByCategory returns what each workspace of the organization
// used, with everything below it, from the day from to the day to (UTC,
// "YYYY-MM-DD", both included), by workspace id and category. A charge
// counts for the workspace it was made in and for each of its ancestors in
// the tree as it is now (a moved workspace takes its history along), like
// the limit counters of WorkspaceUsage count it for the month. Workspaces
// that used nothing are absent; archived ones are included. One query,
// whatever the size of the tree. EINVALID for a malformed range.
func (db *DB) WorkspaceUsageByCategory(ctx context.Context, orgID int64, from, to string) (map[int64]map[orgbase.Category]orgbase.Credits, error) {
	if err := orgbase.CheckDayRange(from, to); err != nil {
		return nil, err
	}
	var rows []struct {
		WorkspaceID int64
		Path        *string
		Category    string
		Credits     int64
	}
	// Grouped by the charged workspace first (a few rows per workspace that
	// spent), then spread up the path in memory.
	err := db.q(ctx).Table("usage_daily_ws u").
		Select("u.workspace_id, w.path, u.category, SUM(u.credits) AS credits").
		Joins("LEFT JOIN workspaces w ON w.id = u.workspace_id AND w.org_id = u.org_id").
		Where("u.org_id = ? AND u.day >= ? AND u.day <= ?", orgID, from, to).
		Group("u.workspace_id, w.path, u.category").
		Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := map[int64]map[orgbase.Category]orgbase.Credits{}
	add := func(id int64, cat orgbase.Category, c orgbase.Credits) {
		m := out[id]
		if m == nil {
			m = map[orgbase.Category]orgbase.Credits{}
			out[id] = m
		}
		m[cat] += c
	}
	for _, r := range rows {
		if r.Credits == 0 {
			continue
		}
		ids := []int64{r.WorkspaceID}
		if r.Path != nil {
			ids = orgbase.PathIDs(*r.Path)
		}
		for _, id := range ids {
			add(id, orgbase.Category(r.Category), orgbase.Credits(r.Credits))
		}
	}
	return out, nil
}

// MemberUsageByCategory returns what each member used in the organization
// from the day from to the day to (UTC, "YYYY-MM-DD", both included), by
// user id and category; members who used nothing are absent. One query.
// EINVALID for a malformed range.
func (db *DB) MemberUsageByCategory(ctx context.Context, orgID int64, from, to string) (map[int64]map[orgbase.Category]orgbase.Credits, error) {
	if err := orgbase.CheckDayRange(from, to); err != nil {
		return nil, err
	}
	var rows []struct {
		UserID   int64
		Category string
		Credits  int64
	}
	err := db.q(ctx).Table("usage_daily_member").
		Select("user_id, category, SUM(credits) AS credits").
		Where("org_id = ? AND day >= ? AND day <= ?", orgID, from, to).
		Group("user_id, category").
		Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := map[int64]map[orgbase.Category]orgbase.Credits{}
	for _, r := range rows {
		if r.Credits == 0 {
			continue
		}
		if out[r.UserID] == nil {
			out[r.UserID] = map[orgbase.Category]orgbase.Credits{}
		}
		out[r.UserID][orgbase.Category(r.Category)] += orgbase.Credits(r.Credits)
	}
	return out, nil
}
