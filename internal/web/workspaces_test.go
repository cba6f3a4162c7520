package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

// wsWorld is an organization with Primary > Clients > Acme > Web and
// Primary > Internal, an owner client and a member client.
type wsWorld struct {
	e                                 *env
	owner, member                     *client
	slug                              string
	org                               *orgbase.Org
	primary, clients, acme, web, intl *orgbase.Workspace
}

func newWSWorld(t *testing.T, e *env) *wsWorld {
	t.Helper()
	w := &wsWorld{e: e}
	w.owner = e.newUser(t, "Olga Owner", "olga@example.com")
	w.slug = w.owner.createOrg("Tree Co", "tree-co")
	w.org = e.org(t, w.slug, "olga@example.com")
	ctx := context.Background()
	var err error
	w.primary, err = e.db.FindPrimaryWorkspace(ctx, w.org.ID)
	if err != nil {
		t.Fatal(err)
	}
	w.clients = w.create(t, w.primary, "Clients")
	w.acme = w.create(t, w.clients, "Acme")
	w.web = w.create(t, w.acme, "Web")
	w.intl = w.create(t, w.primary, "Internal")
	w.member = e.newUser(t, "Mia Member", "mia@example.com")
	if err := e.db.AddMember(ctx, w.org.ID, e.user(t, "mia@example.com").ID, orgbase.RoleMember); err != nil {
		t.Fatal(err)
	}
	return w
}

