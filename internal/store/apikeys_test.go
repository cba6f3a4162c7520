package store_test

import (
	"context"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func TestAPIKeys(t *testing.T) {
	dbtest.Each(t, func(t *testing.T, db *store.DB) {
		ctx := context.Background()
		tr := newTree(t, db)
		op := orgbase.OperatorAccess(tr.org.ID)
		if _, _, err := db.CreateAPIKey(ctx, tr.org.ID, op, tr.root.ID, "  "); orgbase.ErrorCode(err) != orgbase.EINVALID {
			t.Fatalf("empty name: %v", err)
		}
		k, secret, err := db.CreateAPIKey(ctx, tr.org.ID, op, tr.root.ID, "CI bot")
		if err != nil {
			t.Fatal(err)
		}
		if !orgbase.LooksLikeAPIKey(secret) || k.Prefix != secret[:10] {
			t.Fatalf("secret %q prefix %q", secret, k.Prefix)
		}
		var stored []string
		if err := db.ScanForTest(ctx, &stored, "SELECT secret_hash FROM api_keys"); err != nil || len(stored) != 1 || stored[0] == secret || stored[0] != orgbase.HashAPIKey(secret) {
			t.Fatalf("stored %v (err %v): want only the hash", stored, err)
		}
		a, err := db.AuthenticateAPIKey(ctx, secret)
		if err != nil {
			t.Fatal(err)
		}
		if a.OrgID != tr.org.ID || a.Key.ID != k.ID || a.Key.Name != "CI bot" || a.Workspace.ID != tr.root.ID || a.Workspace.Path != tr.root.Path {
			t.Fatalf("auth = %+v key %+v ws %+v", a, a.Key, a.Workspace)
		}
		if err := db.TouchAPIKey(ctx, k.ID); err != nil {
			t.Fatal(err)
		}
		keys, err := db.FindAPIKeys(ctx, tr.org.ID, tr.root.ID)
		if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil || keys[0].Name != "CI bot" || keys[0].CreatedByName != "Operator" || keys[0].ID != k.ID {
			t.Fatalf("keys = %+v, %v", keys[0], err)
		}
		for _, bad := range []string{"", "obk_", secret[:len(secret)-1] + map[bool]string{true: "B", false: "A"}[secret[len(secret)-1] == 'A'], "Bearer " + secret, secret + " "} {
			if _, err := db.AuthenticateAPIKey(ctx, bad); orgbase.ErrorCode(err) != orgbase.EUNAUTHORIZED {
				t.Errorf("AuthenticateAPIKey(%q) = %v, want unauthorized", bad, err)
			}
		}
		if _, err := db.RevokeAPIKey(ctx, tr.org.ID, op, tr.root.ID, k.ID); err != nil {
			t.Fatal(err)
		}
		if _, err := db.AuthenticateAPIKey(ctx, secret); orgbase.ErrorCode(err) != orgbase.EUNAUTHORIZED {
			t.Fatalf("revoked key authenticates: %v", err)
		}
		// Someone who is not a member cannot create a key.
		stranger := orgbase.Access{Membership: &orgbase.Membership{OrgID: tr.org.ID, UserID: tr.owner.ID + 999, Role: orgbase.RoleMember, Status: orgbase.MemberActive}}
		if _, _, err := db.CreateAPIKey(ctx, tr.org.ID, stranger, tr.root.ID, "x"); err == nil {
			t.Fatal("a stranger created a key")
		}
	})
}
