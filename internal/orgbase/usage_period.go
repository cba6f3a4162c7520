package orgbase

import (
	"slices"
	"time"
)

// Report periods: the ranges of whole UTC days usage reports cover (the
// Workspaces tab's usage columns). Days are written "YYYY-MM-DD", as the
// usage_daily rollups store them.

// UsagePeriod is a range of whole days, both ends included.
type UsagePeriod struct {
	Key   string // "month", "30d", "90d" or "all": the query parameter
	Label string // as people read it: "This month"
	From  string // first day, "YYYY-MM-DD"
	To    string // last day (today), "YYYY-MM-DD"
}

// UsagePeriodKeys are the periods the Workspaces tab offers, in menu
// order; the first is the default.
var UsagePeriodKeys = []string{"month", "30d", "90d"}

// MemberPeriodKeys are the periods of the Members tab and of a workspace's
// home page (SPEC §4.3: this month, last 30 days, all time); the first is
// the default.
var MemberPeriodKeys = []string{"month", "30d", "all"}

// AllTimeFrom is the first day of the "all" period: before any usage, and
// still a day CheckDayRange accepts, so every report reads it like any
// other range.
const AllTimeFrom = "0001-01-01"

// usagePeriodLabels names each period key.
var usagePeriodLabels = map[string]string{"month": "This month", "30d": "Last 30 days", "90d": "Last 90 days", "all": "All time"}

// UsagePeriodLabel is how people read a period key ("" for an unknown one).
func UsagePeriodLabel(key string) string { return usagePeriodLabels[key] }

// ResolveUsagePeriod is the period named by key, one of UsagePeriodKeys
// (the Workspaces tab's), as of now (UTC): this calendar month so far, or
// the last 30 or 90 days, today included. Any other key means this month.
func ResolveUsagePeriod(key string, now time.Time) UsagePeriod {
	return ResolvePeriodOf(UsagePeriodKeys, key, now)
}

// ResolvePeriodOf is the period named by key among the offered keys, as of
// now (UTC); a key not offered means the first (the default). "all" runs
// from AllTimeFrom to today.
func ResolvePeriodOf(offered []string, key string, now time.Time) UsagePeriod {
	if !slices.Contains(offered, key) {
		key = offered[0]
	}
	today := now.UTC()
	from := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC).Format(time.DateOnly)
	switch key {
	case "30d":
		from = today.AddDate(0, 0, -29).Format(time.DateOnly)
	case "90d":
		from = today.AddDate(0, 0, -89).Format(time.DateOnly)
	case "all":
		from = AllTimeFrom
	default:
		key = "month"
	}
	return UsagePeriod{Key: key, Label: usagePeriodLabels[key], From: from, To: today.Format(time.DateOnly)}
}

// CheckDayRange validates a range of days written "YYYY-MM-DD", from not
// after to. EINVALID otherwise.
func CheckDayRange(from, to string) error {
	f, err := time.Parse(time.DateOnly, from)
	if err != nil || f.Format(time.DateOnly) != from {
		return Errorf(EINVALID, "Choose a start day written as YYYY-MM-DD.")
	}
	t, err := time.Parse(time.DateOnly, to)
	if err != nil || t.Format(time.DateOnly) != to {
		return Errorf(EINVALID, "Choose an end day written as YYYY-MM-DD.")
	}
	if t.Before(f) {
		return Errorf(EINVALID, "The start day must not be after the end day.")
	}
	return nil
}

// LimitUse is how far a monthly limit is used, for the warnings of the
// Workspaces tab (SPEC §5.7's thresholds): "" below 80 %, "near" from 80 %,
// "reached" from 100 %. A zero limit is reached at once.
func LimitUse(used, limit Credits) string {
	switch {
	case limit <= 0 || used >= limit:
		return "reached"
	case LimitPercent(used, limit) >= 80:
		return "near"
	}
	return ""
}

// LimitPercent is used as a share of limit in whole percent, rounded down,
// from 0 to 100 (capped; 100 for a zero limit).
func LimitPercent(used, limit Credits) int {
	switch {
	case limit <= 0 || used >= limit:
		return 100
	case used <= 0:
		return 0
	case used <= MaxBalance/100:
		return int(used * 100 / limit) // 0 < used < limit: no overflow below MaxBalance
	}
	return int(used / (limit / 100))
}
