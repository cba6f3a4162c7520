package bench

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/internal/web"
)

// BenchmarkChargeAPI measures charging through the HTTP API (a real TCP
// server in process: routing, key authentication, JSON, the charging
// transaction) on PostgreSQL, side by side with `pgbench -b tpcb-like` on
// the same PostgreSQL at the same client count, and prints the ratios:
//
//	spread   single-event charges from 32 clients, each to a random one of
//	         1,000 budget workspaces (each with its own balance)
//	shared   the same, the 1,000 workspaces in shared mode (all spend from
//	         the organization pool: one balance, hence one hot row)
//	hot      every charge on one workspace (the hot-row case)
//	batch    POST /api/v1/usage with 1,000 events per request, 4 clients,
//	         each event to a random one of the 1,000 workspaces
//	batch-own the same, each client's batches all on one workspace of its own
//	pgbench  pgbench -b tpcb-like -c 32 -j 2 -T <d> (scale 32: one branch
//	         per client; scale 1 too, where all clients share one branch row)
//
// Each phase runs BENCH_SECONDS (default 10) seconds; BENCH_PHASES=a,b runs
// only those (spread, shared, hot, batch, pgbench); BENCH_LOG=1 prints the
// server's error logs. Run it:
//
//	TEST_DATABASE_URL=postgres://postgres@127.0.0.1:5432/test?sslmode=disable \
//	  go test ./bench/ -run '^$' -bench ChargeAPI -benchtime=1x -timeout 30m
func BenchmarkChargeAPI(b *testing.B) {
	if os.Getenv("TEST_DATABASE_URL") == "" {
		b.Skip("TEST_DATABASE_URL not set")
	}
	secs := 10
	if v, err := strconv.Atoi(os.Getenv("BENCH_SECONDS")); err == nil && v > 0 {
		secs = v
	}
	dur := time.Duration(secs) * time.Second
	const clients = 32
	ctx := context.Background()
	db := dbtest.Open(b, store.Postgres, store.Options{})
	if _, err := db.SeedCatalog(ctx, []catalog.Entry{{Tool: "bench.tool", Model: "m", Unit: "unit", CreditsPerUnit: 10, Category: orgbase.CategoryChatbot}}); err != nil {
		b.Fatal(err)
	}
	owner, err := db.CreateUser(ctx, "bot@bench.test", "Bench Bot", "x", store.NewToken{Hash: "v-bot", ExpiresAt: time.Now().Add(time.Hour)})
	if err != nil {
		b.Fatal(err)
	}
	seedStart := time.Now()
	org, wss := benchOrg(b, db, owner.ID, "spread", 1000, true)
	orgShared, wssShared := benchOrg(b, db, owner.ID, "shared", 1000, false)
	if _, err := db.SQL().Exec("ANALYZE"); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("# seeded 2 organizations x 1,000 workspaces in %s\n", time.Since(seedStart).Round(time.Millisecond))
	key := benchKey(b, db, org.ID)
	keyShared := benchKey(b, db, orgShared.ID)

	vars := map[string]string{"ORGBASE_ENV": "prod", "ORGBASE_SESSION_KEYS": sessionKey, "ORGBASE_BASE_URL": "http://bench.test"}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.DiscardHandler)
	if os.Getenv("BENCH_LOG") != "" {
		logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelError}))
	}
	h, err := web.NewServer(web.Deps{Config: cfg, Logger: logger,
		Users: db, Sessions: db, Orgs: db, Mail: db, Health: db, Workspaces: db, Members: db, API: db, Alerts: db,
		Billing: db, Payments: testprovider.New(cfg.BaseURL, db)})
	if err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: time.Minute}

	var seq atomic.Int64
	single := func(key string, pick func(r *rand.Rand) int64) func(r *rand.Rand) (int, error) {
		return func(r *rand.Rand) (int, error) {
			body := fmt.Sprintf(`{"idempotency_key":"b-%d","user":"bot@bench.test","workspace":"%d","tool":"bench.tool","model":"m","units":1}`, seq.Add(1), pick(r))
			return 1, post(hc, srv.URL, key, body, 1)
		}
	}
	anyOf := func(ids []int64) func(r *rand.Rand) int64 {
		return func(r *rand.Rand) int64 { return ids[r.IntN(len(ids))] }
	}
	one := func(id int64) func(r *rand.Rand) int64 { return func(*rand.Rand) int64 { return id } }
	batchOf := func(pick func(r *rand.Rand) int64) func(r *rand.Rand) (int, error) {
		return func(r *rand.Rand) (int, error) {
			var sb strings.Builder
			sb.WriteString(`{"events":[`)
			for i := range 1000 {
				if i > 0 {
					sb.WriteByte(',')
				}
				fmt.Fprintf(&sb, `{"idempotency_key":"b-%d","user":"bot@bench.test","workspace":"%d","tool":"bench.tool","model":"m","units":1}`, seq.Add(1), pick(r))
			}
			sb.WriteString("]}")
			return 1000, post(hc, srv.URL, key, sb.String(), 1000)
		}
	}
	// batch: every batch spread over all 1,000 workspaces, so concurrent
	// batches share most of their funding accounts (and usage shards) and
	// run one after the other; batch-own: each client's batches charge one
	// workspace of its own (a tool reporting for its workspace), so they
	// share nothing but one usage shard in sixteen.

	results := map[string]float64{}
	only := os.Getenv("BENCH_PHASES") // e.g. "batch,hot"; empty runs all
	phase := func(name string, n int, fn func(r *rand.Rand) (int, error)) {
		if only != "" && !strings.Contains(","+only+",", ","+name+",") {
			return
		}
		rate, err := load(n, dur, fn)
		if err != nil {
			b.Fatalf("%s: %v", name, err)
		}
		results[name] = rate
		fmt.Printf("# %-8s %8.0f /s  (%d clients, %s)\n", name, rate, n, dur)
	}
	pg := func(scale int) {
		if only != "" && !strings.Contains(","+only+",", ",pgbench,") {
			return
		}
		tps, err := pgbench(b, scale, clients, secs)
		if err != nil {
			b.Fatalf("pgbench: %v", err)
		}
		results[fmt.Sprintf("pgbench-s%d", scale)] = tps
		fmt.Printf("# pgbench tpcb-like scale %d: %8.0f tps (%d clients, %ds)\n", scale, tps, clients, secs)
	}
	// pgbench first, while the app's pool holds no connections.
	pg(32)
	pg(1)
	phase("spread", clients, single(key, anyOf(wss)))
	phase("shared", clients, single(keyShared, anyOf(wssShared)))
	phase("hot", clients, single(key, one(wss[0])))
	phase("batch", 4, batchOf(anyOf(wss)))
	ownWS := make(chan int64, 4)
	for i := range 4 {
		ownWS <- wss[i*7] // ids 7 apart: different usage shards
	}
	phase("batch-own", 4, func(r *rand.Rand) (int, error) {
		// Each goroutine takes a workspace of its own on its first call.
		return batchOwnFor(r, ownWS, batchOf)
	})
	ratio := func(a, b string) float64 { return results[a] / results[b] }
	fmt.Printf("# ratios: spread/pgbench-s32 %.2f, shared/pgbench-s32 %.2f, hot/pgbench-s32 %.2f; spread/pgbench-s1 %.2f, hot/pgbench-s1 %.2f; batch %.0f events/s, batch-own %.0f events/s\n",
		ratio("spread", "pgbench-s32"), ratio("shared", "pgbench-s32"), ratio("hot", "pgbench-s32"), ratio("spread", "pgbench-s1"), ratio("hot", "pgbench-s1"), results["batch"], results["batch-own"])
	for k, v := range results {
		b.ReportMetric(v, k+"/s")
	}
	chk, err := db.CheckLedger(ctx)
	if err != nil || !chk.OK() {
		b.Fatalf("ledger check after the benchmark: %v %v", err, chk)
	}
}

