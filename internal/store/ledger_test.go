package store_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

const credit = orgbase.Credit

// ledger is a tree with money helpers.
type ledger struct {
	*tree
	op orgbase.Access
}

func newLedger(t *testing.T, db *store.DB) *ledger {
	t.Helper()
	tr := newTree(t, db)
	return &ledger{tree: tr, op: orgbase.OperatorAccess(tr.org.ID)}
}

func (l *ledger) grant(t *testing.T, amount orgbase.Credits) {
	t.Helper()
	if _, err := l.db.GrantCredits(context.Background(), l.org.ID, amount, "", ""); err != nil {
		t.Fatalf("GrantCredits(%s): %v", amount, err)
	}
}

// budget adds a workspace in budget mode under parent.
func (l *ledger) budget(t *testing.T, parent *orgbase.Workspace, name string) *orgbase.Workspace {
	t.Helper()
	ws := l.add(t, parent, name)
	ws, err := l.db.SetFundingMode(context.Background(), l.org.ID, l.op, ws.ID, orgbase.FundingBudget)
	if err != nil {
		t.Fatalf("SetFundingMode(%s, budget): %v", name, err)
	}
	return ws
}

func (l *ledger) move(t *testing.T, from, to orgbase.AccountRef, amount orgbase.Credits) *orgbase.Transfer {
	t.Helper()
	tr, err := l.db.Transfer(context.Background(), l.org.ID, l.op, from, to, amount, orgbase.TransferMove, "", "")
	if err != nil {
		t.Fatalf("Transfer %v → %v of %s: %v", from, to, amount, err)
	}
	return tr
}

// balances returns every account's balance by name ("Organization pool",
// a workspace's name, "Purchases"...).
func (l *ledger) balances(t *testing.T) map[string]orgbase.Credits {
	t.Helper()
	accts, err := l.db.FindAccounts(context.Background(), l.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]orgbase.Credits{}
	for _, a := range accts {
		out[a.Name] = a.Balance
	}
	return out
}

func (l *ledger) wantBalances(t *testing.T, want map[string]orgbase.Credits) {
	t.Helper()
	got := l.balances(t)
	for name, w := range want {
		if got[name] != w {
			t.Errorf("balance of %s = %s, want %s (all: %v)", name, got[name], w, got)
		}
	}
}

func wantLedgerOK(t *testing.T, db *store.DB) *store.LedgerCheck {
	t.Helper()
	c, err := db.CheckLedger(context.Background())
	if err != nil {
		t.Fatalf("CheckLedger: %v", err)
	}
	if !c.OK() {
		t.Fatalf("CheckLedger found %d problems: %v", len(c.Mismatches), c.Mismatches)
	}
	return c
}

func countRows(t *testing.T, db *store.DB, query string, args ...any) int64 {
	t.Helper()
	if db.Dialect() == store.Postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	var n int64
	if err := db.SQL().QueryRow(query, args...).Scan(&n); err != nil {
		t.Fatalf("%s: %v", query, err)
	}
	return n
}

func exec(t *testing.T, db *store.DB, query string, args ...any) error {
	t.Helper()
	if db.Dialect() == store.Postgres {
		for i := 1; strings.Contains(query, "?"); i++ {
			query = strings.Replace(query, "?", fmt.Sprintf("$%d", i), 1)
		}
	}
	_, err := db.SQL().Exec(query, args...)
	return err
}

func TestLedgerAccountsOpenWithTheOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		l := newLedger(t, db)
		accts, err := db.FindAccounts(context.Background(), l.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, a := range accts {
			kinds = append(kinds, string(a.Kind))
			if a.Balance != 0 || a.OrgID != l.org.ID {
				t.Errorf("%s: balance %s org %d, want 0 in org %d", a.Name, a.Balance, a.OrgID, l.org.ID)
			}
		}
		if got, want := strings.Join(kinds, ","), "pool,purchases,usage,expired,bank,adjustment"; got != want {
			t.Fatalf("accounts %s, want %s", got, want)
		}
		if accts[0].WorkspaceID == nil || *accts[0].WorkspaceID != l.root.ID || accts[0].Name != "Organization pool" {
			t.Fatalf("pool = %+v: want it held by the Primary workspace", accts[0])
		}
		if l.root.FundingMode != orgbase.FundingShared {
			t.Errorf("Primary funding mode %q", l.root.FundingMode)
		}
		c := wantLedgerOK(t, db)
		if c.Accounts != 6 || c.Transfers != 0 {
			t.Errorf("check counted %d accounts, %d transfers; want 6, 0", c.Accounts, c.Transfers)
		}
	})
}

// Organizations that predate the ledger get their accounts from the
// migration, and lazily from the first money path when they are missing.
func TestLedgerAccountsForExistingOrganizations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		for ledgerApplied(t, db) { // roll back to before the ledger
			if err := db.MigrateDown(ctx); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Migrate(ctx); err != nil { // the migration opens accounts for existing orgs
			t.Fatal(err)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM accounts WHERE org_id = ?", l.org.ID); got != 6 {
			t.Fatalf("after the migration: %d accounts, want 6", got)
		}
		accts, err := db.FindAccounts(ctx, l.org.ID)
		if err != nil || len(accts) != 6 || accts[0].CreatedAt.IsZero() {
			t.Fatalf("FindAccounts after migration = %+v, %v", accts, err)
		}
		if err := exec(t, db, "DELETE FROM accounts WHERE org_id = ?", l.org.ID); err != nil {
			t.Fatal(err)
		}
		if b, err := db.PoolBalance(ctx, l.org.ID); err != nil || b != 0 {
			t.Fatalf("PoolBalance without accounts = %s, %v", b, err)
		}
		l.grant(t, 5*credit)
		l.wantBalances(t, map[string]orgbase.Credits{"Organization pool": 5 * credit, "Purchases": -5 * credit})
		if got := countRows(t, db, "SELECT COUNT(*) FROM accounts WHERE org_id = ?", l.org.ID); got != 6 {
			t.Fatalf("after a lazy open: %d accounts, want 6", got)
		}
		if err := db.EnsureAccounts(ctx, l.org.ID); err != nil { // idempotent
			t.Fatal(err)
		}
		wantLedgerOK(t, db)
	})
}

