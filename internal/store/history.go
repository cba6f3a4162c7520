package store

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The History tab (SPEC §8) reads usage_events newest first, in keyset
// pages on (created_at, id). Migration 00014 indexes (org_id, created_at,
// id) and the same with user_id or workspace_id after org_id, so each page
// is an index range scan that stops after the page, however deep it is.

// HistoryCursor is where a page of history ends: the next page holds the
// events strictly older than it in (created_at, id) order.
type HistoryCursor struct {
	CreatedAt time.Time
	ID        int64
}

// HistoryFilter narrows FindHistory and EachHistory. Zero fields do not
// filter.
type HistoryFilter struct {
	// WorkspaceIDs keeps the events of these workspaces only. nil means every
	// workspace; an empty, non-nil slice means none (a member without grants).
	// Callers resolve subtrees and access into this list.
	WorkspaceIDs []int64
	UserID       int64            // events by this user only (Me mode)
	Tool         string           // one tool, as the catalog names it
	Category     orgbase.Category // one category
	From         time.Time        // events at or after From
	To           time.Time        // events before To
	Before       *HistoryCursor   // keyset: events older than the cursor only
	Limit        int              // FindHistory's page size; defaults to 50, at most 500
}

// maxHistoryPage bounds one page (and one chunk of an export).
const maxHistoryPage = 500

type historyRow struct {
	ID             int64
	WorkspaceID    int64
	UserID         int64
	UserName       string
	UserEmail      string
	Tool           string
	Model          string
	Category       string
	Units          int64
	Credits        int64
	IdempotencyKey string
	CreatedAt      time.Time
}

func (r historyRow) domain() orgbase.UsageEvent {
	return orgbase.UsageEvent{ID: r.ID, WorkspaceID: r.WorkspaceID, UserID: r.UserID, UserName: r.UserName, UserEmail: r.UserEmail,
		Tool: r.Tool, Model: r.Model, Category: orgbase.Category(r.Category), Units: r.Units, Credits: orgbase.Credits(r.Credits),
		IdempotencyKey: r.IdempotencyKey, CreatedAt: r.CreatedAt.UTC()}
}

// historyBranches is the most workspaces a query reads as one index scan
// each. A subtree of a few workspaces filtered with IN leaves PostgreSQL
// two poor plans on a deep page: walk the organization's whole feed, or
// read every event of those workspaces and sort them. One scan per
// workspace, each stopping after the page and merged in order (a Merge
// Append), reads about one page whatever the depth. Larger sets use IN:
// they are most of the organization, where the organization's index is the
// right plan. So does Me mode: one member's index, filtered by workspace,
// reads fewer events than a scan per workspace looking for that member.
const historyBranches = 64

// historyColumns are what a page reads of each event.
const historyColumns = "e.id, e.workspace_id, e.user_id, e.tool, e.model, e.category, e.units, e.credits, e.idempotency_key, e.created_at"

// historyQuery is the query of the limit newest events matching f, with
// each member's name and email, newest first.
func (db *DB) historyQuery(ctx context.Context, orgID int64, f HistoryFilter, limit int) *gorm.DB {
	ids := slices.Clone(f.WorkspaceIDs)
	slices.Sort(ids)
	ids = slices.Compact(ids)
	if len(ids) > 1 && len(ids) <= historyBranches && f.UserID == 0 {
		parts := make([]string, len(ids))
		args := make([]any, 0, len(ids)+1)
		for i, id := range ids {
			parts[i] = "SELECT * FROM (?) b" + strconv.Itoa(i)
			args = append(args, db.historyScan(ctx, orgID, f, []int64{id}).Select(historyColumns).Limit(limit))
		}
		args = append(args, limit)
		return db.q(ctx).Raw("SELECT h.*, COALESCE(u.name, '') AS user_name, COALESCE(u.email, '') AS user_email FROM ("+
			strings.Join(parts, " UNION ALL ")+") h LEFT JOIN users u ON u.id = h.user_id ORDER BY h.created_at DESC, h.id DESC LIMIT ?", args...)
	}
	if f.WorkspaceIDs != nil && len(ids) == 0 {
		ids = []int64{} // none, not every workspace
	}
	return db.historyScan(ctx, orgID, f, ids).
		Select(historyColumns + ", COALESCE(u.name, '') AS user_name, COALESCE(u.email, '') AS user_email").
		Joins("LEFT JOIN users u ON u.id = e.user_id").Limit(limit)
}

