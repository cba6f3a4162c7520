package store

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync/atomic"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Alerts (SPEC §5.7) are state-based: CheckAlerts reads what an organization
// stands at now — this month's limit counters against the workspaces'
// limits, the budgets' balances against what they were allocated, the pool
// against its low-balance level — and raises every threshold reached and
// not yet raised in its cycle (orgbase/alerts.go defines subjects, cycles
// and the one comparison). It never touches the money paths: whatever moves
// credits (a charge, a transfer, a grant) only has to ask for a check
// afterwards, and a check that is missed is made up by the next one.
//
// Raising is idempotent under concurrency: alert_states has a unique key
// on (org, subject, workspace, threshold, cycle) and each threshold is
// inserted with ON CONFLICT DO NOTHING, so when checks run at once on
// several replicas exactly one of them inserts each row, and only the one
// that inserted it notifies. A subject's thresholds are inserted in
// ascending order in one transaction, so two checks cannot deadlock.
//
// Raising one subject is one transaction: its alert rows, an in-app
// notification per recipient and an email per recipient through the outbox
// (insertEmail, which also enqueues its delivery job). When several
// thresholds of a subject are reached at once (usage jumped from 40 % to
// 100 %), every one of them is recorded but people are told once, about
// the highest.
//
// Recipients: the active owners, admins and billing members, plus the
// active managers of the workspace (grants with the manager role on it or
// on an ancestor); for the pool, the Primary workspace's managers.

// Transfer kinds, written out as SQL literals, that start alert cycles
// (orgbase.StartsAlertCycle): top-ups of the pool, and moves into or out of
// a budget. budgetMoveKinds must stay exactly the predicate of the partial
// index transfers_moves_out (migration 00011) for the planner to use it.
const (
	poolTopUpKinds  = "'grant', 'plan_grant', 'top_up', 'adjustment'"
	budgetMoveKinds = "'transfer', 'adjustment'"
)

type alertStateRow struct {
	ID          int64
	OrgID       int64
	Subject     string
	WorkspaceID int64
	Threshold   int
	Cycle       string
	Name        string
	Used        int64
	Base        int64
	CreatedAt   time.Time
}

func (alertStateRow) TableName() string { return "alert_states" }

func (r alertStateRow) domain() orgbase.Alert {
	return orgbase.Alert{ID: r.ID, OrgID: r.OrgID, Subject: orgbase.AlertSubject(r.Subject), WorkspaceID: r.WorkspaceID,
		Name: r.Name, Threshold: r.Threshold, Cycle: r.Cycle, Used: orgbase.Credits(r.Used), Base: orgbase.Credits(r.Base),
		CreatedAt: r.CreatedAt.UTC()}
}

type notificationRow struct {
	ID        int64
	OrgID     int64
	UserID    int64
	AlertID   *int64
	Level     string
	Title     string
	Body      string
	Path      string
	CreatedAt time.Time
	ReadAt    *time.Time
}

func (notificationRow) TableName() string { return "notifications" }

func (r notificationRow) domain() orgbase.Notification {
	n := orgbase.Notification{ID: r.ID, OrgID: r.OrgID, UserID: r.UserID, AlertID: r.AlertID, Level: r.Level,
		Title: r.Title, Body: r.Body, Path: r.Path, CreatedAt: r.CreatedAt.UTC()}
	if r.ReadAt != nil {
		t := r.ReadAt.UTC()
		n.ReadAt = &t
	}
	return n
}

// AlertMail is one alert email to compose: the recipient, the organization
// and the alert.
type AlertMail struct {
	To      orgbase.User
	OrgName string
	OrgSlug string
	Alert   orgbase.Alert
}

// Path is the path of the page the alert points to: "/orgs/{slug}" and the
// alert's own path.
func (m AlertMail) Path() string { return "/orgs/" + m.OrgSlug + m.Alert.Path() }

// AlertMailer composes the email of an alert for one recipient. It runs
// inside the transaction that raises the alert: it must not block.
type AlertMailer func(m AlertMail) (*orgbase.Email, error)

// alertHook carries the AlertMailer, registered as a GORM plugin (as the
// outbox's enqueuer is) so every session of the DB finds it.
type alertHook struct{ mailer atomic.Pointer[AlertMailer] }

const alertHookName = "orgbase:alerts"

func (*alertHook) Name() string              { return alertHookName }
func (*alertHook) Initialize(*gorm.DB) error { return nil }

