package main

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// rollups check passes after real charges, names a tampered row and exits 1,
// and rollups rebuild repairs it.
func TestRunRollupsCheckAndRebuild(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			ctx := context.Background()
			dbURL := dbtest.URL(t, dialect)
			env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
			if code, _, stderr := runCmd(t, env, "seed"); code != exitOK {
				t.Fatalf("seed: %d %s", code, stderr)
			}
			db, err := store.Open(ctx, dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			org, err := db.FindOrgBySlug(ctx, demoOrgSlug)
			if err != nil {
				t.Fatal(err)
			}
			ws, err := db.FindPrimaryWorkspace(ctx, org.ID)
			if err != nil {
				t.Fatal(err)
			}
			user, _, err := db.FindUserByEmail(ctx, demoEmail)
			if err != nil {
				t.Fatal(err)
			}
			entries, err := db.FindCatalog(ctx)
			if err != nil || len(entries) == 0 {
				t.Fatalf("catalog: %v, %v", entries, err)
			}
			for i := range 5 {
				e := entries[i%len(entries)]
				if _, err := db.Charge(ctx, org.ID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: user.ID, Tool: e.Tool, Model: e.Model, Units: 1, IdempotencyKey: fmt.Sprint("rollups-test-", i)}); err != nil {
					t.Fatal(err)
				}
			}
			check := func(args ...string) (int, string, string) {
				return runCmd(t, env, append([]string{"rollups"}, args...)...)
			}
			if code, out, stderr := check("check"); code != exitOK || out != "rollups ok: every daily rollup equals the usage events\n" {
				t.Fatalf("rollups check: exit %d, %q, %q", code, out, stderr)
			}

			if _, err := db.SQL().Exec("UPDATE usage_daily_member SET credits = credits + 1"); err != nil {
				t.Fatal(err)
			}
			code, out, stderr := check("check", "--org", demoOrgSlug)
			if code != exitFail || !strings.HasPrefix(out, "mismatch: usage_daily_member org=") || !strings.Contains(stderr, "rows differ from the usage events") {
				t.Errorf("rollups check after tampering: exit %d, %q, %q", code, out, stderr)
			}
			var rep struct {
				OK         bool                   `json:"ok"`
				Mismatches []store.RollupMismatch `json:"mismatches"`
			}
			code, out, _ = check("check", "--json")
			if err := json.Unmarshal([]byte(out), &rep); err != nil || code != exitFail || rep.OK || len(rep.Mismatches) == 0 || rep.Mismatches[0].Table != "usage_daily_member" {
				t.Errorf("rollups check --json after tampering: exit %d, %+v, %v", code, rep, err)
			}
			if code, out, stderr := check("rebuild", "--org", demoOrgSlug); code != exitOK || !strings.Contains(out, "they match") {
				t.Errorf("rollups rebuild: exit %d, %q, %q", code, out, stderr)
			}
			if code, out, stderr := check("check"); code != exitOK {
				t.Errorf("rollups check after rebuild: exit %d, %q, %q", code, out, stderr)
			}
			for _, tc := range []struct {
				args []string
				code int
				says string
			}{
				{[]string{"rollups"}, exitConfig, "check|rebuild"},
				{[]string{"rollups", "fix"}, exitConfig, "check|rebuild"},
				{[]string{"rollups", "check", "--bogus"}, exitConfig, "bogus"},
				{[]string{"rollups", "check", "extra"}, exitConfig, "no arguments"},
				{[]string{"rollups", "check", "--org", "nope"}, exitFail, `no organization "nope"`},
			} {
				code, stdout, stderr := runCmd(t, env, tc.args...)
				if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.says) {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d saying %q", strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.says)
				}
			}
		})
	}
}
