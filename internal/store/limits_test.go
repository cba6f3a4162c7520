package store_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func limit(c orgbase.Credits) *orgbase.Credits { return &c }

func wantCode(t *testing.T, what string, err error, code string, contains ...string) {
	t.Helper()
	if got := orgbase.ErrorCode(err); got != code {
		t.Fatalf("%s: got %v (%s), want %s", what, err, got, code)
	}
	for _, s := range contains {
		if !strings.Contains(orgbase.ErrorMessage(err), s) {
			t.Errorf("%s: message %q lacks %q", what, orgbase.ErrorMessage(err), s)
		}
	}
}

func (tr *tree) setLimit(t *testing.T, ws *orgbase.Workspace, l *orgbase.Credits) *orgbase.Workspace {
	t.Helper()
	got, err := tr.db.SetWorkspaceLimit(context.Background(), tr.org.ID, orgbase.OperatorAccess(tr.org.ID), ws.ID, l)
	if err != nil {
		t.Fatalf("SetWorkspaceLimit(%s, %v): %v", ws.Name, l, err)
	}
	return got
}

func auditChanges(t *testing.T, db *store.DB, orgID int64, action string) []orgbase.AuditEntry {
	t.Helper()
	es, _, err := db.FindAudit(context.Background(), orgID, store.AuditFilter{Action: action})
	if err != nil {
		t.Fatal(err)
	}
	return es
}

func TestWorkspaceLimitSetAndClear(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		a := tr.add(t, tr.root, "A")
		a1 := tr.add(t, a, "A1")
		a1x := tr.add(t, a1, "A1x")
		op := orgbase.OperatorAccess(tr.org.ID)

		if a.MonthlyLimit != nil {
			t.Fatalf("new workspace has limit %v", *a.MonthlyLimit)
		}
		tr.setLimit(t, tr.root, limit(100*credit))
		tr.setLimit(t, a, limit(50*credit))
		got := tr.setLimit(t, a1, limit(30*credit+1))
		if got.MonthlyLimit == nil || *got.MonthlyLimit != 30*credit+1 {
			t.Fatalf("SetWorkspaceLimit returned limit %v", got.MonthlyLimit)
		}
		if w, _ := db.FindWorkspaceByID(ctx, tr.org.ID, a1.ID); w.MonthlyLimit == nil || *w.MonthlyLimit != 30*credit+1 {
			t.Fatalf("FindWorkspaceByID limit = %v", w.MonthlyLimit)
		}

		// A child's limit may not exceed the nearest limit above it.
		_, err := db.SetWorkspaceLimit(ctx, tr.org.ID, op, a1x.ID, limit(30*credit+2))
		wantCode(t, "child above parent", err, orgbase.EINVALID, "A1x", "cannot exceed that of A1", "30.001")
		if orgbase.ErrorFields(err)["monthly_limit"] == "" {
			t.Errorf("child above parent: no field message: %v", err)
		}
		tr.setLimit(t, a1x, limit(30*credit+1)) // equal is fine
		// A parent's limit may not go below a limit inside it (naming it).
		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, a.ID, limit(30*credit))
		wantCode(t, "parent below child", err, orgbase.EINVALID, "A1 inside A")
		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, tr.root.ID, limit(20*credit))
		wantCode(t, "root below grandchild", err, orgbase.EINVALID, "A inside Primary has a limit of 50 credits")
		// Without a limit on A1, A1x is bounded by A, the nearest limit.
		tr.setLimit(t, a1x, nil)
		if got := tr.setLimit(t, a1, nil); got.MonthlyLimit != nil {
			t.Fatalf("cleared limit = %v", *got.MonthlyLimit)
		}
		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, a1x.ID, limit(50*credit+1))
		wantCode(t, "grandchild above nearest", err, orgbase.EINVALID, "cannot exceed that of A (50 credits)")
		tr.setLimit(t, a1x, limit(0)) // zero: nothing may be spent
		tr.setLimit(t, a, limit(100*credit))

		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, a.ID, limit(-1))
		wantCode(t, "negative", err, orgbase.EINVALID)
		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, 999999, limit(1))
		wantCode(t, "unknown", err, orgbase.ENOTFOUND)

		// Audit: one entry per change, none for setting the same limit again.
		before := len(auditChanges(t, db, tr.org.ID, "workspace.limit"))
		tr.setLimit(t, a, limit(100*credit))
		es := auditChanges(t, db, tr.org.ID, "workspace.limit")
		if len(es) != before || before != 8 {
			t.Fatalf("workspace.limit entries = %d then %d, want 8 and no more for an unchanged limit", before, len(es))
		}
		if e := es[0]; e.TargetLabel != "A" || e.TargetID != itoa(a.ID) || e.Changes != `{"monthly_limit":{"from":"50","to":"100"}}` {
			t.Errorf("latest entry = %+v", e)
		}
		var cleared bool
		for _, e := range es {
			cleared = cleared || (e.TargetLabel == "A1" && e.Changes == `{"monthly_limit":{"from":"30.001"}}`)
		}
		if !cleared {
			t.Errorf("no entry for clearing A1's limit: %+v", es)
		}

		// Archived workspaces keep their limit but cannot change it.
		b := tr.add(t, tr.root, "B")
		if _, err := db.ArchiveWorkspace(ctx, tr.org.ID, op, b.ID); err != nil {
			t.Fatal(err)
		}
		_, err = db.SetWorkspaceLimit(ctx, tr.org.ID, op, b.ID, limit(credit))
		wantCode(t, "archived", err, orgbase.ECONFLICT)
	})
}

func TestWorkspaceLimitPolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		a := tr.add(t, tr.root, "A")
		a1 := tr.add(t, a, "A1")
		access := func(email string, role orgbase.Role, ws *orgbase.Workspace, wr orgbase.WorkspaceRole) orgbase.Access {
			u := mustUser(t, db, email)
			if err := db.AddMember(ctx, tr.org.ID, u.ID, role); err != nil {
				t.Fatal(err)
			}
			if ws != nil {
				if err := db.SetGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), ws.ID, u.ID, wr); err != nil {
					t.Fatal(err)
				}
			}
			grants, _ := db.FindGrantsForUser(ctx, tr.org.ID, u.ID)
			return orgbase.Access{Membership: &orgbase.Membership{OrgID: tr.org.ID, UserID: u.ID, Role: role, Status: orgbase.MemberActive}, Grants: grants}
		}
		mgr := access("mgr@example.com", orgbase.RoleMember, a, orgbase.WorkspaceManager)
		member := access("member@example.com", orgbase.RoleMember, a, orgbase.WorkspaceMember)
		admin := access("admin@example.com", orgbase.RoleAdmin, nil, "")
		billing := access("billing@example.com", orgbase.RoleBilling, nil, "")
		cases := []struct {
			name string
			by   orgbase.Access
			ws   *orgbase.Workspace
			want string
		}{
			{"manager below their workspace", mgr, a1, ""},
			{"manager not their own workspace", mgr, a, orgbase.EFORBIDDEN},
			{"manager not the Primary", mgr, tr.root, orgbase.EFORBIDDEN},
			{"member", member, a1, orgbase.EFORBIDDEN},
			{"billing", billing, a1, orgbase.EFORBIDDEN},
			{"not a member", orgbase.Access{}, a1, orgbase.EFORBIDDEN},
			{"admin on the Primary", admin, tr.root, ""},
			{"admin anywhere", admin, a, ""},
		}
		for _, c := range cases {
			_, err := db.SetWorkspaceLimit(ctx, tr.org.ID, c.by, c.ws.ID, limit(10*credit))
			if got := orgbase.ErrorCode(err); got != c.want {
				t.Errorf("%s: got %v, want %q", c.name, err, c.want)
			}
		}
		if es := auditChanges(t, db, tr.org.ID, "workspace.limit"); len(es) != 3 {
			t.Errorf("workspace.limit entries = %d, want 3 (only the allowed changes)", len(es))
		}
	})
}

