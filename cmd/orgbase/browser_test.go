package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// Browser tests drive a real headless Chromium through chromedp against the
// real program. They skip when no browser is installed, except under CI.

const (
	desktopWidth, desktopHeight = 1280, 900
	mobileWidth, mobileHeight   = 375, 812
	stepTimeout                 = 30 * time.Second
)

// findBrowser returns the path of Chromium or Chrome. Without one the test
// is skipped, or fails when CI=true.
func findBrowser(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but no browser found (looked for chromium, chromium-browser, google-chrome): install chromium")
	}
	t.Skip("no chromium, chromium-browser or google-chrome on PATH: skipping the browser test")
	return ""
}

// artifactsDir is where screenshots go: $E2E_ARTIFACTS, or test-artifacts/e2e
// at the repository root (ignored by git). sub is emptied first.
func artifactsDir(t *testing.T, sub string) string {
	t.Helper()
	root := os.Getenv("E2E_ARTIFACTS")
	if root == "" {
		root = filepath.Join("..", "..", "test-artifacts", "e2e")
	}
	dir, err := filepath.Abs(filepath.Join(root, sub))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatalf("clear %s: %v", dir, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("create %s: %v", dir, err)
	}
	return dir
}

// pageProblems collects what the page reports that a healthy page never
// does: uncaught exceptions, console.error calls and error entries of the
// browser log (CSP violations, failed loads). It also keeps the responses to
// XHR/fetch requests, to check how htmx requests were answered.
type pageProblems struct {
	mu       sync.Mutex
	problems []string
	xhr      []*network.Response
}

func (p *pageProblems) listen(ev any) {
	var msg string
	switch ev := ev.(type) {
	case *runtime.EventExceptionThrown:
		msg = "uncaught exception: " + exceptionText(ev.ExceptionDetails)
	case *runtime.EventConsoleAPICalled:
		if ev.Type != runtime.ConsoleAPICalledTypeError && ev.Type != runtime.ConsoleAPICalledTypeAssert {
			return
		}
		var args []string
		for _, a := range ev.Args {
			switch {
			case len(a.Value) > 0:
				args = append(args, string(a.Value))
			case a.Description != "":
				args = append(args, a.Description)
			default:
				args = append(args, string(a.Type))
			}
		}
		msg = fmt.Sprintf("console.%s: %s", ev.Type, strings.Join(args, " "))
	case *log.EventEntryAdded:
		if ev.Entry == nil || ev.Entry.Level != log.EntryLevelError {
			return
		}
		text, _, _ := strings.Cut(ev.Entry.Text, " Either the 'unsafe-inline' keyword") // CSP boilerplate
		msg = fmt.Sprintf("browser log (%s): %s", ev.Entry.Source, text)
		if ev.Entry.URL != "" {
			msg += " [" + ev.Entry.URL + "]"
		}
	case *network.EventResponseReceived:
		if ev.Type == network.ResourceTypeXHR || ev.Type == network.ResourceTypeFetch {
			p.mu.Lock()
			p.xhr = append(p.xhr, ev.Response)
			p.mu.Unlock()
		}
		return
	default:
		return
	}
	p.mu.Lock()
	p.problems = append(p.problems, msg)
	p.mu.Unlock()
}

// take returns and forgets the problems collected so far.
func (p *pageProblems) take() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.problems
	p.problems = nil
	return out
}

// xhrResponses returns and forgets the XHR/fetch responses seen so far.
func (p *pageProblems) xhrResponses() []*network.Response {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := p.xhr
	p.xhr = nil
	return out
}

func exceptionText(d *runtime.ExceptionDetails) string {
	if d == nil {
		return "(no details)"
	}
	s := d.Text
	if d.Exception != nil && d.Exception.Description != "" {
		s += " " + d.Exception.Description
	}
	if d.URL != "" {
		s += fmt.Sprintf(" [%s:%d:%d]", d.URL, d.LineNumber+1, d.ColumnNumber+1)
	}
	return s
}

// browser is one headless Chromium tab working against one server.
type browser struct {
	t        *testing.T
	ctx      context.Context
	base     string // the server's URL, without a trailing slash
	dir      string // screenshots
	problems *pageProblems
	shots    int
}

