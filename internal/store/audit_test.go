package store_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func auditUser(t *testing.T, db *store.DB, name, email string) *orgbase.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), email, name, "hash", store.NewToken{Hash: "verify-" + email, ExpiresAt: db.Now().Add(time.Hour)})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

// auditLog reads an organization's log and checks what each change added.
type auditLog struct {
	db    *store.DB
	orgID int64
	seen  int // entries already accounted for
}

func (l *auditLog) all(t *testing.T) []orgbase.AuditEntry {
	t.Helper()
	var out []orgbase.AuditEntry
	err := l.db.EachAudit(context.Background(), l.orgID, store.AuditFilter{}, func(e orgbase.AuditEntry) error {
		out = append(out, e)
		return nil
	})
	if err != nil {
		t.Fatalf("EachAudit: %v", err)
	}
	return out
}

// one checks that exactly one entry was added since the last call, with
// action, and returns it with its decoded changes.
func (l *auditLog) one(t *testing.T, action string) (orgbase.AuditEntry, map[string]map[string]any) {
	t.Helper()
	all := l.all(t)
	if got := len(all) - l.seen; got != 1 {
		var actions []string
		for _, e := range all[:max(len(all)-l.seen, 0)] {
			actions = append(actions, e.Action)
		}
		t.Fatalf("after %s: got %d new audit entries %v, want exactly 1", action, got, actions)
	}
	l.seen = len(all)
	e := all[0]
	if e.Action != action {
		t.Fatalf("got action %q, want %q", e.Action, action)
	}
	if e.OrgID != l.orgID {
		t.Fatalf("got org %d, want %d", e.OrgID, l.orgID)
	}
	changes := map[string]map[string]any{}
	if err := json.Unmarshal([]byte(e.Changes), &changes); err != nil {
		t.Fatalf("%s: changes %q are not a map of field changes: %v", action, e.Changes, err)
	}
	return e, changes
}

// none checks that no entry was added since the last call.
func (l *auditLog) none(t *testing.T, what string) {
	t.Helper()
	if got := len(l.all(t)) - l.seen; got != 0 {
		t.Fatalf("after %s: got %d new audit entries, want none", what, got)
	}
}

func wantChange(t *testing.T, changes map[string]map[string]any, field string, from, to any) {
	t.Helper()
	c, ok := changes[field]
	if !ok {
		t.Fatalf("changes %v: no %q, want %v → %v", changes, field, from, to)
	}
	if c["from"] != from || c["to"] != to {
		t.Fatalf("changes[%q] = %v → %v, want %v → %v", field, c["from"], c["to"], from, to)
	}
}

