package web_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// usageWorld is the workspace world with a test catalog (images at 3
// credits, chat at 0.12 per 1,000 words, a unit at 1 credit) and 2,000
// credits in the pool (the Free plan's 1,000 trial credits and a grant of
// 1,000).
func usageWorld(t *testing.T, e *env) *wsWorld {
	t.Helper()
	w := newWSWorld(t, e)
	ctx := context.Background()
	if _, err := e.db.SeedCatalog(ctx, []catalog.Entry{
		{Tool: "test.image", Model: "m1", Unit: "image", CreditsPerUnit: 3 * orgbase.Credit, Category: orgbase.CategoryImageSpeech},
		{Tool: "test.chat", Model: "m2", Unit: "1000 words", CreditsPerUnit: 120, Category: orgbase.CategoryChatbot},
		{Tool: "test.unit", Model: "one", Unit: "unit", CreditsPerUnit: orgbase.Credit, Category: orgbase.CategoryChatbot},
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.db.GrantCredits(ctx, w.org.ID, 1000*orgbase.Credit, "test", "grant-1"); err != nil {
		t.Fatal(err)
	}
	return w
}

func (w *wsWorld) charge(t *testing.T, ws *orgbase.Workspace, userID int64, tool, model string, units int64, key string) {
	t.Helper()
	_, err := w.e.db.Charge(context.Background(), w.org.ID, orgbase.ChargeRequest{WorkspaceID: ws.ID, UserID: userID, Tool: tool, Model: model, Units: units, IdempotencyKey: key})
	if err != nil {
		t.Fatalf("charge %s on %s: %v", key, ws.Name, err)
	}
}

func (w *wsWorld) limitOf(t *testing.T, ws *orgbase.Workspace) string {
	t.Helper()
	got, err := w.e.db.FindWorkspaceByID(context.Background(), w.org.ID, ws.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.MonthlyLimit == nil {
		return "none"
	}
	return got.MonthlyLimit.String()
}

// rowCell is the text of a cell of a workspace's row.
func rowCell(r *resp, name, testid string) string {
	return strings.Join(strings.Fields(r.find(`[data-ws-name="`+name+`"] > [data-testid="ws-row"] [data-testid="`+testid+`"]`).First().Text()), " ")
}

func TestWorkspaceLimits(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := usageWorld(t, e)
		ctx := context.Background()
		tree := "/orgs/" + w.slug + "/workspaces"
		htmx := []string{"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", e.srv.URL + tree}
		set := func(c *client, ws *orgbase.Workspace, form url.Values) *resp {
			return c.post(w.path(ws, "/limit"), form, htmx...)
		}

		t.Run("SetFromTheTree", func(t *testing.T) {
			r := w.owner.get(tree)
			if got := rowCell(r, "Clients", "ws-limit"); got != "Set limit" {
				t.Errorf("limit cell of Clients = %q, want Set limit", got)
			}
			r = w.owner.getWith(w.path(w.clients, "/limit"), "HX-Request", "true")
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="limit-current"]`); got != "None" {
				t.Errorf("dialog's current limit = %q, want None", got)
			}
			r = set(w.owner, w.clients, url.Values{"monthly_limit": {"1,000.5"}})
			r.wantStatus(http.StatusOK)
			if got := r.header.Get("HX-Trigger"); got != "close-modal" {
				t.Errorf("HX-Trigger = %q, want close-modal", got)
			}
			if got := r.attr(`#ws-tree`, "hx-swap-oob"); got != "true" {
				t.Errorf("tree hx-swap-oob = %q, want true", got)
			}
			if got := rowCell(r, "Clients", "ws-limit-text"); got != "0 / 1,000.5" {
				t.Errorf("limit of Clients in the tree = %q, want 0 / 1,000.5", got)
			}
			if got := w.limitOf(t, w.clients); got != "1,000.5" {
				t.Errorf("stored limit = %s, want 1,000.5", got)
			}
			if !strings.Contains(r.text(`[data-testid="toast"]`), "1,000.5 credits") {
				t.Errorf("toast = %q", r.text(`[data-testid="toast"]`))
			}
		})

		t.Run("InvalidInputChangesNothing", func(t *testing.T) {
			for _, tc := range []struct{ value, want string }{
				{"-5", "cannot be negative"},
				{"lots", "Enter an amount like 12 or 0.125"},
				{"1.2345", "at most three decimals"},
				{"1e3", "Enter an amount like 12 or 0.125"},
				{"2000", "cannot exceed that of Clients (1,000.5 credits)"}, // above the parent's
			} {
				ws := w.clients
				if tc.value == "2000" {
					ws = w.acme
				}
				r := set(w.owner, ws, url.Values{"monthly_limit": {tc.value}})
				r.wantStatus(http.StatusUnprocessableEntity)
				if got := r.fieldError("monthly_limit"); !strings.Contains(got, tc.want) {
					t.Errorf("%q: error %q, want %q", tc.value, got, tc.want)
				}
				if got := r.inputValue("monthly_limit"); got != tc.value {
					t.Errorf("%q: the field holds %q after the refusal, want the input kept", tc.value, got)
				}
			}
			if got := w.limitOf(t, w.clients); got != "1,000.5" {
				t.Errorf("Clients limit = %s after refusals, want 1,000.5", got)
			}
			if got := w.limitOf(t, w.acme); got != "none" {
				t.Errorf("Acme limit = %s after refusals, want none", got)
			}
			// Below a limit inside it.
			set(w.owner, w.web, url.Values{"monthly_limit": {"500"}}).wantStatus(http.StatusOK)
			r := set(w.owner, w.clients, url.Values{"monthly_limit": {"400"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			if got := r.fieldError("monthly_limit"); !strings.Contains(got, "Web inside Clients has a limit of 500 credits") {
				t.Errorf("error %q, want the limit inside named", got)
			}
			if got := w.limitOf(t, w.clients); got != "1,000.5" {
				t.Errorf("Clients limit = %s, want 1,000.5", got)
			}
			// The dialog names the limit above.
			r = w.owner.getWith(w.path(w.acme, "/limit"), "HX-Request", "true")
			if got := r.text(`#monthly_limit-hint`); !strings.Contains(got, "At most 1,000.5 credits, the limit of Clients") {
				t.Errorf("hint = %q, want the parent's limit", got)
			}
		})

		t.Run("ClearAndEmpty", func(t *testing.T) {
			r := set(w.owner, w.web, url.Values{"monthly_limit": {"500"}, "clear": {"1"}})
			r.wantStatus(http.StatusOK)
			if got := w.limitOf(t, w.web); got != "none" {
				t.Errorf("Web limit = %s after Remove limit, want none", got)
			}
			set(w.owner, w.web, url.Values{"monthly_limit": {"20"}}).wantStatus(http.StatusOK)
			set(w.owner, w.web, url.Values{"monthly_limit": {"  "}}).wantStatus(http.StatusOK)
			if got := w.limitOf(t, w.web); got != "none" {
				t.Errorf("Web limit = %s after an empty amount, want none", got)
			}
		})

		t.Run("WithoutJavaScript", func(t *testing.T) {
			r := w.owner.get(w.path(w.intl, "/limit"))
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="ws-limit-form"]`)
			r = w.owner.post(w.path(w.intl, "/limit"), url.Values{"monthly_limit": {"x"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("monthly_limit")
			r = w.owner.post(w.path(w.intl, "/limit"), url.Values{"monthly_limit": {"300"}})
			r.wantRedirect(tree)
			if got := w.limitOf(t, w.intl); got != "300" {
				t.Errorf("Internal limit = %s, want 300", got)
			}
		})

		t.Run("WhoMaySetIt", func(t *testing.T) {
			// Mia manages Acme: she sets the limits below it, not Acme's own.
			if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.acme.ID, e.user(t, "mia@example.com").ID, orgbase.WorkspaceManager); err != nil {
				t.Fatal(err)
			}
			w.member.get(w.path(w.acme, "/limit")).wantStatus(http.StatusForbidden)
			w.member.post(w.path(w.acme, "/limit"), url.Values{"monthly_limit": {"1"}}).wantStatus(http.StatusForbidden)
			w.member.post(w.path(w.intl, "/limit"), url.Values{"monthly_limit": {"1"}}).wantStatus(http.StatusNotFound)
			r := w.member.get(tree)
			r.wantNoElement(`[data-ws-name="Acme"] > [data-testid="ws-row"] [data-testid="ws-limit-open"]`)
			r.wantElement(`[data-ws-name="Web"] > [data-testid="ws-row"] [data-testid="ws-limit-open"]`)
			w.member.post(w.path(w.web, "/limit"), url.Values{"monthly_limit": {"10"}}).wantRedirect(tree)
			if got := w.limitOf(t, w.acme); got != "none" {
				t.Errorf("Acme limit = %s, want none", got)
			}
			if got := w.limitOf(t, w.web); got != "10" {
				t.Errorf("Web limit = %s, want 10", got)
			}
			// The home page shows the limit card, with the link only to those who may change it.
			r = w.member.get(w.path(w.acme, ""))
			r.wantElement(`[data-testid="ws-limit-card"]`)
			r.wantNoElement(`[data-testid="ws-limit-card"] [data-testid="ws-limit-open"]`)
			r = w.member.get(w.path(w.web, ""))
			r.wantElement(`[data-testid="ws-limit-card"] [data-testid="ws-limit-open"]`)
		})
	})
}

func TestWorkspaceUsageColumns(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := usageWorld(t, e)
		owner := e.user(t, "olga@example.com").ID
		tree := "/orgs/" + w.slug + "/workspaces"

		// 40 days ago: 10 images on Web (30 credits), outside this month and the last 30 days.
		e.clock.Advance(-40 * 24 * time.Hour)
		w.charge(t, w.web, owner, "test.image", "m1", 10, "old")
		e.clock.Advance(40 * 24 * time.Hour)
		w.charge(t, w.web, owner, "test.image", "m1", 2, "k1")  // 6
		w.charge(t, w.acme, owner, "test.chat", "m2", 5, "k2")  // 0.6
		w.charge(t, w.intl, owner, "test.image", "m1", 1, "k3") // 3

		want := func(r *resp, rows map[string][3]string) {
			t.Helper()
			for name, cols := range rows {
				for i, id := range []string{"ws-used-image", "ws-used-chat", "ws-used-total"} {
					if got := rowCell(r, name, id); got != cols[i] {
						t.Errorf("%s: %s of %s = %q, want %q", r.req, id, name, got, cols[i])
					}
				}
			}
		}
		r := w.owner.get(tree)
		r.wantStatus(http.StatusOK)
		if got := r.attr(`[data-testid="ws-period"] option[selected]`, "value"); got != "month" {
			t.Errorf("selected period = %q, want month", got)
		}
		thisMonth := map[string][3]string{
			"Primary":  {"9", "0.6", "9.6"},
			"Clients":  {"6", "0.6", "6.6"},
			"Acme":     {"6", "0.6", "6.6"},
			"Web":      {"6", "0", "6"},
			"Internal": {"3", "0", "3"},
		}
		want(r, thisMonth)

		r = w.owner.get(tree + "?period=30d")
		want(r, thisMonth)
		// With htmx, only the tree comes back.
		r = w.owner.getWith(tree+"?period=90d", "HX-Request", "true", "HX-Target", "ws-tree")
		r.wantStatus(http.StatusOK)
		r.wantNoElement(`nav[aria-label="Organization"]`)
		if got := r.attr(`[data-testid="ws-period"] option[selected]`, "value"); got != "90d" {
			t.Errorf("selected period = %q, want 90d", got)
		}
		want(r, map[string][3]string{
			"Primary": {"39", "0.6", "39.6"},
			"Clients": {"36", "0.6", "36.6"},
			"Web":     {"36", "0", "36"},
		})
		// An unknown period is this month.
		want(w.owner.get(tree+"?period=forever"), thisMonth)
		// The limit dialog and the home page show this month's use, limit or not.
		r = w.owner.getWith(w.path(w.clients, "/limit"), "HX-Request", "true")
		if got := r.text(`[data-testid="limit-used"]`); got != "6.6 credits" {
			t.Errorf("limit dialog of Clients: used %q, want 6.6 credits", got)
		}
		r = w.owner.get(w.path(w.clients, ""))
		if got := r.text(`[data-testid="ws-limit-card"]`); !strings.Contains(got, "6.6 credits used in") {
			t.Errorf("limit card of Clients = %q, want 6.6 credits used", got)
		}

		t.Run("LimitBadges", func(t *testing.T) {
			op := orgbase.OperatorAccess(w.org.ID)
			ctx := context.Background()
			limit := func(ws *orgbase.Workspace, c orgbase.Credits) {
				if _, err := e.db.SetWorkspaceLimit(ctx, w.org.ID, op, ws.ID, &c); err != nil {
					t.Fatal(err)
				}
			}
			limit(w.clients, 8*orgbase.Credit) // 6.6 used: 82 %
			limit(w.intl, 4*orgbase.Credit)    // 3 used: 75 %
			limit(w.web, 6*orgbase.Credit)     // 6 used: 100 %
			r := w.owner.get(tree)
			badge := func(name string) string {
				return r.find(`[data-ws-name="`+name+`"] > [data-testid="ws-row"] [data-testid="ws-limit-badge"]`).AttrOr("data-state", "")
			}
			for name, state := range map[string]string{"Clients": "near", "Internal": "", "Web": "reached", "Acme": "", "Primary": ""} {
				if got := badge(name); got != state {
					t.Errorf("limit badge of %s = %q, want %q", name, got, state)
				}
			}
			if got := rowCell(r, "Clients", "ws-limit-badge"); got != "Near limit" {
				t.Errorf("Clients badge text = %q, want Near limit", got)
			}
			if got := rowCell(r, "Web", "ws-limit-badge"); got != "Limit reached" {
				t.Errorf("Web badge text = %q, want Limit reached", got)
			}
			if got := rowCell(r, "Clients", "ws-limit-text"); got != "6.6 / 8" {
				t.Errorf("Clients limit text = %q, want 6.6 / 8", got)
			}
			bar := r.find(`[data-ws-name="Clients"] > [data-testid="ws-row"] [role="progressbar"]`)
			if bar.AttrOr("aria-valuenow", "") != "82" || !strings.Contains(bar.AttrOr("aria-valuetext", ""), "6.6 of 8 credits") {
				t.Errorf("Clients progress bar: aria-valuenow=%q aria-valuetext=%q", bar.AttrOr("aria-valuenow", ""), bar.AttrOr("aria-valuetext", ""))
			}
			// The month's use counts the month only: the old charge is not in it.
			if got := rowCell(r, "Primary", "ws-limit"); got != "Set limit" {
				t.Errorf("Primary limit cell = %q, want Set limit", got)
			}
			// The home page says so too.
			r = w.owner.get(w.path(w.web, ""))
			if got := r.attr(`[data-testid="ws-limit-card"] [data-testid="ws-limit-badge"]`, "data-state"); got != "reached" {
				t.Errorf("home page limit state = %q, want reached", got)
			}
		})
	})
}

func TestMemberLimits(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := usageWorld(t, e)
		ctx := context.Background()
		members := "/orgs/" + w.slug + "/members"
		mia := e.user(t, "mia@example.com").ID
		olga := e.user(t, "olga@example.com").ID
		path := members + "/" + id(mia) + "/limit"
		htmx := []string{"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", e.srv.URL + members}
		limitOf := func(uid int64) string {
			t.Helper()
			ms, err := e.db.FindMembers(ctx, w.org.ID)
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range ms {
				if m.UserID == uid {
					if m.MonthlyLimit == nil {
						return "none"
					}
					return m.MonthlyLimit.String()
				}
			}
			t.Fatalf("member %d not found", uid)
			return ""
		}
		if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.intl.ID, mia, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		w.charge(t, w.intl, mia, "test.image", "m1", 1, "mia-1") // 3 credits this month

		row := func(r *resp, uid int64) string {
			return strings.Join(strings.Fields(r.find(`#member-`+id(uid)+` [data-testid="member-limit-text"]`).Text()), " ")
		}
		r := w.owner.get(members)
		r.wantStatus(http.StatusOK)
		if got := row(r, mia); got != "No limit" {
			t.Errorf("Mia's limit = %q, want No limit", got)
		}
		// The dialog shows what she spent this month, limit or not.
		r = w.owner.getWith(path, "HX-Request", "true")
		r.wantStatus(http.StatusOK)
		if got := r.text(`[data-testid="limit-used"]`); got != "3 credits" {
			t.Errorf("dialog: used %q, want 3 credits", got)
		}

		r = w.owner.post(path, url.Values{"monthly_limit": {"50"}}, htmx...)
		r.wantStatus(http.StatusOK)
		if got := r.header.Get("HX-Trigger"); got != "close-modal" {
			t.Errorf("HX-Trigger = %q, want close-modal", got)
		}
		if got := r.attr(`#member-`+id(mia), "hx-swap-oob"); got != "true" {
			t.Errorf("row hx-swap-oob = %q, want true", got)
		}
		if got := row(r, mia); got != "3 / 50" {
			t.Errorf("Mia's row = %q, want 3 / 50", got)
		}
		if got := limitOf(mia); got != "50" {
			t.Errorf("Mia's limit = %s, want 50", got)
		}

		for value, want := range map[string]string{"-1": "cannot be negative", "fifty": "Enter an amount like 12", "0.0001": "at most three decimals"} {
			r = w.owner.post(path, url.Values{"monthly_limit": {value}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			if got := r.fieldError("monthly_limit"); !strings.Contains(got, want) {
				t.Errorf("%q: error %q, want %q", value, got, want)
			}
		}
		if got := limitOf(mia); got != "50" {
			t.Errorf("Mia's limit = %s after refusals, want 50", got)
		}

		// The limit applies: a charge past it is refused.
		_, err := e.db.Charge(ctx, w.org.ID, orgbase.ChargeRequest{WorkspaceID: w.intl.ID, UserID: mia, Tool: "test.image", Model: "m1", Units: 20, IdempotencyKey: "mia-2"})
		var lr *orgbase.LimitReached
		if !errors.As(err, &lr) || lr.Scope != orgbase.LimitMember {
			t.Errorf("charge past Mia's limit: %v, want a member limit refusal", err)
		}

		// Without JavaScript, clearing redirects back to the tab.
		r = w.owner.get(path)
		r.wantStatus(http.StatusOK)
		r.wantElement(`[data-testid="member-limit-clear"]`)
		w.owner.post(path, url.Values{"monthly_limit": {"50"}, "clear": {"1"}}).wantRedirect(members)
		if got := limitOf(mia); got != "none" {
			t.Errorf("Mia's limit = %s after Remove limit, want none", got)
		}

		// An admin may not set an owner's limit; a member may not use the tab at all.
		admin := e.newUser(t, "Ada Admin", "ada@example.com")
		if err := e.db.AddMember(ctx, w.org.ID, e.user(t, "ada@example.com").ID, orgbase.RoleAdmin); err != nil {
			t.Fatal(err)
		}
		admin.post(members+"/"+id(olga)+"/limit", url.Values{"monthly_limit": {"1"}}).wantStatus(http.StatusForbidden)
		admin.get(members).wantStatus(http.StatusOK)
		r = admin.get(members)
		r.wantNoElement(`#member-` + id(olga) + ` [data-testid="member-limit-open"]`)
		r.wantElement(`#member-` + id(mia) + ` [data-testid="member-limit-open"]`)
		if got := limitOf(olga); got != "none" {
			t.Errorf("Olga's limit = %s, want none", got)
		}
		w.member.post(path, url.Values{"monthly_limit": {"1"}}).wantStatus(http.StatusForbidden)
		w.owner.get(members + "/999999/limit").wantStatus(http.StatusNotFound)
	})
}