// SetAlertMailer makes CheckAlerts compose alert emails with m; the web
// server sets one that writes absolute links to the public URL. Without one
// (command-line tools, tests), alert emails are plain text with the page's
// path. Call it before checks run: the first call registers a plugin. A nil
// m goes back to plain text.
func (db *DB) SetAlertMailer(m AlertMailer) {
	h, ok := db.gorm.Config.Plugins[alertHookName].(*alertHook)
	if !ok {
		h = &alertHook{}
		if err := db.gorm.Use(h); err != nil { // only fails when registered meanwhile
			h, _ = db.gorm.Config.Plugins[alertHookName].(*alertHook)
			if h == nil {
				return
			}
		}
	}
	if m == nil {
		h.mailer.Store(nil)
		return
	}
	h.mailer.Store(&m)
}

// composeAlert writes the email of m with the configured AlertMailer, or as
// plain text without one.
func (db *DB) composeAlert(m AlertMail) (*orgbase.Email, error) {
	if h, ok := db.gorm.Config.Plugins[alertHookName].(*alertHook); ok {
		if f := h.mailer.Load(); f != nil {
			return (*f)(m)
		}
	}
	hello := "Hello,"
	if m.To.Name != "" {
		hello = "Hello " + m.To.Name + ","
	}
	return &orgbase.Email{To: m.To.Email, Subject: m.OrgName + ": " + m.Alert.Title(),
		Text: hello + "\n\n" + m.Alert.Title() + ".\n\n" + m.Alert.Message() + "\n\nOpen it in Orgbase: " + m.Path() + "\n\n— Orgbase\n"}, nil
}

// orgAlertRow is what CheckAlerts reads of the organization.
type orgAlertRow struct {
	ID               int64
	Slug             string
	Name             string
	DeletedAt        *time.Time
	AlertThresholds  string
	PoolAlertPercent int
}

func (r orgAlertRow) settings() orgbase.AlertSettings {
	s := orgbase.DefaultAlertSettings()
	if ts, err := orgbase.ParseAlertThresholds(r.AlertThresholds); err == nil {
		s.Thresholds = ts
	}
	if r.PoolAlertPercent >= 0 && r.PoolAlertPercent <= 99 {
		s.PoolPercent = r.PoolAlertPercent
	}
	return s
}

func findOrgAlertRow(tx *gorm.DB, orgID int64) (*orgAlertRow, error) {
	var rows []orgAlertRow
	err := tx.Raw("SELECT id, slug, name, deleted_at, alert_thresholds, pool_alert_percent FROM organizations WHERE id = ?", orgID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
	}
	return &rows[0], nil
}

// FindAlertSettings returns the organization's alert levels. ENOTFOUND for
// an unknown organization.
func (db *DB) FindAlertSettings(ctx context.Context, orgID int64) (orgbase.AlertSettings, error) {
	r, err := findOrgAlertRow(db.q(ctx), orgID)
	if err != nil {
		return orgbase.AlertSettings{}, err
	}
	return r.settings(), nil
}

// SetAlertSettings changes the organization's alert levels (thresholds
// sorted, duplicates dropped) and records it in the audit log
// ("organization.alerts"); it returns them as stored. New levels apply from
// the next check: alerts already raised stay raised for their cycle.
// EINVALID naming the field ("thresholds", "pool_percent"); EFORBIDDEN
// unless the actor may edit the organization's profile (owners, admins).
func (db *DB) SetAlertSettings(ctx context.Context, orgID int64, by orgbase.Access, s orgbase.AlertSettings) (orgbase.AlertSettings, error) {
	if err := s.Validate(); err != nil {
		return orgbase.AlertSettings{}, err
	}
	ts, _ := orgbase.ParseAlertThresholds(orgbase.FormatAlertThresholds(s.Thresholds))
	s.Thresholds = ts
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool {
			return orgbase.Can(orgbase.Actor{UserID: a.Membership.UserID, Membership: a.Membership}, orgbase.ActionOrgEditProfile)
		}); err != nil {
			return err
		}
		old, err := findOrgAlertRow(tx, orgID)
		if err != nil {
			return err
		}
		before := old.settings()
		changes := map[string]Change{}
		if a, b := orgbase.FormatAlertThresholds(before.Thresholds), orgbase.FormatAlertThresholds(s.Thresholds); a != b {
			changes["alert_thresholds"] = Change{From: a, To: b}
		}
		if before.PoolPercent != s.PoolPercent {
			changes["pool_alert_percent"] = Change{From: before.PoolPercent, To: s.PoolPercent}
		}
		if len(changes) == 0 {
			return nil
		}
		if err := tx.Exec("UPDATE organizations SET alert_thresholds = ?, pool_alert_percent = ? WHERE id = ?",
			orgbase.FormatAlertThresholds(s.Thresholds), s.PoolPercent, orgID).Error; err != nil {
			return err
		}
		return audit(tx, orgID, "organization.alerts", "organization", itoa64(orgID), old.Name, changes)
	})
	if err != nil {
		return orgbase.AlertSettings{}, err
	}
	return s, nil
}

