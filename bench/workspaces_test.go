package bench

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// benchSpecs is the benchmark's world: Acme with 1,000 workspaces five levels
// deep and 500 members (the owner, 10 admins, 489 members with 1–3 grants
// each), the same owner's smaller organizations for the scaling rows, and
// two noise organizations of other owners sharing some of Acme's people.
var benchSpecs = []orgSpec{
	{Slug: "acme", Workspaces: 1000, Admins: 10, Members: 489},
	{Slug: "acme-100", Workspaces: 100, Admins: 2, Members: 48},
	{Slug: "acme-10", Workspaces: 10, Admins: 1, Members: 8},
	{Slug: "globex", Workspaces: 300, Admins: 3, Members: 150, Owner: "owner@globex.test", PoolOffset: 200},
	{Slug: "initech", Workspaces: 300, Admins: 3, Members: 150, Owner: "owner@initech.test", PoolOffset: 350},
}

// BenchmarkWorkspacesTab serves GET /orgs/acme/workspaces through the real
// server (web.NewServer: routing, session, organization scope, queries,
// templ rendering) in process, and reports per request:
//
//	ns/op       mean wall time of an iteration (request build + ServeHTTP)
//	mean-ms     mean server time (ServeHTTP alone)
//	p50-ms      median server time
//	p95-ms      95th percentile server time
//	queries/op  SQL statements run (store.Options.Queries)
//	rows        workspace rows on the page
//	page-KB     size of the HTML
//
// Baselines in the same run, on the same server and database: healthz (the
// middleware stack, no session, no query) and select1 (one SELECT 1 round
// trip through the pool: the price of one query). owner-store-only times the
// owner's page's store calls alone, to split server time between data
// access and the rest (tree building, member counts, rendering).
//
// Run it (PostgreSQL from TEST_DATABASE_URL; SQLite always):
//
//	go test ./bench/ -run '^$' -bench . -benchtime=200x
func BenchmarkWorkspacesTab(b *testing.B) {
	for _, dialect := range []string{store.Postgres, store.SQLite} {
		b.Run(dialect, func(b *testing.B) {
			w := newWorld(b, dialect, benchSpecs...)
			acme := w.orgs["acme"]
			// A parent benchmark's b.Log is not printed; "#" lines are ignored by benchstat.
			fmt.Printf("# %s: seeded %d organizations in %s (acme: %d workspaces, %d members, %d grants; the probe member sees %d workspaces)\n",
				dialect, len(w.orgs), w.seeded.Round(time.Millisecond), acme.total(), acme.members, acme.grants, acme.sees)

			b.Run("healthz", func(b *testing.B) {
				measure(b, w, nil, "/healthz", -1)
			})
			b.Run("select1", func(b *testing.B) {
				ctx := context.Background()
				durs := make([]time.Duration, 0, b.N)
				for b.Loop() {
					start := time.Now()
					var one int
					if err := w.db.SQL().QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
						b.Fatal(err)
					}
					durs = append(durs, time.Since(start))
				}
				reportDurations(b, durs)
			})
			// The owner sees the whole tree; the scaling rows are the same
			// owner's smaller organizations in the same database.
			for _, slug := range []string{"acme-10", "acme-100", "acme"} {
				o := w.orgs[slug]
				b.Run(fmt.Sprintf("owner/ws=%d", o.total()), func(b *testing.B) {
					measure(b, w, w.signIn(b, o.owner.ID), "/orgs/"+slug+"/workspaces", o.total())
				})
			}
			b.Run(fmt.Sprintf("member/ws=%d", acme.total()), func(b *testing.B) {
				measure(b, w, w.signIn(b, acme.probe.ID), "/orgs/acme/workspaces", acme.sees)
			})
			// Diagnostic: the owner's page's data access alone, the same
			// store calls the handler makes for the tab (no HTTP, no session
			// lookup, no tree building, no rendering).
			b.Run(fmt.Sprintf("owner-store-only/ws=%d", acme.total()), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				durs := make([]time.Duration, 0, b.N)
				q0 := w.queries.Load()
				for b.Loop() {
					start := time.Now()
					if err := pageQueries(ctx, w.db, "acme", acme.owner.ID); err != nil {
						b.Fatal(err)
					}
					durs = append(durs, time.Since(start))
				}
				b.ReportMetric(float64(w.queries.Load()-q0)/float64(len(durs)), "queries/op")
				reportDurations(b, durs)
			})
		})
	}
}

