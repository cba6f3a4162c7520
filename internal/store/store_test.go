package store_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func mustUser(t testing.TB, db *store.DB, email string) *orgbase.User {
	t.Helper()
	u, err := db.CreateUser(context.Background(), email, "Ann Example", "hash", store.NewToken{
		Hash: "verify-" + email, ExpiresAt: db.Now().Add(time.Hour),
		Email: &orgbase.Email{To: email, Subject: "Verify", Text: "t", HTML: "h"},
	})
	if err != nil {
		t.Fatalf("CreateUser(%s): %v", email, err)
	}
	return u
}

func TestCreateUser(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "ann@example.com")
		if u.ID == 0 || u.Verified() {
			t.Fatalf("got %+v, want an unverified user with an id", u)
		}
		t.Run("DuplicateEmailIsConflict", func(t *testing.T) {
			_, err := db.CreateUser(ctx, "ann@example.com", "Other", "h", store.NewToken{Hash: "other", ExpiresAt: db.Now()})
			if got := orgbase.ErrorCode(err); got != orgbase.ECONFLICT {
				t.Fatalf("got %q (%v), want conflict", got, err)
			}
		})
		t.Run("VerificationEmailQueuedInSameTransaction", func(t *testing.T) {
			mails, err := db.FindEmails(ctx, "ann@example.com", 10)
			if err != nil || len(mails) != 1 {
				t.Fatalf("got %d emails (%v), want 1", len(mails), err)
			}
		})
		t.Run("FailedSignupQueuesNothing", func(t *testing.T) {
			_, _ = db.CreateUser(ctx, "ann@example.com", "Other", "h", store.NewToken{Hash: "x2", ExpiresAt: db.Now(), Email: &orgbase.Email{To: "ann@example.com"}})
			mails, _ := db.FindEmails(ctx, "ann@example.com", 10)
			if len(mails) != 1 {
				t.Fatalf("got %d emails, want 1: the rolled-back sign-up must not queue mail", len(mails))
			}
		})
		t.Run("FindByEmail", func(t *testing.T) {
			got, hash, err := db.FindUserByEmail(ctx, "ann@example.com")
			if err != nil || got.ID != u.ID || hash != "hash" {
				t.Fatalf("got %+v %q %v", got, hash, err)
			}
			if _, _, err := db.FindUserByEmail(ctx, "nobody@example.com"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
	})
}

func TestVerifyEmail(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		mustUser(t, db, "ann@example.com")
		u, err := db.VerifyEmail(ctx, "verify-ann@example.com")
		if err != nil || !u.Verified() {
			t.Fatalf("VerifyEmail: %+v %v", u, err)
		}
		t.Run("TokenIsSingleUse", func(t *testing.T) {
			if _, err := db.VerifyEmail(ctx, "verify-ann@example.com"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
				t.Fatalf("second use: got %v, want expired", err)
			}
		})
		t.Run("UnknownToken", func(t *testing.T) {
			if _, err := db.VerifyEmail(ctx, "nope"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
				t.Fatalf("got %v, want expired", err)
			}
		})
	})
}

