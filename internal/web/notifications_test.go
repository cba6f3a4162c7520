package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// bellCount is the unread count the top bar's bell shows on a page.
func bellCount(t *testing.T, r *resp) int {
	t.Helper()
	r.wantStatus(http.StatusOK)
	n, err := strconv.Atoi(r.attr(`[data-testid="bell"] #bell-count`, "data-count"))
	if err != nil {
		t.Fatalf("%s: bell count: %v", r.req, err)
	}
	badge := strings.TrimSpace(r.find(`#bell-count`).Text())
	if (n == 0) != (badge == "") {
		t.Errorf("%s: bell badge %q for count %d", r.req, badge, n)
	}
	return n
}

// getWith fetches path with extra headers (name, value pairs).
func getWith(c *client, path string, headers ...string) *resp {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

func notificationTitles(r *resp) []string {
	var out []string
	for _, n := range r.find(`[data-testid="notification"] [data-testid="notification-title"]`).EachIter() {
		out = append(out, strings.TrimSpace(n.Text()))
	}
	return out
}

func TestNotifications(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		ctx := context.Background()
		w := creditsWorld(t, e) // 2,000 credits in the pool (trial and grant); Clients and Acme in budget mode
		base := "/orgs/" + w.slug
		manager := e.newUser(t, "Carl Manager", "carl@example.com")
		billing := e.newUser(t, "Bea Billing", "bea@example.com")
		op := orgbase.OperatorAccess(w.org.ID)
		for _, m := range []struct {
			email string
			role  orgbase.Role
		}{{"carl@example.com", orgbase.RoleMember}, {"bea@example.com", orgbase.RoleBilling}} {
			if err := e.db.AddMember(ctx, w.org.ID, e.user(t, m.email).ID, m.role); err != nil {
				t.Fatal(err)
			}
		}
		if err := e.db.SetGrant(ctx, w.org.ID, op, w.clients.ID, e.user(t, "carl@example.com").ID, orgbase.WorkspaceManager); err != nil {
			t.Fatal(err)
		}
		unread := func(email string) int {
			n, err := e.db.CountUnreadNotifications(ctx, w.org.ID, e.user(t, email).ID)
			if err != nil {
				t.Fatal(err)
			}
			return n
		}

		// Moving credits through the dialog asks for an alert check: the
		// pool falls to 5 % of what it held after its last top-up (2,000).
		key := w.owner.get(w.path(w.clients, "/credits")).inputValue("key")
		r := w.owner.post(w.path(w.clients, "/credits"), url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"1900"}, "key": {key}},
			"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", e.srv.URL+base+"/workspaces")
		r.wantStatus(http.StatusOK)
		deadline := time.Now().Add(10 * time.Second)
		for unread("olga@example.com") == 0 && time.Now().Before(deadline) {
			time.Sleep(20 * time.Millisecond)
		}
		if got := unread("olga@example.com"); got != 1 {
			t.Fatalf("after the move: the owner has %d unread notifications, want 1 (the pool alert)", got)
		}

		// Spending half of Clients' budget.
		if _, err := e.db.SeedCatalog(ctx, []catalog.Entry{{Tool: "test.unit", Model: "one", Unit: "unit", CreditsPerUnit: orgbase.Credit, Category: orgbase.CategoryChatbot}}); err != nil {
			t.Fatal(err)
		}
		amount := 950 * orgbase.Credit
		if _, err := e.db.Charge(ctx, w.org.ID, orgbase.ChargeRequest{WorkspaceID: w.clients.ID, UserID: e.user(t, "olga@example.com").ID,
			Tool: "test.unit", Model: "one", Units: 1, Credits: &amount, IdempotencyKey: "notifications-test-1"}); err != nil {
			t.Fatal(err)
		}
		if n, err := e.db.CheckAlerts(ctx, w.org.ID); err != nil || n != 1 {
			t.Fatalf("CheckAlerts = %d, %v; want 1", n, err)
		}

		t.Run("BellCountsUnread", func(t *testing.T) {
			for who, c := range map[string]*client{"owner": w.owner, "billing": billing, "manager": manager, "member": w.member} {
				want := map[string]int{"owner": 2, "billing": 2, "manager": 1, "member": 0}[who]
				if got := bellCount(t, c.in(t).get(base+"/workspaces")); got != want {
					t.Errorf("%s: bell shows %d, want %d", who, got, want)
				}
			}
			// No organization, no bell.
			w.owner.in(t).get("/account").wantNoElement(`[data-testid="bell"]`)
		})

		t.Run("PageListsNewestFirst", func(t *testing.T) {
			r := w.owner.in(t).get(base + "/notifications")
			r.wantStatus(http.StatusOK)
			want := []string{"Clients has used 50% of its budget", "The organization pool is running low"}
			if got := notificationTitles(r); strings.Join(got, "|") != strings.Join(want, "|") {
				t.Errorf("titles = %q, want %q", got, want)
			}
			if got := r.attr(`[data-testid="notification-title"]`, "href"); got != w.path(w.clients, "") {
				t.Errorf("first links to %q, want %q", got, w.path(w.clients, ""))
			}
			if got := r.find(`[data-testid="notification"][data-unread="true"]`).Length(); got != 2 {
				t.Errorf("%d unread items, want 2", got)
			}
			if got := r.text(`[data-testid="filter-unread"]`); got != "Unread (2)" {
				t.Errorf("unread filter = %q", got)
			}
			r.wantElement(`[data-testid="mark-all-read"]`)
			r.wantElement(`[data-testid="alert-settings-form"]`)
			if got := r.text(`[data-testid="alert-thresholds"]`); !strings.Contains(got, "50 %, 80 % and 100 %") {
				t.Errorf("thresholds = %q", got)
			}
			if got := bellCount(t, r); got != 2 {
				t.Errorf("bell on the page = %d, want 2", got)
			}
			// The manager sees Clients' alert only, and no settings form.
			r = manager.in(t).get(base + "/notifications")
			if got := notificationTitles(r); len(got) != 1 || got[0] != "Clients has used 50% of its budget" {
				t.Errorf("manager's titles = %q", got)
			}
			r.wantNoElement(`[data-testid="alert-settings-form"]`)
			// A member without a grant has none.
			r = w.member.in(t).get(base + "/notifications")
			r.wantElement(`[data-testid="empty-state"]`)
			r.wantNoElement(`[data-testid="mark-all-read"]`)
		})

		t.Run("EmailsLinkToTheWorkspace", func(t *testing.T) {
			mails, err := e.db.FindEmails(ctx, "carl@example.com", 10)
			if err != nil {
				t.Fatal(err)
			}
			var found bool
			for _, m := range mails {
				if m.Subject == "Tree Co: Clients has used 50% of its budget" {
					found = true
					if link := "http://example.test" + w.path(w.clients, ""); !strings.Contains(m.Text, link) || !strings.Contains(m.HTML, link) {
						t.Errorf("email lacks the link %s:\n%s", link, m.Text)
					}
				}
				if strings.Contains(m.Subject, "pool") {
					t.Errorf("the manager got the pool's alert: %q", m.Subject)
				}
			}
			if !found {
				t.Errorf("no alert email to the manager among %d", len(mails))
			}
		})

		t.Run("Menu", func(t *testing.T) {
			r := getWith(w.owner.in(t), base+"/notifications/menu", "HX-Request", "true", "HX-Target", "bell-menu")
			r.wantStatus(http.StatusOK)
			if got := r.find(`[data-testid="menu-item"]`).Length(); got != 2 {
				t.Errorf("%d menu items, want 2", got)
			}
			if got := r.attr(`#bell-count`, "hx-swap-oob"); got != "true" {
				t.Errorf("the bell count is not swapped out of band (%q)", got)
			}
			w.owner.in(t).get(base + "/notifications/menu").wantRedirect(base + "/notifications")
		})

		t.Run("OtherOrganizationsNeverSee", func(t *testing.T) {
			zed := e.newUser(t, "Zed Other", "zed@example.com")
			zslug := zed.in(t).createOrg("Zeta", "zeta")
			zed.in(t).get(base + "/notifications").wantStatus(http.StatusNotFound)
			getWith(zed.in(t), base+"/notifications/menu", "HX-Request", "true").wantStatus(http.StatusNotFound)
			r := zed.in(t).get("/orgs/" + zslug + "/notifications")
			r.wantElement(`[data-testid="empty-state"]`)
			if bellCount(t, r) != 0 {
				t.Error("Zeta's bell counts another organization's notifications")
			}
			// The owner's notification ids, under Zeta's URL or as someone else: not found.
			ns, _, err := e.db.FindNotifications(ctx, w.org.ID, e.user(t, "olga@example.com").ID, store.NotificationFilter{})
			if err != nil || len(ns) != 2 {
				t.Fatalf("owner's notifications = %d, %v", len(ns), err)
			}
			zed.in(t).post("/orgs/"+zslug+"/notifications/read", url.Values{"id": {id(ns[0].ID)}}).wantStatus(http.StatusNotFound)
			manager.in(t).post(base+"/notifications/read", url.Values{"id": {id(ns[1].ID)}}).wantStatus(http.StatusNotFound)
			if got := unread("olga@example.com"); got != 2 {
				t.Errorf("the owner has %d unread after others tried, want 2", got)
			}
		})

		t.Run("MarkRead", func(t *testing.T) {
			ns, _, _ := e.db.FindNotifications(ctx, w.org.ID, e.user(t, "olga@example.com").ID, store.NotificationFilter{})
			// One, through htmx: the item comes back read, with the bell's count.
			r := w.owner.in(t).post(base+"/notifications/read", url.Values{"id": {id(ns[0].ID)}, "view": {"item"}}, "HX-Request", "true")
			r.wantStatus(http.StatusOK)
			if got := r.attr(`#notification-`+id(ns[0].ID), "data-unread"); got != "false" {
				t.Errorf("item data-unread = %q, want false", got)
			}
			if got := r.attr(`#bell-count`, "data-count"); got != "1" || r.attr(`#bell-count`, "hx-swap-oob") != "true" {
				t.Errorf("bell count = %q, want 1 out of band", got)
			}
			if got := r.text(`#unread-count[hx-swap-oob="true"]`); got != "Unread (1)" {
				t.Errorf("unread filter count = %q, want 1 out of band", got)
			}
			// Reading it again is harmless.
			w.owner.in(t).post(base+"/notifications/read", url.Values{"id": {id(ns[0].ID)}}).wantRedirect(base + "/notifications")
			// All, with a plain form.
			w.owner.in(t).post(base+"/notifications/read", nil).wantRedirect(base + "/notifications")
			r = w.owner.in(t).get(base + "/notifications")
			if got := r.find(`[data-testid="notification"][data-unread="false"]`).Length(); got != 2 {
				t.Errorf("%d read items, want 2", got)
			}
			if bellCount(t, r) != 0 {
				t.Error("the bell still counts after mark all read")
			}
			r.wantNoElement(`[data-testid="mark-all-read"]`)
			w.owner.in(t).get(base + "/notifications?filter=unread").wantElement(`[data-testid="empty-state"]`)
			// Others' notifications stay unread.
			if got := unread("bea@example.com"); got != 2 {
				t.Errorf("billing has %d unread, want 2", got)
			}
			// The menu's "Mark all read" answers with the menu, every item read.
			r = billing.in(t).post(base+"/notifications/read", url.Values{"view": {"menu"}}, "HX-Request", "true")
			if got := r.find(`[data-testid="menu-item"]`).Length(); got != 2 {
				t.Errorf("menu after mark all read: %d items, want 2", got)
			}
			r.wantNoElement(`[data-testid="menu-mark-all-read"]`)
			if got := r.attr(`#bell-count`, "data-count"); got != "0" {
				t.Errorf("bell count after the menu's mark all read = %q, want 0", got)
			}
			if got := unread("bea@example.com"); got != 0 {
				t.Errorf("billing has %d unread after the menu's mark all read, want 0", got)
			}
		})

		t.Run("AlertLevels", func(t *testing.T) {
			billing.in(t).post(base+"/notifications/settings", url.Values{"thresholds": {"60"}, "pool_percent": {"5"}}).wantStatus(http.StatusForbidden)
			r := w.owner.in(t).post(base+"/notifications/settings", url.Values{"thresholds": {"50, 120"}, "pool_percent": {"abc"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("thresholds", "pool_percent")
			if got := r.inputValue("thresholds"); got != "50, 120" {
				t.Errorf("thresholds input = %q, want the input kept", got)
			}
			w.owner.in(t).post(base+"/notifications/settings", url.Values{"thresholds": {"90, 40"}, "pool_percent": {"20"}}).wantRedirect(base + "/notifications")
			r = w.owner.in(t).get(base + "/notifications")
			if got := r.text(`[data-testid="alert-thresholds"]`); !strings.Contains(got, "40 % and 90 %") {
				t.Errorf("thresholds = %q", got)
			}
			if got := r.text(`[data-testid="alert-pool"]`); !strings.Contains(got, "20 %") {
				t.Errorf("pool level = %q", got)
			}
		})
	})
}