func TestAuditEveryChangeWritesOneEntry(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		owner := auditUser(t, db, "Olive Owner", "olive@example.com")
		bob := auditUser(t, db, "Bob Builder", "bob@example.com")
		ctx := orgbase.WithAuditMeta(context.Background(), orgbase.AuditMeta{ActorID: owner.ID, IP: "203.0.113.7", UserAgent: "audit-test/1.0"})

		org, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Acme", Slug: "acme", BillingEmail: "billing@acme.test"})
		if err != nil {
			t.Fatal(err)
		}
		log := &auditLog{db: db, orgID: org.ID}
		acc := orgbase.OperatorAccess(org.ID)
		root, _ := db.FindPrimaryWorkspace(ctx, org.ID)

		t.Run("CreateOrg", func(t *testing.T) {
			e, ch := log.one(t, "organization.create")
			if e.ActorID == nil || *e.ActorID != owner.ID || e.ActorName != "Olive Owner" || e.ActorEmail != "olive@example.com" {
				t.Fatalf("actor = %v %q %q, want Olive Owner", e.ActorID, e.ActorName, e.ActorEmail)
			}
			if e.IP != "203.0.113.7" || e.UserAgent != "audit-test/1.0" {
				t.Fatalf("ip, user agent = %q, %q, want the request's", e.IP, e.UserAgent)
			}
			if e.TargetType != "organization" || e.TargetID != itoa(org.ID) || e.TargetLabel != "Acme" {
				t.Fatalf("target = %s %s %q", e.TargetType, e.TargetID, e.TargetLabel)
			}
			if d := time.Since(e.CreatedAt); d < 0 || d > time.Minute || e.CreatedAt.Location() != time.UTC {
				t.Fatalf("created_at = %v, want now in UTC", e.CreatedAt)
			}
			wantChange(t, ch, "slug", nil, "acme")
		})
		t.Run("UpdateOrgRecordsOnlyChangedFields", func(t *testing.T) {
			_, err := db.UpdateOrg(ctx, org.ID, orgbase.OrgUpdate{Name: "Acme Inc", Slug: "acme-inc", BillingEmail: "billing@acme.test"})
			if err != nil {
				t.Fatal(err)
			}
			e, ch := log.one(t, "organization.update")
			wantChange(t, ch, "name", "Acme", "Acme Inc")
			wantChange(t, ch, "slug", "acme", "acme-inc")
			if _, ok := ch["billing_email"]; ok || e.TargetLabel != "Acme Inc" {
				t.Fatalf("changes %v, label %q: want no billing_email (unchanged), label the new name", ch, e.TargetLabel)
			}
			if _, err := db.UpdateOrg(ctx, org.ID, orgbase.OrgUpdate{Name: "Acme Inc", Slug: "acme-inc", BillingEmail: "billing@acme.test"}); err != nil {
				t.Fatal(err)
			}
			log.none(t, "saving the profile unchanged")
		})
		t.Run("Logo", func(t *testing.T) {
			if err := db.SetOrgLogo(ctx, org.ID, "image/png", []byte("\x89PNG....")); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "organization.logo_update")
			wantChange(t, ch, "logo", nil, "image/png, 8 bytes")
			if err := db.SetOrgLogo(ctx, org.ID, "", nil); err != nil {
				t.Fatal(err)
			}
			_, ch = log.one(t, "organization.logo_remove")
			wantChange(t, ch, "logo", "image/png, 8 bytes", nil)
		})
		var team, other *orgbase.Workspace
		t.Run("CreateWorkspace", func(t *testing.T) {
			team, err = db.CreateWorkspace(ctx, org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "Team", Description: "The team"}, 5)
			if err != nil {
				t.Fatal(err)
			}
			e, ch := log.one(t, "workspace.create")
			if e.TargetType != "workspace" || e.TargetID != itoa(team.ID) || e.TargetLabel != "Team" {
				t.Fatalf("target = %s %s %q", e.TargetType, e.TargetID, e.TargetLabel)
			}
			wantChange(t, ch, "parent", nil, "Primary")
			wantChange(t, ch, "description", nil, "The team")
		})
		t.Run("UpdateWorkspace", func(t *testing.T) {
			if _, err := db.UpdateWorkspace(ctx, org.ID, acc, team.ID, "Team A", "The team"); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "workspace.update")
			wantChange(t, ch, "name", "Team", "Team A")
			if _, ok := ch["description"]; ok {
				t.Fatalf("changes %v: want no description (unchanged)", ch)
			}
		})
		t.Run("MoveWorkspace", func(t *testing.T) {
			other, err = db.CreateWorkspace(ctx, org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "Other"}, 5)
			if err != nil {
				t.Fatal(err)
			}
			log.one(t, "workspace.create")
			if _, err := db.MoveWorkspace(ctx, org.ID, acc, team.ID, other.ID, 5); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "workspace.move")
			wantChange(t, ch, "parent", "Primary", "Other")
		})
		t.Run("AddMember", func(t *testing.T) {
			if err := db.AddMember(ctx, org.ID, bob.ID, orgbase.RoleMember); err != nil {
				t.Fatal(err)
			}
			e, ch := log.one(t, "member.add")
			if e.TargetType != "member" || e.TargetID != itoa(bob.ID) || e.TargetLabel != "Bob Builder (bob@example.com)" {
				t.Fatalf("target = %s %s %q", e.TargetType, e.TargetID, e.TargetLabel)
			}
			wantChange(t, ch, "role", nil, "member")
		})
		t.Run("SetGrant", func(t *testing.T) {
			if err := db.SetGrant(ctx, org.ID, acc, team.ID, bob.ID, orgbase.WorkspaceMember); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "access.grant")
			wantChange(t, ch, "workspace", nil, "Team A")
			wantChange(t, ch, "role", nil, "member")
			if err := db.SetGrant(ctx, org.ID, acc, team.ID, bob.ID, orgbase.WorkspaceMember); err != nil {
				t.Fatal(err)
			}
			log.none(t, "granting the same role again")
			if err := db.SetGrant(ctx, org.ID, acc, team.ID, bob.ID, orgbase.WorkspaceManager); err != nil {
				t.Fatal(err)
			}
			_, ch = log.one(t, "access.grant")
			wantChange(t, ch, "role", "member", "manager")
		})
		t.Run("ArchiveNamesThoseGivenPrimary", func(t *testing.T) {
			if _, err := db.ArchiveWorkspace(ctx, org.ID, acc, team.ID); err != nil {
				t.Fatal(err)
			}
			e, ch := log.one(t, "workspace.archive")
			given, _ := json.Marshal(ch["primary_access_given"]["to"])
			if e.TargetLabel != "Team A" || !strings.Contains(string(given), "Bob Builder (bob@example.com)") {
				t.Fatalf("label %q, primary_access_given %s: want Team A and Bob", e.TargetLabel, given)
			}
			if _, err := db.RestoreWorkspace(ctx, org.ID, acc, team.ID); err != nil {
				t.Fatal(err)
			}
			log.one(t, "workspace.restore")
		})
		t.Run("DeleteGrant", func(t *testing.T) {
			if err := db.DeleteGrant(ctx, org.ID, acc, team.ID, bob.ID); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "access.revoke")
			wantChange(t, ch, "workspace", "Team A", nil)
			wantChange(t, ch, "role", "manager", nil)
		})
		t.Run("DeleteAndRestoreOrg", func(t *testing.T) {
			if _, err := db.DeleteOrg(ctx, org.ID, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			_, ch := log.one(t, "organization.delete")
			if ch["purge_after"]["to"] == nil {
				t.Fatalf("changes %v: want purge_after", ch)
			}
			if err := db.RestoreOrg(ctx, org.ID); err != nil {
				t.Fatal(err)
			}
			log.one(t, "organization.restore")
		})
		t.Run("OperatorHasNoActor", func(t *testing.T) {
			if _, err := db.CreateWorkspace(context.Background(), org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "By CLI"}, 5); err != nil {
				t.Fatal(err)
			}
			e, _ := log.one(t, "workspace.create")
			if e.ActorID != nil || e.ActorName != "" || e.IP != "" {
				t.Fatalf("actor = %v %q, ip %q: want none for the operator", e.ActorID, e.ActorName, e.IP)
			}
		})
	})
}

