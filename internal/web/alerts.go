package web

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// AlertStore is what alerts and in-app notifications need (SPEC §5.7).
type AlertStore interface {
	// CheckAlerts raises every alert reached and not raised yet in its
	// cycle; safe to run repeatedly and concurrently.
	CheckAlerts(ctx context.Context, orgID int64) (int, error)
	// SetAlertMailer sets how alert emails are composed.
	SetAlertMailer(m store.AlertMailer)
	FindAlertSettings(ctx context.Context, orgID int64) (orgbase.AlertSettings, error)
	SetAlertSettings(ctx context.Context, orgID int64, by orgbase.Access, s orgbase.AlertSettings) (orgbase.AlertSettings, error)
	CountUnreadNotifications(ctx context.Context, orgID, userID int64) (int, error)
	FindNotifications(ctx context.Context, orgID, userID int64, f store.NotificationFilter) ([]orgbase.Notification, bool, error)
	MarkNotificationsRead(ctx context.Context, orgID, userID int64, ids ...int64) (int, error)
}

// alertMail composes an alert email with the server's composer, linking to
// the public URL.
func (s *Server) alertMail(m store.AlertMail) (*orgbase.Email, error) {
	return s.composer.Alert(&m.To, m.OrgName, &m.Alert, s.cfg.URL(m.Path()))
}

// alertInterval is how often, at most, one organization's alerts are
// checked on request of this server.
const alertInterval = 2 * time.Second

// alertCheckTimeout bounds one background check.
const alertCheckTimeout = 30 * time.Second

// alertQueue coalesces the requests for an alert check, per organization:
// at most one check runs per alertInterval, and requests that arrive in
// between are served by one check at the end of the interval. Its zero
// value is ready.
type alertQueue struct {
	mu   sync.Mutex
	orgs map[int64]*alertDue
}

// alertDue is one organization's state in the queue.
type alertDue struct {
	scheduled bool      // a check is waiting to run
	last      time.Time // when the latest check started
}

// alertSoon asks for a check of the organization's alerts after something
// changed its credits or limits: in the background, on a context of its own
// (the request may be long gone), at most once per organization every
// alertInterval. Checks are state-based and idempotent, so one check after
// a burst of changes sees them all, and a failed check is made up by the
// next one; failures are logged as warnings for that reason.
func (s *Server) alertSoon(orgID int64) {
	if s.alerts == nil || orgID == 0 {
		return
	}
	q := &s.alertQueue
	now := time.Now()
	q.mu.Lock()
	if q.orgs == nil {
		q.orgs = map[int64]*alertDue{}
	}
	if len(q.orgs) > 10_000 { // forget organizations that went quiet
		for id, d := range q.orgs {
			if !d.scheduled && now.Sub(d.last) > alertInterval {
				delete(q.orgs, id)
			}
		}
	}
	d := q.orgs[orgID]
	if d == nil {
		d = &alertDue{}
		q.orgs[orgID] = d
	}
	if d.scheduled {
		q.mu.Unlock()
		return // the check already waiting will see this change too
	}
	d.scheduled = true
	wait := max(d.last.Add(alertInterval).Sub(now), 0)
	q.mu.Unlock()
	time.AfterFunc(wait, func() { s.checkAlertsNow(orgID) })
}

// checkAlertsNow runs one scheduled check.
func (s *Server) checkAlertsNow(orgID int64) {
	q := &s.alertQueue
	q.mu.Lock()
	if d := q.orgs[orgID]; d != nil {
		// Changes from now on schedule the next check.
		d.scheduled, d.last = false, time.Now()
	}
	q.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), alertCheckTimeout)
	defer cancel()
	n, err := s.alerts.CheckAlerts(ctx, orgID)
	if err != nil {
		s.log.Warn("alert check failed; the next one makes up for it", slog.Int64("org_id", orgID), slog.String("error", err.Error()))
		return
	}
	if n > 0 {
		s.log.Info("alerts raised", slog.Int64("org_id", orgID), slog.Int("thresholds", n))
	}
}
