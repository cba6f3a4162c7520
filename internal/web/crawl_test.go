package web_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/gob"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// The read-only crawl: every GET route, as every kind of actor of the
// authorization matrix (and a signed-in user of no organization and a
// suspended member), on the own organization, the other one and ids of the
// other one under our URL, plus the real tokens and ids of a lived-in
// organization (usage, alerts, an invoice, a pending checkout, an API key).
// Around every request it takes each table's row count and a checksum of
// its rows (River's tables included): a GET must change no row.
//
// Session bookkeeping is the one exception, and it is deliberate: a signed-in
// request records activity (sessions.last_seen_at and expires_at, at most
// once a minute, which pushes the idle timeout; users.last_seen_at for the
// Members tab's "Last active"); saving a session records its device
// (sessions.user_agent, ip) for the Account page's session list; and the
// session's data remembers the last organization viewed (where "/" lands)
// and drops a flash message once shown. Those columns are left out of the
// checksum, sessions.data is checked key by key without those keys, and
// every excluded column must change at least once during the crawl, so the
// list stays exactly what GETs write.

// bookkeeping lists the excluded columns per table.
var bookkeeping = map[string][]string{
	"sessions": {"user_agent", "ip", "data", "last_seen_at", "expires_at"},
	"users":    {"last_seen_at"},
}

// sessionDataKeys are the session data keys a GET may change (session.go).
var sessionDataKeys = []string{"last_org", "flash_kind", "flash_msg"}

// crawlVariants are extra query strings for routes whose pages read them.
var crawlVariants = map[string][]string{
	"GET /":                              {"?next=/orgs"},
	"GET /login":                         {"?next=/orgs&email=owner@acme.test&notice=logged_out"},
	"GET /signup":                        {"?invite=:invite"},
	"GET /orgs/:org":                     {"?range=7d", "?range=bogus", "?workspace=:ws"},
	"GET /orgs/:org/workspaces":          {"?archived=1&period=last_month"},
	"GET /orgs/:org/workspaces/:ws/new":  {"?level=2"},
	"GET /orgs/:org/history":             {"?from=2020-01-01&to=2099-12-31&me=1", "?tool=bogus", "?workspace=:ws"},
	"GET /orgs/:org/history.csv":         {"?workspace=:ws"},
	"GET /orgs/:org/members":             {"?q=acme&sort=last_active&dir=desc&page=2", "?closed=1"},
	"GET /orgs/:org/members/:user/limit": {"?period=last_month"},
	"GET /orgs/:org/audit":               {"?actor=owner@acme.test&action=billing&from=2020-01-01&to=2099-12-31", "?before=1"},
	"GET /orgs/:org/notifications":       {"?filter=unread", "?before=1"},
	"GET /orgs/:org/billing/subscription": {"?action=cancel", "?action=upgrade&plan=teams",
		"?action=downgrade&plan=pro", "?action=resume"},
	"GET /orgs/:org/workspaces/:ws/limit": {"?period=last_month"},
}

// crawlHXTargets are the HX-Target headers of the routes that answer a
// particular target with a fragment; every route is also requested as htmx
// would, with this target or none.
var crawlHXTargets = map[string]string{
	"GET /orgs/:org":            "usage-panel",
	"GET /orgs/:org/workspaces": "ws-tree",
}

// crawlWorld is the authorization matrix's world with a history: the real
// tokens and ids the crawl puts in URLs.
type crawlWorld struct {
	*world
	invite, reset, verify string // link tokens
	checkout, invoice     string // a pending checkout's reference, a paid invoice's id
	key, email            int64  // an API key on the target workspace, an outbox email
}

