// Package harness proves Orgbase's operating promises (SPEC §10) under load
// and faults: three `orgbase serve` processes against one PostgreSQL behind
// a round-robin proxy, an open-model load driver mixing browser page loads,
// htmx partials and API charges, and faults injected while it runs:
// SIGTERM (graceful shutdown must cost no request), kill -9 (no
// acknowledged charge lost or doubled; clients retry with their idempotency
// keys) and a PostgreSQL restart (/readyz reports it; each replica recovers
// within 5 s of the database's return). Afterwards the database is checked
// against every acknowledgement, and `orgbase ledger check` and
// `orgbase rollups check` must pass.
//
// Run the full harness with `make harness` (see docs/RELIABILITY.md); a
// reduced run is TestHarness in the normal suite.
package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	mrand "math/rand/v2"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Config sizes a run.
type Config struct {
	Bin     string   // a built orgbase binary; "" builds one into WorkDir
	WorkDir string   // logs (and the binary); "" makes a temporary directory, kept
	Cluster *Cluster // a private PostgreSQL to use (and restart); nil: DatabaseURL, or a new private cluster
	// DatabaseURL names an existing PostgreSQL server (a fresh database is
	// created in it and dropped afterwards). It cannot be restarted, so
	// DBRestarts must be 0.
	DatabaseURL string
	DemoUsage   bool // seed 90 days of demo usage (`orgbase seed --demo`): realistic pages, a slower start

	Replicas    int           // app processes (3)
	Browsers    int           // signed-in browser sessions sharing the page loads
	Rate        float64       // requests started per second
	MaxInFlight int           // cap on requests (and retrying charges) in flight
	Timeout     time.Duration // per request
	Mix         Mix
	Poll        time.Duration // the proxy's readiness polling interval
	Drain       time.Duration // the replicas' ORGBASE_SHUTDOWN_DRAIN
	MailDelay   time.Duration // how long the SMTP sink takes per message (with Mix.Invite)

	Warmup       time.Duration
	Terms        int           // SIGTERMs, one replica at a time
	TermGap      time.Duration // between SIGTERMs
	Kills        int           // kill -9s
	KillGap      [2]time.Duration
	RestartDelay [2]time.Duration // from a kill (or exit) to the restart
	DBRestarts   int
	DBDown       time.Duration // how long PostgreSQL stays down
	Cooldown     time.Duration
	Seed         uint64 // 0: random

	Log io.Writer // progress lines; nil discards them
}

// Reduced is the configuration TestHarness runs in the normal suite: a few
// faults of each kind in about half a minute of load.
func Reduced() Config {
	return Config{Replicas: 3, Browsers: 4, Rate: 40, MaxInFlight: 300, Timeout: 10 * time.Second,
		Mix: Mix{Page: 0.3, HTMX: 0.2, Charge: 0.5, Invite: 0.05}, Poll: 100 * time.Millisecond, Drain: time.Second,
		MailDelay: 1500 * time.Millisecond,
		Warmup:    2 * time.Second, Terms: 1, TermGap: time.Second,
		Kills: 4, KillGap: [2]time.Duration{time.Second, 2 * time.Second}, RestartDelay: [2]time.Duration{200 * time.Millisecond, time.Second},
		DBRestarts: 1, DBDown: 2 * time.Second, Cooldown: 2 * time.Second}
}

// Full is `make harness`: 100 kills, 10 SIGTERMs and 4 database restarts
// at 100 requests/s, in about five minutes.
func Full() Config {
	c := Reduced()
	c.DemoUsage = true
	c.Browsers = 8
	c.Rate = 100
	c.Warmup = 10 * time.Second
	c.Terms, c.TermGap = 10, 2*time.Second
	c.Kills, c.KillGap = 100, [2]time.Duration{500 * time.Millisecond, 3 * time.Second}
	c.DBRestarts, c.DBDown = 4, 3*time.Second
	c.Cooldown = 10 * time.Second
	return c
}

// TermResult is one SIGTERM.
type TermResult struct {
	Replica  int
	Took     time.Duration // from the signal to the exit
	ExitCode int
	Sending  int // emails the SMTP sink was receiving (from any replica) at the signal
}

