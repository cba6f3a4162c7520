package store_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// alertClock is the store's clock in alert tests: a fixed instant the test
// moves forward.
type alertClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *alertClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *alertClock) Set(t time.Time) {
	c.mu.Lock()
	c.now = t
	c.mu.Unlock()
}

// alertFixture is an organization Acme (Primary > Team > Project, Primary >
// Side) with a person for every kind of recipient and non-recipient.
type alertFixture struct {
	t     *testing.T
	ctx   context.Context
	db    *store.DB
	clock *alertClock
	org   *orgbase.Org
	op    orgbase.Access
	root  *orgbase.Workspace
	team  *orgbase.Workspace
	proj  *orgbase.Workspace
	side  *orgbase.Workspace
	users map[string]*orgbase.User
	keys  int
}

func eachAlertDialect(t *testing.T, fn func(t *testing.T, f *alertFixture)) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			clk := &alertClock{now: time.Date(2026, 11, 10, 12, 0, 0, 0, time.UTC)}
			db := dbtest.Open(t, d, store.Options{Now: clk.Now})
			fn(t, newAlertFixture(t, db, clk))
		})
	}
}

func newAlertFixture(t *testing.T, db *store.DB, clk *alertClock) *alertFixture {
	t.Helper()
	ctx := context.Background()
	if _, err := db.SeedCatalog(ctx, []catalog.Entry{
		{Tool: "test.unit", Model: "one", Unit: "unit", CreditsPerUnit: credit, Category: orgbase.CategoryChatbot},
	}); err != nil {
		t.Fatal(err)
	}
	tr := newTree(t, db)
	f := &alertFixture{t: t, ctx: ctx, db: db, clock: clk, org: tr.org, op: orgbase.OperatorAccess(tr.org.ID), root: tr.root,
		users: map[string]*orgbase.User{"owner": tr.owner}}
	f.team = tr.add(t, tr.root, "Team")
	f.proj = tr.add(t, f.team, "Project")
	f.side = tr.add(t, tr.root, "Side")
	add := func(key string, role orgbase.Role, ws *orgbase.Workspace, wr orgbase.WorkspaceRole) {
		u := mustUser(t, db, key+"@acme.test")
		if err := db.AddMember(ctx, tr.org.ID, u.ID, role); err != nil {
			t.Fatal(err)
		}
		if ws != nil {
			if err := db.SetGrant(ctx, tr.org.ID, f.op, ws.ID, u.ID, wr); err != nil {
				t.Fatal(err)
			}
		}
		f.users[key] = u
	}
	add("admin", orgbase.RoleAdmin, nil, "")
	add("billing", orgbase.RoleBilling, nil, "")
	add("teammgr", orgbase.RoleMember, f.team, orgbase.WorkspaceManager)
	add("projmgr", orgbase.RoleMember, f.proj, orgbase.WorkspaceManager)
	add("rootmgr", orgbase.RoleMember, tr.root, orgbase.WorkspaceManager)
	add("teammember", orgbase.RoleMember, f.team, orgbase.WorkspaceMember)
	add("sidemgr", orgbase.RoleMember, f.side, orgbase.WorkspaceManager)
	add("nogrant", orgbase.RoleMember, nil, "")
	add("suspended", orgbase.RoleAdmin, nil, "")
	if err := db.SetMemberStatus(ctx, tr.org.ID, f.op, f.users["suspended"].ID, orgbase.MemberSuspended); err != nil {
		t.Fatal(err)
	}
	return f
}

func (f *alertFixture) grant(amount orgbase.Credits) {
	f.t.Helper()
	if _, err := f.db.GrantCredits(f.ctx, f.org.ID, amount, "test", ""); err != nil {
		f.t.Fatal(err)
	}
}

func (f *alertFixture) limit(ws *orgbase.Workspace, l orgbase.Credits) {
	f.t.Helper()
	if _, err := f.db.SetWorkspaceLimit(f.ctx, f.org.ID, f.op, ws.ID, &l); err != nil {
		f.t.Fatal(err)
	}
}

func (f *alertFixture) move(from, to orgbase.AccountRef, amount orgbase.Credits) {
	f.t.Helper()
	if _, err := f.db.Transfer(f.ctx, f.org.ID, f.op, from, to, amount, orgbase.TransferMove, "", ""); err != nil {
		f.t.Fatal(err)
	}
}

