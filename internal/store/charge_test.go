package store_test

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// chargeFixture is a tree with a seeded test catalog.
type chargeFixture struct {
	*tree
	t   testing.TB
	ctx context.Context
	op  orgbase.Access
}

func newChargeFixture(t testing.TB, db *store.DB) *chargeFixture {
	t.Helper()
	ctx := context.Background()
	_, err := db.SeedCatalog(ctx, []catalog.Entry{
		{Tool: "test.image", Model: "m1", Unit: "image", CreditsPerUnit: 3 * credit, Category: orgbase.CategoryImageSpeech},
		{Tool: "test.chat", Model: "m2", Unit: "1000 words", CreditsPerUnit: 120, Category: orgbase.CategoryChatbot},
		{Tool: "test.unit", Model: "one", Unit: "unit", CreditsPerUnit: credit, Category: orgbase.CategoryChatbot},
	})
	if err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, db)
	return &chargeFixture{tree: tr, t: t, ctx: ctx, op: orgbase.OperatorAccess(tr.org.ID)}
}

func (f *chargeFixture) grant(amount orgbase.Credits) {
	f.t.Helper()
	if _, err := f.db.GrantCredits(f.ctx, f.org.ID, amount, "test", ""); err != nil {
		f.t.Fatal(err)
	}
}

func (f *chargeFixture) budget(ws *orgbase.Workspace, amount orgbase.Credits) {
	f.t.Helper()
	if _, err := f.db.SetFundingMode(f.ctx, f.org.ID, f.op, ws.ID, orgbase.FundingBudget); err != nil {
		f.t.Fatal(err)
	}
	if amount > 0 {
		if _, err := f.db.Transfer(f.ctx, f.org.ID, f.op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(ws.ID), amount, orgbase.TransferMove, "", ""); err != nil {
			f.t.Fatal(err)
		}
	}
}

func (f *chargeFixture) member(email string, role orgbase.Role) *orgbase.User {
	f.t.Helper()
	u := mustUser(f.t, f.db, email)
	if err := f.db.AddMember(f.ctx, f.org.ID, u.ID, role); err != nil {
		f.t.Fatal(err)
	}
	return u
}

// balances returns every account's balance by name.
func (f *chargeFixture) balances() map[string]orgbase.Credits {
	f.t.Helper()
	as, err := f.db.FindAccounts(f.ctx, f.org.ID)
	if err != nil {
		f.t.Fatal(err)
	}
	out := map[string]orgbase.Credits{}
	for _, a := range as {
		out[a.Name] = a.Balance
	}
	return out
}

// state is everything a refused charge must leave as it was.
func (f *chargeFixture) state() string {
	f.t.Helper()
	var b strings.Builder
	bal := f.balances()
	names := make([]string, 0, len(bal))
	for n := range bal {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(&b, "%s=%d;", n, bal[n])
	}
	var counts []struct{ N, S int64 }
	for _, q := range []string{
		"SELECT COUNT(*) AS n, COALESCE(SUM(credits), 0) AS s FROM usage_events",
		"SELECT COUNT(*) AS n, COALESCE(SUM(credits), 0) AS s FROM usage_daily",
		"SELECT COUNT(*) AS n, COALESCE(SUM(used), 0) AS s FROM limit_periods",
		"SELECT COUNT(*) AS n, COALESCE(SUM(amount), 0) AS s FROM transfers",
	} {
		if err := f.db.ScanForTest(f.ctx, &counts, q); err != nil {
			f.t.Fatal(err)
		}
		fmt.Fprintf(&b, "%d/%d;", counts[0].N, counts[0].S)
	}
	return b.String()
}

func (f *chargeFixture) charge(ws *orgbase.Workspace, user int64, tool, model string, units int64, key string) (*orgbase.ChargeResult, error) {
	return f.db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: user, Tool: tool, Model: model, Units: units, IdempotencyKey: key})
}