// benchOrg creates an organization with n workspaces under ten groups, each
// with 1,000,000 credits in budget mode (or shared, spending from a pool of
// a billion).
func benchOrg(b *testing.B, db *store.DB, ownerID int64, slug string, n int, budget bool) (*orgbase.Org, []int64) {
	ctx := context.Background()
	org, err := db.CreateOrg(ctx, ownerID, store.NewOrg{Name: slug, Slug: slug})
	if err != nil {
		b.Fatal(err)
	}
	op := orgbase.OperatorAccess(org.ID)
	primary, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		b.Fatal(err)
	}
	if _, err := db.GrantCredits(ctx, org.ID, 1_000_000_000*orgbase.Credit, "bench", ""); err != nil {
		b.Fatal(err)
	}
	groups := make([]int64, 10)
	for i := range groups {
		ws, err := db.CreateWorkspace(ctx, org.ID, op, store.NewWorkspace{ParentID: primary.ID, Name: fmt.Sprintf("Group %d", i)}, orgbase.DefaultMaxDepth)
		if err != nil {
			b.Fatal(err)
		}
		groups[i] = ws.ID
	}
	ids := make([]int64, n)
	var mu sync.Mutex
	var first error
	var wg sync.WaitGroup
	var next atomic.Int64
	for range 8 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				err := func() error {
					ws, err := db.CreateWorkspace(ctx, org.ID, op, store.NewWorkspace{ParentID: groups[i%10], Name: fmt.Sprintf("WS %d", i)}, orgbase.DefaultMaxDepth)
					if err != nil {
						return err
					}
					ids[i] = ws.ID
					if !budget {
						return nil
					}
					if _, err := db.SetFundingMode(ctx, org.ID, op, ws.ID, orgbase.FundingBudget); err != nil {
						return err
					}
					_, err = db.Transfer(ctx, org.ID, op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(ws.ID), 1_000_000*orgbase.Credit, orgbase.TransferMove, "", "")
					return err
				}()
				if err != nil {
					mu.Lock()
					first = err
					mu.Unlock()
					return
				}
			}
		})
	}
	wg.Wait()
	if first != nil {
		b.Fatal(first)
	}
	return org, ids
}