// spend charges amount to ws as the owner.
func (f *alertFixture) spend(ws *orgbase.Workspace, amount orgbase.Credits) {
	f.t.Helper()
	f.keys++
	_, err := f.db.Charge(f.ctx, f.org.ID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: f.users["owner"].ID,
		Tool: "test.unit", Model: "one", Units: 1, Credits: &amount, IdempotencyKey: fmt.Sprintf("alert-test-%d", f.keys)})
	if err != nil {
		f.t.Fatalf("charge %s to %s: %v", amount, ws.Name, err)
	}
}

// check runs CheckAlerts and wants it to raise n thresholds.
func (f *alertFixture) check(want int) {
	f.t.Helper()
	got, err := f.db.CheckAlerts(f.ctx, f.org.ID)
	if err != nil {
		f.t.Fatalf("CheckAlerts: %v", err)
	}
	if got != want {
		f.t.Fatalf("CheckAlerts raised %d thresholds, want %d", got, want)
	}
}

// titles returns the titles of a member's notifications, oldest first.
func (f *alertFixture) titles(key string) []string {
	f.t.Helper()
	ns, _, err := f.db.FindNotifications(f.ctx, f.org.ID, f.users[key].ID, store.NotificationFilter{Limit: 200})
	if err != nil {
		f.t.Fatal(err)
	}
	out := make([]string, len(ns))
	for i, n := range ns {
		out[len(ns)-1-i] = n.Title
	}
	return out
}

// alertEmails returns the subjects of the alert emails to a member, oldest first.
func (f *alertFixture) alertEmails(key string) []string {
	f.t.Helper()
	es, err := f.db.FindEmails(f.ctx, f.users[key].Email, 100)
	if err != nil {
		f.t.Fatal(err)
	}
	var out []string
	for i := len(es) - 1; i >= 0; i-- {
		if strings.HasPrefix(es[i].Subject, "Acme: ") {
			out = append(out, es[i].Subject)
		}
	}
	return out
}

func wantStrings(t *testing.T, what string, got, want []string) {
	t.Helper()
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("%s:\n got %q\nwant %q", what, got, want)
	}
}

var (
	recipientsOfTeam = []string{"owner", "admin", "billing", "teammgr", "rootmgr"}
	othersOfTeam     = []string{"projmgr", "teammember", "sidemgr", "nogrant", "suspended"}
)

func TestAlertsOnWorkspaceLimit(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(10_000 * credit)
		f.limit(f.team, 100*credit)
		f.check(0) // nothing used yet

		f.spend(f.proj, 49*credit) // Project counts against Team's limit
		f.check(0)
		f.spend(f.team, 1*credit)
		f.check(1) // 50 %
		f.check(0) // repeated: nothing more
		f.spend(f.team, 29*credit)
		f.check(0) // 79 %
		f.spend(f.team, 1*credit)
		f.check(1) // 80 %
		f.spend(f.proj, 20*credit)
		f.check(1) // 100 %
		f.check(0)

		want := []string{"Team has used 50% of its monthly limit", "Team has used 80% of its monthly limit", "Team reached its monthly limit"}
		for _, who := range recipientsOfTeam {
			wantStrings(t, who+"'s notifications", f.titles(who), want)
			var mails []string
			for _, w := range want {
				mails = append(mails, "Acme: "+w)
			}
			wantStrings(t, who+"'s alert emails", f.alertEmails(who), mails)
		}
		for _, who := range othersOfTeam {
			wantStrings(t, who+"'s notifications", f.titles(who), nil)
			wantStrings(t, who+"'s alert emails", f.alertEmails(who), nil)
		}
		n, _, err := f.db.FindNotifications(f.ctx, f.org.ID, f.users["owner"].ID, store.NotificationFilter{})
		if err != nil || len(n) != 3 {
			t.Fatalf("FindNotifications = %d, %v", len(n), err)
		}
		if n[0].Level != orgbase.NotificationCritical || n[1].Level != orgbase.NotificationWarning ||
			n[0].Path != fmt.Sprintf("/workspaces/%d", f.team.ID) || !strings.Contains(n[0].Body, "100 of its monthly limit of 100 credits in November 2026") {
			t.Errorf("newest notification = %+v", n[0])
		}
		es, _ := f.db.FindEmails(f.ctx, "owner@example.com", 1)
		if len(es) != 1 || !strings.Contains(es[0].Text, fmt.Sprintf("/orgs/acme/workspaces/%d", f.team.ID)) || es[0].OrgID == nil || *es[0].OrgID != f.org.ID {
			t.Errorf("newest email to the owner = %+v", es)
		}

		// A new month starts a new cycle.
		f.clock.Set(time.Date(2026, 12, 1, 0, 0, 1, 0, time.UTC))
		f.check(0)
		f.spend(f.team, 60*credit)
		f.check(1)
		wantStrings(t, "owner's notifications in December", f.titles("owner")[3:], []string{"Team has used 50% of its monthly limit"})
	})
}