func (f *chargeFixture) mustCharge(ws *orgbase.Workspace, user int64, tool, model string, units int64, key string) *orgbase.ChargeResult {
	f.t.Helper()
	r, err := f.charge(ws, user, tool, model, units, key)
	if err != nil {
		f.t.Fatalf("charge %s on %s: %v", key, ws.Name, err)
	}
	return r
}

// checkRollups compares usage_daily with a GROUP BY over usage_events, and
// runs CheckLedger.
func (f *chargeFixture) checkConsistent() {
	f.t.Helper()
	type row struct {
		WorkspaceID, UserID int64
		Category, Tool, Day string
		Credits, Events     int64
	}
	var daily, grouped []row
	if err := f.db.ScanForTest(f.ctx, &daily, `SELECT workspace_id, user_id, category, tool, day, credits, events FROM usage_daily
		WHERE org_id = ? ORDER BY workspace_id, user_id, category, tool, day`, f.org.ID); err != nil {
		f.t.Fatal(err)
	}
	var evs []struct {
		WorkspaceID, UserID int64
		Category, Tool      string
		CreatedAt           time.Time
		Credits             int64
	}
	if err := f.db.ScanForTest(f.ctx, &evs, `SELECT workspace_id, user_id, category, tool, created_at, credits FROM usage_events WHERE org_id = ?`, f.org.ID); err != nil {
		f.t.Fatal(err)
	}
	idx := map[string]int{}
	for _, e := range evs {
		r := row{WorkspaceID: e.WorkspaceID, UserID: e.UserID, Category: e.Category, Tool: e.Tool, Day: e.CreatedAt.UTC().Format(time.DateOnly)}
		k := fmt.Sprint(r)
		i, ok := idx[k]
		if !ok {
			i = len(grouped)
			idx[k] = i
			grouped = append(grouped, r)
		}
		grouped[i].Credits += e.Credits
		grouped[i].Events++
	}
	sort.Slice(grouped, func(i, j int) bool {
		a, b := grouped[i], grouped[j]
		return fmt.Sprintf("%020d%020d%s|%s|%s", a.WorkspaceID, a.UserID, a.Category, a.Tool, a.Day) <
			fmt.Sprintf("%020d%020d%s|%s|%s", b.WorkspaceID, b.UserID, b.Category, b.Tool, b.Day)
	})
	if fmt.Sprint(daily) != fmt.Sprint(grouped) {
		f.t.Errorf("rollups %v\ndiffer from events %v", daily, grouped)
	}
	// All three rollup tables, by the SQL recomputation of CheckRollups.
	if bad, err := f.db.CheckRollups(f.ctx, f.org.ID, 0); err != nil {
		f.t.Fatal(err)
	} else if len(bad) > 0 {
		f.t.Errorf("CheckRollups: %+v", bad)
	}
	check, err := f.db.CheckLedger(f.ctx)
	if err != nil {
		f.t.Fatal(err)
	}
	if !check.OK() {
		f.t.Errorf("ledger: %v", check.Mismatches)
	}
}