// failAuditInserts makes every insert into audit_log fail until the test ends.
func failAuditInserts(t *testing.T, db *store.DB) {
	t.Helper()
	stmts := []string{`CREATE TRIGGER audit_log_fail BEFORE INSERT ON audit_log BEGIN SELECT RAISE(ABORT, 'audit refused by the test'); END`}
	undo := []string{`DROP TRIGGER audit_log_fail`}
	if db.Dialect() == store.Postgres {
		stmts = []string{
			`CREATE FUNCTION audit_log_fail() RETURNS trigger AS $$ BEGIN RAISE EXCEPTION 'audit refused by the test'; END; $$ LANGUAGE plpgsql`,
			`CREATE TRIGGER audit_log_fail BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION audit_log_fail()`,
		}
		undo = []string{`DROP TRIGGER audit_log_fail ON audit_log`, `DROP FUNCTION audit_log_fail()`}
	}
	for _, s := range stmts {
		if _, err := db.SQL().Exec(s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	t.Cleanup(func() {
		for _, s := range undo {
			if _, err := db.SQL().Exec(s); err != nil {
				t.Errorf("%s: %v", s, err)
			}
		}
	})
}

func TestAuditSharesTheChangesTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		owner := auditUser(t, db, "Olive Owner", "olive@example.com")
		bob := auditUser(t, db, "Bob Builder", "bob@example.com")
		carol := auditUser(t, db, "Carol Outsider", "carol@example.com")
		ctx := orgbase.WithAuditMeta(context.Background(), orgbase.AuditMeta{ActorID: owner.ID})
		org, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: "Taken", Slug: "taken"}); err != nil {
			t.Fatal(err)
		}
		acc := orgbase.OperatorAccess(org.ID)
		root, _ := db.FindPrimaryWorkspace(ctx, org.ID)
		team, err := db.CreateWorkspace(ctx, org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "Team"}, 5)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateWorkspace(ctx, org.ID, acc, store.NewWorkspace{ParentID: team.ID, Name: "Child"}, 5); err != nil {
			t.Fatal(err)
		}
		if err := db.AddMember(ctx, org.ID, bob.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		log := &auditLog{db: db, orgID: org.ID}
		log.seen = len(log.all(t))

		// A change that fails writes no entry.
		t.Run("FailedChangeWritesNoEntry", func(t *testing.T) {
			_, err := db.UpdateOrg(ctx, org.ID, orgbase.OrgUpdate{Name: "Renamed", Slug: "taken"})
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("UpdateOrg to a taken slug: got %v, want ECONFLICT", err)
			}
			log.none(t, "UpdateOrg to a taken slug")
			err = db.SetGrant(ctx, org.ID, acc, team.ID, carol.ID, orgbase.WorkspaceMember)
			if orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("SetGrant to a non-member: got %v, want ENOTFOUND", err)
			}
			log.none(t, "SetGrant to a non-member")
			_, err = db.ArchiveWorkspace(ctx, org.ID, acc, team.ID)
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("ArchiveWorkspace with an active child: got %v, want ECONFLICT", err)
			}
			log.none(t, "ArchiveWorkspace with an active child")
			err = db.AddMember(ctx, org.ID, bob.ID, orgbase.RoleAdmin)
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("AddMember twice: got %v, want ECONFLICT", err)
			}
			log.none(t, "AddMember twice")
			err = db.DeleteGrant(ctx, org.ID, acc, team.ID, carol.ID)
			if orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("DeleteGrant of no grant: got %v, want ENOTFOUND", err)
			}
			log.none(t, "DeleteGrant of no grant")
		})

		// An entry that cannot be written undoes the change: it was in the
		// same transaction.
		t.Run("FailedEntryUndoesTheChange", func(t *testing.T) {
			failAuditInserts(t, db)
			mustFail := func(what string, err error) {
				t.Helper()
				if err == nil || !strings.Contains(err.Error(), "audit refused") {
					t.Fatalf("%s with the audit log refusing: got %v, want the audit failure", what, err)
				}
			}
			_, err := db.UpdateOrg(ctx, org.ID, orgbase.OrgUpdate{Name: "Renamed", Slug: "renamed"})
			mustFail("UpdateOrg", err)
			if o, _, err := db.FindOrgForMember(ctx, "acme", owner.ID); err != nil || o.Name != "Acme" {
				t.Fatalf("org after failed UpdateOrg = %+v, %v; want Acme unchanged", o, err)
			}
			mustFail("SetOrgLogo", db.SetOrgLogo(ctx, org.ID, "image/png", []byte("png")))
			if _, _, err := db.FindOrgLogo(ctx, org.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("logo after failed SetOrgLogo: %v, want none", err)
			}
			_, err = db.CreateWorkspace(ctx, org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "Ghost"}, 5)
			mustFail("CreateWorkspace", err)
			_, err = db.UpdateWorkspace(ctx, org.ID, acc, team.ID, "Renamed", "")
			mustFail("UpdateWorkspace", err)
			all, _ := db.FindWorkspaces(ctx, org.ID, store.WorkspaceFilter{Archived: true})
			for _, w := range all {
				if w.Name == "Ghost" || w.Name == "Renamed" {
					t.Fatalf("workspace %q exists after its change failed", w.Name)
				}
			}
			mustFail("SetGrant", db.SetGrant(ctx, org.ID, acc, team.ID, bob.ID, orgbase.WorkspaceManager))
			if g, _ := db.FindGrantsForUser(ctx, org.ID, bob.ID); len(g) != 0 {
				t.Fatalf("grants after failed SetGrant = %v, want none", g)
			}
			mustFail("AddMember", db.AddMember(ctx, org.ID, carol.ID, orgbase.RoleAdmin))
			if _, _, err := db.FindOrgForMember(ctx, "acme", carol.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("membership after failed AddMember: %v, want none", err)
			}
			_, err = db.DeleteOrg(ctx, org.ID, time.Hour)
			mustFail("DeleteOrg", err)
			if o, _, _ := db.FindOrgForMember(ctx, "acme", owner.ID); o == nil || o.Deleted() {
				t.Fatalf("org after failed DeleteOrg = %+v, want live", o)
			}
		})
		log.none(t, "the failed changes")
	})
}