// alertCandidate is one subject as it stands now.
type alertCandidate struct {
	subject    orgbase.AlertSubject
	ws         int64
	account    int64 // the balance's account (pool and budgets)
	path       string
	name       string
	cycle      string
	used, base int64
	thresholds []int
}

type alertKey struct {
	subject   string
	ws        int64
	threshold int
	cycle     string
}

// CheckAlerts raises every alert of the organization whose threshold is
// reached now and was not raised yet in its cycle, and returns how many
// thresholds it raised. It is safe to run at any time, repeatedly and
// concurrently (see the top of this file); an organization scheduled for
// deletion raises nothing. ENOTFOUND for an unknown organization.
func (db *DB) CheckAlerts(ctx context.Context, orgID int64) (int, error) {
	now := db.now()
	org, err := findOrgAlertRow(db.q(ctx), orgID)
	if err != nil || org.DeletedAt != nil {
		return 0, err
	}
	settings := org.settings()
	cands, err := db.limitCandidates(ctx, orgID, orgbase.Period(now), settings.Thresholds)
	if err != nil {
		return 0, err
	}
	balances, err := db.balanceCandidates(ctx, orgID, settings, now)
	if err != nil {
		return 0, err
	}
	cands = append(cands, balances...)
	if len(cands) == 0 {
		return 0, nil
	}
	raised, err := db.raisedAlerts(ctx, orgID, cands)
	if err != nil {
		return 0, err
	}
	total := 0
	for _, c := range cands {
		var due []int
		for _, th := range c.thresholds {
			if orgbase.AlertReached(orgbase.Credits(c.used), orgbase.Credits(c.base), th) &&
				!raised[alertKey{string(c.subject), c.ws, th, c.cycle}] {
				due = append(due, th)
			}
		}
		if len(due) == 0 {
			continue
		}
		n, err := db.raiseAlerts(ctx, org, c, due, now)
		if err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// limitCandidates reads the workspaces with a monthly limit and some use
// this month.
func (db *DB) limitCandidates(ctx context.Context, orgID int64, period string, thresholds []int) ([]alertCandidate, error) {
	var rows []struct {
		ID           int64
		Name         string
		Path         string
		MonthlyLimit int64
		Used         int64
	}
	err := db.q(ctx).Raw(`SELECT w.id, w.name, w.path, w.monthly_limit, lp.used
		FROM workspaces w JOIN limit_periods lp ON lp.org_id = w.org_id AND lp.scope = ? AND lp.subject_id = w.id AND lp.period = ?
		WHERE w.org_id = ? AND w.archived_at IS NULL AND w.monthly_limit > 0 AND lp.used > 0
		ORDER BY w.id`, orgbase.LimitWorkspace, period, orgID).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]alertCandidate, len(rows))
	for i, r := range rows {
		out[i] = alertCandidate{subject: orgbase.AlertWorkspaceLimit, ws: r.ID, path: r.Path, name: r.Name, cycle: period,
			used: r.Used, base: r.MonthlyLimit, thresholds: thresholds}
	}
	return out, nil
}

