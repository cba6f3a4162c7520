package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"
)

// syncBuffer is a bytes.Buffer safe for one writer and concurrent readers:
// run writes its output from the server's goroutines while the test reads.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// envFunc is a getenv that sees only the given variables, so that the
// developer's own environment (SMTP_HOST, DATABASE_URL...) never leaks into a
// test.
func envFunc(env map[string]string) func(string) string {
	return func(k string) string { return env[k] }
}

// runCmd runs the program to completion and returns its exit code and output.
func runCmd(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, errOut bytes.Buffer
	code = run(ctx, append([]string{"orgbase"}, args...), envFunc(env), &out, &errOut)
	return code, out.String(), errOut.String()
}

// server is a running `orgbase serve`.
type server struct {
	URL    string
	Stdout *syncBuffer
	Stderr *syncBuffer // the server's structured logs

	cancel   context.CancelFunc
	finished chan struct{} // closed when run has returned
	drained  chan struct{} // closed when all of stdout has been read
	code     int           // run's exit code, set before finished is closed
	stopOnce sync.Once
	stopCode int
}

// startServer starts the real program, run(ctx, {"orgbase","serve"}, ...), in
// a goroutine and waits for the line that gives its URL. The server is
// stopped, and must exit 0, when the test ends (or earlier through Stop).
func startServer(t *testing.T, env map[string]string) *server {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{Stdout: &syncBuffer{}, Stderr: &syncBuffer{}, cancel: cancel,
		finished: make(chan struct{}), drained: make(chan struct{})}
	pr, pw := io.Pipe()
	go func() {
		s.code = run(ctx, []string{"orgbase", "serve"}, envFunc(env), pw, s.Stderr)
		pw.Close()
		close(s.finished)
	}()
	urlc := make(chan string, 1)
	go func() {
		defer close(s.drained)
		sc := bufio.NewScanner(pr)
		found := false
		for sc.Scan() {
			line := sc.Text()
			s.Stdout.Write([]byte(line + "\n"))
			if rest, ok := strings.CutPrefix(line, "Orgbase is running at "); ok && !found {
				found = true
				urlc <- strings.TrimSpace(rest)
			}
		}
		io.Copy(io.Discard, pr) // keep draining, so run never blocks on stdout
	}()
	t.Cleanup(func() {
		if code := s.Stop(t); code != 0 {
			t.Errorf("run returned %d after the context was cancelled, want 0; stderr:\n%s", code, s.Stderr)
		}
		if t.Failed() {
			t.Logf("server stdout:\n%s", s.Stdout)
			t.Logf("server stderr (logs):\n%s", s.Stderr)
		}
	})
	select {
	case s.URL = <-urlc:
		return s
	case <-s.finished:
		t.Fatalf("run returned %d before it printed its URL; stderr:\n%s", s.code, s.Stderr)
	case <-time.After(60 * time.Second):
		t.Fatalf("no %q line on stdout within 60s; stdout:\n%s\nstderr:\n%s", "Orgbase is running at", s.Stdout, s.Stderr)
	}
	return nil
}

// Stop cancels the server's context and returns run's exit code; -1 when
// run did not return within 30 seconds. It may be called more than once.
func (s *server) Stop(t *testing.T) int {
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case <-s.finished:
			<-s.drained // stdout is closed once run returns
			s.stopCode = s.code
		case <-time.After(30 * time.Second):
			t.Errorf("run did not return within 30s of the context being cancelled")
			s.stopCode = -1
		}
	})
	return s.stopCode
}
