package harness

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"
)

// faults runs the fault phases in turn, each ending once every replica is
// back and ready, so errors are counted in the phase that caused them.
func (r *run) faults(ctx context.Context) error {
	cfg, st := r.cfg, r.driver.stats
	if err := sleep(ctx, cfg.Warmup); err != nil {
		return err
	}
	if cfg.Terms > 0 {
		st.startPhase("SIGTERM")
		rerouted0, errs0 := r.proxy.Counts()
		if err := r.terms(ctx); err != nil {
			return err
		}
		rerouted1, errs1 := r.proxy.Counts()
		for k, v := range errs1 {
			if v > errs0[k] {
				r.fail("SIGTERM phase: the proxy met %d %q errors from replicas", v-errs0[k], k)
			}
		}
		for k, v := range rerouted1 {
			if v > rerouted0[k] {
				r.logf("SIGTERM phase: the proxy rerouted %d requests: %s", v-rerouted0[k], k)
			}
		}
	}
	if r.sink != nil {
		r.driver.invites.Store(false)
		if err := r.mailCheck(ctx); err != nil {
			return err
		}
	}
	if cfg.Kills > 0 {
		st.startPhase("kill -9")
		if err := r.kills(ctx); err != nil {
			return err
		}
	}
	if cfg.DBRestarts > 0 {
		st.startPhase("database restart")
		for i := range cfg.DBRestarts {
			mode := "fast"
			if i%2 == 1 {
				mode = "immediate"
			}
			if err := r.dbRestart(ctx, mode); err != nil {
				return err
			}
		}
	}
	return nil
}

// mailCheck waits until every email written since the load began is sent
// (at most 30 s), then records whether any needed a second attempt.
func (r *run) mailCheck(ctx context.Context) error {
	m := &MailResult{}
	r.rep.Mail = m
	q := `SELECT COUNT(*), COUNT(sent_at), COUNT(*) FILTER (WHERE attempts > 1 OR last_error <> '') FROM emails WHERE created_at >= $1`
	deadline := time.Now().Add(30 * time.Second)
	for {
		if err := r.db.QueryRowContext(ctx, q, r.started.Add(-time.Second)).Scan(&m.Written, &m.Sent, &m.Retried); err != nil {
			return err
		}
		if m.Sent == m.Written || time.Now().After(deadline) {
			break
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return err
		}
	}
	m.Received, _ = r.sink.counts()
	r.logf("emails: %d written, %d sent, %d retried; the SMTP sink received %d", m.Written, m.Sent, m.Retried, m.Received)
	return nil
}

// settled waits until every replica is running and ready.
func (r *run) settled(ctx context.Context) error {
	deadline := time.Now().Add(30 * time.Second)
	for {
		all := true
		for _, rep := range r.replicas {
			all = all && rep.Running() && rep.Ready()
		}
		if all {
			return sleep(ctx, time.Second) // and the proxy's next poll has seen it
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("the replicas were not all running and ready 30s after the phase")
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return err
		}
	}
}

// terms sends SIGTERM to one replica at a time during the load: each must
// exit 0 after its drain, and no request may fail meanwhile.
func (r *run) terms(ctx context.Context) error {
	cfg := r.cfg
	for i := range cfg.Terms {
		if err := sleep(ctx, cfg.TermGap); err != nil {
			return err
		}
		rep := r.replicas[r.intn(len(r.replicas))]
		sending := 0
		if r.sink != nil {
			_, sending = r.sink.counts()
		}
		took, code := rep.Term(cfg.Drain + 40*time.Second)
		r.rep.Terms = append(r.rep.Terms, TermResult{Replica: rep.ID, Took: took, ExitCode: code, Sending: sending})
		r.logf("SIGTERM %d/%d: replica %d exited %d after %s (the SMTP sink was receiving %d emails at the signal)",
			i+1, cfg.Terms, rep.ID, code, took.Round(time.Millisecond), sending)
		if err := sleep(ctx, r.between(cfg.RestartDelay[0], cfg.RestartDelay[1])); err != nil {
			return err
		}
		if err := rep.Start(ctx); err != nil {
			return err
		}
	}
	return r.settled(ctx)
}

