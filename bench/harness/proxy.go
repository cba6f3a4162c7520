package harness

import (
	"bytes"
	"context"
	"errors"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httputil"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// ProxyErrorHeader names, on a 502 from the proxy, what went wrong between
// the proxy and the replica ("reset", "eof", "timeout", "no backend",
// ...), so the load driver can count errors by kind.
const ProxyErrorHeader = "X-Harness-Proxy-Error"

// Proxy is a small round-robin load balancer in front of the replicas
// (httputil.ReverseProxy). It polls each replica's /readyz and sends
// requests only to ready ones (to all when none is ready, so that clients
// see the outage); a replica that refuses the connection is skipped and the
// request goes to the next one; the request was never sent, so this is safe
// for any request. Once a request has been sent the proxy never resends it:
// a replica that dies mid-request yields a 502 naming the error, and the
// client decides (charges retry with their idempotency key).
type Proxy struct {
	URL string

	backends  []*backend
	next      atomic.Uint64
	transport *http.Transport
	srv       *http.Server
	stop      chan struct{}
	wg        sync.WaitGroup

	mu       sync.Mutex
	rerouted map[string]int // requests that went to another replica after a failed connection, by reason
	errs     map[string]int // errors between the proxy and a replica, by kind
}

type backend struct {
	r         *Replica
	ready     atomic.Bool
	downUntil atomic.Int64 // unix nanos: refused a connection, skip until then
}

// StartProxy serves on ln.
func StartProxy(ln net.Listener, replicas []*Replica, poll time.Duration) *Proxy {
	p := &Proxy{URL: "http://" + ln.Addr().String(), stop: make(chan struct{}), errs: map[string]int{}, rerouted: map[string]int{},
		transport: &http.Transport{
			DialContext:           (&net.Dialer{Timeout: 2 * time.Second}).DialContext,
			MaxIdleConns:          512,
			MaxIdleConnsPerHost:   128,
			IdleConnTimeout:       60 * time.Second,
			ResponseHeaderTimeout: 60 * time.Second,
		}}
	for _, r := range replicas {
		p.backends = append(p.backends, &backend{r: r})
	}
	rp := &httputil.ReverseProxy{
		Rewrite: func(pr *httputil.ProxyRequest) {
			pr.Out.URL.Scheme = "http"
			pr.Out.URL.Host = "replica" // RoundTrip picks the replica
			pr.Out.Host = pr.In.Host    // the public host, as a load balancer keeps it
			pr.SetXForwarded()
		},
		Transport:    p,
		ErrorHandler: p.fail,
	}
	p.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Buffer the body so a request refused by one replica can go to the next.
		if r.Body != nil && r.Body != http.NoBody {
			b, err := io.ReadAll(r.Body)
			if err != nil {
				http.Error(w, "read body", http.StatusBadRequest)
				return
			}
			r.Body = io.NopCloser(bytes.NewReader(b))
			r.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
		}
		rp.ServeHTTP(w, r)
	}), ReadHeaderTimeout: 10 * time.Second}
	for _, b := range p.backends {
		b.ready.Store(b.r.Ready())
		p.wg.Go(func() { p.poll(b, poll) })
	}
	go p.srv.Serve(ln)
	return p
}

// poll keeps b.ready up to date, as a load balancer's health check would:
// an answer other than 200 or a refused connection takes the replica out
// at once; a check that times out or fails otherwise does so only the
// second time in a row (a busy replica answers slowly, it is not gone).
func (p *Proxy) poll(b *backend, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	hc := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	failures := 0
	for {
		select {
		case <-p.stop:
			return
		case <-t.C:
		}
		resp, err := hc.Get(b.r.URL + "/readyz")
		switch {
		case err == nil:
			resp.Body.Close()
			failures = 0
			b.ready.Store(resp.StatusCode == http.StatusOK)
		case refused(err):
			b.ready.Store(false)
		default:
			if failures++; failures >= 2 {
				b.ready.Store(false)
			}
		}
	}
}

// RoundTrip sends the request to the next ready replica, moving on to the
// next one when a replica refuses the connection.
func (p *Proxy) RoundTrip(req *http.Request) (*http.Response, error) {
	n := len(p.backends)
	start := int(p.next.Add(1))
	now := time.Now().UnixNano()
	order := make([]*backend, 0, n)
	for i := range n { // ready first, in round-robin order
		if b := p.backends[(start+i)%n]; b.ready.Load() && b.downUntil.Load() < now {
			order = append(order, b)
		}
	}
	someReady := len(order) > 0
	if !someReady { // none ready: try them all, so clients see what happens
		for i := range n {
			order = append(order, p.backends[(start+i)%n])
		}
	}
	var lastErr error
	for i, b := range order {
		out := req
		if i > 0 {
			out = req.Clone(req.Context())
			if req.GetBody != nil {
				body, err := req.GetBody()
				if err != nil {
					return nil, err
				}
				out.Body = body
			}
		}
		out.URL.Host = b.r.Addr
		resp, err := p.transport.RoundTrip(out)
		if err == nil {
			return resp, nil
		}
		lastErr = err
		if !refused(err) {
			return nil, err // sent (or maybe sent): never resend
		}
		b.downUntil.Store(time.Now().Add(250 * time.Millisecond).UnixNano())
		if i < len(order)-1 {
			p.count(dialReason(err, b.ready.Load(), someReady), true)
		}
	}
	return nil, lastErr
}

// fail answers 502 naming the error's kind, and counts it.
func (p *Proxy) fail(w http.ResponseWriter, r *http.Request, err error) {
	kind := errorKind(err)
	p.count(kind, false)
	w.Header().Set(ProxyErrorHeader, kind)
	w.WriteHeader(http.StatusBadGateway)
}

func (p *Proxy) count(kind string, rerouted bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if rerouted {
		p.rerouted[kind]++
		return
	}
	p.errs[kind]++
}

// Counts returns the rerouted requests and the errors, by kind, so far.
func (p *Proxy) Counts() (rerouted, errs map[string]int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return maps.Clone(p.rerouted), maps.Clone(p.errs)
}

// dialReason names why a connection to a replica failed, and whether the
// proxy still took it for ready (its last check passed) or had no ready
// replica at all and tried every one.
func dialReason(err error, ready, someReady bool) string {
	what := "dial failed"
	var ne net.Error
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		what = "refused"
	case errors.As(err, &ne) && ne.Timeout():
		what = "dial timeout"
	}
	switch {
	case !someReady:
		return what + " (no replica was ready)"
	case ready:
		return what + " (died since its last check)"
	}
	return what
}

// Close stops the proxy.
func (p *Proxy) Close() {
	close(p.stop)
	p.wg.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p.srv.Shutdown(ctx)
	p.transport.CloseIdleConnections()
}

// refused reports whether err is a refused connection (nothing was sent).
func refused(err error) bool {
	var op *net.OpError
	return errors.Is(err, syscall.ECONNREFUSED) || (errors.As(err, &op) && op.Op == "dial")
}

// errorKind names a transport error: refused, reset, eof, timeout, canceled
// or other.
func errorKind(err error) string {
	var ne net.Error
	switch {
	case err == nil:
		return ""
	case refused(err):
		return "refused"
	case errors.Is(err, syscall.ECONNRESET):
		return "reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "eof"
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return "timeout"
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, syscall.EPIPE):
		return "broken pipe"
	}
	return "other"
}