func TestAlertsJumpingPastSeveralThresholdsNotifyOnce(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(1000 * credit)
		f.limit(f.team, 10*credit)
		f.spend(f.team, 9*credit)
		// 50 % and 80 % are recorded, and people are told once, about 80 %.
		f.check(2)
		wantStrings(t, "owner's notifications", f.titles("owner"), []string{"Team has used 80% of its monthly limit"})
		f.spend(f.team, 1*credit)
		f.check(1)
		wantStrings(t, "teammgr's alert emails", f.alertEmails("teammgr"), []string{"Acme: Team has used 80% of its monthly limit", "Acme: Team reached its monthly limit"})
	})
}

func TestAlertsConcurrentChecksRaiseOnce(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(1000 * credit)
		f.limit(f.team, 100*credit)
		f.limit(f.side, 10*credit)
		for round, spend := range []orgbase.Credits{50 * credit, 30 * credit, 20 * credit} {
			f.spend(f.team, spend)
			f.spend(f.side, spend/10)
			var wg sync.WaitGroup
			var mu sync.Mutex
			total := 0
			for range 4 {
				wg.Go(func() {
					n, err := f.db.CheckAlerts(f.ctx, f.org.ID)
					if err != nil {
						t.Errorf("round %d: CheckAlerts: %v", round, err)
					}
					mu.Lock()
					total += n
					mu.Unlock()
				})
			}
			wg.Wait()
			if total != 2 {
				t.Errorf("round %d: 4 concurrent checks raised %d thresholds, want 2 (one per workspace)", round, total)
			}
		}
		var rows []struct {
			Subject, Cycle string
			WorkspaceID    int64
			Threshold, N   int
		}
		if err := f.db.ScanForTest(f.ctx, &rows, `SELECT subject, cycle, workspace_id, threshold, COUNT(*) AS n FROM alert_states
			GROUP BY subject, cycle, workspace_id, threshold ORDER BY workspace_id, threshold`); err != nil {
			t.Fatal(err)
		}
		if len(rows) != 6 {
			t.Fatalf("alert_states = %+v, want 6 rows", rows)
		}
		for _, r := range rows {
			if r.N != 1 || r.Cycle != "2026-11" || r.Subject != "workspace_limit" {
				t.Errorf("alert row %+v, want one of each", r)
			}
		}
		if got := len(f.titles("owner")); got != 6 {
			t.Errorf("owner has %d notifications, want 6", got)
		}
		if got := len(f.alertEmails("billing")); got != 6 {
			t.Errorf("billing got %d alert emails, want 6", got)
		}
		if got := len(f.titles("sidemgr")); got != 3 {
			t.Errorf("sidemgr has %d notifications, want 3 (Side's)", got)
		}
	})
}