func TestChargeFundingAndReplay(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		f := newChargeFixture(t, db)
		a := f.add(t, f.root, "A")
		a1 := f.add(t, a, "A1")
		b := f.add(t, f.root, "B")
		owner := f.owner.ID
		f.grant(1000 * credit)
		f.budget(a, 100*credit)

		// Shared B spends from the pool: 2 images × 3 credits.
		r := f.mustCharge(b, owner, "test.image", "m1", 2, "k1")
		if r.Charged != 6*credit || r.BalanceLeft != 894*credit || r.Replayed || r.EventID == 0 {
			t.Fatalf("charge on B = %+v", r)
		}
		// Budget A spends its own; shared A1 under A spends A's.
		r = f.mustCharge(a, owner, "test.image", "m1", 1, "k2")
		if r.Charged != 3*credit || r.BalanceLeft != 97*credit {
			t.Fatalf("charge on A = %+v", r)
		}
		r = f.mustCharge(a1, owner, "test.chat", "m2", 5, "k3") // 5 × 0.120
		if r.Charged != 600 || r.BalanceLeft != 96*credit+400 {
			t.Fatalf("charge on A1 = %+v", r)
		}
		// An explicit amount instead of the catalog price.
		explicit := orgbase.Credits(1500)
		r, err := db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: f.root.ID, UserID: owner, Tool: "test.chat", Model: "m2",
			Units: 1, Credits: &explicit, IdempotencyKey: "k4", Metadata: map[string]any{"words": 120, "a": "b"}})
		if err != nil || r.Charged != 1500 || r.BalanceLeft != 892*credit+500 {
			t.Fatalf("explicit charge = %+v, %v", r, err)
		}
		bal := f.balances()
		if bal["Organization pool"] != 892*credit+500 || bal["A"] != 96*credit+400 || bal["Usage"] != 11*credit+100 {
			t.Fatalf("balances %v", bal)
		}

		// A replay returns the original answer and charges nothing.
		before := f.state()
		first, _ := db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: b.ID, UserID: owner, Tool: "test.image", Model: "m1", Units: 2, IdempotencyKey: "k1"})
		if first == nil || !first.Replayed || first.Charged != 6*credit || first.BalanceLeft != 894*credit {
			t.Fatalf("replay = %+v", first)
		}
		r, err = db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: f.root.ID, UserID: owner, Tool: "test.chat", Model: "m2",
			Units: 1, Credits: &explicit, IdempotencyKey: "k4", Metadata: map[string]any{"a": "b", "words": 120}})
		if err != nil || !r.Replayed {
			t.Fatalf("replay with reordered metadata = %+v, %v", r, err)
		}
		// The same key with a different payload is a conflict.
		for name, req := range map[string]orgbase.ChargeRequest{
			"units":     {WorkspaceID: b.ID, UserID: owner, Tool: "test.image", Model: "m1", Units: 3, IdempotencyKey: "k1"},
			"workspace": {WorkspaceID: a.ID, UserID: owner, Tool: "test.image", Model: "m1", Units: 2, IdempotencyKey: "k1"},
			"metadata":  {WorkspaceID: f.root.ID, UserID: owner, Tool: "test.chat", Model: "m2", Units: 1, Credits: &explicit, IdempotencyKey: "k4"},
		} {
			_, err := db.Charge(f.ctx, f.org.ID, req)
			var ic *orgbase.IdempotencyConflict
			if !errors.As(err, &ic) || orgbase.ErrorCode(err) != orgbase.ECONFLICT || orgbase.ErrorFields(err)["idempotency_key"] == "" {
				t.Errorf("%s: got %v, want an idempotency conflict", name, err)
			}
		}
		if after := f.state(); after != before {
			t.Fatalf("replays changed state:\n%s\n%s", before, after)
		}
		// Nothing is limited here, so no counter was kept (charges under no
		// limit lock no shared row); a limit set now starts from the month's
		// use so far, on every level of the path and for the member.
		ws, _ := db.WorkspaceUsage(f.ctx, f.org.ID, orgbase.Period(time.Now()))
		ms, _ := db.MemberUsage(f.ctx, f.org.ID, orgbase.Period(time.Now()))
		if len(ws) != 0 || len(ms) != 0 {
			t.Fatalf("counters without limits: %v, members %v", ws, ms)
		}
		for _, w := range []*orgbase.Workspace{f.root, a, a1, b} {
			if _, err := db.SetWorkspaceLimit(f.ctx, f.org.ID, f.op, w.ID, ptrCredits(1000*credit)); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.SetMemberLimit(f.ctx, f.org.ID, f.op, owner, ptrCredits(11*credit+100)); err != nil {
			t.Fatal(err)
		}
		ws, _ = db.WorkspaceUsage(f.ctx, f.org.ID, orgbase.Period(time.Now()))
		ms, _ = db.MemberUsage(f.ctx, f.org.ID, orgbase.Period(time.Now()))
		if ws[f.root.ID] != 11*credit+100 || ws[a.ID] != 3*credit+600 || ws[a1.ID] != 600 || ws[b.ID] != 6*credit || ms[owner] != 11*credit+100 {
			t.Fatalf("limit usage %v, members %v", ws, ms)
		}
		// The member limit started at what they spent: one more milli-credit is refused.
		one := orgbase.Credits(1)
		_, err = db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: b.ID, UserID: owner, Tool: "test.chat", Model: "m2", Units: 1, Credits: &one, IdempotencyKey: "after-limit"})
		var lr *orgbase.LimitReached
		if !errors.As(err, &lr) || lr.Scope != orgbase.LimitMember {
			t.Fatalf("a charge past the new member limit: %v", err)
		}
		f.checkConsistent()
	})
}

func TestChargeRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		f := newChargeFixture(t, db)
		w := f.add(t, f.root, "W")
		x := f.add(t, f.root, "X")
		bw := f.add(t, f.root, "BW")
		f.grant(30 * credit)
		f.budget(bw, 2*credit)
		f.setLimit(t, w, limit(5*credit))
		ann := f.member("ann@example.com", orgbase.RoleMember)
		if err := db.SetGrant(f.ctx, f.org.ID, f.op, w.ID, ann.ID, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		if err := db.SetMemberLimit(f.ctx, f.org.ID, f.op, ann.ID, limit(2*credit)); err != nil {
			t.Fatal(err)
		}
		bob := f.member("bob@example.com", orgbase.RoleMember) // no grant
		stranger := mustUser(t, db, "stranger@example.com")
		if _, err := db.ArchiveWorkspace(f.ctx, f.org.ID, f.op, x.ID); err != nil {
			t.Fatal(err)
		}
		owner := f.owner.ID
		f.mustCharge(w, ann.ID, "test.unit", "one", 1, "ok-1") // counters exist and hold something
		big := orgbase.Credits(100 * credit)
		huge := orgbase.MaxCredits + 1
		before := f.state()

		var ic *orgbase.InsufficientCredits
		_, err := f.charge(bw, owner, "test.image", "m1", 1, "r1") // 3 > BW's 2
		if !errors.As(err, &ic) || ic.AccountName != "BW" || ic.Balance != 2*credit || ic.Amount != 3*credit || ic.WorkspaceID != bw.ID {
			t.Fatalf("insufficient on BW: %v", err)
		}
		_, err = db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: f.root.ID, UserID: owner, Tool: "test.unit", Model: "one", Units: 1, Credits: &big, IdempotencyKey: "r2"})
		if !errors.As(err, &ic) || ic.AccountName != "Organization pool" {
			t.Fatalf("insufficient on the pool: %v", err)
		}
		var lr *orgbase.LimitReached
		_, err = f.charge(w, owner, "test.unit", "one", 5, "r3") // 1 used + 5 > 5
		if !errors.As(err, &lr) || lr.Scope != orgbase.LimitWorkspace || lr.WorkspaceID != w.ID || !strings.Contains(lr.Message(), "W") {
			t.Fatalf("workspace limit: %v", err)
		}
		_, err = f.charge(w, ann.ID, "test.unit", "one", 2, "r4") // ann: 1 used + 2 > 2
		if !errors.As(err, &lr) || lr.Scope != orgbase.LimitMember || lr.UserID != ann.ID {
			t.Fatalf("member limit: %v", err)
		}
		field := func(what string, err error, code, field string) {
			t.Helper()
			wantCode(t, what, err, code)
			if orgbase.ErrorFields(err)[field] == "" {
				t.Errorf("%s: no message on %q: %v", what, field, err)
			}
		}
		_, err = f.charge(w, owner, "test.nope", "m1", 1, "r5")
		field("unknown tool", err, orgbase.EINVALID, "tool")
		_, err = f.charge(w, owner, "test.image", "nope", 1, "r6")
		field("unknown model", err, orgbase.EINVALID, "tool")
		_, err = f.charge(x, owner, "test.image", "m1", 1, "r7")
		field("archived", err, orgbase.ECONFLICT, "workspace")
		_, err = f.charge(w, stranger.ID, "test.image", "m1", 1, "r8")
		field("non-member", err, orgbase.ENOTFOUND, "user")
		_, err = f.charge(w, bob.ID, "test.image", "m1", 1, "r9")
		field("no access", err, orgbase.EFORBIDDEN, "user")
		_, err = f.charge(&orgbase.Workspace{ID: 999999}, owner, "test.image", "m1", 1, "r10")
		field("unknown workspace", err, orgbase.ENOTFOUND, "workspace")
		_, err = f.charge(w, owner, "test.image", "m1", 0, "r11")
		field("zero units", err, orgbase.EINVALID, "units")
		_, err = f.charge(w, owner, "test.image", "m1", -2, "r12")
		field("negative units", err, orgbase.EINVALID, "units")
		_, err = db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: w.ID, UserID: owner, Tool: "test.unit", Model: "one", Units: 1, Credits: &huge, IdempotencyKey: "r13"})
		field("absurd amount", err, orgbase.EINVALID, "credits")
		_, err = f.charge(w, owner, "test.image", "m1", orgbase.MaxUnits+1, "r14")
		field("absurd units", err, orgbase.EINVALID, "units")
		_, err = f.charge(w, owner, "test.image", "m1", 1, "")
		field("no key", err, orgbase.EINVALID, "idempotency_key")
		_, err = orgbase.ParseCredits("0.1234")
		wantCode(t, "four decimals", err, orgbase.EINVALID, "three decimals")

		if after := f.state(); after != before {
			t.Fatalf("refusals changed state:\n%s\n%s", before, after)
		}
		// A refused key is not taken: the same key can charge once it fits.
		f.setLimit(t, w, limit(10*credit))
		if r := f.mustCharge(w, owner, "test.unit", "one", 5, "r3"); r.Replayed || r.Charged != 5*credit {
			t.Fatalf("retry after refusal = %+v", r)
		}
		f.checkConsistent()
	})
}

