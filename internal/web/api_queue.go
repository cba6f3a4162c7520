package web

import (
	"context"
	"sync"
	"time"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// Single-event charges are coalesced per organization: while one batch of an
// organization's charges is being written, the requests that arrive wait,
// and the next batch takes them all (up to MaxBatchEvents) in one
// store.ChargeBatch — one transaction, locks taken once, decided in memory,
// written with set statements. An idle organization's charge goes at once
// (a batch of one); under load, throughput is a batch's, not a transaction
// per charge. Each request still gets its own answer, exactly the one
// Charge would give (TestChargeBatchMatchesCharge), and a failed batch fails
// only its own requests, which clients retry with the same idempotency keys.

// chargeQueue holds the waiting charges of each organization.
type chargeQueue struct {
	mu   sync.Mutex
	orgs map[int64]*orgCharges
}

type orgCharges struct {
	waiting []*chargeCall
	running bool // a drain goroutine is writing this organization's batches
}

type chargeCall struct {
	req  orgbase.ChargeRequest
	out  store.ChargeOutcome
	err  error // the batch failed (a database error)
	done chan struct{}
}

// chargeBatchTimeout bounds one coalesced batch (it runs on its own context:
// the requests waiting for it may come and go).
const chargeBatchTimeout = 30 * time.Second

// chargeOne charges one event through the organization's queue.
func (s *Server) chargeOne(ctx context.Context, orgID int64, req orgbase.ChargeRequest) (*orgbase.ChargeResult, error) {
	call := &chargeCall{req: req, done: make(chan struct{})}
	q := &s.charges
	q.mu.Lock()
	if q.orgs == nil {
		q.orgs = map[int64]*orgCharges{}
	}
	oc := q.orgs[orgID]
	if oc == nil {
		oc = &orgCharges{}
		q.orgs[orgID] = oc
	}
	oc.waiting = append(oc.waiting, call)
	if !oc.running {
		oc.running = true
		go s.drainCharges(orgID, oc)
	}
	q.mu.Unlock()
	select {
	case <-call.done:
		if call.err != nil {
			return nil, call.err
		}
		return call.out.Result, call.out.Err
	case <-ctx.Done():
		// The client is gone; its charge may still be written, and a retry
		// with the same key answers from it.
		return nil, ctx.Err()
	}
}

// drainCharges writes the organization's waiting charges, a batch at a time,
// until none are left.
func (s *Server) drainCharges(orgID int64, oc *orgCharges) {
	q := &s.charges
	for {
		q.mu.Lock()
		n := min(len(oc.waiting), MaxBatchEvents)
		if n == 0 {
			oc.running = false
			if q.orgs[orgID] == oc {
				delete(q.orgs, orgID)
			}
			q.mu.Unlock()
			return
		}
		calls := oc.waiting[:n:n]
		oc.waiting = oc.waiting[n:]
		q.mu.Unlock()

		reqs := make([]orgbase.ChargeRequest, n)
		for i, c := range calls {
			reqs[i] = c.req
		}
		ctx, cancel := context.WithTimeout(context.Background(), chargeBatchTimeout)
		outs, err := s.api.ChargeBatch(ctx, orgID, reqs)
		cancel()
		for i, c := range calls {
			if err != nil {
				c.err = err
			} else {
				c.out = outs[i]
			}
			close(c.done)
		}
	}
}