func TestAlertsOnBudgetResetWithEachAllocation(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(1000 * credit)
		if _, err := f.db.SetFundingMode(f.ctx, f.org.ID, f.op, f.team.ID, orgbase.FundingBudget); err != nil {
			t.Fatal(err)
		}
		f.check(0) // a budget never funded
		team := orgbase.WorkspaceAccount(f.team.ID)
		f.move(orgbase.PoolAccount(), team, 100*credit)
		f.check(0)
		f.spend(f.proj, 50*credit) // Project is shared: it spends Team's budget
		f.check(1)
		f.spend(f.team, 30*credit)
		f.check(1)
		f.check(0)

		// A top-up starts a new cycle: allocated is now 20 + 20 = 40.
		f.move(orgbase.PoolAccount(), team, 20*credit)
		f.check(0)
		f.spend(f.team, 19*credit)
		f.check(0)
		f.spend(f.team, 1*credit)
		f.check(1) // 20 of 40
		want := []string{"Team has used 50% of its budget", "Team has used 80% of its budget", "Team has used 50% of its budget"}
		for _, who := range recipientsOfTeam {
			wantStrings(t, who+"'s notifications", f.titles(who), want)
		}
		wantStrings(t, "projmgr's notifications", f.titles("projmgr"), nil)
		ns, _, _ := f.db.FindNotifications(f.ctx, f.org.ID, f.users["teammgr"].ID, store.NotificationFilter{Limit: 1})
		if len(ns) != 1 || !strings.Contains(ns[0].Body, "20 credits left of the 40 allocated") {
			t.Errorf("newest notification = %+v", ns)
		}

		// Credits moved out are not spent: a new cycle, nothing reached.
		f.move(team, orgbase.PoolAccount(), 15*credit)
		f.check(0)
		f.spend(f.team, 5*credit) // the whole allocation of 5
		f.check(3)
		wantStrings(t, "owner's newest", f.titles("owner")[3:], []string{"Team has used up its budget"})

		// Switched to shared, and back: no cycle left to alert about.
		if _, err := f.db.SetFundingMode(f.ctx, f.org.ID, f.op, f.team.ID, orgbase.FundingShared); err != nil {
			t.Fatal(err)
		}
		if _, err := f.db.SetFundingMode(f.ctx, f.org.ID, f.op, f.team.ID, orgbase.FundingBudget); err != nil {
			t.Fatal(err)
		}
		f.check(0)
	})
}

func TestAlertsOnLowPool(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(100 * credit)
		f.spend(f.team, 89*credit)
		f.check(0) // 11 % left
		f.spend(f.team, 1*credit)
		f.check(1) // 10 % left
		f.check(0)
		// Moving credits to a budget also lowers the pool: still the same cycle.
		if _, err := f.db.SetFundingMode(f.ctx, f.org.ID, f.op, f.side.ID, orgbase.FundingBudget); err != nil {
			t.Fatal(err)
		}
		f.move(orgbase.PoolAccount(), orgbase.WorkspaceAccount(f.side.ID), 5*credit)
		f.check(0)

		// A top-up resets it: 5 + 55 = 60 allocated, low at 6.
		f.grant(55 * credit)
		f.check(0)
		f.spend(f.team, 53*credit)
		f.check(0)
		f.spend(f.team, 1*credit)
		f.check(1)
		want := []string{"The organization pool is running low", "The organization pool is running low"}
		for _, who := range []string{"owner", "admin", "billing", "rootmgr"} {
			wantStrings(t, who+"'s notifications", f.titles(who), want)
			if got := len(f.alertEmails(who)); got != 2 {
				t.Errorf("%s got %d alert emails, want 2", who, got)
			}
		}
		for _, who := range []string{"teammgr", "sidemgr", "nogrant", "suspended"} {
			wantStrings(t, who+"'s notifications", f.titles(who), nil)
		}
		ns, _, _ := f.db.FindNotifications(f.ctx, f.org.ID, f.users["owner"].ID, store.NotificationFilter{Limit: 1})
		if len(ns) != 1 || ns[0].Path != "" || !strings.Contains(ns[0].Body, "6 credits left of the 60 it held after its last top-up") {
			t.Errorf("newest notification = %+v", ns)
		}

		// The level is a setting; 0 turns it off.
		if _, err := f.db.SetAlertSettings(f.ctx, f.org.ID, f.op, orgbase.AlertSettings{Thresholds: []int{50, 80, 100}, PoolPercent: 0}); err != nil {
			t.Fatal(err)
		}
		f.grant(10 * credit)
		f.spend(f.team, 16*credit)
		f.check(0)
	})
}