func ledgerApplied(t *testing.T, db *store.DB) bool {
	t.Helper()
	st, err := db.MigrateStatus(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range st {
		if s.Name == "00005_ledger.sql" {
			return s.Applied
		}
	}
	t.Fatal("no 00005_ledger.sql migration")
	return false
}

func TestLedgerTransfersMoveExactAmounts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		log := &auditLog{db: db, orgID: l.org.ID}
		log.seen = len(log.all(t))

		if _, err := db.GrantCredits(ctx, l.org.ID, 100*credit+250, "Welcome pack", ""); err != nil {
			t.Fatal(err)
		}
		_, ch := log.one(t, "credits.grant")
		if ch["amount"]["to"] != "100.25" || ch["pool_balance"]["from"] != "0" || ch["pool_balance"]["to"] != "100.25" || ch["memo"]["to"] != "Welcome pack" {
			t.Errorf("grant audit changes = %v", ch)
		}
		a := l.budget(t, l.root, "A")
		log.seen++ // its creation
		log.one(t, "workspace.funding_mode")
		b := l.budget(t, l.root, "B")
		shared := l.add(t, a, "A shared child")
		log.seen += 3

		pool, wa, wb := orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(b.ID)
		tr := l.move(t, pool, wa, 30*credit+500)
		if tr.Amount != 30_500 || tr.Kind != orgbase.TransferMove || tr.Replayed || tr.ID == 0 {
			t.Errorf("transfer = %+v", tr)
		}
		e, ch := log.one(t, "credits.transfer")
		if e.TargetLabel != "Organization pool → A" || ch["amount"]["to"] != "30.5" || ch["source_balance"]["to"] != "69.75" || ch["destination_balance"]["to"] != "30.5" {
			t.Errorf("transfer audit = %q %v", e.TargetLabel, ch)
		}
		l.move(t, wa, wb, 1) // one milli-credit
		// The Primary's balance is the pool.
		l.move(t, wb, orgbase.WorkspaceAccount(l.root.ID), 1)
		l.wantBalances(t, map[string]orgbase.Credits{
			"Organization pool": 69_751, "A": 30_499, "B": 0, "Purchases": -100_250, "Usage": 0,
		})

		if got, err := db.PoolBalance(ctx, l.org.ID); err != nil || got != 69_751 {
			t.Errorf("PoolBalance = %s, %v", got, err)
		}
		// A shared workspace spends from its nearest ancestor with a budget.
		fa, err := db.FindFundingAccount(ctx, l.org.ID, shared.ID)
		if err != nil || fa.WorkspaceID == nil || *fa.WorkspaceID != a.ID || fa.Balance != 30_499 || fa.Name != "A" {
			t.Errorf("FindFundingAccount(shared child of A) = %+v, %v", fa, err)
		}
		if got, err := db.WorkspaceBalance(ctx, l.org.ID, l.root.ID); err != nil || got != 69_751 {
			t.Errorf("WorkspaceBalance(Primary) = %s, %v; want the pool", got, err)
		}
		if got, err := db.WorkspaceBalance(ctx, l.org.ID, b.ID); err != nil || got != 0 {
			t.Errorf("WorkspaceBalance(B) = %s, %v", got, err)
		}

		// The operator's other kinds go only between the accounts they mean.
		if _, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.SystemAccount(orgbase.AccountAdjustment), wb, 2*credit, orgbase.TransferAdjustment, "Goodwill", ""); err != nil {
			t.Fatalf("adjustment: %v", err)
		}
		if _, err := db.Transfer(ctx, l.org.ID, l.op, wb, orgbase.SystemAccount(orgbase.AccountUsage), credit, orgbase.TransferUsage, "", ""); err != nil {
			t.Fatalf("usage: %v", err)
		}
		l.wantBalances(t, map[string]orgbase.Credits{"B": credit, "Usage": credit, "Adjustments": -2 * credit})
		if _, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.SystemAccount(orgbase.AccountPurchases), wb, credit, orgbase.TransferMove, "", ""); orgbase.ErrorCode(err) != orgbase.EINVALID {
			t.Errorf("a 'transfer' out of purchases: got %v, want invalid", err)
		}
		wantLedgerOK(t, db)
	})
}

