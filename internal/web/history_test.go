package web_test

import (
	"context"
	"encoding/csv"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// historyCol returns the text of one column of the History table's rows,
// the lines of a cell joined by a space.
func historyCol(r *resp, col string) []string {
	var out []string
	r.find(`[data-testid="history-row"] [data-testid="history-` + col + `"]`).Each(func(_ int, s *goquery.Selection) {
		var lines []string
		if ps := s.Find("p"); ps.Length() > 0 {
			ps.Each(func(_ int, p *goquery.Selection) { lines = append(lines, strings.Join(strings.Fields(p.Text()), " ")) })
		} else {
			lines = append(lines, strings.Join(strings.Fields(s.Text()), " "))
		}
		out = append(out, strings.Join(lines, " "))
	})
	return out
}

// rowsDoc parses the table rows an htmx "next page" answers: outside a
// table an HTML parser drops <tr> and <td>, so they are parsed inside one.
func rowsDoc(t *testing.T, r *resp) *resp {
	t.Helper()
	body := strings.TrimSpace(r.body)
	if !strings.HasPrefix(body, "<tr") {
		t.Fatalf("%s: got %q, want only table rows", r.req, abbrev(body))
	}
	doc, err := goquery.NewDocumentFromReader(strings.NewReader("<table><tbody>" + body + "</tbody></table>"))
	if err != nil {
		t.Fatal(err)
	}
	out := *r
	out.doc = doc
	return &out
}

// historyWorld is the usage world with Mia granted Clients (so she sees
// Clients, Acme and Web but not Internal or Primary), Bill in billing
// without grants, and three charges: Olga's image on Web, Mia's chat on
// Acme and Olga's unit on Internal, in that order.
type historyWorld struct {
	*wsWorld
	bill     *client
	olga, mi int64
}

func newHistoryWorld(t *testing.T, e *env) *historyWorld {
	t.Helper()
	w := &historyWorld{wsWorld: usageWorld(t, e)}
	ctx := context.Background()
	w.olga = e.user(t, "olga@example.com").ID
	w.mi = e.user(t, "mia@example.com").ID
	if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.clients.ID, w.mi, orgbase.WorkspaceMember); err != nil {
		t.Fatal(err)
	}
	w.bill = e.newUser(t, "Bill Billing", "bill@example.com")
	e.addMember(t, w.org.ID, e.user(t, "bill@example.com").ID, orgbase.RoleBilling)
	return w
}

func (w *historyWorld) chargeThree(t *testing.T) {
	t.Helper()
	w.charge(t, w.web, w.olga, "test.image", "m1", 1, "olga-web")
	w.e.clock.Advance(time.Second)
	w.charge(t, w.acme, w.mi, "test.chat", "m2", 2, "mia-acme")
	w.e.clock.Advance(time.Second)
	w.charge(t, w.intl, w.olga, "test.unit", "one", 5, "=olga-intl") // a formula, for the CSV guard
}

func TestHistoryPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newHistoryWorld(t, e)
		page := "/orgs/" + w.slug + "/history"

		t.Run("NoUsageYet", func(t *testing.T) {
			r := w.owner.in(t).get(page)
			r.wantStatus(http.StatusOK)
			if got := r.text(`[data-testid="empty-state"] h3`); got != "No AI actions yet" {
				t.Errorf("empty state = %q, want No AI actions yet", got)
			}
			if r.attr(`[data-testid="nav-history"]`, "aria-current") == "" {
				t.Errorf("the History tab is not marked current")
			}
		})

		w.chargeThree(t)

		t.Run("OwnerSeesEverything", func(t *testing.T) {
			r := w.owner.in(t).get(page)
			r.wantStatus(http.StatusOK)
			if got, want := strings.Join(historyCol(r, "workspace"), "|"), "Internal Primary|Acme Primary / Clients|Web Primary / Clients / Acme"; got != want {
				t.Errorf("workspaces = %q, want %q", got, want)
			}
			if got, want := strings.Join(historyCol(r, "member"), "|"), "Olga Owner olga@example.com|Mia Member mia@example.com|Olga Owner olga@example.com"; got != want {
				t.Errorf("members = %q, want %q", got, want)
			}
			if got, want := strings.Join(historyCol(r, "tool"), "|"), "test.unit one|test.chat m2|test.image m1"; got != want {
				t.Errorf("tools = %q, want %q", got, want)
			}
			if got, want := strings.Join(historyCol(r, "credits"), "|"), "5|0.24|3"; got != want {
				t.Errorf("credits = %q, want %q", got, want)
			}
			if got := r.attr(`select[name="workspace"] option[value=""]`, "value"); got != "" || r.text(`select[name="workspace"] option[value=""]`) != "All workspaces" {
				t.Errorf("the owner's default workspace choice is not All workspaces")
			}
			r.wantNoElement(`[data-testid="history-more"]`)
		})

		t.Run("BillingSeesEverything", func(t *testing.T) {
			r := w.bill.in(t).get(page)
			r.wantStatus(http.StatusOK)
			if got := len(historyCol(r, "credits")); got != 3 {
				t.Errorf("billing sees %d events, want 3", got)
			}
			if r.find(`[data-testid="nav-history"]`).Length() != 1 {
				t.Errorf("billing has no History tab")
			}
		})

		t.Run("MemberSeesTheirWorkspacesOnly", func(t *testing.T) {
			c := w.member.in(t)
			r := c.get(page)
			r.wantStatus(http.StatusOK)
			if got, want := strings.Join(historyCol(r, "workspace"), "|"), "Acme Primary / Clients|Web Primary / Clients / Acme"; got != want {
				t.Errorf("workspaces = %q, want %q (not Internal)", got, want)
			}
			var opts []string
			r.find(`select[name="workspace"] option`).Each(func(_ int, s *goquery.Selection) { opts = append(opts, s.Text()) })
			if got, want := strings.Join(opts, "|"), "All my workspaces|Clients|\u2003Acme|\u2003\u2003Web"; got != want {
				t.Errorf("workspace options = %q, want %q", got, want)
			}
			for _, hidden := range []int64{w.intl.ID, w.primary.ID} {
				r := c.get(page + "?workspace=" + id(hidden))
				r.wantStatus(http.StatusUnprocessableEntity)
				if got := r.fieldError("workspace"); got != "Choose a workspace from the list." {
					t.Errorf("hidden workspace %d: message %q", hidden, got)
				}
				r.wantNoElement(`[data-testid="history-row"]`)
				c.get(page + ".csv?workspace=" + id(hidden)).wantStatus(http.StatusUnprocessableEntity)
			}
			body := c.get(page + ".csv").body
			if strings.Contains(body, "olga-intl") || !strings.Contains(body, "olga-web") {
				t.Errorf("the member's export:\n%s\nwant Web's event and not Internal's", body)
			}
		})

		t.Run("MemberWithoutGrants", func(t *testing.T) {
			u := e.newUser(t, "Nora Nobody", "nora@example.com")
			e.addMember(t, w.org.ID, e.user(t, "nora@example.com").ID, orgbase.RoleMember)
			r := u.get(page)
			r.wantStatus(http.StatusOK)
			r.wantNoElement(`[data-testid="history-row"]`)
			if strings.Contains(u.get(page+".csv").body, "olga") {
				t.Errorf("a member without grants exports events")
			}
		})

		t.Run("ForeignWorkspace", func(t *testing.T) {
			z := e.newUser(t, "Zed Stranger", "zed@example.com")
			z.createOrg("Zeta", "zeta")
			zroot, err := e.db.FindPrimaryWorkspace(context.Background(), e.org(t, "zeta", "zed@example.com").ID)
			if err != nil {
				t.Fatal(err)
			}
			r := w.owner.in(t).get(page + "?workspace=" + id(zroot.ID))
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("workspace")
			w.owner.in(t).get("/orgs/zeta/history").wantStatus(http.StatusNotFound)
			w.owner.in(t).get("/orgs/zeta/history.csv").wantStatus(http.StatusNotFound)
		})
	})
}

