package harness

import (
	"fmt"
	"io"
	"runtime"
	"strings"
	"time"
)

// Write prints the report as Markdown (docs/RELIABILITY.md quotes it).
func (rep *Report) Write(w io.Writer) {
	p := func(format string, args ...any) { fmt.Fprintf(w, format+"\n", args...) }
	if rep.Command != "" {
		p("Command: `%s`  ", rep.Command)
	}
	p("Started %s; %d replicas on %s; load %s at %.0f requests/s scheduled.",
		rep.Started.UTC().Format("2006-01-02 15:04 MST"), rep.Replicas, rep.Database, rep.Duration.Round(time.Second), rep.Rate)
	p("")
	p("| Figure | Value |")
	p("|---|---|")
	p("| machine load average (1 min) at the load's start / end (%d CPUs) | %s / %s |", runtime.NumCPU(), rep.LoadAvg[0], rep.LoadAvg[1])
	p("| requests scheduled (open model) | %d |", rep.Scheduled)
	p("| not started (in-flight cap reached) | %d |", rep.NotStarted)
	p("| HTTP requests sent (charge retries included) | %d |", rep.Requests)
	p("| answered as expected | %d |", rep.OK)
	if rep.Duration > 0 {
		p("| throughput (answered as expected) | %.1f requests/s |", float64(rep.OK)/rep.Duration.Seconds())
	}
	p("| kill -9 | %d |", rep.Kills)
	p("| SIGTERM | %d (exit codes %s; exit after %s) |", len(rep.Terms), termCodes(rep.Terms), termTimes(rep.Terms))
	if m := rep.Mail; m != nil {
		var sending []string
		for _, t := range rep.Terms {
			sending = append(sending, fmt.Sprint(t.Sending))
		}
		p("| emails being delivered by jobs at each SIGTERM (all replicas) | %s |", strings.Join(sending, ", "))
		p("| emails written during warm-up and SIGTERM / sent / needing a second attempt / received by the sink | %d / %d / %d / %d |", m.Written, m.Sent, m.Retried, m.Received)
	}
	p("| replica restarts | %d |", rep.ReplicaStarts)
	p("| replica crashes (exits nobody caused) | %d |", rep.UnexpectedExits)
	p("| PostgreSQL restarts | %d |", len(rep.DBRestarts))
	if v := rep.Verdict; v != nil {
		p("| charges sent (idempotency keys) | %d |", v.Sent)
		p("| charge attempts (retries included) | %d |", rep.ChargeAttempts)
		p("| acknowledged: accepted / refused (402) | %d / %d |", v.Accepted, v.Refused)
		p("| acknowledgements that were replays of an unanswered write | %d |", rep.Replayed)
		p("| acknowledged only by the settle pass after the load | %d |", rep.Settled)
		p("| usage events in the database for the run | %d |", v.Events)
		p("| **lost** | **%d** |", v.Lost)
		p("| **duplicated** | **%d** |", v.Duplicated)
		p("| half-written / unexpected / client errors / still pending | %d / %d / %d / %d |", v.HalfDone, v.Unexpected, v.Fatal, v.Pending)
		p("| `orgbase ledger check` | %s |", okText(v.LedgerOK, v.LedgerOut))
		p("| `orgbase rollups check` | %s |", okText(v.RollupsOK, v.RollupsOut))
	}
	p("| proxy: requests moved to another replica when the connection failed (nothing sent) | %s |", formatErrors(rep.ProxyRerouted))
	p("| proxy: errors from replicas (answered 502) | %s |", formatErrors(rep.ProxyErrors))
	p("")
	p("Latency of the requests answered as expected, and errors, per endpoint:")
	p("")
	p("| Endpoint | Requests | OK | p50 | p95 | p99 | Errors |")
	p("|---|---:|---:|---:|---:|---:|---|")
	for _, r := range rep.Kinds {
		p("| **%s (all)** | %d | %d | %s | %s | %s | %s |", r.Name, r.Requests, r.OK, ms(r.P50), ms(r.P95), ms(r.P99), formatErrors(r.Errors))
	}
	for _, r := range rep.Endpoints {
		p("| %s | %d | %d | %s | %s | %s | %s |", r.Name, r.Requests, r.OK, ms(r.P50), ms(r.P95), ms(r.P99), formatErrors(r.Errors))
	}
	p("")
	p("Errors by phase:")
	p("")
	p("| Phase | Duration | Requests | Errors |")
	p("|---|---:|---:|---|")
	for _, ph := range rep.Phases {
		p("| %s | %s | %d | %s |", ph.Name, ph.Duration.Round(100*time.Millisecond), ph.Requests, formatErrors(ph.Errors))
	}
	p("")
	p("Latency by phase (requests answered as expected):")
	p("")
	p("| Phase | Kind | Requests | OK | p50 | p95 | p99 |")
	p("|---|---|---:|---:|---:|---:|---:|")
	for _, ph := range rep.Phases {
		for _, r := range ph.Kinds {
			p("| %s | %s | %d | %d | %s | %s | %s |", ph.Name, r.Name, r.Requests, r.OK, ms(r.P50), ms(r.P95), ms(r.P99))
		}
	}
	if len(rep.DBRestarts) > 0 {
		p("")
		p("PostgreSQL restarts:")
		p("")
		p("| # | Stop | Down | /readyz non-200 during the outage | Ready again after the database returned | First charge acknowledged after |")
		p("|---:|---|---:|---|---|---:|")
		for i, d := range rep.DBRestarts {
			var nr, rec []string
			for j := range d.NotReady {
				nr = append(nr, fmt.Sprintf("r%d %s", j+1, yes(d.NotReady[j])))
				rec = append(rec, fmt.Sprintf("r%d %s", j+1, dur(d.Recovery[j])))
			}
			p("| %d | %s | %s | %s | %s | %s |", i+1, d.Mode, d.Down.Round(time.Millisecond), strings.Join(nr, ", "), strings.Join(rec, ", "), dur(d.FirstCharge))
		}
	}
	p("")
	if len(rep.Failures) == 0 {
		p("Result: **every check passed.**")
	} else {
		p("Result: **%d checks failed:**", len(rep.Failures))
		for _, f := range rep.Failures {
			p("- %s", f)
		}
	}
	p("")
	p("Logs: %s", rep.WorkDir)
}

func okText(ok bool, out string) string {
	first, _, _ := strings.Cut(out, "\n")
	if ok {
		return "exit 0 (" + first + ")"
	}
	return "FAILED: " + first
}

func yes(b bool) string {
	if b {
		return "yes"
	}
	return "NO"
}

func dur(d time.Duration) string {
	if d < 0 {
		return "never"
	}
	return ms(d)
}

func termCodes(ts []TermResult) string {
	var s []string
	for _, t := range ts {
		s = append(s, fmt.Sprint(t.ExitCode))
	}
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func termTimes(ts []TermResult) string {
	if len(ts) == 0 {
		return "-"
	}
	lo, hi := ts[0].Took, ts[0].Took
	for _, t := range ts {
		lo, hi = min(lo, t.Took), max(hi, t.Took)
	}
	return fmt.Sprintf("%s–%s", lo.Round(10*time.Millisecond), hi.Round(10*time.Millisecond))
}
