package bench

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"log/slog"
	"math"
	mrand "math/rand/v2"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/orgbase/orgbase/internal/billing/testprovider"
	"github.com/orgbase/orgbase/internal/config"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/internal/web"
)

// sessionKey signs the benchmark's session cookies (64 hex characters).
const sessionKey = "3b9e1f6a0c4d8e2b7a5f1c9d3e6b0a4f8c2d7e1b5a9f3c6d0e4b8a2f7c1d5e9b"

const sessionCookie = "orgbase_session"

// treeDepth is how deep the seeded trees go below Primary: the limit.
const treeDepth = orgbase.DefaultMaxDepth

// orgSpec describes one seeded organization.
type orgSpec struct {
	Slug       string
	Workspaces int    // in total, the Primary workspace included
	Admins     int    // besides the owner
	Members    int    // plain members, each with 1–3 grants
	Owner      string // the owner's email; "" for the world's main owner
	// People are taken from the shared user pool from this index on: first
	// the plain members (the first of them is the probe), then the admins.
	// Overlapping ranges make people members of several organizations.
	PoolOffset int
}

// orgFixture is a seeded organization.
type orgFixture struct {
	spec    orgSpec
	org     *orgbase.Org
	owner   *orgbase.User
	levels  [][]*orgbase.Workspace // levels[d] holds the workspaces at depth d; levels[0] is Primary
	probe   *orgbase.User          // a plain member with three grants at depths 2, 3 and 4
	sees    int                    // how many workspaces the probe can see
	grants  int                    // grants given in the organization
	members int                    // memberships, the owner included
}

func (o *orgFixture) total() int {
	n := 0
	for _, l := range o.levels {
		n += len(l)
	}
	return n
}

// world is a seeded database with a server on it.
type world struct {
	dialect string
	db      *store.DB
	queries *atomic.Int64 // every SQL statement GORM runs
	handler http.Handler
	owner   *orgbase.User
	pool    []*orgbase.User
	orgs    map[string]*orgFixture
	seeded  time.Duration // how long seeding took
	out     bytes.Buffer  // the response buffer serve reuses
}

// newWorld seeds a fresh database of the dialect with the organizations and
// builds the server on it.
func newWorld(tb testing.TB, dialect string, specs ...orgSpec) *world {
	tb.Helper()
	queries := new(atomic.Int64)
	db := dbtest.Open(tb, dialect, store.Options{Queries: queries})
	w := &world{dialect: dialect, db: db, queries: queries, orgs: map[string]*orgFixture{}}
	start := time.Now()
	if err := w.seed(context.Background(), specs); err != nil {
		tb.Fatalf("seed %s: %v", dialect, err)
	}
	w.seeded = time.Since(start)
	if dialect == store.Postgres {
		// Fresh statistics, as autovacuum would have them on a live database.
		if _, err := db.SQL().Exec("ANALYZE"); err != nil {
			tb.Fatalf("analyze: %v", err)
		}
	}
	vars := map[string]string{
		"ORGBASE_ENV":          "prod",
		"ORGBASE_SESSION_KEYS": sessionKey,
		"ORGBASE_BASE_URL":     "http://bench.test",
	}
	cfg, err := config.Load(func(k string) string { return vars[k] })
	if err != nil {
		tb.Fatalf("config.Load: %v", err)
	}
	// Production logs one line per request; the benchmark discards them.
	h, err := web.NewServer(web.Deps{Config: cfg, Logger: slog.New(slog.DiscardHandler),
		Users: db, Sessions: db, Orgs: db, Mail: db, Health: db, Workspaces: db, Members: db, API: db, Alerts: db,
		Billing: db, Payments: testprovider.New(cfg.BaseURL, db)})
	if err != nil {
		tb.Fatalf("web.NewServer: %v", err)
	}
	w.handler = h
	return w
}

// workers is how many seeding goroutines the dialect can use: SQLite has a
// single connection.
func (w *world) workers() int {
	if w.dialect == store.SQLite {
		return 1
	}
	return 8
}

// parallel runs fn(0..n-1) on up to workers goroutines and returns the first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for range max(1, min(workers, n)) {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					next.Store(int64(n)) // stop the others
					return
				}
			}
		})
	}
	wg.Wait()
	return firstErr
}

