package main

import (
	"context"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/store"
)

// A bad configuration value stops the program before it does anything, with
// exit code 2 and one line on stderr that names the variable.
func TestRunBadConfig(t *testing.T) {
	cases := []struct {
		name, value string
		names       string // the variable the message must name
	}{
		{"ORGBASE_ADDR", "nonsense", "ORGBASE_ADDR"},
		{"ORGBASE_ADDR", "localhost:99999", "ORGBASE_ADDR"},
		{"ORGBASE_ENV", "staging", "ORGBASE_ENV"},
		{"ORGBASE_ENV", "prod", "ORGBASE_SESSION_KEYS"}, // prod needs keys
		{"ORGBASE_BASE_URL", "ftp://example.com", "ORGBASE_BASE_URL"},
		{"DATABASE_URL", "mysql://localhost/orgbase", "DATABASE_URL"},
		{"ORGBASE_SESSION_KEYS", "not-hex", "ORGBASE_SESSION_KEYS"},
		{"ORGBASE_SESSION_IDLE_TIMEOUT", "soon", "ORGBASE_SESSION_IDLE_TIMEOUT"},
		{"ORGBASE_LOG_FORMAT", "xml", "ORGBASE_LOG_FORMAT"},
		{"SMTP_PORT", "abc", "SMTP_PORT"},
		{"SMTP_TLS", "maybe", "SMTP_TLS"},
	}
	for _, tc := range cases {
		for _, cmd := range [][]string{{"serve"}, {"migrate", "status"}, {"seed"}} {
			t.Run(tc.name+"="+tc.value+"/"+cmd[0], func(t *testing.T) {
				dir := t.TempDir()
				env := map[string]string{"ORGBASE_DATA_DIR": dir, tc.name: tc.value}
				code, stdout, stderr := runCmd(t, env, cmd...)
				if code != exitConfig {
					t.Errorf("exit code %d, want %d", code, exitConfig)
				}
				if stdout != "" {
					t.Errorf("stdout %q, want nothing", stdout)
				}
				if strings.Count(stderr, "\n") != 1 || !strings.HasSuffix(stderr, "\n") {
					t.Errorf("stderr is not exactly one line: %q", stderr)
				}
				if !strings.Contains(stderr, tc.names) {
					t.Errorf("stderr %q does not name %s", stderr, tc.names)
				}
			})
		}
	}
}

func TestRunUsage(t *testing.T) {
	env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir()}

	code, stdout, stderr := runCmd(t, env, "frobnicate")
	if code != exitConfig {
		t.Errorf("unknown command: exit code %d, want %d", code, exitConfig)
	}
	if !strings.Contains(stderr, `unknown command "frobnicate"`) || !strings.Contains(stderr, "Usage: orgbase") {
		t.Errorf("unknown command: stderr %q should name the command and show the usage", stderr)
	}
	if stdout != "" {
		t.Errorf("unknown command: stdout %q, want nothing", stdout)
	}

	code, stdout, stderr = runCmd(t, env)
	if code != exitConfig || !strings.Contains(stderr, "Usage: orgbase") || stdout != "" {
		t.Errorf("no command: exit %d, stdout %q, stderr %q; want exit 2 and the usage on stderr", code, stdout, stderr)
	}

	for _, help := range []string{"help", "-h", "--help"} {
		code, stdout, stderr = runCmd(t, env, help)
		if code != exitOK || !strings.Contains(stdout, "Usage: orgbase") || stderr != "" {
			t.Errorf("%s: exit %d, stdout %q, stderr %q; want exit 0 and the usage on stdout", help, code, stdout, stderr)
		}
	}
}

