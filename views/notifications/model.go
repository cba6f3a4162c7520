// Package notifications renders a member's in-app notifications: the page,
// the bell's menu, and the alert levels of the organization.
package notifications

import (
	"strconv"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Model is the notifications page's view model.
type Model struct {
	Items      []orgbase.Notification
	Unread     int   // unread in the organization (all pages, whatever the filter)
	OnlyUnread bool  // the "Unread" filter is on
	Next       int64 // cursor of the next page (the last item's id), 0 when there is none
	Paged      bool  // a later page: offer a way back to the newest
	Now        time.Time

	Settings orgbase.AlertSettings
	CanEdit  bool // may change the alert levels (owners, admins)
	// The alert levels form: its values and field errors, kept on a 422.
	Thresholds  string
	PoolPercent string
	Errors      map[string]string
}

// ItemID is the stable DOM id of a notification.
func ItemID(n orgbase.Notification) string { return "notification-" + strconv.FormatInt(n.ID, 10) }

// Ago says how long ago t was, as people say it: "just now", "5 min ago",
// "3 h ago", "yesterday", "4 days ago", then the date.
func Ago(now, t time.Time) string {
	d := now.Sub(t)
	switch {
	case d < time.Minute:
		return "just now"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + " min ago"
	case d < 24*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + " h ago"
	case d < 48*time.Hour:
		return "yesterday"
	case d < 7*24*time.Hour:
		return strconv.Itoa(int(d/(24*time.Hour))) + " days ago"
	}
	return t.UTC().Format("Jan 2, 2006")
}

// Percents writes thresholds as people read them: "50 %, 80 % and 100 %".
func Percents(ts []int) string {
	parts := make([]string, len(ts))
	for i, t := range ts {
		parts[i] = strconv.Itoa(t) + " %"
	}
	if len(parts) <= 1 {
		return strings.Join(parts, "")
	}
	return strings.Join(parts[:len(parts)-1], ", ") + " and " + parts[len(parts)-1]
}
