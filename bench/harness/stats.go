package harness

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"
)

// Endpoint kinds.
const (
	KindPage   = "page"   // a browser's full page load with its session cookie
	KindHTMX   = "htmx"   // a partial htmx asks for (HX-Request: true)
	KindCharge = "charge" // POST /api/v1/usage, one event
	KindForm   = "form"   // a form a signed-in person sends (the invitation, whose email is a job)
)

// Stats counts every request the driver made: latency of the answered ones
// per endpoint, and errors by kind per endpoint and per phase.
type Stats struct {
	mu        sync.Mutex
	endpoints map[string]*endpointStats
	phases    []string
	byPhase   map[string]*phaseStats
}

type endpointStats struct {
	kind    string
	lat     []time.Duration // of successful requests
	ok      int
	errs    map[string]int
	started int
}

type phaseStats struct {
	start, end time.Time
	requests   int
	errs       map[string]int // "endpoint: kind"
	kinds      map[string]*endpointStats
}

func newStats() *Stats {
	return &Stats{endpoints: map[string]*endpointStats{}, byPhase: map[string]*phaseStats{}}
}

// startPhase opens a phase; requests are counted in the latest one.
func (s *Stats) startPhase(name string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := time.Now()
	if n := len(s.phases); n > 0 {
		s.byPhase[s.phases[n-1]].end = now
	}
	s.phases = append(s.phases, name)
	s.byPhase[name] = &phaseStats{start: now, errs: map[string]int{}, kinds: map[string]*endpointStats{}}
}

func (s *Stats) endPhases() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := len(s.phases); n > 0 && s.byPhase[s.phases[n-1]].end.IsZero() {
		s.byPhase[s.phases[n-1]].end = time.Now()
	}
}

// record counts one request; errKind is "" for a success.
func (s *Stats) record(kind, endpoint string, d time.Duration, errKind string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.endpoints[endpoint]
	if e == nil {
		e = &endpointStats{kind: kind, errs: map[string]int{}}
		s.endpoints[endpoint] = e
	}
	e.started++
	ph := s.byPhase[s.phases[len(s.phases)-1]]
	ph.requests++
	pk := ph.kinds[kind]
	if pk == nil {
		pk = &endpointStats{kind: kind, errs: map[string]int{}}
		ph.kinds[kind] = pk
	}
	pk.started++
	if errKind == "" {
		e.ok++
		e.lat = append(e.lat, d)
		pk.ok++
		pk.lat = append(pk.lat, d)
		return
	}
	e.errs[errKind]++
	pk.errs[errKind]++
	ph.errs[endpoint+": "+errKind]++
}

// LatencyRow is one endpoint's (or kind's) figures.
type LatencyRow struct {
	Name          string
	Kind          string
	Requests, OK  int
	P50, P95, P99 time.Duration
	Errors        map[string]int
}

// PhaseRow is one phase's figures.
type PhaseRow struct {
	Name     string
	Duration time.Duration
	Requests int
	Errors   map[string]int
	Kinds    []LatencyRow // latency per kind in this phase
}

func percentiles(lat []time.Duration) (p50, p95, p99 time.Duration) {
	if len(lat) == 0 {
		return
	}
	s := slices.Clone(lat)
	slices.Sort(s)
	at := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	return at(0.50), at(0.95), at(0.99)
}

// rows returns the per-endpoint rows (sorted by kind, then name) and the
// per-kind rows.
func (s *Stats) rows() (endpoints, kinds []LatencyRow) {
	s.mu.Lock()
	defer s.mu.Unlock()
	byKind := map[string]*endpointStats{}
	names := make([]string, 0, len(s.endpoints))
	for n := range s.endpoints {
		names = append(names, n)
	}
	sort.Slice(names, func(i, j int) bool {
		a, b := s.endpoints[names[i]], s.endpoints[names[j]]
		if a.kind != b.kind {
			return kindOrder(a.kind) < kindOrder(b.kind)
		}
		return names[i] < names[j]
	})
	for _, n := range names {
		e := s.endpoints[n]
		r := LatencyRow{Name: n, Kind: e.kind, Requests: e.started, OK: e.ok, Errors: e.errs}
		r.P50, r.P95, r.P99 = percentiles(e.lat)
		endpoints = append(endpoints, r)
		k := byKind[e.kind]
		if k == nil {
			k = &endpointStats{kind: e.kind, errs: map[string]int{}}
			byKind[e.kind] = k
		}
		k.started += e.started
		k.ok += e.ok
		k.lat = append(k.lat, e.lat...)
		for ek, v := range e.errs {
			k.errs[ek] += v
		}
	}
	for _, kind := range []string{KindPage, KindHTMX, KindCharge, KindForm} {
		if k := byKind[kind]; k != nil {
			r := LatencyRow{Name: kind, Kind: kind, Requests: k.started, OK: k.ok, Errors: k.errs}
			r.P50, r.P95, r.P99 = percentiles(k.lat)
			kinds = append(kinds, r)
		}
	}
	return endpoints, kinds
}

func kindOrder(k string) int { return strings.Index("page htmx charge form", k) }

func (s *Stats) phaseRows() []PhaseRow {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []PhaseRow
	for _, n := range s.phases {
		p := s.byPhase[n]
		end := p.end
		if end.IsZero() {
			end = time.Now()
		}
		row := PhaseRow{Name: n, Duration: end.Sub(p.start), Requests: p.requests, Errors: p.errs}
		for _, kind := range []string{KindPage, KindHTMX, KindCharge, KindForm} {
			if k := p.kinds[kind]; k != nil {
				r := LatencyRow{Name: kind, Kind: kind, Requests: k.started, OK: k.ok, Errors: k.errs}
				r.P50, r.P95, r.P99 = percentiles(k.lat)
				row.Kinds = append(row.Kinds, r)
			}
		}
		out = append(out, row)
	}
	return out
}

// formatErrors writes a map of error counts as "kind ×n, ..." sorted by count.
func formatErrors(m map[string]int) string {
	if len(m) == 0 {
		return "none"
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s ×%d", k, m[k])
	}
	return strings.Join(parts, ", ")
}

func ms(d time.Duration) string { return fmt.Sprintf("%.1f ms", float64(d)/float64(time.Millisecond)) }
