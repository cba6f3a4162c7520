package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime/multipart"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/textproto"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/gorilla/securecookie"

	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/internal/web"
)

// testSessionKey signs session cookies in tests (32 bytes, 64 hex characters).
const testSessionKey = "8f2c1a7e5b3d9f60a4c2e8b17d5f3a9c0e6b4d2f8a1c7e5b3d9f60a4c2e8b17d"

// strongPassword passes the zxcvbn strength check.
const strongPassword = "plum vortex cactus harbor 71"

const sessionCookie = "orgbase_session"

// clock is a shared, adjustable clock for the server and the store: real time
// plus an offset that tests advance.
type clock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

// env is one running server on a fresh database of one dialect.
type env struct {
	t       *testing.T
	db      *store.DB
	cfg     *config.Config
	handler http.Handler // what web.NewServer returned
	srv     *httptest.Server
	clock   *clock
}

// testLogWriter sends the server's error logs to the test log, so a failing
// test shows what went wrong inside the handler.
type testLogWriter struct{ t *testing.T }

func (w testLogWriter) Write(p []byte) (int, error) {
	w.t.Logf("server log: %s", bytes.TrimSpace(p))
	return len(p), nil
}

func newEnv(t *testing.T, dialect string) *env {
	t.Helper()
	clk := &clock{}
	db := dbtest.Open(t, dialect, store.Options{Now: clk.Now})
	vars := map[string]string{
		"ORGBASE_SESSION_KEYS": testSessionKey,
		"ORGBASE_BASE_URL":     "http://example.test",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatalf("config.Load: %v", err)
	}
	logger := slog.New(slog.NewTextHandler(testLogWriter{t}, &slog.HandlerOptions{Level: slog.LevelError}))
	h, err := web.NewServer(web.Deps{Config: cfg, Logger: logger, Users: db, Sessions: db, Orgs: db, Mail: db, Health: db, Workspaces: db, Members: db, API: db, Alerts: db,
		Billing: db, Payments: testprovider.New(cfg.BaseURL, db), Now: clk.Now})
	if err != nil {
		t.Fatalf("web.NewServer: %v", err)
	}
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return &env{t: t, db: db, cfg: cfg, handler: h, srv: srv, clock: clk}
}

// eachDialect runs fn as a subtest on every dialect, each with a fresh
// database and server.
func eachDialect(t *testing.T, fn func(t *testing.T, e *env)) {
	t.Helper()
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			fn(t, newEnv(t, d))
		})
	}
}

// client is a browser: a cookie jar, no automatic redirects, and the CSRF
// token of the last page it read.
type client struct {
	t *testing.T
	e *env
	*browser
}

// browser is the state a client shares with its copies for subtests.
type browser struct {
	hc   *http.Client
	csrf string
}

// in returns the same browser reporting to t: a subtest must not fail
// through its parent's *testing.T.
func (c *client) in(t *testing.T) *client {
	return &client{t: t, e: c.e, browser: c.browser}
}

func (e *env) client(t *testing.T) *client {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	hc := &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	return &client{t: t, e: e, browser: &browser{hc: hc}}
}

// resp is a read response with its HTML parsed.
type resp struct {
	t      *testing.T
	req    string
	status int
	header http.Header
	body   string
	doc    *goquery.Document
}

// forbiddenLeaks are strings no response may contain: they mean a stack
// trace or a panic message reached the user.
var forbiddenLeaks = []string{"goroutine", "panic", "runtime error"}

// csrfValueRE matches the page's CSRF tokens, which are random letters and
// are left out of the leak check: a token once held "…fPanIcf…".
var csrfValueRE = regexp.MustCompile(`(name="csrf-token" content|name="_csrf" value)="[^"]*"`)

