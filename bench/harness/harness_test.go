package harness_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/bench/harness"
)

// TestHarness is the reduced harness run of the normal suite (the full one
// is `make harness`): three replicas behind the proxy under about 25 s of
// fixed-rate load, one SIGTERM (no request may fail, the email jobs in
// flight finish), four kill -9s (charges retried with their keys: none lost
// or doubled; ledger and rollups checks pass) and one restart of a private
// PostgreSQL cluster (/readyz reports it, each replica is ready again within
// 5 s). It runs where the PostgreSQL tests run (TEST_DATABASE_URL set, or
// CI=true); it needs PostgreSQL's server binaries (initdb) for its private
// cluster, and with CI=true their absence is a failure.
func TestHarness(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the harness takes about 40 seconds")
	}
	ci := os.Getenv("CI") == "true"
	if os.Getenv("TEST_DATABASE_URL") == "" && !ci {
		t.Skip("TEST_DATABASE_URL not set: skipping the PostgreSQL harness")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cfg := harness.Reduced()
	cfg.WorkDir = t.TempDir()
	cfg.Log = logWriter{t}
	cluster, err := harness.StartCluster(ctx)
	switch {
	case err != nil && ci:
		t.Fatalf("CI=true: the harness restarts a private PostgreSQL cluster of its own and could not start one "+
			"(install PostgreSQL's server binaries, e.g. Debian's postgresql package, or set ORGBASE_PG_BIN): %v", err)
	case errors.Is(err, harness.ErrNoCluster):
		t.Logf("no private PostgreSQL cluster (%v): running on TEST_DATABASE_URL without the database restart", err)
		cfg.DatabaseURL, cfg.DBRestarts = os.Getenv("TEST_DATABASE_URL"), 0
	case err != nil:
		t.Fatal(err)
	default:
		defer cluster.Close()
		cfg.Cluster = cluster
	}
	rep, err := harness.Run(ctx, cfg)
	if rep != nil {
		var b strings.Builder
		rep.Write(&b)
		t.Logf("report:\n%s", b.String())
	}
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range rep.Failures {
		t.Error(f)
	}
	if t.Failed() {
		logs, _ := filepath.Glob(filepath.Join(cfg.WorkDir, "replica-*.log"))
		for _, l := range logs {
			b, _ := os.ReadFile(l)
			s := string(b)
			if len(s) > 6000 {
				s = "…" + s[len(s)-6000:]
			}
			t.Logf("%s:\n%s", filepath.Base(l), s)
		}
	}
}

// logWriter sends the harness's progress lines to the test log.
type logWriter struct{ t *testing.T }

func (w logWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}
