package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Monthly limits (SPEC §5.4). A limit is a nullable BIGINT column on
// workspaces and memberships; what was spent against it lives in
// limit_periods, one counter per workspace or member and calendar month
// (UTC). Every charge counts against every workspace on its path and its
// member, whether or not they have a limit today, so a limit set in the
// middle of a month (or the usage column of the Workspaces tab) sees the
// whole month.
//
// Invariant: a workspace's limit never exceeds the nearest limit above it.
// SetWorkspaceLimit checks both directions and MoveWorkspace checks the new
// parent; both hold the tree lock, so two limit changes cannot pass each
// other's check.
//
// Lock order, as in the ledger: the tree root (limit changes), then
// workspace rows; a charge locks its limit_periods rows (workspace counters
// by ascending id, then the member's) before any account.

type limitPeriodRow struct {
	OrgID     int64  `gorm:"primaryKey"`
	Scope     string `gorm:"primaryKey"`
	SubjectID int64  `gorm:"primaryKey"`
	Period    string `gorm:"primaryKey"`
	Used      int64
}

func (limitPeriodRow) TableName() string { return "limit_periods" }

// limitDomain turns a nullable limit column into the domain's.
func limitDomain(v *int64) *orgbase.Credits {
	if v == nil {
		return nil
	}
	c := orgbase.Credits(*v)
	return &c
}

// limitColumn is the value to store for a limit (nil for none).
func limitColumn(c *orgbase.Credits) any {
	if c == nil {
		return nil
	}
	return int64(*c)
}

// limitText is how the audit log writes a limit: "25,000", or nothing.
func limitText(v *int64) any {
	if v == nil {
		return nil
	}
	return orgbase.Credits(*v).String()
}

func sameLimit(a *int64, b *orgbase.Credits) bool {
	return (a == nil && b == nil) || (a != nil && b != nil && *a == int64(*b))
}

func limitInvalid(msg string) error {
	return &orgbase.Error{Code: orgbase.EINVALID, Message: msg, Fields: map[string]string{"monthly_limit": msg}}
}

