// Package stripemock runs stripe-mock (github.com/stripe/stripe-mock, which
// serves Stripe's API offline from its OpenAPI spec) for tests. Install it
// with `go install github.com/stripe/stripe-mock@v0.203.0`; without it the
// tests skip, and with CI=true they fail instead.
package stripemock

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// Binary finds the stripe-mock executable: on PATH, else in $GOBIN or
// $(go env GOPATH)/bin. "" when it is not installed.
func Binary() string {
	if p, err := exec.LookPath("stripe-mock"); err == nil {
		return p
	}
	var dirs []string
	if gobin := os.Getenv("GOBIN"); gobin != "" {
		dirs = append(dirs, gobin)
	}
	if out, err := exec.Command("go", "env", "GOBIN", "GOPATH").Output(); err == nil {
		lines := strings.Split(strings.TrimSpace(string(out)), "\n")
		if len(lines) > 0 && strings.TrimSpace(lines[0]) != "" {
			dirs = append(dirs, strings.TrimSpace(lines[0]))
		}
		if len(lines) > 1 {
			for _, p := range filepath.SplitList(strings.TrimSpace(lines[1])) {
				dirs = append(dirs, filepath.Join(p, "bin"))
			}
		}
	}
	if home, err := os.UserHomeDir(); err == nil {
		dirs = append(dirs, filepath.Join(home, "go", "bin"))
	}
	for _, d := range dirs {
		p := filepath.Join(d, "stripe-mock")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() && fi.Mode()&0o111 != 0 {
			return p
		}
	}
	return ""
}

var listening = regexp.MustCompile(`Listening for HTTP at address: (\S+)`)

// Start runs a stripe-mock of the test's own on free local ports and
// returns its HTTP base URL ("http://127.0.0.1:port"); it stops at cleanup.
func Start(t testing.TB) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		const msg = "stripe-mock is not installed (go install github.com/stripe/stripe-mock@v0.203.0)"
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but " + msg)
		}
		t.Skip(msg + ": skipping")
	}
	// Port 0 on both listeners: the system picks free ports, which
	// stripe-mock prints; no race for a port chosen beforehand.
	cmd := exec.Command(bin, "-http-addr", "127.0.0.1:0", "-https-addr", "127.0.0.1:0")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = cmd.Stdout // the same pipe
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting stripe-mock: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	addr := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		sent := false
		for sc.Scan() {
			if !sent {
				if m := listening.FindStringSubmatch(sc.Text()); m != nil {
					addr <- m[1]
					sent = true
				}
			}
		}
		_, _ = io.Copy(io.Discard, out)
		if !sent {
			close(addr)
		}
	}()
	var base string
	select {
	case a, ok := <-addr:
		if !ok {
			t.Fatalf("stripe-mock exited without listening")
		}
		base = "http://" + a
	case <-time.After(30 * time.Second):
		t.Fatalf("stripe-mock did not start listening within 30 s")
	}
	if err := waitReady(base, 30*time.Second); err != nil {
		t.Fatalf("stripe-mock at %s: %v", base, err)
	}
	return base
}

// waitReady polls until stripe-mock answers an API request.
func waitReady(base string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), within)
	defer cancel()
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/v1/customers?limit=1", nil)
		req.SetBasicAuth("sk_test_ready", "")
		res, err := http.DefaultClient.Do(req)
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			if err == nil {
				err = errors.New("no 200 answer")
			}
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}