func (c *client) do(req *http.Request) *resp {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		c.t.Fatalf("%s %s: read body: %v", req.Method, req.URL.Path, err)
	}
	r := &resp{t: c.t, req: req.Method + " " + req.URL.RequestURI(), status: res.StatusCode, header: res.Header, body: string(b)}
	if r.status >= 500 {
		c.t.Errorf("%s: got status %d, want no server error; body:\n%s", r.req, r.status, abbrev(r.body))
	}
	lower := strings.ToLower(csrfValueRE.ReplaceAllString(r.body, ""))
	for _, leak := range forbiddenLeaks {
		if strings.Contains(lower, leak) {
			c.t.Errorf("%s: body contains %q, want no stack traces or panic messages:\n%s", r.req, leak, abbrev(r.body))
		}
	}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "text/html") {
		doc, err := goquery.NewDocumentFromReader(bytes.NewReader(b))
		if err != nil {
			c.t.Fatalf("%s: parse HTML: %v", r.req, err)
		}
		r.doc = doc
		if tok := r.csrfToken(); tok != "" {
			c.csrf = tok
		}
	}
	return r
}

func (c *client) newRequest(method, path string, body io.Reader) *http.Request {
	c.t.Helper()
	req, err := http.NewRequest(method, c.e.srv.URL+path, body)
	if err != nil {
		c.t.Fatalf("new request %s %s: %v", method, path, err)
	}
	return req
}

// get fetches path.
func (c *client) get(path string) *resp {
	c.t.Helper()
	return c.do(c.newRequest(http.MethodGet, path, nil))
}

// token returns the client's CSRF token, reading a page first if it has none.
func (c *client) token() string {
	c.t.Helper()
	if c.csrf == "" {
		r := c.get("/forgot")
		if c.csrf == "" {
			c.t.Fatalf("GET /forgot: no CSRF token in the page (status %d)", r.status)
		}
	}
	return c.csrf
}

// post submits a form with the client's CSRF token.
func (c *client) post(path string, form url.Values, headers ...string) *resp {
	c.t.Helper()
	if form == nil {
		form = url.Values{}
	}
	if _, ok := form["_csrf"]; !ok {
		form.Set("_csrf", c.token())
	}
	return c.postRaw(path, form, headers...)
}

