package main

import (
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/store"
)

// TestShutdownDrains: after the signal (the context is cancelled), serve
// keeps serving for ORGBASE_SHUTDOWN_DRAIN, on the connections it has and
// on new ones, with /readyz answering 503 so a load balancer stops sending
// requests; then the listener closes and run returns 0. The harness in
// bench/harness proves the same under load behind a proxy.
func TestShutdownDrains(t *testing.T) {
	env := map[string]string{"ORGBASE_ADDR": "127.0.0.1:0", "ORGBASE_DATA_DIR": t.TempDir(),
		"DATABASE_URL": dbtest.URL(t, store.SQLite), "ORGBASE_SHUTDOWN_DRAIN": "1500ms"}
	srv := startServer(t, env)
	hc := &http.Client{Timeout: 5 * time.Second}
	get := func(path string) (int, string, error) {
		resp, err := hc.Get(srv.URL + path)
		if err != nil {
			return 0, "", err
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b), nil
	}
	if code, body, err := get("/readyz"); err != nil || code != http.StatusOK {
		t.Fatalf("/readyz before the signal: %d %q %v", code, body, err)
	}
	signalled := time.Now()
	srv.cancel() // what SIGTERM does through main's signal.NotifyContext
	time.Sleep(100 * time.Millisecond)
	if code, body, err := get("/readyz"); err != nil || code != http.StatusServiceUnavailable || !strings.Contains(body, "shutting down") {
		t.Fatalf("/readyz while draining: %d %q %v, want 503 shutting down", code, body, err)
	}
	for _, path := range []string{"/healthz", "/login"} { // still served, on the kept-alive connection
		if code, _, err := get(path); err != nil || code != http.StatusOK {
			t.Fatalf("GET %s while draining: %d %v, want 200", path, code, err)
		}
	}
	select {
	case <-srv.finished:
		t.Fatalf("run returned %s after the signal, before the drain period of 1.5s", time.Since(signalled))
	case <-time.After(time.Until(signalled.Add(time.Second))):
	}
	select {
	case <-srv.finished:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return within 10s of the drain period")
	}
	if took := time.Since(signalled); took < 1500*time.Millisecond {
		t.Errorf("run returned %s after the signal, want at least the 1.5s drain", took)
	}
	if _, _, err := get("/healthz"); err == nil {
		t.Error("the listener still accepts connections after run returned")
	}
}
