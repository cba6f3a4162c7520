package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// overviewFixture charges a small tree over several days:
//
//	Primary ─ A ─ A1
//	        └ B (archived at the end)
//
// owner and bob spend; carol (a member) spends in A1 only.
type overviewFixture struct {
	*chargeFixture
	a, a1, b   *orgbase.Workspace
	bob, carol *orgbase.User
	today      time.Time
}

func newOverviewFixture(t *testing.T, dialect string) *overviewFixture {
	t.Helper()
	var mu sync.Mutex
	now := time.Date(2025, 3, 15, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	setDay := func(d time.Time) { mu.Lock(); now = d; mu.Unlock() }
	db := dbtest.Open(t, dialect, store.Options{Now: clock})
	f := &overviewFixture{chargeFixture: newChargeFixture(t, db), today: now}
	f.a = f.add(t, f.root, "A")
	f.a1 = f.add(t, f.a, "A1")
	f.b = f.add(t, f.root, "B")
	f.bob = f.member("bob@example.com", orgbase.RoleAdmin)
	f.carol = f.member("carol@example.com", orgbase.RoleMember)
	if err := db.SetGrant(f.ctx, f.org.ID, f.op, f.a1.ID, f.carol.ID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	f.grant(10000 * credit)

	owner := f.owner.ID
	at := func(daysAgo int) { setDay(f.today.AddDate(0, 0, -daysAgo)) }
	// 10 days ago: 30 credits of images in A1 by the owner.
	at(10)
	f.mustCharge(f.a1, owner, "test.image", "m1", 10, "o1")
	// 3 days ago: bob 6 credits of images in B, carol 0.6 of chat in A1.
	at(3)
	f.mustCharge(f.b, f.bob.ID, "test.image", "m1", 2, "o2")
	f.mustCharge(f.a1, f.carol.ID, "test.chat", "m2", 5, "o3")
	// Today: owner 1 credit of chat in Primary, 0.12 in A; carol 3 of images in A1.
	at(0)
	f.mustCharge(f.root, owner, "test.unit", "one", 1, "o4")
	f.mustCharge(f.a, owner, "test.chat", "m2", 1, "o5")
	f.mustCharge(f.a1, f.carol.ID, "test.image", "m1", 1, "o6")
	// 400 days ago: outside every range but the longest.
	at(400)
	f.mustCharge(f.b, f.bob.ID, "test.unit", "one", 7, "o7")
	at(0)
	if _, err := db.ArchiveWorkspace(f.ctx, f.org.ID, f.op, f.b.ID); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *overviewFixture) day(daysAgo int) string {
	return f.today.AddDate(0, 0, -daysAgo).Format(time.DateOnly)
}

func TestDailyUsage(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			f := newOverviewFixture(t, dialect)
			series := func(s store.UsageScope) map[string]store.DayUsage {
				t.Helper()
				got, err := f.db.DailyUsage(f.ctx, f.org.ID, s)
				if err != nil {
					t.Fatal(err)
				}
				from, _ := time.Parse(time.DateOnly, s.From)
				to, _ := time.Parse(time.DateOnly, s.To)
				if want := int(to.Sub(from).Hours()/24) + 1; len(got) != want {
					t.Fatalf("%+v: %d days, want %d (zero-filled)", s, len(got), want)
				}
				out := map[string]store.DayUsage{}
				for i, d := range got {
					if want := from.AddDate(0, 0, i).Format(time.DateOnly); d.Day != want {
						t.Fatalf("%+v: day %d is %s, want %s", s, i, d.Day, want)
					}
					if d.Total() != 0 {
						out[d.Day] = d
					}
				}
				return out
			}
			check := func(name string, got map[string]store.DayUsage, want map[string][2]orgbase.Credits) {
				t.Helper()
				if len(got) != len(want) {
					t.Errorf("%s: %d days with usage (%v), want %d", name, len(got), got, len(want))
				}
				for day, w := range want {
					if g := got[day]; g.ImageSpeech != w[0] || g.Chatbot != w[1] {
						t.Errorf("%s: %s = %s images, %s chat; want %s, %s", name, day, g.ImageSpeech, g.Chatbot, w[0], w[1])
					}
				}
			}
			last30 := store.UsageScope{From: f.day(29), To: f.day(0)}

			// The whole organization, stacked by category (archived B included).
			check("org", series(last30), map[string][2]orgbase.Credits{
				f.day(10): {30 * credit, 0},
				f.day(3):  {6 * credit, 600},
				f.day(0):  {3 * credit, credit + 120},
			})
			// A's subtree: A and A1, not Primary or B.
			sub := last30
			sub.Path = f.a.Path
			check("subtree A", series(sub), map[string][2]orgbase.Credits{
				f.day(10): {30 * credit, 0},
				f.day(3):  {0, 600},
				f.day(0):  {3 * credit, 120},
			})
			sub.Path = f.a1.Path
			check("subtree A1", series(sub), map[string][2]orgbase.Credits{
				f.day(10): {30 * credit, 0},
				f.day(3):  {0, 600},
				f.day(0):  {3 * credit, 0},
			})
			// One member: carol's own usage only.
			mine := last30
			mine.UserID = f.carol.ID
			check("carol", series(mine), map[string][2]orgbase.Credits{
				f.day(3): {0, 600},
				f.day(0): {3 * credit, 0},
			})
			// A member within a workspace (usage_daily): bob spent nothing in A.
			mine.UserID, mine.Path = f.bob.ID, f.a.Path
			check("bob in A", series(mine), nil)
			mine.Path = f.b.Path
			check("bob in B", series(mine), map[string][2]orgbase.Credits{f.day(3): {6 * credit, 0}})

			// Edges: both ends are included.
			check("one day", series(store.UsageScope{From: f.day(3), To: f.day(3)}), map[string][2]orgbase.Credits{f.day(3): {6 * credit, 600}})
			check("from day 10 to day 3", series(store.UsageScope{From: f.day(10), To: f.day(3)}), map[string][2]orgbase.Credits{
				f.day(10): {30 * credit, 0},
				f.day(3):  {6 * credit, 600},
			})
			check("days 9 to 4", series(store.UsageScope{From: f.day(9), To: f.day(4)}), nil)
			// The longest range (366 days) stops short of the charge 400 days ago.
			long := store.UsageScope{From: f.day(365), To: f.day(0)}
			if got := series(long); len(got) != 3 {
				t.Errorf("366 days: %d days with usage, want 3", len(got))
			}

			// The stacked sums equal the rollups they come from.
			var sums []struct{ N int64 }
			if err := f.db.ScanForTest(f.ctx, &sums, "SELECT COALESCE(SUM(credits), 0) AS n FROM usage_daily_ws WHERE org_id = ? AND day >= ? AND day <= ?", f.org.ID, last30.From, last30.To); err != nil {
				t.Fatal(err)
			}
			var total orgbase.Credits
			for _, d := range series(last30) {
				total += d.Total()
			}
			if total != orgbase.Credits(sums[0].N) || total != 39*credit+1720 {
				t.Errorf("stacked total %s, rollup %d, want 40.72", total, sums[0].N)
			}
			got, err := f.db.UsageTotal(f.ctx, f.org.ID, last30)
			if err != nil || got != total {
				t.Errorf("UsageTotal = %s, %v; want %s", got, err, total)
			}
			week := store.UsageScope{From: f.day(6), To: f.day(0), UserID: f.carol.ID}
			if got, err := f.db.UsageTotal(f.ctx, f.org.ID, week); err != nil || got != 3*credit+600 {
				t.Errorf("carol's week = %s, %v; want 3.6", got, err)
			}

			// Bad ranges are refused with a message, never run.
			for _, bad := range []store.UsageScope{
				{From: "2025-13-01", To: "2025-12-31"},
				{From: "2025-03-02", To: "2025-03-01"},
				{From: "1999-12-31", To: "2000-01-31"},
				{From: "2023-01-01", To: "2024-01-02"},
				{From: "", To: "2025-01-01"},
			} {
				if _, err := f.db.DailyUsage(f.ctx, f.org.ID, bad); orgbase.ErrorCode(err) != orgbase.EINVALID {
					t.Errorf("DailyUsage(%+v) = %v, want EINVALID", bad, err)
				}
			}
		})
	}
}