// pageQueries makes the store calls the owner's Workspaces tab makes
// after the session and user lookups: the organization and membership, the
// tree, the grants, the members, this month's limit use and the period's
// usage by category (the limit and usage columns), the organization
// switcher and the tree again for the workspace switcher.
func pageQueries(ctx context.Context, db *store.DB, slug string, userID int64) error {
	org, _, err := db.FindOrgForMember(ctx, slug, userID)
	if err != nil {
		return err
	}
	if _, err := db.FindWorkspaces(ctx, org.ID, store.WorkspaceFilter{}); err != nil {
		return err
	}
	if _, err := db.FindGrants(ctx, org.ID); err != nil {
		return err
	}
	if _, err := db.FindMembers(ctx, org.ID); err != nil {
		return err
	}
	now := db.Now()
	if _, err := db.WorkspaceUsage(ctx, org.ID, orgbase.Period(now)); err != nil {
		return err
	}
	period := orgbase.ResolveUsagePeriod("", now)
	if _, err := db.WorkspaceUsageByCategory(ctx, org.ID, period.From, period.To); err != nil {
		return err
	}
	if _, err := db.FindOrgsForUser(ctx, userID); err != nil {
		return err
	}
	_, err = db.FindWorkspaces(ctx, org.ID, store.WorkspaceFilter{})
	return err
}

// measure serves path as the visitor b.N times and reports the figures.
// wantRows < 0 skips the row check (not a Workspaces tab).
func measure(b *testing.B, w *world, v *visitor, path string, wantRows int) {
	first := w.warm(b, v, path)
	if wantRows >= 0 {
		if got := rows(first.body); got != wantRows {
			b.Fatalf("GET %s: %d workspace rows, want %d", path, got, wantRows)
		}
	}
	b.ReportAllocs()
	durs := make([]time.Duration, 0, b.N)
	var queries int64
	for b.Loop() {
		r := w.serve(v, path, false)
		if r.status != http.StatusOK {
			b.Fatalf("GET %s: status %d", path, r.status)
		}
		durs = append(durs, r.elapsed)
		queries += r.queries
	}
	// Reported after the loop: b.Loop's start resets the metrics.
	b.ReportMetric(float64(queries)/float64(len(durs)), "queries/op")
	reportDurations(b, durs)
	if wantRows >= 0 {
		b.ReportMetric(float64(wantRows), "rows")
	}
	b.ReportMetric(float64(first.size)/1024, "page-KB")
}

func reportDurations(b *testing.B, durs []time.Duration) {
	if len(durs) == 0 {
		return
	}
	var sum time.Duration
	for _, d := range durs {
		sum += d
	}
	slices.Sort(durs)
	ms := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }
	b.ReportMetric(ms(sum)/float64(len(durs)), "mean-ms")
	b.ReportMetric(ms(percentile(durs, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(durs, 95)), "p95-ms")
}

// percentile of sorted durations, nearest rank.
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100 // ceil(n*p/100), 1-based
	return sorted[max(0, min(len(sorted), i)-1)]
}

// TestWorkspacesTabQueryCount proves the Workspaces tab runs a constant
// number of SQL statements whatever the size of the tree and of the
// membership: the same page on trees of 10, 100 and 1,000 workspaces (with
// 4, 20 and 200 members with grants) runs the same statements, for the
// owner (whole tree) and for a member with three grants. Not timed; quick
// enough for make test (about 0.5 s on SQLite, 1.5 s on PostgreSQL).
func TestWorkspacesTabQueryCount(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			sizes := []int{10, 100, 1000}
			var specs []orgSpec
			for _, n := range sizes {
				specs = append(specs, orgSpec{Slug: fmt.Sprintf("tree-%d", n), Workspaces: n, Admins: 1, Members: max(4, n/5)})
			}
			w := newWorld(t, dialect, specs...)
			t.Logf("seeded trees of %v workspaces in %s", sizes, w.seeded.Round(time.Millisecond))
			type who struct {
				name string
				rows func(o *orgFixture) int
				user func(o *orgFixture) int64
			}
			for _, p := range []who{
				{"owner", func(o *orgFixture) int { return o.total() }, func(o *orgFixture) int64 { return o.owner.ID }},
				{"member", func(o *orgFixture) int { return o.sees }, func(o *orgFixture) int64 { return o.probe.ID }},
			} {
				counts := map[int]int64{}
				for _, n := range sizes {
					o := w.orgs[fmt.Sprintf("tree-%d", n)]
					path := "/orgs/" + o.org.Slug + "/workspaces"
					v := w.signIn(t, p.user(o))
					w.warm(t, v, path)
					r := w.serve(v, path, true)
					if r.status != http.StatusOK {
						t.Fatalf("%s GET %s: status %d", p.name, path, r.status)
					}
					if got, want := rows(r.body), p.rows(o); got != want {
						t.Fatalf("%s GET %s: %d workspace rows, want %d", p.name, path, got, want)
					}
					counts[n] = r.queries
				}
				t.Logf("%s: queries per request by tree size: %v", p.name, counts)
				for _, n := range sizes[1:] {
					if counts[n] != counts[sizes[0]] {
						t.Errorf("%s: %d queries on a tree of %d workspaces, %d on a tree of %d: want the same number whatever the size",
							p.name, counts[n], n, counts[sizes[0]], sizes[0])
					}
				}
			}
		})
	}
}