// nearestLimitAbove returns the nearest workspace with a limit among ids
// (the ancestors of a workspace), or nil when none has one.
func nearestLimitAbove(tx *gorm.DB, orgID int64, ids []int64) (*workspaceRow, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	var rows []workspaceRow
	err := tx.Select("id", "name", "depth", "monthly_limit").
		Where("org_id = ? AND id IN ? AND monthly_limit IS NOT NULL", orgID, ids).
		Order("depth DESC").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// highestLimitWithin returns the workspace with the highest limit in the
// subtree at path (archived ones included, so a restore cannot break the
// invariant), other than the workspace exclude; nil when none has one.
func highestLimitWithin(tx *gorm.DB, orgID int64, path string, exclude int64) (*workspaceRow, error) {
	var rows []workspaceRow
	err := tx.Select("id", "name", "path", "monthly_limit").
		Where("org_id = ? AND path LIKE ? AND id <> ? AND monthly_limit IS NOT NULL", orgID, likePrefix(path), exclude).
		Order("monthly_limit DESC, path").Limit(1).Find(&rows).Error
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	return &rows[0], nil
}

// checkLimitsUnder refuses putting the subtree at path (a workspace being
// moved) under the workspace newParent when a limit inside the subtree is
// above the nearest limit on newParent's path. The caller holds the tree lock.
func checkLimitsUnder(tx *gorm.DB, orgID int64, path string, newParent *workspaceRow) error {
	above, err := nearestLimitAbove(tx, orgID, orgbase.PathIDs(newParent.Path))
	if err != nil || above == nil {
		return err
	}
	inside, err := highestLimitWithin(tx, orgID, path, 0)
	if err != nil || inside == nil {
		return err
	}
	if *inside.MonthlyLimit > *above.MonthlyLimit {
		return orgbase.Errorf(orgbase.EINVALID, "%s has a monthly limit of %s credits, above the limit of %s (%s credits). Lower it first.",
			inside.Name, orgbase.Credits(*inside.MonthlyLimit), above.Name, orgbase.Credits(*above.MonthlyLimit))
	}
	return nil
}

// SetWorkspaceLimit sets (or, with a nil limit, clears) the monthly spend
// limit of a workspace, in milli-credits, and records it in the audit log
// ("workspace.limit"). Setting the limit it already has changes nothing.
//
// A limit may not exceed the nearest limit above the workspace, nor be set
// below a limit already set inside its subtree (the message names that
// workspace): EINVALID, with the message also on the "monthly_limit" field,
// as for a negative or too large limit. EFORBIDDEN unless the actor manages
// the workspace's parent (Access.CanSetWorkspaceLimit: a manager sets the
// limits of the workspaces below the one they were granted, not its own;
// only owners and admins set the Primary's). ECONFLICT for an archived
// workspace; ENOTFOUND for an unknown one.
func (db *DB) SetWorkspaceLimit(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, limit *orgbase.Credits) (*orgbase.Workspace, error) {
	if err := orgbase.CheckLimit(limit); err != nil {
		return nil, err
	}
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		// The tree lock serializes limit changes with each other and with
		// moves, so the parent/child checks below cannot be passed by a
		// concurrent change.
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		ws, err := lockWorkspace(tx, orgID, workspaceID)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanSetWorkspaceLimit(ws.domain()) }); err != nil {
			return err
		}
		if ws.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived.", ws.Name)
		}
		if sameLimit(ws.MonthlyLimit, limit) {
			out = ws.domain()
			return nil
		}
		if limit != nil {
			above, err := nearestLimitAbove(tx, orgID, orgbase.PathIDs(ws.domain().ParentPath()))
			if err != nil {
				return err
			}
			if above != nil && int64(*limit) > *above.MonthlyLimit {
				return limitInvalid("The limit of " + ws.Name + " cannot exceed that of " + above.Name +
					" (" + orgbase.Credits(*above.MonthlyLimit).String() + " credits).")
			}
			inside, err := highestLimitWithin(tx, orgID, ws.Path, ws.ID)
			if err != nil {
				return err
			}
			if inside != nil && *inside.MonthlyLimit > int64(*limit) {
				return limitInvalid(inside.Name + " inside " + ws.Name + " has a limit of " + orgbase.Credits(*inside.MonthlyLimit).String() +
					" credits: lower it first, or choose at least that much.")
			}
		}
		if ws.MonthlyLimit == nil && limit != nil {
			// Charges below kept no counter while there was no limit: wait
			// for those in flight (they hold their workspace FOR SHARE) and
			// start the counter from the month's use so far.
			var ids []int64
			if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Model(&workspaceRow{}).
				Where("org_id = ? AND path LIKE ?", orgID, likePrefix(ws.Path)).Order("id").Pluck("id", &ids).Error; err != nil {
				return err
			}
			if err := startCounter(tx, orgID, orgbase.LimitWorkspace, ws.ID, ws.Path, db.now()); err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE workspaces SET monthly_limit = ? WHERE org_id = ? AND id = ?", limitColumn(limit), orgID, ws.ID).Error; err != nil {
			return err
		}
		from := ws.MonthlyLimit
		if limit == nil {
			ws.MonthlyLimit = nil
		} else {
			v := int64(*limit)
			ws.MonthlyLimit = &v
		}
		out = ws.domain()
		return audit(tx, orgID, "workspace.limit", "workspace", itoa64(ws.ID), ws.Name, map[string]Change{
			"monthly_limit": {From: limitText(from), To: limitText(ws.MonthlyLimit)},
		})
	})
	return out, err
}

