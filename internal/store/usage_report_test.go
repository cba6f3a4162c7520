package store_test

import (
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func TestWorkspaceUsageByCategory(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			// A clock the test moves back to charge on earlier days.
			var mu sync.Mutex
			now := time.Now().UTC()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			setDay := func(d time.Time) { mu.Lock(); now = d; mu.Unlock() }
			db := dbtest.Open(t, dialect, store.Options{Now: clock})
			f := newChargeFixture(t, db)
			a := f.add(t, f.root, "A")
			a1 := f.add(t, a, "A1")
			b := f.add(t, f.root, "B")
			owner := f.owner.ID
			f.grant(1000 * credit)

			today := now
			old := today.AddDate(0, 0, -40)
			setDay(old)
			f.mustCharge(a1, owner, "test.image", "m1", 10, "old") // 30 credits, 40 days ago
			setDay(today)
			f.mustCharge(a1, owner, "test.image", "m1", 2, "k1") // 6
			f.mustCharge(a1, owner, "test.chat", "m2", 5, "k2")  // 0.6
			f.mustCharge(a, owner, "test.chat", "m2", 1, "k3")   // 0.12
			f.mustCharge(b, owner, "test.image", "m1", 1, "k4")  // 3
			// Archived workspaces keep their history.
			if _, err := db.ArchiveWorkspace(f.ctx, f.org.ID, f.op, b.ID); err != nil {
				t.Fatal(err)
			}

			img, chat := orgbase.CategoryImageSpeech, orgbase.CategoryChatbot
			day := func(t time.Time) string { return t.Format(time.DateOnly) }
			got, err := db.WorkspaceUsageByCategory(f.ctx, f.org.ID, day(today.AddDate(0, 0, -29)), day(today))
			if err != nil {
				t.Fatal(err)
			}
			want := map[int64]map[orgbase.Category]orgbase.Credits{
				f.root.ID: {img: 9 * credit, chat: 720},
				a.ID:      {img: 6 * credit, chat: 720},
				a1.ID:     {img: 6 * credit, chat: 600},
				b.ID:      {img: 3 * credit},
			}
			check := func(name string, got, want map[int64]map[orgbase.Category]orgbase.Credits) {
				t.Helper()
				if len(got) != len(want) {
					t.Errorf("%s: got usage for %d workspaces (%v), want %d", name, len(got), got, len(want))
				}
				for id, cats := range want {
					for c, v := range cats {
						if got[id][c] != v {
							t.Errorf("%s: workspace %d %s = %s, want %s", name, id, c, got[id][c], v)
						}
					}
					if len(got[id]) != len(cats) {
						t.Errorf("%s: workspace %d has categories %v, want %v", name, id, got[id], cats)
					}
				}
			}
			check("last 30 days", got, want)

			// 90 days includes the old charge.
			got, err = db.WorkspaceUsageByCategory(f.ctx, f.org.ID, day(today.AddDate(0, 0, -89)), day(today))
			if err != nil {
				t.Fatal(err)
			}
			want[f.root.ID][img] += 30 * credit
			want[a.ID][img] += 30 * credit
			want[a1.ID][img] += 30 * credit
			check("last 90 days", got, want)

			// Only the old day.
			got, err = db.WorkspaceUsageByCategory(f.ctx, f.org.ID, day(old), day(old))
			if err != nil {
				t.Fatal(err)
			}
			check("one day", got, map[int64]map[orgbase.Category]orgbase.Credits{
				f.root.ID: {img: 30 * credit}, a.ID: {img: 30 * credit}, a1.ID: {img: 30 * credit}})

			// A range with no usage, and another organization's view, are empty.
			got, err = db.WorkspaceUsageByCategory(f.ctx, f.org.ID, "2001-01-01", "2001-12-31")
			if err != nil || len(got) != 0 {
				t.Errorf("empty range: got %v, %v; want nothing", got, err)
			}
			got, err = db.WorkspaceUsageByCategory(f.ctx, f.org.ID+1000, day(old), day(today))
			if err != nil || len(got) != 0 {
				t.Errorf("another organization: got %v, %v; want nothing", got, err)
			}

			// By member: the owner made every charge; a new member made none.
			other := f.member("other@example.com", orgbase.RoleMember)
			byMember, err := db.WorkspaceUsageByCategory(f.ctx, f.org.ID, day(today), day(today))
			if err != nil {
				t.Fatal(err)
			}
			members, err := db.MemberUsageByCategory(f.ctx, f.org.ID, day(today), day(today))
			if err != nil {
				t.Fatal(err)
			}
			if members[owner][img] != byMember[f.root.ID][img] || members[owner][chat] != byMember[f.root.ID][chat] || len(members) != 1 || members[other.ID] != nil {
				t.Errorf("member usage today = %v, want the owner's %v only", members, byMember[f.root.ID])
			}
			if _, err := db.MemberUsageByCategory(f.ctx, f.org.ID, "2025-02-30", "2025-03-01"); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Errorf("member usage on a bad day: %v, want EINVALID", err)
			}

			// Malformed ranges are refused before any query.
			for _, r := range [][2]string{{"2025-1-01", "2025-01-31"}, {"2025-01-01", "tomorrow"}, {"2025-02-01", "2025-01-01"}, {"", ""}} {
				if _, err := db.WorkspaceUsageByCategory(f.ctx, f.org.ID, r[0], r[1]); orgbase.ErrorCode(err) != orgbase.EINVALID {
					t.Errorf("range %q..%q: got %v, want EINVALID", r[0], r[1], err)
				}
			}
		})
	}
}

func TestUsagePeriods(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	for _, tc := range []struct{ key, wantKey, from string }{
		{"month", "month", "2025-03-01"},
		{"", "month", "2025-03-01"},
		{"bogus", "month", "2025-03-01"},
		{"30d", "30d", "2025-02-13"},
		{"90d", "90d", "2024-12-15"},
	} {
		p := orgbase.ResolveUsagePeriod(tc.key, now)
		if p.Key != tc.wantKey || p.From != tc.from || p.To != "2025-03-14" || p.Label == "" {
			t.Errorf("ResolveUsagePeriod(%q) = %+v, want key %s from %s to 2025-03-14", tc.key, p, tc.wantKey, tc.from)
		}
	}
	for _, tc := range []struct {
		used, limit orgbase.Credits
		pct         int
		use         string
	}{
		{0, 1000, 0, ""},
		{799, 1000, 79, ""},
		{800, 1000, 80, "near"},
		{999, 1000, 99, "near"},
		{1000, 1000, 100, "reached"},
		{5000, 1000, 100, "reached"},
		{0, 0, 100, "reached"},
		{1, 3, 33, ""},
		{orgbase.MaxCredits - 1, orgbase.MaxCredits, 99, "near"},
	} {
		if got := orgbase.LimitPercent(tc.used, tc.limit); got != tc.pct {
			t.Errorf("LimitPercent(%d, %d) = %d, want %d", tc.used, tc.limit, got, tc.pct)
		}
		if got := orgbase.LimitUse(tc.used, tc.limit); got != tc.use {
			t.Errorf("LimitUse(%d, %d) = %q, want %q", tc.used, tc.limit, got, tc.use)
		}
	}
}