func TestAuditLogIsAppendOnly(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		owner := auditUser(t, db, "Olive Owner", "olive@example.com")
		if _, err := db.CreateOrg(context.Background(), owner.ID, store.NewOrg{Name: "Acme", Slug: "acme"}); err != nil {
			t.Fatal(err)
		}
		if _, err := db.SQL().Exec(`UPDATE audit_log SET action = 'forged'`); err == nil || !strings.Contains(err.Error(), "append-only") {
			t.Fatalf("UPDATE audit_log: got %v, want the append-only refusal", err)
		}
	})
}

func TestFindAudit(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ann := auditUser(t, db, "Ann Admin", "ann@example.com")
		bob := auditUser(t, db, "Bob Builder", "bob@example.com")
		annCtx := orgbase.WithAuditMeta(context.Background(), orgbase.AuditMeta{ActorID: ann.ID})
		bobCtx := orgbase.WithAuditMeta(context.Background(), orgbase.AuditMeta{ActorID: bob.ID})
		org, err := db.CreateOrg(annCtx, ann.ID, store.NewOrg{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		zeta, err := db.CreateOrg(bobCtx, bob.ID, store.NewOrg{Name: "Zeta", Slug: "zeta"})
		if err != nil {
			t.Fatal(err)
		}
		acc := orgbase.OperatorAccess(org.ID)
		root, _ := db.FindPrimaryWorkspace(annCtx, org.ID)
		for _, n := range []string{"A", "B", "C", "D", "E", "F"} {
			if _, err := db.CreateWorkspace(annCtx, org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: n}, 5); err != nil {
				t.Fatal(err)
			}
		}
		time.Sleep(20 * time.Millisecond)
		split := time.Now().UTC()
		time.Sleep(20 * time.Millisecond)
		if err := db.AddMember(annCtx, org.ID, bob.ID, orgbase.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		if err := db.SetOrgLogo(bobCtx, org.ID, "image/png", []byte("png")); err != nil {
			t.Fatal(err)
		}
		if _, err := db.CreateWorkspace(context.Background(), org.ID, acc, store.NewWorkspace{ParentID: root.ID, Name: "G"}, 5); err != nil {
			t.Fatal(err)
		}
		// org: create, 6 workspaces, member.add, logo, workspace G by the operator = 10.
		count := func(t *testing.T, f store.AuditFilter) []orgbase.AuditEntry {
			t.Helper()
			f.Limit = 100
			es, more, err := db.FindAudit(context.Background(), org.ID, f)
			if err != nil || more {
				t.Fatalf("FindAudit(%+v): more=%v err=%v", f, more, err)
			}
			for _, e := range es {
				if e.OrgID != org.ID {
					t.Fatalf("FindAudit(%+v) returned org %d's entry %+v", f, e.OrgID, e)
				}
			}
			return es
		}
		cases := []struct {
			name   string
			filter store.AuditFilter
			want   int
		}{
			{"All", store.AuditFilter{}, 10},
			{"ByActor", store.AuditFilter{ActorID: bob.ID}, 1},
			{"NoActor", store.AuditFilter{ActorID: store.AuditNoActor}, 1},
			{"ExactAction", store.AuditFilter{Action: "workspace.create"}, 7},
			{"PrefixAction", store.AuditFilter{Action: "organization."}, 2},
			{"NoDotMeansExact", store.AuditFilter{Action: "organization"}, 0},
			{"UnknownAction", store.AuditFilter{Action: "nope"}, 0},
			{"From", store.AuditFilter{From: split}, 3},
			{"To", store.AuditFilter{To: split}, 7},
			{"FromTo", store.AuditFilter{From: split, To: time.Now().Add(time.Hour), ActorID: ann.ID}, 1},
			{"Combined", store.AuditFilter{Action: "workspace.", ActorID: ann.ID, To: split}, 6},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				if got := len(count(t, c.filter)); got != c.want {
					t.Fatalf("got %d entries, want %d", got, c.want)
				}
			})
		}
		t.Run("OtherOrgIsSeparate", func(t *testing.T) {
			es, _, err := db.FindAudit(context.Background(), zeta.ID, store.AuditFilter{})
			if err != nil || len(es) != 1 || es[0].TargetLabel != "Zeta" {
				t.Fatalf("zeta's log = %+v, %v; want its one creation", es, err)
			}
		})
		t.Run("KeysetPages", func(t *testing.T) {
			var ids []int64
			f := store.AuditFilter{Limit: 3}
			for pages := 0; ; pages++ {
				es, more, err := db.FindAudit(context.Background(), org.ID, f)
				if err != nil {
					t.Fatal(err)
				}
				for _, e := range es {
					ids = append(ids, e.ID)
				}
				if !more {
					if pages != 3 || len(es) != 1 {
						t.Fatalf("last page %d has %d entries, want page 3 with 1", pages, len(es))
					}
					break
				}
				f.Before = es[len(es)-1].ID
			}
			if len(ids) != 10 {
				t.Fatalf("got %d entries over the pages, want 10", len(ids))
			}
			for i := 1; i < len(ids); i++ {
				if ids[i] >= ids[i-1] {
					t.Fatalf("ids %v are not strictly newest first", ids)
				}
			}
		})
		t.Run("ActionsAndActors", func(t *testing.T) {
			actions, err := db.FindAuditActions(context.Background(), org.ID)
			if err != nil || strings.Join(actions, ",") != "member.add,organization.create,organization.logo_update,workspace.create" {
				t.Fatalf("actions = %v, %v", actions, err)
			}
			actors, err := db.FindAuditActors(context.Background(), org.ID)
			if err != nil || len(actors) != 2 || actors[0].Name != "Ann Admin" || actors[1].Email != "bob@example.com" {
				t.Fatalf("actors = %+v, %v; want Ann, Bob", actors, err)
			}
			actors, _ = db.FindAuditActors(context.Background(), zeta.ID)
			if len(actors) != 1 || actors[0].ID != bob.ID {
				t.Fatalf("zeta's actors = %+v, want Bob only", actors)
			}
		})
	})
}