func TestPasswordReset(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			ctx := context.Background()
			now := time.Now().UTC()
			var mu sync.Mutex
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			db := dbtest.Open(t, d, store.Options{Now: clock})
			u := mustUser(t, db, "ann@example.com")
			sess := &orgbase.Session{ID: "s1", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.SaveSession(ctx, sess); err != nil {
				t.Fatal(err)
			}
			if err := db.CreatePasswordReset(ctx, u, store.NewToken{Hash: "r1", ExpiresAt: now.Add(30 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if err := db.CreatePasswordReset(ctx, u, store.NewToken{Hash: "r2", ExpiresAt: now.Add(30 * time.Minute)}); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ResetPassword(ctx, "r1", "new"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
				t.Fatalf("replaced token: got %v, want expired", err)
			}
			got, err := db.ResetPassword(ctx, "r2", "newhash")
			if err != nil || !got.Verified() {
				t.Fatalf("ResetPassword: %+v %v", got, err)
			}
			if h, _ := db.FindPasswordHash(ctx, u.ID); h != "newhash" {
				t.Fatalf("hash = %q, want newhash", h)
			}
			if _, err := db.FindSession(ctx, "s1"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("session after reset: got %v, want ended", err)
			}
			if _, err := db.ResetPassword(ctx, "r2", "again"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
				t.Fatalf("reuse: got %v, want expired", err)
			}
			t.Run("ExpiredTokenRefused", func(t *testing.T) {
				if err := db.CreatePasswordReset(ctx, u, store.NewToken{Hash: "r3", ExpiresAt: now.Add(30 * time.Minute)}); err != nil {
					t.Fatal(err)
				}
				mu.Lock()
				now = now.Add(31 * time.Minute)
				mu.Unlock()
				if err := db.CheckPasswordReset(ctx, "r3"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
					t.Fatalf("check: got %v, want expired", err)
				}
				if _, err := db.ResetPassword(ctx, "r3", "late"); orgbase.ErrorCode(err) != orgbase.EEXPIRED {
					t.Fatalf("reset: got %v, want expired", err)
				}
			})
		})
	}
}

func TestSessions(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "ann@example.com")
		other := mustUser(t, db, "bob@example.com")
		now := db.Now()
		for _, id := range []string{"a", "b", "c"} {
			s := &orgbase.Session{ID: id, UserID: u.ID, UserAgent: "Firefox", IP: "10.0.0.1", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.SaveSession(ctx, s); err != nil {
				t.Fatal(err)
			}
		}
		expired := &orgbase.Session{ID: "old", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(-time.Second)}
		if err := db.SaveSession(ctx, expired); err != nil {
			t.Fatal(err)
		}
		list, err := db.FindUserSessions(ctx, u.ID)
		if err != nil || len(list) != 3 {
			t.Fatalf("got %d sessions (%v), want 3 live ones", len(list), err)
		}
		if _, err := db.FindSession(ctx, "old"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Fatalf("expired session: got %v, want not found", err)
		}
		if err := db.DeleteUserSession(ctx, other.ID, "a"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
			t.Fatalf("another user's session: got %v, want not found", err)
		}
		n, err := db.DeleteOtherSessions(ctx, u.ID, "a")
		if err != nil || n != 3 {
			t.Fatalf("DeleteOtherSessions = %d, %v; want 3 (b, c and the expired one)", n, err)
		}
		if _, err := db.FindSession(ctx, "a"); err != nil {
			t.Fatalf("kept session: %v", err)
		}
		t.Run("UpdateNeverResurrectsAnEndedSession", func(t *testing.T) {
			s := &orgbase.Session{ID: "b", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
			if err := db.UpdateSession(ctx, s); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("UpdateSession of an ended session: got %v, want not found", err)
			}
			if _, err := db.FindSession(ctx, "b"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("ended session came back: %v", err)
			}
			a := &orgbase.Session{ID: "a", UserID: u.ID, UserAgent: "Safari", CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(2 * time.Hour)}
			if err := db.UpdateSession(ctx, a); err != nil {
				t.Fatal(err)
			}
			got, err := db.FindSession(ctx, "a")
			if err != nil || got.UserAgent != "Safari" {
				t.Fatalf("after update: %+v %v", got, err)
			}
		})
	})
}

func TestRateLimitAttempts(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		since := db.Now().Add(-time.Minute)
		for i := 0; i < 3; i++ {
			if err := db.RecordAttempts(ctx, "ip:1", "acct:a"); err != nil {
				t.Fatal(err)
			}
		}
		got, err := db.CountAttempts(ctx, since, "ip:1", "acct:a", "acct:b")
		if err != nil || got["ip:1"] != 3 || got["acct:a"] != 3 || got["acct:b"] != 0 {
			t.Fatalf("got %v %v", got, err)
		}
		if err := db.ClearAttempts(ctx, "acct:a"); err != nil {
			t.Fatal(err)
		}
		got, _ = db.CountAttempts(ctx, since, "acct:a")
		if got["acct:a"] != 0 {
			t.Fatalf("after clear: %v", got)
		}
	})
}