func TestLedgerRefusals(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 50*credit)
		a := l.budget(t, l.root, "A")
		b := l.budget(t, l.root, "B")
		sharedWS := l.add(t, l.root, "Shared")
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), 10*credit)
		before := l.balances(t)
		transfers := countRows(t, db, "SELECT COUNT(*) FROM transfers")
		audits := countRows(t, db, "SELECT COUNT(*) FROM audit_log WHERE org_id = ?", l.org.ID)
		wa, wb := orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(b.ID)

		_, err := db.Transfer(ctx, l.org.ID, l.op, wa, wb, 10*credit+1, orgbase.TransferMove, "", "")
		if orgbase.ErrorCode(err) != orgbase.EINVALID || orgbase.ErrorMessage(err) != "The source has only 10 credits." ||
			orgbase.ErrorFields(err)["amount"] != "A has only 10 credits." {
			t.Errorf("more than the balance: got %v", err)
		}

		other := mustUser(t, db, "other-owner@example.com")
		otherOrg, err := db.CreateOrg(ctx, other.ID, store.NewOrg{Name: "Other", Slug: "other"})
		if err != nil {
			t.Fatal(err)
		}
		otherRoot, _ := db.FindPrimaryWorkspace(ctx, otherOrg.ID)
		owner := orgbase.Access{Membership: &orgbase.Membership{OrgID: l.org.ID, UserID: l.owner.ID, Role: orgbase.RoleOwner, Status: orgbase.MemberActive}}
		refused := []struct {
			name     string
			by       orgbase.Access
			from, to orgbase.AccountRef
			amount   orgbase.Credits
			kind     orgbase.TransferKind
			memo     string
			code     string
		}{
			{"zero", l.op, wa, wb, 0, orgbase.TransferMove, "", orgbase.EINVALID},
			{"negative", l.op, wa, wb, -credit, orgbase.TransferMove, "", orgbase.EINVALID},
			{"absurd", l.op, wa, wb, orgbase.MaxCredits + 1, orgbase.TransferMove, "", orgbase.EINVALID},
			{"same account", l.op, wa, wa, credit, orgbase.TransferMove, "", orgbase.EINVALID},
			{"pool to the Primary (the same account)", l.op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(l.root.ID), credit, orgbase.TransferMove, "", orgbase.EINVALID},
			{"to a shared workspace", l.op, wa, orgbase.WorkspaceAccount(sharedWS.ID), credit, orgbase.TransferMove, "", orgbase.EINVALID},
			{"another organization's workspace", l.op, wa, orgbase.WorkspaceAccount(otherRoot.ID), credit, orgbase.TransferMove, "", orgbase.ENOTFOUND},
			{"unknown kind", l.op, wa, wb, credit, "gift", "", orgbase.EINVALID},
			{"memo too long", l.op, wa, wb, credit, orgbase.TransferMove, strings.Repeat("m", orgbase.MaxMemoLen+1), orgbase.EINVALID},
			{"usage by a person", owner, wa, orgbase.SystemAccount(orgbase.AccountUsage), credit, orgbase.TransferUsage, "", orgbase.EFORBIDDEN},
			{"not a member", orgbase.Access{}, wa, wb, credit, orgbase.TransferMove, "", orgbase.EFORBIDDEN},
		}
		for _, tc := range refused {
			if _, err := db.Transfer(ctx, l.org.ID, tc.by, tc.from, tc.to, tc.amount, tc.kind, tc.memo, ""); orgbase.ErrorCode(err) != tc.code {
				t.Errorf("%s: got %v, want %s", tc.name, err, tc.code)
			}
		}
		if _, err := db.Transfer(ctx, l.org.ID, l.op, wa, wb, credit, orgbase.TransferMove, "", strings.Repeat("k", 300)); orgbase.ErrorCode(err) != orgbase.EINVALID {
			t.Errorf("long key: got %v", err)
		}
		if _, err := db.GrantCredits(ctx, l.org.ID+1000, credit, "", ""); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("grant to an unknown org: got %v", err)
		}
		if _, err := db.FindAccounts(ctx, l.org.ID+1000); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("accounts of an unknown org: got %v", err)
		}
		if _, err := db.Transfer(ctx, l.org.ID+1000, orgbase.OperatorAccess(l.org.ID+1000), orgbase.PoolAccount(), wb, credit, orgbase.TransferMove, "", ""); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("transfer in an unknown org: got %v", err)
		}
		// Nothing moved, nothing was recorded.
		if after := l.balances(t); fmt.Sprint(after) != fmt.Sprint(before) {
			t.Errorf("balances changed:\n%v\n%v", before, after)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM transfers"); got != transfers {
			t.Errorf("%d transfers, want %d", got, transfers)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM audit_log WHERE org_id = ?", l.org.ID); got != audits {
			t.Errorf("%d audit entries, want %d: refusals record nothing", got, audits)
		}
		wantLedgerOK(t, db)
	})
}

// Managers move credits inside the subtree they manage, and nowhere else;
// the policy is asked again inside the transaction.
func TestLedgerTransferPolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 100*credit)
		a := l.budget(t, l.root, "A")
		a1 := l.budget(t, a, "A1")
		b := l.budget(t, l.root, "B")
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), 20*credit)
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(b.ID), 20*credit)
		mgr := mustUser(t, db, "mgr@example.com")
		if err := db.AddMember(ctx, l.org.ID, mgr.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		if err := db.SetGrant(ctx, l.org.ID, l.op, a.ID, mgr.ID, orgbase.WorkspaceManager); err != nil {
			t.Fatal(err)
		}
		grants, _ := db.FindGrantsForUser(ctx, l.org.ID, mgr.ID)
		by := orgbase.Access{Membership: &orgbase.Membership{OrgID: l.org.ID, UserID: mgr.ID, Role: orgbase.RoleMember, Status: orgbase.MemberActive}, Grants: grants}

		tr, err := db.Transfer(ctx, l.org.ID, by, orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(a1.ID), 5*credit, orgbase.TransferMove, "", "")
		if err != nil {
			t.Fatalf("manager within A: %v", err)
		}
		if tr.ActorID == nil || *tr.ActorID != mgr.ID {
			t.Errorf("actor = %v, want the manager", tr.ActorID)
		}
		for name, pair := range map[string][2]orgbase.AccountRef{
			"from the pool": {orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID)},
			"out to B":      {orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(b.ID)},
			"in from B":     {orgbase.WorkspaceAccount(b.ID), orgbase.WorkspaceAccount(a1.ID)},
		} {
			if _, err := db.Transfer(ctx, l.org.ID, by, pair[0], pair[1], credit, orgbase.TransferMove, "", ""); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
				t.Errorf("manager %s: got %v, want forbidden", name, err)
			}
		}
		if _, err := db.SetFundingMode(ctx, l.org.ID, by, a.ID, orgbase.FundingShared); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("manager switching the mode of A (manages A, not its parent): got %v", err)
		}
		if _, err := db.SetFundingMode(ctx, l.org.ID, by, a1.ID, orgbase.FundingShared); err != nil {
			t.Errorf("manager switching A1 under A: %v", err)
		}
		// Access held from before the grant was removed no longer works.
		if err := db.DeleteGrant(ctx, l.org.ID, l.op, a.ID, mgr.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.Transfer(ctx, l.org.ID, by, orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(a1.ID), credit, orgbase.TransferMove, "", ""); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("stale access: got %v, want forbidden", err)
		}
		wantLedgerOK(t, db)
	})
}

