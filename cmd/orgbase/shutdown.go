package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/orgbase/orgbase/internal/web"
)

// readyTimeout bounds one readiness check, so /readyz answers promptly
// (503) even while the database hangs instead of refusing connections.
const readyTimeout = 2 * time.Second

// shutdownTimeout bounds how long in-flight requests may take to finish
// once the listener is closed.
const shutdownTimeout = 25 * time.Second

var errShuttingDown = errors.New("shutting down")

// readiness answers /readyz: the database's readiness (reachable, migrated),
// until serve starts shutting down; from then on "shutting down".
type readiness struct {
	db       web.Health
	draining atomic.Bool
}

func (r *readiness) Ready(ctx context.Context) error {
	if r.draining.Load() {
		return errShuttingDown
	}
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	return r.db.Ready(ctx)
}

// shutdown stops srv gracefully. First, for drain, /readyz answers 503
// while every request is still served as usual (keep-alive connections
// included), so that a load balancer polling it stops sending new requests
// here; then Shutdown closes the listener and idle connections and waits
// for in-flight requests to finish. A request never meets a closed
// connection it was about to use: by the time connections close, nobody
// routes to this process any more.
func shutdown(srv *http.Server, ready *readiness, drain time.Duration, log *slog.Logger) error {
	ready.draining.Store(true)
	if drain > 0 {
		log.Info("shutting down: /readyz answers 503 while load balancers drain", slog.Duration("drain", drain))
		time.Sleep(drain)
	}
	log.Info("shutting down: finishing in-flight requests")
	ctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	return nil
}
