package store

import (
	"context"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The Overview tab's reads (SPEC §8). They read the rollups only —
// usage_daily_ws for the organization or a workspace subtree,
// usage_daily_member for one member or the members' ranking, usage_daily when
// a workspace filter and members combine — and aggregate in SQL, so each
// answers with one statement whatever the number of events.

// Report ranges.
const (
	// MaxReportDays is the longest range a report covers (a leap year).
	MaxReportDays = 366
	// MinReportDay is the earliest day a report may start on.
	MinReportDay = "2000-01-01"
)

// CheckReportRange validates a report's range of days: well-formed
// "YYYY-MM-DD" days, from not after to (orgbase.CheckDayRange), not before
// MinReportDay and at most MaxReportDays long. EINVALID with a message
// people can act on otherwise.
func CheckReportRange(from, to string) error {
	if err := orgbase.CheckDayRange(from, to); err != nil {
		return err
	}
	if from < MinReportDay {
		return orgbase.Errorf(orgbase.EINVALID, "Choose a start day in the year 2000 or later.")
	}
	f, _ := time.Parse(time.DateOnly, from)
	t, _ := time.Parse(time.DateOnly, to)
	if days := int(t.Sub(f).Hours()/24) + 1; days > MaxReportDays {
		return orgbase.Errorf(orgbase.EINVALID, "Choose at most %d days (this range has %d).", MaxReportDays, days)
	}
	return nil
}

// UsageScope is what a usage report covers.
type UsageScope struct {
	From, To string // the range of UTC days "YYYY-MM-DD", both included
	// Path, when set, is a workspace's materialized path: the report covers
	// it and every workspace below it (as the tree is now). "" is the whole
	// organization.
	Path string
	// UserID, when set, limits the report to what that member spent.
	UserID int64
}

// DayUsage is one day of the consumption chart, by category.
type DayUsage struct {
	Day         string // "YYYY-MM-DD"
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// Total is the day's usage in every category.
func (d DayUsage) Total() orgbase.Credits { return d.ImageSpeech + d.Chatbot }

// usageSource picks the narrowest rollup that answers the scope and
// returns the table (aliased u) with the conditions every report adds.
func (db *DB) usageSource(ctx context.Context, orgID int64, s UsageScope) *gorm.DB {
	table := "usage_daily_ws u"
	switch {
	case s.UserID != 0 && s.Path != "":
		table = "usage_daily u" // one member: its primary key leads with (org, workspace, member)
	case s.UserID != 0:
		table = "usage_daily_member u"
	}
	q := db.q(ctx).Table(table).Where("u.org_id = ? AND u.day >= ? AND u.day <= ?", orgID, s.From, s.To)
	if s.UserID != 0 {
		q = q.Where("u.user_id = ?", s.UserID)
	}
	if s.Path != "" {
		// A subquery on the organization's workspaces rather than a join:
		// the rollup rows stay an index range scan on (org_id, day).
		q = q.Where("u.workspace_id IN (SELECT id FROM workspaces WHERE org_id = ? AND path LIKE ?)", orgID, likePrefix(s.Path))
	}
	return q
}

// DailyUsage returns the usage in scope for every day of its range, oldest
// first, by category; days without usage are present with zeros. One
// query. EINVALID for a range CheckReportRange refuses.
func (db *DB) DailyUsage(ctx context.Context, orgID int64, s UsageScope) ([]DayUsage, error) {
	if err := CheckReportRange(s.From, s.To); err != nil {
		return nil, err
	}
	var rows []struct {
		Day      string
		Category string
		Credits  int64
	}
	err := db.usageSource(ctx, orgID, s).
		Select("u.day, u.category, SUM(u.credits) AS credits").
		Group("u.day, u.category").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	from, _ := time.Parse(time.DateOnly, s.From)
	to, _ := time.Parse(time.DateOnly, s.To)
	out := make([]DayUsage, 0, int(to.Sub(from).Hours()/24)+1)
	index := make(map[string]int, cap(out))
	for d := from; !d.After(to); d = d.AddDate(0, 0, 1) {
		day := d.Format(time.DateOnly)
		index[day] = len(out)
		out = append(out, DayUsage{Day: day})
	}
	for _, r := range rows {
		i, ok := index[r.Day]
		if !ok {
			continue
		}
		switch orgbase.Category(r.Category) {
		case orgbase.CategoryImageSpeech:
			out[i].ImageSpeech += orgbase.Credits(r.Credits)
		case orgbase.CategoryChatbot:
			out[i].Chatbot += orgbase.Credits(r.Credits)
		}
	}
	return out, nil
}

// UsageTotal returns everything spent in scope over its range. One query.
// EINVALID for a range CheckReportRange refuses.
func (db *DB) UsageTotal(ctx context.Context, orgID int64, s UsageScope) (orgbase.Credits, error) {
	if err := CheckReportRange(s.From, s.To); err != nil {
		return 0, err
	}
	var total int64
	err := db.usageSource(ctx, orgID, s).Select("COALESCE(SUM(u.credits), 0)").Row().Scan(&total)
	return orgbase.Credits(total), err
}

// TopWorkspace is one row of the Overview's top workspaces: what was
// charged in the workspace itself (its children have rows of their own).
type TopWorkspace struct {
	ID       int64
	Name     string // "" for a workspace that no longer exists
	Path     string
	Archived bool
	Credits  orgbase.Credits
}

// TopWorkspaces returns the n workspaces in scope that spent the most over
// its range, most first (ties by id); those that spent nothing are absent.
// scope.UserID is ignored. One query. EINVALID for a bad range.
func (db *DB) TopWorkspaces(ctx context.Context, orgID int64, s UsageScope, n int) ([]TopWorkspace, error) {
	if err := CheckReportRange(s.From, s.To); err != nil {
		return nil, err
	}
	s.UserID = 0
	top := db.usageSource(ctx, orgID, s).
		Select("u.workspace_id, SUM(u.credits) AS credits").
		Group("u.workspace_id").Having("SUM(u.credits) > 0").
		Order("SUM(u.credits) DESC, u.workspace_id").Limit(n)
	var rows []struct {
		WorkspaceID int64
		Credits     int64
		Name        *string
		Path        *string
		ArchivedAt  *time.Time
	}
	err := db.q(ctx).Table("(?) t", top).
		Select("t.workspace_id, t.credits, w.name, w.path, w.archived_at").
		Joins("LEFT JOIN workspaces w ON w.id = t.workspace_id AND w.org_id = ?", orgID).
		Order("t.credits DESC, t.workspace_id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]TopWorkspace, len(rows))
	for i, r := range rows {
		out[i] = TopWorkspace{ID: r.WorkspaceID, Credits: orgbase.Credits(r.Credits), Archived: r.ArchivedAt != nil}
		if r.Name != nil {
			out[i].Name = *r.Name
		}
		if r.Path != nil {
			out[i].Path = *r.Path
		}
	}
	return out, nil
}

// TopMember is one row of the Overview's top members.
type TopMember struct {
	UserID  int64
	Name    string // "" for an account that no longer exists
	Email   string
	Credits orgbase.Credits
}

// TopMembers returns the n people who spent the most in scope over its
// range, most first (ties by user id); scope.UserID is ignored. It reads
// usage_daily_member, or usage_daily_ws_member under a workspace filter. One query.
// EINVALID for a bad range.
func (db *DB) TopMembers(ctx context.Context, orgID int64, s UsageScope, n int) ([]TopMember, error) {
	if err := CheckReportRange(s.From, s.To); err != nil {
		return nil, err
	}
	table := "usage_daily_member u"
	if s.Path != "" {
		table = "usage_daily_ws_member u"
	}
	q := db.q(ctx).Table(table).Where("u.org_id = ? AND u.day >= ? AND u.day <= ?", orgID, s.From, s.To)
	if s.Path != "" {
		q = q.Where("u.workspace_id IN (SELECT id FROM workspaces WHERE org_id = ? AND path LIKE ?)", orgID, likePrefix(s.Path))
	}
	top := q.Select("u.user_id, SUM(u.credits) AS credits").
		Group("u.user_id").Having("SUM(u.credits) > 0").
		Order("SUM(u.credits) DESC, u.user_id").Limit(n)
	var rows []struct {
		UserID  int64
		Credits int64
		Name    *string
		Email   *string
	}
	err := db.q(ctx).Table("(?) t", top).
		Select("t.user_id, t.credits, p.name, p.email").
		Joins("LEFT JOIN users p ON p.id = t.user_id").
		Order("t.credits DESC, t.user_id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]TopMember, len(rows))
	for i, r := range rows {
		out[i] = TopMember{UserID: r.UserID, Credits: orgbase.Credits(r.Credits)}
		if r.Name != nil {
			out[i].Name = *r.Name
		}
		if r.Email != nil {
			out[i].Email = *r.Email
		}
	}
	return out, nil
}

// CreditsAdded returns the credits that entered the organization's pool
// from outside between since (included) and until (excluded): operator
// grants, plan grants and top-ups. Moves between the pool and budgets,
// refunds and adjustments are not counted. One query.
func (db *DB) CreditsAdded(ctx context.Context, orgID int64, since, until time.Time) (orgbase.Credits, error) {
	var total int64
	err := db.q(ctx).Table("transfers t").
		Joins("JOIN accounts a ON a.id = t.credit_account_id AND a.org_id = t.org_id AND a.kind = ?", string(orgbase.AccountPool)).
		Where("t.org_id = ? AND t.kind IN ? AND t.created_at >= ? AND t.created_at < ?", orgID,
			[]string{string(orgbase.TransferGrant), string(orgbase.TransferPlanGrant), string(orgbase.TransferTopUp)}, since.UTC(), until.UTC()).
		Select("COALESCE(SUM(t.amount), 0)").Row().Scan(&total)
	return orgbase.Credits(total), err
}

// MemberLimitStatus returns the member's monthly member limit (nil for
// none) and what they spent this month (UTC) against it (0 without a
// limit: the counters exist only for limits). One query.
// ENOTFOUND when the person is not a member.
func (db *DB) MemberLimitStatus(ctx context.Context, orgID, userID int64) (limit *orgbase.Credits, used orgbase.Credits, err error) {
	var rows []struct {
		MonthlyLimit *int64
		Used         *int64
	}
	err = db.q(ctx).Table("memberships m").Select("m.monthly_limit, lp.used").
		Joins("LEFT JOIN limit_periods lp ON lp.org_id = m.org_id AND lp.scope = ? AND lp.subject_id = m.user_id AND lp.period = ?",
			string(orgbase.LimitMember), orgbase.Period(db.now())).
		Where("m.org_id = ? AND m.user_id = ?", orgID, userID).Scan(&rows).Error
	if err != nil {
		return nil, 0, err
	}
	if len(rows) == 0 {
		return nil, 0, orgbase.Errorf(orgbase.ENOTFOUND, "Member not found.")
	}
	if rows[0].Used != nil {
		used = orgbase.Credits(*rows[0].Used)
	}
	return limitDomain(rows[0].MonthlyLimit), used, nil
}