func TestLedgerIdempotency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		log := &auditLog{db: db, orgID: l.org.ID}

		g1, err := db.GrantCredits(ctx, l.org.ID, 40*credit, "March", "grant-2024-03")
		if err != nil || g1.Replayed || g1.IdempotencyKey != "grant-2024-03" {
			t.Fatalf("first grant = %+v, %v", g1, err)
		}
		log.seen = len(log.all(t))
		g2, err := db.GrantCredits(ctx, l.org.ID, 40*credit, "March", "grant-2024-03")
		if err != nil || !g2.Replayed || g2.ID != g1.ID || g2.Amount != g1.Amount || !g2.CreatedAt.Equal(g1.CreatedAt) {
			t.Fatalf("replayed grant = %+v, %v; want the first one, replayed", g2, err)
		}
		log.none(t, "a replayed grant")
		for name, again := range map[string]func() error{
			"another amount": func() error {
				_, err := db.GrantCredits(ctx, l.org.ID, 41*credit, "March", "grant-2024-03")
				return err
			},
			"another memo": func() error {
				_, err := db.GrantCredits(ctx, l.org.ID, 40*credit, "April", "grant-2024-03")
				return err
			},
			"another kind of transfer": func() error {
				_, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.SystemAccount(orgbase.AccountPurchases), orgbase.PoolAccount(), 40*credit, orgbase.TransferTopUp, "March", "grant-2024-03")
				return err
			},
		} {
			err := again()
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT || !strings.Contains(orgbase.ErrorMessage(err), "idempotency key") {
				t.Errorf("same key, %s: got %v, want conflict", name, err)
			}
		}
		l.wantBalances(t, map[string]orgbase.Credits{"Organization pool": 40 * credit, "Purchases": -40 * credit})

		a := l.budget(t, l.root, "A")
		b := l.budget(t, l.root, "B")
		wa, wb := orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(b.ID)
		t1, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.PoolAccount(), wa, 7*credit, orgbase.TransferMove, "", "move-1")
		if err != nil {
			t.Fatal(err)
		}
		t2, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.PoolAccount(), wa, 7*credit, orgbase.TransferMove, "", "move-1")
		if err != nil || !t2.Replayed || t2.ID != t1.ID {
			t.Fatalf("replay = %+v, %v", t2, err)
		}
		if _, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.PoolAccount(), wb, 7*credit, orgbase.TransferMove, "", "move-1"); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("same key to another workspace: got %v, want conflict", err)
		}
		// A replay stands even when the source could no longer pay it.
		l.move(t, orgbase.PoolAccount(), wb, 33*credit)
		if t3, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.PoolAccount(), wa, 7*credit, orgbase.TransferMove, "", "move-1"); err != nil || t3.ID != t1.ID {
			t.Errorf("replay with an empty pool = %+v, %v", t3, err)
		}
		// Keys are per organization.
		other := mustUser(t, db, "other@example.com")
		otherOrg, err := db.CreateOrg(ctx, other.ID, store.NewOrg{Name: "Other", Slug: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if g, err := db.GrantCredits(ctx, otherOrg.ID, 40*credit, "March", "grant-2024-03"); err != nil || g.Replayed {
			t.Errorf("the same key in another org = %+v, %v; want a new grant", g, err)
		}
		l.wantBalances(t, map[string]orgbase.Credits{"Organization pool": 0, "A": 7 * credit, "B": 33 * credit})
		wantLedgerOK(t, db)
	})
}

// The same key sent concurrently moves credits once: every caller gets the
// one transfer.
func TestLedgerIdempotencyUnderConcurrency(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		var wg sync.WaitGroup
		ids := make([]int64, 16)
		errs := make([]error, len(ids))
		for i := range ids {
			wg.Go(func() {
				g, err := db.GrantCredits(ctx, l.org.ID, 3*credit, "", "once")
				errs[i] = err
				if err == nil {
					ids[i] = g.ID
				}
			})
		}
		wg.Wait()
		for i := range ids {
			if errs[i] != nil || ids[i] != ids[0] {
				t.Errorf("caller %d: transfer %d, %v; want %d", i, ids[i], errs[i], ids[0])
			}
		}
		l.wantBalances(t, map[string]orgbase.Credits{"Organization pool": 3 * credit})
		wantLedgerOK(t, db)
	})
}

