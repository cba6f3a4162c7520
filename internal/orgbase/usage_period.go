package orgbase

import "time"

// Report periods: the ranges of whole UTC days usage reports cover (the
// Workspaces tab's usage columns). Days are written "YYYY-MM-DD", as the
// usage_daily rollups store them.

// UsagePeriod is a range of whole days, both ends included.
type UsagePeriod struct {
	Key   string // "month", "30d" or "90d": the query parameter
	Label string // as people read it: "This month"
	From  string // first day, "YYYY-MM-DD"
	To    string // last day (today), "YYYY-MM-DD"
}

// UsagePeriodKeys are the periods a report offers, in menu order; the
// first is the default.
var UsagePeriodKeys = []string{"month", "30d", "90d"}

// usagePeriodLabels names each period key.
var usagePeriodLabels = map[string]string{"month": "This month", "30d": "Last 30 days", "90d": "Last 90 days"}

// UsagePeriodLabel is how people read a period key ("" for an unknown one).
func UsagePeriodLabel(key string) string { return usagePeriodLabels[key] }

// ResolveUsagePeriod is the period named by key as of now (UTC): this
// calendar month so far, or the last 30 or 90 days, today included. An
// unknown key means this month.
func ResolveUsagePeriod(key string, now time.Time) UsagePeriod {
	today := now.UTC()
	from := time.Date(today.Year(), today.Month(), 1, 0, 0, 0, 0, time.UTC)
	switch key {
	case "30d":
		from = today.AddDate(0, 0, -29)
	case "90d":
		from = today.AddDate(0, 0, -89)
	default:
		key = "month"
	}
	return UsagePeriod{Key: key, Label: usagePeriodLabels[key], From: from.Format(time.DateOnly), To: today.Format(time.DateOnly)}
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
