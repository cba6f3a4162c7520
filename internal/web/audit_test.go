package web_test

import (
	"context"
	"encoding/csv"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// getHX fetches path as htmx does (headers are name, value pairs).
func (c *client) getHX(path string, headers ...string) *resp {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, path, nil)
	req.Header.Set("HX-Request", "true")
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}

// auditRows returns the text of each column of the audit table's rows.
func auditRows(r *resp, col string) []string {
	var out []string
	r.find(`[data-testid="audit-row"] [data-testid="audit-` + col + `"]`).Each(func(_ int, s *goquery.Selection) {
		out = append(out, strings.Join(strings.Fields(s.Text()), " "))
	})
	return out
}

// auditWorld is an organization with an owner who renamed it (created on
// Free, so with its trial credits), an admin, a member, and another
// organization next door.
type auditWorld struct {
	owner, admin, member, stranger *client
	org                            *orgbase.Org
}

func newAuditWorld(t *testing.T, e *env) *auditWorld {
	t.Helper()
	w := &auditWorld{owner: e.newUser(t, "Olga Owner", "olga@example.com")}
	w.owner.createOrg("Acme", "acme")
	w.owner.post("/orgs/acme/settings", url.Values{"name": {"Acme Labs"}, "slug": {"acme"}, "billing_email": {"books@acme.example"}}).
		wantRedirect("/orgs/acme/settings")
	w.org = e.org(t, "acme", "olga@example.com")
	w.admin = e.newUser(t, "Adam Admin", "adam@example.com")
	w.member = e.newUser(t, "Mia Member", "mia@example.com")
	e.addMember(t, w.org.ID, e.user(t, "adam@example.com").ID, orgbase.RoleAdmin)
	e.addMember(t, w.org.ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember)
	w.stranger = e.newUser(t, "Zed Stranger", "zed@example.com")
	w.stranger.createOrg("Zeta Hidden Holdings", "zeta")
	w.stranger.post("/orgs/zeta/settings", url.Values{"name": {"Zeta Secret Name"}, "slug": {"zeta"}}).wantRedirect("/orgs/zeta/settings")
	return w
}

func TestAuditPage(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAuditWorld(t, e)

		t.Run("OwnerSeesTheProfileChange", func(t *testing.T) {
			c := w.owner.in(t)
			r := c.get("/orgs/acme/audit")
			r.wantStatus(http.StatusOK)
			if got := r.find(`[data-testid="nav-audit"]`).Length(); got == 0 {
				t.Errorf("got no Audit item in the navigation, want one for the owner")
			}
			actions := auditRows(r, "action")
			if len(actions) != 3 || actions[0] != "Updated profile" || actions[1] != "Granted plan credits" || actions[2] != "Created organization" {
				t.Fatalf("actions = %q, want the update, then the trial grant and the creation", actions)
			}
			grant := r.find(`[data-testid="audit-row"]`).Eq(1)
			if got := strings.Join(strings.Fields(grant.Find(`[data-testid="audit-changes"]`).Text()), " "); !strings.Contains(got, "1,000") ||
				!strings.Contains(got, "Free plan trial credits") {
				t.Errorf("trial grant changes = %q, want the 1,000 trial credits", got)
			}
			first := r.find(`[data-testid="audit-row"]`).First()
			var actorLines []string
			first.Find(`[data-testid="audit-actor"] p`).Each(func(_ int, s *goquery.Selection) { actorLines = append(actorLines, s.Text()) })
			if actor := strings.Join(actorLines, " / "); actor != "Olga Owner / olga@example.com" {
				t.Errorf("actor = %q, want the owner's name and email", actor)
			}
			var lines []string
			first.Find(`[data-testid="audit-changes"] li`).Each(func(_ int, s *goquery.Selection) {
				lines = append(lines, strings.Join(strings.Fields(s.Text()), " "))
			})
			changes := strings.Join(lines, " | ")
			if want := "Billing email: olga@example.com → changed to books@acme.example | Name: Acme → changed to Acme Labs"; changes != want {
				t.Errorf("changes = %q, want %q", changes, want)
			}
			if ip := strings.TrimSpace(first.Find(`[data-testid="audit-ip"]`).Text()); ip != "127.0.0.1" {
				t.Errorf("ip = %q, want 127.0.0.1", ip)
			}
			if strings.Contains(r.body, "Zeta") || strings.Contains(r.body, "Zed Stranger") {
				t.Errorf("the page shows another organization's entries")
			}
		})

		t.Run("AdminSees", func(t *testing.T) {
			r := w.admin.in(t).get("/orgs/acme/audit")
			r.wantStatus(http.StatusOK)
			if got := len(auditRows(r, "action")); got != 3 {
				t.Errorf("admin sees %d entries, want 3", got)
			}
		})

		t.Run("MemberIsRefused", func(t *testing.T) {
			c := w.member.in(t)
			c.get("/orgs/acme/audit").wantStatus(http.StatusForbidden)
			c.get("/orgs/acme/audit.csv").wantStatus(http.StatusForbidden)
			if r := c.get("/orgs/acme"); r.find(`[data-testid="nav-audit"]`).Length() != 0 {
				t.Errorf("a member's navigation offers the audit log")
			}
		})

		t.Run("OtherOrgNeverAppears", func(t *testing.T) {
			c := w.owner.in(t)
			c.get("/orgs/zeta/audit").wantStatus(http.StatusNotFound)
			c.get("/orgs/zeta/audit.csv").wantStatus(http.StatusNotFound)
			zed := e.user(t, "zed@example.com").ID
			r := c.get("/orgs/acme/audit?actor=" + strconv.FormatInt(zed, 10))
			r.wantStatus(http.StatusOK)
			r.wantElement(`[data-testid="empty-state"]`)
			csvR := c.get("/orgs/acme/audit.csv")
			if strings.Contains(csvR.body, "Zeta") || strings.Contains(csvR.body, "zed@example.com") {
				t.Errorf("the export carries another organization's entries:\n%s", csvR.body)
			}
			// And the other way round.
			if r := w.stranger.in(t).get("/orgs/zeta/audit"); strings.Contains(r.body, "Acme") || len(auditRows(r, "action")) != 3 {
				t.Errorf("zeta's log shows %q, want its own three entries only", auditRows(r, "target"))
			}
		})
	})
}