// SetMemberLimit sets (or, with a nil limit, clears) a member's monthly
// member limit in the organization, in milli-credits, and records it in the
// audit log ("member.limit"). Setting the limit they already have changes
// nothing. EFORBIDDEN unless the actor may act on the member
// (Access.CanSetMemberLimit: owners for anyone, admins for everyone but
// owners); EINVALID for a negative or too large limit; ENOTFOUND when the
// user is not a member.
func (db *DB) SetMemberLimit(ctx context.Context, orgID int64, by orgbase.Access, userID int64, limit *orgbase.Credits) error {
	if err := orgbase.CheckLimit(limit); err != nil {
		return err
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		var m membershipRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&m, "org_id = ? AND user_id = ?", orgID, userID).Error; err != nil {
			return notFound(err, "That person is not a member of this organization.")
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanSetMemberLimit(m.domain()) }); err != nil {
			if orgbase.ErrorCode(err) == orgbase.EFORBIDDEN {
				return orgbase.Errorf(orgbase.EFORBIDDEN, "Only owners and admins set member limits, and only owners set an owner's.")
			}
			return err
		}
		if sameLimit(m.MonthlyLimit, limit) {
			return nil
		}
		if m.MonthlyLimit == nil && limit != nil {
			// The membership row is locked FOR UPDATE above, after the
			// member's charges in flight (FOR SHARE): count from the month's use.
			if err := startCounter(tx, orgID, orgbase.LimitMember, userID, "", db.now()); err != nil {
				return err
			}
		}
		if err := tx.Exec("UPDATE memberships SET monthly_limit = ? WHERE org_id = ? AND user_id = ?", limitColumn(limit), orgID, userID).Error; err != nil {
			return err
		}
		label, err := userLabel(tx, userID)
		if err != nil {
			return err
		}
		to := any(nil)
		if limit != nil {
			to = limit.String()
		}
		return audit(tx, orgID, "member.limit", "member", itoa64(userID), label, map[string]Change{
			"monthly_limit": {From: limitText(m.MonthlyLimit), To: to},
		})
	})
}

// WorkspaceUsage returns what each workspace of the organization (with its
// subtree) spent in the period ("YYYY-MM", orgbase.Period), by workspace
// id; workspaces that spent nothing are absent. EINVALID for a malformed
// period.
func (db *DB) WorkspaceUsage(ctx context.Context, orgID int64, period string) (map[int64]orgbase.Credits, error) {
	return db.limitUsage(ctx, orgID, orgbase.LimitWorkspace, period)
}

// MemberUsage returns what each member spent in the organization in the
// period ("YYYY-MM"), by user id; members who spent nothing are absent.
// EINVALID for a malformed period.
func (db *DB) MemberUsage(ctx context.Context, orgID int64, period string) (map[int64]orgbase.Credits, error) {
	return db.limitUsage(ctx, orgID, orgbase.LimitMember, period)
}

func (db *DB) limitUsage(ctx context.Context, orgID int64, scope orgbase.LimitScope, period string) (map[int64]orgbase.Credits, error) {
	if _, err := orgbase.ParsePeriod(period); err != nil {
		return nil, err
	}
	// Only subjects with a limit now have a counter kept current.
	var rows []limitPeriodRow
	q := db.q(ctx).Table("limit_periods lp").Select("lp.*").Where("lp.org_id = ? AND lp.scope = ? AND lp.period = ?", orgID, string(scope), period)
	if scope == orgbase.LimitWorkspace {
		q = q.Joins("JOIN workspaces w ON w.id = lp.subject_id AND w.org_id = lp.org_id AND w.monthly_limit IS NOT NULL")
	} else {
		q = q.Joins("JOIN memberships m ON m.user_id = lp.subject_id AND m.org_id = lp.org_id AND m.monthly_limit IS NOT NULL")
	}
	if err := q.Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[int64]orgbase.Credits, len(rows))
	for _, r := range rows {
		if r.Used != 0 {
			out[r.SubjectID] = orgbase.Credits(r.Used)
		}
	}
	return out, nil
}

// reserveLimits counts a charge of amount against the monthly limits, inside
// the caller's transaction (the charging service's): the counters of this
// month (orgbase.Period(now)) of every workspace on path (root first, as
// orgbase.PathIDs returns it) that has a limit, and of the member userID (0
// for a charge no member made) if they have one, are created when missing,
// locked, and incremented by conditional updates (… AND used + amount <=
// limit), so concurrent charges can never pass a limit together.
//
// Only limited subjects have counters: a charge under no limit locks no
// counter at all, so charges of one organization do not queue on a shared
// row (the Primary's counter would otherwise be on every path). A limit set
// where there was none starts its counter from the month's use so far
// (SetWorkspaceLimit, SetMemberLimit), after waiting for the charges in
// flight: they hold the charged workspace's row FOR SHARE and the member's
// FOR SHARE (taken here), which the limit's change locks FOR UPDATE.
//
// A charge that does not fit returns *orgbase.LimitReached naming the first
// workspace on the path (root first), else the member, whose limit refuses
// it; counters incremented before the refusal are undone by the caller
// rolling back, as it must on any error. EINVALID for a negative or too
// large amount or an empty path; ENOTFOUND for a workspace not in the
// organization or a user who is not a member.
//
// Locks: the counter rows, in one SELECT … FOR UPDATE, workspace counters
// by ascending workspace id, then the member's. Ids never change (paths do,
// when a workspace moves), so two charges always take their common locks in
// the same order. Call it before locking any account.
func reserveLimits(tx *gorm.DB, orgID int64, path []int64, userID int64, amount orgbase.Credits, now time.Time) error {
	plan, err := lockLimits(tx, orgID, path, userID, amount, now)
	if err != nil {
		return err
	}
	return plan.apply(tx)
}

