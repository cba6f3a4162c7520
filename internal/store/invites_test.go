package store_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func inviteBatch(db *store.DB, ws int64, emails ...string) store.InviteBatch {
	b := store.InviteBatch{Role: orgbase.RoleMember, ExpiresAt: db.Now().Add(orgbase.DefaultInviteTTL),
		Grants: []orgbase.InvitationGrant{{WorkspaceID: ws, Role: orgbase.WorkspaceMember}}}
	for _, e := range emails {
		b.Invites = append(b.Invites, store.NewInvite{Email: e, TokenHash: "hash-" + e, Mail: &orgbase.Email{To: e, Subject: "Join", Text: "raw-token-" + e, HTML: "h"}})
	}
	return b
}

func TestInvitations(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		team := tr.add(t, tr.root, "Team")
		op := orgbase.OperatorAccess(tr.org.ID)

		invs, err := db.CreateInvitations(ctx, tr.org.ID, op, inviteBatch(db, team.ID, "new@example.com", "old@example.com"))
		if err != nil || len(invs) != 2 {
			t.Fatalf("CreateInvitations: %d, %v", len(invs), err)
		}
		t.Run("OwnerRoleRefused", func(t *testing.T) {
			b := inviteBatch(db, team.ID, "x@example.com")
			b.Role = orgbase.RoleOwner
			if _, err := db.CreateInvitations(ctx, tr.org.ID, op, b); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("got %v, want invalid", err)
			}
		})
		t.Run("AllOrNothing", func(t *testing.T) {
			// One address already invited: nobody in the batch is invited.
			_, err := db.CreateInvitations(ctx, tr.org.ID, op, inviteBatch(db, team.ID, "fresh@example.com", "new@example.com"))
			if orgbase.ErrorCode(err) != orgbase.EINVALID || orgbase.ErrorFields(err)["new@example.com"] == "" {
				t.Fatalf("got %v, want a message for new@example.com", err)
			}
			open, _ := db.FindInvitations(ctx, tr.org.ID, false)
			for _, i := range open {
				if i.Email == "fresh@example.com" {
					t.Fatal("fresh@example.com was invited although the batch failed")
				}
			}
			mails, _ := db.FindEmails(ctx, "fresh@example.com", 5)
			if len(mails) != 0 {
				t.Fatal("an email was queued for a failed batch")
			}
		})
		t.Run("OtherOrganizationsWorkspaceRefused", func(t *testing.T) {
			other := mustUser(t, db, "z@example.com")
			zorg, _ := db.CreateOrg(ctx, other.ID, store.NewOrg{Name: "Z", Slug: "zorg"})
			zroot, _ := db.FindPrimaryWorkspace(ctx, zorg.ID)
			if _, err := db.CreateInvitations(ctx, tr.org.ID, op, inviteBatch(db, zroot.ID, "y@example.com")); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Fatalf("got %v, want invalid", err)
			}
		})
		t.Run("OnlyTheHashIsStored", func(t *testing.T) {
			var n int
			q := "SELECT COUNT(*) FROM invitations WHERE token_hash LIKE '%raw-token%' OR email LIKE '%raw-token%' OR note LIKE '%raw-token%'"
			if err := db.SQL().QueryRowContext(ctx, q).Scan(&n); err != nil || n != 0 {
				t.Fatalf("raw token found in invitations (%d, %v)", n, err)
			}
		})
		t.Run("BoundToTheAddress", func(t *testing.T) {
			stranger := mustUser(t, db, "stranger@example.com")
			if _, _, err := db.AcceptInvitation(ctx, "hash-new@example.com", stranger); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
				t.Fatalf("got %v, want forbidden", err)
			}
		})
		t.Run("ConcurrentAcceptsExactlyOneWins", func(t *testing.T) {
			u := mustUser(t, db, "new@example.com")
			var wg sync.WaitGroup
			var mu sync.Mutex
			wins, closed := 0, 0
			for i := 0; i < 8; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					_, _, err := db.AcceptInvitation(ctx, "hash-new@example.com", u)
					mu.Lock()
					defer mu.Unlock()
					switch orgbase.ErrorCode(err) {
					case "":
						wins++
					case orgbase.EEXPIRED:
						closed++
					default:
						t.Errorf("accept: %v", err)
					}
				}()
			}
			wg.Wait()
			if wins != 1 || closed != 7 {
				t.Fatalf("wins=%d closed=%d, want 1 and 7", wins, closed)
			}
			_, m, err := db.FindOrgForMember(ctx, "acme", u.ID)
			if err != nil || m.Role != orgbase.RoleMember {
				t.Fatalf("membership after accept: %+v %v", m, err)
			}
			gs, _ := db.FindGrantsForUser(ctx, tr.org.ID, u.ID)
			if len(gs) != 1 || gs[0].WorkspaceID != team.ID {
				t.Fatalf("grants after accept: %+v", gs)
			}
			got, _ := db.FindUserByID(ctx, u.ID)
			if !got.Verified() {
				t.Fatal("accepting the link should verify the address")
			}
		})
		t.Run("ResendKillsTheOldLink", func(t *testing.T) {
			old := invs[1]
			if _, err := db.ResendInvitation(ctx, tr.org.ID, op, old.ID, "hash-old-2", db.Now().Add(time.Hour), nil); orgbase.ErrorCode(err) != orgbase.ERATELIMIT {
				t.Fatalf("resend within a minute: got %v, want rate limited", err)
			}
		})
		t.Run("RevokeAndDecline", func(t *testing.T) {
			u := mustUser(t, db, "old@example.com")
			if _, err := db.RevokeInvitation(ctx, tr.org.ID, op, invs[1].ID); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.AcceptInvitation(ctx, "hash-old@example.com", u); orgbase.ErrorCode(err) != orgbase.EEXPIRED || !strings.Contains(orgbase.ErrorMessage(err), "withdrawn") {
				t.Fatalf("accept revoked: %v", err)
			}
			b := inviteBatch(db, team.ID, "old@example.com")
			b.Invites[0].TokenHash = "hash-old-again"
			if _, err := db.CreateInvitations(ctx, tr.org.ID, op, b); err != nil {
				t.Fatalf("re-invite after revoke: %v", err)
			}
			if err := db.DeclineInvitation(ctx, "hash-old-again", u); err != nil {
				t.Fatal(err)
			}
			if _, _, err := db.FindOrgForMember(ctx, "acme", u.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("declined but member: %v", err)
			}
		})
	})
}