// One idempotency key, a hundred concurrent requests: one charge, one answer.
func TestChargeConcurrentSameKey(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one transaction at a time: concurrency is PostgreSQL's to prove")
		}
		f := newChargeFixture(t, db)
		f.grant(100 * credit)
		results := make([]*orgbase.ChargeResult, 100)
		var wg sync.WaitGroup
		for i := range results {
			wg.Go(func() {
				r, err := f.charge(f.root, f.owner.ID, "test.image", "m1", 1, "same")
				if err != nil {
					t.Errorf("request %d: %v", i, err)
					return
				}
				results[i] = r
			})
		}
		wg.Wait()
		if t.Failed() {
			return
		}
		fresh := 0
		for _, r := range results {
			if r.EventID != results[0].EventID || r.TransferID != results[0].TransferID || r.Charged != 3*credit || r.BalanceLeft != 97*credit {
				t.Fatalf("answers differ: %+v vs %+v", r, results[0])
			}
			if !r.Replayed {
				fresh++
			}
		}
		if fresh != 1 {
			t.Fatalf("%d requests charged, want 1", fresh)
		}
		var n []int64
		if err := db.ScanForTest(f.ctx, &n, "SELECT COUNT(*) FROM transfers WHERE org_id = ? AND kind = 'usage'", f.org.ID); err != nil || n[0] != 1 {
			t.Fatalf("usage transfers %v, %v", n, err)
		}
		if bal := f.balances(); bal["Organization pool"] != 97*credit {
			t.Fatalf("balances %v", bal)
		}
		f.checkConsistent()
	})
}