func TestAuditFilters(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAuditWorld(t, e)
		root, err := e.db.FindPrimaryWorkspace(context.Background(), w.org.ID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.db.CreateWorkspace(context.Background(), w.org.ID, orgbase.OperatorAccess(w.org.ID), store.NewWorkspace{ParentID: root.ID, Name: "Ops"}, 5); err != nil {
			t.Fatal(err)
		}
		c := w.owner.in(t)
		today := time.Now().UTC().Format("2006-01-02")
		yesterday := time.Now().UTC().AddDate(0, 0, -1).Format("2006-01-02")
		olga := strconv.FormatInt(e.user(t, "olga@example.com").ID, 10)
		cases := []struct {
			query string
			want  []string
		}{
			{"", []string{"Created workspace", "Updated profile", "Granted plan credits", "Created organization"}},
			{"action=organization.update", []string{"Updated profile"}},
			{"action=organization.", []string{"Updated profile", "Created organization"}},
			{"action=workspace.", []string{"Created workspace"}},
			{"action=credits.", []string{"Granted plan credits"}},
			{"actor=system", []string{"Created workspace"}},
			{"actor=" + olga, []string{"Updated profile", "Granted plan credits", "Created organization"}},
			{"from=" + today + "&to=" + today, []string{"Created workspace", "Updated profile", "Granted plan credits", "Created organization"}},
			{"to=" + yesterday, nil},
			{"actor=" + olga + "&action=workspace.create", nil},
		}
		for _, tc := range cases {
			t.Run(tc.query, func(t *testing.T) {
				c := c.in(t)
				r := c.get("/orgs/acme/audit?" + tc.query)
				r.wantStatus(http.StatusOK)
				got := auditRows(r, "action")
				if strings.Join(got, "|") != strings.Join(tc.want, "|") {
					t.Fatalf("got %q, want %q", got, tc.want)
				}
				if len(tc.want) == 0 {
					r.wantElement(`[data-testid="empty-state"]`)
				}
				if tc.query != "" {
					export := r.attr(`[data-testid="audit-export"]`, "href")
					if want := "/orgs/acme/audit.csv?"; !strings.HasPrefix(export, want) {
						t.Errorf("export link = %q, want the filters carried to %s…", export, want)
					}
				}
			})
		}

		t.Run("FilterOptions", func(t *testing.T) {
			r := w.owner.in(t).get("/orgs/acme/audit")
			var actions []string
			r.find(`select[name="action"] option`).Each(func(_ int, s *goquery.Selection) {
				actions = append(actions, s.AttrOr("value", ""))
			})
			if got := strings.Join(actions, ","); got != ",credits.,credits.plan_grant,organization.,organization.create,organization.update,workspace.,workspace.create" {
				t.Errorf("action options = %s", got)
			}
			if r.find(`select[name="actor"] option[value="`+olga+`"]`).Length() != 1 || r.find(`select[name="actor"] option[value="system"]`).Length() != 1 {
				t.Errorf("actor options lack the owner or System")
			}
		})

		t.Run("HTMXSwapsThePanel", func(t *testing.T) {
			r := w.owner.in(t).getHX("/orgs/acme/audit?action=workspace.")
			r.wantStatus(http.StatusOK)
			if strings.Contains(r.body, "<html") || r.find(`#audit-panel`).Length() != 1 {
				t.Fatalf("got a whole page or no panel, want the panel partial:\n%s", abbrev(r.body))
			}
			if got := auditRows(r, "action"); len(got) != 1 {
				t.Errorf("partial rows = %q, want the one workspace entry", got)
			}
			full := w.owner.in(t).getHX("/orgs/acme/audit?action=workspace.", "HX-History-Restore-Request", "true")
			if !strings.Contains(full.body, "<html") {
				t.Errorf("a history restore got a partial, want the whole page")
			}
		})
	})
}

