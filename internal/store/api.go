package store

import (
	"context"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Reads of the usage API (SPEC §6).

// FindMemberIDsByEmail maps each address (lower-cased) of a member of the
// organization to their user id, in one query; addresses of people who are
// not members are absent.
func (db *DB) FindMemberIDsByEmail(ctx context.Context, orgID int64, emails []string) (map[string]int64, error) {
	out := make(map[string]int64, len(emails))
	if len(emails) == 0 {
		return out, nil
	}
	lower := make([]string, 0, len(emails))
	for _, e := range emails {
		lower = append(lower, strings.ToLower(e))
	}
	var rows []struct {
		ID    int64
		Email string
	}
	err := db.q(ctx).Table("users u").Select("u.id, u.email").
		Joins("JOIN memberships m ON m.user_id = u.id AND m.org_id = ?", orgID).
		Where("u.email IN ?", lower).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.Email] = r.ID
	}
	return out, nil
}

// LimitStatus is one monthly limit on a workspace's path as the API reports
// it: this month's use against the limit.
type LimitStatus struct {
	WorkspaceID int64
	Name        string
	Limit       orgbase.Credits
	Used        orgbase.Credits
}

// Remaining is what the limit still allows (never negative).
func (l LimitStatus) Remaining() orgbase.Credits { return max(l.Limit-l.Used, 0) }

// Balance is what a workspace can spend now (GET /api/v1/balance).
type Balance struct {
	Workspace *orgbase.Workspace
	Funding   *orgbase.Account // the pool or the budget account it spends from
	Limits    []LimitStatus    // every limit on the path, root first
	Period    string           // the month the limits count ("YYYY-MM")
	Available orgbase.Credits  // min(funding balance, every limit's remaining)
}

// WorkspaceBalanceReport gathers the balance of the workspace: its funding
// account and the limits on its path with this month's use.
func (db *DB) WorkspaceBalanceReport(ctx context.Context, orgID, workspaceID int64) (*Balance, error) {
	fund, err := db.FindFundingAccount(ctx, orgID, workspaceID)
	if err != nil {
		return nil, err
	}
	ws, err := db.FindWorkspaceByID(ctx, orgID, workspaceID)
	if err != nil {
		return nil, err
	}
	period := orgbase.Period(db.now())
	var rows []struct {
		ID           int64
		Name         string
		MonthlyLimit int64
		Used         *int64
	}
	err = db.q(ctx).Table("workspaces w").Select("w.id, w.name, w.monthly_limit, lp.used").
		Joins("LEFT JOIN limit_periods lp ON lp.org_id = w.org_id AND lp.scope = ? AND lp.subject_id = w.id AND lp.period = ?", string(orgbase.LimitWorkspace), period).
		Where("w.org_id = ? AND w.id IN ? AND w.monthly_limit IS NOT NULL", orgID, orgbase.PathIDs(ws.Path)).
		Order("w.depth").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	b := &Balance{Workspace: ws, Funding: fund, Period: period, Available: max(fund.Balance, 0)}
	for _, r := range rows {
		l := LimitStatus{WorkspaceID: r.ID, Name: r.Name, Limit: orgbase.Credits(r.MonthlyLimit)}
		if r.Used != nil {
			l.Used = orgbase.Credits(*r.Used)
		}
		b.Limits = append(b.Limits, l)
		b.Available = min(b.Available, l.Remaining())
	}
	return b, nil
}

// UsageGroup is how a usage report groups its rows.
type UsageGroup string

// Usage report groupings (GET /api/v1/usage?group_by=).
const (
	GroupByDay      UsageGroup = "day"
	GroupByTool     UsageGroup = "tool"
	GroupByCategory UsageGroup = "category"
	GroupByMember   UsageGroup = "member"
)

// UsageRow is one group of a usage report.
type UsageRow struct {
	Key     string // the day, tool, category or member's email
	Credits orgbase.Credits
	Events  int64
}

// UsageReport sums the daily rollups of the workspace at path and every
// workspace below it, over the days from..to inclusive (UTC dates), grouped
// as asked, ordered by key. It reads usage_daily only, never raw events.
func (db *DB) UsageReport(ctx context.Context, orgID int64, path string, from, to time.Time, group UsageGroup) ([]UsageRow, error) {
	var key string
	q := db.q(ctx).Table("usage_daily d").
		Joins("JOIN workspaces w ON w.id = d.workspace_id AND w.org_id = d.org_id").
		Where("d.org_id = ? AND d.day >= ? AND d.day <= ? AND w.path LIKE ?", orgID, from.Format(time.DateOnly), to.Format(time.DateOnly), likePrefix(path))
	switch group {
	case GroupByDay:
		key = "d.day"
	case GroupByTool:
		key = "d.tool"
	case GroupByCategory:
		key = "d.category"
	case GroupByMember:
		key = "COALESCE(u.email, '')"
		q = q.Joins("LEFT JOIN users u ON u.id = d.user_id")
	default:
		return nil, orgbase.Errorf(orgbase.EINVALID, "Group by day, tool, category or member.")
	}
	var rows []struct {
		K       string
		Credits int64
		Events  int64
	}
	if err := q.Select(key + " AS k, SUM(d.credits) AS credits, SUM(d.events) AS events").Group(key).Order(key).Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]UsageRow, len(rows))
	for i, r := range rows {
		out[i] = UsageRow{Key: r.K, Credits: orgbase.Credits(r.Credits), Events: r.Events}
	}
	return out, nil
}