// historyScan is the ordered scan of the events matching f in the
// workspaces ids (nil: all, empty: none), without a select list.
func (db *DB) historyScan(ctx context.Context, orgID int64, f HistoryFilter, ids []int64) *gorm.DB {
	q := db.q(ctx).Table("usage_events e").Where("e.org_id = ?", orgID)
	switch {
	case ids == nil:
	case len(ids) == 0:
		q = q.Where("1 = 0")
	case len(ids) == 1:
		q = q.Where("e.workspace_id = ?", ids[0])
	default:
		q = q.Where("e.workspace_id IN ?", ids)
	}
	if f.UserID > 0 {
		q = q.Where("e.user_id = ?", f.UserID)
	}
	if f.Tool != "" {
		q = q.Where("e.tool = ?", f.Tool)
	}
	if f.Category != "" {
		q = q.Where("e.category = ?", string(f.Category))
	}
	if !f.From.IsZero() {
		q = q.Where("e.created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("e.created_at < ?", f.To.UTC())
	}
	if c := f.Before; c != nil {
		// (created_at, id) < (t, id), written so that both dialects use the
		// index range: created_at <= t bounds the scan, and only the rows at
		// exactly t are checked against the id.
		t := c.CreatedAt.UTC()
		q = q.Where("e.created_at <= ? AND (e.created_at < ? OR e.id < ?)", t, t, c.ID)
	}
	return q.Order("e.created_at DESC, e.id DESC")
}

// FindHistory returns one page of an organization's usage events that
// match f, newest first, with each member's name and email; more reports
// whether older events match too (pass the last event's time and id as
// Before to read them).
func (db *DB) FindHistory(ctx context.Context, orgID int64, f HistoryFilter) (events []orgbase.UsageEvent, more bool, err error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, maxHistoryPage)
	var rows []historyRow
	if err := db.historyQuery(ctx, orgID, f, limit+1).Scan(&rows).Error; err != nil {
		return nil, false, err
	}
	if len(rows) > limit {
		rows, more = rows[:limit], true
	}
	events = make([]orgbase.UsageEvent, len(rows))
	for i, r := range rows {
		events[i] = r.domain()
	}
	return events, more, nil
}

// EachHistory calls fn with every usage event of the organization that
// matches f (Limit and Before are ignored), newest first, until fn returns
// an error, which EachHistory returns. It reads in keyset chunks (see
// eachChunk): constant memory, and no connection held while fn writes.
// Events charged after the export started are not included.
func (db *DB) EachHistory(ctx context.Context, orgID int64, f HistoryFilter, fn func(orgbase.UsageEvent) error) error {
	f.Before = nil
	return eachChunk(db, maxHistoryPage, func(last *historyRow) *gorm.DB {
		if last != nil {
			f.Before = &HistoryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
		}
		return db.historyQuery(ctx, orgID, f, maxHistoryPage)
	}, func(r historyRow) error { return fn(r.domain()) })
}

// HasUsage reports whether the organization has any usage event at all in
// the given workspaces (nil: anywhere), so the History tab can tell "no
// usage yet" from "nothing matches these filters".
func (db *DB) HasUsage(ctx context.Context, orgID int64, workspaceIDs []int64) (bool, error) {
	var rows []historyRow
	err := db.historyQuery(ctx, orgID, HistoryFilter{WorkspaceIDs: workspaceIDs}, 1).Scan(&rows).Error
	return len(rows) > 0, err
}