func TestOrgs(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		ann := mustUser(t, db, "ann@example.com")
		bob := mustUser(t, db, "bob@example.com")
		org, err := db.CreateOrg(ctx, ann.ID, store.NewOrg{Name: "Acme", Slug: "acme", CompanySize: "2-10"})
		if err != nil {
			t.Fatal(err)
		}
		t.Run("CreatorIsOwnerWithPrimaryWorkspace", func(t *testing.T) {
			_, m, err := db.FindOrgForMember(ctx, "acme", ann.ID)
			if err != nil || m.Role != orgbase.RoleOwner {
				t.Fatalf("got %+v %v, want owner", m, err)
			}
			ws, err := db.FindPrimaryWorkspace(ctx, org.ID)
			if err != nil || ws.Name != "Primary" || ws.Path == "" || !ws.IsPrimary() {
				t.Fatalf("primary = %+v, %v", ws, err)
			}
		})
		t.Run("ListForUserCarriesEveryField", func(t *testing.T) {
			orgs, err := db.FindOrgsForUser(ctx, ann.ID)
			if err != nil || len(orgs) != 1 {
				t.Fatalf("got %d orgs (%v), want 1", len(orgs), err)
			}
			if o := orgs[0]; o.ID != org.ID || o.Slug != "acme" || o.Name != "Acme" || o.CompanySize != "2-10" || o.Role != orgbase.RoleOwner || o.Plan != "free" {
				t.Fatalf("got %+v, want acme/Acme/2-10/owner/free", o)
			}
		})
		t.Run("NonMemberGetsNotFound", func(t *testing.T) {
			if _, _, err := db.FindOrgForMember(ctx, "acme", bob.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("got %v, want not found", err)
			}
		})
		t.Run("DuplicateSlugIsConflict", func(t *testing.T) {
			_, err := db.CreateOrg(ctx, bob.ID, store.NewOrg{Name: "Acme 2", Slug: "acme"})
			if orgbase.ErrorCode(err) != orgbase.ECONFLICT || orgbase.ErrorFields(err)["slug"] == "" {
				t.Fatalf("got %v, want slug conflict", err)
			}
			if orgs, _ := db.FindOrgsForUser(ctx, bob.ID); len(orgs) != 0 {
				t.Fatalf("failed create left %d orgs for bob", len(orgs))
			}
		})
		t.Run("UpdateProfile", func(t *testing.T) {
			bobOrg, err := db.CreateOrg(ctx, bob.ID, store.NewOrg{Name: "Bobco", Slug: "bobco"})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.UpdateOrg(ctx, bobOrg.ID, orgbase.OrgUpdate{Name: "Bobco", Slug: "acme"}); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("rename to taken slug: got %v", err)
			}
			got, err := db.UpdateOrg(ctx, org.ID, orgbase.OrgUpdate{Name: "Acme Inc", Slug: "acme-inc", BillingEmail: "billing@acme.test"})
			if err != nil || got.Name != "Acme Inc" || got.Slug != "acme-inc" {
				t.Fatalf("got %+v %v", got, err)
			}
		})
		t.Run("Logo", func(t *testing.T) {
			if _, _, err := db.FindOrgLogo(ctx, org.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("no logo: got %v", err)
			}
			if err := db.SetOrgLogo(ctx, org.ID, "image/png", []byte{1, 2, 3}); err != nil {
				t.Fatal(err)
			}
			typ, data, err := db.FindOrgLogo(ctx, org.ID)
			if err != nil || typ != "image/png" || len(data) != 3 {
				t.Fatalf("got %q %v %v", typ, data, err)
			}
		})
		t.Run("DeleteRestorePurge", func(t *testing.T) {
			del, err := db.DeleteOrg(ctx, org.ID, time.Hour)
			if err != nil || !del.Deleted() {
				t.Fatalf("DeleteOrg: %+v %v", del, err)
			}
			if _, err := db.DeleteOrg(ctx, org.ID, time.Hour); orgbase.ErrorCode(err) != orgbase.ECONFLICT {
				t.Fatalf("delete twice: got %v", err)
			}
			if err := db.RestoreOrg(ctx, org.ID); err != nil {
				t.Fatal(err)
			}
			if _, err := db.DeleteOrg(ctx, org.ID, -time.Second); err != nil {
				t.Fatal(err)
			}
			n, err := db.PurgeDeletedOrgs(ctx)
			if err != nil || n != 1 {
				t.Fatalf("purged %d (%v), want 1", n, err)
			}
			if _, _, err := db.FindOrgForMember(ctx, "acme-inc", ann.ID); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Fatalf("after purge: got %v", err)
			}
			if ok, _ := db.SlugAvailable(ctx, "acme-inc"); !ok {
				t.Fatal("slug should be free after purge")
			}
		})
	})
}

func TestMigrateDownAndUp(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		if err := db.Ready(ctx); err != nil {
			t.Fatalf("Ready after migrate: %v", err)
		}
		if err := db.MigrateDown(ctx); err != nil {
			t.Fatal(err)
		}
		if err := db.Ready(ctx); err == nil {
			t.Fatal("Ready with a pending migration: got nil, want error")
		}
		if err := db.Migrate(ctx); err != nil {
			t.Fatal(err)
		}
		st, err := db.MigrateStatus(ctx)
		if err != nil || len(st) == 0 || !st[len(st)-1].Applied {
			t.Fatalf("status = %+v %v", st, err)
		}
	})
}

func TestLastSeenOutlivesTheSession(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		u := mustUser(t, db, "ann@example.com")
		org, err := db.CreateOrg(ctx, u.ID, store.NewOrg{Name: "Acme", Slug: "acme"})
		if err != nil {
			t.Fatal(err)
		}
		seen, _ := db.FindLastSeen(ctx, org.ID)
		if _, ok := seen[u.ID]; ok {
			t.Fatal("last seen set before any session")
		}
		now := db.Now()
		s := &orgbase.Session{ID: "s1", UserID: u.ID, CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)}
		if err := db.SaveSession(ctx, s); err != nil {
			t.Fatal(err)
		}
		later := now.Add(10 * time.Minute)
		if err := db.TouchSession(ctx, "s1", later, later.Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		if err := db.DeleteSession(ctx, "s1"); err != nil {
			t.Fatal(err)
		}
		seen, err = db.FindLastSeen(ctx, org.ID)
		if err != nil || !seen[u.ID].Equal(later) {
			t.Fatalf("last seen after logout = %v (%v), want %v", seen[u.ID], err, later)
		}
	})
}