// lockLimits is reserveLimits' first half: it creates and locks the
// counters and decides, writing nothing but missing zero counters; the
// returned plan (nil when no limit applies) counts the charge. The charging
// service locks the accounts and checks the balance in between, so a
// refused charge writes nothing.
func lockLimits(tx *gorm.DB, orgID int64, path []int64, userID int64, amount orgbase.Credits, now time.Time) (*limitPlan, error) {
	if amount < 0 || amount > orgbase.MaxCredits {
		return nil, orgbase.Errorf(orgbase.EINVALID, "The amount must be between zero and %s credits.", orgbase.MaxCredits)
	}
	if len(path) == 0 {
		return nil, orgbase.Errorf(orgbase.EINVALID, "Name the workspace to charge.")
	}
	period := orgbase.Period(now)

	var wss []workspaceRow
	if err := tx.Select("id", "name", "monthly_limit").Where("org_id = ? AND id IN ?", orgID, path).Find(&wss).Error; err != nil {
		return nil, err
	}
	byID := make(map[int64]*workspaceRow, len(wss))
	for i := range wss {
		byID[wss[i].ID] = &wss[i]
	}
	for _, id := range path {
		if byID[id] == nil {
			return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Workspace not found.")
		}
	}
	var member *membershipRow
	if userID != 0 {
		var m membershipRow
		if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Select("user_id", "monthly_limit").
			Take(&m, "org_id = ? AND user_id = ?", orgID, userID).Error; err != nil {
			return nil, notFound(err, "That person is not a member of this organization.")
		}
		if m.MonthlyLimit != nil {
			member = &m
		}
	}
	var limited []int64
	for _, id := range path {
		if byID[id].MonthlyLimit != nil {
			limited = append(limited, id)
		}
	}
	if len(limited) == 0 && member == nil {
		return nil, nil // no limit applies: nothing to count, nothing to lock
	}

	// Create this month's counters where missing (a concurrent charge may
	// create the same ones: the primary key turns the second into nothing).
	rows := make([]limitPeriodRow, 0, len(limited)+1)
	for _, id := range limited {
		rows = append(rows, limitPeriodRow{OrgID: orgID, Scope: string(orgbase.LimitWorkspace), SubjectID: id, Period: period})
	}
	if member != nil {
		rows = append(rows, limitPeriodRow{OrgID: orgID, Scope: string(orgbase.LimitMember), SubjectID: userID, Period: period})
	}
	if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&rows).Error; err != nil {
		return nil, err
	}

	// Lock them in the fixed order ('workspace' sorts after 'member').
	var locked []limitPeriodRow
	q := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ? AND period = ?", orgID, period)
	switch {
	case member != nil && len(limited) > 0:
		q = q.Where("(scope = ? AND subject_id IN ?) OR (scope = ? AND subject_id = ?)",
			orgbase.LimitWorkspace, limited, orgbase.LimitMember, userID)
	case member != nil:
		q = q.Where("scope = ? AND subject_id = ?", orgbase.LimitMember, userID)
	default:
		q = q.Where("scope = ? AND subject_id IN ?", orgbase.LimitWorkspace, limited)
	}
	if err := q.Order("scope DESC, subject_id").Find(&locked).Error; err != nil {
		return nil, err
	}
	used := make(map[orgbase.LimitScope]map[int64]int64, 2)
	for _, r := range locked {
		s := orgbase.LimitScope(r.Scope)
		if used[s] == nil {
			used[s] = map[int64]int64{}
		}
		used[s][r.SubjectID] = r.Used
	}

	// Decide first, root first, on the locked values (exact: nobody else
	// can change them until we commit), so a refusal writes nothing.
	for _, id := range limited {
		ws := byID[id]
		if !orgbase.Fits(orgbase.Credits(used[orgbase.LimitWorkspace][id]), amount, orgbase.Credits(*ws.MonthlyLimit)) {
			return nil, &orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: id, WorkspaceName: ws.Name, Period: period,
				Limit: orgbase.Credits(*ws.MonthlyLimit), Used: orgbase.Credits(used[orgbase.LimitWorkspace][id]), Amount: amount}
		}
	}
	if member != nil && !orgbase.Fits(orgbase.Credits(used[orgbase.LimitMember][userID]), amount, orgbase.Credits(*member.MonthlyLimit)) {
		name, err := userLabel(tx, userID)
		if err != nil {
			return nil, err
		}
		return nil, &orgbase.LimitReached{Scope: orgbase.LimitMember, UserID: userID, MemberName: name, Period: period,
			Limit: orgbase.Credits(*member.MonthlyLimit), Used: orgbase.Credits(used[orgbase.LimitMember][userID]), Amount: amount}
	}
	plan := &limitPlan{orgID: orgID, period: period, amount: amount}
	for _, id := range limited {
		plan.counts = append(plan.counts, limitCount{orgbase.LimitWorkspace, id, *byID[id].MonthlyLimit})
	}
	if member != nil {
		plan.counts = append(plan.counts, limitCount{orgbase.LimitMember, userID, *member.MonthlyLimit})
	}
	return plan, nil
}