func TestInvitationExpiryAndResend(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC()
			var mu sync.Mutex
			db := dbtest.Open(t, d, store.Options{Now: func() time.Time { mu.Lock(); defer mu.Unlock(); return now }})
			tr := newTree(t, db)
			op := orgbase.OperatorAccess(tr.org.ID)
			b := inviteBatch(db, tr.root.ID, "late@example.com")
			b.ExpiresAt = now.Add(time.Hour)
			invs, err := db.CreateInvitations(ctx, tr.org.ID, op, b)
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			now = now.Add(2 * time.Hour)
			mu.Unlock()
			u := mustUser(t, db, "late@example.com")
			if _, _, err := db.AcceptInvitation(ctx, "hash-late@example.com", u); orgbase.ErrorCode(err) != orgbase.EEXPIRED || !strings.Contains(orgbase.ErrorMessage(err), "expired") {
				t.Fatalf("accept expired: %v", err)
			}
			if _, err := db.ResendInvitation(ctx, tr.org.ID, op, invs[0].ID, "hash-late-2", now.Add(time.Hour), nil); err != nil {
				t.Fatalf("resend expired: %v", err)
			}
			if _, _, err := db.AcceptInvitation(ctx, "hash-late@example.com", u); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("old link after resend: got %v, want not found", err)
			}
			if _, _, err := db.AcceptInvitation(ctx, "hash-late-2", u); err != nil {
				t.Fatalf("new link: %v", err)
			}
		})
	}
}

