package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/orgbase/orgbase/internal/billing"
	billingstripe "github.com/orgbase/orgbase/internal/billing/stripe"
	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/jobs"
	"github.com/orgbase/orgbase/internal/mail"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/internal/web"
)

const usage = `Usage: orgbase <command> [flags]

Commands:
  serve                 run the web server (applies migrations in dev)
  migrate up|down|status
                        manage the database schema
  seed [--demo] [--if-empty]
                        create the demo user and organization (--demo: with
                        90 days of usage); --if-empty: quietly, only if absent
  ledger check [--json] verify every balance against its transfers (exit 1 on a mismatch)
  rollups check|rebuild [--org SLUG] [--json]
                        compare the daily usage rollups with the events (exit 1 on a
                        difference); rebuild rewrites them from the events
  credits grant --org SLUG --amount N [--memo TEXT] [--key KEY] [--json]
                        grant credits to an organization's pool
  apikey create --org SLUG --name NAME [--workspace ID] [--json]
                        create a workspace API key (default: the Primary) and print it once

Configuration comes from environment variables; see README.md.
`

// Exit codes.
const (
	exitOK     = 0
	exitFail   = 1
	exitConfig = 2
)

// run is the whole program. main only calls it; tests call it too.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	if len(args) < 2 {
		fmt.Fprint(stderr, usage)
		return exitConfig
	}
	cmd, rest := args[1], args[2:]
	if cmd == "help" || cmd == "-h" || cmd == "--help" {
		fmt.Fprint(stdout, usage)
		return exitOK
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		fmt.Fprintf(stderr, "orgbase: %v\n", err)
		return exitConfig
	}
	log := newLogger(cfg, stderr)
	switch cmd {
	case "serve":
		err = serve(ctx, cfg, log, stdout)
	case "migrate":
		err = migrate(ctx, cfg, rest, stdout)
	case "seed":
		err = seed(ctx, cfg, rest, stdout)
	case "ledger":
		err = ledgerCommand(ctx, cfg, rest, stdout)
	case "rollups":
		err = rollupsCommand(ctx, cfg, rest, stdout)
	case "credits":
		err = creditsCommand(ctx, cfg, rest, stdout)
	case "apikey":
		err = apikeyCommand(ctx, cfg, rest, stdout)
	default:
		fmt.Fprintf(stderr, "orgbase: unknown command %q\n\n%s", cmd, usage)
		return exitConfig
	}
	var ue usageError
	if errors.As(err, &ue) {
		fmt.Fprintf(stderr, "orgbase: %v\n", err)
		return exitConfig
	}
	if err != nil {
		fmt.Fprintf(stderr, "orgbase: %v\n", err)
		return exitFail
	}
	return exitOK
}

// usageError is a mistake in the command line (exit code 2).
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func newLogger(cfg *config.Config, w io.Writer) *slog.Logger {
	if cfg.LogFormat == "json" {
		return slog.New(slog.NewJSONHandler(w, nil))
	}
	return slog.New(slog.NewTextHandler(w, nil))
}

func openDB(ctx context.Context, cfg *config.Config, log *slog.Logger) (*store.DB, error) {
	return store.Open(ctx, cfg.DatabaseURL, store.Options{Logger: log})
}

// sessionKeys returns the configured keys or, in development, a key kept in
// the data directory (created on first use) so sessions survive restarts.
func sessionKeys(cfg *config.Config) ([][]byte, error) {
	if len(cfg.SessionKeys) > 0 {
		return cfg.SessionKeys, nil
	}
	path := filepath.Join(cfg.DataDir, "session.key")
	if b, err := os.ReadFile(path); err == nil {
		k, err := hex.DecodeString(strings.TrimSpace(string(b)))
		if err != nil || len(k) != 32 {
			return nil, fmt.Errorf("%s: not a 64-character hex key; delete it to generate a new one", path)
		}
		return [][]byte{k}, nil
	}
	k := make([]byte, 32)
	if _, err := rand.Read(k); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.DataDir, 0o750); err != nil {
		return nil, err
	}
	if err := os.WriteFile(path, []byte(hex.EncodeToString(k)+"\n"), 0o600); err != nil {
		return nil, err
	}
	return [][]byte{k}, nil
}

