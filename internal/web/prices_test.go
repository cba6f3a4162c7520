package web_test

import (
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/orgbase"
)

func TestPricesPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		owner := e.newUser(t, "Olga Owner", "olga@example.com")
		owner.createOrg("Acme", "acme")
		org := e.org(t, "acme", "olga@example.com")
		billing := e.newUser(t, "Bill Billing", "bill@example.com")
		member := e.newUser(t, "Mia Member", "mia@example.com")
		e.addMember(t, org.ID, e.user(t, "bill@example.com").ID, orgbase.RoleBilling)
		e.addMember(t, org.ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)

		t.Run("EmptyCatalog", func(t *testing.T) {
			r := owner.in(t).get("/orgs/acme/prices")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="empty-state"]`)
			if n := r.find(`[data-testid="price-row"]`).Length(); n != 0 {
				t.Errorf("got %d price rows for an empty catalog", n)
			}
		})

		entries, err := catalog.Default()
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.SeedCatalog(context.Background(), entries); err != nil {
			t.Fatal(err)
		}

		t.Run("OwnerSeesPricesByCategory", func(t *testing.T) {
			r := owner.in(t).get("/orgs/acme/prices")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="nav-prices"][aria-current="page"]`)
			if note := r.text(`[data-testid="prices-note"]`); !strings.Contains(note, "set by the operator") || !strings.Contains(note, "may change") {
				t.Errorf("note = %q, want it to say the prices are the operator's and may change", note)
			}
			var groups, headings []string
			r.find(`[data-testid="price-group"]`).Each(func(_ int, s *goquery.Selection) {
				groups = append(groups, s.AttrOr("data-category", ""))
				headings = append(headings, strings.TrimSpace(s.Find("h2").Text()))
			})
			if strings.Join(groups, ",") != "image_speech,chatbot" || strings.Join(headings, ",") != "Image & Speech,Chatbot" {
				t.Fatalf("groups = %q %q, want Image & Speech then Chatbot", groups, headings)
			}
			if n := r.find(`[data-testid="price-row"]`).Length(); n != len(entries) {
				t.Errorf("got %d price rows, want %d", n, len(entries))
			}
			// Every row is in its category's table, with its exact price.
			want := map[string]string{}
			for _, en := range entries {
				want[string(en.Category)+" "+en.Tool+" "+en.Model] = en.CreditsPerUnit.String()
			}
			r.find(`[data-testid="price-group"]`).Each(func(_ int, g *goquery.Selection) {
				cat := g.AttrOr("data-category", "")
				g.Find(`[data-testid="price-tool"]`).Each(func(_ int, tb *goquery.Selection) {
					tool := tb.AttrOr("data-tool", "")
					tb.Find(`[data-testid="price-row"]`).Each(func(_ int, row *goquery.Selection) {
						key := cat + " " + tool + " " + strings.TrimSpace(row.Find(`[data-testid="price-model"]`).Text())
						got := strings.TrimSpace(row.Find(`[data-testid="price-credits"]`).Text())
						if w, ok := want[key]; !ok || got != w {
							t.Errorf("row %s shows %q, want %q (listed: %v)", key, got, w, ok)
						}
						delete(want, key)
					})
				})
			})
			if len(want) != 0 {
				t.Errorf("prices missing from the page: %v", want)
			}
			chat := r.find(`[data-testid="price-tool"][data-tool="chat.completion"]`)
			if got := strings.TrimSpace(chat.Find(`[data-testid="price-tool-label"]`).Text()); got != "Chat" {
				t.Errorf("chat.completion reads %q, want Chat", got)
			}
			var chatPrices []string
			chat.Find(`[data-testid="price-credits"]`).Each(func(_ int, s *goquery.Selection) { chatPrices = append(chatPrices, strings.TrimSpace(s.Text())) })
			if strings.Join(chatPrices, " ") != "0.12 0.18 1.17 2.42 6.5 48.75" {
				t.Errorf("chat prices = %q, want cheapest first with up to three decimals", chatPrices)
			}
			if got := strings.TrimSpace(chat.Find(`[data-testid="price-unit"]`).First().Text()); got != "1,000 words" {
				t.Errorf("chat unit = %q", got)
			}
		})

		t.Run("BillingSeesPrices", func(t *testing.T) {
			r := billing.in(t).get("/orgs/acme/prices")
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="nav-prices"]`)
		})

		t.Run("MemberIsRefused", func(t *testing.T) {
			c := member.in(t)
			c.get("/orgs/acme/prices").wantStatus(http.StatusForbidden)
			r := c.get("/orgs/acme")
			r.wantStatus(http.StatusOK)
			if n := r.find(`[data-testid="nav-prices"]`).Length(); n != 0 {
				t.Errorf("a member sees the Prices navigation item")
			}
		})
	})
}
