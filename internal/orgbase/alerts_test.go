package orgbase

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestAlertReached(t *testing.T) {
	max := Credits(math.MaxInt64)
	for _, c := range []struct {
		used, base Credits
		threshold  int
		want       bool
	}{
		{50 * Credit, 100 * Credit, 50, true},    // exactly at the threshold
		{50*Credit - 1, 100 * Credit, 50, false}, // one milli-credit short
		{100 * Credit, 100 * Credit, 100, true},  // the limit reached
		{150 * Credit, 100 * Credit, 100, true},  // past it (a limit lowered)
		{1, 3, 33, true}, {1, 3, 34, false},      // no rounding: 100 >= 99, 100 < 102
		{0, 100, 50, false}, {-1, 100, 1, false}, // nothing used (or refunds)
		{100, 0, 50, false}, {100, -5, 50, false}, // no base: nothing to warn about
		{100, 100, 0, false},                              // no threshold
		{max, max, 100, true}, {max - 1, max, 100, false}, // no overflow
	} {
		if got := AlertReached(c.used, c.base, c.threshold); got != c.want {
			t.Errorf("AlertReached(%d, %d, %d) = %v, want %v", c.used, c.base, c.threshold, got, c.want)
		}
	}
}

func TestParseAlertThresholds(t *testing.T) {
	for in, want := range map[string]string{
		"50,80,100":          "50,80,100",
		" 100, 50 ,80 ":      "50,80,100",
		"50 80% 100%":        "50,80,100",
		"90;90;75":           "75,90",
		"1":                  "1",
		"100":                "100",
		"10, 20, 30, 40, 50": "10,20,30,40,50",
	} {
		got, err := ParseAlertThresholds(in)
		if err != nil || FormatAlertThresholds(got) != want {
			t.Errorf("ParseAlertThresholds(%q) = %v, %v; want %s", in, got, err, want)
		}
	}
	for _, in := range []string{"", " , ", "0", "101", "50.5", "-10", "abc", "0050", "10,20,30,40,50,60", "1e2"} {
		if _, err := ParseAlertThresholds(in); ErrorCode(err) != EINVALID || ErrorFields(err)["thresholds"] == "" {
			t.Errorf("ParseAlertThresholds(%q): got %v, want EINVALID on thresholds", in, err)
		}
	}
}

func TestAlertSettings(t *testing.T) {
	d := DefaultAlertSettings()
	if FormatAlertThresholds(d.Thresholds) != "50,80,100" || d.PoolPercent != 10 || d.PoolThreshold() != 90 {
		t.Fatalf("defaults = %+v (pool threshold %d)", d, d.PoolThreshold())
	}
	d.Thresholds[0] = 1
	if DefaultAlertThresholds[0] != 50 {
		t.Fatal("DefaultAlertSettings shares its slice with DefaultAlertThresholds")
	}
	if (AlertSettings{Thresholds: []int{50}, PoolPercent: 0}).PoolThreshold() != 0 {
		t.Error("pool percent 0 should turn the pool alert off")
	}
	for _, bad := range []AlertSettings{{}, {Thresholds: []int{0}}, {Thresholds: []int{50}, PoolPercent: -1}, {Thresholds: []int{50}, PoolPercent: 100}} {
		if err := bad.Validate(); ErrorCode(err) != EINVALID {
			t.Errorf("Validate(%+v) = %v, want EINVALID", bad, err)
		}
	}
	if err := (AlertSettings{Thresholds: []int{75}, PoolPercent: 99}).Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
}

// The store queries with these kinds written out as SQL literals
// (poolTopUpKinds, budgetMoveKinds) and a partial index carries the budget's:
// they must stay what StartsAlertCycle says.
func TestStartsAlertCycle(t *testing.T) {
	kinds := []TransferKind{TransferPlanGrant, TransferTopUp, TransferMove, TransferUsage, TransferRefund, TransferExpiry, TransferAdjustment, TransferGrant}
	collect := func(acct AccountKind, in bool) []string {
		var out []string
		for _, k := range kinds {
			if StartsAlertCycle(k, acct, in) {
				out = append(out, string(k))
			}
		}
		slices.Sort(out)
		return out
	}
	check := func(name string, got, want []string) {
		t.Helper()
		if !slices.Equal(got, want) {
			t.Errorf("%s: %v, want %v", name, got, want)
		}
	}
	check("pool, in", collect(AccountPool, true), []string{"adjustment", "grant", "plan_grant", "top_up"})
	check("pool, out", collect(AccountPool, false), nil)
	check("budget, in", collect(AccountWorkspace, true), []string{"adjustment", "transfer"})
	check("budget, out", collect(AccountWorkspace, false), []string{"adjustment", "transfer"})
	check("usage account", collect(AccountUsage, true), nil)
}

func TestAlertTexts(t *testing.T) {
	limit := Alert{Subject: AlertWorkspaceLimit, WorkspaceID: 7, Name: "Team", Threshold: 80, Cycle: "2026-11", Used: 80 * Credit, Base: 100 * Credit}
	if limit.Title() != "Team has used 80% of its monthly limit" || limit.Level() != NotificationWarning || limit.Path() != "/workspaces/7" ||
		!strings.Contains(limit.Message(), "80 of its monthly limit of 100 credits in November 2026") {
		t.Errorf("limit alert: %q / %q / %s / %s", limit.Title(), limit.Message(), limit.Level(), limit.Path())
	}
	limit.Threshold, limit.Used = 100, 100*Credit
	if limit.Title() != "Team reached its monthly limit" || limit.Level() != NotificationCritical {
		t.Errorf("limit alert at 100 %%: %q %s", limit.Title(), limit.Level())
	}
	budget := Alert{Subject: AlertBudget, WorkspaceID: 7, Name: "Team", Threshold: 50, Used: 62500, Base: 125 * Credit}
	if budget.Title() != "Team has used 50% of its budget" || !strings.Contains(budget.Message(), "62.5 credits left of the 125 allocated") {
		t.Errorf("budget alert: %q / %q", budget.Title(), budget.Message())
	}
	pool := Alert{Subject: AlertPool, WorkspaceID: 1, Name: "Primary", Threshold: 90, Used: 900 * Credit, Base: 1000 * Credit}
	if pool.Title() != "The organization pool is running low" || pool.Path() != "" || pool.Level() != NotificationWarning ||
		!strings.Contains(pool.Message(), "100 credits left of the 1,000 it held after its last top-up") {
		t.Errorf("pool alert: %q / %q", pool.Title(), pool.Message())
	}
	if (&Alert{Used: 120, Base: 100}).Left() != 0 {
		t.Error("Left below zero")
	}
}