// The database itself refuses a negative balance, whatever the code does.
func TestLedgerDatabaseEnforcesTheInvariants(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 5*credit)
		accts, err := db.FindAccounts(ctx, l.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		id := map[orgbase.AccountKind]int64{}
		for _, a := range accts {
			id[a.Kind] = a.ID
		}
		for _, k := range []orgbase.AccountKind{orgbase.AccountPool, orgbase.AccountUsage, orgbase.AccountExpired, orgbase.AccountBank} {
			if err := exec(t, db, "UPDATE accounts SET balance = balance - 5001 WHERE id = ?", id[k]); err == nil {
				t.Errorf("a negative %s balance was accepted", k)
			}
		}
		// The sources may go negative.
		if err := exec(t, db, "UPDATE accounts SET balance = balance - 1 WHERE id = ?", id[orgbase.AccountAdjustment]); err != nil {
			t.Errorf("negative adjustment balance refused: %v", err)
		}
		for what, q := range map[string]string{
			"a zero amount":                     "INSERT INTO transfers (org_id, debit_account_id, credit_account_id, amount, kind, created_at) VALUES (?, ?, ?, 0, 'transfer', CURRENT_TIMESTAMP)",
			"the same account twice":            "INSERT INTO transfers (org_id, debit_account_id, credit_account_id, amount, kind, created_at) VALUES (?, ?, ?, 1, 'transfer', CURRENT_TIMESTAMP)",
			"an unknown kind":                   "INSERT INTO transfers (org_id, debit_account_id, credit_account_id, amount, kind, created_at) VALUES (?, ?, ?, 1, 'gift', CURRENT_TIMESTAMP)",
			"a second pool":                     "INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at) SELECT ?, 'pool', ?, ? + 0, CURRENT_TIMESTAMP",
			"an updated transfer":               "UPDATE transfers SET amount = amount + 1 WHERE org_id = ? AND debit_account_id = ? AND credit_account_id = ?",
			"a system account with a workspace": "INSERT INTO accounts (org_id, kind, workspace_id, balance, created_at) SELECT ?, 'bank', ?, ? * 0, CURRENT_TIMESTAMP",
		} {
			a, b := id[orgbase.AccountPurchases], id[orgbase.AccountPool]
			switch what {
			case "the same account twice":
				b = a
			case "a second pool", "a system account with a workspace":
				a = l.root.ID
			}
			if err := exec(t, db, q, l.org.ID, a, b); err == nil {
				t.Errorf("%s was accepted", what)
			}
		}
		if err := exec(t, db, "UPDATE accounts SET balance = balance + 1 WHERE id = ?", id[orgbase.AccountAdjustment]); err != nil {
			t.Fatal(err)
		}
		wantLedgerOK(t, db)
	})
}

func TestLedgerFundingModeSwitches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		log := &auditLog{db: db, orgID: l.org.ID}
		l.grant(t, 100*credit)
		a := l.budget(t, l.root, "A")
		if a.FundingMode != orgbase.FundingBudget {
			t.Fatalf("A's mode = %q", a.FundingMode)
		}
		mid := l.add(t, a, "Mid") // shared, between A and Leaf
		leaf := l.budget(t, mid, "Leaf")
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), 40*credit)
		l.move(t, orgbase.WorkspaceAccount(a.ID), orgbase.WorkspaceAccount(leaf.ID), 5*credit+5)
		log.seen = len(log.all(t))

		// Budget → shared returns the balance to the nearest ancestor in budget mode.
		ws, err := db.SetFundingMode(ctx, l.org.ID, l.op, leaf.ID, orgbase.FundingShared)
		if err != nil || ws.FundingMode != orgbase.FundingShared {
			t.Fatalf("Leaf → shared = %+v, %v", ws, err)
		}
		_, ch := log.one(t, "workspace.funding_mode")
		wantChange(t, ch, "funding_mode", "Budget", "Shared")
		if ch["returned"]["to"] != "5.005" || ch["returned_to"]["to"] != "A" {
			t.Errorf("audit changes = %v", ch)
		}
		l.wantBalances(t, map[string]orgbase.Credits{"A": 40 * credit, "Leaf": 0, "Organization pool": 60 * credit})
		if fa, err := db.FindFundingAccount(ctx, l.org.ID, leaf.ID); err != nil || fa.Name != "A" {
			t.Errorf("Leaf now spends from %+v, %v; want A", fa, err)
		}
		if _, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.PoolAccount(), orgbase.WorkspaceAccount(leaf.ID), credit, orgbase.TransferMove, "", ""); orgbase.ErrorCode(err) != orgbase.EINVALID {
			t.Errorf("a transfer to a shared workspace: got %v, want invalid", err)
		}

		// With no budget above, the balance goes back to the pool.
		if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, a.ID, orgbase.FundingShared); err != nil {
			t.Fatal(err)
		}
		log.one(t, "workspace.funding_mode")
		l.wantBalances(t, map[string]orgbase.Credits{"A": 0, "Organization pool": 100 * credit})

		// Shared → budget starts at zero (reusing the account it had).
		before := countRows(t, db, "SELECT COUNT(*) FROM accounts")
		ws, err = db.SetFundingMode(ctx, l.org.ID, l.op, a.ID, orgbase.FundingBudget)
		if err != nil || ws.FundingMode != orgbase.FundingBudget {
			t.Fatalf("A → budget = %+v, %v", ws, err)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM accounts"); got != before {
			t.Errorf("%d accounts, want %d: switching back reuses the account", got, before)
		}
		if got, _ := db.WorkspaceBalance(ctx, l.org.ID, a.ID); got != 0 {
			t.Errorf("A back in budget mode has %s, want 0", got)
		}
		log.one(t, "workspace.funding_mode")
		// Setting the mode it has changes and records nothing; an empty budget returns nothing.
		if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, a.ID, orgbase.FundingBudget); err != nil {
			t.Fatal(err)
		}
		log.none(t, "the same mode again")
		transfers := countRows(t, db, "SELECT COUNT(*) FROM transfers")
		if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, a.ID, orgbase.FundingShared); err != nil {
			t.Fatal(err)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM transfers"); got != transfers {
			t.Errorf("switching an empty budget wrote %d transfers", got-transfers)
		}

		for name, tc := range map[string]struct {
			id   int64
			mode orgbase.FundingMode
			code string
		}{
			"the Primary":     {l.root.ID, orgbase.FundingBudget, orgbase.EINVALID},
			"an unknown mode": {a.ID, "solo", orgbase.EINVALID},
			"another org's":   {l.root.ID + 1000, orgbase.FundingBudget, orgbase.ENOTFOUND},
		} {
			if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, tc.id, tc.mode); orgbase.ErrorCode(err) != tc.code {
				t.Errorf("%s: got %v, want %s", name, err, tc.code)
			}
		}
		if _, err := db.ArchiveWorkspace(ctx, l.org.ID, l.op, leaf.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, leaf.ID, orgbase.FundingBudget); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("archived: got %v, want conflict", err)
		}
		wantLedgerOK(t, db)
	})
}