// kills sends SIGKILL to a random running replica at random moments and
// restarts each after a short delay.
func (r *run) kills(ctx context.Context) error {
	cfg := r.cfg
	var wg sync.WaitGroup
	var mu sync.Mutex
	restarting := map[*Replica]bool{}
	var startErr error
	for r.rep.Kills < cfg.Kills {
		if err := sleep(ctx, r.between(cfg.KillGap[0], cfg.KillGap[1])); err != nil {
			return err
		}
		var up []*Replica
		mu.Lock()
		for _, rep := range r.replicas {
			if !restarting[rep] && rep.Running() {
				up = append(up, rep)
			}
		}
		mu.Unlock()
		if len(up) == 0 {
			continue
		}
		rep := up[r.intn(len(up))]
		rep.Kill()
		r.rep.Kills++
		if r.rep.Kills%10 == 0 || r.rep.Kills == cfg.Kills {
			r.logf("kill -9: %d/%d", r.rep.Kills, cfg.Kills)
		}
		mu.Lock()
		restarting[rep] = true
		mu.Unlock()
		delay := r.between(cfg.RestartDelay[0], cfg.RestartDelay[1])
		wg.Go(func() {
			err := sleep(ctx, delay)
			if err == nil {
				err = rep.Start(ctx)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil && startErr == nil {
				startErr = err
			}
			restarting[rep] = false
		})
	}
	wg.Wait()
	if startErr != nil {
		return startErr
	}
	return r.settled(ctx)
}

// dbRestart stops PostgreSQL during the load, keeps it down for DBDown
// while checking that every replica's /readyz reports the outage, starts
// it, and measures how long each replica takes to be ready again.
func (r *run) dbRestart(ctx context.Context, mode string) error {
	cfg := r.cfg
	if err := sleep(ctx, 2*time.Second); err != nil {
		return err
	}
	n := len(r.replicas)
	res := DBRestart{Mode: mode, NotReady: make([]bool, n), Recovery: make([]time.Duration, n), FirstCharge: -1}
	stopped := time.Now()
	r.logf("database restart (%s): stopping PostgreSQL", mode)
	if err := r.cluster.Stop(mode); err != nil {
		return err
	}
	pollAll := func(fn func(i int, code int)) {
		var wg sync.WaitGroup
		for i, rep := range r.replicas {
			wg.Go(func() { fn(i, rep.readyz()) })
		}
		wg.Wait()
	}
	for until := time.Now().Add(cfg.DBDown); time.Now().Before(until); {
		pollAll(func(i, code int) {
			if code != http.StatusOK {
				res.NotReady[i] = true
			}
		})
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
	if err := r.cluster.Start(ctx); err != nil {
		return err
	}
	back := time.Now() // PostgreSQL accepts connections again
	res.Down = back.Sub(stopped)
	for i := range res.Recovery {
		res.Recovery[i] = -1
	}
	var mu sync.Mutex
	for time.Since(back) < 15*time.Second {
		pending := 0
		pollAll(func(i, code int) {
			mu.Lock()
			defer mu.Unlock()
			if res.Recovery[i] < 0 && code == http.StatusOK {
				res.Recovery[i] = time.Since(back)
			}
		})
		for _, d := range res.Recovery {
			if d < 0 {
				pending++
			}
		}
		if res.FirstCharge < 0 {
			if at := r.lastAck.Load(); at > back.UnixNano() {
				res.FirstCharge = time.Unix(0, at).Sub(back)
			}
		}
		if pending == 0 && res.FirstCharge >= 0 {
			break
		}
		if err := sleep(ctx, 25*time.Millisecond); err != nil {
			return err
		}
	}
	r.logf("database restart (%s): down %s; replicas ready again after %v; first charge acknowledged after %v",
		mode, res.Down.Round(time.Millisecond), roundAll(res.Recovery), res.FirstCharge.Round(time.Millisecond))
	r.rep.DBRestarts = append(r.rep.DBRestarts, res)
	return r.settled(ctx)
}

func roundAll(ds []time.Duration) []time.Duration {
	out := make([]time.Duration, len(ds))
	for i, d := range ds {
		out[i] = d.Round(time.Millisecond)
	}
	return out
}

// settle resends, after the load, every charge that was never
// acknowledged (its client gave up when the run ended), with its key,
// until it is: the database must then hold each exactly once.
func (r *run) settle(ctx context.Context) {
	pending := r.driver.charges.pending()
	if len(pending) == 0 {
		return
	}
	r.logf("settling %d unacknowledged charges", len(pending))
	for _, st := range pending {
		for i := 0; i < 50 && !r.driver.chargeAttempt(st); i++ {
			if sleep(ctx, 200*time.Millisecond) != nil {
				return
			}
		}
		if st.acked {
			r.rep.Settled++
		}
	}
}

// collect copies the driver's and proxy's figures into the report.
func (r *run) collect() {
	d, rep := r.driver, r.rep
	rep.Endpoints, rep.Kinds = d.stats.rows()
	rep.Phases = d.stats.phaseRows()
	rep.Scheduled, rep.NotStarted = d.scheduled.Load(), d.notStarted.Load()
	for _, k := range rep.Kinds {
		rep.Requests += k.Requests
		rep.OK += k.OK
	}
	rep.ProxyRerouted, rep.ProxyErrors = r.proxy.Counts()
	for _, rp := range r.replicas {
		rep.ReplicaStarts += rp.Starts() - 1
		rep.UnexpectedExits += rp.Unexpected()
	}
	d.charges.mu.Lock()
	for _, st := range d.charges.byKey {
		rep.ChargeAttempts += st.attempts
		if st.replayed {
			rep.Replayed++
		}
	}
	d.charges.mu.Unlock()
}

// judge lists every broken promise.
func (r *run) judge() {
	rep, cfg := r.rep, r.cfg
	for _, p := range rep.Phases {
		switch p.Name {
		case "warm-up", "SIGTERM", "cool-down", "settle":
			if len(p.Errors) > 0 {
				r.fail("%s phase: %d failed requests, want none: %s", p.Name, sum(p.Errors), formatErrors(p.Errors))
			}
		}
	}
	for _, t := range rep.Terms {
		if t.ExitCode != 0 {
			r.fail("SIGTERM: replica %d exited %d, want 0", t.Replica, t.ExitCode)
		}
		if t.Took > cfg.Drain+10*time.Second {
			r.fail("SIGTERM: replica %d took %s to exit", t.Replica, t.Took)
		}
	}
	if m := rep.Mail; m != nil {
		if m.Sent < m.Written {
			r.fail("%d of %d emails not sent 30s after the SIGTERM phase", m.Written-m.Sent, m.Written)
		}
		if m.Retried > 0 {
			r.fail("%d emails needed another attempt: a job was interrupted", m.Retried)
		}
		if m.Written == 0 {
			r.fail("no email was written: the invitation form never succeeded")
		}
	}
	if rep.Kills < cfg.Kills {
		r.fail("%d kills made, want %d", rep.Kills, cfg.Kills)
	}
	if rep.UnexpectedExits > 0 {
		r.fail("replicas exited %d times on their own (crashed)", rep.UnexpectedExits)
	}
	for i, db := range rep.DBRestarts {
		for j := range db.NotReady {
			if !db.NotReady[j] {
				r.fail("database restart %d: replica %d's /readyz never reported the outage", i+1, j+1)
			}
			if db.Recovery[j] < 0 || db.Recovery[j] > 5*time.Second {
				r.fail("database restart %d: replica %d ready again after %v, want within 5s", i+1, j+1, db.Recovery[j])
			}
		}
		if db.FirstCharge < 0 {
			r.fail("database restart %d: no charge acknowledged after the database returned", i+1)
		}
	}
	v := rep.Verdict
	if v.Lost > 0 {
		r.fail("%d acknowledged charges lost", v.Lost)
	}
	if v.Duplicated > 0 {
		r.fail("%d charges duplicated", v.Duplicated)
	}
	if v.HalfDone > 0 {
		r.fail("%d charges half-written (event without its ledger transfer, or amounts that differ)", v.HalfDone)
	}
	if v.Unexpected > 0 {
		r.fail("%d events never acknowledged as accepted (unknown key, or written after a refusal)", v.Unexpected)
	}
	if v.Fatal > 0 {
		r.fail("%d charges answered with a client error", v.Fatal)
	}
	if v.Pending > 0 {
		r.fail("%d charges still unacknowledged after the settle pass", v.Pending)
	}
	if !v.LedgerOK {
		r.fail("orgbase ledger check: %s", v.LedgerOut)
	}
	if !v.RollupsOK {
		r.fail("orgbase rollups check: %s", v.RollupsOut)
	}
}

func sum(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}