func TestAlertSettings(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		s, err := f.db.FindAlertSettings(f.ctx, f.org.ID)
		if err != nil || orgbase.FormatAlertThresholds(s.Thresholds) != "50,80,100" || s.PoolPercent != 10 {
			t.Fatalf("defaults = %+v, %v", s, err)
		}
		member := orgbase.Access{Membership: &orgbase.Membership{OrgID: f.org.ID, UserID: f.users["billing"].ID, Role: orgbase.RoleBilling, Status: orgbase.MemberActive}}
		if _, err := f.db.SetAlertSettings(f.ctx, f.org.ID, member, orgbase.AlertSettings{Thresholds: []int{90}, PoolPercent: 5}); orgbase.ErrorCode(err) != orgbase.EFORBIDDEN {
			t.Fatalf("billing member: got %v, want EFORBIDDEN", err)
		}
		for _, bad := range []orgbase.AlertSettings{{Thresholds: nil, PoolPercent: 5}, {Thresholds: []int{0, 50}}, {Thresholds: []int{101}}, {Thresholds: []int{50}, PoolPercent: 100}, {Thresholds: []int{1, 2, 3, 4, 5, 6}}} {
			if _, err := f.db.SetAlertSettings(f.ctx, f.org.ID, f.op, bad); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Errorf("SetAlertSettings(%+v): got %v, want EINVALID", bad, err)
			}
		}
		s, err = f.db.SetAlertSettings(f.ctx, f.org.ID, f.op, orgbase.AlertSettings{Thresholds: []int{90, 75, 90}, PoolPercent: 25})
		if err != nil || orgbase.FormatAlertThresholds(s.Thresholds) != "75,90" {
			t.Fatalf("SetAlertSettings = %+v, %v", s, err)
		}
		if es := auditChanges(t, f.db, f.org.ID, "organization.alerts"); len(es) != 1 || !strings.Contains(es[0].Changes, `"75,90"`) {
			t.Errorf("audit = %+v", es)
		}
		f.grant(100 * credit)
		f.limit(f.team, 100*credit)
		f.spend(f.team, 80*credit)
		f.check(2) // 75 % of Team's limit; the pool at 20 % left (≤ 25 %)
		wantStrings(t, "owner's notifications", f.titles("owner"), []string{"Team has used 75% of its monthly limit", "The organization pool is running low"})
	})
}

func TestNotificationsAreTheMembersOwn(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(100 * credit)
		f.limit(f.team, 10*credit)
		f.spend(f.team, 5*credit)
		f.check(1)
		f.spend(f.team, 3*credit)
		f.check(1)
		owner, admin := f.users["owner"].ID, f.users["admin"].ID
		count := func(org, user int64) int {
			n, err := f.db.CountUnreadNotifications(f.ctx, org, user)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}
		if count(f.org.ID, owner) != 2 || count(f.org.ID, admin) != 2 {
			t.Fatalf("unread = %d, %d, want 2, 2", count(f.org.ID, owner), count(f.org.ID, admin))
		}
		// Another organization of the owner sees none of them.
		other, err := f.db.CreateOrg(f.ctx, owner, store.NewOrg{Name: "Other", Slug: "other"})
		if err != nil {
			t.Fatal(err)
		}
		if ns, _, _ := f.db.FindNotifications(f.ctx, other.ID, owner, store.NotificationFilter{}); len(ns) != 0 || count(other.ID, owner) != 0 {
			t.Errorf("the other organization lists %d notifications", len(ns))
		}
		ns, _, _ := f.db.FindNotifications(f.ctx, f.org.ID, owner, store.NotificationFilter{})
		adminNs, _, _ := f.db.FindNotifications(f.ctx, f.org.ID, admin, store.NotificationFilter{})
		// Ids of someone else's notifications, or under another organization, change nothing.
		if n, _ := f.db.MarkNotificationsRead(f.ctx, f.org.ID, owner, adminNs[0].ID); n != 0 {
			t.Errorf("marked %d of the admin's notifications as the owner's", n)
		}
		if n, _ := f.db.MarkNotificationsRead(f.ctx, other.ID, owner, ns[0].ID); n != 0 {
			t.Errorf("marked %d notifications under another organization", n)
		}
		if n, _ := f.db.MarkNotificationsRead(f.ctx, f.org.ID, owner, ns[0].ID); n != 1 || count(f.org.ID, owner) != 1 {
			t.Errorf("mark one: %d changed, %d unread", n, count(f.org.ID, owner))
		}
		unread, _, _ := f.db.FindNotifications(f.ctx, f.org.ID, owner, store.NotificationFilter{Unread: true})
		if len(unread) != 1 || unread[0].ID != ns[1].ID {
			t.Errorf("unread = %+v", unread)
		}
		if n, _ := f.db.MarkNotificationsRead(f.ctx, f.org.ID, owner); n != 1 || count(f.org.ID, owner) != 0 || count(f.org.ID, admin) != 2 {
			t.Errorf("mark all: %d changed; unread owner %d, admin %d", n, count(f.org.ID, owner), count(f.org.ID, admin))
		}
		// Paging.
		page, more, _ := f.db.FindNotifications(f.ctx, f.org.ID, admin, store.NotificationFilter{Limit: 1})
		rest, more2, _ := f.db.FindNotifications(f.ctx, f.org.ID, admin, store.NotificationFilter{Limit: 1, Before: page[0].ID})
		if len(page) != 1 || !more || len(rest) != 1 || more2 || rest[0].ID >= page[0].ID {
			t.Errorf("pages: %v %v / %v %v", page, more, rest, more2)
		}
		// Leaving the organization takes one's notifications along.
		if err := f.db.RemoveMember(f.ctx, f.org.ID, f.op, admin, false); err != nil {
			t.Fatal(err)
		}
		if count(f.org.ID, admin) != 0 {
			t.Errorf("a removed member keeps notifications")
		}
	})
}