func (w *world) createUser(ctx context.Context, email, name string) (*orgbase.User, error) {
	// Any hash will do: nobody signs in with a password, sessions are planted.
	u, err := w.db.CreateUser(ctx, email, name, "$argon2id$v=19$m=65536,t=1,p=2$YmVuY2g$YmVuY2g",
		store.NewToken{Hash: "bench-verify-" + email, ExpiresAt: time.Now().Add(24 * time.Hour)})
	if err != nil {
		return nil, fmt.Errorf("CreateUser(%s): %w", email, err)
	}
	return u, nil
}

var firstNames = []string{"Ada", "Grace", "Alan", "Edsger", "Barbara", "Donald", "Frances", "Ken", "Radia", "Niklaus", "Margaret", "John"}
var lastNames = []string{"Lovelace", "Hopper", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen", "Thompson", "Perlman", "Wirth", "Hamilton", "McCarthy"}

func (w *world) seed(ctx context.Context, specs []orgSpec) error {
	// Users: the main owner, the noise owners and the shared pool.
	poolSize := 0
	owners := map[string]*orgbase.User{}
	for _, s := range specs {
		poolSize = max(poolSize, s.PoolOffset+s.Members+s.Admins)
		if s.Owner != "" {
			owners[s.Owner] = nil
		}
	}
	var err error
	if w.owner, err = w.createUser(ctx, "owner@acme.test", "Olivia Owner"); err != nil {
		return err
	}
	for email := range owners {
		if owners[email], err = w.createUser(ctx, email, "Owner of "+email); err != nil {
			return err
		}
	}
	w.pool = make([]*orgbase.User, poolSize)
	err = parallel(poolSize, w.workers(), func(i int) error {
		name := fmt.Sprintf("%s %s %d", firstNames[i%len(firstNames)], lastNames[(i/len(firstNames))%len(lastNames)], i)
		u, err := w.createUser(ctx, fmt.Sprintf("person%04d@people.test", i), name)
		w.pool[i] = u
		return err
	})
	if err != nil {
		return err
	}
	// Organizations: each tree is built in order (creation locks the tree),
	// different organizations in parallel.
	fixtures := make([]*orgFixture, len(specs))
	err = parallel(len(specs), w.workers(), func(i int) error {
		s := specs[i]
		owner := w.owner
		if s.Owner != "" {
			owner = owners[s.Owner]
		}
		o, err := w.seedOrg(ctx, s, owner)
		fixtures[i] = o
		return err
	})
	if err != nil {
		return err
	}
	for _, o := range fixtures {
		w.orgs[o.spec.Slug] = o
	}
	return nil
}

// levelCounts splits n workspaces over depth levels growing geometrically
// (every level has at least one), the smallest common fan-out that holds them.
func levelCounts(n, depth int) []int {
	if n < depth {
		panic(fmt.Sprintf("levelCounts: %d workspaces cannot fill %d levels", n, depth))
	}
	for b := 1.0; ; b += 0.01 {
		counts := make([]int, depth)
		sum := 0
		for d := range depth {
			counts[d] = max(1, int(math.Round(math.Pow(b, float64(d+1)))))
			sum += counts[d]
		}
		if sum >= n {
			counts[depth-1] -= sum - n
			return counts
		}
	}
}

var topics = []string{"Clients", "Projects", "Research", "Operations", "Finance", "Design", "Support", "Sales", "Legal", "People"}

func (w *world) seedOrg(ctx context.Context, s orgSpec, owner *orgbase.User) (*orgFixture, error) {
	org, err := w.db.CreateOrg(ctx, owner.ID, store.NewOrg{Name: strings.ToUpper(s.Slug[:1]) + s.Slug[1:], Slug: s.Slug, BillingEmail: owner.Email})
	if err != nil {
		return nil, fmt.Errorf("CreateOrg(%s): %w", s.Slug, err)
	}
	root, err := w.db.FindPrimaryWorkspace(ctx, org.ID)
	if err != nil {
		return nil, err
	}
	o := &orgFixture{spec: s, org: org, owner: owner, levels: [][]*orgbase.Workspace{{root}}, members: 1}
	ownerAccess := orgbase.Access{Membership: &orgbase.Membership{OrgID: org.ID, UserID: owner.ID, Role: orgbase.RoleOwner, Status: orgbase.MemberActive}}

	// A balanced tree: level d's workspaces are spread round-robin over level
	// d-1's, so siblings differ by at most one child.
	for d, n := range levelCounts(s.Workspaces-1, treeDepth) {
		parents := o.levels[d]
		level := make([]*orgbase.Workspace, n)
		for i := range n {
			p := parents[i%len(parents)]
			nw := store.NewWorkspace{ParentID: p.ID, Name: fmt.Sprintf("%s %d.%d", topics[i%len(topics)], d+1, i)}
			if i%2 == 0 {
				nw.Description = fmt.Sprintf("Everything about %s at level %d, batch %d.", strings.ToLower(topics[i%len(topics)]), d+1, i)
			}
			if level[i], err = w.db.CreateWorkspace(ctx, org.ID, ownerAccess, nw, treeDepth); err != nil {
				return nil, fmt.Errorf("CreateWorkspace(%s/%s): %w", s.Slug, nw.Name, err)
			}
		}
		o.levels = append(o.levels, level)
	}

	people := w.pool[s.PoolOffset : s.PoolOffset+s.Members+s.Admins]
	members, admins := people[:s.Members], people[s.Members:]
	for _, u := range admins {
		if err := w.db.AddMember(ctx, org.ID, u.ID, orgbase.RoleAdmin); err != nil {
			return nil, fmt.Errorf("AddMember(admin): %w", err)
		}
	}
	o.members += len(admins) + len(members)

	// Grants: the probe gets three at depths 2, 3 and 4 in different
	// branches; the others 1–3 each at random depths, a fifth of them as
	// managers. Deterministic per organization.
	type grant struct {
		ws   *orgbase.Workspace
		user *orgbase.User
		role orgbase.WorkspaceRole
	}
	var grants []grant
	rng := mrand.New(mrand.NewPCG(uint64(len(s.Slug)), uint64(s.Workspaces)))
	for i, u := range members {
		if i == 0 {
			o.probe = u
			l2, l3, l4 := o.levels[2], o.levels[3], o.levels[4]
			grants = append(grants, grant{l2[0], u, orgbase.WorkspaceManager},
				grant{l3[len(l3)/2], u, orgbase.WorkspaceMember}, grant{l4[len(l4)-1], u, orgbase.WorkspaceMember})
			continue
		}
		seen := map[int64]bool{}
		for range 1 + rng.IntN(3) {
			level := o.levels[1+rng.IntN(treeDepth)]
			ws := level[rng.IntN(len(level))]
			if seen[ws.ID] {
				continue
			}
			seen[ws.ID] = true
			role := orgbase.WorkspaceMember
			if rng.IntN(5) == 0 {
				role = orgbase.WorkspaceManager
			}
			grants = append(grants, grant{ws, u, role})
		}
	}
	err = parallel(len(members), w.workers(), func(i int) error {
		return w.db.AddMember(ctx, org.ID, members[i].ID, orgbase.RoleMember)
	})
	if err != nil {
		return nil, fmt.Errorf("AddMember(member): %w", err)
	}
	err = parallel(len(grants), w.workers(), func(i int) error {
		g := grants[i]
		return w.db.SetGrant(ctx, org.ID, orgbase.OperatorAccess(org.ID), g.ws.ID, g.user.ID, g.role)
	})
	if err != nil {
		return nil, fmt.Errorf("SetGrant: %w", err)
	}
	o.grants = len(grants)

	// What the probe should see, by the policy itself.
	acc := orgbase.Access{Membership: &orgbase.Membership{OrgID: org.ID, UserID: o.probe.ID, Role: orgbase.RoleMember, Status: orgbase.MemberActive}}
	for _, g := range grants {
		if g.user.ID == o.probe.ID {
			acc.Grants = append(acc.Grants, orgbase.Grant{OrgID: org.ID, WorkspaceID: g.ws.ID, UserID: g.user.ID, Role: g.role, Path: g.ws.Path})
		}
	}
	for _, l := range o.levels {
		for _, ws := range l {
			if acc.CanView(ws.Path) {
				o.sees++
			}
		}
	}
	return o, nil
}

// visitor is a signed-in browser: its cookies.
type visitor struct {
	cookies map[string]*http.Cookie
}

// signIn plants a fresh signed-in session for the user, as the login form
// would leave it, and returns a browser holding its cookie.
func (w *world) signIn(tb testing.TB, userID int64) *visitor {
	tb.Helper()
	var b [32]byte
	rand.Read(b[:])
	secret := base64.RawURLEncoding.EncodeToString(b[:])
	key, _ := hex.DecodeString(sessionKey)
	sc := securecookie.New(key, nil)
	sc.MaxAge(int((720 * time.Hour).Seconds()))
	value, err := sc.Encode(sessionCookie, secret)
	if err != nil {
		tb.Fatal(err)
	}
	now := time.Now().UTC()
	var data bytes.Buffer
	if err := gob.NewEncoder(&data).Encode(map[any]any{"uid": userID, "created": now.Unix()}); err != nil {
		tb.Fatal(err)
	}
	sum := sha256.Sum256([]byte(secret))
	err = w.db.SaveSession(context.Background(), &orgbase.Session{ID: hex.EncodeToString(sum[:]), UserID: userID, Data: data.Bytes(),
		CreatedAt: now, LastSeenAt: now, ExpiresAt: now.Add(72 * time.Hour)})
	if err != nil {
		tb.Fatalf("SaveSession: %v", err)
	}
	return &visitor{cookies: map[string]*http.Cookie{sessionCookie: {Name: sessionCookie, Value: value}}}
}

// request is a browser's GET of path with the visitor's cookies (nil for none).
func (v *visitor) request(path string) *http.Request {
	req := httptest.NewRequest(http.MethodGet, "http://bench.test"+path, nil)
	req.Header.Set("Accept", "text/html,application/xhtml+xml")
	req.Header.Set("User-Agent", "Mozilla/5.0 (orgbase bench)")
	if v != nil {
		for _, c := range v.cookies {
			req.AddCookie(c)
		}
	}
	return req
}

// keep stores the cookies a response set, as a browser would.
func (v *visitor) keep(rec *httptest.ResponseRecorder) {
	if v == nil {
		return
	}
	for _, c := range rec.Result().Cookies() {
		v.cookies[c.Name] = &http.Cookie{Name: c.Name, Value: c.Value}
	}
}

// served is one request's outcome.
type served struct {
	status  int
	body    string        // only when asked for
	size    int           // bytes of body
	elapsed time.Duration // server time: ServeHTTP from call to return
	queries int64         // SQL statements the request ran
}

// serve runs one request through the handler, in process: no network, so
// the time is the server's alone (routing, middleware, queries, rendering).
// The response goes to a recorder whose buffer is allocated once and
// reused, as a socket would take the bytes, so the harness's own buffer
// growth is not counted as server time.
func (w *world) serve(v *visitor, path string, withBody bool) served {
	req := v.request(path)
	rec := httptest.NewRecorder()
	w.out.Reset()
	rec.Body = &w.out
	q0 := w.queries.Load()
	start := time.Now()
	w.handler.ServeHTTP(rec, req)
	elapsed := time.Since(start)
	q := w.queries.Load() - q0
	v.keep(rec)
	r := served{status: rec.Code, size: rec.Body.Len(), elapsed: elapsed, queries: q}
	if withBody {
		r.body = rec.Body.String()
	}
	return r
}

// warm sends the page once: the first request of a session in an
// organization records it as the last one visited (one extra write), and
// the server's first render fills its caches.
func (w *world) warm(tb testing.TB, v *visitor, path string) served {
	tb.Helper()
	var r served
	for range 2 {
		if r = w.serve(v, path, true); r.status != http.StatusOK {
			tb.Fatalf("GET %s: status %d; body:\n%.2000s", path, r.status, r.body)
		}
	}
	return r
}

// rows counts the workspace rows of a Workspaces tab.
func rows(body string) int { return strings.Count(body, `data-testid="ws-row"`) }
