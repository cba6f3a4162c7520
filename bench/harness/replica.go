package harness

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"syscall"
	"time"
)

// Build compiles the orgbase binary into dir and returns its path. It runs
// from the current directory, which must be inside the module.
func Build(ctx context.Context, dir string) (string, error) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		goBin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	out := filepath.Join(dir, "orgbase")
	cmd := exec.CommandContext(ctx, goBin, "build", "-o", out, "github.com/orgbase/orgbase/cmd/orgbase")
	if b, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build: %v\n%s", err, b)
	}
	return out, nil
}

// freePort returns a loopback TCP port nobody listens on right now.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Replica is one `orgbase serve` process on a fixed loopback port (the same
// across restarts, so the proxy's list never changes).
type Replica struct {
	ID   int
	Addr string // 127.0.0.1:port
	URL  string // http://Addr

	bin     string
	env     []string
	logPath string
	hc      *http.Client

	mu         sync.Mutex
	cmd        *exec.Cmd
	exited     chan struct{}
	waitErr    error
	starts     int
	expectExit bool // set by Kill and Term before they signal
	unexpected int  // exits nobody asked for (a crash)
}

func newReplica(id int, bin string, env []string, logDir string) (*Replica, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	addr := "127.0.0.1:" + strconv.Itoa(port)
	return &Replica{ID: id, Addr: addr, URL: "http://" + addr, bin: bin,
		env:     append(append([]string(nil), env...), "ORGBASE_ADDR="+addr),
		logPath: filepath.Join(logDir, fmt.Sprintf("replica-%d.log", id)),
		hc:      &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true}}}, nil
}

// Start starts the process (its output appended to its log file) and waits
// until its /readyz answers 200.
func (r *Replica) Start(ctx context.Context) error {
	log, err := os.OpenFile(r.logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	defer log.Close()
	fmt.Fprintf(log, "=== harness: start %s\n", time.Now().Format(time.RFC3339Nano))
	cmd := exec.Command(r.bin, "serve")
	cmd.Env = r.env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL} // never outlive the harness
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("replica %d: %w", r.ID, err)
	}
	exited := make(chan struct{})
	r.mu.Lock()
	r.cmd, r.exited, r.waitErr, r.expectExit = cmd, exited, nil, false
	r.starts++
	r.mu.Unlock()
	go func() {
		err := cmd.Wait()
		r.mu.Lock()
		r.waitErr = err
		if !r.expectExit {
			r.unexpected++
		}
		r.mu.Unlock()
		close(exited)
	}()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if r.Ready() {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("replica %d not ready within 30s (log %s)", r.ID, r.logPath)
		}
		select {
		case <-exited:
			return fmt.Errorf("replica %d exited at start (log %s):\n%s", r.ID, r.logPath, tail(r.logPath, 15))
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(25 * time.Millisecond):
		}
	}
}

// Ready reports whether GET /readyz answers 200.
func (r *Replica) Ready() bool { return r.readyz() == http.StatusOK }

// readyz is /readyz's status, 0 when it does not answer.
func (r *Replica) readyz() int {
	resp, err := r.hc.Get(r.URL + "/readyz")
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Running reports whether the process is alive.
func (r *Replica) Running() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.cmd == nil {
		return false
	}
	select {
	case <-r.exited:
		return false
	default:
		return true
	}
}

// Kill sends SIGKILL and waits for the process to be gone.
func (r *Replica) Kill() {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.expectExit = true
	r.mu.Unlock()
	if cmd == nil {
		return
	}
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
}

// Term sends SIGTERM and waits up to timeout for the process to exit. It
// returns how long the exit took and the exit code (-1 when killed after
// the timeout).
func (r *Replica) Term(timeout time.Duration) (time.Duration, int) {
	r.mu.Lock()
	cmd, exited := r.cmd, r.exited
	r.expectExit = true
	r.mu.Unlock()
	if cmd == nil {
		return 0, -1
	}
	start := time.Now()
	cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-exited:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-exited
		return time.Since(start), -1
	}
	took := time.Since(start)
	r.mu.Lock()
	err := r.waitErr
	r.mu.Unlock()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return took, 0
	case errors.As(err, &ee):
		return took, ee.ExitCode()
	}
	return took, -1
}

// Unexpected is how many times the process exited without Kill or Term.
func (r *Replica) Unexpected() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.unexpected
}

// Starts is how many times the process was started.
func (r *Replica) Starts() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.starts
}
