package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestNoOverspend is the "no overspend, ever": three app instances
// started through run share one PostgreSQL; many concurrent clients fire
// one-credit charges through the usage API (single events, and batches of
// ten from every fourth client), round-robin over the instances,
// at a four-level tree with a budget and limits sized so that about a third
// must be refused. Afterwards the accepted count must equal what the money
// and limits allowed, nothing is negative or past a limit, the credits
// charged equal the funding consumed, and `orgbase ledger check` passes.
//
// Why the expected count is exact whatever the interleaving: every charge
// costs the same, and the constraints a charge must fit (the pool, the
// budget of A, the limits of B, A1, A1a and the member limit of M2) form a
// laminar family (any two are nested or disjoint), so they define a laminar
// matroid; the charges accepted in any order are a maximal independent set,
// and all maximal independent sets of a matroid have the same size. The
// test computes that size by accepting greedily in its own order.
//
// Size: OVERSPEND_CHARGES and OVERSPEND_CLIENTS (default 2,000 charges from
// 60 clients; the full run is 10,000 from 300: `make bench-overspend`).
func TestNoOverspend(t *testing.T) {
	n := envInt("OVERSPEND_CHARGES", 2000)
	clients := envInt("OVERSPEND_CLIENTS", 60)
	dbURL := dbtest.URL(t, store.Postgres)
	env := map[string]string{"DATABASE_URL": dbURL, "ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(), "ORGBASE_LOG_LEVEL": "error"}
	if code, _, errOut := runCmd(t, env, "migrate", "up"); code != 0 {
		t.Fatalf("migrate up: %d %s", code, errOut)
	}

	// The tree: Primary > A (budget) > A1 > A1a, and Primary > B.
	ctx := context.Background()
	db, err := store.Open(ctx, dbURL, store.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	user := func(email string) *orgbase.User {
		u, err := db.CreateUser(ctx, email, email, "x", store.NewToken{Hash: "v-" + email, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return u
	}
	owner, m2 := user("owner@load.test"), user("m2@load.test")
	org, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Load", Slug: "load"})
	if err != nil {
		t.Fatal(err)
	}
	op := orgbase.OperatorAccess(org.ID)
	primary, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	mk := func(parent *orgbase.Workspace, name string) *orgbase.Workspace {
		ws, err := db.CreateWorkspace(ctx, org.ID, op, store.NewWorkspace{ParentID: parent.ID, Name: name}, orgbase.DefaultMaxDepth)
		if err != nil {
			t.Fatal(err)
		}
		return ws
	}
	a := mk(primary, "A")
	a1 := mk(a, "A1")
	a1a := mk(a1, "A1a")
	b := mk(primary, "B")
	if err := db.AddMember(ctx, org.ID, m2.ID, orgbase.RoleMember); err != nil {
		t.Fatal(err)
	}
	if err := db.SetGrant(ctx, org.ID, op, a1a.ID, m2.ID, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	frac := func(f float64) int64 { return int64(f * float64(n)) }
	capPool, capA, capB, capA1, capA1a, capM2 := frac(0.18), frac(0.5), frac(0.1), frac(0.4), frac(0.28), frac(0.1)
	c := func(n int64) orgbase.Credits { return orgbase.Credits(n) * orgbase.Credit }
	if _, err := db.GrantCredits(ctx, org.ID, c(capPool+capA), "load test", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SetFundingMode(ctx, org.ID, op, a.ID, orgbase.FundingBudget); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Transfer(ctx, org.ID, op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), c(capA), orgbase.TransferMove, "", ""); err != nil {
		t.Fatal(err)
	}
	for ws, lim := range map[*orgbase.Workspace]int64{a1: capA1, a1a: capA1a, b: capB} {
		if ws == a1a {
			continue // after its parent's, which bounds it
		}
		l := c(lim)
		if _, err := db.SetWorkspaceLimit(ctx, org.ID, op, ws.ID, &l); err != nil {
			t.Fatal(err)
		}
	}
	lA1a := c(capA1a)
	if _, err := db.SetWorkspaceLimit(ctx, org.ID, op, a1a.ID, &lA1a); err != nil {
		t.Fatal(err)
	}
	lM2 := c(capM2)
	if err := db.SetMemberLimit(ctx, org.ID, op, m2.ID, &lM2); err != nil {
		t.Fatal(err)
	}
	code, out, errOut := runCmd(t, env, "apikey", "create", "--org", "load", "--name", "load", "--json")
	if code != 0 {
		t.Fatalf("apikey create: %d %s", code, errOut)
	}
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Key == "" {
		t.Fatalf("apikey create printed %q", out)
	}

	// The demand, and what the money allows (greedy: see above).
	type charge struct {
		ws   *orgbase.Workspace
		user string
	}
	rng := rand.New(rand.NewPCG(uint64(n), 7))
	demand := make([]charge, n)
	room := map[string]int64{"pool": capPool, "A": capA, "B": capB, "A1": capA1, "A1a": capA1a, "M2": capM2}
	expected := 0
	for i := range demand {
		var ch charge
		var needs []string
		switch r := rng.IntN(100); {
		case r < 10:
			ch, needs = charge{primary, "owner@load.test"}, []string{"pool"}
		case r < 25:
			ch, needs = charge{b, "owner@load.test"}, []string{"pool", "B"}
		case r < 40:
			ch, needs = charge{a, "owner@load.test"}, []string{"A"}
		case r < 60:
			ch, needs = charge{a1, "owner@load.test"}, []string{"A", "A1"}
		case r < 80:
			ch, needs = charge{a1a, "owner@load.test"}, []string{"A", "A1", "A1a"}
		default:
			ch, needs = charge{a1a, "m2@load.test"}, []string{"A", "A1", "A1a", "M2"}
		}
		demand[i] = ch
		fits := true
		for _, k := range needs {
			fits = fits && room[k] > 0
		}
		if fits {
			expected++
			for _, k := range needs {
				room[k]--
			}
		}
	}

	servers := []*server{startServer(t, env), startServer(t, env), startServer(t, env)}
	var accepted, refused, next atomic.Int64
	var mu sync.Mutex
	codes := map[string]int{}
	hc := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients}, Timeout: 60 * time.Second}
	start := time.Now()
	var wg sync.WaitGroup
	// Every fourth client sends batches of up to 10 events (one transaction
	// each, all locks up front); the others single events.
	post := func(w, i int, body string) (int, map[string]any, bool) {
		for attempt := 0; ; attempt++ {
			srv := servers[(i+attempt+w)%len(servers)]
			req, _ := http.NewRequest("POST", srv.URL+"/api/v1/usage", bytes.NewBufferString(body))
			req.Header.Set("Authorization", "Bearer "+created.Key)
			req.Header.Set("Content-Type", "application/json")
			resp, err := hc.Do(req)
			if err != nil {
				if attempt < 5 {
					continue // a retry with the same idempotency keys is safe
				}
				t.Errorf("charge %d: %v", i, err)
				return 0, nil, false
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			var res map[string]any
			_ = json.Unmarshal(b, &res)
			if resp.StatusCode >= 500 {
				t.Errorf("charge %d: %d %s", i, resp.StatusCode, b)
				return 0, nil, false
			}
			return resp.StatusCode, res, true
		}
	}
	count := func(i, status int, errObj any) {
		switch status {
		case 200:
			accepted.Add(1)
		case 402:
			refused.Add(1)
			e, _ := errObj.(map[string]any)
			mu.Lock()
			codes[fmt.Sprint(e["code"])]++
			mu.Unlock()
		default:
			t.Errorf("charge %d: status %d %v", i, status, errObj)
		}
	}
	event := func(i int) string {
		ch := demand[i]
		return fmt.Sprintf(`{"idempotency_key":"load-%d","user":%q,"workspace":"%d","tool":"chat.completion","model":"gpt-4.1-nano","credits":"1"}`, i, ch.user, ch.ws.ID)
	}
	for w := range clients {
		wg.Go(func() {
			size := 1
			if w%4 == 3 {
				size = 10
			}
			for {
				first := int(next.Add(int64(size))) - size
				if first >= n {
					return
				}
				last := min(first+size, n)
				if size == 1 {
					status, res, ok := post(w, first, event(first))
					if !ok {
						return
					}
					count(first, status, res["error"])
					continue
				}
				parts := make([]string, 0, last-first)
				for i := first; i < last; i++ {
					parts = append(parts, event(i))
				}
				status, res, ok := post(w, first, `{"events":[`+strings.Join(parts, ",")+`]}`)
				if !ok {
					return
				}
				items, _ := res["results"].([]any)
				if status != 200 || len(items) != last-first {
					t.Errorf("batch at %d: %d %v", first, status, res)
					return
				}
				for k, it := range items {
					item, _ := it.(map[string]any)
					st := 402
					if item["status"] == "accepted" {
						st = 200
					} else if e, _ := item["error"].(map[string]any); e["code"] != "insufficient_credits" && e["code"] != "limit_reached" {
						st = 0
					}
					count(first+k, st, item["error"])
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	t.Logf("%d charges from %d clients over 3 instances in %s (%.0f/s): %d accepted, %d refused %v; expected %d accepted",
		n, clients, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), accepted.Load(), refused.Load(), codes, expected)
	if t.Failed() {
		return
	}
	if got := accepted.Load(); got != int64(expected) {
		t.Errorf("accepted %d charges, the money and limits allowed exactly %d", got, expected)
	}
	if f := float64(refused.Load()) / float64(n); f < 0.2 || f > 0.45 {
		t.Errorf("%.0f%% refused: the sizing should refuse about 30%%", f*100)
	}

	// The database agrees: no balance below zero, no limit passed, the
	// credits charged equal the funding consumed, and the ledger checks out.
	var negative, overLimit, events, charged int64
	var usageBalance int64
	q := func(dest any, query string, args ...any) {
		t.Helper()
		if err := db.SQL().QueryRowContext(ctx, query, args...).Scan(dest); err != nil {
			t.Fatal(err)
		}
	}
	q(&negative, "SELECT COUNT(*) FROM accounts WHERE org_id = $1 AND kind IN ('pool', 'workspace') AND balance < 0", org.ID)
	q(&overLimit, `SELECT COUNT(*) FROM limit_periods lp LEFT JOIN workspaces w ON lp.scope = 'workspace' AND w.id = lp.subject_id
		LEFT JOIN memberships m ON lp.scope = 'member' AND m.org_id = lp.org_id AND m.user_id = lp.subject_id
		WHERE lp.org_id = $1 AND lp.used > COALESCE(w.monthly_limit, m.monthly_limit, lp.used)`, org.ID)
	q(&events, "SELECT COUNT(*) FROM usage_events WHERE org_id = $1", org.ID)
	q(&charged, "SELECT COALESCE(SUM(credits), 0) FROM usage_events WHERE org_id = $1", org.ID)
	q(&usageBalance, "SELECT SUM(balance) FROM accounts WHERE org_id = $1 AND kind = 'usage'", org.ID)
	var funding int64
	q(&funding, "SELECT SUM(balance) FROM accounts WHERE org_id = $1 AND kind IN ('pool', 'workspace')", org.ID)
	consumed := int64(c(capPool+capA)) - funding
	switch {
	case negative != 0:
		t.Errorf("%d balances below zero", negative)
	case overLimit != 0:
		t.Errorf("%d limits passed", overLimit)
	case events != accepted.Load():
		t.Errorf("%d usage events for %d accepted charges", events, accepted.Load())
	case charged != consumed || charged != usageBalance || charged != events*int64(orgbase.Credit):
		t.Errorf("charged %d, funding consumed %d, usage account %d, events %d", charged, consumed, usageBalance, events)
	}
	if code, out, errOut := runCmd(t, env, "ledger", "check"); code != 0 {
		t.Errorf("ledger check: %d %s %s", code, out, errOut)
	}
	// The three daily rollups equal a recomputation from the raw events.
	if code, out, errOut := runCmd(t, env, "rollups", "check"); code != 0 || !strings.Contains(out, "rollups ok") {
		t.Errorf("rollups check: %d %s %s", code, out, errOut)
	}
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil && v > 0 {
		return v
	}
	return def
}
