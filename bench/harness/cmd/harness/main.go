// Command harness runs Orgbase's multi-replica load and fault harness
// (package bench/harness): three `orgbase serve` processes on a private
// PostgreSQL cluster behind a round-robin proxy, a fixed-rate load of page
// loads, htmx partials and API charges, and SIGTERMs, kill -9s and
// PostgreSQL restarts while it runs; then it checks the database against
// every acknowledged charge. It prints the report as Markdown and exits 1
// when a check failed. `make harness` runs it with the full settings:
//
//	go run ./bench/harness/cmd/harness [-reduced] [-kills 100] [-rate 60] ...
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/orgbase/orgbase/bench/harness"
)

func main() {
	cfg := harness.Full()
	for _, a := range os.Args[1:] { // read first: the other flags' defaults come from it
		if a == "-reduced" || a == "--reduced" {
			cfg = harness.Reduced()
		}
	}
	flag.Bool("reduced", false, "the reduced settings of the test in make test (TestHarness), instead of the full run")
	flag.StringVar(&cfg.Bin, "bin", "", "a built orgbase binary (default: build one)")
	flag.StringVar(&cfg.WorkDir, "dir", "", "where logs go (default: a new temporary directory)")
	flag.StringVar(&cfg.DatabaseURL, "database-url", "", "use a fresh database on this PostgreSQL server instead of a private cluster (no database restarts)")
	flag.BoolVar(&cfg.DemoUsage, "demo-usage", cfg.DemoUsage, "seed 90 days of demo usage first")
	flag.Float64Var(&cfg.Rate, "rate", cfg.Rate, "requests started per second")
	flag.IntVar(&cfg.MaxInFlight, "max-in-flight", cfg.MaxInFlight, "cap on requests in flight")
	flag.IntVar(&cfg.Browsers, "browsers", cfg.Browsers, "signed-in browser sessions")
	flag.IntVar(&cfg.Kills, "kills", cfg.Kills, "kill -9s")
	flag.IntVar(&cfg.Terms, "terms", cfg.Terms, "SIGTERMs")
	flag.IntVar(&cfg.DBRestarts, "db-restarts", cfg.DBRestarts, "PostgreSQL restarts")
	flag.DurationVar(&cfg.DBDown, "db-down", cfg.DBDown, "how long PostgreSQL stays down")
	flag.DurationVar(&cfg.Warmup, "warmup", cfg.Warmup, "load before the first fault")
	flag.DurationVar(&cfg.Cooldown, "cooldown", cfg.Cooldown, "load after the last fault")
	flag.DurationVar(&cfg.Drain, "drain", cfg.Drain, "the replicas' ORGBASE_SHUTDOWN_DRAIN")
	flag.Uint64Var(&cfg.Seed, "seed", 0, "random seed (0: random)")
	out := flag.String("out", "", "also write the report to this file")
	flag.Parse()
	if cfg.DatabaseURL != "" && cfg.DBRestarts > 0 {
		fmt.Fprintln(os.Stderr, "harness: -database-url: the harness cannot restart an external PostgreSQL; database restarts skipped")
		cfg.DBRestarts = 0
	}
	cfg.Log = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ctx, cancel := context.WithTimeout(ctx, time.Hour)
	defer cancel()
	rep, err := harness.Run(ctx, cfg)
	if rep != nil {
		rep.Command = "go run ./bench/harness/cmd/harness " + strings.Join(os.Args[1:], " ")
		rep.Write(os.Stdout)
		if *out != "" {
			f, ferr := os.Create(*out)
			if ferr == nil {
				rep.Write(f)
				f.Close()
			}
		}
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "harness: %v\n", err)
		os.Exit(2)
	}
	if len(rep.Failures) > 0 {
		os.Exit(1)
	}
}
