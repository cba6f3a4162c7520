package bench

import (
	"bufio"
	"context"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/store"
)

// dashboardSpecs: Acme with 200 workspaces and 500 members (the owner, 10
// admins, 489 members), and two noise organizations sharing the database.
var dashboardSpecs = []orgSpec{
	{Slug: "acme", Workspaces: 200, Admins: 10, Members: 489},
	{Slug: "globex", Workspaces: 60, Admins: 2, Members: 120, Owner: "owner@globex.test", PoolOffset: 200},
	{Slug: "initech", Workspaces: 60, Admins: 2, Members: 120, Owner: "owner@initech.test", PoolOffset: 350},
}

// BenchmarkDashboards loads DASH_EVENTS usage events (default 10 million)
// over the last 90 days into Acme, and a tenth as many into each noise
// organization, on PostgreSQL; builds the rollups from them with the same
// code as `orgbase rollups rebuild`; and measures, in the same run, through
// the real server in process:
//
//	overview         the Overview tab (cards, 30-day chart, top lists)
//	overview-90d-ws  the same for 90 days filtered to one workspace subtree
//	history-first    the History tab's first page
//	history-deep     a History page 60 days back (its Load more cursor)
//	history-me       Me mode (the owner's own actions: a few per cent)
//	history-ws[-tool] a workspace subtree, and with a category
//	members          the Members tab for 500 members with usage columns
//	naive-chart      the Overview chart computed by GROUP BY over the raw
//	                 events (the baseline): its p50 over the Overview's p50
//	                 is reported as naive-ratio
//	select1          one round trip, the floor
//
// and CSV export of the History for a range of about one million rows,
// streamed through a loopback HTTP server, with the process's peak RSS
// sampled while it runs.
//
// The events are written by SQL (generate_series), not through the charging
// service: 10 million charges would take hours here, and the dashboards
// read rollups, which the rebuild computes from the events exactly as
// charges maintain them (TestRollups and the no-overspend test prove the
// two agree).
//
//	TEST_DATABASE_URL=... go test ./bench/ -run '^$' -bench Dashboards -benchtime=200x -timeout 60m
func BenchmarkDashboards(b *testing.B) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		b.Skip("TEST_DATABASE_URL not set: the dashboards benchmark needs PostgreSQL")
	}
	events := 10_000_000
	if v, err := strconv.Atoi(os.Getenv("DASH_EVENTS")); err == nil && v > 0 {
		events = v
	}
	ctx := context.Background()
	w := newWorld(b, store.Postgres, dashboardSpecs...)
	acme := w.orgs["acme"]
	start := time.Now()
	for _, slug := range []string{"acme", "globex", "initech"} {
		n := events
		if slug != "acme" {
			n = events / 10
		}
		if err := loadEvents(ctx, w, w.orgs[slug], n); err != nil {
			b.Fatalf("load %s: %v", slug, err)
		}
	}
	loaded := time.Since(start)
	start = time.Now()
	if err := w.db.RebuildRollups(ctx, 0); err != nil {
		b.Fatal(err)
	}
	if _, err := w.db.SQL().Exec("VACUUM ANALYZE"); err != nil {
		b.Fatal(err)
	}
	rebuilt := time.Since(start)
	var rollupRows [3]int64
	for i, t := range []string{"usage_daily", "usage_daily_ws", "usage_daily_member"} {
		if err := w.db.SQL().QueryRow("SELECT COUNT(*) FROM "+t+" WHERE org_id = $1", acme.org.ID).Scan(&rollupRows[i]); err != nil {
			b.Fatal(err)
		}
	}
	fmt.Printf("# loaded %d + 2×%d events in %s; rollups rebuilt and analyzed in %s; acme rollup rows: usage_daily %d, usage_daily_ws %d, usage_daily_member %d\n",
		events, events/10, loaded.Round(time.Second), rebuilt.Round(time.Second), rollupRows[0], rollupRows[1], rollupRows[2])

	owner := w.signIn(b, acme.owner.ID)
	today := time.Now().UTC()
	day := func(back int) string { return today.AddDate(0, 0, -back).Format(time.DateOnly) }
	sub := acme.levels[1][0] // a first-level workspace: about a fifth of the tree below it

	b.Run("select1", func(b *testing.B) {
		durs := make([]time.Duration, 0, b.N)
		for b.Loop() {
			t0 := time.Now()
			var one int
			if err := w.db.SQL().QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
				b.Fatal(err)
			}
			durs = append(durs, time.Since(t0))
		}
		reportDurations(b, durs)
	})
	var overviewP50 time.Duration
	b.Run("overview", func(b *testing.B) {
		overviewP50 = measurePage(b, w, owner, "/orgs/acme", "Credit consumption")
	})
	b.Run("overview-90d-ws", func(b *testing.B) {
		measurePage(b, w, owner, fmt.Sprintf("/orgs/acme?range=90d&workspace=%d", sub.ID), "Credit consumption")
	})
	b.Run("naive-chart", func(b *testing.B) {
		// The Overview's 30-day chart, straight from the events.
		from := time.Date(today.Year(), today.Month(), today.Day(), 0, 0, 0, 0, time.UTC).AddDate(0, 0, -29)
		// Seconds per run at full size: ten runs are enough (ns/op then
		// divides their time by b.N; read the -ms figures).
		runs := min(b.N, 10)
		durs := make([]time.Duration, 0, runs)
		for range runs {
			t0 := time.Now()
			rows, err := w.db.SQL().QueryContext(ctx, `SELECT to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day, category, SUM(credits)
				FROM usage_events WHERE org_id = $1 AND created_at >= $2 GROUP BY 1, 2 ORDER BY 1, 2`, acme.org.ID, from)
			if err != nil {
				b.Fatal(err)
			}
			n := 0
			for rows.Next() {
				n++
			}
			rows.Close()
			if n == 0 {
				b.Fatal("naive chart: no rows")
			}
			durs = append(durs, time.Since(t0))
		}
		reportDurations(b, durs)
		if overviewP50 > 0 {
			b.ReportMetric(float64(percentileOf(durs, 50))/float64(overviewP50), "naive-ratio")
		}
	})
	b.Run("history-first", func(b *testing.B) {
		measurePage(b, w, owner, "/orgs/acme/history", "")
	})
	// A deep page: the page after the first one 60 days back, by the
	// "Load more" link's keyset cursor.
	deep := w.warm(b, owner, "/orgs/acme/history?to="+day(60))
	m := regexp.MustCompile(`href="(/orgs/acme/history\?[^"]*cursor=[^"]*)"`).FindStringSubmatch(deep.body)
	if m == nil {
		b.Fatal("history: no Load more link on a page 60 days back")
	}
	deepPath := html.UnescapeString(m[1])
	b.Run("history-deep", func(b *testing.B) {
		measurePage(b, w, owner, deepPath, "")
	})
	b.Run("history-me", func(b *testing.B) {
		measurePage(b, w, owner, "/orgs/acme/history?me=1", "")
	})
	b.Run("history-ws", func(b *testing.B) {
		measurePage(b, w, owner, fmt.Sprintf("/orgs/acme/history?workspace=%d", sub.ID), "")
	})
	b.Run("history-ws-tool", func(b *testing.B) {
		measurePage(b, w, owner, fmt.Sprintf("/orgs/acme/history?workspace=%d&tool=category:chatbot", sub.ID), "")
	})
	b.Run("members", func(b *testing.B) {
		measurePage(b, w, owner, "/orgs/acme/members?period=30d&sort=total", "")
	})

	// CSV export of about a million rows (a tenth of 90 days' events is
	// nine days), streamed over loopback, peak RSS sampled every 10 ms.
	days := max(1, 90*1_000_000/events)
	path := fmt.Sprintf("/orgs/acme/history.csv?from=%s&to=%s", day(days+9), day(10))
	srv := httptest.NewServer(w.handler)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
	for _, c := range owner.cookies {
		req.AddCookie(c)
	}
	base := rssKB()
	var peak int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			peak = max(peak, rssKB())
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	})
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	lines, bytes := countLines(resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	close(stop)
	wg.Wait()
	if resp.StatusCode != http.StatusOK || lines < 2 {
		b.Fatalf("GET %s: status %d, %d lines", path, resp.StatusCode, lines)
	}
	fmt.Printf("# csv export: %d rows, %.1f MB in %s (%.0f rows/s); process RSS %d MB before, peak %d MB during (+%d MB)\n",
		lines-1, float64(bytes)/1e6, took.Round(time.Millisecond), float64(lines-1)/took.Seconds(), base/1024, peak/1024, (peak-base)/1024)
}