// migrate up, down and status work against a fresh database: a temporary
// SQLite file, and a fresh PostgreSQL schema when TEST_DATABASE_URL is set.
func TestRunMigrate(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbtest.URL(t, dialect)}
			migrate := func(args ...string) (string, string) {
				t.Helper()
				code, stdout, stderr := runCmd(t, env, append([]string{"migrate"}, args...)...)
				if code != exitOK {
					t.Fatalf("migrate %s: exit %d; stderr: %s", strings.Join(args, " "), code, stderr)
				}
				return stdout, stderr
			}
			// status lines: "00001  00001_foundation.sql    pending|applied <time>"
			states := func() []string {
				t.Helper()
				out, _ := migrate("status")
				var st []string
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					f := strings.Fields(line)
					if len(f) < 3 {
						t.Fatalf("migrate status: unexpected line %q in:\n%s", line, out)
					}
					st = append(st, f[2])
				}
				return st
			}
			wantAll := func(when, want string) []string {
				t.Helper()
				st := states()
				if len(st) == 0 {
					t.Fatalf("%s: migrate status lists no migration", when)
				}
				for i, s := range st {
					if s != want {
						t.Errorf("%s: migration %d is %s, want %s", when, i+1, s, want)
					}
				}
				return st
			}

			all := wantAll("fresh database", "pending")
			if out, _ := migrate("up"); out != "migrations applied\n" {
				t.Errorf("migrate up printed %q", out)
			}
			wantAll("after up", "applied")
			if out, _ := migrate("up"); out != "migrations applied\n" { // nothing left to do is fine
				t.Errorf("second migrate up printed %q", out)
			}
			if out, _ := migrate("down"); out != "rolled back one migration\n" {
				t.Errorf("migrate down printed %q", out)
			}
			st := states()
			if st[len(st)-1] != "pending" {
				t.Errorf("after down the latest migration is %s, want pending", st[len(st)-1])
			}
			for i := range len(all) - 1 {
				if st[i] != "applied" {
					t.Errorf("after down migration %d is %s, want applied", i+1, st[i])
				}
			}
			migrate("up")
			wantAll("after up again", "applied")

			for _, bad := range [][]string{{"migrate"}, {"migrate", "sideways"}, {"migrate", "up", "down"}} {
				code, _, stderr := runCmd(t, env, bad...)
				if code != exitConfig || strings.Count(stderr, "\n") != 1 {
					t.Errorf("%s: exit %d, stderr %q; want exit 2 and one line", strings.Join(bad, " "), code, stderr)
				}
			}
		})
	}
}

// seed creates the verified demo user and organization once; a second seed
// says they are there, and seed --if-empty is silent.
func TestRunSeed(t *testing.T) {
	for _, dialect := range dbtest.Dialects(t) {
		t.Run(dialect, func(t *testing.T) {
			dbURL := dbtest.URL(t, dialect)
			env := map[string]string{"ORGBASE_DATA_DIR": t.TempDir(), "DATABASE_URL": dbURL}

			code, stdout, stderr := runCmd(t, env, "seed")
			if code != exitOK {
				t.Fatalf("seed: exit %d; stderr: %s", code, stderr)
			}
			if !strings.Contains(stdout, `seeded demo organization "demo"`) || !strings.Contains(stdout, demoEmail) {
				t.Errorf("seed printed %q", stdout)
			}

			code, stdout, stderr = runCmd(t, env, "seed")
			if code != exitOK || stdout != "demo data already present\n" {
				t.Errorf("second seed: exit %d, stdout %q, stderr %q", code, stdout, stderr)
			}
			code, stdout, stderr = runCmd(t, env, "seed", "--if-empty")
			if code != exitOK || stdout != "" {
				t.Errorf("seed --if-empty: exit %d, stdout %q, stderr %q; want exit 0 and nothing", code, stdout, stderr)
			}
			code, _, stderr = runCmd(t, env, "seed", "--bogus")
			if code != exitConfig {
				t.Errorf("seed --bogus: exit %d, want %d; stderr %q", code, exitConfig, stderr)
			}

			ctx := context.Background()
			db, err := store.Open(ctx, dbURL, store.Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer db.Close()
			user, _, err := db.FindUserByEmail(ctx, demoEmail)
			if err != nil {
				t.Fatalf("the demo user is not in the database: %v", err)
			}
			if !user.Verified() {
				t.Errorf("the demo user is not verified")
			}
			org, m, err := db.FindOrgForMember(ctx, demoOrgSlug, user.ID)
			if err != nil {
				t.Fatalf("the demo user is not a member of %q: %v", demoOrgSlug, err)
			}
			if org.Name != "Demo Company" || m.Role != "owner" {
				t.Errorf("demo organization %q, role %q; want Demo Company, owner", org.Name, m.Role)
			}
		})
	}
}

// serve stops cleanly (exit 0) when its context is cancelled, and prints
// where it listens, the demo login and the dev mailbox in development.
func TestRunServeStops(t *testing.T) {
	srv := startServer(t, map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir()})
	if !strings.HasPrefix(srv.URL, "http://127.0.0.1:") || strings.HasSuffix(srv.URL, ":0") {
		t.Errorf("URL %q is not the address the server listens on", srv.URL)
	}
	if code := srv.Stop(t); code != exitOK {
		t.Fatalf("run returned %d after cancel, want 0; stderr:\n%s", code, srv.Stderr)
	}
	out := srv.Stdout.String()
	for _, want := range []string{"Demo login: " + demoEmail, srv.URL + "/dev/mail"} {
		if !strings.Contains(out, want) {
			t.Errorf("stdout does not mention %q:\n%s", want, out)
		}
	}
}