// newBrowser starts a headless Chromium with a fresh profile.
func newBrowser(t *testing.T, execPath, base, dir string) *browser {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(execPath),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-quic", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(desktopWidth, desktopHeight),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	b := &browser{t: t, base: strings.TrimSuffix(base, "/"), dir: dir, problems: &pageProblems{}}
	ctx, cancelCtx := chromedp.NewContext(allocCtx, chromedp.WithListener(b.problems.listen))
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	// The first Do starts the browser; it must not carry a timeout, which
	// would end the browser with it.
	start := make(chan error, 1)
	go func() { start <- chromedp.Do(ctx, chromedp.EmulateViewport(desktopWidth, desktopHeight)) }()
	select {
	case err := <-start:
		if err != nil {
			t.Fatalf("start %s: %v", execPath, err)
		}
	case <-time.After(60 * time.Second):
		t.Fatalf("start %s: no answer within 60s", execPath)
	}
	b.ctx = ctx
	return b
}

// do runs actions with the step timeout; any error fails the test.
func (b *browser) do(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.location())
	}
}

// runValue runs one action that returns a value.
func runValue[T any](b *browser, what string, a chromedp.Action[T]) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	v, err := chromedp.Run(ctx, a)
	if err != nil {
		b.t.Fatalf("%s: %v (at %s)", what, err, b.location())
	}
	return v
}

// location is the current URL, or a note when it cannot be read.
func (b *browser) location() string {
	ctx, cancel := context.WithTimeout(b.ctx, 5*time.Second)
	defer cancel()
	loc, err := chromedp.Run(ctx, chromedp.Location())
	if err != nil {
		return "unknown location: " + err.Error()
	}
	return loc
}

// path is the path and query of the current URL.
func (b *browser) path() string {
	b.t.Helper()
	u, err := url.Parse(b.location())
	if err != nil {
		b.t.Fatalf("parse location: %v", err)
	}
	return u.RequestURI()
}

// navigate loads a path of the server (or an absolute URL) and waits for it.
func (b *browser) navigate(pathOrURL string) {
	b.t.Helper()
	u := pathOrURL
	if strings.HasPrefix(u, "/") {
		u = b.base + u
	}
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.Run(ctx, chromedp.NavigateResponse(u))
	if err != nil {
		b.t.Fatalf("navigate to %s: %v", u, err)
	}
	if resp != nil && resp.Status >= 400 {
		b.t.Fatalf("navigate to %s: HTTP %d", u, resp.Status)
	}
}

// clickAndLoad clicks an element that causes a full page load (a link, or a
// plain form's submit button) and waits for the new page.
func (b *browser) clickAndLoad(sel string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, stepTimeout)
	defer cancel()
	resp, err := chromedp.RunResponse(ctx, chromedp.Click(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("click %s and wait for the page: %v (at %s)", sel, err, b.location())
	}
	if resp != nil && resp.Status >= 400 {
		b.t.Fatalf("click %s: the page answered HTTP %d (at %s)", sel, resp.Status, b.location())
	}
}

// click clicks an element and does not wait for a navigation.
func (b *browser) click(sel string) {
	b.t.Helper()
	// Under load the deferred scripts may still be running: a click before
	// htmx has processed the page would follow the plain link instead.
	b.waitFor("the page's scripts to be ready", `document.readyState === "complete" && !!window.htmx`)
	// An element with htmx attributes must have been processed by htmx (it
	// keeps its state in htmx-internal-data), or the click would follow the
	// plain link instead of making the htmx request.
	b.waitFor("htmx to process "+sel, fmt.Sprintf(`(() => { const e = document.querySelector(%s);
		if (!e) return false;
		if (!e.matches('[hx-get],[hx-post]')) return true;
		const d = e['htmx-internal-data']; return !!(d && d.initHash); })()`, jsQuote(sel)))
	b.do("click "+sel, chromedp.Click(chromedp.CSS(sel)))
}

// typeInto replaces the value of an input by typing text, as a person does
// (so input events fire).
func (b *browser) typeInto(sel, text string) {
	b.t.Helper()
	b.do("wait for "+sel, chromedp.WaitVisible(chromedp.CSS(sel)))
	// chromedp.SetValue(sel, "") reports a failure for the empty string, so
	// clear the field directly.
	evalJS[bool](b, fmt.Sprintf("(document.querySelector(%q).value = '') === ''", sel))
	b.do("type into "+sel, chromedp.SendKeys(chromedp.CSS(sel), text))
	if got := b.value(sel); got != text {
		b.t.Fatalf("typed %q into %s, but it holds %q", text, sel, got)
	}
}

// text is the visible text of the first element matching sel.
func (b *browser) text(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(runValue(b, "read text of "+sel, chromedp.Text(chromedp.CSS(sel))))
}

// textContent is the text of the first element matching sel, visible or not.
func (b *browser) textContent(sel string) string {
	b.t.Helper()
	return strings.TrimSpace(runValue(b, "read text content of "+sel, chromedp.TextContent(chromedp.CSS(sel))))
}

// value is the current value of an input.
func (b *browser) value(sel string) string {
	b.t.Helper()
	return runValue(b, "read value of "+sel, chromedp.Value(chromedp.CSS(sel)))
}

