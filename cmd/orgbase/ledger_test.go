package main

import (
	"context"
	"encoding/json"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/store"
)

// credits grant adds to the demo pool (once per key), ledger check passes,
// and after someone edits a balance behind the ledger's back, ledger check
// names the account and exits 1.
func TestRunCreditsGrantAndLedgerCheck(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			dbURL := dbtest.URL(t, dialect)
			env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}
			mustRun := func(args ...string) string {
				t.Helper()
				code, stdout, stderr := runCmd(t, env, args...)
				if code != exitOK {
					t.Fatalf("%s: exit %d; stderr: %s", strings.Join(args, " "), code, stderr)
				}
				return stdout
			}
			mustRun("seed") // the demo pool: 1,000 trial + 25,000 granted − 8,500 to budgets = 17,500

			out := mustRun("credits", "grant", "--org", "demo", "--amount", "100.5", "--memo", "Top up", "--key", "k1")
			if !regexp.MustCompile(`^granted 100\.5 credits to demo \(transfer \d+\); pool balance 17,600\.5\n$`).MatchString(out) {
				t.Errorf("credits grant printed %q", out)
			}
			out = mustRun("credits", "grant", "--org", "demo", "--amount", "100.5", "--memo", "Top up", "--key", "k1")
			if !strings.HasPrefix(out, `already granted with key "k1": 100.5 credits to demo`) || !strings.Contains(out, "pool balance 17,600.5\n") {
				t.Errorf("repeated grant printed %q", out)
			}

			out = mustRun("credits", "grant", "--org", "demo", "--amount", "0.120", "--key", "k2", "--json")
			var g map[string]any
			if err := json.Unmarshal([]byte(out), &g); err != nil {
				t.Fatalf("--json output %q: %v", out, err)
			}
			if g["amount"] != "0.120" || g["pool_balance"] != "17600.620" || g["replayed"] != false || g["org"] != "demo" || g["idempotency_key"] != "k2" {
				t.Errorf("--json = %v", g)
			}

			for _, tc := range []struct {
				args []string
				code int
				says string
			}{
				{[]string{"credits", "grant", "--org", "demo", "--amount", "101", "--key", "k1"}, exitFail, "idempotency key"},
				{[]string{"credits", "grant", "--org", "demo", "--amount", "1e3"}, exitConfig, "--amount"},
				{[]string{"credits", "grant", "--org", "demo", "--amount", "-5"}, exitConfig, "negative"},
				{[]string{"credits", "grant", "--org", "demo", "--amount", "0"}, exitConfig, "above zero"},
				{[]string{"credits", "grant", "--amount", "5"}, exitConfig, "--org"},
				{[]string{"credits", "grant", "--org", "demo"}, exitConfig, "--amount"},
				{[]string{"credits", "grant", "--org", "nope", "--amount", "5"}, exitFail, `no organization "nope"`},
				{[]string{"credits", "give"}, exitConfig, "grant"},
				{[]string{"ledger"}, exitConfig, "check"},
				{[]string{"ledger", "check", "--bogus"}, exitConfig, "bogus"},
			} {
				code, stdout, stderr := runCmd(t, env, tc.args...)
				if code != tc.code || stdout != "" || !strings.Contains(stderr, tc.says) || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit %d and one line saying %q",
						strings.Join(tc.args, " "), code, stdout, stderr, tc.code, tc.says)
				}
			}

			out = mustRun("ledger", "check")
			m := regexp.MustCompile(`^ledger ok: (\d+) accounts, (\d+) transfers\n$`).FindStringSubmatch(out)
			if m == nil {
				t.Fatalf("ledger check printed %q", out)
			}
			if n, _ := strconv.Atoi(m[2]); m == nil || m[1] == "0" || n < 3 {
				t.Errorf("ledger check printed %q; want ok with the accounts and at least 3 transfers", out)
			}
			var rep struct {
				OK         bool             `json:"ok"`
				Accounts   int              `json:"accounts"`
				Transfers  int              `json:"transfers"`
				Mismatches []map[string]any `json:"mismatches"`
			}
			if err := json.Unmarshal([]byte(mustRun("ledger", "check", "--json")), &rep); err != nil || !rep.OK || rep.Accounts == 0 || rep.Mismatches == nil || len(rep.Mismatches) != 0 {
				t.Errorf("ledger check --json = %+v, %v", rep, err)
			}

			// Tamper with the pool's balance directly.
			db, err := store.Open(context.Background(), dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := db.SQL().Exec("UPDATE accounts SET balance = balance + 1 WHERE kind = 'pool'"); err != nil {
				t.Fatal(err)
			}
			db.Close()

			code, stdout, stderr := runCmd(t, env, "ledger", "check")
			if code != exitFail {
				t.Errorf("ledger check after tampering: exit %d, want %d", code, exitFail)
			}
			if !regexp.MustCompile(`^mismatch: account \d+ \(org \d+, pool\): balance 17600\.621, but its transfers sum to 17600\.620\n$`).MatchString(stdout) {
				t.Errorf("ledger check after tampering printed %q", stdout)
			}
			if !strings.Contains(stderr, "ledger check failed: 1 problem") {
				t.Errorf("stderr %q", stderr)
			}
			code, stdout, _ = runCmd(t, env, "ledger", "check", "--json")
			if err := json.Unmarshal([]byte(stdout), &rep); err != nil || code != exitFail || rep.OK || len(rep.Mismatches) != 1 ||
				rep.Mismatches[0]["problem"] != "balance_differs" || rep.Mismatches[0]["balance"] != "17600.621" || rep.Mismatches[0]["computed"] != "17600.620" {
				t.Errorf("ledger check --json after tampering: exit %d, %+v, %v", code, rep, err)
			}
		})
	}
}