// limitPlan is a charge that fits its limits, with the counters locked:
// apply counts it.
type limitPlan struct {
	orgID  int64
	period string
	amount orgbase.Credits
	counts []limitCount
}

type limitCount struct {
	scope orgbase.LimitScope
	id    int64
	limit int64
}

// apply increments the locked counters. The conditional update (… AND
// used + amount <= limit) guards the database's side of the rule; it
// cannot refuse what lockLimits accepted under the same locks, so a
// refusal here is a bug, reported as an internal error.
func (p *limitPlan) apply(tx *gorm.DB) error {
	if p == nil {
		return nil
	}
	for _, c := range p.counts {
		res := tx.Exec("UPDATE limit_periods SET used = used + ? WHERE org_id = ? AND scope = ? AND subject_id = ? AND period = ? AND used + ? <= ?",
			int64(p.amount), p.orgID, string(c.scope), c.id, p.period, int64(p.amount), c.limit)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return fmt.Errorf("limit counter %s %d changed under its lock", c.scope, c.id)
		}
	}
	return nil
}

// startCounter sets this month's counter of a subject that gets a limit
// where it had none to what it spent so far this month, summed from the
// daily rollups (the whole subtree of the workspace at path, or every
// charge of the member). The caller holds the locks that keep charges of
// the subject out until it commits.
func startCounter(tx *gorm.DB, orgID int64, scope orgbase.LimitScope, subjectID int64, path string, now time.Time) error {
	period := orgbase.Period(now)
	start, err := orgbase.ParsePeriod(period)
	if err != nil {
		return err
	}
	from, to := start.Format(time.DateOnly), start.AddDate(0, 1, 0).Format(time.DateOnly)
	var used int64
	q := tx.Table("usage_daily d").Select("COALESCE(SUM(d.credits), 0)").Where("d.org_id = ? AND d.day >= ? AND d.day < ?", orgID, from, to)
	if scope == orgbase.LimitWorkspace {
		q = q.Joins("JOIN workspaces w ON w.id = d.workspace_id AND w.org_id = d.org_id").Where("w.path LIKE ?", likePrefix(path))
	} else {
		q = q.Where("d.user_id = ?", subjectID)
	}
	if err := q.Scan(&used).Error; err != nil {
		return err
	}
	return tx.Exec(`INSERT INTO limit_periods (org_id, scope, subject_id, period, used) VALUES (?, ?, ?, ?, ?)
		ON CONFLICT (org_id, scope, subject_id, period) DO UPDATE SET used = excluded.used`,
		orgID, string(scope), subjectID, period, used).Error
}