func TestMemberLimit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		ann := mustUser(t, db, "ann@example.com")
		adm := mustUser(t, db, "adm@example.com")
		for u, r := range map[int64]orgbase.Role{ann.ID: orgbase.RoleMember, adm.ID: orgbase.RoleAdmin} {
			if err := db.AddMember(ctx, tr.org.ID, u, r); err != nil {
				t.Fatal(err)
			}
		}
		as := func(u *orgbase.User, r orgbase.Role) orgbase.Access {
			return orgbase.Access{Membership: &orgbase.Membership{OrgID: tr.org.ID, UserID: u.ID, Role: r, Status: orgbase.MemberActive}}
		}
		owner, admin, member := as(tr.owner, orgbase.RoleOwner), as(adm, orgbase.RoleAdmin), as(ann, orgbase.RoleMember)

		if err := db.SetMemberLimit(ctx, tr.org.ID, admin, ann.ID, limit(12*credit+500)); err != nil {
			t.Fatalf("admin sets a member's limit: %v", err)
		}
		wantCode(t, "admin on an owner", db.SetMemberLimit(ctx, tr.org.ID, admin, tr.owner.ID, limit(credit)), orgbase.EFORBIDDEN, "owners")
		wantCode(t, "member", db.SetMemberLimit(ctx, tr.org.ID, member, ann.ID, limit(credit)), orgbase.EFORBIDDEN)
		wantCode(t, "not a member", db.SetMemberLimit(ctx, tr.org.ID, owner, 999999, limit(credit)), orgbase.ENOTFOUND)
		wantCode(t, "negative", db.SetMemberLimit(ctx, tr.org.ID, owner, ann.ID, limit(-5)), orgbase.EINVALID)
		if err := db.SetMemberLimit(ctx, tr.org.ID, owner, tr.owner.ID, limit(credit)); err != nil {
			t.Fatalf("owner sets their own: %v", err)
		}
		if err := db.SetMemberLimit(ctx, tr.org.ID, owner, tr.owner.ID, limit(credit)); err != nil { // unchanged: no entry
			t.Fatal(err)
		}
		if err := db.SetMemberLimit(ctx, tr.org.ID, owner, tr.owner.ID, nil); err != nil {
			t.Fatal(err)
		}
		ms, err := db.FindMembers(ctx, tr.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range ms {
			switch m.UserID {
			case ann.ID:
				if m.MonthlyLimit == nil || *m.MonthlyLimit != 12*credit+500 {
					t.Errorf("ann's limit = %v", m.MonthlyLimit)
				}
			default:
				if m.MonthlyLimit != nil {
					t.Errorf("%s's limit = %v, want none", m.Email, *m.MonthlyLimit)
				}
			}
		}
		es := auditChanges(t, db, tr.org.ID, "member.limit")
		if len(es) != 3 {
			t.Fatalf("member.limit entries = %d, want 3: %+v", len(es), es)
		}
		if e := es[2]; e.TargetType != "member" || e.TargetID != itoa(ann.ID) || !strings.Contains(e.TargetLabel, "ann@example.com") ||
			e.Changes != `{"monthly_limit":{"to":"12.5"}}` {
			t.Errorf("first entry = %+v", e)
		}
		if e := es[0]; e.Changes != `{"monthly_limit":{"from":"1"}}` {
			t.Errorf("clearing entry = %+v", e)
		}
	})
}

func TestMoveWorkspaceKeepsLimitsUnderParents(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		op := orgbase.OperatorAccess(tr.org.ID)
		a := tr.add(t, tr.root, "A")
		a1 := tr.add(t, a, "A1")
		b := tr.add(t, tr.root, "B")
		b1 := tr.add(t, b, "B1")
		tr.setLimit(t, a, limit(30*credit))
		tr.setLimit(t, b1, limit(40*credit))
		before := tr.snapshot(t)
		_, err := db.MoveWorkspace(ctx, tr.org.ID, op, b.ID, a1.ID, orgbase.DefaultMaxDepth)
		wantCode(t, "move above the limit", err, orgbase.EINVALID, "B1 has a monthly limit of 40 credits, above the limit of A (30 credits)")
		if got := tr.snapshot(t); got != before {
			t.Fatalf("tree changed on a refused move: %s", got)
		}
		tr.setLimit(t, b1, limit(30*credit))
		if _, err := db.MoveWorkspace(ctx, tr.org.ID, op, b.ID, a1.ID, orgbase.DefaultMaxDepth); err != nil {
			t.Fatalf("move within the limit: %v", err)
		}
	})
}