// balanceCandidates reads the pool and the budgets with their current
// cycle (the latest transfer that started one) and what they were allocated
// in it (computed once per cycle and kept in alert_cycles).
func (db *DB) balanceCandidates(ctx context.Context, orgID int64, settings orgbase.AlertSettings, now time.Time) ([]alertCandidate, error) {
	var rows []struct {
		AccountID   int64
		Kind        string
		Balance     int64
		WorkspaceID int64
		Name        string
		Path        string
		InID        *int64
		OutID       *int64
	}
	// Credits into the pool and budgets are few (top-ups, moves, refunds);
	// debits out of budgets are mostly usage, so moves out are found through
	// the partial index transfers_moves_out.
	err := db.q(ctx).Raw(`SELECT a.id AS account_id, a.kind, a.balance, w.id AS workspace_id, w.name, w.path,
			(SELECT MAX(t.id) FROM transfers t WHERE t.credit_account_id = a.id
				AND ((a.kind = 'pool' AND t.kind IN (`+poolTopUpKinds+`)) OR (a.kind = 'workspace' AND t.kind IN (`+budgetMoveKinds+`)))) AS in_id,
			CASE WHEN a.kind = 'workspace' THEN
				(SELECT MAX(t.id) FROM transfers t WHERE t.debit_account_id = a.id AND t.kind IN (`+budgetMoveKinds+`)) END AS out_id
		FROM accounts a JOIN workspaces w ON w.id = a.workspace_id
		WHERE a.org_id = ? AND w.archived_at IS NULL AND (a.kind = 'pool' OR (a.kind = 'workspace' AND w.funding_mode = ?))
		ORDER BY a.id`, orgID, orgbase.FundingBudget).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	var out []alertCandidate
	for _, r := range rows {
		start := max(deref(r.InID), deref(r.OutID))
		if start == 0 {
			continue // never funded
		}
		c := alertCandidate{subject: orgbase.AlertBudget, ws: r.WorkspaceID, account: r.AccountID, path: r.Path, name: r.Name,
			cycle: orgbase.AlertCycle(start), used: -r.Balance, thresholds: settings.Thresholds}
		if r.Kind == string(orgbase.AccountPool) {
			if settings.PoolThreshold() == 0 {
				continue
			}
			c.subject, c.thresholds = orgbase.AlertPool, []int{settings.PoolThreshold()}
		}
		out = append(out, c)
	}
	if len(out) == 0 {
		return nil, nil
	}
	if err := db.cycleBases(ctx, orgID, out, now); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].used += out[i].base // base − balance
	}
	return out, nil
}

func deref(p *int64) int64 {
	if p == nil {
		return 0
	}
	return *p
}

// cycleBases sets what each balance was allocated in its cycle: read from
// alert_cycles, or computed from the ledger the first time a cycle is seen
// and kept there. (A move between two budgets starts a cycle of both: the
// key includes the workspace.)
func (db *DB) cycleBases(ctx context.Context, orgID int64, cands []alertCandidate, now time.Time) error {
	type key struct {
		subject string
		ws      int64
		cycle   string
	}
	var cycles []string
	for _, c := range cands {
		cycles = append(cycles, c.cycle)
	}
	var rows []struct {
		Subject     string
		WorkspaceID int64
		Cycle       string
		Base        int64
	}
	if err := db.q(ctx).Raw("SELECT subject, workspace_id, cycle, base FROM alert_cycles WHERE org_id = ? AND cycle IN ?", orgID, cycles).
		Scan(&rows).Error; err != nil {
		return err
	}
	known := make(map[key]int64, len(rows))
	for _, r := range rows {
		known[key{r.Subject, r.WorkspaceID, r.Cycle}] = r.Base
	}
	for i := range cands {
		c := &cands[i]
		if base, ok := known[key{string(c.subject), c.ws, c.cycle}]; ok {
			c.base = base
			continue
		}
		transferID, err := strconv.ParseInt(c.cycle[1:], 10, 64)
		if err != nil {
			return err
		}
		base, err := db.balanceAfter(ctx, orgID, c.account, transferID)
		if err != nil {
			return err
		}
		// Two checks may compute it at once: they compute the same value
		// (the ledger up to the transfer does not change), the first insert wins.
		err = db.q(ctx).Exec(`INSERT INTO alert_cycles (org_id, subject, workspace_id, cycle, base, created_at)
			VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING`, orgID, string(c.subject), c.ws, c.cycle, base, now).Error
		if err != nil {
			return err
		}
		c.base = base
	}
	return nil
}

// balanceSlack bounds how much earlier than the transfer that started a
// cycle a later transfer of the same account may be stamped (its
// transaction read the clock before it queued for the account's lock).
const balanceSlack = time.Hour