func TestAuditBadInput(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAuditWorld(t, e)
		c := w.owner.in(t)
		cases := []struct {
			query, field, want string
		}{
			{"from=2024-13-45", "from", "YYYY-MM-DD"},
			{"to=yesterday", "to", "YYYY-MM-DD"},
			{"from=0001-01-01", "from", "YYYY-MM-DD"},
			{"from=2024-05-02&to=2024-05-01", "to", "before the start date"},
			{"actor=nobody", "actor", "Choose a person"},
			{"actor=-5", "actor", "Choose a person"},
			{"action=" + strings.Repeat("x", 200), "action", "Choose an action"},
		}
		for _, tc := range cases {
			t.Run(tc.field+"/"+tc.want, func(t *testing.T) {
				c := c.in(t)
				r := c.get("/orgs/acme/audit?" + tc.query)
				r.wantStatus(http.StatusUnprocessableEntity)
				if msg := r.fieldError(tc.field); !strings.Contains(msg, tc.want) {
					t.Errorf("error on %s = %q, want it to say %q", tc.field, msg, tc.want)
				}
				r.wantNoElement(`[data-testid="audit-table"]`)
				r.wantNoElement(`[data-testid="audit-export"]`)
				hx := c.getHX("/orgs/acme/audit?" + tc.query)
				hx.wantStatus(http.StatusUnprocessableEntity)
				if hx.fieldError(tc.field) == "" {
					t.Errorf("htmx: got no field error on %s", tc.field)
				}
				x := c.get("/orgs/acme/audit.csv?" + tc.query)
				x.wantStatus(http.StatusUnprocessableEntity)
				if !strings.Contains(x.body, tc.want) {
					t.Errorf("CSV export: got %q, want a page saying %q", abbrev(x.body), tc.want)
				}
			})
		}
		t.Run("BrokenCursor", func(t *testing.T) {
			r := c.in(t).get("/orgs/acme/audit?before=abc")
			r.wantStatus(http.StatusUnprocessableEntity)
			if !strings.Contains(r.text(`[data-testid="alert-error"]`), "page link is broken") {
				t.Errorf("got no message about the broken page link")
			}
		})
	})
}

func TestAuditPagination(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAuditWorld(t, e)
		ctx := context.Background()
		root, _ := e.db.FindPrimaryWorkspace(ctx, w.org.ID)
		for i := range 60 {
			if _, err := e.db.CreateWorkspace(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), store.NewWorkspace{ParentID: root.ID, Name: "WS " + strconv.Itoa(i)}, 5); err != nil {
				t.Fatal(err)
			}
		}
		const total = 63 // 60 workspaces, the profile update, the trial grant, the creation
		c := w.owner.in(t)
		r := c.get("/orgs/acme/audit")
		ids := map[string]bool{}
		collect := func(r *resp) int {
			n := 0
			r.find(`[data-testid="audit-row"]`).Each(func(_ int, s *goquery.Selection) {
				id := s.AttrOr("id", "")
				if ids[id] {
					t.Errorf("row %s shown twice", id)
				}
				ids[id] = true
				n++
			})
			return n
		}
		if n := collect(r); n != 50 {
			t.Fatalf("first page has %d rows, want 50", n)
		}
		more := r.attr(`[data-testid="audit-load-more"]`, "href")
		if more != r.attr(`[data-testid="audit-load-more"]`, "hx-get") || !strings.Contains(more, "before=") {
			t.Fatalf("load more = %q, want a plain link and the same htmx request with a cursor", more)
		}

		t.Run("WithoutJavaScript", func(t *testing.T) {
			p := c.in(t).get(more)
			p.wantStatus(http.StatusOK)
			if n := p.find(`[data-testid="audit-row"]`).Length(); n != total-50 {
				t.Errorf("second page has %d rows, want %d", n, total-50)
			}
			p.wantElement(`[data-testid="audit-newest"]`)
			p.wantNoElement(`[data-testid="audit-load-more"]`)
		})
		t.Run("WithHTMX", func(t *testing.T) {
			p := c.in(t).getHX(more)
			p.wantStatus(http.StatusOK)
			if strings.Contains(p.body, "<html") || strings.Contains(p.body, "audit-panel") || !strings.HasPrefix(strings.TrimSpace(p.body), "<tr") {
				t.Fatalf("got %q, want only table rows", abbrev(p.body))
			}
			if n := strings.Count(p.body, `data-testid="audit-row"`); n != total-50 {
				t.Errorf("htmx page has %d rows, want %d", n, total-50)
			}
			if strings.Contains(p.body, "audit-load-more") {
				t.Errorf("the last page offers more")
			}
		})
		t.Run("FiltersCarryOver", func(t *testing.T) {
			p := c.in(t).get("/orgs/acme/audit?action=workspace.create")
			link := p.attr(`[data-testid="audit-load-more"]`, "href")
			if !strings.Contains(link, "action=workspace.create") {
				t.Fatalf("load more = %q, want the filter kept", link)
			}
			next := c.in(t).get(link)
			if got := len(auditRows(next, "action")); got != 10 {
				t.Errorf("second filtered page has %d rows, want 10", got)
			}
		})
	})
}