// create adds a workspace through the htmx dialog, as the browser does.
func (w *wsWorld) create(t *testing.T, parent *orgbase.Workspace, name string) *orgbase.Workspace {
	t.Helper()
	r := w.owner.post("/orgs/"+w.slug+"/workspaces", url.Values{"parent_id": {id(parent.ID)}, "name": {name}},
		"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", w.e.srv.URL+"/orgs/"+w.slug+"/workspaces")
	r.wantStatus(http.StatusOK)
	if got := r.header.Get("HX-Trigger"); got != "close-modal" {
		t.Errorf("create %s: HX-Trigger = %q, want close-modal", name, got)
	}
	if got := r.attr(`#ws-tree`, "hx-swap-oob"); got != "true" {
		t.Errorf("create %s: the tree is not swapped out of band (hx-swap-oob=%q)", name, got)
	}
	if r.find(`[data-ws-name="`+name+`"]`).Length() != 1 {
		t.Errorf("create %s: the new workspace is not in the returned tree", name)
	}
	all, err := w.e.db.FindWorkspaces(context.Background(), w.org.ID, store.WorkspaceFilter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, ws := range all {
		if ws.Name == name && ws.ParentID != nil && *ws.ParentID == parent.ID {
			return ws
		}
	}
	t.Fatalf("workspace %s not found under %s", name, parent.Name)
	return nil
}

func id(n int64) string { return strconv.FormatInt(n, 10) }

func (w *wsWorld) path(ws *orgbase.Workspace, rest string) string {
	return "/orgs/" + w.slug + "/workspaces/" + id(ws.ID) + rest
}

// treeNames returns the workspace names in a tree response, in order.
func treeNames(r *resp) []string {
	var out []string
	r.find(`[data-testid="ws-node"]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s.AttrOr("data-ws-name", "")) })
	return out
}

func (w *wsWorld) snapshot(t *testing.T) string {
	t.Helper()
	all, err := w.e.db.FindWorkspaces(context.Background(), w.org.ID, store.WorkspaceFilter{Archived: true})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, ws := range all {
		b.WriteString(ws.Path + "=" + ws.Name)
		if ws.ArchivedAt != nil {
			b.WriteString("(archived)")
		}
		b.WriteString(" ")
	}
	return b.String()
}

func TestWorkspaceTreeRefusals(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newWSWorld(t, e)
		before := w.snapshot(t)
		base := "/orgs/" + w.slug + "/workspaces"
		htmx := []string{"HX-Request", "true", "HX-Target", "modal-body", "HX-Current-URL", e.srv.URL + base}

		t.Run("DuplicateSiblingName", func(t *testing.T) {
			r := w.owner.post(base, url.Values{"parent_id": {id(w.primary.ID)}, "name": {"clients"}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			if got := r.fieldError("name"); !strings.Contains(got, "already has this name") {
				t.Errorf("error = %q, want a duplicate-name message", got)
			}
		})
		t.Run("EmptyName", func(t *testing.T) {
			r := w.owner.post(base, url.Values{"parent_id": {id(w.primary.ID)}, "name": {"   "}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name")
		})
		t.Run("OneMegabyteName", func(t *testing.T) {
			r := w.owner.post(base, url.Values{"parent_id": {id(w.primary.ID)}, "name": {strings.Repeat("x", 1<<20)}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			if got := r.fieldError("name"); !strings.Contains(got, "at most") {
				t.Errorf("error = %q, want a length message", got)
			}
		})
		t.Run("InvalidUTF8Name", func(t *testing.T) {
			r := w.owner.post(base, url.Values{"parent_id": {id(w.primary.ID)}, "name": {"bad\xff"}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			r.wantFieldErrors("name")
		})
		t.Run("DepthLimit", func(t *testing.T) {
			l4 := w.create(t, w.web, "L4")
			l5 := w.create(t, l4, "L5")
			r := w.owner.post(base, url.Values{"parent_id": {id(l5.ID)}, "name": {"L6"}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			if !strings.Contains(r.text(`[data-testid="error-parent_id"]`), "at most 5 levels") {
				t.Errorf("no depth message in %q", r.text(`[data-testid="ws-create-form"]`))
			}
			// Moving Clients (4 levels deep now) under Internal would make 6.
			r = w.owner.post(w.path(w.clients, "/move"), url.Values{"parent_id": {id(w.intl.ID)}}, htmx...)
			r.wantStatus(http.StatusUnprocessableEntity)
			if !strings.Contains(r.text(`[data-testid="error-parent_id"]`), "levels") {
				t.Errorf("move past depth: no message")
			}
			for _, path := range []string{w.path(l5, "/archive"), w.path(l4, "/archive")} {
				w.owner.post(path, nil).wantStatus(http.StatusSeeOther)
			}
			before = w.snapshot(t)
		})
		t.Run("MoveUnderOwnDescendant", func(t *testing.T) {
			for _, target := range []*orgbase.Workspace{w.clients, w.acme, w.web} {
				r := w.owner.post(w.path(w.clients, "/move"), url.Values{"parent_id": {id(target.ID)}}, htmx...)
				r.wantStatus(http.StatusUnprocessableEntity)
				if got := r.text(`[data-testid="error-parent_id"]`); !strings.Contains(got, "cannot move under itself") {
					t.Errorf("move under %s: message %q", target.Name, got)
				}
			}
			r := w.owner.get(w.path(w.clients, "/move"))
			for _, n := range []string{"Clients", "Acme", "Web", "Primary"} {
				// Primary is its current parent; the others are its own subtree.
				if strings.Contains(r.text(`#parent_id`), n) {
					t.Errorf("move picker offers %s", n)
				}
			}
			if !strings.Contains(r.text(`#parent_id`), "Internal") {
				t.Errorf("move picker does not offer Internal: %q", r.text(`#parent_id`))
			}
		})
		t.Run("ArchiveWithActiveChildren", func(t *testing.T) {
			r := w.owner.post(w.path(w.clients, "/archive"), nil, "HX-Request", "true", "HX-Target", "ws-tree")
			r.wantStatus(http.StatusConflict)
			if !strings.Contains(r.text(`[data-testid="toast"]`), "active workspace") {
				t.Errorf("toast = %q, want an explanation", r.text(`[data-testid="toast"]`))
			}
			r = w.owner.post(w.path(w.primary, "/archive"), nil)
			if r.status != http.StatusForbidden && r.status != http.StatusUnprocessableEntity {
				t.Errorf("archive Primary: got %d, want 403 or 422", r.status)
			}
		})
		if after := w.snapshot(t); after != before {
			t.Errorf("refused actions changed the tree:\nbefore %s\nafter  %s", before, after)
		}
	})
}