func TestEachAuditStreamsEveryEntryInChunks(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ann := auditUser(t, db, "Ann Admin", "ann@example.com")
		org, err := db.CreateOrg(context.Background(), ann.ID, store.NewOrg{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		// More than two chunks, written directly (inserts are allowed).
		const n = 1234
		tx, err := db.SQL().Begin()
		if err != nil {
			t.Fatal(err)
		}
		q := `INSERT INTO audit_log (org_id, actor_id, action, target_type, created_at) VALUES ($1, $2, $3, 'workspace', $4)`
		if db.Dialect() == store.SQLite {
			q = strings.NewReplacer("$1", "?", "$2", "?", "$3", "?", "$4", "?").Replace(q)
		}
		now := time.Now().UTC()
		for i := range n {
			action := "workspace.create"
			if i%2 == 1 {
				action = "workspace.move"
			}
			if _, err := tx.Exec(q, org.ID, ann.ID, action, now); err != nil {
				t.Fatal(err)
			}
		}
		if err := tx.Commit(); err != nil {
			t.Fatal(err)
		}
		var got int
		last := int64(1 << 62)
		err = db.EachAudit(context.Background(), org.ID, store.AuditFilter{Action: "workspace.", Limit: 5}, func(e orgbase.AuditEntry) error {
			if e.ID >= last || e.ActorName != "Ann Admin" {
				t.Fatalf("entry %d (after %d) by %q: want newest first, with the actor's name", e.ID, last, e.ActorName)
			}
			last = e.ID
			got++
			return nil
		})
		if err != nil || got != n {
			t.Fatalf("EachAudit: got %d entries (%v), want %d", got, err, n)
		}
		got = 0
		_ = db.EachAudit(context.Background(), org.ID, store.AuditFilter{Action: "workspace.move"}, func(orgbase.AuditEntry) error { got++; return nil })
		if got != n/2 {
			t.Fatalf("EachAudit(workspace.move): got %d, want %d", got, n/2)
		}
		stop := errors.New("stop")
		got = 0
		err = db.EachAudit(context.Background(), org.ID, store.AuditFilter{}, func(orgbase.AuditEntry) error {
			got++
			if got == 3 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || got != 3 {
			t.Fatalf("EachAudit stopped after %d with %v, want 3 and the callback's error", got, err)
		}
	})
}