func TestLedgerCheckFindsTampering(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 1000*credit)
		var ws []*orgbase.Workspace
		for i := range 4 {
			ws = append(ws, l.budget(t, l.root, fmt.Sprintf("W%d", i)))
		}
		rng := rand.New(rand.NewPCG(1, 2))
		moved := 0
		for range 200 {
			from, to := orgbase.PoolAccount(), orgbase.WorkspaceAccount(ws[rng.IntN(len(ws))].ID)
			if rng.IntN(2) == 0 {
				from, to = to, from
			}
			_, err := db.Transfer(ctx, l.org.ID, l.op, from, to, orgbase.Credits(1+rng.IntN(50_000)), orgbase.TransferMove, "", "")
			switch orgbase.ErrorCode(err) {
			case "":
				moved++
			case orgbase.EINVALID:
			default:
				t.Fatal(err)
			}
		}
		if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, ws[0].ID, orgbase.FundingShared); err != nil {
			t.Fatal(err)
		}
		c := wantLedgerOK(t, db)
		if want := int64(1 + moved + 1); c.Transfers < want || c.Accounts != 6+4 {
			t.Errorf("check counted %d accounts, %d transfers; want 10, >= %d", c.Accounts, c.Transfers, want)
		}
		if total := countRows(t, db, "SELECT SUM(balance) FROM accounts WHERE org_id = ?", l.org.ID); total != 0 {
			t.Errorf("the organization's balances sum to %d, want 0", total)
		}

		fa, err := db.FindFundingAccount(ctx, l.org.ID, ws[1].ID)
		if err != nil {
			t.Fatal(err)
		}
		if err := exec(t, db, "UPDATE accounts SET balance = balance + 7 WHERE id = ?", fa.ID); err != nil {
			t.Fatal(err)
		}
		c, err = db.CheckLedger(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(c.Mismatches) != 1 {
			t.Fatalf("mismatches = %v, want one", c.Mismatches)
		}
		m := c.Mismatches[0]
		if m.Problem != store.MismatchBalance || m.AccountID != fa.ID || m.Balance != fa.Balance+7 || m.Computed != fa.Balance || m.OrgID != l.org.ID {
			t.Errorf("mismatch = %+v; want account %d at %s, computed %s", m, fa.ID, fa.Balance+7, fa.Balance)
		}
		if s := m.String(); !strings.Contains(s, fmt.Sprintf("account %d", fa.ID)) || !strings.Contains(s, (fa.Balance+7).Decimal()) {
			t.Errorf("mismatch reads %q", s)
		}
		if err := exec(t, db, "UPDATE accounts SET balance = balance - 7 WHERE id = ?", fa.ID); err != nil {
			t.Fatal(err)
		}

		// A transfer recorded in one organization between another's accounts.
		otherOwner := mustUser(t, db, "other@example.com")
		if _, err := db.CreateOrg(ctx, otherOwner.ID, store.NewOrg{Name: "Other", Slug: "other"}); err != nil {
			t.Fatal(err)
		}
		var ids []int64
		rows, err := db.SQL().Query("SELECT id FROM accounts WHERE org_id <> " + itoa(l.org.ID) + " AND kind IN ('purchases', 'pool') ORDER BY kind")
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id int64
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids = append(ids, id)
		}
		rows.Close()
		if err := exec(t, db, "INSERT INTO transfers (org_id, debit_account_id, credit_account_id, amount, kind, created_at) VALUES (?, ?, ?, 5, 'grant', CURRENT_TIMESTAMP)",
			l.org.ID, ids[1], ids[0]); err != nil {
			t.Fatal(err)
		}
		c, err = db.CheckLedger(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var problems []string
		for _, m := range c.Mismatches {
			problems = append(problems, m.Problem)
			if m.Problem == store.MismatchOrg && (m.OrgID != l.org.ID || m.TransferID == 0 || !strings.Contains(m.String(), "another organization")) {
				t.Errorf("cross-org mismatch = %+v", m)
			}
		}
		if got, want := strings.Join(problems, ","), "balance_differs,balance_differs,cross_org"; got != want {
			t.Errorf("problems %s, want %s", got, want)
		}

		if db.Dialect() == store.Postgres { // only PostgreSQL can drop a CHECK in place
			if err := exec(t, db, "ALTER TABLE accounts DROP CONSTRAINT accounts_balance_non_negative"); err != nil {
				t.Fatal(err)
			}
			if err := exec(t, db, "UPDATE accounts SET balance = -1 WHERE id = ?", fa.ID); err != nil {
				t.Fatal(err)
			}
			c, err = db.CheckLedger(ctx)
			if err != nil {
				t.Fatal(err)
			}
			negative := 0
			for _, m := range c.Mismatches {
				if m.Problem == store.MismatchNegative && m.AccountID == fa.ID && strings.Contains(m.String(), "-0.001 is negative") {
					negative++
				}
			}
			if negative != 1 {
				t.Errorf("a negative balance is not reported: %v", c.Mismatches)
			}
		}
	})
}