func TestMemberRulesAndLastOwner(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		admin := mustUser(t, db, "admin@example.com")
		member := mustUser(t, db, "member@example.com")
		for _, m := range []struct {
			u *orgbase.User
			r orgbase.Role
		}{{admin, orgbase.RoleAdmin}, {member, orgbase.RoleMember}} {
			if err := db.AddMember(ctx, tr.org.ID, m.u.ID, m.r); err != nil {
				t.Fatal(err)
			}
		}
		as := func(u *orgbase.User, r orgbase.Role) orgbase.Access {
			return orgbase.Access{Membership: &orgbase.Membership{OrgID: tr.org.ID, UserID: u.ID, Role: r, Status: orgbase.MemberActive}}
		}
		owner, adm := as(tr.owner, orgbase.RoleOwner), as(admin, orgbase.RoleAdmin)
		if err := db.ChangeRole(ctx, tr.org.ID, adm, tr.owner.ID, orgbase.RoleMember); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("admin demoting owner: %v", err)
		}
		if err := db.ChangeRole(ctx, tr.org.ID, adm, member.ID, orgbase.RoleOwner); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("admin making an owner: %v", err)
		}
		if err := db.SetMemberStatus(ctx, tr.org.ID, adm, tr.owner.ID, orgbase.MemberSuspended); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Errorf("admin suspending owner: %v", err)
		}
		if err := db.RemoveMember(ctx, tr.org.ID, owner, tr.owner.ID, true); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("last owner leaving: %v", err)
		}
		if err := db.ChangeRole(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), tr.owner.ID, orgbase.RoleAdmin); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("demoting the last owner: %v", err)
		}
		if err := db.ChangeRole(ctx, tr.org.ID, owner, member.ID, orgbase.RoleOwner); err != nil {
			t.Fatalf("owner making another owner: %v", err)
		}
		if err := db.RemoveMember(ctx, tr.org.ID, owner, tr.owner.ID, true); err != nil {
			t.Fatalf("an owner leaving when another owner exists: %v", err)
		}
		if err := db.SetMemberStatus(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), member.ID, orgbase.MemberSuspended); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
			t.Errorf("suspending the (now) last owner: %v", err)
		}
		if err := db.SetMemberStatus(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), admin.ID, orgbase.MemberSuspended); err != nil {
			t.Fatal(err)
		}
		if _, _, err := db.FindOrgForMember(ctx, "acme", admin.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Errorf("suspended admin still reaches the org: %v", err)
		}
	})
}

func TestMembershipChangeAndAuditShareTheTransaction(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		count := func() (n int) {
			if err := db.SQL().QueryRowContext(ctx, "SELECT COUNT(*) FROM audit_log WHERE action LIKE 'member.%'").Scan(&n); err != nil {
				t.Fatal(err)
			}
			return n
		}
		before := count()
		// A refused change (the last owner) writes neither the change nor an entry.
		if err := db.ChangeRole(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), tr.owner.ID, orgbase.RoleMember); err == nil {
			t.Fatal("last owner demoted")
		}
		if got := count(); got != before {
			t.Fatalf("audit entries after a failed change: %d, want %d", got, before)
		}
		member := mustUser(t, db, "m@example.com")
		if err := db.AddMember(ctx, tr.org.ID, member.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		base := count()
		if err := db.ChangeRole(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), member.ID, orgbase.RoleBilling); err != nil {
			t.Fatal(err)
		}
		if got := count(); got != base+1 {
			t.Fatalf("audit entries after a role change: %d, want %d", got, base+1)
		}
	})
}

// TestAuditFailureRollsBackTheChange makes the audit insert itself fail (a
// trigger refuses it) and checks the membership change it records did not
// happen either: the change and its entry share one transaction.
func TestAuditFailureRollsBackTheChange(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		member := mustUser(t, db, "m@example.com")
		if err := db.AddMember(ctx, tr.org.ID, member.ID, orgbase.RoleMember); err != nil {
			t.Fatal(err)
		}
		stmts := []string{`CREATE TRIGGER refuse_role_audit BEFORE INSERT ON audit_log
			WHEN NEW.action = 'member.role_change' BEGIN SELECT RAISE(ABORT, 'audit refused'); END`}
		if db.Dialect() == store.Postgres {
			stmts = []string{
				`CREATE FUNCTION refuse_role_audit() RETURNS trigger AS $$ BEGIN
					IF NEW.action = 'member.role_change' THEN RAISE EXCEPTION 'audit refused'; END IF; RETURN NEW; END; $$ LANGUAGE plpgsql`,
				`CREATE TRIGGER refuse_role_audit BEFORE INSERT ON audit_log FOR EACH ROW EXECUTE FUNCTION refuse_role_audit()`,
			}
		}
		for _, s := range stmts {
			if _, err := db.SQL().ExecContext(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.ChangeRole(ctx, tr.org.ID, orgbase.OperatorAccess(tr.org.ID), member.ID, orgbase.RoleAdmin); err == nil {
			t.Fatal("ChangeRole succeeded although its audit entry was refused")
		}
		_, m, err := db.FindOrgForMember(ctx, "acme", member.ID)
		if err != nil || m.Role != orgbase.RoleMember {
			t.Fatalf("role after the failed change = %v (%v), want member", m, err)
		}
	})
}
