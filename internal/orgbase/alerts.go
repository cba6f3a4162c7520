package orgbase

import (
	"math/bits"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Alerts (SPEC §5.7). Three kinds of subject are watched:
//
//   - a workspace's monthly limit: used is this month's counter of the
//     workspace (its whole subtree, as limits count), base is the limit; the
//     cycle is the month ("2026-11"), so a new month resets the alerts;
//   - a budget-mode workspace's balance and
//   - the organization pool: base is what the balance "was allocated", its
//     balance right after the transfer that started the cycle, and used is
//     base minus the balance now. The cycle is that transfer ("t1234"): for
//     the pool each top-up (a grant, plan credits, a bought pack, an
//     adjustment into it), for a budget each change of its allocation
//     (credits moved into or out of it, an adjustment); see
//     StartsAlertCycle. So a top-up resets the alerts, and credits moved
//     away from a budget are never counted as spent. Refunds, and credits
//     budgets return to the pool, start no cycle.
//
// A threshold (a percentage) is reached when used*100 >= threshold*base: the
// one comparison, on integer milli-credits (AlertReached). Limits and budgets
// use the organization's thresholds (DefaultAlertThresholds unless changed);
// the pool has one low-balance level: it is reached when the pool has
// PoolAlertPercent of its base left or less (threshold 100 − that percent).
// Each threshold of a subject is raised once per cycle.

// AlertSubject is what an alert watches.
type AlertSubject string

// Alert subjects.
const (
	AlertWorkspaceLimit AlertSubject = "workspace_limit" // a workspace's monthly spend limit
	AlertBudget         AlertSubject = "budget"          // a budget-mode workspace's balance
	AlertPool           AlertSubject = "pool"            // the organization pool
)

// Valid reports whether s is one of the alert subjects.
func (s AlertSubject) Valid() bool {
	return s == AlertWorkspaceLimit || s == AlertBudget || s == AlertPool
}

// DefaultAlertThresholds are the percentages of a limit or a budget at which
// an organization is alerted unless it chose others.
var DefaultAlertThresholds = []int{50, 80, 100}

// DefaultPoolAlertPercent is the pool's low-balance level unless the
// organization chose another: alert when the pool holds 10 % or less of
// what it held right after its last top-up.
const DefaultPoolAlertPercent = 10

// MaxAlertThresholds bounds how many thresholds an organization may set.
const MaxAlertThresholds = 5

// AlertSettings are an organization's alert levels.
type AlertSettings struct {
	// Thresholds are percentages (1–100, ascending) of a workspace limit or
	// of a budget's allocation.
	Thresholds []int
	// PoolPercent is the pool's low-balance level: alert when the pool holds
	// this percentage (1–99) of its last top-up's resulting balance or less;
	// 0 turns the pool alert off.
	PoolPercent int
}

// DefaultAlertSettings are the settings of an organization that changed nothing.
func DefaultAlertSettings() AlertSettings {
	return AlertSettings{Thresholds: slices.Clone(DefaultAlertThresholds), PoolPercent: DefaultPoolAlertPercent}
}

// PoolThreshold is the pool's level as a share used: 100 − PoolPercent
// (0 when the pool alert is off).
func (s AlertSettings) PoolThreshold() int {
	if s.PoolPercent <= 0 || s.PoolPercent >= 100 {
		return 0
	}
	return 100 - s.PoolPercent
}

// FormatAlertThresholds writes thresholds as stored and typed: "50,80,100".
func FormatAlertThresholds(ts []int) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strconv.Itoa(t)
	}
	return strings.Join(parts, ",")
}

// ParseAlertThresholds reads percentages separated by commas or spaces
// ("50, 80, 100", "50 80 100%"), and returns them sorted and without
// duplicates. Each must be a whole number from 1 to 100; at least one and at
// most MaxAlertThresholds. EINVALID on the "thresholds" field otherwise.
func ParseAlertThresholds(s string) ([]int, error) {
	bad := func(msg string) error {
		return &Error{Code: EINVALID, Message: msg, Fields: map[string]string{"thresholds": msg}}
	}
	fields := strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ' ' || r == ';' || r == '\t' })
	var out []int
	for _, f := range fields {
		f = strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(f), "%"))
		if f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || len(f) > 3 || n < 1 || n > 100 {
			return nil, bad("Enter whole percentages from 1 to 100, such as 50, 80, 100.")
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	switch {
	case len(out) == 0:
		return nil, bad("Enter at least one percentage, such as 50, 80, 100.")
	case len(out) > MaxAlertThresholds:
		return nil, bad("Choose at most " + strconv.Itoa(MaxAlertThresholds) + " percentages.")
	}
	slices.Sort(out)
	return out, nil
}

// Validate checks settings as a person sets them: EINVALID naming the field
// ("thresholds" or "pool_percent").
func (s AlertSettings) Validate() error {
	var v Validator
	if _, err := ParseAlertThresholds(FormatAlertThresholds(s.Thresholds)); err != nil || len(s.Thresholds) == 0 {
		v.Check(false, "thresholds", "Enter whole percentages from 1 to 100, such as 50, 80, 100.")
	}
	v.Check(s.PoolPercent >= 0 && s.PoolPercent <= 99, "pool_percent", "Enter a percentage from 1 to 99, or 0 to turn the pool alert off.")
	return v.Err()
}