func TestReserveLimits(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		a := tr.add(t, tr.root, "A")
		a1 := tr.add(t, a, "A1")
		b := tr.add(t, tr.root, "B")
		ann := mustUser(t, db, "ann@example.com")
		if err := db.AddMember(ctx, tr.org.ID, ann.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		tr.setLimit(t, tr.root, limit(100*credit))
		tr.setLimit(t, a, limit(40*credit))
		tr.setLimit(t, a1, limit(30*credit))
		june := time.Date(2025, 6, 30, 23, 59, 59, 0, time.UTC)
		july := june.Add(time.Second)
		pathA1 := orgbase.PathIDs(a1.Path)
		pathA := orgbase.PathIDs(a.Path)
		pathB := orgbase.PathIDs(b.Path)
		owner := tr.owner.ID

		reserve := func(path []int64, user int64, amount orgbase.Credits, now time.Time) error {
			return db.ReserveLimitsForTest(ctx, tr.org.ID, path, user, amount, now)
		}
		ok := func(path []int64, user int64, amount orgbase.Credits, now time.Time) {
			t.Helper()
			if err := reserve(path, user, amount, now); err != nil {
				t.Fatalf("reserve %s on %v: %v", amount, path, err)
			}
		}
		refused := func(path []int64, user int64, amount orgbase.Credits, now time.Time, want orgbase.LimitReached) {
			t.Helper()
			err := reserve(path, user, amount, now)
			var lr *orgbase.LimitReached
			if !errors.As(err, &lr) {
				t.Fatalf("reserve %s on %v: got %v, want a limit refusal", amount, path, err)
			}
			want.Amount = amount
			if lr.MemberName != "" && want.MemberName != "" && strings.Contains(lr.MemberName, want.MemberName) {
				want.MemberName = lr.MemberName
			}
			if *lr != want {
				t.Fatalf("refusal = %+v\nwant       %+v", *lr, want)
			}
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Errorf("code %s", orgbase.ErrorCode(err))
			}
		}
		usage := func(now time.Time) (map[int64]orgbase.Credits, map[int64]orgbase.Credits) {
			t.Helper()
			ws, err := db.WorkspaceUsage(ctx, tr.org.ID, orgbase.Period(now))
			if err != nil {
				t.Fatal(err)
			}
			ms, err := db.MemberUsage(ctx, tr.org.ID, orgbase.Period(now))
			if err != nil {
				t.Fatal(err)
			}
			return ws, ms
		}

		// Up to A1's limit exactly, along the three levels; one milli-credit more is refused, naming A1.
		ok(pathA1, owner, 30*credit-1, june)
		ok(pathA1, owner, 1, june)
		refused(pathA1, owner, 1, june, orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: a1.ID, WorkspaceName: "A1",
			Period: "2025-06", Limit: 30 * credit, Used: 30 * credit})
		// A still has 10 of its 40: up to it exactly, then refused naming A (also for a charge on A1, root first).
		ok(pathA, owner, 10*credit, june)
		refused(pathA, owner, 1, june, orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: a.ID, WorkspaceName: "A",
			Period: "2025-06", Limit: 40 * credit, Used: 40 * credit})
		refused(pathA1, owner, 1, june, orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: a.ID, WorkspaceName: "A",
			Period: "2025-06", Limit: 40 * credit, Used: 40 * credit})
		// B has no limit of its own: the Primary's 100 bounds it.
		ok(pathB, 0, 60*credit, june)
		refused(pathB, 0, 1, june, orgbase.LimitReached{Scope: orgbase.LimitWorkspace, WorkspaceID: tr.root.ID, WorkspaceName: tr.root.Name,
			Period: "2025-06", Limit: 100 * credit, Used: 100 * credit})

		ws, ms := usage(june)
		// Counters exist for limited subjects only: B and the owner have none.
		want := map[int64]orgbase.Credits{tr.root.ID: 100 * credit, a.ID: 40 * credit, a1.ID: 30 * credit}
		for id, w := range want {
			if ws[id] != w {
				t.Errorf("June usage of %d = %s, want %s (all %v)", id, ws[id], w, ws)
			}
		}
		if len(ws) != len(want) || len(ms) != 0 {
			t.Errorf("June usage = %v, members %v: only limited subjects are counted", ws, ms)
		}

		// The member limit, in a new month that starts at zero.
		if err := db.SetMemberLimit(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), ann.ID, limit(5*credit)); err != nil {
			t.Fatal(err)
		}
		ok(pathB, ann.ID, 5*credit, july)
		refused(pathB, ann.ID, 1, july, orgbase.LimitReached{Scope: orgbase.LimitMember, UserID: ann.ID, MemberName: "ann@example.com",
			Period: "2025-07", Limit: 5 * credit, Used: 5 * credit})
		ok(pathA1, owner, 25*credit, july) // the owner has no member limit
		ws, ms = usage(july)
		// The refused charge changed nothing (its workspace counters were rolled back).
		if ws[tr.root.ID] != 30*credit || ws[b.ID] != 0 || ws[a1.ID] != 25*credit || ms[ann.ID] != 5*credit || len(ms) != 1 {
			t.Errorf("July usage = %v, members %v", ws, ms)
		}
		if ws, _ := usage(june); ws[tr.root.ID] != 100*credit {
			t.Errorf("June changed: %v", ws)
		}

		// A zero charge fits even at the limit; bad input is refused.
		ok(pathA1, owner, 0, june)
		wantCode(t, "negative amount", reserve(pathA1, owner, -1, july), orgbase.EINVALID)
		wantCode(t, "empty path", reserve(nil, owner, 1, july), orgbase.EINVALID)
		wantCode(t, "unknown workspace", reserve([]int64{tr.root.ID, 999999}, owner, 1, july), orgbase.ENOTFOUND)
		wantCode(t, "not a member", reserve(pathB, 999999, 1, july), orgbase.ENOTFOUND)
		_, err := db.WorkspaceUsage(ctx, tr.org.ID, "2025-13")
		wantCode(t, "bad period", err, orgbase.EINVALID)
	})
}

