package store_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

type tree struct {
	db    *store.DB
	org   *orgbase.Org
	owner *orgbase.User
	root  *orgbase.Workspace
}

func newTree(t testing.TB, db *store.DB) *tree {
	t.Helper()
	ctx := context.Background()
	owner := mustUser(t, db, "owner@example.com")
	org, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Acme", Slug: "acme"})
	if err != nil {
		t.Fatal(err)
	}
	root, err := db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		t.Fatal(err)
	}
	return &tree{db: db, org: org, owner: owner, root: root}
}

func (tr *tree) add(t *testing.T, parent *orgbase.Workspace, name string) *orgbase.Workspace {
	t.Helper()
	ws, err := tr.db.CreateWorkspace(context.Background(), tr.org.ID, orgbase.OperatorAccess(tr.org.ID), store.NewWorkspace{ParentID: parent.ID, Name: name}, orgbase.DefaultMaxDepth)
	if err != nil {
		t.Fatalf("CreateWorkspace(%s): %v", name, err)
	}
	return ws
}

func (tr *tree) snapshot(t *testing.T) string {
	t.Helper()
	all, err := tr.db.FindWorkspaces(context.Background(), tr.org.ID, store.WorkspaceFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, w := range all {
		b.WriteString(w.Path + w.Name + "|")
		if w.ArchivedAt != nil {
			b.WriteString("archived|")
		}
	}
	return b.String()
}

func TestWorkspaceTree(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		clients := tr.add(t, tr.root, "Clients")
		acme := tr.add(t, clients, "Acme Corp")
		web := tr.add(t, acme, "Website")
		internal := tr.add(t, tr.root, "Internal")

		if web.Depth != 3 || web.Path != tr.root.Path+itoa(clients.ID)+"/"+itoa(acme.ID)+"/"+itoa(web.ID)+"/" {
			t.Fatalf("web = depth %d path %q", web.Depth, web.Path)
		}
		t.Run("SubtreeQuery", func(t *testing.T) {
			sub, err := db.FindWorkspaces(ctx, tr.org.ID, store.WorkspaceFilter{Under: clients.Path})
			if err != nil || len(sub) != 3 {
				t.Fatalf("got %d workspaces under Clients (%v), want 3", len(sub), err)
			}
		})
		t.Run("Ancestors", func(t *testing.T) {
			anc, err := db.FindAncestors(ctx, web)
			if err != nil || len(anc) != 3 || anc[0].ID != tr.root.ID || anc[2].ID != acme.ID {
				t.Fatalf("ancestors = %v, %v", anc, err)
			}
		})
		t.Run("DuplicateSiblingNameRefused", func(t *testing.T) {
			before := tr.snapshot(t)
			_, err := db.CreateWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), store.NewWorkspace{ParentID: tr.root.ID, Name: "clients"}, 5)
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("got %v, want conflict", err)
			}
			if _, err := db.UpdateWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), internal.ID, "CLIENTS", ""); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("rename: got %v, want conflict", err)
			}
			if after := tr.snapshot(t); after != before {
				t.Fatalf("tree changed:\n%s\n%s", before, after)
			}
			// The same name under another parent is fine.
			tr.add(t, internal, "Clients")
		})
		t.Run("MoveUnderOwnDescendantRefused", func(t *testing.T) {
			before := tr.snapshot(t)
			for _, target := range []*orgbase.Workspace{clients, acme, web} {
				if _, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), clients.ID, target.ID, 5); orgbase.ErrorCode(err) != orgbase.EINVALID {
					t.Fatalf("move under %s: got %v, want invalid", target.Name, err)
				}
			}
			if _, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), tr.root.ID, internal.ID, 5); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("move Primary: got %v", err)
			}
			if after := tr.snapshot(t); after != before {
				t.Fatalf("tree changed")
			}
		})
		t.Run("MoveRewritesSubtree", func(t *testing.T) {
			moved, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), acme.ID, internal.ID, 5)
			if err != nil {
				t.Fatal(err)
			}
			if moved.Depth != 2 || !strings.HasPrefix(moved.Path, internal.Path) {
				t.Fatalf("moved = %+v", moved)
			}
			w, _ := db.FindWorkspaceByID(ctx, tr.org.ID, web.ID)
			if w.Depth != 3 || w.Path != moved.Path+itoa(web.ID)+"/" {
				t.Fatalf("child after move = depth %d path %q", w.Depth, w.Path)
			}
			acme, web = moved, w
		})
		t.Run("DepthLimitRefused", func(t *testing.T) {
			d4 := tr.add(t, web, "L4")
			d5 := tr.add(t, d4, "L5")
			before := tr.snapshot(t)
			if _, err := db.CreateWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), store.NewWorkspace{ParentID: d5.ID, Name: "L6"}, 5); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("create at depth 6: got %v", err)
			}
			// Acme's subtree is 4 levels (Acme, Website, L4, L5); under Clients' sibling at depth 1 it would reach 6.
			deep := tr.add(t, clients, "Deep")
			if _, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), acme.ID, deep.ID, 5); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("move past depth: got %v", err)
			}
			// The refused create and move left everything but the new "Deep" as it was.
			if after := tr.snapshot(t); !strings.Contains(after, "Deep|") || strings.Count(after, "|") != strings.Count(before, "|")+1 {
				t.Fatalf("tree changed:\n%s\n%s", before, after)
			}
			w, _ := db.FindWorkspaceByID(ctx, tr.org.ID, acme.ID)
			if w.Path != acme.Path {
				t.Fatalf("Acme moved: %q, want %q", w.Path, acme.Path)
			}
		})
		t.Run("ArchiveWithActiveChildrenRefused", func(t *testing.T) {
			before := tr.snapshot(t)
			if _, err := db.ArchiveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), acme.ID); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("got %v, want conflict", err)
			}
			if _, err := db.ArchiveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), tr.root.ID); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("archive Primary: got %v", err)
			}
			if after := tr.snapshot(t); after != before {
				t.Fatalf("tree changed")
			}
		})
	})
}

