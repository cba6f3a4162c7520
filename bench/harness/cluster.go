package harness

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver
)

// ErrNoCluster wraps every reason a private PostgreSQL cluster could not be
// made (no initdb, no postgres OS user to run it as when we are root, ...).
var ErrNoCluster = errors.New("cannot start a private PostgreSQL cluster")

// Cluster is a private PostgreSQL server: initdb in a temporary directory,
// run as a child process on a free loopback port, so the harness can stop
// and start it without touching the machine's shared PostgreSQL (other
// test packages use that one in parallel). As root it runs as the postgres
// OS user (PostgreSQL refuses to run as root).
type Cluster struct {
	Port    int
	bin     string // PostgreSQL's bin directory
	dir     string // socket directory; data/ below it
	cred    *syscall.Credential
	logPath string
	cmd     *exec.Cmd
	exited  chan struct{}
}

// PGBinDir finds PostgreSQL's server binaries: $ORGBASE_PG_BIN, else the
// newest /usr/lib/postgresql/*/bin, else the directory of initdb on PATH.
func PGBinDir() (string, error) {
	if d := os.Getenv("ORGBASE_PG_BIN"); d != "" {
		return d, nil
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin/initdb")
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	if len(dirs) > 0 {
		return filepath.Dir(dirs[0]), nil
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			return filepath.Dir(real), nil
		}
		return filepath.Dir(p), nil
	}
	return "", fmt.Errorf("%w: no initdb in /usr/lib/postgresql/*/bin or on PATH (install postgresql, or set ORGBASE_PG_BIN)", ErrNoCluster)
}

// version is the major version in /usr/lib/postgresql/<v>/bin/initdb.
func version(path string) int {
	v, _ := strconv.Atoi(filepath.Base(filepath.Dir(filepath.Dir(path))))
	return v
}

// StartCluster runs initdb in a new temporary directory and starts the
// server. Close stops it and removes the directory.
func StartCluster(ctx context.Context) (*Cluster, error) {
	bin, err := PGBinDir()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "orgbase-harness-pg-")
	if err != nil {
		return nil, err
	}
	c := &Cluster{bin: bin, dir: dir, logPath: filepath.Join(dir, "postgres.log")}
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: running as root, and PostgreSQL will not run as root; there is no postgres OS user to run it as: %v", ErrNoCluster, err)
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		c.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		if err := os.Chown(dir, uid, gid); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("%w: chown %s: %v", ErrNoCluster, dir, err)
		}
	}
	initdb := exec.CommandContext(ctx, filepath.Join(bin, "initdb"), "-D", c.dataDir(), "-A", "trust", "-U", "postgres", "-E", "UTF8", "--no-sync")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("%w: initdb: %v\n%s", ErrNoCluster, err, out)
	}
	if c.Port, err = freePort(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := c.Start(ctx); err != nil {
		c.Close()
		return nil, fmt.Errorf("%w: %v", ErrNoCluster, err)
	}
	return c, nil
}

func (c *Cluster) dataDir() string { return filepath.Join(c.dir, "data") }

// URL is the superuser's URL of database name.
func (c *Cluster) URL(name string) string {
	return fmt.Sprintf("postgres://postgres@127.0.0.1:%d/%s?sslmode=disable", c.Port, name)
}

// LogPath is the server's log file.
func (c *Cluster) LogPath() string { return c.logPath }

// Start starts the server and waits until it accepts connections.
func (c *Cluster) Start(ctx context.Context) error {
	log, err := os.OpenFile(c.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close() // the child has its own copy
	// fsync=off: the harness restarts the server process, never the
	// machine, and written WAL survives a process crash in the page cache;
	// synchronous_commit stays on, so an acknowledged commit is written.
	cmd := exec.Command(filepath.Join(c.bin, "postgres"), "-D", c.dataDir(), "-p", strconv.Itoa(c.Port), "-k", c.dir,
		"-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200")
	cmd.Dir = c.dir
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: c.cred, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	c.cmd, c.exited = cmd, exited
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := c.ping(ctx); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not accept connections within 30s: %v (log: %s)", err, c.logPath)
		}
		select {
		case <-exited:
			return fmt.Errorf("postgres exited at start (log: %s):\n%s", c.logPath, tail(c.logPath, 20))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ping runs one query on a new connection.
func (c *Cluster) ping(ctx context.Context) error {
	db, err := sql.Open("pgx", c.URL("postgres")+"&connect_timeout=2")
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	var one int
	return db.QueryRowContext(ctx, "SELECT 1").Scan(&one)
}

// Stop stops the server: "fast" (SIGINT: clients are disconnected,
// transactions rolled back, a clean shutdown) or "immediate" (SIGQUIT: the
// processes quit at once and the next start recovers from the WAL, as after
// a crash).
func (c *Cluster) Stop(mode string) error {
	if c.cmd == nil {
		return nil
	}
	sig := syscall.SIGINT
	if mode == "immediate" {
		sig = syscall.SIGQUIT
	}
	c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		c.cmd.Process.Kill()
		<-c.exited
	}
	c.cmd = nil
	return nil
}

// Close stops the server and removes its directory.
func (c *Cluster) Close() {
	c.Stop("fast")
	os.RemoveAll(c.dir)
}

// CreateDatabase creates a database with a fresh name on the server of
// serverURL (any database URL on it) and returns its URL and a function
// that drops it.
func CreateDatabase(ctx context.Context, serverURL string) (string, func(), error) {
	admin, err := sql.Open("pgx", serverURL)
	if err != nil {
		return "", nil, err
	}
	var b [5]byte
	rand.Read(b[:])
	name := "orgbase_harness_" + hex.EncodeToString(b[:])
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		admin.Close()
		return "", nil, fmt.Errorf("create database %s: %w", name, err)
	}
	u, err := url.Parse(serverURL)
	if err != nil {
		admin.Close()
		return "", nil, err
	}
	u.Path = "/" + name
	q := u.Query()
	q.Del("search_path")
	u.RawQuery = q.Encode()
	drop := func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		admin.Close()
	}
	return u.String(), drop, nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