func TestAuditExport(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newAuditWorld(t, e)
		ctx := context.Background()
		root, _ := e.db.FindPrimaryWorkspace(ctx, w.org.ID)
		for _, name := range []string{`=HYPERLINK("http://evil.example","x")`, "+SUM(1)", "@cmd", "-2+3", "Plain"} {
			if _, err := e.db.CreateWorkspace(ctx, w.org.ID, orgbase.OperatorAccess(w.org.ID), store.NewWorkspace{ParentID: root.ID, Name: name}, 5); err != nil {
				t.Fatal(err)
			}
		}
		c := w.owner.in(t)
		r := c.get("/orgs/acme/audit.csv?action=workspace.")
		r.wantStatus(http.StatusOK)
		if ct := r.header.Get("Content-Type"); ct != "text/csv; charset=utf-8" {
			t.Errorf("Content-Type = %q, want text/csv", ct)
		}
		if cd := r.header.Get("Content-Disposition"); !strings.HasPrefix(cd, `attachment; filename="acme-audit-`) || !strings.HasSuffix(cd, `.csv"`) {
			t.Errorf("Content-Disposition = %q, want an attachment named acme-audit-….csv", cd)
		}
		recs, err := csv.NewReader(strings.NewReader(r.body)).ReadAll()
		if err != nil {
			t.Fatalf("parse CSV: %v\n%s", err, r.body)
		}
		if got := strings.Join(recs[0], ","); got != "id,time_utc,actor_id,actor_name,actor_email,ip,user_agent,action,action_label,target_type,target_id,target_label,changes" {
			t.Fatalf("header = %s", got)
		}
		if len(recs) != 6 {
			t.Fatalf("got %d records, want the header and 5 workspace entries:\n%s", len(recs), r.body)
		}
		var labels []string
		for _, rec := range recs[1:] {
			if rec[7] != "workspace.create" {
				t.Errorf("action %q in an export filtered to workspace.", rec[7])
			}
			labels = append(labels, rec[11])
			for i, cell := range rec {
				if cell != "" && strings.ContainsRune("=+-@", rune(cell[0])) {
					t.Errorf("cell %d %q starts with a formula character", i, cell)
				}
			}
		}
		want := []string{"Plain", "'-2+3", "'@cmd", "'+SUM(1)", `'=HYPERLINK("http://evil.example","x")`}
		if strings.Join(labels, "|") != strings.Join(want, "|") {
			t.Errorf("target labels = %q, want %q (newest first, formulas defused)", labels, want)
		}
		all := c.get("/orgs/acme/audit.csv")
		recs, _ = csv.NewReader(strings.NewReader(all.body)).ReadAll()
		if len(recs) != 1+8 { // 5 workspaces, the profile update, the trial grant, the creation
			t.Fatalf("unfiltered export has %d records, want header + 8", len(recs))
		}
		if grant := recs[len(recs)-2]; grant[7] != "credits.plan_grant" || grant[3] != "Olga Owner" || !strings.Contains(grant[12], "1,000") {
			t.Errorf("second oldest record = %q, want the trial grant of 1,000 credits made as Olga created the organization", grant)
		}
		last := recs[len(recs)-1]
		if last[7] != "organization.create" || last[3] != "Olga Owner" || last[4] != "olga@example.com" || last[5] != "127.0.0.1" {
			t.Errorf("oldest record = %q, want the creation by Olga from 127.0.0.1", last)
		}
		if _, err := time.Parse(time.RFC3339, last[1]); err != nil {
			t.Errorf("time %q is not RFC 3339: %v", last[1], err)
		}
	})
}
