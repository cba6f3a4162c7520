package orgbase

import (
	"math"
	"time"
)

// Monthly limits (SPEC §5.4). A workspace and a member of an organization
// may each have a monthly limit in credits; a charge must fit the limit of
// the charged workspace, of every ancestor that has one, and of the member
// who acted. Months are calendar months in UTC.

// Fits is the one comparison every limit check uses: a charge of amount is
// accepted when used + amount <= limit. It cannot overflow: a sum beyond the
// int64 range compares as what it mathematically is.
func Fits(used, amount, limit Credits) bool {
	switch {
	case used > 0 && amount > Credits(math.MaxInt64)-used:
		return false // the sum is above MaxInt64, hence above any limit
	case used < 0 && amount < Credits(math.MinInt64)-used:
		return true // the sum is below MinInt64, hence below any limit
	}
	return used+amount <= limit
}

// Period is the limit period that t falls in: its calendar month in UTC,
// written "YYYY-MM".
func Period(t time.Time) string { return t.UTC().Format(periodLayout) }

const periodLayout = "2006-01"

// ParsePeriod checks a period written "YYYY-MM" and returns the instant it
// starts (UTC). EINVALID otherwise.
func ParsePeriod(p string) (time.Time, error) {
	t, err := time.Parse(periodLayout, p)
	if err != nil || Period(t) != p {
		return time.Time{}, Errorf(EINVALID, "Choose a month written as YYYY-MM.")
	}
	return t, nil
}

// PeriodLabel is a period as people read it: "June 2025" (the period itself
// when it is not "YYYY-MM").
func PeriodLabel(p string) string {
	t, err := ParsePeriod(p)
	if err != nil {
		return p
	}
	return t.Format("January 2006")
}

// CheckLimit validates a monthly limit as set by a person: nil (no limit)
// or between zero (nothing may be spent) and MaxCredits. EINVALID otherwise,
// with a message on the "monthly_limit" field.
func CheckLimit(limit *Credits) error {
	switch {
	case limit == nil:
		return nil
	case *limit < 0:
		return &Error{Code: EINVALID, Message: "A limit cannot be negative.",
			Fields: map[string]string{"monthly_limit": "Enter zero or more credits, or leave empty for no limit."}}
	case *limit > MaxCredits:
		return &Error{Code: EINVALID, Message: "That limit is too large.",
			Fields: map[string]string{"monthly_limit": "That limit is too large."}}
	}
	return nil
}

// LimitScope says what a monthly limit applies to.
type LimitScope string

// Limit scopes (the scope column of limit_periods).
const (
	LimitWorkspace LimitScope = "workspace" // a workspace and everything below it
	LimitMember    LimitScope = "member"    // one member, across the organization
)

// LimitReached is the refusal of a charge that does not fit a monthly limit
// (Fits(Used, Amount, Limit) is false): it names the workspace (id and
// name) or the member whose limit was reached. It unwraps to an *Error with
// code ECONFLICT (the request is valid; this month's spending refuses it),
// so ErrorCode and ErrorMessage work on it; the usage API maps it to
// limit_reached.
type LimitReached struct {
	Scope         LimitScope
	WorkspaceID   int64  // LimitWorkspace: the workspace whose limit refused
	WorkspaceName string // LimitWorkspace
	UserID        int64  // LimitMember: the member whose limit refused
	MemberName    string // LimitMember: their name (or email)
	Period        string // "YYYY-MM"
	Limit         Credits
	Used          Credits // before the refused charge
	Amount        Credits // the refused charge
}

// Message says which limit refused and by how much, in words a person can act on.
func (e *LimitReached) Message() string {
	left := e.Limit - e.Used
	if left < 0 {
		left = 0
	}
	what := "the monthly member limit of " + e.MemberName
	if e.Scope == LimitWorkspace {
		what = "the monthly limit of " + e.WorkspaceName
	}
	return "This charge of " + e.Amount.String() + " credits would pass " + what + " (" + e.Limit.String() +
		" credits; " + e.Used.String() + " used in " + PeriodLabel(e.Period) + ", " + left.String() + " left)."
}

// Error implements error.
func (e *LimitReached) Error() string {
	return "orgbase limit reached: scope=" + string(e.Scope) + " " + e.Message()
}

// Unwrap exposes the refusal as an ECONFLICT *Error.
func (e *LimitReached) Unwrap() error { return &Error{Code: ECONFLICT, Message: e.Message()} }

// CanSetWorkspaceLimit reports whether the actor may set or clear the
// monthly limit of the workspace: they manage its parent, as for archiving
// and funding modes, so a manager cannot raise the limit of the workspace
// they were granted (only those of the workspaces below it). The Primary
// workspace has no parent: only owners and admins set its limit.
func (a Access) CanSetWorkspaceLimit(ws *Workspace) bool {
	if ws.IsPrimary() {
		return a.SeesAll()
	}
	return a.CanManage(ws.ParentPath())
}

// CanSetMemberLimit reports whether the actor may set or clear the target's
// monthly member limit: the CanActOnMember rules (owners for anyone, admins
// for everyone but owners).
func (a Access) CanSetMemberLimit(target *Membership) bool {
	return CanActOnMember(a.Membership, target)
}
