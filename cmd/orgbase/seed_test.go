package main

import (
	"context"
	"maps"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// seed --demo charges 90 days of usage through the charging service: the
// ledger balances, the events are dated on their days (as are their
// transfers and the daily rollups), weekdays are busier than weekends, both
// categories and every role appear, and a second seed changes nothing.
func TestRunSeedDemo(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			dbURL := dbtest.URL(t, dialect)
			env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
			start := time.Now()
			code, stdout, stderr := runCmd(t, env, "seed", "--demo", "--if-empty")
			if code != exitOK {
				t.Fatalf("seed --demo: exit %d; stderr: %s", code, stderr)
			}
			t.Logf("seed --demo took %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(stdout))
			if !regexp.MustCompile(`^seeded demo organization "demo" with \d{3,} usage events over 90 days \([\d,.]+ credits\); log in as demo@orgbase\.test / orgbase-demo-password\n$`).MatchString(stdout) {
				t.Errorf("seed --demo printed %q", stdout)
			}
			if code, stdout, stderr := runCmd(t, env, "ledger", "check"); code != exitOK || !strings.HasPrefix(stdout, "ledger ok: ") {
				t.Errorf("ledger check after seed --demo: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}

			ctx := context.Background()
			db, err := store.Open(ctx, dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			org, err := db.FindOrgBySlug(ctx, demoOrgSlug)
			if err != nil {
				t.Fatal(err)
			}
			q := func(query string, args ...any) [][]any {
				t.Helper()
				rows, err := db.SQL().QueryContext(ctx, query, args...)
				if err != nil {
					t.Fatalf("%s: %v", query, err)
				}
				defer rows.Close()
				cols, _ := rows.Columns()
				var out [][]any
				for rows.Next() {
					row := make([]any, len(cols))
					ptrs := make([]any, len(cols))
					for i := range row {
						ptrs[i] = &row[i]
					}
					if err := rows.Scan(ptrs...); err != nil {
						t.Fatal(err)
					}
					out = append(out, row)
				}
				if err := rows.Err(); err != nil {
					t.Fatal(err)
				}
				return out
			}
			ph := func(query string) string { // $n placeholders on PostgreSQL
				if db.Dialect() != store.Postgres {
					return query
				}
				for i := 1; strings.Contains(query, "?"); i++ {
					query = strings.Replace(query, "?", "$"+string(rune('0'+i)), 1)
				}
				return query
			}
			str := func(v any) string {
				switch s := v.(type) {
				case string:
					return s
				case []byte:
					return string(s)
				case time.Time:
					return s.UTC().Format(time.DateOnly)
				}
				t.Fatalf("not a string: %T %v", v, v)
				return ""
			}

			num := func(v any) int64 {
				switch n := v.(type) {
				case int64:
					return n
				case int32:
					return int64(n)
				case float64:
					return int64(n)
				case string, []byte: // PostgreSQL's SUM is numeric
					if i, err := strconv.ParseInt(str(n), 10, 64); err == nil {
						return i
					}
				}
				t.Fatalf("not a number: %T %v", v, v)
				return 0
			}

			// Every event is dated (to the microsecond) as its transfer;
			// none is in the future or older than the 90 days.
			now := time.Now().UTC()
			first := time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -(demoDays - 1))
			if r := q(ph(`SELECT COUNT(*) FROM usage_events e JOIN transfers t ON t.id = e.transfer_id
				WHERE e.org_id = ? AND (t.created_at <> e.created_at OR t.amount <> e.credits OR t.kind <> 'usage')`), org.ID); num(r[0][0]) != 0 {
				t.Errorf("%d usage events differ from their transfer in time, amount or kind", num(r[0][0]))
			}
			if r := q(ph(`SELECT COUNT(*) FROM usage_events WHERE org_id = ? AND (created_at > ? OR created_at < ?)`), org.ID, now, first); num(r[0][0]) != 0 {
				t.Errorf("%d usage events outside %s … now", num(r[0][0]), first.Format(time.DateOnly))
			}
			// The rollups carry each event on its day.
			perDay := map[string]int64{}
			for _, r := range q(ph(`SELECT created_at FROM usage_events WHERE org_id = ?`), org.ID) {
				at, ok := r[0].(time.Time)
				if !ok {
					if at, err = time.Parse("2006-01-02 15:04:05.999999999-07:00", str(r[0])); err != nil {
						t.Fatalf("created_at %v: %v", r[0], err)
					}
				}
				perDay[at.UTC().Format(time.DateOnly)]++
			}
			rolled := map[string]int64{}
			for _, r := range q(ph(`SELECT day, SUM(events) FROM usage_daily WHERE org_id = ? GROUP BY day`), org.ID) {
				rolled[str(r[0])] = num(r[1])
			}
			if len(perDay) == 0 || len(rolled) != len(perDay) {
				t.Errorf("events on %d days, rollups on %d", len(perDay), len(rolled))
			}
			for day, n := range perDay {
				if rolled[day] != n {
					t.Errorf("%s: %d events, the rollup counts %d", day, n, rolled[day])
				}
			}

			// So do the per-workspace and per-member rollups (migration
			// 00013_usage_rollups), where they exist.
			for _, table := range []string{"usage_daily_ws", "usage_daily_member"} {
				exists := `SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?`
				if db.Dialect() == store.Postgres {
					exists = `SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = $1`
				}
				if num(q(exists, table)[0][0]) == 0 {
					t.Logf("no %s table yet: its days are not checked", table)
					continue
				}
				days := map[string]int64{}
				for _, r := range q(ph(`SELECT day, SUM(events) FROM `+table+` WHERE org_id = ? GROUP BY day`), org.ID) {
					days[str(r[0])] = num(r[1])
				}
				if !maps.Equal(days, rolled) {
					t.Errorf("%s counts events on other days than usage_daily (%d days, %d)", table, len(days), len(rolled))
				}
			}

			// Most days have usage; weekdays clearly more than weekends.
			if len(perDay) < 80 {
				t.Errorf("usage on %d of the last %d days, want most", len(perDay), demoDays)
			}
			var wd, we, wdDays, weDays int64
			for d := first; !d.After(now); d = d.AddDate(0, 0, 1) {
				if d.Weekday() == time.Saturday || d.Weekday() == time.Sunday {
					we += perDay[d.Format(time.DateOnly)]
					weDays++
				} else if d.Before(now.Truncate(24 * time.Hour)) { // today is not over
					wd += perDay[d.Format(time.DateOnly)]
					wdDays++
				}
			}
			if wdDays == 0 || weDays == 0 || float64(wd)/float64(wdDays) < 4*float64(we)/float64(weDays) {
				t.Errorf("%d events on %d weekdays, %d on %d weekend days: want weekdays at least 4 times as busy", wd, wdDays, we, weDays)
			}

			// Both categories, each in more than one workspace.
			cats := map[string]int64{}
			for _, r := range q(ph(`SELECT category, COUNT(DISTINCT workspace_id) FROM usage_daily WHERE org_id = ? GROUP BY category`), org.ID) {
				cats[str(r[0])] = num(r[1])
			}
			for _, c := range []orgbase.Category{orgbase.CategoryChatbot, orgbase.CategoryImageSpeech} {
				if cats[string(c)] < 2 {
					t.Errorf("category %s used in %d workspaces, want several (all: %v)", c, cats[string(c)], cats)
				}
			}

			// A dozen members in every role, managers and members of workspaces.
			var roles, grants []string
			for _, r := range q(ph(`SELECT role FROM memberships WHERE org_id = ? AND status = ?`), org.ID, orgbase.MemberActive) {
				roles = append(roles, str(r[0]))
			}
			for _, r := range q(ph(`SELECT DISTINCT role FROM workspace_grants WHERE org_id = ?`), org.ID) {
				grants = append(grants, str(r[0]))
			}
			if len(roles) != 1+len(demoPeople) || len(roles) < 12 {
				t.Errorf("%d active members, want a dozen", len(roles))
			}
			for _, want := range []orgbase.Role{orgbase.RoleOwner, orgbase.RoleAdmin, orgbase.RoleBilling, orgbase.RoleMember} {
				if !slices.Contains(roles, string(want)) {
					t.Errorf("no %s among the roles %v", want, roles)
				}
			}
			for _, want := range []orgbase.WorkspaceRole{orgbase.WorkspaceManager, orgbase.WorkspaceMember} {
				if !slices.Contains(grants, string(want)) {
					t.Errorf("no workspace %s among the grants %v", want, grants)
				}
			}

			// Limits are set and this month's usage is below them.
			period := orgbase.Period(now)
			used, err := db.WorkspaceUsage(ctx, org.ID, period)
			if err != nil {
				t.Fatal(err)
			}
			limited := q(ph(`SELECT id, name, monthly_limit FROM workspaces WHERE org_id = ? AND monthly_limit IS NOT NULL`), org.ID)
			if len(limited) < 2 {
				t.Errorf("%d workspaces with a monthly limit, want a couple", len(limited))
			}
			for _, r := range limited {
				if u := used[num(r[0])]; int64(u) > num(r[2]) {
					t.Errorf("%s used %s of its %s limit", str(r[1]), u, orgbase.Credits(num(r[2])))
				}
			}
			// The pool is neither empty nor absurd.
			pool, err := db.PoolBalance(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			if pool < 1_000*orgbase.Credit || pool > 50_000*orgbase.Credit {
				t.Errorf("the pool holds %s credits after 90 days, want a plausible amount", pool)
			}

			// A second seed changes nothing.
			count := func() [4]int64 {
				r := q(ph(`SELECT (SELECT COUNT(*) FROM usage_events WHERE org_id = ?), (SELECT COUNT(*) FROM transfers WHERE org_id = ?),
					(SELECT COALESCE(SUM(balance), 0) FROM accounts WHERE org_id = ? AND kind = 'pool'), (SELECT COUNT(*) FROM audit_log WHERE org_id = ?)`),
					org.ID, org.ID, org.ID, org.ID)
				return [4]int64{num(r[0][0]), num(r[0][1]), num(r[0][2]), num(r[0][3])}
			}
			before := count()
			code, stdout, stderr = runCmd(t, env, "seed", "--demo", "--if-empty")
			if code != exitOK || stdout != "" {
				t.Errorf("second seed --demo --if-empty: exit %d, stdout %q, stderr %q; want exit 0 and nothing", code, stdout, stderr)
			}
			if after := count(); after != before {
				t.Errorf("a second seed changed events, transfers, pool, audit entries from %v to %v", before, after)
			}
		})
	}
}

// The plan is deterministic (screenshots are stable), covers the 90 days
// ending today with nothing after now, and refuses a tool the catalog does
// not price rather than charge something else.
func TestPlanDemoUsage(t *testing.T) {
	prices := map[[2]string]orgbase.Credits{}
	for _, uses := range demoUses {
		for _, u := range uses {
			prices[[2]string{u.tool, u.model}] = orgbase.Credit
		}
	}
	now := time.Date(2025, 6, 18, 13, 20, 0, 0, time.UTC)
	a, err := planDemoUsage(now, prices)
	if err != nil {
		t.Fatal(err)
	}
	b, err := planDemoUsage(now, prices)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("two plans for the same moment differ")
	}
	if len(a) != demoDays || !a[0].date.Equal(time.Date(2025, 3, 21, 0, 0, 0, 0, time.UTC)) || !a[demoDays-1].date.Equal(time.Date(2025, 6, 18, 0, 0, 0, 0, time.UTC)) {
		t.Fatalf("plan from %s to %s (%d days)", a[0].date, a[len(a)-1].date, len(a))
	}
	last := a[demoDays-1].batches
	if len(last) == 0 || !last[len(last)-1].at.Before(now) || last[len(last)-1].at.Before(now.Add(-3*time.Hour)) {
		t.Errorf("today's batches: %d, the last at %v; want some, up to shortly before %s", len(last), last, now)
	}
	for _, d := range a {
		for i, bt := range d.batches {
			if bt.at.Before(d.date) || !bt.at.Before(d.date.Add(24*time.Hour)) || (i > 0 && !d.batches[i-1].at.Before(bt.at)) {
				t.Fatalf("%s: batch %d at %s, out of its day or of order", d.date.Format(time.DateOnly), i, bt.at)
			}
		}
	}
	delete(prices, [2]string{"chat.completion", "gpt-4.1"})
	if _, err := planDemoUsage(now, prices); err == nil || !strings.Contains(err.Error(), "gpt-4.1") {
		t.Errorf("a plan without the price of gpt-4.1: %v", err)
	}
}