// balanceAfter returns the balance of the account right after the transfer:
// its balance now minus the net of the account's later transfers, in one
// statement (one snapshot). A balance's transfers are serialized by its row
// lock, so their ids follow their commit order.
func (db *DB) balanceAfter(ctx context.Context, orgID, accountID, transferID int64) (int64, error) {
	var t transferRow
	if err := db.q(ctx).Select("id", "created_at").Take(&t, "org_id = ? AND id = ?", orgID, transferID).Error; err != nil {
		return 0, err
	}
	since := t.CreatedAt.Add(-balanceSlack)
	var out []int64
	err := db.q(ctx).Raw(`SELECT CAST(a.balance
			- COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.credit_account_id = a.id AND t.created_at >= ? AND t.id > ?), 0)
			+ COALESCE((SELECT SUM(t.amount) FROM transfers t WHERE t.debit_account_id = a.id AND t.created_at >= ? AND t.id > ?), 0) AS BIGINT)
		FROM accounts a WHERE a.org_id = ? AND a.id = ?`, since, transferID, since, transferID, orgID, accountID).Scan(&out).Error
	if err != nil {
		return 0, err
	}
	if len(out) == 0 {
		return 0, errors.New("balanceAfter: account not found")
	}
	return out[0], nil
}

// raisedAlerts returns which thresholds of the candidates' cycles are raised.
func (db *DB) raisedAlerts(ctx context.Context, orgID int64, cands []alertCandidate) (map[alertKey]bool, error) {
	seen := map[string]bool{}
	var cycles []string
	for _, c := range cands {
		if !seen[c.cycle] {
			seen[c.cycle] = true
			cycles = append(cycles, c.cycle)
		}
	}
	var rows []alertStateRow
	if err := db.q(ctx).Select("subject", "workspace_id", "threshold", "cycle").
		Where("org_id = ? AND cycle IN ?", orgID, cycles).Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make(map[alertKey]bool, len(rows))
	for _, r := range rows {
		out[alertKey{r.Subject, r.WorkspaceID, r.Threshold, r.Cycle}] = true
	}
	return out, nil
}

// alertRecipient is a member an alert goes to.
type alertRecipient struct {
	ID    int64
	Email string
	Name  string
}

// raiseAlerts records the due thresholds of one subject (ascending) and,
// when this transaction inserted any, notifies the recipients about the
// highest of them. It returns how many it inserted.
func (db *DB) raiseAlerts(ctx context.Context, org *orgAlertRow, c alertCandidate, due []int, now time.Time) (int, error) {
	sort.Ints(due)
	inserted := 0
	err := db.tx(ctx, func(tx *gorm.DB) error {
		inserted = 0
		var top *alertStateRow
		for _, th := range due {
			row := alertStateRow{OrgID: org.ID, Subject: string(c.subject), WorkspaceID: c.ws, Threshold: th, Cycle: c.cycle,
				Name: c.name, Used: c.used, Base: c.base, CreatedAt: now}
			var ids []int64
			err := tx.Raw(`INSERT INTO alert_states (org_id, subject, workspace_id, threshold, cycle, name, used, base, created_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING RETURNING id`,
				row.OrgID, row.Subject, row.WorkspaceID, row.Threshold, row.Cycle, row.Name, row.Used, row.Base, row.CreatedAt).Scan(&ids).Error
			if err != nil {
				return err
			}
			if len(ids) == 1 { // not raised by a concurrent check first
				inserted++
				row.ID = ids[0]
				top = &row
			}
		}
		if top == nil {
			return nil
		}
		alert := top.domain()
		var to []alertRecipient
		err := tx.Raw(`SELECT u.id, u.email, u.name FROM memberships m JOIN users u ON u.id = m.user_id
			WHERE m.org_id = ? AND m.status = ? AND (m.role IN ? OR m.user_id IN
				(SELECT g.user_id FROM workspace_grants g WHERE g.org_id = ? AND g.role = ? AND g.workspace_id IN ?))
			ORDER BY u.id`, org.ID, orgbase.MemberActive, []string{string(orgbase.RoleOwner), string(orgbase.RoleAdmin), string(orgbase.RoleBilling)},
			org.ID, orgbase.WorkspaceManager, orgbase.PathIDs(c.path)).Scan(&to).Error
		if err != nil || len(to) == 0 {
			return err
		}
		notes := make([]notificationRow, len(to))
		for i, r := range to {
			notes[i] = notificationRow{OrgID: org.ID, UserID: r.ID, AlertID: &alert.ID, Level: alert.Level(), Title: alert.Title(),
				Body: alert.Message(), Path: alert.Path(), CreatedAt: now}
		}
		if err := tx.Create(&notes).Error; err != nil {
			return err
		}
		for _, r := range to {
			e, err := db.composeAlert(AlertMail{To: orgbase.User{ID: r.ID, Email: r.Email, Name: r.Name}, OrgName: org.Name, OrgSlug: org.Slug, Alert: alert})
			if err != nil {
				return fmt.Errorf("compose alert email: %w", err)
			}
			orgID := org.ID
			e.OrgID = &orgID
			if err := insertEmail(tx, e, now); err != nil {
				return err
			}
		}
		return nil
	})
	return inserted, err
}