func TestSweepAlertsAndDeletedOrgs(t *testing.T) {
	eachAlertDialect(t, func(t *testing.T, f *alertFixture) {
		f.grant(100 * credit)
		f.limit(f.team, 10*credit)
		f.spend(f.team, 8*credit)
		n, err := f.db.SweepAlerts(f.ctx)
		if err != nil || n != 2 {
			t.Fatalf("SweepAlerts = %d, %v; want 2", n, err)
		}
		if n, err := f.db.SweepAlerts(f.ctx); err != nil || n != 0 {
			t.Fatalf("second SweepAlerts = %d, %v; want 0", n, err)
		}
		// An organization scheduled for deletion raises nothing, and its
		// purge takes its alerts and notifications along.
		f.spend(f.team, 2*credit)
		if _, err := f.db.DeleteOrg(f.ctx, f.org.ID, 24*time.Hour); err != nil {
			t.Fatal(err)
		}
		f.check(0)
		f.clock.Set(f.clock.Now().Add(48 * time.Hour))
		if n, err := f.db.PurgeDeletedOrgs(f.ctx); err != nil || n != 1 {
			t.Fatalf("PurgeDeletedOrgs = %d, %v", n, err)
		}
		var left []struct{ N int }
		if err := f.db.ScanForTest(f.ctx, &left, "SELECT (SELECT COUNT(*) FROM alert_states) + (SELECT COUNT(*) FROM notifications) + (SELECT COUNT(*) FROM alert_cycles) AS n"); err != nil || left[0].N != 0 {
			t.Errorf("after the purge: %+v rows left, %v", left, err)
		}
	})
}

// TestCheckAlertsFirstCheckConstant: what each budget was allocated in its
// cycle is recorded by the transfer that starts the cycle, so the first
// alert check of an organization runs as many statements with 40 budgets
// as with 4 (it used to recompute each allocation from the ledger: three
// statements per budget, seconds for a thousand).
func TestCheckAlertsFirstCheckConstant(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			counts := map[int]int64{}
			for _, n := range []int{4, 40} {
				var queries atomic.Int64
				db := dbtest.Open(t, d, store.Options{Queries: &queries})
				f := newChargeFixture(t, db)
				f.grant(100_000 * orgbase.Credit)
				for i := range n {
					ws := f.add(t, f.root, fmt.Sprint("B", i))
					f.budget(ws, 10*orgbase.Credit)
					f.mustCharge(ws, f.owner.ID, "test.unit", "one", 1, fmt.Sprint("k", i)) // 10 % used: below every threshold
				}
				queries.Store(0)
				raised, err := db.CheckAlerts(f.ctx, f.org.ID)
				if err != nil {
					t.Fatal(err)
				}
				counts[n] = queries.Load()
				if raised != 0 {
					t.Fatalf("%d budgets: %d alerts raised at 10 %% use", n, raised)
				}
			}
			if counts[4] != counts[40] {
				t.Errorf("first CheckAlerts ran %d statements with 4 budgets and %d with 40; want the same", counts[4], counts[40])
			}
		})
	}
}