// 300 clients × 10 charges of one credit on a tree with a budget and a
// limit sized so that about a third must be refused.
func TestChargeConcurrentMoneyAndLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one transaction at a time: concurrency is PostgreSQL's to prove")
		}
		f := newChargeFixture(t, db)
		a := f.add(t, f.root, "A")
		a1 := f.add(t, a, "A1")
		b := f.add(t, f.root, "B")
		b1 := f.add(t, b, "B1")
		f.grant(1900 * credit)
		f.budget(a, 900*credit) // the pool keeps 1,000
		f.setLimit(t, b, limit(500*credit))
		ann := f.member("ann@example.com", orgbase.RoleAdmin)
		bob := f.member("bob@example.com", orgbase.RoleMember)
		if err := db.SetGrant(f.ctx, f.org.ID, f.op, f.root.ID, bob.ID, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		if err := db.SetMemberLimit(f.ctx, f.org.ID, f.op, ann.ID, limit(100_000*credit)); err != nil {
			t.Fatal(err)
		}
		targets := []*orgbase.Workspace{f.root, a, a1, b, b1}
		users := []int64{f.owner.ID, ann.ID, bob.ID}

		var accepted, insufficient, limited atomic.Int64
		var wg sync.WaitGroup
		for g := range 300 {
			wg.Go(func() {
				for j := range 10 {
					i := g*10 + j
					_, err := f.charge(targets[i%5], users[g%3], "test.unit", "one", 1, fmt.Sprintf("c-%d", i))
					var ic *orgbase.InsufficientCredits
					var lr *orgbase.LimitReached
					switch {
					case err == nil:
						accepted.Add(1)
					case errors.As(err, &ic):
						insufficient.Add(1)
					case errors.As(err, &lr) && lr.WorkspaceID == b.ID:
						limited.Add(1)
					default:
						t.Errorf("charge %d: %v", i, err)
					}
				}
			})
		}
		wg.Wait()
		// A and A1 (1,200 asked) spend A's 900; the Primary and B, B1
		// (600 + 1,200 asked, B capped at 500) drain the pool's 1,000.
		if accepted.Load() != 1900 || accepted.Load()+insufficient.Load()+limited.Load() != 3000 {
			t.Fatalf("accepted %d, insufficient %d, limited %d", accepted.Load(), insufficient.Load(), limited.Load())
		}
		bal := f.balances()
		if bal["Organization pool"] != 0 || bal["A"] != 0 || bal["Usage"] != 1900*credit {
			t.Fatalf("balances %v", bal)
		}
		var sums []struct{ N, S int64 }
		if err := db.ScanForTest(f.ctx, &sums, "SELECT COUNT(*) AS n, COALESCE(SUM(credits), 0) AS s FROM usage_events WHERE org_id = ?", f.org.ID); err != nil {
			t.Fatal(err)
		}
		if sums[0].N != 1900 || sums[0].S != int64(1900*credit) {
			t.Fatalf("events %+v", sums[0])
		}
		ws, _ := db.WorkspaceUsage(f.ctx, f.org.ID, orgbase.Period(time.Now()))
		if ws[b.ID] > 500*credit || len(ws) != 1 { // B is the only limited workspace, hence the only one counted
			t.Fatalf("limit usage %v", ws)
		}
		var over []int64
		if err := db.ScanForTest(f.ctx, &over, `SELECT COUNT(*) FROM limit_periods l JOIN workspaces w ON w.id = l.subject_id AND l.scope = 'workspace'
			WHERE w.monthly_limit IS NOT NULL AND l.used > w.monthly_limit`); err != nil || over[0] != 0 {
			t.Fatalf("limits passed: %v, %v", over, err)
		}
		f.checkConsistent()
	})
}

func ptrCredits(c orgbase.Credits) *orgbase.Credits { return &c }