// FindAlerts returns the organization's alerts raised at or after since,
// newest first.
func (db *DB) FindAlerts(ctx context.Context, orgID int64, since time.Time) ([]orgbase.Alert, error) {
	var rows []alertStateRow
	if err := db.q(ctx).Where("org_id = ? AND created_at >= ?", orgID, since).Order("id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]orgbase.Alert, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// SweepAlerts runs CheckAlerts on every organization that has something to
// watch (a workspace limit, or credits in its ledger), for a periodic job
// that makes up for checks nobody asked for. It returns how many thresholds
// it raised and the first error; an error on one organization does not
// stop the others.
func (db *DB) SweepAlerts(ctx context.Context) (int, error) {
	var ids []int64
	err := db.q(ctx).Raw(`SELECT o.id FROM organizations o WHERE o.deleted_at IS NULL AND (
			EXISTS (SELECT 1 FROM workspaces w WHERE w.org_id = o.id AND w.monthly_limit IS NOT NULL AND w.archived_at IS NULL)
			OR EXISTS (SELECT 1 FROM transfers t WHERE t.org_id = o.id))
		ORDER BY o.id`).Scan(&ids).Error
	if err != nil {
		return 0, err
	}
	total := 0
	var first error
	for _, id := range ids {
		if ctx.Err() != nil {
			return total, ctx.Err()
		}
		n, err := db.CheckAlerts(ctx, id)
		total += n
		if err != nil && first == nil {
			first = fmt.Errorf("check alerts of organization %d: %w", id, err)
		}
	}
	return total, first
}

// NotificationFilter selects a page of a member's notifications.
type NotificationFilter struct {
	Before int64 // only notifications older than this id (the next page); 0 for the newest
	Limit  int   // at most this many; 0 means 50, and at most 200
	Unread bool  // only unread ones
}

// FindNotifications returns a member's notifications in one organization,
// newest first, and whether older ones match too. Another organization's
// or another member's notifications are never returned.
func (db *DB) FindNotifications(ctx context.Context, orgID, userID int64, f NotificationFilter) ([]orgbase.Notification, bool, error) {
	limit := f.Limit
	if limit <= 0 {
		limit = 50
	}
	limit = min(limit, 200)
	q := db.q(ctx).Where("org_id = ? AND user_id = ?", orgID, userID)
	if f.Before > 0 {
		q = q.Where("id < ?", f.Before)
	}
	if f.Unread {
		q = q.Where("read_at IS NULL")
	}
	var rows []notificationRow
	if err := q.Order("id DESC").Limit(limit + 1).Find(&rows).Error; err != nil {
		return nil, false, err
	}
	more := len(rows) > limit
	if more {
		rows = rows[:limit]
	}
	out := make([]orgbase.Notification, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, more, nil
}

// CountUnreadNotifications returns how many notifications the member has
// not read in the organization (the bell's number): one indexed count.
func (db *DB) CountUnreadNotifications(ctx context.Context, orgID, userID int64) (int, error) {
	var n int64
	err := db.q(ctx).Model(&notificationRow{}).Where("org_id = ? AND user_id = ? AND read_at IS NULL", orgID, userID).Count(&n).Error
	return int(n), err
}

// MarkNotificationsRead marks the member's unread notifications with the
// given ids (all of them when ids is empty) as read, and returns how many
// changed. Ids of another member or organization change nothing.
func (db *DB) MarkNotificationsRead(ctx context.Context, orgID, userID int64, ids ...int64) (int, error) {
	q := db.q(ctx).Model(&notificationRow{}).Where("org_id = ? AND user_id = ? AND read_at IS NULL", orgID, userID)
	if len(ids) > 0 {
		q = q.Where("id IN ?", ids)
	}
	res := q.Update("read_at", db.now())
	return int(res.RowsAffected), res.Error
}