// eval evaluates a JavaScript expression in the page.
func evalJS[T any](b *browser, expr string) T {
	b.t.Helper()
	return runValue(b, "evaluate "+expr, chromedp.Evaluate[T](expr))
}

// count is the number of elements matching sel.
func (b *browser) count(sel string) int {
	b.t.Helper()
	return evalJS[int](b, fmt.Sprintf("document.querySelectorAll(%q).length", sel))
}

// waitFor polls a JavaScript condition until it holds. Errors while polling
// are ignored: during a navigation the page's context goes away.
func (b *browser) waitFor(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(stepTimeout)
	var lastErr error
	for time.Now().Before(deadline) {
		ctx, cancel := context.WithTimeout(b.ctx, 3*time.Second)
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](expr))
		cancel()
		if err == nil && ok {
			return
		}
		if err != nil && !errors.Is(err, context.DeadlineExceeded) {
			lastErr = err
		}
		time.Sleep(100 * time.Millisecond)
	}
	b.t.Fatalf("timed out waiting for %s (%s); last error: %v; at %s", what, expr, lastErr, b.location())
}

// wantPath fails unless the current path (with query) is want.
func (b *browser) wantPath(want string) {
	b.t.Helper()
	if got := b.path(); got != want {
		b.t.Fatalf("at %s, want %s", got, want)
	}
}

// wantText fails unless the element's visible text contains want.
func (b *browser) wantText(sel, want string) {
	b.t.Helper()
	if got := b.text(sel); !strings.Contains(got, want) {
		b.t.Errorf("%s: text %q does not contain %q (at %s)", sel, got, want, b.path())
	}
}

// page records that a page has been reached: it checks that our scripts
// loaded and that nothing went wrong in the console, and saves a full-page
// screenshot named name.
func (b *browser) page(name string) {
	b.t.Helper()
	b.waitFor("the document to finish loading", `document.readyState === "complete"`)
	if !evalJS[bool](b, `typeof window.htmx === "object"`) {
		b.t.Errorf("%s: htmx is not loaded on %s", name, b.path())
	}
	b.screenshot(name)
	b.checkConsole(name)
}

// screenshot saves a full-page PNG.
func (b *browser) screenshot(name string) {
	b.t.Helper()
	png := runValue(b, "screenshot "+name, chromedp.FullScreenshot(100))
	b.shots++
	file := filepath.Join(b.dir, fmt.Sprintf("%02d-%s.png", b.shots, name))
	if err := os.WriteFile(file, png, 0o644); err != nil {
		b.t.Fatalf("save screenshot: %v", err)
	}
	b.t.Logf("screenshot %s (%s)", file, b.path())
}

// mobileScreenshot reloads the current page at a phone's width, saves a
// full-page PNG, and goes back to the desktop size.
func (b *browser) mobileScreenshot(name string) {
	b.t.Helper()
	b.do("emulate a phone",
		chromedp.EmulateViewport(mobileWidth, mobileHeight, chromedp.EmulateMobile, chromedp.EmulateTouch, chromedp.EmulatePortrait, chromedp.EmulateScale(2)),
		chromedp.Reload(),
	)
	// A chart is drawn after load: wait for it (pages without one go on).
	b.waitFor("the page (and its chart) at phone width", `document.readyState === "complete" && !!(document.querySelector('canvas[data-chart]') ? window.Chart && Chart.getChart(document.querySelector('canvas[data-chart]')) : true)`)
	b.page(name + "-mobile")
	if w := evalJS[int](b, "document.documentElement.scrollWidth"); w > mobileWidth {
		b.t.Errorf("%s: the page is %dpx wide on a %dpx-wide phone: it scrolls sideways", name, w, mobileWidth)
	}
	b.do("back to desktop size", chromedp.EmulateViewport(desktopWidth, desktopHeight), chromedp.Reload())
}

// checkConsole fails the test for every problem reported since the last check.
func (b *browser) checkConsole(name string) {
	b.t.Helper()
	// Give reports of the page's last moments (CSP violations are queued)
	// a moment to arrive.
	time.Sleep(150 * time.Millisecond)
	problems := b.problems.take()
	seen := map[string]int{}
	for _, p := range problems {
		seen[p]++
	}
	for _, p := range problems {
		n := seen[p]
		if n == 0 {
			continue // reported already
		}
		seen[p] = 0
		if n > 1 {
			p = fmt.Sprintf("%s (%d times)", p, n)
		}
		b.t.Errorf("%s (%s): %s", name, b.path(), p)
	}
}

// jsQuote returns s as a JavaScript string literal.
func jsQuote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}
