package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/billing"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// overviewWorld is the usage world with a billing member, Mia granted Acme
// (so she reaches Acme and Web), and usage over two weeks:
//
//	10 days ago  Olga   Web       2 images   6
//	today        Olga   Internal  3 units    3
//	today        Mia    Acme      5 chats    0.6
type overviewWorld struct {
	*wsWorld
	billing *client
	today   time.Time
}

func newOverviewWorld(t *testing.T, e *env) *overviewWorld {
	t.Helper()
	w := &overviewWorld{wsWorld: usageWorld(t, e)}
	ctx := context.Background()
	w.billing = e.newUser(t, "Bea Billing", "bea@example.com")
	e.addMember(t, w.org.ID, e.user(t, "bea@example.com").ID, orgbase.RoleBilling)
	mia := e.user(t, "mia@example.com").ID
	if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.acme.ID, mia, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	olga := e.user(t, "olga@example.com").ID
	e.clock.Advance(-10 * 24 * time.Hour)
	w.charge(t, w.web, olga, "test.image", "m1", 2, "ov-1")
	e.clock.Advance(10 * 24 * time.Hour)
	w.charge(t, w.intl, olga, "test.unit", "one", 3, "ov-2")
	w.charge(t, w.acme, mia, "test.chat", "m2", 5, "ov-3")
	w.today = e.clock.Now().UTC()
	return w
}

func (w *overviewWorld) day(daysAgo int) string {
	return w.today.AddDate(0, 0, -daysAgo).Format(time.DateOnly)
}

func (w *overviewWorld) url(q string) string {
	if q == "" {
		return "/orgs/" + w.slug
	}
	return "/orgs/" + w.slug + "?" + q
}

// panel asks for the usage panel as the filter form's htmx request does.
func panel(c *client, path string) *resp {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, path, nil)
	req.Header.Set("HX-Request", "true")
	req.Header.Set("HX-Target", "usage-panel")
	return c.do(req)
}

