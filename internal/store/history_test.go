package store_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// testClock is a store clock that tests set: charges made while it stands
// still share their created_at, as events of one batch do.
type testClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *testClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *testClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// eachWithClock is dbtest.Each with the store on a clock the test sets.
func eachWithClock(t *testing.T, fn func(t *testing.T, db *store.DB, clk *testClock)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			clk := &testClock{t: time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)}
			fn(t, dbtest.Open(t, d, store.Options{Now: clk.Now}), clk)
		})
	}
}

// keys returns the idempotency keys of events, in order.
func keys(evs []orgbase.UsageEvent) string {
	out := make([]string, len(evs))
	for i, e := range evs {
		out[i] = e.IdempotencyKey
	}
	return strings.Join(out, ",")
}

func TestHistoryFilters(t *testing.T) {
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *testClock) {
		f := newChargeFixture(t, db)
		ctx := f.ctx
		a := f.add(t, f.root, "A")
		a1 := f.add(t, a, "A1")
		b := f.add(t, f.root, "B")
		f.grant(1000 * credit)
		mia := f.member("mia@example.com", orgbase.RoleMember)
		if err := db.SetGrant(ctx, f.org.ID, f.op, a.ID, mia.ID, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		owner := f.owner.ID
		day := func(d, h int) time.Time { return time.Date(2025, 3, d, h, 0, 0, 0, time.UTC) }
		clk.Set(day(10, 9))
		f.mustCharge(b, owner, "test.image", "m1", 1, "k1")
		f.mustCharge(a, mia.ID, "test.chat", "m2", 2, "k2")
		clk.Set(day(11, 23))
		f.mustCharge(a1, owner, "test.chat", "m2", 3, "k3")
		f.mustCharge(a1, mia.ID, "test.image", "m1", 1, "k4")
		clk.Set(day(12, 0))
		f.mustCharge(f.root, owner, "test.unit", "one", 5, "k5")

		// Another organization's events never appear.
		other := mustUser(t, db, "zed@example.com")
		zorg, err := db.CreateOrg(ctx, other.ID, store.NewOrg{Name: "Zeta", Slug: "zeta"})
		if err != nil {
			t.Fatal(err)
		}
		zroot, err := db.FindPrimaryWorkspace(ctx, zorg.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.GrantCredits(ctx, zorg.ID, 100*credit, "test", ""); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Charge(ctx, zorg.ID, orgbase.ChargeRequest{WorkspaceID: zroot.ID, UserID: other.ID, Tool: "test.unit", Model: "one", Units: 1, IdempotencyKey: "z1"}); err != nil {
			t.Fatal(err)
		}

		cases := []struct {
			name string
			f    store.HistoryFilter
			want string
		}{
			{"All", store.HistoryFilter{}, "k5,k4,k3,k2,k1"},
			{"Subtree", store.HistoryFilter{WorkspaceIDs: []int64{a.ID, a1.ID}}, "k4,k3,k2"},
			{"OneWorkspace", store.HistoryFilter{WorkspaceIDs: []int64{a1.ID}}, "k4,k3"},
			{"NoWorkspace", store.HistoryFilter{WorkspaceIDs: []int64{}}, ""},
			{"OtherOrgsWorkspace", store.HistoryFilter{WorkspaceIDs: []int64{zroot.ID}}, ""},
			{"Me", store.HistoryFilter{UserID: mia.ID}, "k4,k2"},
			{"MeInSubtree", store.HistoryFilter{UserID: mia.ID, WorkspaceIDs: []int64{a1.ID}}, "k4"},
			{"Tool", store.HistoryFilter{Tool: "test.chat"}, "k3,k2"},
			{"Category", store.HistoryFilter{Category: orgbase.CategoryChatbot}, "k5,k3,k2"},
			{"CategoryAndMe", store.HistoryFilter{Category: orgbase.CategoryImageSpeech, UserID: owner}, "k1"},
			{"Day", store.HistoryFilter{From: day(11, 0), To: day(12, 0)}, "k4,k3"},
			{"FromOnly", store.HistoryFilter{From: day(11, 23)}, "k5,k4,k3"},
			{"ToOnly", store.HistoryFilter{To: day(11, 0)}, "k2,k1"},
			{"Everything", store.HistoryFilter{WorkspaceIDs: []int64{a.ID, a1.ID, b.ID}, UserID: owner, Tool: "test.chat", From: day(11, 0), To: day(12, 0)}, "k3"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				evs, more, err := db.FindHistory(ctx, f.org.ID, tc.f)
				if err != nil {
					t.Fatal(err)
				}
				if got := keys(evs); got != tc.want || more {
					t.Errorf("FindHistory = %q (more %v), want %q", got, more, tc.want)
				}
				var streamed []orgbase.UsageEvent
				if err := db.EachHistory(ctx, f.org.ID, tc.f, func(e orgbase.UsageEvent) error { streamed = append(streamed, e); return nil }); err != nil {
					t.Fatal(err)
				}
				if got := keys(streamed); got != tc.want {
					t.Errorf("EachHistory = %q, want %q", got, tc.want)
				}
			})
		}

		t.Run("EventFields", func(t *testing.T) {
			evs, _, err := db.FindHistory(ctx, f.org.ID, store.HistoryFilter{Limit: 1, UserID: mia.ID})
			if err != nil || len(evs) != 1 {
				t.Fatalf("FindHistory = %v, %v", evs, err)
			}
			e := evs[0]
			want := orgbase.UsageEvent{ID: e.ID, WorkspaceID: a1.ID, UserID: mia.ID, UserName: mia.Name, UserEmail: "mia@example.com",
				Tool: "test.image", Model: "m1", Category: orgbase.CategoryImageSpeech, Units: 1, Credits: 3 * credit,
				IdempotencyKey: "k4", CreatedAt: day(11, 23)}
			if fmt.Sprintf("%+v", e) != fmt.Sprintf("%+v", want) {
				t.Errorf("event = %+v\nwant    %+v", e, want)
			}
		})

		t.Run("HasUsage", func(t *testing.T) {
			for _, tc := range []struct {
				ids  []int64
				want bool
			}{{nil, true}, {[]int64{a1.ID}, true}, {[]int64{}, false}, {[]int64{zroot.ID}, false}} {
				got, err := db.HasUsage(ctx, f.org.ID, tc.ids)
				if err != nil || got != tc.want {
					t.Errorf("HasUsage(%v) = %v, %v; want %v", tc.ids, got, err, tc.want)
				}
			}
		})

		t.Run("StopsOnCallbackError", func(t *testing.T) {
			stop := errors.New("stop")
			n := 0
			err := db.EachHistory(ctx, f.org.ID, store.HistoryFilter{}, func(orgbase.UsageEvent) error { n++; return stop })
			if !errors.Is(err, stop) || n != 1 {
				t.Errorf("EachHistory = %v after %d events, want the callback's error after 1", err, n)
			}
		})
	})
}