func serve(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer) error {
	keys, err := sessionKeys(cfg)
	if err != nil {
		return err
	}
	cfg.SessionKeys = keys
	db, err := openDB(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if cfg.Dev() {
		if err := db.Migrate(ctx); err != nil {
			return fmt.Errorf("migrate: %w", err)
		}
		if err := seedCatalog(ctx, db); err != nil {
			return err
		}
	} else if err := db.Ready(ctx); err != nil {
		return fmt.Errorf("%w (run `orgbase migrate up` first)", err)
	}
	payments, err := paymentProvider(cfg, db)
	if err != nil {
		return err
	}
	runner, err := startJobs(ctx, cfg, db, payments, log)
	if err != nil {
		return err
	}
	defer func() { // after the HTTP server drained, before the database closes
		sctx, cancel := context.WithTimeout(context.Background(), 25*time.Second)
		defer cancel()
		if err := runner.Stop(sctx); err != nil {
			log.Error("stop background jobs", slog.String("error", err.Error()))
		}
	}()
	if cfg.SMTP.Host == "" && !cfg.Dev() {
		log.Warn("SMTP_HOST is not set: emails are kept in the database and not sent")
	}
	ready := &readiness{db: db} // /readyz: 503 from SIGTERM on (shutdown.go)
	handler, err := web.NewServer(web.Deps{Config: cfg, Logger: log, Users: db, Sessions: db, Orgs: db, Mail: db, Health: ready, Workspaces: db, Members: db, API: db, Alerts: db,
		Billing: db, Payments: payments})
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("listen on %s: %w", cfg.Addr, err)
	}
	url := cfg.BaseURL.String()
	if _, port, _ := net.SplitHostPort(cfg.Addr); port == "0" {
		url = "http://" + ln.Addr().String()
		cfg.BaseURL.Host = ln.Addr().String()
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second, ReadTimeout: 60 * time.Second,
		WriteTimeout: 60 * time.Second, IdleTimeout: 120 * time.Second, ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}
	fmt.Fprintf(stdout, "Orgbase is running at %s\n", url)
	if cfg.Dev() {
		fmt.Fprintf(stdout, "Demo login: %s / %s\n", demoEmail, demoPassword)
		if cfg.DevMailbox() {
			fmt.Fprintf(stdout, "Emails are kept in the dev mailbox: %s/dev/mail\n", url)
		}
	}
	go housekeeping(ctx, db, log)
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	return shutdown(srv, ready, cfg.ShutdownDrain, log)
}

// startJobs starts the background jobs: the billing job (renewals and
// auto-recharge, charged through payments) and, with an SMTP server, the
// worker that sends the outbox; from then on every email gets its delivery
// job in the transaction that writes it.
func startJobs(ctx context.Context, cfg *config.Config, db *store.DB, payments billing.Provider, log *slog.Logger) (*jobs.Runner, error) {
	var m mail.Mailer
	if cfg.SMTP.Host != "" {
		var err error
		if m, err = mail.NewSMTP(cfg.SMTP); err != nil {
			return nil, err
		}
	}
	runner, err := jobs.New(db, m, jobs.Options{Logger: log, Payments: payments})
	if err != nil {
		return nil, err
	}
	if err := runner.Start(ctx); err != nil {
		db.SetEmailEnqueuer(nil)
		return nil, fmt.Errorf("start background jobs: %w", err)
	}
	if m != nil {
		log.Info("sending email through SMTP", slog.String("server", net.JoinHostPort(cfg.SMTP.Host, strconv.Itoa(cfg.SMTP.Port))), slog.String("tls", cfg.SMTP.TLS))
	}
	return runner, nil
}

// housekeeping purges expired sessions and organizations past their grace
// period, hourly, and sweeps every organization's alert thresholds every
// five minutes (a new month, a change nobody's request triggered a check
// for). All are idempotent, so several replicas may run them.
func housekeeping(ctx context.Context, db *store.DB, log *slog.Logger) {
	go func() {
		t := time.NewTicker(5 * time.Minute)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			if _, err := db.SweepAlerts(ctx); err != nil && ctx.Err() == nil {
				log.Error("sweep alerts", slog.String("error", err.Error()))
			}
		}
	}()
	t := time.NewTicker(time.Hour)
	defer t.Stop()
	for {
		if n, err := db.PurgeExpiredSessions(ctx); err != nil && ctx.Err() == nil {
			log.Error("purge sessions", slog.String("error", err.Error()))
		} else if n > 0 {
			log.Info("purged expired sessions", slog.Int64("count", n))
		}
		if n, err := db.PurgeDeletedOrgs(ctx); err != nil && ctx.Err() == nil {
			log.Error("purge organizations", slog.String("error", err.Error()))
		} else if n > 0 {
			log.Info("purged deleted organizations", slog.Int("count", n))
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func migrate(ctx context.Context, cfg *config.Config, args []string, stdout io.Writer) error {
	if len(args) != 1 {
		return usageError{"migrate needs one of: up, down, status"}
	}
	db, err := store.Open(ctx, cfg.DatabaseURL, store.Options{})
	if err != nil {
		return err
	}
	defer db.Close()
	switch args[0] {
	case "up":
		if err := db.Migrate(ctx); err != nil {
			return err
		}
		if err := seedCatalog(ctx, db); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "migrations applied")
	case "down":
		if err := db.MigrateDown(ctx); err != nil {
			return err
		}
		fmt.Fprintln(stdout, "rolled back one migration")
	case "status":
		st, err := db.MigrateStatus(ctx)
		if err != nil {
			return err
		}
		for _, s := range st {
			state := "pending"
			if s.Applied {
				state = "applied " + s.AppliedAt.UTC().Format(time.RFC3339)
			}
			fmt.Fprintf(stdout, "%05d  %-40s %s\n", s.Version, s.Name, state)
		}
	default:
		return usageError{fmt.Sprintf("migrate: unknown action %q (want up, down or status)", args[0])}
	}
	return nil
}

// paymentProvider is the provider ORGBASE_PAYMENTS names: the built-in
// test provider (the default) or Stripe, whose webhook then confirms
// payments (config refuses stripe without both Stripe keys).
func paymentProvider(cfg *config.Config, db *store.DB) (billing.Provider, error) {
	if cfg.Payments == billingstripe.Name {
		return billingstripe.New(billingstripe.Config{SecretKey: cfg.Stripe.SecretKey, APIURL: cfg.Stripe.APIURL})
	}
	return testprovider.New(cfg.BaseURL, db), nil
}
