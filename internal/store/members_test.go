package store_test

import (
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func TestFindMemberPage(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Now().UTC()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			setDay := func(d time.Time) { mu.Lock(); now = d; mu.Unlock() }
			db := dbtest.Open(t, dialect, store.Options{Now: clock})
			f := newChargeFixture(t, db)
			f.grant(1000 * credit)
			today := now
			named := func(name, email string, role orgbase.Role) int64 {
				t.Helper()
				u, err := db.CreateUser(f.ctx, email, name, "hash", store.NewToken{Hash: "v-" + email, ExpiresAt: today.Add(time.Hour)})
				if err != nil {
					t.Fatal(err)
				}
				if err := db.AddMember(f.ctx, f.org.ID, u.ID, role); err != nil {
					t.Fatal(err)
				}
				return u.ID
			}
			ann := f.owner.ID // "Ann Example", owner
			zoe := named("Zoe Zimmer", "zoe@example.com", orgbase.RoleMember)
			bob := named("bob Baker", "bob@example.com", orgbase.RoleAdmin)
			amy := named("Amy Archer", "amy@example.com", orgbase.RoleBilling)
			carl := named("Carl Cole", "carl@example.com", orgbase.RoleMember)
			dave := named("Dave 100%", "dave_x@example.com", orgbase.RoleMember)

			for _, uid := range []int64{zoe, amy, carl, dave} {
				if err := db.SetGrant(f.ctx, f.org.ID, f.op, f.root.ID, uid, orgbase.WorkspaceMember); err != nil {
					t.Fatal(err)
				}
			}
			setDay(today.AddDate(0, 0, -40))
			f.mustCharge(f.root, amy, "test.image", "m1", 10, "amy-old") // 30 credits, 40 days ago
			setDay(today)
			f.mustCharge(f.root, zoe, "test.image", "m1", 2, "zoe")  // 6 image & speech
			f.mustCharge(f.root, bob, "test.chat", "m2", 50, "bob")  // 6 chatbot
			f.mustCharge(f.root, ann, "test.chat", "m2", 1, "ann")   // 0.12 chatbot
			f.mustCharge(f.root, ann, "test.image", "m1", 1, "ann2") // 3 image & speech
			// Seen: Carl an hour ago, Zoe yesterday; the others never.
			for uid, ago := range map[int64]time.Duration{carl: time.Hour, zoe: 24 * time.Hour} {
				if err := db.SaveSession(f.ctx, &orgbase.Session{ID: "s" + strconv.FormatInt(uid, 10), UserID: uid, CreatedAt: today, LastSeenAt: today.Add(-ago), ExpiresAt: today.Add(time.Hour)}); err != nil {
					t.Fatal(err)
				}
			}

			all := orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, "all", today)
			month := orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, "30d", today)
			page := func(q store.MemberQuery) store.MemberPage {
				t.Helper()
				if q.From == "" {
					q.From, q.To = month.From, month.To
				}
				p, err := db.FindMemberPage(f.ctx, f.org.ID, q)
				if err != nil {
					t.Fatalf("FindMemberPage(%+v): %v", q, err)
				}
				return p
			}
			order := func(p store.MemberPage) []int64 {
				out := make([]int64, len(p.Rows))
				for i, r := range p.Rows {
					out[i] = r.UserID
				}
				return out
			}
			want := func(name string, p store.MemberPage, ids ...int64) {
				t.Helper()
				if got := order(p); !slices.Equal(got, ids) {
					t.Errorf("%s: got members %v, want %v", name, got, ids)
				}
			}

			// By name, any case; by name descending.
			want("name", page(store.MemberQuery{Sort: "name"}), amy, ann, bob, carl, dave, zoe)
			want("name desc", page(store.MemberQuery{Sort: "name", Desc: true}), zoe, dave, carl, bob, ann, amy)
			// Total in the last 30 days: Zoe and Bob tie at 6 (by name: bob
			// first), then Ann 3.12; those who used nothing by name.
			p := page(store.MemberQuery{Sort: "total", Desc: true})
			want("total", p, bob, zoe, ann, amy, carl, dave)
			byID := map[int64]store.MemberUsageRow{}
			for _, r := range p.Rows {
				byID[r.UserID] = r
			}
			if r := byID[ann]; r.ImageSpeech != 3*credit || r.Chatbot != 120 || r.Total() != 3*credit+120 {
				t.Errorf("Ann's usage = %+v, want 3 image & speech and 0.12 chatbot", r)
			}
			if r := byID[amy]; r.Total() != 0 {
				t.Errorf("Amy used %s in the last 30 days, want 0 (her charge is 40 days old)", r.Total())
			}
			if byID[carl].LastSeen == nil || byID[bob].LastSeen != nil || byID[carl].Member.Role != orgbase.RoleMember || byID[bob].Email != "bob@example.com" {
				t.Errorf("member fields wrong: carl %+v, bob %+v", byID[carl], byID[bob])
			}
			want("total asc", page(store.MemberQuery{Sort: "total"}), amy, carl, dave, ann, bob, zoe)
			want("image", page(store.MemberQuery{Sort: "image_speech", Desc: true}), zoe, ann, amy, bob, carl, dave)
			want("chatbot", page(store.MemberQuery{Sort: "chatbot", Desc: true}), bob, ann, amy, carl, dave, zoe)
			// All time brings Amy's old charge to the top.
			want("all time", page(store.MemberQuery{Sort: "total", Desc: true, From: all.From, To: all.To}), amy, bob, zoe, ann, carl, dave)
			// This month excludes what is older than the month.
			p = page(store.MemberQuery{Sort: "total", Desc: true, From: today.AddDate(0, 0, -1).Format(time.DateOnly), To: today.Format(time.DateOnly)})
			if p.Rows[0].UserID != bob || p.Rows[3].Total() != 0 {
				t.Errorf("two days: %v", order(p))
			}
			// Role, then name; last active (never seen last, both ways).
			want("role", page(store.MemberQuery{Sort: "role"}), ann, bob, amy, carl, dave, zoe)
			want("active", page(store.MemberQuery{Sort: "active", Desc: true}), carl, zoe, amy, ann, bob, dave)
			want("active asc", page(store.MemberQuery{Sort: "active"}), zoe, carl, amy, ann, bob, dave)

			// Paging: pages do not overlap; past the end means the last page.
			p1 := page(store.MemberQuery{Sort: "total", Desc: true, PerPage: 4, Page: 1})
			p2 := page(store.MemberQuery{Sort: "total", Desc: true, PerPage: 4, Page: 2})
			want("page 1", p1, bob, zoe, ann, amy)
			want("page 2", p2, carl, dave)
			if p1.Total != 6 || p1.Pages != 2 || p2.Page != 2 {
				t.Errorf("paging: %+v / %+v", p1, p2)
			}
			if p := page(store.MemberQuery{Sort: "name", PerPage: 4, Page: 99}); p.Page != 2 || len(p.Rows) != 2 {
				t.Errorf("page 99 = page %d with %d rows, want the last (2) with 2", p.Page, len(p.Rows))
			}
			if p := page(store.MemberQuery{Sort: "name", PerPage: 4, Page: 0}); p.Page != 1 {
				t.Errorf("page 0 = page %d, want 1", p.Page)
			}

			// Search: name or email, any case; LIKE wildcards are literal.
			want("search zoe", page(store.MemberQuery{Sort: "name", Search: "ZOE"}), zoe)
			want("search email", page(store.MemberQuery{Sort: "name", Search: "bob@EX"}), bob)
			want("search ar", page(store.MemberQuery{Sort: "name", Search: "ar"}), amy, carl) // Archer, Carl
			want("underscore", page(store.MemberQuery{Sort: "name", Search: "e_x"}), dave)
			want("percent", page(store.MemberQuery{Sort: "name", Search: "100%"}), dave)
			if p := page(store.MemberQuery{Sort: "name", Search: "%"}); p.Total != 1 {
				t.Errorf("search %%: %d members, want only Dave's name", p.Total)
			}
			if p := page(store.MemberQuery{Sort: "name", Search: "nobody"}); p.Total != 0 || len(p.Rows) != 0 || p.Pages != 1 {
				t.Errorf("no match: %+v", p)
			}
			// One member (an inline action's row).
			want("one", page(store.MemberQuery{Sort: "name", UserID: zoe}), zoe)
			// Another organization sees none of these.
			if p, err := db.FindMemberPage(f.ctx, f.org.ID+1000, store.MemberQuery{Sort: "name", From: all.From, To: all.To}); err != nil || p.Total != 0 {
				t.Errorf("another organization: %+v, %v", p, err)
			}

			// EachMember streams the same order, without paging.
			var streamed []int64
			err := db.EachMember(f.ctx, f.org.ID, store.MemberQuery{Sort: "total", Desc: true, From: month.From, To: month.To, PerPage: 2}, func(r store.MemberUsageRow) error {
				streamed = append(streamed, r.UserID)
				return nil
			})
			if err != nil || !slices.Equal(streamed, []int64{bob, zoe, ann, amy, carl, dave}) {
				t.Errorf("EachMember: %v, %v", streamed, err)
			}

			// Bad queries are refused.
			for name, q := range map[string]store.MemberQuery{
				"sort":  {Sort: "email; DROP TABLE users", From: month.From, To: month.To},
				"range": {Sort: "name", From: month.To, To: month.From},
				"day":   {Sort: "name", From: "2025-02-30", To: month.To},
				"page":  {Sort: "name", From: month.From, To: month.To, Page: -1, PerPage: 10},
			} {
				if _, err := db.FindMemberPage(f.ctx, f.org.ID, q); orgbase.ErrorCode(err) != orgbase.EINVALID {
					t.Errorf("%s: got %v, want EINVALID", name, err)
				}
			}

			// Grants of a page's members, by name.
			if err := db.SetGrant(f.ctx, f.org.ID, f.op, f.root.ID, carl, orgbase.WorkspaceManager); err != nil {
				t.Fatal(err)
			}
			g, err := db.FindMemberGrants(f.ctx, f.org.ID, []int64{carl, zoe})
			if err != nil || len(g[carl]) != 1 || g[carl][0].Name != f.root.Name || g[carl][0].Role != orgbase.WorkspaceManager || len(g[zoe]) != 1 || g[zoe][0].Role != orgbase.WorkspaceMember || len(g) != 2 {
				t.Errorf("FindMemberGrants = %+v, %v", g, err)
			}
			if g, err := db.FindMemberGrants(f.ctx, f.org.ID, nil); err != nil || len(g) != 0 {
				t.Errorf("no members: %v, %v", g, err)
			}
		})
	}
}

func TestMemberPeriods(t *testing.T) {
	now := time.Date(2025, 3, 14, 15, 9, 26, 0, time.UTC)
	for _, tc := range []struct{ key, wantKey, from string }{
		{"month", "month", "2025-03-01"},
		{"30d", "30d", "2025-02-13"},
		{"all", "all", orgbase.AllTimeFrom},
		{"90d", "month", "2025-03-01"}, // not offered on the Members tab
		{"", "month", "2025-03-01"},
		{"ALL", "month", "2025-03-01"},
	} {
		p := orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, tc.key, now)
		if p.Key != tc.wantKey || p.From != tc.from || p.To != "2025-03-14" || p.Label == "" || orgbase.CheckDayRange(p.From, p.To) != nil {
			t.Errorf("ResolvePeriodOf(members, %q) = %+v, want key %s from %s", tc.key, p, tc.wantKey, tc.from)
		}
	}
	// The Workspaces tab does not offer all time.
	if p := orgbase.ResolveUsagePeriod("all", now); p.Key != "month" {
		t.Errorf("ResolveUsagePeriod(all) = %+v, want this month", p)
	}
}
