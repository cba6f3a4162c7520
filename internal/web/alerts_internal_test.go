package web

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// countingAlerts records the checks alertSoon runs.
type countingAlerts struct {
	AlertStore
	mu     sync.Mutex
	checks map[int64][]time.Time
	fail   bool
}

func (a *countingAlerts) CheckAlerts(ctx context.Context, orgID int64) (int, error) {
	if _, ok := ctx.Deadline(); !ok {
		return 0, errors.New("the check runs without a deadline")
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	a.checks[orgID] = append(a.checks[orgID], time.Now())
	if a.fail {
		return 0, errors.New("database unavailable")
	}
	return 0, nil
}

func (a *countingAlerts) count(orgID int64) int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.checks[orgID])
}

func (a *countingAlerts) SetAlertMailer(store.AlertMailer) {}

func (a *countingAlerts) FindAlertSettings(context.Context, int64) (orgbase.AlertSettings, error) {
	return orgbase.DefaultAlertSettings(), nil
}

func waitUntil(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAlertSoonCoalescesPerOrganization(t *testing.T) {
	defer func(d time.Duration) { alertInterval = d }(alertInterval)
	alertInterval = 2 * time.Second
	a := &countingAlerts{checks: map[int64][]time.Time{}}
	s := &Server{alerts: a, log: slog.New(slog.DiscardHandler)}

	// The first request runs a check at once.
	s.alertSoon(1)
	waitUntil(t, "the first check", time.Second, func() bool { return a.count(1) == 1 })

	// A burst right after is served by one check, at the end of the interval.
	for range 50 {
		s.alertSoon(1)
	}
	s.alertSoon(2) // another organization is not held back
	waitUntil(t, "org 2's check", time.Second, func() bool { return a.count(2) == 1 })
	time.Sleep(alertInterval / 2)
	if got := a.count(1); got != 1 {
		t.Fatalf("%d checks within the interval, want 1", got)
	}
	waitUntil(t, "the trailing check", 2*alertInterval, func() bool { return a.count(1) == 2 })
	time.Sleep(alertInterval / 4)
	if got := a.count(1); got != 2 {
		t.Fatalf("%d checks after the burst, want 2", got)
	}
	a.mu.Lock()
	gap := a.checks[1][1].Sub(a.checks[1][0])
	a.mu.Unlock()
	if gap < alertInterval-50*time.Millisecond {
		t.Errorf("checks %s apart, want at least %s", gap, alertInterval)
	}

	// A failed check is logged, and the next request checks again.
	a.mu.Lock()
	a.fail = true
	a.mu.Unlock()
	s.alertSoon(2)
	waitUntil(t, "the failing check", 2*alertInterval, func() bool { return a.count(2) == 2 })
	s.alertSoon(2)
	waitUntil(t, "the check after a failure", 2*alertInterval, func() bool { return a.count(2) == 3 })

	// Without an alert store, nothing happens.
	(&Server{}).alertSoon(1)
}