func TestGrantsFollowMovesAndArchive(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		a := tr.add(t, tr.root, "A")
		b := tr.add(t, tr.root, "B")
		a1 := tr.add(t, a, "A1")
		member := mustUser(t, db, "member@example.com")
		if err := db.AddMember(ctx, tr.org.ID, member.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		if err := db.AddMember(ctx, tr.org.ID, member.ID, orgbase.RoleMember); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Fatalf("second AddMember: got %v, want conflict", err)
		}
		if err := db.SetGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), a.ID, member.ID, orgbase.WorkspaceManager); err != nil {
			t.Fatal(err)
		}
		access := func() orgbase.Access {
			gs, err := db.FindGrantsForUser(ctx, tr.org.ID, member.ID)
			if err != nil {
				t.Fatal(err)
			}
			return orgbase.Access{Membership: &orgbase.Membership{Role: orgbase.RoleMember, Status: orgbase.MemberActive}, Grants: gs}
		}
		find := func(id int64) *orgbase.Workspace {
			w, err := db.FindWorkspaceByID(ctx, tr.org.ID, id)
			if err != nil {
				t.Fatal(err)
			}
			return w
		}
		if !access().CanManage(find(a1.ID).Path) || access().CanView(find(b.ID).Path) || access().CanView(tr.root.Path) {
			t.Fatal("grant on A should cover A1 and nothing else")
		}
		// Moving A1 under B removes the inherited access at once.
		if _, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), a1.ID, b.ID, 5); err != nil {
			t.Fatal(err)
		}
		if access().CanView(find(a1.ID).Path) {
			t.Fatal("after moving A1 under B, the member still sees it")
		}
		// Moving B under A grants it (and A1) by inheritance.
		if _, err := db.MoveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), b.ID, a.ID, 5); err != nil {
			t.Fatal(err)
		}
		if !access().CanView(find(a1.ID).Path) || !access().CanManage(find(b.ID).Path) {
			t.Fatal("after moving B under A, the member should see B and A1")
		}
		if err := db.SetGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), a.ID, 999999, orgbase.WorkspaceMember); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Fatalf("grant to a non-member: got %v", err)
		}
		// Archive a leaf the member's only grant is on: they land on Primary.
		leaf := tr.add(t, tr.root, "Leaf")
		other := mustUser(t, db, "other@example.com")
		if err := db.AddMember(ctx, tr.org.ID, other.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		if err := db.SetGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), leaf.ID, other.ID, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		if _, err := db.ArchiveWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), leaf.ID); err != nil {
			t.Fatal(err)
		}
		gs, _ := db.FindGrantsForUser(ctx, tr.org.ID, other.ID)
		if len(gs) != 1 || gs[0].WorkspaceID != tr.root.ID || gs[0].Role != orgbase.WorkspaceMember {
			t.Fatalf("grants after archive = %+v, want member of Primary", gs)
		}
		if _, err := db.RestoreWorkspace(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), leaf.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), leaf.ID, other.ID); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteGrant(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), leaf.ID, other.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Fatalf("second delete: got %v", err)
		}
		members, err := db.FindMembers(ctx, tr.org.ID)
		if err != nil || len(members) != 3 {
			t.Fatalf("members = %d, %v", len(members), err)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

func TestWorkspaceChangesRecheckThePolicy(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		a := tr.add(t, tr.root, "A")
		b := tr.add(t, tr.root, "B")
		mgr := mustUser(t, db, "mgr@example.com")
		if err := db.AddMember(ctx, tr.org.ID, mgr.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		op := orgbase.OperatorAccess(tr.org.ID)
		if err := db.SetGrant(ctx, tr.org.ID, op, a.ID, mgr.ID, orgbase.WorkspaceManager); err != nil {
			t.Fatal(err)
		}
		grants, err := db.FindGrantsForUser(ctx, tr.org.ID, mgr.ID)
		if err != nil {
			t.Fatal(err)
		}
		by := orgbase.Access{Membership: &orgbase.Membership{OrgID: tr.org.ID, UserID: mgr.ID, Role: orgbase.RoleMember, Status: orgbase.MemberActive}, Grants: grants}

		child, err := db.CreateWorkspace(ctx, tr.org.ID, by, store.NewWorkspace{ParentID: a.ID, Name: "A1"}, 5)
		if err != nil {
			t.Fatalf("manager creating under A: %v", err)
		}
		if child.CreatedBy == nil || *child.CreatedBy != mgr.ID {
			t.Errorf("created_by = %v, want the manager", child.CreatedBy)
		}
		refused := map[string]error{}
		_, refused["create under B"] = db.CreateWorkspace(ctx, tr.org.ID, by, store.NewWorkspace{ParentID: b.ID, Name: "B1"}, 5)
		_, refused["rename B"] = db.UpdateWorkspace(ctx, tr.org.ID, by, b.ID, "Bee", "")
		_, refused["move A1 under B"] = db.MoveWorkspace(ctx, tr.org.ID, by, child.ID, b.ID, 5)
		_, refused["archive A (own grant root)"] = db.ArchiveWorkspace(ctx, tr.org.ID, by, a.ID)
		refused["grant on B"] = db.SetGrant(ctx, tr.org.ID, by, b.ID, mgr.ID, orgbase.WorkspaceMember)
		_, refused["other organization"] = db.CreateWorkspace(ctx, tr.org.ID+1, by, store.NewWorkspace{ParentID: a.ID, Name: "X"}, 5)
		for what, err := range refused {
			if code := orgbase.ErrorCode(err); code != orgbase.EFORBIDDEN && !(what == "other organization" && code == orgbase.ENOTFOUND) {
				t.Errorf("%s: got %v, want forbidden", what, err)
			}
		}
		// The store re-reads grants inside the transaction: access held in a
		// stale copy (loaded before the grant was removed) no longer works.
		if err := db.DeleteGrant(ctx, tr.org.ID, op, a.ID, mgr.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateWorkspace(ctx, tr.org.ID, by, store.NewWorkspace{ParentID: a.ID, Name: "A2"}, 5); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("stale access after the grant was removed: got %v, want forbidden", err)
		}
	})
}
