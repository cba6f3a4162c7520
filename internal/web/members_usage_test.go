package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/orgbase"
)

func TestMembersUsageColumns(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := usageWorld(t, e)
		ctx := context.Background()
		olga, mia := e.user(t, "olga@example.com").ID, e.user(t, "mia@example.com").ID
		if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.intl.ID, mia, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		base := "/orgs/" + w.slug + "/members"

		// 40 days ago: Olga 10 images (30), Mia 10,000 words (1.2).
		e.clock.Advance(-40 * 24 * time.Hour)
		w.charge(t, w.web, olga, "test.image", "m1", 10, "old-olga")
		w.charge(t, w.intl, mia, "test.chat", "m2", 10, "old-mia")
		e.clock.Advance(40 * 24 * time.Hour)
		w.charge(t, w.web, olga, "test.image", "m1", 2, "olga") // 6
		w.charge(t, w.intl, mia, "test.chat", "m2", 5, "mia")   // 0.6
		w.charge(t, w.intl, mia, "test.image", "m1", 1, "mia2") // 3

		cells := func(r *resp, uid int64) [3]string {
			t.Helper()
			var out [3]string
			for i, tid := range []string{"member-used-image", "member-used-chat", "member-used-total"} {
				out[i] = r.text(`#member-` + id(uid) + ` [data-testid="` + tid + `"]`)
			}
			return out
		}
		order := func(r *resp) []string {
			var out []string
			r.find(`[data-testid="member-row"]`).Each(func(_ int, s *goquery.Selection) {
				v, _ := s.Attr("data-email")
				out = append(out, v)
			})
			return out
		}
		wantOrder := func(r *resp, emails ...string) {
			t.Helper()
			if got := order(r); strings.Join(got, ",") != strings.Join(emails, ",") {
				t.Errorf("%s: rows %v, want %v", r.req, got, emails)
			}
		}

		r := w.owner.get(base)
		r.wantStatus(http.StatusOK)
		if got := r.attr(`[data-testid="members-period"] option[selected]`, "value"); got != "month" {
			t.Errorf("default period = %q, want month", got)
		}
		if got := cells(r, olga); got != [3]string{"6", "0", "6"} {
			t.Errorf("Olga this month = %v", got)
		}
		if got := cells(r, mia); got != [3]string{"3", "0.6", "3.6"} {
			t.Errorf("Mia this month = %v", got)
		}
		wantOrder(r, "mia@example.com", "olga@example.com") // by name
		if got := r.attr(`th[aria-sort="ascending"] a`, "data-testid"); got != "sort-name" {
			t.Errorf("sorted column = %q, want sort-name", got)
		}

		// Sorting by usage, both ways, and by each category.
		r = w.owner.get(base + "?sort=total")
		wantOrder(r, "olga@example.com", "mia@example.com")
		if got := r.attr(`[data-testid="sort-total"]`, "href"); !strings.Contains(got, "dir=asc") {
			t.Errorf("the Total heading of a list sorted by total should reverse it: %q", got)
		}
		wantOrder(w.owner.get(base+"?sort=total&dir=asc"), "mia@example.com", "olga@example.com")
		wantOrder(w.owner.get(base+"?sort=chatbot"), "mia@example.com", "olga@example.com")
		wantOrder(w.owner.get(base+"?sort=image_speech"), "olga@example.com", "mia@example.com")

		// All time and the last 30 days.
		r = w.owner.get(base + "?period=all&sort=total")
		if got := cells(r, olga); got != [3]string{"36", "0", "36"} {
			t.Errorf("Olga all time = %v", got)
		}
		if got := cells(r, mia); got != [3]string{"3", "1.8", "4.8"} {
			t.Errorf("Mia all time = %v", got)
		}
		if got := r.attr(`[data-testid="members-period"] option[selected]`, "value"); got != "all" {
			t.Errorf("period = %q, want all", got)
		}
		// The export link carries the filters.
		if got := r.attr(`[data-testid="members-export"]`, "href"); !strings.Contains(got, "period=all") || !strings.Contains(got, "sort=total") || !strings.HasPrefix(got, base+".csv") {
			t.Errorf("export link = %q", got)
		}
		if got := cells(w.owner.get(base+"?period=30d"), mia); got != [3]string{"3", "0.6", "3.6"} {
			t.Errorf("Mia last 30 days = %v", got)
		}

		// Bad parameters fall back to the defaults; never a server error.
		for _, q := range []string{"?sort=bogus&dir=sideways&page=-3&period=forever", "?page=abc", "?page=99999999999999999999", "?period=90d", "?q=%25%5F%5C", "?q=" + strings.Repeat("é", 300)} {
			r := w.owner.get(base + q)
			r.wantStatus(http.StatusOK)
			if got := r.attr(`[data-testid="members-period"] option[selected]`, "value"); got != "month" {
				t.Errorf("%s: period %q, want month", q, got)
			}
		}
		wantOrder(w.owner.get(base+"?sort=bogus&page=-3"), "mia@example.com", "olga@example.com")
		if n := w.owner.get(base + "?q=%25").find(`[data-testid="member-row"]`).Length(); n != 0 {
			t.Errorf("search %% matched %d members, want none", n)
		}
		wantOrder(w.owner.get(base+"?q=OLGA@"), "olga@example.com")

		// With htmx only the list comes back.
		r = w.owner.getWith(base+"?sort=total", "HX-Request", "true", "HX-Target", "members-list")
		r.wantStatus(http.StatusOK)
		r.wantNoElement(`nav[aria-label="Organization"]`)
		r.wantElement(`#members-list`)
		wantOrder(r, "olga@example.com", "mia@example.com")

		// An inline action answers the row with the page's period.
		res := w.owner.post(base+"/"+id(mia)+"/role", url.Values{"role": {"billing"}}, "HX-Request", "true",
			"HX-Current-URL", e.srv.URL+base+"?period=all")
		res.wantStatus(http.StatusOK)
		if !regexp.MustCompile(`data-testid="member-used-total"[^>]*>4.8<`).MatchString(res.body) {
			t.Errorf("the row after a role change does not show all-time usage: %s", abbrev(res.body))
		}

		// Export CSV: the same filters and period, every member, exact credits.
		res = w.owner.get(base + ".csv?period=all&sort=total")
		res.wantStatus(http.StatusOK)
		if ct := res.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/csv") {
			t.Errorf("Content-Type = %q", ct)
		}
		if cd := res.header.Get("Content-Disposition"); !strings.Contains(cd, "attachment") || !strings.Contains(cd, "-members-all-") {
			t.Errorf("Content-Disposition = %q", cd)
		}
		recs, err := csv.NewReader(strings.NewReader(res.body)).ReadAll()
		if err != nil {
			t.Fatalf("CSV: %v\n%s", err, res.body)
		}
		if len(recs) != 3 || recs[0][0] != "user_id" || recs[0][8] != "total_credits" {
			t.Fatalf("CSV has %d records: %v", len(recs), recs)
		}
		if got := recs[1]; got[2] != "olga@example.com" || got[3] != "Owner" || got[4] != "Active" || got[5] != "every workspace" ||
			got[6] != "36.000" || got[7] != "0.000" || got[8] != "36.000" || got[9] != "All time" || got[10] != "" || got[13] == "" {
			t.Errorf("Olga's record = %q", got)
		}
		if got := recs[2]; got[2] != "mia@example.com" || got[3] != "Billing" || got[5] != "Internal (Member)" || got[6] != "3.000" || got[7] != "1.800" || got[8] != "4.800" {
			t.Errorf("Mia's record = %q", got)
		}
		res = w.owner.get(base + ".csv?q=mia&period=bogus")
		recs, _ = csv.NewReader(strings.NewReader(res.body)).ReadAll()
		if len(recs) != 2 || recs[1][2] != "mia@example.com" || recs[1][8] != "3.600" || recs[1][9] != "This month" {
			t.Errorf("filtered export = %v", recs)
		}
		// Members cannot export.
		w.member.get(base + ".csv").wantStatus(http.StatusForbidden)
	})
}