func TestCheckReportRange(t *testing.T) {
	for _, tc := range []struct {
		from, to string
		ok       bool
	}{
		{"2024-01-01", "2024-12-31", true}, // 366 days (leap year)
		{"2023-01-01", "2024-01-01", true}, // 366 days
		{"2023-01-01", "2024-01-02", false},
		{"2000-01-01", "2000-01-01", true},
		{"1999-12-31", "2000-01-01", false},
		{"2025-02-29", "2025-03-01", false}, // no such day
		{"2025-3-1", "2025-03-02", false},
		{"2025-03-02", "2025-03-01", false},
	} {
		err := store.CheckReportRange(tc.from, tc.to)
		if (err == nil) != tc.ok {
			t.Errorf("CheckReportRange(%s, %s) = %v, want ok %v", tc.from, tc.to, err, tc.ok)
		}
		if err != nil && (orgbase.ErrorCode(err) != orgbase.EINVALID || orgbase.ErrorMessage(err) == "") {
			t.Errorf("CheckReportRange(%s, %s) = %v, want EINVALID with a message", tc.from, tc.to, err)
		}
	}
}

func TestTopWorkspacesAndMembers(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			f := newOverviewFixture(t, dialect)
			last30 := store.UsageScope{From: f.day(29), To: f.day(0)}

			ws, err := f.db.TopWorkspaces(f.ctx, f.org.ID, last30, 5)
			if err != nil {
				t.Fatal(err)
			}
			type wrow struct {
				name     string
				credits  orgbase.Credits
				archived bool
			}
			wantWS := []wrow{{"A1", 33*credit + 600, false}, {"B", 6 * credit, true}, {"Primary", credit, false}, {"A", 120, false}}
			if len(ws) != len(wantWS) {
				t.Fatalf("top workspaces = %+v, want %v", ws, wantWS)
			}
			for i, w := range wantWS {
				if ws[i].Name != w.name || ws[i].Credits != w.credits || ws[i].Archived != w.archived || ws[i].Path == "" {
					t.Errorf("top workspace %d = %+v, want %v", i, ws[i], w)
				}
			}
			// The limit, and a subtree filter.
			two, err := f.db.TopWorkspaces(f.ctx, f.org.ID, last30, 2)
			if err != nil || len(two) != 2 || two[1].Name != "B" {
				t.Errorf("top 2 = %+v, %v", two, err)
			}
			sub := last30
			sub.Path = f.a.Path
			ws, err = f.db.TopWorkspaces(f.ctx, f.org.ID, sub, 5)
			if err != nil || len(ws) != 2 || ws[0].ID != f.a1.ID || ws[1].ID != f.a.ID {
				t.Errorf("top workspaces under A = %+v, %v; want A1, A", ws, err)
			}

			ms, err := f.db.TopMembers(f.ctx, f.org.ID, last30, 5)
			if err != nil {
				t.Fatal(err)
			}
			type mrow struct {
				email   string
				credits orgbase.Credits
			}
			wantM := []mrow{{"owner@example.com", 31*credit + 120}, {"bob@example.com", 6 * credit}, {"carol@example.com", 3*credit + 600}}
			if len(ms) != len(wantM) {
				t.Fatalf("top members = %+v, want %v", ms, wantM)
			}
			for i, w := range wantM {
				if ms[i].Email != w.email || ms[i].Credits != w.credits || ms[i].Name == "" {
					t.Errorf("top member %d = %+v, want %v", i, ms[i], w)
				}
			}
			// Under A1 (usage_daily): the owner's 30 and carol's 3.6; bob spent only in B.
			sub.Path = f.a1.Path
			ms, err = f.db.TopMembers(f.ctx, f.org.ID, sub, 5)
			if err != nil || len(ms) != 2 || ms[0].UserID != f.owner.ID || ms[0].Credits != 30*credit || ms[1].UserID != f.carol.ID || ms[1].Credits != 3*credit+600 {
				t.Errorf("top members under A1 = %+v, %v", ms, err)
			}
			// Nothing spent: empty lists, not errors.
			quiet := store.UsageScope{From: f.day(9), To: f.day(4)}
			if ws, err := f.db.TopWorkspaces(f.ctx, f.org.ID, quiet, 5); err != nil || len(ws) != 0 {
				t.Errorf("quiet top workspaces = %+v, %v", ws, err)
			}
			if ms, err := f.db.TopMembers(f.ctx, f.org.ID, quiet, 5); err != nil || len(ms) != 0 {
				t.Errorf("quiet top members = %+v, %v", ms, err)
			}
		})
	}
}