// AlertReached is the one comparison of every alert: a threshold (a
// percentage) of base is reached when used*100 >= threshold*base. It is
// computed on 128 bits, so no amount can overflow it. Nothing is reached
// on a base of zero or less (a limit of zero blocks all spending: there is
// nothing to warn about) or with nothing used.
func AlertReached(used, base Credits, threshold int) bool {
	if base <= 0 || used <= 0 || threshold <= 0 {
		return false
	}
	uh, ul := bits.Mul64(uint64(used), 100)
	bh, bl := bits.Mul64(uint64(threshold), uint64(base))
	return uh > bh || uh == bh && ul >= bl
}

// AlertCycle is the cycle of a balance alert: the id of the transfer that
// started it.
func AlertCycle(transferID int64) string { return "t" + strconv.FormatInt(transferID, 10) }

// StartsAlertCycle reports whether a transfer of kind k into (in) or out of
// a balance of kind acct starts a new alert cycle of that balance. The pool's
// cycle starts with each top-up: a grant, plan credits, a bought pack or an
// operator's adjustment into it. A budget's starts with each change of its
// allocation: credits moved into or out of it (including the return of its
// balance when it switches to shared) or an adjustment. Usage, refunds and
// expiry never start one.
func StartsAlertCycle(k TransferKind, acct AccountKind, in bool) bool {
	switch acct {
	case AccountPool:
		return in && (k == TransferGrant || k == TransferPlanGrant || k == TransferTopUp || k == TransferAdjustment)
	case AccountWorkspace:
		return k == TransferMove || k == TransferAdjustment
	}
	return false
}

// Alert is one threshold of one subject raised in one cycle.
type Alert struct {
	ID          int64
	OrgID       int64
	Subject     AlertSubject
	WorkspaceID int64  // the workspace watched (the Primary for the pool)
	Name        string // the workspace's name when raised
	Threshold   int    // the percentage reached (for the pool: the share used)
	Cycle       string // "2026-11" for limits, "t<transfer id>" for balances
	Used        Credits
	Base        Credits // the limit, or what the balance was allocated
	CreatedAt   time.Time
}

// Left is what remains of the base (never below zero).
func (a *Alert) Left() Credits { return max(a.Base-a.Used, 0) }

// Critical reports whether the alert says the subject is exhausted: red
// rather than amber.
func (a *Alert) Critical() bool { return a.Threshold >= 100 }

// Level is "critical" or "warning".
func (a *Alert) Level() string {
	if a.Critical() {
		return NotificationCritical
	}
	return NotificationWarning
}

// Path is the page an alert points to, relative to its organization's URL
// ("/orgs/{slug}"): the workspace's home, or the overview for the pool.
func (a *Alert) Path() string {
	if a.Subject == AlertPool {
		return ""
	}
	return "/workspaces/" + strconv.FormatInt(a.WorkspaceID, 10)
}

// Title is the alert in one line.
func (a *Alert) Title() string {
	pct := strconv.Itoa(a.Threshold) + "%"
	switch a.Subject {
	case AlertWorkspaceLimit:
		if a.Threshold >= 100 {
			return a.Name + " reached its monthly limit"
		}
		return a.Name + " has used " + pct + " of its monthly limit"
	case AlertBudget:
		if a.Threshold >= 100 {
			return a.Name + " has used up its budget"
		}
		return a.Name + " has used " + pct + " of its budget"
	}
	return "The organization pool is running low"
}

// Message explains the alert and what to do about it.
func (a *Alert) Message() string {
	switch a.Subject {
	case AlertWorkspaceLimit:
		s := a.Name + " has used " + a.Used.String() + " of its monthly limit of " + a.Base.String() + " credits in " + PeriodLabel(a.Cycle) + "."
		if a.Threshold >= 100 {
			return s + " Charges to it are refused until the limit is raised or the month ends."
		}
		return s + " Charges are refused once the limit is reached; the counter resets at the start of next month."
	case AlertBudget:
		s := a.Name + " has " + a.Left().String() + " credits left of the " + a.Base.String() + " allocated to it."
		if a.Threshold >= 100 {
			return a.Name + " has no credits left of the " + a.Base.String() + " allocated to it. Charges to it are refused until credits are moved to it."
		}
		return s + " Move credits to it before it runs out."
	}
	return "The organization pool has " + a.Left().String() + " credits left of the " + a.Base.String() +
		" it held after its last top-up. Buy more credits before workspaces that share the pool are refused."
}

// Notification levels.
const (
	NotificationInfo     = "info"
	NotificationWarning  = "warning"
	NotificationCritical = "critical"
)

// Notification is one in-app notification of one member in one organization.
type Notification struct {
	ID        int64
	OrgID     int64
	UserID    int64
	AlertID   *int64
	Level     string // NotificationInfo, NotificationWarning or NotificationCritical
	Title     string
	Body      string
	Path      string // the page it points to, relative to the organization's URL
	CreatedAt time.Time
	ReadAt    *time.Time
}

// Unread reports whether the member has not read it yet.
func (n *Notification) Unread() bool { return n.ReadAt == nil }