func TestWorkspaceHomeUsage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := usageWorld(t, e)
		ctx := context.Background()
		olga, mia := e.user(t, "olga@example.com").ID, e.user(t, "mia@example.com").ID
		if err := e.db.SetGrant(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), w.intl.ID, mia, orgbase.WorkspaceMember); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(-40 * 24 * time.Hour)
		w.charge(t, w.web, olga, "test.image", "m1", 10, "old") // 30, 40 days ago
		e.clock.Advance(40 * 24 * time.Hour)
		w.charge(t, w.web, olga, "test.image", "m1", 2, "k1") // 6
		w.charge(t, w.acme, olga, "test.chat", "m2", 5, "k2") // 0.6
		w.charge(t, w.intl, mia, "test.image", "m1", 1, "k3") // 3
		w.charge(t, w.intl, mia, "test.chat", "m2", 5, "k4")  // 0.6
		empty := w.create(t, w.primary, "Empty")

		figures := func(r *resp) [3]string {
			t.Helper()
			return [3]string{r.text(`[data-testid="ws-home-image"]`), r.text(`[data-testid="ws-home-chat"]`), r.text(`[data-testid="ws-home-total"]`)}
		}
		children := func(r *resp) map[string][3]string {
			out := map[string][3]string{}
			r.find(`[data-testid="ws-usage-child"]`).Each(func(_ int, s *goquery.Selection) {
				name, _ := s.Attr("data-ws-name")
				cell := func(tid string) string { return strings.TrimSpace(s.Find(`[data-testid="` + tid + `"]`).Text()) }
				out[name] = [3]string{cell("ws-child-image"), cell("ws-child-chat"), cell("ws-child-total")}
			})
			return out
		}
		check := func(r *resp, want [3]string, kids map[string][3]string) {
			t.Helper()
			r.wantStatus(http.StatusOK)
			if got := figures(r); got != want {
				t.Errorf("%s: usage %v, want %v", r.req, got, want)
			}
			if got := children(r); len(got) != len(kids) {
				t.Errorf("%s: children %v, want %v", r.req, got, kids)
			} else {
				for name, v := range kids {
					if got[name] != v {
						t.Errorf("%s: child %s = %v, want %v", r.req, name, got[name], v)
					}
				}
			}
		}

		r := w.owner.get(w.path(w.primary, ""))
		check(r, [3]string{"9", "1.2", "10.2"}, map[string][3]string{
			"Clients": {"6", "0.6", "6.6"}, "Internal": {"3", "0.6", "3.6"}, "Empty": {"0", "0", "0"}})
		if got := r.attr(`[data-testid="ws-home-period"] option[selected]`, "value"); got != "month" {
			t.Errorf("period = %q, want month", got)
		}
		check(w.owner.get(w.path(w.clients, "?period=all")), [3]string{"36", "0.6", "36.6"}, map[string][3]string{"Acme": {"36", "0.6", "36.6"}})
		check(w.owner.get(w.path(w.clients, "?period=30d")), [3]string{"6", "0.6", "6.6"}, map[string][3]string{"Acme": {"6", "0.6", "6.6"}})
		// A leaf has no table of children; unknown periods are this month.
		r = w.owner.get(w.path(w.web, "?period=90d"))
		check(r, [3]string{"6", "0", "6"}, nil)
		r.wantNoElement(`[data-testid="ws-usage-children"]`)
		check(w.owner.get(w.path(w.web, "?period=%00")), [3]string{"6", "0", "6"}, nil)
		// Nothing used: zeros and a sentence.
		r = w.owner.get(w.path(empty, "?period=all"))
		check(r, [3]string{"0", "0", "0"}, nil)
		r.wantElement(`[data-testid="ws-usage-empty"]`)
		// A member sees the usage of what they can reach.
		check(w.member.get(w.path(w.intl, "")), [3]string{"3", "0.6", "3.6"}, nil)
		w.member.get(w.path(w.primary, "")).wantStatus(http.StatusNotFound)
		// The period form swaps the card with htmx and keeps the URL.
		r = w.owner.get(w.path(w.clients, ""))
		if got := r.attr(`[data-testid="ws-home-period-form"]`, "hx-select"); got != "#ws-usage" {
			t.Errorf("period form selects %q, want #ws-usage", got)
		}
		if got := r.attr(`[data-testid="ws-home-period-form"]`, "hx-push-url"); got != "true" {
			t.Errorf("period form hx-push-url = %q", got)
		}
	})
}