// MailResult is what became of the emails written while invitations were
// sent (warm-up and SIGTERM phases): each must be delivered by its job,
// at the first attempt, SIGTERMs notwithstanding.
type MailResult struct {
	Written  int // emails written to the outbox
	Sent     int // of those, marked sent
	Retried  int // of those, with more than one attempt or an error recorded
	Received int // messages the SMTP sink received
}

// DBRestart is one PostgreSQL restart.
type DBRestart struct {
	Mode        string          // fast or immediate
	Down        time.Duration   // from the stop to accepting connections again
	NotReady    []bool          // per replica: /readyz answered non-200 during the outage
	Recovery    []time.Duration // per replica: from the database's return to /readyz 200 (-1: never)
	FirstCharge time.Duration   // from the database's return to the next acknowledged charge (-1: none)
}

// Report is a run's figures and the promises it found broken (Failures).
type Report struct {
	Command    string
	Started    time.Time
	Duration   time.Duration // of the load
	Database   string
	Replicas   int
	Rate       float64
	Scheduled  int64 // requests the schedule asked for
	NotStarted int64 // of those, not started: MaxInFlight reached
	Requests   int   // HTTP requests made, retries included
	OK         int   // of those, answered as expected

	Endpoints, Kinds []LatencyRow
	Phases           []PhaseRow

	Terms           []TermResult
	Kills           int
	ReplicaStarts   int // starts after the first
	UnexpectedExits int
	DBRestarts      []DBRestart

	ProxyRerouted map[string]int // by the reason the first replica tried failed
	ProxyErrors   map[string]int
	Mail          *MailResult

	ChargeAttempts int
	Replayed       int // acknowledgements that were replays of an earlier unanswered write
	Settled        int // charges acknowledged only by the settle pass after the load
	Verdict        *Verdict

	LoadAvg  [2]string // /proc/loadavg's 1-minute figure when the load started and ended: the machine's other work
	WorkDir  string
	Failures []string
}

// loadAvg is the 1-minute load average ("" where /proc/loadavg is missing).
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return ""
	}
	f := strings.Fields(string(b))
	if len(f) == 0 {
		return ""
	}
	return f[0]
}

// run is one harness run in progress.
type run struct {
	cfg      Config
	log      io.Writer
	rng      *mrand.Rand
	rngMu    sync.Mutex
	replicas []*Replica
	proxy    *Proxy
	cluster  *Cluster
	driver   *Driver
	rep      *Report
	env      []string
	lastAck  atomic.Int64
	db       *sql.DB
	sink     *smtpSink
	started  time.Time // the load's start
}