func TestHistoryFiltersAndErrors(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newHistoryWorld(t, e)
		w.chargeThree(t)
		page := "/orgs/" + w.slug + "/history"
		today := e.clock.Now().UTC().Format(time.DateOnly)
		yesterday := e.clock.Now().UTC().AddDate(0, 0, -1).Format(time.DateOnly)

		for _, tc := range []struct{ query, want string }{
			{"", "5|0.24|3"},
			{"me=1", "5|3"},
			{"workspace=" + id(w.clients.ID), "0.24|3"},
			{"workspace=" + id(w.web.ID), "3"},
			{"workspace=" + id(w.clients.ID) + "&me=1", "3"},
			{"tool=test.chat", "0.24"},
			{"tool=category:chatbot", "5|0.24"},
			{"tool=category:image_speech&workspace=" + id(w.intl.ID), ""},
			{"from=" + today + "&to=" + today, "5|0.24|3"},
			{"to=" + yesterday, ""},
			{"workspace=all", "5|0.24|3"},
		} {
			t.Run(tc.query, func(t *testing.T) {
				r := w.owner.in(t).get(page + "?" + tc.query)
				r.wantStatus(http.StatusOK)
				if got := strings.Join(historyCol(r, "credits"), "|"); got != tc.want {
					t.Fatalf("credits = %q, want %q", got, tc.want)
				}
				if tc.want == "" {
					if got := r.text(`[data-testid="empty-state"] h3`); got != "No AI actions match these filters" {
						t.Errorf("empty state = %q", got)
					}
					if r.attr(`[data-testid="empty-state"] a`, "href") != page {
						t.Errorf("the empty state has no link clearing the filters")
					}
				}
			})
		}

		for _, tc := range []struct{ name, query, field, msg string }{
			{"MalformedDate", "from=2025-13-01", "from", "Enter the start date as YYYY-MM-DD"},
			{"NotADate", "to=yesterday", "to", "Enter the end date as YYYY-MM-DD"},
			{"Reversed", "from=2025-03-10&to=2025-03-01", "to", "The end date is before the start date."},
			{"TooOld", "from=1999-12-31", "from", "Choose a start date between 2000 and 9999."},
			{"TooLong", "from=2001-01-01&to=2020-01-01", "to", "Choose a range of at most 10 years."},
			{"UnknownTool", "tool=rm+-rf", "tool", "Choose a tool or a category from the list."},
			{"UnknownCategory", "tool=category:video", "tool", "Choose a tool or a category from the list."},
			{"BadWorkspace", "workspace=abc", "workspace", "Choose a workspace from the list."},
			{"UnknownWorkspace", "workspace=999999", "workspace", "Choose a workspace from the list."},
		} {
			t.Run(tc.name, func(t *testing.T) {
				c := w.owner.in(t)
				for _, htmx := range []bool{false, true} {
					var r *resp
					if htmx {
						r = c.getHX(page + "?" + tc.query)
						r.wantElement(`#history-panel`)
						r.wantNoElement(`[data-testid="nav-history"]`) // the panel only
					} else {
						r = c.get(page + "?" + tc.query)
					}
					r.wantStatus(http.StatusUnprocessableEntity)
					if got := r.fieldError(tc.field); !strings.HasPrefix(got, tc.msg) {
						t.Errorf("htmx %v: %s message = %q, want %q", htmx, tc.field, got, tc.msg)
					}
					r.wantNoElement(`[data-testid="history-row"]`)
					// The form keeps what was typed.
					q, _ := url.ParseQuery(tc.query)
					for k := range q {
						sel := `[name="` + k + `"]`
						v := r.attr(sel, "value")
						if r.find(sel).Is("select") {
							v = r.find(sel+` option[selected]`).AttrOr("value", "")
						}
						if v != q.Get(k) {
							t.Errorf("htmx %v: field %s = %q, want %q kept", htmx, k, v, q.Get(k))
						}
					}
				}
				r := c.get(page + ".csv?" + tc.query)
				r.wantStatus(http.StatusUnprocessableEntity)
			})
		}

		t.Run("HTMXPanel", func(t *testing.T) {
			r := w.owner.in(t).getHX(page + "?tool=test.image")
			r.wantStatus(http.StatusOK)
			r.wantElement(`#history-panel`)
			r.wantNoElement(`[data-testid="nav-history"]`)
			if got := strings.Join(historyCol(r, "credits"), "|"); got != "3" {
				t.Errorf("credits = %q", got)
			}
			if got := r.attr(`form[data-testid="history-filters"]`, "hx-push-url"); got != "true" {
				t.Errorf("hx-push-url = %q", got)
			}
		})
	})
}

