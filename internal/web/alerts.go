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

// alertInterval is the least time between the end of one check of an
// organization's alerts and the start of the next, on request of this
// server. A check of an organization with many budget workspaces costs
// real database time (see store.CheckAlerts), so under steady charging it
// runs every ten seconds, never back to back. A variable for tests.
var alertInterval = 10 * time.Second

// alertCheckTimeout bounds one background check.
const alertCheckTimeout = 30 * time.Second

// alertQueue coalesces the requests for an alert check, per organization:
// one check at a time, at least alertInterval after the previous one ended;
// requests that arrive in between are served by one check at the end of the
// interval. Its zero value is ready.
type alertQueue struct {
	mu   sync.Mutex
	orgs map[int64]*alertDue
}

// alertDue is one organization's state in the queue.
type alertDue struct {
	scheduled bool      // a check is waiting to run
	running   bool      // a check is running
	again     bool      // a change arrived while it ran: check again after the interval
	last      time.Time // when the latest check ended
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
	if d.running {
		d.again = true // the running check may have read before this change
		q.mu.Unlock()
		return
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
		d.scheduled, d.running = false, true
	}
	q.mu.Unlock()
	defer func() {
		// Changes made while this check ran get one more check, an
		// interval after this one ended: checks never run back to back.
		q.mu.Lock()
		if d := q.orgs[orgID]; d != nil {
			d.running, d.last = false, time.Now()
			if d.again {
				d.again, d.scheduled = false, true
				time.AfterFunc(alertInterval, func() { s.checkAlertsNow(orgID) })
			}
		}
		q.mu.Unlock()
	}()
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
