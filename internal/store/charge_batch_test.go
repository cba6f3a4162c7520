package store_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"strconv"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// TestChargeBatchMatchesCharge: a batch is the same as its events charged
// one by one. Two identical organizations (in two fresh databases) get the
// same random stream of charges — fitting, short of credits, past limits,
// invalid, replayed, conflicting keys, duplicates inside one batch — one
// through Charge, the other through ChargeBatch in batches of random
// sizes. Every event's outcome and every balance must agree. Replay a
// failure with BATCH_SEED.
func TestChargeBatchMatchesCharge(t *testing.T) {
	seed := rand.Uint64()
	if v, err := strconv.ParseUint(os.Getenv("BATCH_SEED"), 10, 64); err == nil {
		seed = v
	}
	t.Logf("BATCH_SEED=%d", seed)
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			type world struct {
				f             *chargeFixture
				ws            []*orgbase.Workspace
				owner, member int64
			}
			build := func() *world {
				db := dbtest.Open(t, dialect, store.Options{})
				f := newChargeFixture(t, db)
				a := f.add(t, f.root, "A")
				a1 := f.add(t, a, "A1")
				b := f.add(t, f.root, "B")
				f.grant(200 * credit)
				f.budget(a, 60*credit)
				f.setLimit(t, a1, limit(25*credit))
				f.setLimit(t, b, limit(40*credit))
				m := f.member("m@example.com", orgbase.RoleAdmin)
				if err := db.SetMemberLimit(f.ctx, f.org.ID, f.op, m.ID, limit(30*credit)); err != nil {
					t.Fatal(err)
				}
				return &world{f: f, ws: []*orgbase.Workspace{f.root, a, a1, b}, owner: f.owner.ID, member: m.ID}
			}
			one, many := build(), build()
			rng := rand.New(rand.NewPCG(seed, 1))
			var reqs []orgbase.ChargeRequest
			for i := range 600 {
				w := one.ws[rng.IntN(len(one.ws))]
				user := one.owner
				if rng.IntN(3) == 0 {
					user = one.member
				}
				req := orgbase.ChargeRequest{WorkspaceID: w.ID, UserID: user, Tool: "test.unit", Model: "one", Units: int64(1 + rng.IntN(3)),
					IdempotencyKey: fmt.Sprintf("k%d", i)}
				switch r := rng.IntN(20); {
				case r == 0 && len(reqs) > 0: // a replay
					req = reqs[rng.IntN(len(reqs))]
				case r == 1 && len(reqs) > 0: // a conflicting key
					req.IdempotencyKey = reqs[rng.IntN(len(reqs))].IdempotencyKey
				case r == 2:
					req.Tool = "nope"
				case r == 3:
					c := orgbase.Credits(1 + rng.IntN(2000))
					req.Credits = &c
				case r == 4:
					req.Units = 0
				}
				reqs = append(reqs, req)
			}
			class := func(err error) string {
				var ic *orgbase.InsufficientCredits
				var lr *orgbase.LimitReached
				var kc *orgbase.IdempotencyConflict
				switch {
				case errors.As(err, &ic):
					return fmt.Sprintf("short %s", ic.AccountName)
				case errors.As(err, &lr):
					return fmt.Sprintf("limit %s %d %s", lr.Scope, lr.WorkspaceID+lr.UserID, lr.Used)
				case errors.As(err, &kc):
					return "conflict"
				}
				return "error " + orgbase.ErrorCode(err) + " " + orgbase.ErrorMessage(err)
			}
			describe := func(res *orgbase.ChargeResult, err error) string {
				if err != nil {
					return class(err)
				}
				return fmt.Sprintf("ok %s left %s replay %v", res.Charged, res.BalanceLeft, res.Replayed)
			}
			kinds := map[string]int{}
			for i := 0; i < len(reqs); {
				n := min(1+rng.IntN(60), len(reqs)-i)
				outs, err := many.f.db.ChargeBatch(many.f.ctx, many.f.org.ID, reqs[i:i+n])
				if err != nil {
					t.Fatalf("batch at %d: %v", i, err)
				}
				for j, o := range outs {
					res, err := one.f.db.Charge(one.f.ctx, one.f.org.ID, reqs[i+j])
					want, got := describe(res, err), describe(o.Result, o.Err)
					if want != got {
						t.Fatalf("BATCH_SEED=%d event %d (batch of %d at %d): Charge says %q, ChargeBatch says %q", seed, i+j, n, i, want, got)
					}
					kinds[want[:4]]++
				}
				if a, b := one.f.balances(), many.f.balances(); fmt.Sprint(a) != fmt.Sprint(b) {
					t.Fatalf("BATCH_SEED=%d after event %d: balances %v (one by one) vs %v (batches)", seed, i+n, a, b)
				}
				i += n
			}
			t.Logf("outcomes: %v", kinds)
			if kinds["ok 0"]+kinds["ok 1"]+kinds["ok 2"]+kinds["ok 3"] == 0 || kinds["shor"] == 0 || kinds["limi"] == 0 || kinds["conf"] == 0 {
				t.Errorf("the stream should mix acceptances, short balances, limits and conflicts: %v", kinds)
			}
			one.f.checkConsistent()
			many.f.checkConsistent()
		})
	}
}
