package harness

import (
	"context"
	"database/sql"
	"fmt"
	"os/exec"
	"strings"
)

// Verdict is what the database says about the charges the driver sent.
type Verdict struct {
	Sent          int // charges (idempotency keys) sent
	Accepted      int // acknowledged as accepted
	Refused       int // acknowledged as refused (402): nothing to write
	Fatal         int // answered with an error retrying cannot fix (a bug)
	Pending       int // never acknowledged, even after the settle pass
	PendingStored int // of those, found written (whole) in the database

	Events     int // usage events in the database under the run's keys
	Lost       int // accepted charges with no event, or another event than the acknowledged one
	Duplicated int // events beyond the first for one key, and usage transfers without an event
	HalfDone   int // events without their usage transfer, or whose amounts differ from the request
	Unexpected int // events under the run's keys that the driver never sent, or written after a refusal

	LedgerOK, RollupsOK bool
	LedgerOut           string
	RollupsOut          string
}

// OK reports whether every check passed.
func (v *Verdict) OK() bool {
	return v.Lost == 0 && v.Duplicated == 0 && v.HalfDone == 0 && v.Unexpected == 0 && v.Fatal == 0 &&
		v.Pending == 0 && v.LedgerOK && v.RollupsOK
}

// verify compares the driver's record of charges with the database, then
// runs `orgbase ledger check` and `orgbase rollups check`.
func verify(ctx context.Context, db *sql.DB, orgID int64, runID string, ch *Charges, bin string, env []string) (*Verdict, error) {
	v := &Verdict{}
	ch.mu.Lock()
	defer ch.mu.Unlock()
	v.Sent = len(ch.keys)
	for _, k := range ch.keys {
		st := ch.byKey[k]
		switch {
		case st.fatal != "":
			v.Fatal++
		case st.acked && st.refusal != "":
			v.Refused++
		case st.acked:
			v.Accepted++
		default:
			v.Pending++
		}
	}
	rows, err := db.QueryContext(ctx, `
		SELECT e.idempotency_key, e.id, e.credits,
		       COALESCE(t.kind = 'usage' AND t.amount = e.credits AND t.org_id = e.org_id, false)
		FROM usage_events e LEFT JOIN transfers t ON t.id = e.transfer_id
		WHERE e.org_id = $1 AND e.idempotency_key LIKE $2`, orgID, "h-"+runID+"-%")
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	seen := map[string]int{}
	for rows.Next() {
		var (
			key     string
			id, amt int64
			whole   bool
		)
		if err := rows.Scan(&key, &id, &amt, &whole); err != nil {
			return nil, err
		}
		v.Events++
		seen[key]++
		if seen[key] > 1 {
			v.Duplicated++
			continue
		}
		st := ch.byKey[key]
		switch {
		case st == nil || st.refusal != "":
			v.Unexpected++
			continue
		case st.acked && st.eventID != id:
			v.Lost++ // the acknowledged event is not the one stored
		case !st.acked && st.fatal == "":
			v.PendingStored++
		}
		if !whole || amt != st.milli {
			v.HalfDone++
		}
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	for _, k := range ch.keys {
		if st := ch.byKey[k]; st.acked && st.refusal == "" && seen[k] == 0 {
			v.Lost++
		}
	}
	var orphans int
	if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM transfers t WHERE t.org_id = $1 AND t.kind = 'usage'
		AND NOT EXISTS (SELECT 1 FROM usage_events e WHERE e.transfer_id = t.id)`, orgID).Scan(&orphans); err != nil {
		return nil, err
	}
	v.Duplicated += orphans
	v.LedgerOK, v.LedgerOut = runCheck(ctx, bin, env, "ledger", "check")
	v.RollupsOK, v.RollupsOut = runCheck(ctx, bin, env, "rollups", "check")
	return v, nil
}

// runCheck runs an orgbase check command; ok is exit status 0.
func runCheck(ctx context.Context, bin string, env []string, args ...string) (bool, string) {
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	s := strings.TrimSpace(string(out))
	if err != nil {
		return false, fmt.Sprintf("%v: %s", err, s)
	}
	return true, s
}