func (r *run) logf(format string, args ...any) {
	fmt.Fprintf(r.log, "%s harness: %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

func (r *run) fail(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	r.rep.Failures = append(r.rep.Failures, msg)
	r.logf("FAIL: %s", msg)
}

func (r *run) between(lo, hi time.Duration) time.Duration {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	if hi <= lo {
		return lo
	}
	return lo + time.Duration(r.rng.Int64N(int64(hi-lo)))
}

func (r *run) intn(n int) int {
	r.rngMu.Lock()
	defer r.rngMu.Unlock()
	return r.rng.IntN(n)
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// Run sets everything up, runs the load with the faults, verifies the
// database and tears everything down. An error means the run could not be
// made; broken promises are in Report.Failures.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	r := &run{cfg: cfg, log: cfg.Log, rep: &Report{Started: time.Now(), Replicas: cfg.Replicas, Rate: cfg.Rate}}
	if r.log == nil {
		r.log = io.Discard
	}
	seed := cfg.Seed
	if seed == 0 {
		seed = mrand.Uint64()
	}
	r.rng = mrand.New(mrand.NewPCG(seed, 1))
	var cleanups []func()
	defer func() {
		for i := len(cleanups) - 1; i >= 0; i-- {
			cleanups[i]()
		}
	}()

	// The work directory and the binary.
	dir := cfg.WorkDir
	if dir == "" {
		var err error
		if dir, err = os.MkdirTemp("", "orgbase-harness-"); err != nil {
			return nil, err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	r.rep.WorkDir = dir
	bin := cfg.Bin
	if bin == "" {
		r.logf("building the orgbase binary")
		var err error
		if bin, err = Build(ctx, dir); err != nil {
			return nil, err
		}
	}

	// The database.
	var serverURL string
	switch {
	case cfg.Cluster != nil:
		r.cluster, serverURL = cfg.Cluster, cfg.Cluster.URL("postgres")
		r.rep.Database = "a private PostgreSQL cluster (initdb), restartable"
	case cfg.DatabaseURL != "":
		if cfg.DBRestarts > 0 {
			return nil, errors.New("DBRestarts needs a private cluster: an external PostgreSQL cannot be restarted by the harness")
		}
		serverURL = cfg.DatabaseURL
		r.rep.Database = "a fresh database on an existing PostgreSQL server (not restarted)"
	default:
		r.logf("starting a private PostgreSQL cluster")
		c, err := StartCluster(ctx)
		if err != nil {
			return nil, err
		}
		cleanups = append(cleanups, c.Close)
		r.cluster, serverURL = c, c.URL("postgres")
		r.rep.Database = "a private PostgreSQL cluster (initdb), restartable"
	}
	dbURL, drop, err := CreateDatabase(ctx, serverURL)
	if err != nil {
		return nil, err
	}
	cleanups = append(cleanups, drop)

	// The proxy's address first: it is the replicas' public URL.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	base := "http://" + ln.Addr().String()
	var key [32]byte
	rand.Read(key[:])
	r.env = []string{"ORGBASE_ENV=prod", "DATABASE_URL=" + dbURL, "ORGBASE_SESSION_KEYS=" + hex.EncodeToString(key[:]),
		"ORGBASE_BASE_URL=" + base, "ORGBASE_DATA_DIR=" + filepath.Join(dir, "data"), "ORGBASE_SHUTDOWN_DRAIN=" + cfg.Drain.String()}
	if cfg.Mix.Invite > 0 {
		if r.sink, err = startSMTPSink(cfg.MailDelay); err != nil {
			ln.Close()
			return nil, err
		}
		cleanups = append(cleanups, r.sink.Close)
		r.env = append(r.env, "SMTP_HOST=127.0.0.1", fmt.Sprintf("SMTP_PORT=%d", r.sink.port), "SMTP_TLS=none")
	}

	// Schema, the demo organization, funds and an API key, through the binary.
	r.logf("migrating and seeding")
	orgbase := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, bin, args...)
		cmd.Env = r.env
		var out, errOut strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &errOut
		if err := cmd.Run(); err != nil {
			return "", fmt.Errorf("orgbase %s: %v: %s", strings.Join(args, " "), err, errOut.String())
		}
		return out.String(), nil
	}
	seedArgs := []string{"seed"}
	if cfg.DemoUsage {
		seedArgs = append(seedArgs, "--demo")
	}
	if _, err := orgbase("migrate", "up"); err != nil {
		ln.Close()
		return nil, err
	}
	if _, err := orgbase(seedArgs...); err != nil {
		ln.Close()
		return nil, err
	}
	if _, err := orgbase("credits", "grant", "--org", "demo", "--amount", "100000000", "--memo", "harness", "--key", "harness-funds"); err != nil {
		ln.Close()
		return nil, err
	}
	out, err := orgbase("apikey", "create", "--org", "demo", "--name", "harness", "--json")
	if err != nil {
		ln.Close()
		return nil, err
	}
	var created struct{ Key string }
	if err := json.Unmarshal([]byte(out), &created); err != nil || created.Key == "" {
		ln.Close()
		return nil, fmt.Errorf("apikey create printed %q", out)
	}
	db, err := sql.Open("pgx", dbURL)
	if err != nil {
		ln.Close()
		return nil, err
	}
	db.SetMaxOpenConns(2)
	cleanups = append(cleanups, func() { db.Close() })
	r.db = db
	var orgID int64
	if err := db.QueryRowContext(ctx, "SELECT id FROM organizations WHERE slug = 'demo'").Scan(&orgID); err != nil {
		ln.Close()
		return nil, err
	}
	// Charges go to the Primary and two branches that share its pool with no
	// monthly limit (the demo's budget workspaces would run dry, and
	// Platform has a limit).
	var wss []int64
	rows, err := db.QueryContext(ctx, `SELECT id FROM workspaces WHERE org_id = $1 AND name IN ('Primary', 'Engineering', 'Research') ORDER BY id`, orgID)
	if err != nil {
		ln.Close()
		return nil, err
	}
	for rows.Next() {
		var id int64
		rows.Scan(&id)
		wss = append(wss, id)
	}
	rows.Close()
	if len(wss) == 0 {
		ln.Close()
		return nil, errors.New("no workspaces found in the demo organization")
	}

	// The replicas and the proxy.
	r.logf("starting %d replicas", cfg.Replicas)
	for i := range cfg.Replicas {
		rep, err := newReplica(i+1, bin, r.env, dir)
		if err != nil {
			ln.Close()
			return nil, err
		}
		if err := rep.Start(ctx); err != nil {
			ln.Close()
			return nil, err
		}
		r.replicas = append(r.replicas, rep)
	}
	cleanups = append(cleanups, func() {
		var wg sync.WaitGroup
		for _, rep := range r.replicas {
			if rep.Running() {
				wg.Go(func() { rep.Term(cfg.Drain + 30*time.Second) })
			}
		}
		wg.Wait()
	})
	r.proxy = StartProxy(ln, r.replicas, cfg.Poll)
	cleanups = append(cleanups, r.proxy.Close)

	// The browsers sign in through the login form.
	d := &Driver{base: base, rate: cfg.Rate, maxInFlight: cfg.MaxInFlight, timeout: cfg.Timeout, mix: cfg.Mix,
		rng: mrand.New(mrand.NewPCG(seed, 2)), apiKey: created.Key, user: "demo@orgbase.test", workspaces: wss,
		runID: hex.EncodeToString(key[:4]), stats: newStats(), charges: &Charges{byKey: map[string]*chargeState{}},
		hc: &http.Client{Timeout: cfg.Timeout, Transport: newTransport(256)}, acked: &r.lastAck}
	for range cfg.Browsers {
		c, err := signIn(ctx, base, "demo@orgbase.test", "orgbase-demo-password", cfg.Timeout)
		if err != nil {
			return nil, err
		}
		d.browsers = append(d.browsers, c)
	}
	r.driver = d

	// The load, and the faults while it runs.
	w := cfg.Mix.Page + cfg.Mix.HTMX + cfg.Mix.Charge
	r.logf("load: %.0f requests/s: pages %.0f%%, htmx %.0f%%, charges %.0f%% (and invitations, %.1f%% more, until the kills)",
		cfg.Rate, 100*cfg.Mix.Page/w, 100*cfg.Mix.HTMX/w, 100*cfg.Mix.Charge/w, 100*cfg.Mix.Invite/w)
	loadCtx, stopLoad := context.WithCancel(ctx)
	defer stopLoad()
	d.stats.startPhase("warm-up")
	loadDone := make(chan struct{})
	loadStart := time.Now()
	r.started = loadStart
	r.rep.LoadAvg[0] = loadAvg()
	d.invites.Store(r.sink != nil)
	go func() { d.run(loadCtx); close(loadDone) }()
	faultErr := r.faults(ctx)
	d.stats.startPhase("cool-down")
	sleep(ctx, cfg.Cooldown)
	r.rep.LoadAvg[1] = loadAvg()
	stopLoad()
	<-loadDone
	r.rep.Duration = time.Since(loadStart)
	d.stats.startPhase("settle")
	r.settle(ctx)
	d.stats.endPhases()
	if faultErr != nil {
		return r.rep, faultErr
	}

	// What the run did, and what the database says.
	r.collect()
	r.logf("verifying the database")
	env := append(append([]string(nil), r.env...), "ORGBASE_LOG_FORMAT=text")
	v, err := verify(ctx, db, orgID, d.runID, d.charges, bin, env)
	if err != nil {
		return r.rep, err
	}
	r.rep.Verdict = v
	r.judge()
	return r.rep, nil
}
