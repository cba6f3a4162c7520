package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// creditsWorld is the workspace world with 2,000 credits in the pool (the
// Free plan's 1,000 trial credits, granted with the organization, and a
// grant of 1,000) and Clients and Acme in budget mode.
func creditsWorld(t *testing.T, e *env) *wsWorld {
	t.Helper()
	w := newWSWorld(t, e)
	ctx := context.Background()
	if _, err := e.db.GrantCredits(ctx, w.org.ID, 1000*orgbase.Credit, "test", "grant-1"); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*orgbase.Workspace{w.clients, w.acme} {
		if _, err := e.db.SetFundingMode(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), ws.ID, orgbase.FundingBudget); err != nil {
			t.Fatal(err)
		}
	}
	return w
}

func (w *wsWorld) balances(t *testing.T) (pool, clients, acme orgbase.Credits) {
	t.Helper()
	accts, err := w.e.db.FindAccounts(context.Background(), w.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range accts {
		switch {
		case a.Kind == orgbase.AccountPool:
			pool = a.Balance
		case a.WorkspaceID != nil && *a.WorkspaceID == w.clients.ID:
			clients = a.Balance
		case a.WorkspaceID != nil && *a.WorkspaceID == w.acme.ID:
			acme = a.Balance
		}
	}
	return
}

func (w *wsWorld) checkLedger(t *testing.T) {
	t.Helper()
	chk, err := w.e.db.CheckLedger(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if !chk.OK() {
		t.Errorf("ledger check: %v", chk.Mismatches)
	}
}

func rowCredits(r *resp, name string) string {
	return strings.TrimSpace(r.find(`[data-ws-name="` + name + `"] > [data-testid="ws-row"] [data-testid="ws-credits"]`).First().Text())
}

func TestCredits(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := creditsWorld(t, e)
		base := "/orgs/" + w.slug + "/workspaces"
		htmx := []string{"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", e.srv.URL + base}
		move := func(c *client, ws *orgbase.Workspace, form url.Values) *resp {
			return c.post(w.path(ws, "/credits"), form, htmx...)
		}

		t.Run("ColumnShowsBalances", func(t *testing.T) {
			r := w.owner.get(base)
			r.wantStatus(http.StatusOK)
			for name, want := range map[string]string{"Primary": "2,000", "Clients": "0", "Acme": "0", "Web": "Shared", "Internal": "Shared"} {
				if got := rowCredits(r, name); got != want {
					t.Errorf("credits of %s = %q, want %q", name, got, want)
				}
			}
			r.wantElement(`[data-testid="org-funding"]`)
		})

		t.Run("Overview", func(t *testing.T) {
			r := w.owner.get("/orgs/" + w.slug)
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="stat-Remaining credits"]`); got != "2,000" {
				t.Errorf("Remaining credits = %q, want 2,000", got)
			}
			r = w.member.get("/orgs/" + w.slug) // no grant: no credits to show
			r.wantStatus(http.StatusOK)
			r.wantNoElement(`[data-testid="stat-Remaining credits"]`)
			r.wantNoElement(`[data-testid="stat-Credits available"]`)
		})

		t.Run("DialogAndMove", func(t *testing.T) {
			r := w.owner.get(w.path(w.clients, "/credits"))
			r.wantStatus(http.StatusOK)
			key := r.inputValue("key")
			if key == "" {
				t.Fatal("no idempotency key in the dialog")
			}
			if got := r.attr(`select[name="account"] option[selected]`, "value"); got != "pool" {
				t.Errorf("default source = %q, want pool", got)
			}
			// The preview computes both balances on the server.
			p := w.owner.get(w.path(w.clients, "/credits?direction=in&account=pool&amount=250.5"))
			if got := p.text(`[data-testid="preview-from-after"]`); got != "1,749.5" {
				t.Errorf("preview source after = %q, want 1,749.5", got)
			}
			if got := p.text(`[data-testid="preview-to-after"]`); got != "250.5" {
				t.Errorf("preview destination after = %q, want 250.5", got)
			}
			form := url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"250.5"}, "key": {key}}
			r = move(w.owner, w.clients, form)
			r.wantStatus(http.StatusOK)
			if r.header.Get("HX-Trigger") != "close-modal" {
				t.Errorf("HX-Trigger = %q, want close-modal", r.header.Get("HX-Trigger"))
			}
			if got := rowCredits(r, "Clients"); got != "250.5" {
				t.Errorf("tree shows Clients %q, want 250.5", got)
			}
			// A double submit with the same key moves nothing more.
			r = move(w.owner, w.clients, form)
			r.wantStatus(http.StatusOK)
			if !strings.Contains(r.body, "Already done") {
				t.Errorf("replay message missing: %s", abbrev(r.body))
			}
			pool, clients, _ := w.balances(t)
			if pool != 1749500 || clients != 250500 {
				t.Errorf("balances pool=%s clients=%s, want 1,749.5 and 250.5", pool, clients)
			}
			// Back: from Clients to Acme (another budget workspace).
			r = move(w.owner, w.clients, url.Values{"direction": {"out"}, "account": {id(w.acme.ID)}, "amount": {"0.5"}, "key": {"k-out"}})
			r.wantStatus(http.StatusOK)
			_, clients, acme := w.balances(t)
			if clients != 250000 || acme != 500 {
				t.Errorf("balances clients=%s acme=%s, want 250 and 0.5", clients, acme)
			}
			w.checkLedger(t)
		})

		t.Run("MoreThanTheBalance", func(t *testing.T) {
			pool0, clients0, acme0 := w.balances(t)
			r := move(w.owner, w.clients, url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"100000"}, "key": {"k-big"}})
			r.wantStatus(http.StatusUnprocessableEntity)
			if got := r.fieldError("amount"); !strings.Contains(got, "has only 1,749.5 credits") {
				t.Errorf("amount error = %q, want the store's message", got)
			}
			pool, clients, acme := w.balances(t)
			if pool != pool0 || clients != clients0 || acme != acme0 {
				t.Errorf("balances changed after a refused move")
			}
		})

		t.Run("BadAmounts", func(t *testing.T) {
			pool0, clients0, _ := w.balances(t)
			for _, amt := range []string{"", "0", "-5", "1.2345", "1e3", "99999999999999999999", "5\xff", "abc"} {
				r := move(w.owner, w.clients, url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {amt}, "key": {"k-bad"}})
				r.wantStatus(http.StatusUnprocessableEntity)
				r.wantFieldErrors("amount")
			}
			pool, clients, _ := w.balances(t)
			if pool != pool0 || clients != clients0 {
				t.Errorf("balances changed after bad amounts")
			}
		})

		t.Run("ManagerOnlyWithinSubtree", func(t *testing.T) {
			mgr := e.newUser(t, "Max Manager", "max@example.com")
			ctx := context.Background()
			uid := e.user(t, "max@example.com").ID
			if err := e.db.AddMember(ctx, w.org.ID, uid, orgbase.RoleMember); err != nil {
				t.Fatal(err)
			}
			if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.acme.ID, uid, orgbase.WorkspaceManager); err != nil {
				t.Fatal(err)
			}
			r := mgr.get(w.path(w.acme, "/credits"))
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="ws-credits-form"]`)
			// Neither the pool nor Clients (outside Acme's subtree) is offered or accepted.
			if r.find(`option[value="pool"]`).Length() != 0 || r.find(`option[value="`+id(w.clients.ID)+`"]`).Length() != 0 {
				t.Error("a manager is offered balances outside their subtree")
			}
			pool0, clients0, acme0 := w.balances(t)
			for _, acct := range []string{"pool", id(w.clients.ID)} {
				r = move(mgr, w.acme, url.Values{"direction": {"in"}, "account": {acct}, "amount": {"1"}, "key": {"k-mgr-" + acct}})
				if r.status != http.StatusUnprocessableEntity && r.status != http.StatusForbidden {
					t.Errorf("manager moving from %s: status %d, want 422 or 403", acct, r.status)
				}
			}
			// Not even on Clients itself.
			mgr.post(w.path(w.clients, "/credits"), url.Values{"direction": {"out"}, "account": {"pool"}, "amount": {"1"}}, htmx...).wantStatus(http.StatusNotFound)
			pool, clients, acme := w.balances(t)
			if pool != pool0 || clients != clients0 || acme != acme0 {
				t.Errorf("balances changed after refused manager moves")
			}
		})

		t.Run("MemberRefused", func(t *testing.T) {
			r := w.member.get(w.path(w.clients, "/credits"))
			if r.status != http.StatusNotFound && r.status != http.StatusForbidden {
				t.Errorf("member GET credits: %d", r.status)
			}
			r = move(w.member, w.clients, url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"1"}})
			if r.status != http.StatusNotFound && r.status != http.StatusForbidden {
				t.Errorf("member POST credits: %d", r.status)
			}
			r = w.member.post("/orgs/"+w.slug+"/funding", url.Values{"mode": {"shared"}})
			r.wantStatus(http.StatusForbidden)
		})

		t.Run("SharedWorkspaceHasNoDialogMove", func(t *testing.T) {
			r := move(w.owner, w.web, url.Values{"direction": {"in"}, "account": {"pool"}, "amount": {"1"}})
			r.wantStatus(http.StatusUnprocessableEntity)
		})

		t.Run("SwitchToSharedReturnsBalance", func(t *testing.T) {
			pool0, clients0, acme0 := w.balances(t)
			r := w.owner.post(w.path(w.acme, "/funding"), url.Values{"mode": {"shared"}}, "HX-Request", "true", "HX-Target", "ws-tree", "HX-Current-URL", e.srv.URL+base)
			r.wantStatus(http.StatusOK)
			if got := rowCredits(r, "Acme"); got != "Shared" {
				t.Errorf("Acme shows %q, want Shared", got)
			}
			pool, clients, acme := w.balances(t)
			if acme != 0 || clients != clients0+acme0 || pool != pool0 {
				t.Errorf("after switch: pool=%s clients=%s acme=%s", pool, clients, acme)
			}
			w.checkLedger(t)
		})

		t.Run("OrgWideShortcut", func(t *testing.T) {
			total := func() orgbase.Credits { p, c, a := w.balances(t); return p + c + a }
			before := total()
			r := w.owner.post("/orgs/"+w.slug+"/funding", url.Values{"mode": {"shared"}}, "HX-Request", "true", "HX-Target", "ws-tree", "HX-Current-URL", e.srv.URL+base)
			r.wantStatus(http.StatusOK)
			pool, _, _ := w.balances(t)
			if pool != before {
				t.Errorf("pool = %s after Shared pool, want all %s back", pool, before)
			}
			if got := rowCredits(r, "Clients"); got != "Shared" {
				t.Errorf("Clients shows %q, want Shared", got)
			}
			r = w.owner.post("/orgs/"+w.slug+"/funding", url.Values{"mode": {"budgets"}}, "HX-Request", "true", "HX-Target", "ws-tree", "HX-Current-URL", e.srv.URL+base)
			r.wantStatus(http.StatusOK)
			for name, want := range map[string]string{"Clients": "0", "Internal": "0", "Acme": "Shared", "Web": "Shared"} {
				if got := rowCredits(r, name); got != want {
					t.Errorf("after Workspace budgets, %s shows %q, want %q", name, got, want)
				}
			}
			if r.find(`span[data-testid="org-funding-budgets"][aria-current]`).Length() != 1 {
				t.Error("the shortcut does not show Workspace budgets as current")
			}
			w.checkLedger(t)
		})
	})
}