func TestCreditsAddedAndMemberLimit(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			f := newOverviewFixture(t, dialect)
			month := time.Date(f.today.Year(), f.today.Month(), 1, 0, 0, 0, 0, time.UTC)
			// Moves to a budget are not additions; a second grant is.
			f.budget(f.a, 100*credit)
			f.grant(250 * credit)
			got, err := f.db.CreditsAdded(f.ctx, f.org.ID, month, month.AddDate(0, 1, 0))
			if err != nil || got != 10250*credit {
				t.Errorf("CreditsAdded this month = %s, %v; want 10,250", got, err)
			}
			got, err = f.db.CreditsAdded(f.ctx, f.org.ID, month.AddDate(0, -1, 0), month)
			if err != nil || got != 0 {
				t.Errorf("CreditsAdded last month = %s, %v; want 0", got, err)
			}

			limit, used, err := f.db.MemberLimitStatus(f.ctx, f.org.ID, f.carol.ID)
			if err != nil || limit != nil || used != 0 {
				t.Errorf("carol without a limit = %v, %s, %v; want nil, 0", limit, used, err)
			}
			l := 50 * credit
			if err := f.db.SetMemberLimit(f.ctx, f.org.ID, f.op, f.carol.ID, &l); err != nil {
				t.Fatal(err)
			}
			limit, used, err = f.db.MemberLimitStatus(f.ctx, f.org.ID, f.carol.ID)
			if err != nil || limit == nil || *limit != l || used != 3*credit+600 {
				t.Errorf("carol with a limit = %v, %s, %v; want 50, 3.6", limit, used, err)
			}
			if _, _, err := f.db.MemberLimitStatus(f.ctx, f.org.ID, 999999); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Errorf("stranger: %v, want ENOTFOUND", err)
			}
		})
	}
}