func TestWorkspaceEditInlineAndArchive(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newWSWorld(t, e)
		r := w.owner.getWith(w.path(w.acme, "/edit"), "HX-Request", "true")
		r.wantStatus(http.StatusOK)
		r.wantElement(`form[data-testid="ws-edit-form"]`)
		if r.find("html").Length() != 0 && r.find("nav").Length() != 0 {
			t.Errorf("the htmx edit response is a full page, want only the row form")
		}
		r = w.owner.post(w.path(w.acme, ""), url.Values{"name": {"Acme Corporation"}, "description": {"Our biggest client"}}, "HX-Request", "true")
		r.wantStatus(http.StatusOK)
		if got := r.text(`[data-testid="ws-row"] [data-testid="ws-link"]`); got != "Acme Corporation" {
			t.Errorf("row after save shows %q", got)
		}
		r = w.owner.post(w.path(w.acme, ""), url.Values{"name": {"Internal"}}, "HX-Request", "true")
		r.wantStatus(http.StatusOK) // a workspace under another parent may share the name
		// Archive a leaf and restore it through the tree.
		r = w.owner.post(w.path(w.web, "/archive"), nil, "HX-Request", "true", "HX-Target", "ws-tree",
			"HX-Current-URL", e.srv.URL+"/orgs/"+w.slug+"/workspaces")
		r.wantStatus(http.StatusOK)
		for _, n := range treeNames(r) {
			if n == "Web" {
				t.Errorf("archived Web still in the tree")
			}
		}
		r = w.owner.get("/orgs/" + w.slug + "/workspaces?archived=1")
		found := false
		for _, n := range treeNames(r) {
			found = found || n == "Web"
		}
		if !found {
			t.Errorf("archived filter does not show Web")
		}
		w.owner.post(w.path(w.web, "/restore"), nil).wantStatus(http.StatusSeeOther)
	})
}

func TestMemberSeesExactlyTheGrantedSubtree(t *testing.T) {
	eachDialect(t, func(t *testing.T, e *env) {
		w := newWSWorld(t, e)
		mia := e.user(t, "mia@example.com")
		// Grant through the workspace page, as a manager of Acme would.
		r := w.owner.post(w.path(w.acme, "/grants"), url.Values{"user_id": {id(mia.ID)}, "role": {"member"}}, "HX-Request", "true")
		r.wantStatus(http.StatusOK)
		if !strings.Contains(r.text(`#ws-people-list`), "Mia Member") {
			t.Fatalf("Mia not listed after the grant")
		}
		// Inherited on Web.
		r = w.owner.get(w.path(w.web, ""))
		if got := r.text(`[data-testid="ws-person-via"]:contains("Acme")`); got != "inherited from Acme" {
			t.Errorf("on Web, Mia's access reads %q, want inherited from Acme", got)
		}

		tree := w.member.get("/orgs/" + w.slug + "/workspaces")
		if got := strings.Join(treeNames(tree), ","); got != "Acme,Web" {
			t.Errorf("member's tree = %s, want Acme,Web", got)
		}
		var switcher []string
		tree.find(`[data-testid="ws-switcher-item"]`).Each(func(_ int, s *goquery.Selection) { switcher = append(switcher, strings.TrimSpace(s.Text())) })
		if got := strings.Join(switcher, ","); got != "Acme,Web" {
			t.Errorf("member's switcher = %s, want Acme,Web", got)
		}
		if tree.find(`[data-testid="ws-add"], [data-testid="ws-edit"], [data-testid="ws-archive"], [data-testid="ws-move"]`).Length() != 0 {
			t.Errorf("a workspace member sees management actions")
		}
		for _, ws := range []*orgbase.Workspace{w.primary, w.clients, w.intl} {
			w.member.get(w.path(ws, "")).wantStatus(http.StatusNotFound)
			w.member.get(w.path(ws, "/row") + "?level=0").wantStatus(http.StatusNotFound)
		}
		w.member.get(w.path(w.web, "")).wantStatus(http.StatusOK)
		w.member.get(w.path(w.acme, "/edit")).wantStatus(http.StatusForbidden)
		w.member.getWith(w.path(w.acme, "/row"), "HX-Request", "true").wantStatus(http.StatusOK)

		// Moving Web under Internal takes it out of Mia's reach at once.
		w.owner.post(w.path(w.web, "/move"), url.Values{"parent_id": {id(w.intl.ID)}}).wantStatus(http.StatusSeeOther)
		tree = w.member.get("/orgs/" + w.slug + "/workspaces")
		if got := strings.Join(treeNames(tree), ","); got != "Acme" {
			t.Errorf("after the move, member's tree = %s, want Acme", got)
		}
		w.member.get(w.path(w.web, "")).wantStatus(http.StatusNotFound)
	})
}

// getWith fetches path with extra headers (name, value pairs).
func (c *client) getWith(path string, headers ...string) *resp {
	c.t.Helper()
	req := c.newRequest(http.MethodGet, path, nil)
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	return c.do(req)
}