func TestHistoryPaging(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newHistoryWorld(t, e)
		w.chargeThree(t)
		e.clock.Advance(time.Second)
		// 117 more in one batch: they share their created_at.
		reqs := make([]orgbase.ChargeRequest, 117)
		for i := range reqs {
			reqs[i] = orgbase.ChargeRequest{WorkspaceID: w.acme.ID, UserID: w.mi, Tool: "test.unit", Model: "one", Units: 1, IdempotencyKey: fmt.Sprintf("b-%03d", i)}
		}
		out, err := e.db.ChargeBatch(context.Background(), w.org.ID, reqs)
		if err != nil {
			t.Fatal(err)
		}
		for _, o := range out {
			if o.Err != nil {
				t.Fatal(o.Err)
			}
		}
		page := "/orgs/" + w.slug + "/history"
		rowIDs := func(r *resp) []string {
			var ids []string
			r.find(`[data-testid="history-row"]`).Each(func(_ int, s *goquery.Selection) { ids = append(ids, s.AttrOr("id", "")) })
			return ids
		}

		t.Run("InfiniteScroll", func(t *testing.T) {
			c := w.owner.in(t)
			r := c.get(page + "?workspace=all")
			seen := map[string]bool{}
			pages := 0
			for {
				pages++
				for _, id := range rowIDs(r) {
					if seen[id] {
						t.Fatalf("row %s appears twice", id)
					}
					seen[id] = true
				}
				if r.find(`[data-testid="history-more"]`).Length() == 0 {
					break
				}
				if n := len(rowIDs(r)); n != 50 {
					t.Fatalf("page %d has %d rows, want 50", pages, n)
				}
				more := r.find(`[data-testid="history-more"]`)
				if more.AttrOr("hx-trigger", "") != "intersect once" || more.AttrOr("hx-swap", "") != "outerHTML" {
					t.Fatalf("sentinel attributes: %v", more.Nodes[0].Attr)
				}
				next := more.AttrOr("hx-get", "")
				if href := r.attr(`[data-testid="history-load-more"]`, "href"); href != next || !strings.Contains(next, "workspace=all") && !strings.Contains(next, "cursor=") {
					t.Fatalf("Load more %q and hx-get %q differ or lose the cursor", href, next)
				}
				r = c.getHX(next)
				r.wantStatus(http.StatusOK)
				r = rowsDoc(t, r) // rows only, appended in place of the sentinel
			}
			if len(seen) != 120 || pages != 3 {
				t.Errorf("saw %d rows over %d pages, want 120 over 3", len(seen), pages)
			}
		})

		t.Run("LoadMoreWithoutJS", func(t *testing.T) {
			c := w.owner.in(t)
			r := c.get(page)
			next := r.attr(`[data-testid="history-load-more"]`, "href")
			r = c.get(next)
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="nav-history"]`)
			r.wantElement(`[data-testid="history-newest"]`)
			if n := len(rowIDs(r)); n != 50 {
				t.Errorf("second page has %d rows, want 50", n)
			}
		})

		t.Run("BadCursor", func(t *testing.T) {
			c := w.owner.in(t)
			for _, cur := range []string{"nope", "MjAyNS0wMy0xMFQwOTowMDowMFovMA", strings.Repeat("A", 500), "%00"} {
				r := c.get(page + "?cursor=" + cur)
				r.wantStatus(http.StatusUnprocessableEntity)
				if got := r.text(`[data-testid="alert-error"]`); !strings.Contains(got, "page link is broken") {
					t.Errorf("cursor %q: message %q", cur, got)
				}
				c.getHX(page + "?cursor=" + cur).wantStatus(http.StatusUnprocessableEntity)
			}
		})
	})
}

func TestHistoryExport(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newHistoryWorld(t, e)
		w.chargeThree(t)
		r := w.owner.in(t).get("/orgs/" + w.slug + "/history.csv?tool=category:chatbot")
		r.wantStatus(http.StatusOK)
		if got := r.header.Get("Content-Type"); got != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type = %q", got)
		}
		if got := r.header.Get("Content-Disposition"); !regexp.MustCompile(`^attachment; filename="tree-co-history-\d{8}-\d{6}\.csv"$`).MatchString(got) {
			t.Errorf("Content-Disposition = %q", got)
		}
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatal(err)
		}
		if len(recs) != 3 {
			t.Fatalf("got %d records, want the header and 2 events:\n%s", len(recs), r.body)
		}
		if got, want := strings.Join(recs[0], ","), "time_utc,member_email,member_name,workspace,tool,model,category,units,credits,idempotency_key"; got != want {
			t.Errorf("header = %s", got)
		}
		if _, err := time.Parse(time.RFC3339, recs[1][0]); err != nil || !strings.HasSuffix(recs[1][0], "Z") {
			t.Errorf("time %q is not RFC 3339 UTC", recs[1][0])
		}
		if got, want := strings.Join(recs[1][1:], ","), "olga@example.com,Olga Owner,Primary / Internal,test.unit,one,Chatbot,5,5.000,'=olga-intl"; got != want {
			t.Errorf("first event = %s\nwant          %s", got, want)
		}
		if got, want := strings.Join(recs[2][1:], ","), "mia@example.com,Mia Member,Primary / Clients / Acme,test.chat,m2,Chatbot,2,0.240,mia-acme"; got != want {
			t.Errorf("second event = %s\nwant           %s", got, want)
		}
		// The page links to the export with its filters.
		p := w.owner.in(t).get("/orgs/" + w.slug + "/history?tool=category:chatbot&me=1")
		if got := p.attr(`[data-testid="history-export"]`, "href"); got != "/orgs/"+w.slug+"/history.csv?me=1&tool=category%3Achatbot" {
			t.Errorf("export link = %q", got)
		}
	})
}