func benchKey(b *testing.B, db *store.DB, orgID int64) string {
	primary, err := db.FindPrimaryWorkspace(context.Background(), orgID)
	if err != nil {
		b.Fatal(err)
	}
	_, secret, err := db.CreateAPIKey(context.Background(), orgID, orgbase.OperatorAccess(orgID), primary.ID, "bench")
	if err != nil {
		b.Fatal(err)
	}
	return secret
}

// post sends one usage request and requires every event to be accepted.
func post(hc *http.Client, base, key, body string, events int) error {
	req, _ := http.NewRequest("POST", base+"/api/v1/usage", bytes.NewBufferString(body))
	req.Header.Set("Authorization", "Bearer "+key)
	req.Header.Set("Content-Type", "application/json")
	res, err := hc.Do(req)
	if err != nil {
		return err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		return fmt.Errorf("status %d: %.300s", res.StatusCode, b)
	}
	if events > 1 {
		var out struct{ Accepted int }
		if err := json.Unmarshal(b, &out); err != nil || out.Accepted != events {
			return fmt.Errorf("batch: %d of %d accepted: %.300s", out.Accepted, events, b)
		}
	}
	return nil
}

// load runs fn from n goroutines for d and returns the units done per second.
func load(n int, d time.Duration, fn func(r *rand.Rand) (int, error)) (float64, error) {
	var done atomic.Int64
	var first error
	var once sync.Once
	stop := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(i), 42))
			for time.Now().Before(stop) {
				k, err := fn(r)
				if err != nil {
					once.Do(func() { first = err })
					return
				}
				done.Add(int64(k))
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), first
}

var tpsRE = regexp.MustCompile(`tps = ([0-9.]+) \(without initial connection time\)`)

// pgbench initialises a database of its own at the scale and runs the
// built-in tpcb-like script with the clients for secs seconds.
func pgbench(b *testing.B, scale, clients, secs int) (float64, error) {
	bin, err := exec.LookPath("pgbench")
	if err != nil {
		return 0, fmt.Errorf("pgbench not installed (Debian: postgresql-client): %w", err)
	}
	u, err := url.Parse(os.Getenv("TEST_DATABASE_URL"))
	if err != nil {
		return 0, err
	}
	admin, err := sql.Open("pgx", u.String())
	if err != nil {
		return 0, err
	}
	defer admin.Close()
	name := fmt.Sprintf("orgbase_pgbench_%d", scale)
	_, _ = admin.Exec("DROP DATABASE IF EXISTS " + name)
	if _, err := admin.Exec("CREATE DATABASE " + name); err != nil {
		return 0, err
	}
	defer admin.Exec("DROP DATABASE IF EXISTS " + name)
	u.Path = "/" + name
	conn := u.String()
	if out, err := exec.Command(bin, "-i", "-q", "-s", strconv.Itoa(scale), conn).CombinedOutput(); err != nil {
		return 0, fmt.Errorf("pgbench -i: %v: %s", err, out)
	}
	out, err := exec.Command(bin, "-b", "tpcb-like", "-n", "-c", strconv.Itoa(clients), "-j", "2", "-T", strconv.Itoa(secs), conn).CombinedOutput()
	if err != nil {
		return 0, fmt.Errorf("pgbench: %v: %s", err, out)
	}
	m := tpsRE.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no tps in pgbench output: %s", out)
	}
	return strconv.ParseFloat(string(m[1]), 64)
}

// batchOwnFor gives each load goroutine (identified by its *rand.Rand) one
// workspace from ws for all its batches.
var ownOf sync.Map // *rand.Rand → func(*rand.Rand) (int, error)

func batchOwnFor(r *rand.Rand, ws chan int64, batchOf func(func(*rand.Rand) int64) func(*rand.Rand) (int, error)) (int, error) {
	fn, ok := ownOf.Load(r)
	if !ok {
		id := <-ws
		fn, _ = ownOf.LoadOrStore(r, batchOf(func(*rand.Rand) int64 { return id }))
	}
	return fn.(func(*rand.Rand) (int, error))(r)
}
