package harness

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mix is the share of each kind of request (weights; they need not sum to
// 1). Invite applies only while invitations are on (Driver.invites).
type Mix struct{ Page, HTMX, Charge, Invite float64 }

// endpoint is one kind of request the driver makes.
type endpoint struct {
	kind, name, path string
	htmx             bool
	headers          map[string]string
}

// The browser's pages and htmx partials, on the demo organization.
var (
	pageEndpoints = []endpoint{
		{kind: KindPage, name: "page: Overview", path: "/orgs/demo"},
		{kind: KindPage, name: "page: Workspaces", path: "/orgs/demo/workspaces"},
		{kind: KindPage, name: "page: Members", path: "/orgs/demo/members"},
		{kind: KindPage, name: "page: History", path: "/orgs/demo/history"},
	}
	htmxEndpoints = []endpoint{
		{kind: KindHTMX, name: "htmx: history panel", path: "/orgs/demo/history", htmx: true},
		{kind: KindHTMX, name: "htmx: notification menu", path: "/orgs/demo/notifications/menu", htmx: true},
		{kind: KindHTMX, name: "htmx: overview usage panel", path: "/orgs/demo?range=7d", htmx: true,
			headers: map[string]string{"HX-Target": "usage-panel"}},
	}
)

const chargeEndpoint = "charge: POST /api/v1/usage"

// Driver is the load generator: an open model. Requests start on a fixed
// schedule (Rate per second) whatever the latency, each in its own
// goroutine, up to MaxInFlight at once; a request that cannot start because
// of the cap is counted, not delayed.
type Driver struct {
	base        string
	rate        float64
	maxInFlight int
	timeout     time.Duration
	mix         Mix
	rng         *rand.Rand
	rngMu       sync.Mutex

	hc       *http.Client // API client (no cookies)
	browsers []*http.Client

	apiKey, user string
	workspaces   []int64
	runID        string
	seq          atomic.Int64

	stats   *Stats
	charges *Charges
	acked   *atomic.Int64 // when a charge was last acknowledged (unix nanos)

	invites    atomic.Bool // the invite form is in the mix
	inflight   atomic.Int64
	notStarted atomic.Int64
	scheduled  atomic.Int64
	wg         sync.WaitGroup
}

func newTransport(maxIdle int) *http.Transport {
	return &http.Transport{MaxIdleConns: maxIdle, MaxIdleConnsPerHost: maxIdle, IdleConnTimeout: 30 * time.Second}
}

// signIn logs in through the login form, as a browser would, and returns a
// client holding the session cookie.
func signIn(ctx context.Context, base, email, password string, timeout time.Duration) (*http.Client, error) {
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Timeout: timeout, Transport: newTransport(32),
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, base+"/login", nil)
	resp, err := c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("GET /login: %w", err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		return nil, fmt.Errorf("GET /login: %d, no CSRF token in the form", resp.StatusCode)
	}
	form := url.Values{"email": {email}, "password": {password}, "_csrf": {string(m[1])}}
	req, _ = http.NewRequestWithContext(ctx, http.MethodPost, base+"/login", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err = c.Do(req)
	if err != nil {
		return nil, fmt.Errorf("POST /login: %w", err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther && resp.StatusCode != http.StatusFound {
		return nil, fmt.Errorf("POST /login: %d, want a redirect after signing in", resp.StatusCode)
	}
	return c, nil
}

// run starts requests on schedule until ctx is done, then waits for those
// in flight (charges stop retrying once ctx is done).
func (d *Driver) run(ctx context.Context) {
	interval := time.Duration(float64(time.Second) / d.rate)
	start := time.Now()
	timer := time.NewTimer(0)
	defer timer.Stop()
	for i := 0; ; i++ {
		timer.Reset(time.Until(start.Add(time.Duration(i) * interval)))
		select {
		case <-ctx.Done():
			d.wg.Wait()
			return
		case <-timer.C:
		}
		d.scheduled.Add(1)
		if d.inflight.Load() >= int64(d.maxInFlight) {
			d.notStarted.Add(1)
			continue
		}
		d.inflight.Add(1)
		d.wg.Add(1)
		invite := 0.0
		if d.invites.Load() {
			invite = d.mix.Invite
		}
		pick := d.float() * (d.mix.Page + d.mix.HTMX + d.mix.Charge + invite)
		go func() {
			defer d.wg.Done()
			defer d.inflight.Add(-1)
			switch {
			case pick < d.mix.Page:
				d.browse(pageEndpoints[d.intn(len(pageEndpoints))])
			case pick < d.mix.Page+d.mix.HTMX:
				d.browse(htmxEndpoints[d.intn(len(htmxEndpoints))])
			case pick < d.mix.Page+d.mix.HTMX+d.mix.Charge:
				d.charge(ctx)
			default:
				d.invite()
			}
		}()
	}
}

func (d *Driver) float() float64 {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.Float64()
}

func (d *Driver) intn(n int) int {
	d.rngMu.Lock()
	defer d.rngMu.Unlock()
	return d.rng.IntN(n)
}

// browse loads a page or an htmx partial as one of the signed-in browsers.
func (d *Driver) browse(ep endpoint) {
	c := d.browsers[d.intn(len(d.browsers))]
	req, _ := http.NewRequest(http.MethodGet, d.base+ep.path, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "Mozilla/5.0 (orgbase harness)")
	if ep.htmx {
		req.Header.Set("HX-Request", "true")
	}
	for k, v := range ep.headers {
		req.Header.Set(k, v)
	}
	start := time.Now()
	resp, err := c.Do(req)
	if err != nil {
		d.stats.record(ep.kind, ep.name, time.Since(start), errorKind(err))
		return
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	switch {
	case err != nil:
		d.stats.record(ep.kind, ep.name, took, "body "+errorKind(err))
	case resp.StatusCode != http.StatusOK:
		d.stats.record(ep.kind, ep.name, took, statusKind(resp))
	case ep.htmx == bytes.Contains(body, []byte("<html")):
		d.stats.record(ep.kind, ep.name, took, "wrong body (full page vs partial)")
	default:
		d.stats.record(ep.kind, ep.name, took, "")
	}
}

const inviteEndpoint = "form: invite a member (GET the form, POST it)"

// invite opens the invitation form and sends it, as an owner would: the
// invitation's email goes out through a River job (the SMTP sink).
func (d *Driver) invite() {
	c := d.browsers[d.intn(len(d.browsers))]
	start := time.Now()
	fail := func(kind string) { d.stats.record(KindForm, inviteEndpoint, time.Since(start), kind) }
	resp, err := c.Get(d.base + "/orgs/demo/members/invite")
	if err != nil {
		fail(errorKind(err))
		return
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := csrfField.FindSubmatch(body)
	if resp.StatusCode != http.StatusOK || m == nil {
		fail("form: " + statusKind(resp))
		return
	}
	form := url.Values{"emails": {fmt.Sprintf("inv-%s-%d@invitee.test", d.runID, d.seq.Add(1))},
		"role": {"member"}, "days": {"7"}, "_csrf": {string(m[1])}}
	req, _ := http.NewRequest(http.MethodPost, d.base+"/orgs/demo/invitations", strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", d.base)
	if resp, err = c.Do(req); err != nil {
		fail(errorKind(err))
		return
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/orgs/demo/members" {
		fail(statusKind(resp))
		return
	}
	d.stats.record(KindForm, inviteEndpoint, time.Since(start), "")
}

var csrfField = regexp.MustCompile(`name="_csrf" value="([^"]+)"`)

// statusKind names an unexpected status: "502 reset" for the proxy's own
// errors, "303 to /login" for a lost session, else the code.
func statusKind(resp *http.Response) string {
	if k := resp.Header.Get(ProxyErrorHeader); k != "" {
		return fmt.Sprintf("%d proxy: %s", resp.StatusCode, k)
	}
	if loc := resp.Header.Get("Location"); loc != "" {
		return fmt.Sprintf("%d to %s", resp.StatusCode, loc)
	}
	return strconv.Itoa(resp.StatusCode)
}

// Charges records every charge the driver sent, by idempotency key.
type Charges struct {
	mu    sync.Mutex
	byKey map[string]*chargeState
	keys  []string // in the order they were sent
}

type chargeState struct {
	key      string
	body     []byte
	milli    int64 // the credits charged, in milli-credits
	attempts int
	acked    bool   // an answer: accepted (eventID) or refused (refusal)
	eventID  int64  // accepted
	refusal  string // refused: the error code (402)
	replayed bool   // the acknowledging answer was a replay of an earlier, unanswered write
	fatal    string // a client error that retrying cannot fix (a bug)
}

func (c *Charges) add(st *chargeState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.byKey[st.key] = st
	c.keys = append(c.keys, st.key)
}

// pending returns the charges never acknowledged (and not fatal).
func (c *Charges) pending() []*chargeState {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*chargeState
	for _, k := range c.keys {
		if st := c.byKey[k]; !st.acked && st.fatal == "" {
			out = append(out, st)
		}
	}
	return out
}

// charge sends one new charge and retries it, with the same idempotency
// key, until it is acknowledged or the run ends.
func (d *Driver) charge(ctx context.Context) {
	n := d.seq.Add(1)
	milli := int64(500 + 250*d.intn(7)) // 0.5 to 2 credits
	st := &chargeState{key: fmt.Sprintf("h-%s-%d", d.runID, n), milli: milli}
	ws := d.workspaces[d.intn(len(d.workspaces))]
	st.body = fmt.Appendf(nil, `{"idempotency_key":%q,"user":%q,"workspace":"%d","tool":"chat.completion","model":"gpt-4.1-nano","credits":"%d.%03d"}`,
		st.key, d.user, ws, milli/1000, milli%1000)
	d.charges.add(st)
	backoff := 50 * time.Millisecond
	for !d.chargeAttempt(st) && ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case <-time.After(backoff + time.Duration(d.intn(int(backoff/time.Millisecond)+1))*time.Millisecond):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// chargeAttempt sends the charge once; it reports whether the charge is
// settled (acknowledged, or refused with an error retrying cannot fix).
func (d *Driver) chargeAttempt(st *chargeState) bool {
	req, _ := http.NewRequest(http.MethodPost, d.base+"/api/v1/usage", bytes.NewReader(st.body))
	req.Header.Set("Authorization", "Bearer "+d.apiKey)
	req.Header.Set("Content-Type", "application/json")
	// The same key as in the body. Orgbase reads the body's; Go's transport
	// (the proxy's too) takes the header to mean the request may be resent
	// on a fresh connection when a kept-alive one turns out closed.
	req.Header.Set("Idempotency-Key", st.key)
	d.charges.mu.Lock()
	st.attempts++
	d.charges.mu.Unlock()
	start := time.Now()
	resp, err := d.hc.Do(req)
	if err != nil {
		d.stats.record(KindCharge, chargeEndpoint, time.Since(start), errorKind(err))
		return false
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if err != nil {
		d.stats.record(KindCharge, chargeEndpoint, took, "body "+errorKind(err))
		return false
	}
	var res struct {
		EventID  int64 `json:"event_id"`
		Replayed bool  `json:"replayed"`
		Error    *struct {
			Code string `json:"code"`
		} `json:"error"`
	}
	jerr := json.Unmarshal(body, &res)
	switch {
	case resp.StatusCode == http.StatusOK && jerr == nil && res.EventID > 0:
		d.charges.mu.Lock()
		st.acked, st.eventID, st.replayed = true, res.EventID, res.Replayed
		d.charges.mu.Unlock()
		d.acked.Store(time.Now().UnixNano())
		d.stats.record(KindCharge, chargeEndpoint, took, "")
		return true
	case resp.StatusCode == http.StatusPaymentRequired && jerr == nil && res.Error != nil:
		d.charges.mu.Lock()
		st.acked, st.refusal = true, res.Error.Code
		d.charges.mu.Unlock()
		d.stats.record(KindCharge, chargeEndpoint, took, "")
		return true
	case resp.StatusCode >= 500 || resp.StatusCode == http.StatusTooManyRequests:
		d.stats.record(KindCharge, chargeEndpoint, took, statusKind(resp))
		return false // retry with the same key
	}
	d.stats.record(KindCharge, chargeEndpoint, took, statusKind(resp)+" (not retried)")
	d.charges.mu.Lock()
	st.fatal = fmt.Sprintf("%d %.200s", resp.StatusCode, body)
	d.charges.mu.Unlock()
	return true
}