func topRows(r *resp, list string) []string {
	var out []string
	r.find(`[data-testid="` + list + `"] [data-testid="top-row"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.TrimSpace(s.Find(`[data-testid="top-name"]`).Text())+"="+strings.TrimSpace(s.Find(`[data-testid="top-credits"]`).Text()))
	})
	return out
}

func TestOverview(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newOverviewWorld(t, e)

		t.Run("OwnerSeesDashboard", func(t *testing.T) {
			r := w.owner.in(t).get(w.url(""))
			r.wantStatus(http.StatusOK)
			for label, want := range map[string]string{
				"Organization":      "Tree Co",
				"Your role":         "Owner",
				"Credits added":     "2,000", // the trial's 1,000 and the grant's 1,000
				"Remaining credits": "1,990.4",
				"Members":           "3",
				"Burn rate":         "0.514 / day", // 3.6 in the last 7 days
				"Days left":         "3,872 days",  // 1,990.4 / 0.514
			} {
				if got := r.text(`[data-testid="stat-` + label + `"]`); got != want {
					t.Errorf("card %s = %q, want %q", label, got, want)
				}
			}
			r.wantElement(`script[src="/static/vendor/chart.umd.min.js"]`)
			if got := r.text(`[data-testid="usage-total"]`); got != "9.6" {
				t.Errorf("30-day total = %q, want 9.6", got)
			}
			if got := r.text(`[data-testid="usage-total-image_speech"]`); got != "6" {
				t.Errorf("images total = %q, want 6", got)
			}
			if got := r.find(`[data-testid="usage-table"] tbody tr`).Length(); got != 30 {
				t.Errorf("table rows = %d, want 30 (every day, zero-filled)", got)
			}
			if got := r.text(`[data-testid="usage-table"] tr[data-day="` + w.day(10) + `"] td:last-child`); got != "6" {
				t.Errorf("table row 10 days ago = %q, want 6", got)
			}
			var data struct {
				Days   []string
				Series []struct{ Data []float64 }
			}
			if err := json.Unmarshal([]byte(r.attr(`canvas[data-chart]`, "data-chart")), &data); err != nil {
				t.Fatalf("chart data: %v", err)
			}
			if len(data.Days) != 30 || data.Days[29] != w.day(0) || len(data.Series) != 2 || data.Series[1].Data[29] != 3.6 {
				t.Errorf("chart data = %+v, want 30 days ending today with 3.6 of chat today", data)
			}
			if got := topRows(r, "top-workspaces"); strings.Join(got, ",") != "Web=6,Internal=3,Acme=0.6" {
				t.Errorf("top workspaces = %v", got)
			}
			if got := r.attr(`[data-testid="top-workspaces"] a[data-testid="top-name"]`, "href"); got != "/orgs/tree-co/workspaces/"+id(w.web.ID) {
				t.Errorf("top workspace link = %q", got)
			}
			if got := topRows(r, "top-members"); strings.Join(got, ",") != "Olga Owner=9,Mia Member=0.6" {
				t.Errorf("top members = %v", got)
			}
			// The period and the workspace filter (a subtree).
			r = w.owner.in(t).get(w.url("range=7d"))
			if got := r.text(`[data-testid="usage-total"]`); got != "3.6" {
				t.Errorf("7-day total = %q, want 3.6", got)
			}
			r = w.owner.in(t).get(w.url("range=30d&workspace=" + id(w.clients.ID)))
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="usage-total"]`); got != "6.6" {
				t.Errorf("Clients total = %q, want 6.6", got)
			}
			if got := topRows(r, "top-members"); strings.Join(got, ",") != "Olga Owner=6,Mia Member=0.6" {
				t.Errorf("top members under Clients = %v", got)
			}
			if got := r.attr(`#usage-workspace option[selected]`, "value"); got != id(w.clients.ID) {
				t.Errorf("selected workspace = %q, want Clients", got)
			}
		})

		t.Run("CustomRangeAndEmptyState", func(t *testing.T) {
			c := w.owner.in(t)
			r := c.get(w.url("range=custom&from=" + w.day(10) + "&to=" + w.day(10)))
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="usage-total"]`); got != "6" {
				t.Errorf("one-day total = %q, want 6", got)
			}
			if got := r.inputValue("from"); got != w.day(10) {
				t.Errorf("from kept as %q", got)
			}
			// Switching to Custom without days starts from the last 30.
			r = c.get(w.url("range=custom"))
			if got := r.inputValue("to"); got != w.day(0) || r.inputValue("from") != w.day(29) {
				t.Errorf("custom defaults = %s..%s", r.inputValue("from"), got)
			}
			r = c.get(w.url("range=custom&from=2020-01-01&to=2020-01-31"))
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="usage-empty"]`)
			r.wantNoElement(`canvas[data-chart]`)
			if got := r.find(`[data-testid="top-workspaces"] [data-testid="top-row"]`).Length(); got != 0 {
				t.Errorf("top rows in an empty period = %d", got)
			}
		})

		t.Run("PartialForHTMX", func(t *testing.T) {
			r := panel(w.owner.in(t), w.url("range=7d"))
			r.wantStatus(http.StatusOK)
			if strings.Contains(r.body, "<html") || r.find(`[data-testid="overview-cards"]`).Length() != 0 {
				t.Errorf("the htmx answer is not the panel alone")
			}
			r.wantElement(`#usage-panel`)
			r.wantElement(`canvas[data-chart]`)
			r.wantNoElement(`script`) // htmx would drop it
			if got := r.text(`[data-testid="usage-total"]`); got != "3.6" {
				t.Errorf("partial total = %q", got)
			}
			if r.attr(`[data-testid="usage-filters"]`, "hx-push-url") != "true" || r.attr(`[data-testid="usage-filters"]`, "method") != "get" {
				t.Errorf("the filter form must be a GET form that pushes its URL")
			}
		})

		t.Run("BadFiltersAre422", func(t *testing.T) {
			other := e.newUser(t, "Otto", "otto@example.com")
			other.createOrg("Other Co", "other-co")
			foreign, err := e.db.FindPrimaryWorkspace(context.Background(), e.org(t, "other-co", "otto@example.com").ID)
			if err != nil {
				t.Fatal(err)
			}
			future := w.today.AddDate(0, 0, 3).Format(time.DateOnly)
			for q, want := range map[string]string{
				"range=custom&from=2025-02-30&to=2025-03-01":      "YYYY-MM-DD",
				"range=custom&from=2025-03-02&to=2025-03-01":      "must not be after",
				"range=custom&from=1999-01-01&to=1999-01-31":      "2000",
				"range=custom&from=2023-01-01&to=2024-06-01":      "at most 366 days",
				"range=custom&from=" + w.day(0) + "&to=" + future: "no later than today",
				"range=custom&from=x&to=":                         "YYYY-MM-DD",
				"range=1y":                                        "Choose 7, 30 or 90 days",
				"workspace=abc":                                   "not one you can see",
				"workspace=-1":                                    "not one you can see",
				"workspace=99999999":                              "not one you can see",
				"workspace=" + id(foreign.ID):                     "not one you can see",
			} {
				for _, htmx := range []bool{false, true} {
					var r *resp
					if htmx {
						r = panel(w.owner.in(t), w.url(q))
					} else {
						r = w.owner.in(t).get(w.url(q))
					}
					r.wantStatus(http.StatusUnprocessableEntity)
					if got := r.text(`[data-testid="usage-error"]`); !strings.Contains(got, want) {
						t.Errorf("%s (htmx %v): message %q, want it to say %q", q, htmx, got, want)
					}
					r.wantNoElement(`canvas[data-chart]`)
				}
			}
		})

		t.Run("BillingSeesTotalsWithoutMemberLinks", func(t *testing.T) {
			r := w.billing.in(t).get(w.url(""))
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="stat-Remaining credits"]`); got != "1,990.4" {
				t.Errorf("billing remaining = %q", got)
			}
			if got := topRows(r, "top-members"); len(got) != 2 {
				t.Errorf("billing top members = %v", got)
			}
			// Billing manages neither members nor (without grants) workspaces: no links.
			r.wantNoElement(`[data-testid="top-members"] a`)
			r.wantNoElement(`[data-testid="top-workspaces"] a`)
			// Every workspace can be chosen.
			if got := r.find(`#usage-workspace option`).Length(); got != 6 {
				t.Errorf("billing workspace options = %d, want 6 (all + 5)", got)
			}
		})

		t.Run("MemberSeesOnlyOwnUsage", func(t *testing.T) {
			c := w.member.in(t)
			r := c.get(w.url(""))
			r.wantStatus(http.StatusOK)
			r.wantNoElement(`[data-testid="stat-Remaining credits"]`)
			r.wantNoElement(`[data-testid="stat-Burn rate"]`)
			r.wantNoElement(`[data-testid="top-workspaces"]`)
			r.wantNoElement(`[data-testid="top-members"]`)
			if got := r.text(`[data-testid="stat-Credits available"]`); got != "1,990.4" {
				t.Errorf("Mia's available credits = %q, want the pool's 1,990.4", got)
			}
			if got := r.text(`[data-testid="stat-Your usage"]`); got != "0.6" {
				t.Errorf("Mia's usage this month = %q, want 0.6", got)
			}
			if got := r.text(`[data-testid="usage-total"]`); got != "0.6" {
				t.Errorf("Mia's chart total = %q, want her own 0.6", got)
			}
			if strings.Contains(r.find(`#usage-panel`).Text(), "Olga") {
				t.Errorf("Mia's panel names another member")
			}
			var opts []string
			r.find(`#usage-workspace option`).Each(func(_ int, s *goquery.Selection) { opts = append(opts, strings.TrimSpace(s.Text())) })
			if strings.Join(opts, ",") != "All my workspaces,Acme,Web" {
				t.Errorf("Mia's workspace options = %v", opts)
			}
			panel(c, w.url("workspace="+id(w.intl.ID))).wantStatus(http.StatusUnprocessableEntity)
			r = panel(c, w.url("workspace="+id(w.web.ID)))
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="usage-empty"]`)

			// A member limit bounds what she can spend.
			limit := 5 * orgbase.Credit
			if err := e.db.SetMemberLimit(context.Background(), w.org.ID, orgbase.OperatorAccess(w.org.ID), e.user(t, "mia@example.com").ID, &limit); err != nil {
				t.Fatal(err)
			}
			r = c.get(w.url(""))
			if got := r.text(`[data-testid="stat-Your monthly limit"]`); got != "4.4" {
				t.Errorf("Mia's limit left = %q, want 4.4", got)
			}
			if got := r.text(`[data-testid="stat-Credits available"]`); got != "4.4" {
				t.Errorf("Mia's available with a limit = %q, want 4.4", got)
			}
		})

		t.Run("FormWorksWithoutJavaScript", func(t *testing.T) {
			r := w.owner.in(t).get(w.url(""))
			form := r.find(`form[data-testid="usage-filters"]`)
			if got, _ := form.Attr("action"); got != "/orgs/tree-co" {
				t.Errorf("form action = %q", got)
			}
			if form.Find(`button[type=submit]`).Length() != 1 {
				t.Errorf("no Apply button for browsers without JavaScript")
			}
			if r.find(`#usage-range-30d[checked]`).Length() != 1 {
				t.Errorf("30 days is not the default period")
			}
			q := url.Values{"range": {"90d"}}
			if got := w.owner.in(t).get(w.url(q.Encode())).text(`[data-testid="usage-range"]`); !strings.Contains(got, w.today.Format("Jan 2, 2006")) {
				t.Errorf("90-day range label = %q", got)
			}
		})
		t.Run("LatestBillingRecords", func(t *testing.T) {
			r := w.owner.in(t).get(w.url(""))
			r.wantElement(`[data-testid="overview-billing"]`)
			if got := r.attr(`[data-testid="overview-buy-credits"]`, "href"); got != "/orgs/tree-co/billing#packs-title" {
				t.Errorf("Buy more credits goes to %q", got)
			}
			if got := r.attr(`[data-testid="overview-change-plan"]`, "href"); got != "/orgs/tree-co/billing#plans-title" {
				t.Errorf("Change plan goes to %q", got)
			}
			if !strings.Contains(r.text(`[data-testid="overview-billing"]`), "No invoices yet") {
				t.Errorf("without invoices the section reads %q", r.text(`[data-testid="overview-billing"]`))
			}
			// Four paid packs (last of the subtests: they fill the pool): the
			// three newest are listed, newest first.
			ctx := context.Background()
			for i := range 4 {
				co, err := e.db.StartCheckout(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), store.NewCheckout{Kind: orgbase.OfferTopUp, Key: orgbase.Packs()[0].Key, Provider: "test"})
				if err != nil {
					t.Fatal(err)
				}
				ev := billing.Event{Provider: "test", ID: fmt.Sprint("evt_ov_", i), Kind: billing.EventCheckoutCompleted, Reference: co.Reference,
					CustomerID: "tcus_ov", PaymentID: fmt.Sprint("tpay_ov_", i), AmountCents: co.AmountCents, Currency: co.Currency}
				if out, err := e.db.ApplyBillingEvent(ctx, ev); err != nil || out.Status != store.OutcomePaid {
					t.Fatalf("pay %d: %+v, %v", i, out, err)
				}
			}
			r = w.owner.in(t).get(w.url(""))
			var numbers []string
			r.find(`[data-testid="overview-billing"] [data-testid="invoice-row"]`).Each(func(_ int, sel *goquery.Selection) {
				numbers = append(numbers, sel.AttrOr("data-number", ""))
			})
			if len(numbers) != 3 || !strings.HasSuffix(numbers[0], "-0004") || !strings.HasSuffix(numbers[2], "-0002") {
				t.Errorf("latest billing records = %v, want the three newest of four", numbers)
			}
			w.member.in(t).get(w.url("")).wantNoElement(`[data-testid="overview-billing"]`)
		})
	})
}