// Purging a deleted organization removes its ledger too.
func TestLedgerPurgedWithTheOrganization(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 10*credit)
		a := l.budget(t, l.root, "A")
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(a.ID), credit)
		if _, err := db.DeleteOrg(ctx, l.org.ID, 0); err != nil {
			t.Fatal(err)
		}
		if _, err := db.GrantCredits(ctx, l.org.ID, credit, "", ""); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("grant to a deleted org: got %v, want conflict", err)
		}
		if n, err := db.PurgeDeletedOrgs(ctx); err != nil || n != 1 {
			t.Fatalf("purge = %d, %v", n, err)
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM accounts") + countRows(t, db, "SELECT COUNT(*) FROM transfers"); got != 0 {
			t.Errorf("%d ledger rows left after the purge", got)
		}
		wantLedgerOK(t, db)
	})
}

// Many concurrent transfers between the same accounts, in both directions,
// with far too little money for all of them: the database refuses what the
// balance cannot pay, never deadlocks (fixed lock order), and the credits
// are conserved.
func TestLedgerConcurrentTransfers(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one transaction at a time: concurrency is PostgreSQL's to prove")
		}
		ctx := context.Background()
		l := newLedger(t, db)
		// 150 credits in all, moved 2,000 times by up to 40 credits: many
		// transfers find their source short and must be refused.
		l.grant(t, 150*credit)
		src := l.budget(t, l.root, "Source")
		var others []*orgbase.Workspace
		for i := range 4 {
			others = append(others, l.budget(t, l.root, fmt.Sprintf("Dest %d", i)))
		}
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(src.ID), 100*credit)
		owner := orgbase.Access{Membership: &orgbase.Membership{OrgID: l.org.ID, UserID: l.owner.ID, Role: orgbase.RoleOwner, Status: orgbase.MemberActive}}
		startTransfers := countRows(t, db, "SELECT COUNT(*) FROM transfers")
		startAudit := countRows(t, db, "SELECT COUNT(*) FROM audit_log WHERE action = 'credits.transfer'")
		before := l.balances(t)
		var spendable orgbase.Credits
		for _, name := range []string{"Organization pool", "Source", "Dest 0", "Dest 1", "Dest 2", "Dest 3"} {
			spendable += before[name]
		}

		const workers, each = 50, 40
		var ok, refused atomic.Int64
		var stop atomic.Bool // the first unexpected error ends the run, so a deadlock fails fast
		var wg sync.WaitGroup
		for w := range workers {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 7))
				for i := range each {
					if stop.Load() {
						return
					}
					other := orgbase.WorkspaceAccount(others[rng.IntN(len(others))].ID)
					from, to := orgbase.WorkspaceAccount(src.ID), other
					switch rng.IntN(5) {
					case 0, 1: // back to the source
						from, to = other, from
					case 2: // through the pool now and then
						if rng.IntN(2) == 0 {
							from, to = orgbase.PoolAccount(), from
						} else {
							from, to = to, orgbase.PoolAccount()
						}
					}
					by := l.op
					if i%2 == 0 {
						by = owner
					}
					key := ""
					if i%3 == 0 {
						key = fmt.Sprintf("w%d-%d", w, i)
					}
					amount := orgbase.Credits(1 + rng.IntN(40*int(credit)))
					_, err := db.Transfer(ctx, l.org.ID, by, from, to, amount, orgbase.TransferMove, "", key)
					switch {
					case err == nil:
						ok.Add(1)
					case orgbase.ErrorCode(err) == orgbase.EINVALID && strings.HasPrefix(orgbase.ErrorMessage(err), "The source has only"):
						refused.Add(1)
					default:
						stop.Store(true)
						var pg *pgconn.PgError
						if errors.As(err, &pg) && pg.Code == "40P01" {
							t.Errorf("worker %d, transfer %d: deadlock: %v", w, i, err)
						} else {
							t.Errorf("worker %d, transfer %d: unexpected error: %v", w, i, err)
						}
						return
					}
				}
			})
		}
		wg.Wait()
		if stop.Load() {
			t.FailNow()
		}
		t.Logf("%d transfers made, %d refused for insufficient credits", ok.Load(), refused.Load())
		if ok.Load()+refused.Load() != workers*each {
			t.Fatalf("%d made + %d refused != %d", ok.Load(), refused.Load(), workers*each)
		}
		if refused.Load() < workers*each/5 || ok.Load() < workers*each/5 {
			t.Errorf("want many transfers both made and refused; the test's balances need retuning")
		}

		after := l.balances(t)
		var total orgbase.Credits
		for name, b := range after {
			if b < 0 && name != "Purchases" && name != "Adjustments" {
				t.Errorf("%s is negative: %s", name, b)
			}
		}
		for _, name := range []string{"Organization pool", "Source", "Dest 0", "Dest 1", "Dest 2", "Dest 3"} {
			total += after[name]
		}
		if total != spendable {
			t.Errorf("credits not conserved: %s before, %s after", spendable, total)
		}
		if after["Purchases"] != before["Purchases"] {
			t.Errorf("purchases moved: %s → %s", before["Purchases"], after["Purchases"])
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM transfers") - startTransfers; got != ok.Load() {
			t.Errorf("%d transfers written, %d reported made", got, ok.Load())
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM audit_log WHERE action = 'credits.transfer'") - startAudit; got != ok.Load() {
			t.Errorf("%d audit entries, %d transfers made", got, ok.Load())
		}
		wantLedgerOK(t, db)
	})
}