// postRaw submits a form as is (no token added); headers are name, value pairs.
func (c *client) postRaw(path string, form url.Values, headers ...string) *resp {
	c.t.Helper()
	req := c.newRequest(http.MethodPost, path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// upload posts a multipart form with one file and the CSRF token.
func (c *client) upload(path, field, filename, contentType string, data []byte) *resp {
	c.t.Helper()
	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	if err := mw.WriteField("_csrf", c.token()); err != nil {
		c.t.Fatal(err)
	}
	h := make(textproto.MIMEHeader)
	h.Set("Content-Disposition", fmt.Sprintf(`form-data; name=%q; filename=%q`, field, filename))
	h.Set("Content-Type", contentType)
	part, err := mw.CreatePart(h)
	if err != nil {
		c.t.Fatal(err)
	}
	if _, err := part.Write(data); err != nil {
		c.t.Fatal(err)
	}
	if err := mw.Close(); err != nil {
		c.t.Fatal(err)
	}
	req := c.newRequest(http.MethodPost, path, &buf)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	return c.do(req)
}

// cookie returns the value of the named cookie in the jar, or "".
func (c *client) cookie(name string) string {
	u, _ := url.Parse(c.e.srv.URL)
	for _, ck := range c.hc.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// setCookie puts a cookie in the jar, as if the server had set it.
func (c *client) setCookie(name, value string) {
	u, _ := url.Parse(c.e.srv.URL)
	c.hc.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// signup creates an account through the sign-up form; the client is signed in after.
func (c *client) signup(name, email, password string) {
	c.t.Helper()
	r := c.post("/signup", url.Values{"name": {name}, "email": {email}, "password": {password}})
	r.wantRedirect("/orgs/new")
}

// login signs in through the login form.
func (c *client) login(email, password string) {
	c.t.Helper()
	r := c.post("/login", url.Values{"email": {email}, "password": {password}})
	r.wantRedirect("/")
}

// logout signs out through the logout button's form.
func (c *client) logout() {
	c.t.Helper()
	r := c.post("/logout", nil)
	r.wantRedirect("/login?notice=logged_out")
}

// createOrg creates an organization through the wizard and returns its slug.
func (c *client) createOrg(name, slug string) string {
	c.t.Helper()
	r := c.post("/orgs/new", url.Values{"name": {name}, "slug": {slug}})
	r.wantStatus(http.StatusSeeOther)
	loc := r.header.Get("Location")
	if !strings.HasPrefix(loc, "/orgs/") {
		c.t.Fatalf("POST /orgs/new: got Location %q, want /orgs/<slug>", loc)
	}
	return strings.TrimPrefix(loc, "/orgs/")
}

// newUser signs up a user on a client of its own and returns that client.
func (e *env) newUser(t *testing.T, name, email string) *client {
	t.Helper()
	c := e.client(t)
	c.signup(name, email, strongPassword)
	return c
}

// --- response assertions ---

// abbrev shortens a body for a failure message: an error page's text, or
// the start of the body.
func abbrev(s string) string {
	if doc, err := goquery.NewDocumentFromReader(strings.NewReader(s)); err == nil {
		if ep := doc.Find(`[data-testid="error-page"]`); ep.Length() > 0 {
			return "error page: " + strings.Join(strings.Fields(ep.Text()), " ")
		}
	}
	if len(s) > 1500 {
		return s[:1500] + "…"
	}
	return s
}

func (r *resp) wantStatus(want int) {
	r.t.Helper()
	if r.status != want {
		r.t.Fatalf("%s: got status %d, want %d; body:\n%s", r.req, r.status, want, abbrev(r.body))
	}
}

func (r *resp) wantRedirect(loc string) {
	r.t.Helper()
	r.wantStatus(http.StatusSeeOther)
	if got := r.header.Get("Location"); got != loc {
		r.t.Fatalf("%s: got Location %q, want %q", r.req, got, loc)
	}
}

func (r *resp) html() *goquery.Document {
	r.t.Helper()
	if r.doc == nil {
		r.t.Fatalf("%s: got Content-Type %q, want an HTML page", r.req, r.header.Get("Content-Type"))
	}
	return r.doc
}

// find returns the elements matching sel.
func (r *resp) find(sel string) *goquery.Selection {
	r.t.Helper()
	return r.html().Find(sel)
}

// text returns the trimmed text of the first element matching sel, failing
// the test when there is none.
func (r *resp) text(sel string) string {
	r.t.Helper()
	s := r.find(sel)
	if s.Length() == 0 {
		r.t.Fatalf("%s: no element matches %q; body:\n%s", r.req, sel, abbrev(r.body))
	}
	return strings.Join(strings.Fields(s.First().Text()), " ")
}

// attr returns an attribute of the first element matching sel.
func (r *resp) attr(sel, name string) string {
	r.t.Helper()
	s := r.find(sel)
	if s.Length() == 0 {
		r.t.Fatalf("%s: no element matches %q; body:\n%s", r.req, sel, abbrev(r.body))
	}
	v, _ := s.First().Attr(name)
	return v
}

func (r *resp) wantElement(sel string) {
	r.t.Helper()
	if r.find(sel).Length() == 0 {
		r.t.Fatalf("%s: got no element matching %q, want one; body:\n%s", r.req, sel, abbrev(r.body))
	}
}

func (r *resp) wantNoElement(sel string) {
	r.t.Helper()
	if n := r.find(sel).Length(); n != 0 {
		r.t.Fatalf("%s: got %d elements matching %q, want none", r.req, n, sel)
	}
}

// fieldError returns the rendered error of a form field, or "".
func (r *resp) fieldError(field string) string {
	r.t.Helper()
	return strings.TrimSpace(r.find(`[data-testid="error-` + field + `"]`).First().Text())
}

// wantFieldErrors checks that each named field shows an error.
func (r *resp) wantFieldErrors(fields ...string) {
	r.t.Helper()
	for _, f := range fields {
		if r.fieldError(f) == "" {
			r.t.Errorf("%s: got no error on field %q, want one (data-testid=error-%s)", r.req, f, f)
		}
	}
}

func (r *resp) wantNoFieldError(field string) {
	r.t.Helper()
	if msg := r.fieldError(field); msg != "" {
		r.t.Errorf("%s: got error %q on field %q, want none", r.req, msg, field)
	}
}

// inputValue returns the value attribute of the form input named name.
func (r *resp) inputValue(name string) string {
	r.t.Helper()
	return r.attr(`input[name="`+name+`"]`, "value")
}

func (r *resp) csrfToken() string {
	if r.doc == nil {
		return ""
	}
	if v, ok := r.doc.Find(`meta[name="csrf-token"]`).First().Attr("content"); ok && v != "" {
		return v
	}
	v, _ := r.doc.Find(`input[name="_csrf"]`).First().Attr("value")
	return v
}

// --- store helpers ---

var linkRE = regexp.MustCompile(`https?://[^\s/]+(/(?:verify|reset)/[A-Za-z0-9_-]+)`)

// emailLink returns the path of the /verify/ or /reset/ link in the newest
// email to addr whose link starts with prefix.
func (e *env) emailLink(t *testing.T, addr, prefix string) string {
	t.Helper()
	mails, err := e.db.FindEmails(context.Background(), addr, 20)
	if err != nil {
		t.Fatalf("FindEmails(%s): %v", addr, err)
	}
	for _, m := range mails {
		for _, sub := range linkRE.FindAllStringSubmatch(m.Text, -1) {
			if strings.HasPrefix(sub[1], prefix) {
				return sub[1]
			}
		}
	}
	t.Fatalf("no email to %s with a %s link in the outbox (%d emails)", addr, prefix, len(mails))
	return ""
}

func (e *env) user(t *testing.T, email string) *orgbase.User {
	t.Helper()
	u, _, err := e.db.FindUserByEmail(context.Background(), email)
	if err != nil {
		t.Fatalf("FindUserByEmail(%s): %v", email, err)
	}
	return u
}

func (e *env) org(t *testing.T, slug, ownerEmail string) *orgbase.Org {
	t.Helper()
	o, _, err := e.db.FindOrgForMember(context.Background(), slug, e.user(t, ownerEmail).ID)
	if err != nil {
		t.Fatalf("FindOrgForMember(%s): %v", slug, err)
	}
	return o
}

// addMember inserts a membership row (there is no invite flow yet).
func (e *env) addMember(t *testing.T, orgID, userID int64, role orgbase.Role) {
	t.Helper()
	q := "INSERT INTO memberships (org_id, user_id, role, status, created_at) VALUES (?, ?, ?, 'active', ?)"
	if e.db.Dialect() == store.Postgres {
		q = "INSERT INTO memberships (org_id, user_id, role, status, created_at) VALUES ($1, $2, $3, 'active', $4)"
	}
	if _, err := e.db.SQL().ExecContext(context.Background(), q, orgID, userID, string(role), time.Now().UTC()); err != nil {
		t.Fatalf("insert membership: %v", err)
	}
}

// plantAnonymousSession stores a real, signed, anonymous session and returns
// its cookie value and secret, as an attacker fixing a victim's session would.
func (e *env) plantAnonymousSession(t *testing.T) (cookieValue, secret string) {
	t.Helper()
	secret = "planted-session-secret-0123456789abcdef"
	key, err := hex.DecodeString(testSessionKey)
	if err != nil {
		t.Fatal(err)
	}
	sc := securecookie.New(key, nil)
	cookieValue, err = sc.Encode(sessionCookie, secret)
	if err != nil {
		t.Fatal(err)
	}
	now := e.clock.Now().UTC()
	err = e.db.SaveSession(context.Background(), &orgbase.Session{ID: hashSecret(secret), CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(time.Hour)})
	if err != nil {
		t.Fatalf("SaveSession: %v", err)
	}
	return cookieValue, secret
}

func hashSecret(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

func isNotFound(err error) bool {
	var de *orgbase.Error
	return errors.As(err, &de) && de.Code == orgbase.ENOTFOUND
}