// TestHistoryKeysetPages pages through events that share their created_at
// (a batch is charged at one instant), across more than one export chunk:
// every event appears exactly once, in (created_at, id) descending order.
func TestHistoryKeysetPages(t *testing.T) {
	eachWithClock(t, func(t *testing.T, db *store.DB, clk *testClock) {
		f := newChargeFixture(t, db)
		ctx := f.ctx
		a := f.add(t, f.root, "A")
		f.grant(100000 * credit)
		batch := func(prefix string, n int, ws *orgbase.Workspace) {
			reqs := make([]orgbase.ChargeRequest, n)
			for i := range reqs {
				reqs[i] = orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: f.owner.ID, Tool: "test.unit", Model: "one", Units: 1, IdempotencyKey: fmt.Sprintf("%s-%04d", prefix, i)}
			}
			out, err := db.ChargeBatch(ctx, f.org.ID, reqs)
			if err != nil {
				t.Fatal(err)
			}
			for _, o := range out {
				if o.Err != nil {
					t.Fatal(o.Err)
				}
			}
		}
		t0 := time.Date(2025, 3, 10, 9, 0, 0, 0, time.UTC)
		// Ids do not follow time here (the newest events were written first),
		// so a cursor on the id alone would skip or repeat events.
		clk.Set(t0.Add(time.Hour))
		batch("new", 3, f.root)
		clk.Set(t0)
		batch("old", 7, f.root)
		clk.Set(t0.Add(1500 * time.Microsecond)) // sub-second times must page exactly too
		batch("tie", 500, a)                     // more than one chunk of EachHistory, all at one instant,
		batch("tie-root", 20, f.root)            // in two workspaces
		const total = 530

		check := func(t *testing.T, evs []orgbase.UsageEvent) {
			t.Helper()
			if len(evs) != total {
				t.Fatalf("got %d events, want %d", len(evs), total)
			}
			seen := map[int64]bool{}
			for i, e := range evs {
				if seen[e.ID] {
					t.Fatalf("event %d appears twice", e.ID)
				}
				seen[e.ID] = true
				if i > 0 {
					p := evs[i-1]
					if e.CreatedAt.After(p.CreatedAt) || (e.CreatedAt.Equal(p.CreatedAt) && e.ID >= p.ID) {
						t.Fatalf("event %d (%v) follows %d (%v): not in (created_at, id) descending order", e.ID, e.CreatedAt, p.ID, p.CreatedAt)
					}
				}
			}
		}

		// Every workspace (nil), a subtree read as one scan per workspace, and
		// more workspaces than that (read with IN): the same pages.
		many := []int64{a.ID, f.root.ID}
		for i := int64(1); len(many) <= 70; i++ {
			many = append(many, 1_000_000+i)
		}
		for _, tc := range []struct {
			name string
			ids  []int64
			size int
		}{{"All", nil, 7}, {"All", nil, 50}, {"Subtree", []int64{a.ID, f.root.ID}, 7}, {"Subtree", []int64{f.root.ID, a.ID, a.ID}, 50}, {"Many", many, 7}} {
			size := tc.size
			t.Run(fmt.Sprintf("%sPages%d", tc.name, size), func(t *testing.T) {
				var all []orgbase.UsageEvent
				filter := store.HistoryFilter{Limit: size, WorkspaceIDs: tc.ids}
				for pages := 0; ; pages++ {
					if pages > total {
						t.Fatal("paging does not end")
					}
					evs, more, err := db.FindHistory(ctx, f.org.ID, filter)
					if err != nil {
						t.Fatal(err)
					}
					all = append(all, evs...)
					if !more {
						break
					}
					if len(evs) != size {
						t.Fatalf("a page before the last has %d events, want %d", len(evs), size)
					}
					last := evs[len(evs)-1]
					filter.Before = &store.HistoryCursor{CreatedAt: last.CreatedAt, ID: last.ID}
				}
				check(t, all)
				if got := all[0].IdempotencyKey; !strings.HasPrefix(got, "new-") {
					t.Errorf("first event %s, want one of the newest", got)
				}
			})
		}

		t.Run("Export", func(t *testing.T) {
			var all []orgbase.UsageEvent
			if err := db.EachHistory(ctx, f.org.ID, store.HistoryFilter{Before: &store.HistoryCursor{CreatedAt: t0, ID: 1}}, func(e orgbase.UsageEvent) error {
				all = append(all, e)
				return nil
			}); err != nil {
				t.Fatal(err)
			}
			check(t, all) // Before is ignored: the export is the whole set
		})

		t.Run("SubtreeAndMe", func(t *testing.T) {
			evs, more, err := db.FindHistory(ctx, f.org.ID, store.HistoryFilter{WorkspaceIDs: []int64{a.ID, f.root.ID}, UserID: f.owner.ID, Limit: 500})
			if err != nil || len(evs) != 500 || !more {
				t.Fatalf("got %d events (more %v, %v), want a full page of 500 and more", len(evs), more, err)
			}
			last := evs[len(evs)-1]
			rest, more, err := db.FindHistory(ctx, f.org.ID, store.HistoryFilter{WorkspaceIDs: []int64{a.ID, f.root.ID}, UserID: f.owner.ID, Limit: 500,
				Before: &store.HistoryCursor{CreatedAt: last.CreatedAt, ID: last.ID}})
			if err != nil || len(rest) != total-500 || more {
				t.Fatalf("second page: %d events (more %v, %v), want the last %d", len(rest), more, err, total-500)
			}
		})
	})
}