// Transfers into and out of a workspace race with switches of its funding
// mode: a shared workspace never keeps a balance, nothing deadlocks (the
// switch locks the tree, the workspace, then the accounts by id; a transfer
// only the accounts, then re-reads the mode), and the ledger stays sound.
func TestLedgerConcurrentFundingModeSwitches(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one transaction at a time: concurrency is PostgreSQL's to prove")
		}
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 1000*credit)
		parent := l.budget(t, l.root, "Parent")
		l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(parent.ID), 300*credit)
		child := l.budget(t, parent, "Child")

		var stop atomic.Bool
		var moved, switched atomic.Int64
		var wg sync.WaitGroup
		fail := func(format string, args ...any) {
			stop.Store(true)
			t.Errorf(format, args...)
		}
		for w := range 8 {
			wg.Go(func() {
				for i := range 26 { // ends on shared
					if stop.Load() {
						return
					}
					mode := orgbase.FundingShared
					if i%2 == 0 {
						mode = orgbase.FundingBudget
					}
					if _, err := db.SetFundingMode(ctx, l.org.ID, l.op, child.ID, mode); err != nil {
						fail("switch %d-%d: %v", w, i, err)
						return
					}
					switched.Add(1)
				}
			})
		}
		for w := range 24 {
			wg.Go(func() {
				rng := rand.New(rand.NewPCG(uint64(w), 11))
				for range 25 {
					if stop.Load() {
						return
					}
					from, to := orgbase.WorkspaceAccount(parent.ID), orgbase.WorkspaceAccount(child.ID)
					if rng.IntN(2) == 0 {
						from, to = to, from
					}
					_, err := db.Transfer(ctx, l.org.ID, l.op, from, to, orgbase.Credits(1+rng.IntN(20*int(credit))), orgbase.TransferMove, "", "")
					switch {
					case err == nil:
						moved.Add(1)
					case orgbase.ErrorCode(err) == orgbase.EINVALID: // no budget right now, or not enough in it
					default:
						fail("transfer: %v", err)
						return
					}
				}
			})
		}
		// Meanwhile, every snapshot shows a shared Child with nothing in its account.
		q := "SELECT w.funding_mode, a.balance FROM workspaces w JOIN accounts a ON a.workspace_id = w.id WHERE w.id = $1"
		done := make(chan struct{})
		checked := make(chan int)
		go func() {
			n := 0
			defer func() { checked <- n }()
			for {
				select {
				case <-done:
					return
				default:
				}
				var mode string
				var bal int64
				if err := db.SQL().QueryRowContext(ctx, q, child.ID).Scan(&mode, &bal); err != nil {
					fail("snapshot: %v", err)
					return
				}
				if mode == string(orgbase.FundingShared) && bal != 0 {
					fail("a snapshot shows shared Child holding %s", orgbase.Credits(bal))
					return
				}
				n++
			}
		}()
		wg.Wait()
		close(done)
		t.Logf("%d transfers made, %d mode switches, %d snapshots checked", moved.Load(), switched.Load(), <-checked)
		ws, err := db.FindWorkspaceByID(ctx, l.org.ID, child.ID)
		if err != nil {
			t.Fatal(err)
		}
		b := l.balances(t)
		if ws.FundingMode != orgbase.FundingShared || b["Child"] != 0 {
			t.Errorf("Child ended %s holding %s; want shared with nothing", ws.FundingMode, b["Child"])
		}
		if b["Parent"]+b["Child"] != 300*credit {
			t.Errorf("Parent %s + Child %s != 300", b["Parent"], b["Child"])
		}
		wantLedgerOK(t, db)
	})
}

// The same key sent at once for transfers between different accounts (so
// their locks do not queue them): one transfer is made, every other request
// is told the key is taken, and nothing else moves.
func TestLedgerIdempotencyKeyRace(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		l := newLedger(t, db)
		l.grant(t, 100*credit)
		var ws []*orgbase.Workspace
		for i := range 8 {
			w := l.budget(t, l.root, fmt.Sprintf("W%d", i))
			l.move(t, orgbase.PoolAccount(), orgbase.WorkspaceAccount(w.ID), 10*credit)
			ws = append(ws, w)
		}
		for round := range 10 {
			var made, conflicts atomic.Int64
			var wg sync.WaitGroup
			start := make(chan struct{})
			for i := range 4 {
				wg.Go(func() { // W0→W1, W2→W3, …: disjoint pairs, the same key
					<-start
					_, err := db.Transfer(ctx, l.org.ID, l.op, orgbase.WorkspaceAccount(ws[2*i].ID), orgbase.WorkspaceAccount(ws[2*i+1].ID),
						credit, orgbase.TransferMove, "", fmt.Sprintf("key-%d", round))
					switch orgbase.ErrorCode(err) {
					case "":
						made.Add(1)
					case orgbase.ECONFLICT:
						conflicts.Add(1)
					default:
						t.Errorf("round %d, pair %d: %v", round, i, err)
					}
				})
			}
			close(start)
			wg.Wait()
			if made.Load() != 1 || conflicts.Load() != 3 {
				t.Errorf("round %d: %d made, %d conflicts; want 1 and 3", round, made.Load(), conflicts.Load())
			}
		}
		if got := countRows(t, db, "SELECT COUNT(*) FROM transfers WHERE idempotency_key LIKE 'key-%'"); got != 10 {
			t.Errorf("%d keyed transfers, want 10", got)
		}
		var total orgbase.Credits
		for _, b := range l.balances(t) {
			total += b
		}
		if total != 0 {
			t.Errorf("balances sum to %s, want 0", total)
		}
		wantLedgerOK(t, db)
	})
}