// measurePage serves path repeatedly (after two warm-up requests) and
// reports server-time percentiles and statements; it returns the p50. When
// want is set, the page must contain it.
func measurePage(b *testing.B, w *world, v *visitor, path, want string) time.Duration {
	first := w.warm(b, v, path)
	if want != "" && !strings.Contains(first.body, want) {
		b.Fatalf("GET %s: the page does not say %q", path, want)
	}
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
	b.ReportMetric(float64(queries)/float64(len(durs)), "queries/op")
	b.ReportMetric(float64(first.size)/1024, "page-KB")
	reportDurations(b, durs)
	return percentileOf(durs, 50)
}

// percentileOf is the p-th percentile of unsorted durations.
func percentileOf(durs []time.Duration, p int) time.Duration {
	s := slices.Clone(durs)
	slices.Sort(s)
	return percentile(s, p)
}

// loadEvents writes n usage events of the organization over the last 90
// days in chunks of a million, by SQL, in time order: each event by one
// (member, workspace) pair the charging service would accept (members in
// their granted workspaces, the owner and admins in five each), pairs
// skewed so a few are heavy (the square of a uniform draw), tools from the
// price catalog with their category and price, spread evenly over time (no
// weekly rhythm: the demo data has one).
func loadEvents(ctx context.Context, w *world, o *orgFixture, n int) error {
	entries, err := catalog.Default()
	if err != nil {
		return err
	}
	if _, err := w.db.SeedCatalog(ctx, entries); err != nil { // idempotent
		return err
	}
	prices, err := w.db.FindCatalog(ctx)
	if err != nil {
		return err
	}
	var tools, models, cats, credits []string
	for _, p := range prices {
		tools = append(tools, p.Tool)
		models = append(models, p.Model)
		cats = append(cats, string(p.Category))
		credits = append(credits, strconv.FormatInt(int64(p.CreditsPerUnit), 10))
	}
	// Who charges where: as the charging service allows, each member in
	// the workspaces granted to them, the owner and each admin in five
	// workspaces of their own choosing (they may use any).
	var pairWS, pairUser []string
	rows, err := w.db.SQL().QueryContext(ctx, `SELECT workspace_id, user_id FROM workspace_grants WHERE org_id = $1
		UNION ALL SELECT w.id, m.user_id FROM memberships m
			CROSS JOIN LATERAL (SELECT id FROM workspaces WHERE org_id = m.org_id ORDER BY (id * 7919 + m.user_id) % 1009 LIMIT 5) w
		WHERE m.org_id = $1 AND m.role IN ('owner', 'admin')
		ORDER BY 2, 1`, o.org.ID)
	if err != nil {
		return err
	}
	for rows.Next() {
		var ws, user int64
		if err := rows.Scan(&ws, &user); err != nil {
			rows.Close()
			return err
		}
		pairWS = append(pairWS, strconv.FormatInt(ws, 10))
		pairUser = append(pairUser, strconv.FormatInt(user, 10))
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return err
	}
	arr := func(xs []string, quote bool) string {
		if quote {
			q := make([]string, len(xs))
			for i, x := range xs {
				q[i] = "'" + strings.ReplaceAll(x, "'", "''") + "'"
			}
			xs = q
		}
		return "ARRAY[" + strings.Join(xs, ",") + "]"
	}
	// Event g of n happens at the g/n-th point of the 90 days (plus a
	// minute of jitter): each chunk appends to the indexes' right ends,
	// as live charges do, instead of writing at random places in them.
	q := fmt.Sprintf(`INSERT INTO usage_events (org_id, workspace_id, user_id, tool, model, units, credits, category, idempotency_key, request_hash, balance_after, metadata, created_at)
		SELECT %d, (%s)[p], (%s)[p],
			(%s)[c], (%s)[c], u, u * (%s)[c], (%s)[c], 'bench-' || lpad(g::text, 10, '0'), 'h', 0, '{}',
			now() - interval '90 days' + make_interval(secs => g * (90 * 86400.0 / $3) + random() * 60)
		FROM (SELECT g, 1 + floor(random() ^ 2 * %d)::int AS p, 1 + floor(random() * %d)::int AS c, 1 + floor(random() * 4)::int AS u
			FROM generate_series($1::bigint, $2::bigint) g) s ORDER BY g`,
		o.org.ID, arr(pairWS, false), arr(pairUser, false),
		arr(tools, true), arr(models, true), arr(credits, false), arr(cats, true), len(pairWS), len(tools))
	const chunk = 1_000_000
	for lo := 0; lo < n; lo += chunk {
		hi := min(n, lo+chunk) - 1
		t0 := time.Now()
		if _, err := w.db.SQL().ExecContext(ctx, q, lo, hi, n); err != nil {
			return err
		}
		fmt.Printf("# %s: events %d–%d loaded in %s\n", o.spec.Slug, lo, hi, time.Since(t0).Round(time.Millisecond))
	}
	return nil
}

// rssKB is the process's resident set size (VmRSS) in KiB.
func rssKB() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		if v, ok := strings.CutPrefix(s.Text(), "VmRSS:"); ok {
			n, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n
		}
	}
	return 0
}

// countLines reads r to the end and returns its lines and bytes.
func countLines(r io.Reader) (lines, n int64) {
	buf := make([]byte, 64<<10)
	for {
		k, err := r.Read(buf)
		n += int64(k)
		lines += int64(strings.Count(string(buf[:k]), "\n"))
		if err != nil {
			return lines, n
		}
	}
}