// Forty charges of one credit race for a limit of 25: exactly 25 pass, on
// two paths through the limited workspace, for two members, without
// deadlocks.
func TestReserveLimitsConcurrent(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		if db.Dialect() != store.Postgres {
			t.Skip("SQLite runs one transaction at a time: concurrency is PostgreSQL's to prove")
		}
		ctx := context.Background()
		tr := newTree(t, db)
		w := tr.add(t, tr.root, "Limited")
		child := tr.add(t, w, "Child")
		// Generous limits on the Primary and both members, so their
		// counters are kept (only limited subjects have one) and raced too.
		tr.setLimit(t, tr.root, limit(1000*credit))
		tr.setLimit(t, w, limit(25*credit))
		ann := mustUser(t, db, "ann@example.com")
		if err := db.AddMember(ctx, tr.org.ID, ann.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		for _, u := range []int64{tr.owner.ID, ann.ID} {
			if err := db.SetMemberLimit(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), u, limit(1000*credit)); err != nil {
				t.Fatal(err)
			}
		}
		now := time.Date(2025, 6, 15, 12, 0, 0, 0, time.UTC)
		paths := [][]int64{orgbase.PathIDs(w.Path), orgbase.PathIDs(child.Path)}
		users := []int64{tr.owner.ID, ann.ID}

		var passed, refused atomic.Int64
		var wg sync.WaitGroup
		for i := range 40 {
			wg.Go(func() {
				err := db.ReserveLimitsForTest(ctx, tr.org.ID, paths[i%2], users[(i/2)%2], credit, now)
				var lr *orgbase.LimitReached
				switch {
				case err == nil:
					passed.Add(1)
				case errors.As(err, &lr) && lr.WorkspaceID == w.ID:
					refused.Add(1)
				default:
					t.Errorf("charge %d: %v", i, err)
				}
			})
		}
		wg.Wait()
		if passed.Load() != 25 || refused.Load() != 15 {
			t.Fatalf("passed %d, refused %d; want 25 and 15", passed.Load(), refused.Load())
		}
		ws, err := db.WorkspaceUsage(ctx, tr.org.ID, "2025-06")
		if err != nil {
			t.Fatal(err)
		}
		if ws[w.ID] != 25_000 || ws[tr.root.ID] != 25_000 {
			t.Fatalf("used = %v, want 25,000 on the limited workspace and the Primary", ws)
		}
		ms, _ := db.MemberUsage(ctx, tr.org.ID, "2025-06")
		if ms[tr.owner.ID]+ms[ann.ID] != 25*credit {
			t.Fatalf("member usage %v, want 25 credits in all", ms)
		}
	})
}