func buildCrawlWorld(t *testing.T, e *env) *crawlWorld {
	t.Helper()
	ctx := context.Background()
	w := &crawlWorld{world: buildWorld(t, e)}
	op := orgbase.OperatorAccess(w.orgID)
	// Two more actors: signed in without an organization, and suspended.
	for _, email := range []string{"loner@nowhere.test", "suspended@acme.test"} {
		u, err := e.db.CreateUser(ctx, email, email, "x", store.NewToken{Hash: "v-" + email, ExpiresAt: time.Now().Add(time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		w.users[email] = u.ID
	}
	if err := e.db.AddMember(ctx, w.orgID, w.users["suspended@acme.test"], orgbase.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetMemberStatus(ctx, w.orgID, op, w.users["suspended@acme.test"], orgbase.MemberSuspended); err != nil {
		t.Fatal(err)
	}

	// Live link tokens: an invitation, a password reset (with its email in
	// the outbox) and an email verification.
	w.invite, w.reset, w.verify = "crawl-invite-token-0123456789abcdefghijk", "crawl-reset-token-0123456789abcdefghijkl", "crawl-verify-token-0123456789abcdefghijk"
	root, err := e.db.FindPrimaryWorkspace(ctx, w.orgID)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.CreateInvitations(ctx, w.orgID, op, store.InviteBatch{
		Role: orgbase.RoleMember, ExpiresAt: time.Now().Add(24 * time.Hour),
		Grants:  []orgbase.InvitationGrant{{WorkspaceID: root.ID, Role: orgbase.WorkspaceMember}},
		Invites: []store.NewInvite{{Email: "newcomer@acme.test", TokenHash: hashSecret(w.invite)}},
	}); err != nil {
		t.Fatal(err)
	}
	victim, err := e.db.FindUserByID(ctx, w.ownUser)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreatePasswordReset(ctx, victim, store.NewToken{Hash: hashSecret(w.reset), ExpiresAt: time.Now().Add(24 * time.Hour),
		Email: &orgbase.Email{To: victim.Email, Subject: "Reset your password", Text: "/reset/" + w.reset}}); err != nil {
		t.Fatal(err)
	}
	if err := e.db.CreateVerification(ctx, victim, store.NewToken{Hash: hashSecret(w.verify), ExpiresAt: time.Now().Add(24 * time.Hour)}); err != nil {
		t.Fatal(err)
	}
	mails, err := e.db.FindEmails(ctx, victim.Email, 1)
	if err != nil || len(mails) == 0 {
		t.Fatalf("the reset email is not in the outbox: %v", err)
	}
	w.email = mails[0].ID

	// Billing through the console, as the owner: a paid Pro plan (a
	// subscription, an invoice, credits) and a top-up left at the card page.
	owner := e.client(t)
	owner.setCookie(sessionCookie, w.plantUserSession(t, w.users["owner@acme.test"]))
	base := "/orgs/" + w.ownSlug + "/billing"
	owner.get(base).wantStatus(http.StatusOK)
	page := checkoutPath(t, owner.post(base+"/checkout", url.Values{"kind": {"plan"}, "key": {"pro"}}), w.ownSlug)
	r := owner.post(page, card("4242 4242 4242 4242"))
	r.wantStatus(http.StatusSeeOther)
	w.invoice = strings.TrimPrefix(r.header.Get("Location"), base+"/invoices/")
	if _, err := strconv.ParseInt(w.invoice, 10, 64); err != nil {
		t.Fatalf("after paying: Location %q, want an invoice", r.header.Get("Location"))
	}
	page = checkoutPath(t, owner.post(base+"/checkout", url.Values{"kind": {"top_up"}, "key": {"pack-10k"}}), w.ownSlug)
	w.checkout = page[strings.LastIndex(page, "/")+1:]

	// Usage on the target workspace past its limits, so the pages and
	// alerts have something to show, and an API key.
	entries, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.SeedCatalog(ctx, entries); err != nil {
		t.Fatal(err)
	}
	limit := 20 * orgbase.Credit
	if _, err := e.db.SetWorkspaceLimit(ctx, w.orgID, op, w.ownWS, &limit); err != nil {
		t.Fatal(err)
	}
	if err := e.db.SetMemberLimit(ctx, w.orgID, op, w.ownUser, &limit); err != nil {
		t.Fatal(err)
	}
	for i, u := range []string{"victim@acme.test", "projmgr@acme.test", "victim@acme.test"} {
		credits := 6 * orgbase.Credit
		if _, err := e.db.Charge(ctx, w.orgID, orgbase.ChargeRequest{WorkspaceID: w.ownWS, UserID: w.users[u], Tool: entries[0].Tool,
			Model: entries[0].Model, Units: 3, Credits: &credits, IdempotencyKey: "crawl-" + strconv.Itoa(i)}); err != nil {
			t.Fatalf("charge %d: %v", i, err)
		}
	}
	if n, err := e.db.CheckAlerts(ctx, w.orgID); err != nil || n == 0 {
		t.Fatalf("CheckAlerts: %d raised, %v; want the limit alerts", n, err)
	}
	key, _, err := e.db.CreateAPIKey(ctx, w.orgID, op, w.ownWS, "Crawler")
	if err != nil {
		t.Fatal(err)
	}
	w.key = key.ID
	return w
}

// realURL returns the path with the own organization and the world's real
// tokens and ids, and whether the route takes any of them.
func (w *crawlWorld) realURL(path string, own target) (string, bool) {
	id := ""
	switch {
	case strings.HasPrefix(path, "/orgs/:org/billing/checkout/"):
		id = w.checkout
	case strings.HasPrefix(path, "/orgs/:org/billing/invoices/"):
		id = w.invoice
	case strings.HasPrefix(path, "/dev/mail/"):
		id = strconv.FormatInt(w.email, 10)
	}
	token := ""
	switch {
	case strings.HasPrefix(path, "/invites/"):
		token = w.invite
	case strings.HasPrefix(path, "/reset/"):
		token = w.reset
	case strings.HasPrefix(path, "/verify/"):
		token = w.verify
	}
	if id == "" && token == "" && !strings.Contains(path, ":key") {
		return "", false
	}
	p := strings.NewReplacer(":id", id, ":token", token, ":key", strconv.FormatInt(w.key, 10)).Replace(path)
	return w.fill(p, own), true
}

// snapshot is every table's row count and checksum, and the checksums of
// the excluded bookkeeping columns.
type snapshot struct {
	tables map[string]tableSum
	kept   map[string]string // "table.column" → checksum of an excluded column
}

type tableSum struct {
	rows int64
	sum  string
}

// snapshotter reads snapshots of the test schema with one query.
type snapshotter struct {
	db    *sql.DB
	query string
	cols  [][]string // excluded columns per table, in query order
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func newSnapshotter(t *testing.T, db *sql.DB) *snapshotter {
	t.Helper()
	ctx := context.Background()
	rows, err := db.QueryContext(ctx, `SELECT c.table_name, c.column_name FROM information_schema.columns c
		JOIN information_schema.tables t ON t.table_schema = c.table_schema AND t.table_name = c.table_name
		WHERE c.table_schema = current_schema() AND t.table_type = 'BASE TABLE'
		ORDER BY c.table_name, c.ordinal_position`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols := map[string][]string{}
	var tables []string
	for rows.Next() {
		var tbl, col string
		if err := rows.Scan(&tbl, &col); err != nil {
			t.Fatal(err)
		}
		if _, ok := cols[tbl]; !ok {
			tables = append(tables, tbl)
		}
		cols[tbl] = append(cols[tbl], col)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"users", "sessions", "transfers", "audit_log", "river_job", "river_migration"} {
		if _, ok := cols[want]; !ok {
			t.Fatalf("table %s is not in the test schema (tables: %v): the crawl would not check it", want, tables)
		}
	}
	s := &snapshotter{db: db}
	var parts []string
	for _, tbl := range tables {
		excluded := bookkeeping[tbl]
		var kept []string
		var extra []string
		for _, c := range cols[tbl] {
			if slices.Contains(excluded, c) {
				extra = append(extra, fmt.Sprintf("coalesce(md5(string_agg(%[1]s::text, ',' ORDER BY %[1]s::text)), '')", quoteIdent(c)))
				continue
			}
			kept = append(kept, quoteIdent(c))
		}
		for _, c := range excluded {
			if !slices.Contains(cols[tbl], c) {
				t.Fatalf("bookkeeping lists %s.%s, which the schema does not have", tbl, c)
			}
		}
		s.cols = append(s.cols, excluded)
		ex := "''"
		if len(extra) > 0 {
			ex = "concat_ws('|', " + strings.Join(extra, ", ") + ")"
		}
		parts = append(parts, fmt.Sprintf(
			"SELECT %s, count(*), coalesce(md5(string_agg(r.crawl_row::text, ',' ORDER BY r.crawl_row::text)), ''), %s FROM (SELECT ROW(%s) AS crawl_row, * FROM %s) r",
			"'"+tbl+"'", ex, strings.Join(kept, ", "), quoteIdent(tbl)))
	}
	s.query = strings.Join(parts, "\nUNION ALL\n")
	return s
}

func (s *snapshotter) take(t *testing.T) snapshot {
	t.Helper()
	ctx := context.Background()
	rows, err := s.db.QueryContext(ctx, s.query)
	if err != nil {
		t.Fatalf("snapshot: %v", err)
	}
	defer rows.Close()
	snap := snapshot{tables: map[string]tableSum{}, kept: map[string]string{}}
	i := 0
	for rows.Next() {
		var tbl, sum, extra string
		var n int64
		if err := rows.Scan(&tbl, &n, &sum, &extra); err != nil {
			t.Fatal(err)
		}
		snap.tables[tbl] = tableSum{n, sum}
		if ex := bookkeeping[tbl]; len(ex) > 0 {
			for j, v := range strings.Split(extra, "|") {
				snap.kept[tbl+"."+ex[j]] = v
			}
		}
		i++
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// sessions.data: everything but the keys a GET may change.
	drows, err := s.db.QueryContext(ctx, "SELECT id, data FROM sessions ORDER BY id")
	if err != nil {
		t.Fatal(err)
	}
	defer drows.Close()
	h := sha256.New()
	for drows.Next() {
		var id string
		var data []byte
		if err := drows.Scan(&id, &data); err != nil {
			t.Fatal(err)
		}
		values := map[any]any{}
		if len(data) > 0 {
			if err := gob.NewDecoder(bytes.NewReader(data)).Decode(&values); err != nil {
				t.Fatalf("session %s: decode data: %v", id, err)
			}
		}
		var kv []string
		for k, v := range values {
			if ks, ok := k.(string); ok && slices.Contains(sessionDataKeys, ks) {
				continue
			}
			kv = append(kv, fmt.Sprintf("%#v=%#v", k, v))
		}
		sort.Strings(kv)
		fmt.Fprintf(h, "%s:%s\n", id, strings.Join(kv, ","))
	}
	if err := drows.Err(); err != nil {
		t.Fatal(err)
	}
	snap.tables["sessions.data without "+strings.Join(sessionDataKeys, ", ")] = tableSum{sum: hex.EncodeToString(h.Sum(nil))}
	return snap
}

// diff describes the tables whose rows changed, and lists the excluded
// columns that did.
func (a snapshot) diff(b snapshot) (changed []string, kept []string) {
	for tbl, before := range a.tables {
		after, ok := b.tables[tbl]
		switch {
		case !ok:
			changed = append(changed, tbl+" (gone)")
		case after.rows != before.rows:
			changed = append(changed, fmt.Sprintf("%s (%d rows → %d)", tbl, before.rows, after.rows))
		case after.sum != before.sum:
			changed = append(changed, tbl+" (same row count, contents changed)")
		}
	}
	for tbl := range b.tables {
		if _, ok := a.tables[tbl]; !ok {
			changed = append(changed, tbl+" (new table)")
		}
	}
	for col, v := range a.kept {
		if b.kept[col] != v {
			kept = append(kept, col)
		}
	}
	sort.Strings(changed)
	return changed, kept
}

func TestReadOnlyCrawl(t *testing.T) {
	if !slices.Contains(dbtest.Dialects(t), store.Postgres) {
		t.Skip("TEST_DATABASE_URL not set: the read-only crawl runs on PostgreSQL")
	}
	start := time.Now()
	e := newEnv(t, store.Postgres)
	w := buildCrawlWorld(t, e)
	snaps := newSnapshotter(t, e.db.SQL())

	crawlers := append(slices.Clone(actors),
		actor{name: "signed-in-no-org", email: "loner@nowhere.test"},
		actor{name: "suspended-admin", email: "suspended@acme.test"})
	own := target{name: "own-org", org: w.ownSlug, ws: w.ownWS, user: w.ownUser, inv: w.ownInv}
	targets := []target{own,
		{name: "other-org", org: w.other, ws: w.otherWS, user: w.otherUsr, inv: w.otherInv},
		{name: "own-org-other-workspace", org: w.ownSlug, ws: w.otherWS, user: w.otherUsr, inv: w.otherInv},
	}
	// One client per actor, each with a session planted before the first
	// snapshot; a minute and more later, so that the first request of each
	// records activity (and the exclusions above are exercised).
	clients := map[string]*client{}
	for _, a := range crawlers {
		c := e.client(t)
		if a.email != "" {
			c.setCookie(sessionCookie, w.plantUserSession(t, w.users[a.email]))
		}
		clients[a.name] = c
	}
	e.clock.Advance(2 * time.Minute)

	var gets []string
	for _, key := range registeredRoutes(t, e) {
		if strings.HasPrefix(key, "GET ") {
			if _, ok := routeRules[key]; !ok {
				t.Errorf("route %s is not in routeRules (authz_test.go): add it there", key)
			}
			gets = append(gets, key)
		}
	}
	// The URLs of each route: its targets, the real ids, the variants.
	type visit struct {
		target, url string
		hx          bool // sent as htmx sends it
	}
	var plan [][]visit
	for _, key := range gets {
		path := strings.TrimPrefix(key, "GET ")
		var vs []visit
		for _, tg := range targets {
			if !strings.Contains(path, ":org") && tg.name != "own-org" {
				continue
			}
			if !strings.Contains(path, ":ws") && !strings.Contains(path, ":user") && !strings.Contains(path, ":id") && tg.name == "own-org-other-workspace" {
				continue
			}
			vs = append(vs, visit{tg.name, w.fill(path, tg), false})
		}
		real, hasReal := w.realURL(path, own)
		if hasReal {
			vs = append(vs, visit{"own-org-real-ids", real, false})
		} else {
			real = w.fill(path, own)
		}
		for _, q := range crawlVariants[key] {
			q = strings.NewReplacer(":invite", w.invite, ":ws", strconv.FormatInt(w.ownWS, 10)).Replace(q)
			vs = append(vs, visit{"own-org-query", real + q, false})
		}
		vs = append(vs, visit{"own-org-htmx", real, true})
		plan = append(plan, vs)
	}
	var listed []string
	for key := range crawlVariants {
		listed = append(listed, key)
	}
	for key := range crawlHXTargets {
		listed = append(listed, key)
	}
	for _, key := range listed {
		if !slices.Contains(gets, key) {
			t.Errorf("the crawl lists %s, which the router does not have", key)
		}
	}

	before := snaps.take(t)
	keptChanged := map[string]bool{}
	requests := 0
	statuses := map[int]int{}
	ownerReal := map[string]int{}
	for i, key := range gets {
		for _, a := range crawlers {
			c := clients[a.name].in(t)
			for _, v := range plan[i] {
				req := c.newRequest(http.MethodGet, v.url, nil)
				if v.hx {
					req.Header.Set("HX-Request", "true")
					if hxt := crawlHXTargets[key]; hxt != "" {
						req.Header.Set("HX-Target", hxt)
					}
				}
				r := c.do(req)
				requests++
				statuses[r.status]++
				if a.name == "owner" && v.target == "own-org-real-ids" {
					ownerReal[v.url] = r.status
				}
				after := snaps.take(t)
				changed, kept := before.diff(after)
				for _, col := range kept {
					keptChanged[col] = true
				}
				if len(changed) > 0 {
					t.Errorf("route %s: GET %s as %s (%s, status %d) changed the database: %s",
						key, v.url, a.name, v.target, r.status, strings.Join(changed, "; "))
				}
				before = after
			}
		}
	}
	// Late writes (a goroutine a request started) show up here.
	time.Sleep(300 * time.Millisecond)
	if changed, _ := before.diff(snaps.take(t)); len(changed) > 0 {
		t.Errorf("after the crawl ended, the database changed: %s", strings.Join(changed, "; "))
	}

	// The real ids must have been served, or the crawl proved little.
	for u, s := range ownerReal {
		if s != http.StatusOK {
			t.Errorf("GET %s as owner: status %d, want 200 (the crawl's real ids should be served)", u, s)
		}
	}
	var excluded []string
	for tbl, cols := range bookkeeping {
		for _, c := range cols {
			excluded = append(excluded, tbl+"."+c)
		}
	}
	sort.Strings(excluded)
	for _, col := range excluded {
		if !keptChanged[col] {
			t.Errorf("%s is excluded as session bookkeeping, but no GET changed it: remove it from bookkeeping", col)
		}
	}
	t.Logf("%d GET routes × %d actors: %d requests (statuses %v), %d tables checked around each, in %s",
		len(gets), len(crawlers), requests, statuses, len(before.tables), time.Since(start).Round(time.Second))
	t.Logf("bookkeeping GETs may write (excluded from the checksums): %s; sessions.data keys %s",
		strings.Join(excluded, ", "), strings.Join(sessionDataKeys, ", "))
}
