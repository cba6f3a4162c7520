package web

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// WorkspaceStore is what the workspace handlers need.
type WorkspaceStore interface {
	FindWorkspaces(ctx context.Context, orgID int64, f store.WorkspaceFilter) ([]*orgbase.Workspace, error)
	FindWorkspaceByID(ctx context.Context, orgID, id int64) (*orgbase.Workspace, error)
	FindAncestors(ctx context.Context, ws *orgbase.Workspace) ([]*orgbase.Workspace, error)
	CreateWorkspace(ctx context.Context, orgID int64, by orgbase.Access, n store.NewWorkspace, maxDepth int) (*orgbase.Workspace, error)
	UpdateWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64, name, description string) (*orgbase.Workspace, error)
	MoveWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id, newParentID int64, maxDepth int) (*orgbase.Workspace, error)
	ArchiveWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Workspace, error)
	RestoreWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Workspace, error)
	FindGrantsForUser(ctx context.Context, orgID, userID int64) ([]orgbase.Grant, error)
	FindGrants(ctx context.Context, orgID int64) ([]orgbase.Grant, error)
	SetGrant(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, userID int64, role orgbase.WorkspaceRole) error
	DeleteGrant(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, userID int64) error
	FindMembers(ctx context.Context, orgID int64) ([]orgbase.Member, error)
	// Credits (the ledger).
	FindAccounts(ctx context.Context, orgID int64) ([]orgbase.Account, error)
	Transfer(ctx context.Context, orgID int64, by orgbase.Access, from, to orgbase.AccountRef, amount orgbase.Credits,
		kind orgbase.TransferKind, memo, idempotencyKey string) (*orgbase.Transfer, error)
	SetFundingMode(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, mode orgbase.FundingMode) (*orgbase.Workspace, error)
	// Monthly limits and usage (limits.go).
	SetWorkspaceLimit(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, limit *orgbase.Credits) (*orgbase.Workspace, error)
	WorkspaceUsage(ctx context.Context, orgID int64, period string) (map[int64]orgbase.Credits, error)
	WorkspaceUsageByCategory(ctx context.Context, orgID int64, from, to string) (map[int64]map[orgbase.Category]orgbase.Credits, error)
	// API keys (apikeys.go).
	CreateAPIKey(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, name string) (*orgbase.APIKey, string, error)
	FindAPIKeys(ctx context.Context, orgID, workspaceID int64) ([]*orgbase.APIKey, error)
	RevokeAPIKey(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, keyID int64) (*orgbase.APIKey, error)
}

// maxDepth is how deep the tree may grow below Primary.
const maxDepth = orgbase.DefaultMaxDepth

// workspaceParam resolves :ws within the request's organization, answering
// 404 for unknown ids, other organizations' workspaces and workspaces the
// caller cannot see (their existence never leaks).
func (s *Server) workspaceParam(c echo.Context) (*orgbase.Workspace, error) {
	sc := orgOf(c)
	id, err := strconv.ParseInt(c.Param("ws"), 10, 64)
	if err != nil || id <= 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Workspace not found.")
	}
	ws, err := s.workspaces.FindWorkspaceByID(c.Request().Context(), sc.Org.ID, id)
	if err != nil {
		return nil, err
	}
	if !sc.Access.CanView(ws.Path) {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Workspace not found.")
	}
	return ws, nil
}

// treeModel loads what the Workspaces tab shows, with the usage columns
// for the period named by periodKey, in a constant number of queries
// whatever the size of the tree.
func (s *Server) treeModel(c echo.Context, archived bool, periodKey string) (workspaces.TreeModel, error) {
	ctx := c.Request().Context()
	sc := orgOf(c)
	all, err := s.orgWorkspaces(c, archived)
	if err != nil {
		return workspaces.TreeModel{}, err
	}
	grants, err := s.workspaces.FindGrants(ctx, sc.Org.ID)
	if err != nil {
		return workspaces.TreeModel{}, err
	}
	members, err := s.workspaces.FindMembers(ctx, sc.Org.ID)
	if err != nil {
		return workspaces.TreeModel{}, err
	}
	var visible []*orgbase.Workspace
	for _, w := range all {
		if sc.Access.CanView(w.Path) {
			visible = append(visible, w)
		}
	}
	bal, err := s.balances(c)
	if err != nil {
		return workspaces.TreeModel{}, err
	}
	use, err := s.usage(c, periodKey)
	if err != nil {
		return workspaces.TreeModel{}, err
	}
	counts := memberCounts(visible, grants, members)
	roots := workspaces.BuildTree(visible, func(*orgbase.Workspace) bool { return true }, func(n *workspaces.Node) {
		n.Members = counts[n.WS.ID]
		n.CanManage = sc.Access.CanManage(n.WS.Path)
		n.CanArchive = sc.Access.CanArchive(n.WS, n.WS.ParentPath())
		decorateCredits(sc.Access, n, bal)
		use.decorate(sc.Access, n)
	})
	m := workspaces.TreeModel{Roots: roots, Archived: archived, Total: len(all), CanOrgFunding: sc.Access.SeesAll(),
		Period: use.period, Month: use.month}
	if m.CanOrgFunding {
		active, err := s.orgWorkspaces(c, false)
		if err != nil {
			return workspaces.TreeModel{}, err
		}
		m.OrgMode = orgMode(active)
	}
	return m, nil
}

// decorateCredits sets a node's balance and what the viewer may do with it.
func decorateCredits(a orgbase.Access, n *workspaces.Node, bal map[int64]orgbase.Credits) {
	n.Shared = !hasBalance(n.WS)
	n.Balance = bal[n.WS.ID]
	active := n.WS.ArchivedAt == nil
	n.CanCredits = active && !n.Shared && a.CanManage(n.WS.Path)
	n.CanFunding = active && a.CanSetFundingMode(n.WS, n.WS.ParentPath())
}

// memberCounts is, per workspace, how many active members reach it: owners
// and admins everywhere, others through a grant on it or an ancestor. Each
// workspace looks only at the grants on the (at most six) ids of its path,
// so the cost follows the grants on the path, not every grant of the
// organization; no query per workspace.
func memberCounts(ws []*orgbase.Workspace, grants []orgbase.Grant, members []orgbase.Member) map[int64]int {
	everywhere := 0
	active := map[int64]bool{}
	for _, m := range members {
		if m.Status != orgbase.MemberActive {
			continue
		}
		if m.Role == orgbase.RoleOwner || m.Role == orgbase.RoleAdmin {
			everywhere++
		} else {
			active[m.UserID] = true
		}
	}
	direct := map[int64][]int64{} // workspace id → users granted on it
	for _, g := range grants {
		if active[g.UserID] {
			direct[g.WorkspaceID] = append(direct[g.WorkspaceID], g.UserID)
		}
	}
	out := make(map[int64]int, len(ws))
	seen := map[int64]bool{}
	for _, w := range ws {
		clear(seen)
		for _, id := range orgbase.PathIDs(w.Path) {
			for _, u := range direct[id] {
				seen[u] = true
			}
		}
		out[w.ID] = everywhere + len(seen)
	}
	return out
}

func (s *Server) renderTree(c echo.Context, status int, m workspaces.TreeModel, flashes ...components.Flash) error {
	sh, err := s.shell(c, "Workspaces", "workspaces")
	if err != nil {
		return err
	}
	part := withToasts(workspaces.Tree(sh, m), flashes)
	return render(c, status, workspaces.Index(sh, m), part)
}

func (s *Server) handleWorkspaceIndex(c echo.Context) error {
	m, err := s.treeModel(c, c.QueryParam("archived") == "1", c.QueryParam("period"))
	if err != nil {
		return err
	}
	return s.renderTree(c, http.StatusOK, m)
}

// renderDialog renders dialog content into the modal for htmx, or as a page.
func (s *Server) renderDialog(c echo.Context, status int, title string, body func(layout.Shell) templ.Component) error {
	sh, err := s.shell(c, title, "workspaces")
	if err != nil {
		return err
	}
	b := body(sh)
	return render(c, status, workspaces.DialogPage(sh, b), b)
}

// handleWorkspaceNew shows the create form for a child of :ws.
func (s *Server) handleWorkspaceNew(c echo.Context) error {
	parent, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !orgOf(c).Access.CanManage(parent.Path) {
		return forbidden()
	}
	f := workspaces.FormModel{ParentID: parent.ID, ParentName: parent.Name, Fields: map[string]string{}}
	if parent.Depth+1 > maxDepth {
		f.Error = "Workspaces can nest at most " + strconv.Itoa(maxDepth) + " levels below Primary; " + parent.Name + " is at the limit."
	}
	return s.renderDialog(c, http.StatusOK, "New workspace", func(sh layout.Shell) templ.Component { return workspaces.FormDialog(sh, f) })
}

func forbidden() error {
	return orgbase.Errorf(orgbase.EFORBIDDEN, "You do not manage this workspace.")
}

// handleWorkspaceCreate adds a workspace under a parent the caller manages.
func (s *Server) handleWorkspaceCreate(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	pid, err := strconv.ParseInt(c.FormValue("parent_id"), 10, 64)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Choose where the workspace goes.")
	}
	parent, err := s.workspaces.FindWorkspaceByID(ctx, sc.Org.ID, pid)
	if err != nil || !sc.Access.CanView(parent.Path) {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Workspace not found.")
	}
	if !sc.Access.CanManage(parent.Path) {
		return forbidden()
	}
	f := workspaces.FormModel{ParentID: parent.ID, ParentName: parent.Name, Name: sanitizeEcho(c.FormValue("name")), Description: sanitizeEcho(c.FormValue("description"))}
	var v orgbase.Validator
	name, err := orgbase.CleanText(c.FormValue("name"), "Name", orgbase.MaxWorkspaceNameLen, true)
	v.Add("name", err)
	desc, err := orgbase.CleanText(c.FormValue("description"), "Description", orgbase.MaxDescriptionLen, false)
	v.Add("description", err)
	var ws *orgbase.Workspace
	if v.Valid() {
		ws, err = s.workspaces.CreateWorkspace(ctx, sc.Org.ID, sc.Access, store.NewWorkspace{ParentID: parent.ID, Name: name, Description: desc}, maxDepth)
		if code := orgbase.ErrorCode(err); code == orgbase.EINVALID || code == orgbase.ECONFLICT {
			v.Fields = fieldsOf(err)
			if len(v.Fields) == 0 {
				f.Error = orgbase.ErrorMessage(err)
			}
		} else if err != nil {
			return err
		}
	}
	if !v.Valid() || f.Error != "" {
		f.Fields = fieldsOf(v.Err())
		return s.renderDialog(c, http.StatusUnprocessableEntity, "New workspace", func(sh layout.Shell) templ.Component { return workspaces.FormDialog(sh, f) })
	}
	return s.afterTreeChange(c, ws.Name+" created.")
}

// afterTreeChange answers a structural change: for htmx, the fresh tree
// out of band, an emptied dialog and a toast; otherwise a redirect.
func (s *Server) afterTreeChange(c echo.Context, msg string) error {
	forgetWorkspaces(c)
	if !isHTMX(c) {
		if err := s.flash(c, "success", msg); err != nil {
			return err
		}
		return s.redirect(c, "/orgs/"+orgOf(c).Org.Slug+"/workspaces")
	}
	cur, _ := url.Parse(c.Request().Header.Get("HX-Current-URL"))
	if cur == nil || !strings.HasSuffix(cur.Path, "/workspaces") {
		// Not on the tree (a workspace's home page): reload where the user is.
		if err := s.flash(c, "success", msg); err != nil {
			return err
		}
		return s.redirect(c, refererPath(c, "/orgs/"+orgOf(c).Org.Slug+"/workspaces"))
	}
	m, err := s.treeModel(c, cur.Query().Get("archived") == "1", cur.Query().Get("period"))
	if err != nil {
		return err
	}
	sh, err := s.shell(c, "Workspaces", "workspaces")
	if err != nil {
		return err
	}
	c.Response().Header().Set("HX-Trigger", "close-modal")
	var part templ.Component
	if c.Request().Header.Get("HX-Target") == "ws-tree" {
		part = templ.Join(workspaces.Tree(sh, m), components.Toasts([]components.Flash{flashOf("success", msg)}, true))
	} else {
		// From the dialog (or another page): swap the tree out of band if it is there.
		part = templ.Join(oob(workspaces.Tree(sh, m)), components.Toasts([]components.Flash{flashOf("success", msg)}, true))
	}
	return render(c, http.StatusOK, part, part)
}

// oob wraps a component whose root has an id so htmx swaps it out of band.
func oob(comp templ.Component) templ.Component {
	return templ.ComponentFunc(func(ctx context.Context, w io.Writer) error {
		var buf bytes.Buffer
		if err := comp.Render(ctx, &buf); err != nil {
			return err
		}
		html := buf.String()
		if i := strings.Index(html, ">"); i > 0 {
			html = html[:i] + ` hx-swap-oob="true"` + html[i:]
		}
		_, err := io.WriteString(w, html)
		return err
	})
}

func (s *Server) nodeFor(c echo.Context, ws *orgbase.Workspace) (*workspaces.Node, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	all, err := s.workspaces.FindWorkspaces(ctx, sc.Org.ID, store.WorkspaceFilter{Under: ws.Path, Archived: ws.ArchivedAt != nil})
	if err != nil {
		return nil, err
	}
	grants, err := s.workspaces.FindGrants(ctx, sc.Org.ID)
	if err != nil {
		return nil, err
	}
	members, err := s.workspaces.FindMembers(ctx, sc.Org.ID)
	if err != nil {
		return nil, err
	}
	counts := memberCounts(all, grants, members)
	bal, err := s.balances(c)
	if err != nil {
		return nil, err
	}
	use, err := s.usage(c, periodKeyOf(c))
	if err != nil {
		return nil, err
	}
	n := &workspaces.Node{WS: ws, Members: counts[ws.ID], CanManage: sc.Access.CanManage(ws.Path), CanArchive: sc.Access.CanArchive(ws, ws.ParentPath())}
	decorateCredits(sc.Access, n, bal)
	use.decorate(sc.Access, n)
	for _, w := range all {
		if w.ParentID != nil && *w.ParentID == ws.ID {
			n.Children = append(n.Children, &workspaces.Node{WS: w})
		}
	}
	for _, w := range all {
		if w.ID == ws.ID {
			n.WS = w // with the creator's name
		}
	}
	// Indentation follows the visible tree: the row keeps the level it had.
	if lvl, err := strconv.Atoi(c.QueryParam("level")); err == nil && lvl >= 0 && lvl <= maxDepth {
		n.Level = lvl
	} else {
		n.Level = ws.Depth
	}
	return n, nil
}

// handleWorkspaceRow renders one row (used by Cancel of the inline edit).
func (s *Server) handleWorkspaceRow(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	n, err := s.nodeFor(c, ws)
	if err != nil {
		return err
	}
	sh, err := s.shell(c, ws.Name, "workspaces")
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, workspaces.Row(sh, n, false), workspaces.Row(sh, n, false))
}

// handleWorkspaceEdit renders the inline edit form for a row.
func (s *Server) handleWorkspaceEdit(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !orgOf(c).Access.CanManage(ws.Path) {
		return forbidden()
	}
	n, err := s.nodeFor(c, ws)
	if err != nil {
		return err
	}
	f := workspaces.FormModel{WS: ws, Name: ws.Name, Description: ws.Description, Fields: map[string]string{}}
	return s.renderDialog(c, http.StatusOK, "Edit "+ws.Name, func(sh layout.Shell) templ.Component { return workspaces.EditRow(sh, n, f) })
}

// handleWorkspaceUpdate saves name and description and swaps the row back.
func (s *Server) handleWorkspaceUpdate(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanManage(ws.Path) {
		return forbidden()
	}
	f := workspaces.FormModel{WS: ws, Name: sanitizeEcho(c.FormValue("name")), Description: sanitizeEcho(c.FormValue("description"))}
	var v orgbase.Validator
	name, err := orgbase.CleanText(c.FormValue("name"), "Name", orgbase.MaxWorkspaceNameLen, true)
	v.Add("name", err)
	desc, err := orgbase.CleanText(c.FormValue("description"), "Description", orgbase.MaxDescriptionLen, false)
	v.Add("description", err)
	if v.Valid() {
		updated, err := s.workspaces.UpdateWorkspace(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, name, desc)
		if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
			v.Fields = fieldsOf(err)
		} else if err != nil {
			return err
		} else {
			ws = updated
		}
	}
	n, err := s.nodeFor(c, ws)
	if err != nil {
		return err
	}
	if !v.Valid() {
		f.Fields = v.Fields
		return s.renderDialog(c, http.StatusUnprocessableEntity, "Edit "+ws.Name, func(sh layout.Shell) templ.Component { return workspaces.EditRow(sh, n, f) })
	}
	if !isHTMX(c) {
		if err := s.flash(c, "success", ws.Name+" saved."); err != nil {
			return err
		}
		return s.redirect(c, "/orgs/"+sc.Org.Slug+"/workspaces")
	}
	sh, err := s.shell(c, ws.Name, "workspaces")
	if err != nil {
		return err
	}
	part := withToasts(workspaces.Row(sh, n, true), []components.Flash{flashOf("success", ws.Name+" saved.")})
	return render(c, http.StatusOK, part, part)
}

// moveModel lists the parents the workspace may move under: workspaces the
// caller manages, outside its own subtree, active, with room for its depth.
func (s *Server) moveModel(c echo.Context, ws *orgbase.Workspace) (workspaces.MoveModel, error) {
	sc := orgOf(c)
	all, err := s.workspaces.FindWorkspaces(c.Request().Context(), sc.Org.ID, store.WorkspaceFilter{})
	if err != nil {
		return workspaces.MoveModel{}, err
	}
	height := 0
	for _, w := range all {
		if orgbase.IsWithin(w.Path, ws.Path) && w.Depth-ws.Depth > height {
			height = w.Depth - ws.Depth
		}
	}
	roots := workspaces.BuildTree(all, func(w *orgbase.Workspace) bool { return true }, func(*workspaces.Node) {})
	m := workspaces.MoveModel{WS: ws}
	var walk func([]*workspaces.Node)
	walk = func(ns []*workspaces.Node) {
		for _, n := range ns {
			w := n.WS
			if orgbase.IsWithin(w.Path, ws.Path) {
				continue
			}
			if sc.Access.CanManage(w.Path) && (ws.ParentID == nil || w.ID != *ws.ParentID) && w.Depth+1+height <= maxDepth {
				m.Parents = append(m.Parents, workspaces.ParentOption{ID: w.ID, Label: strings.Repeat("\u2003", w.Depth) + w.Name, Depth: w.Depth})
			}
			walk(n.Children)
		}
	}
	walk(roots)
	return m, nil
}

func (s *Server) handleWorkspaceMoveNew(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !orgOf(c).Access.CanArchive(ws, ws.ParentPath()) {
		return forbidden()
	}
	m, err := s.moveModel(c, ws)
	if err != nil {
		return err
	}
	return s.renderDialog(c, http.StatusOK, "Move "+ws.Name, func(sh layout.Shell) templ.Component { return workspaces.MoveDialog(sh, m) })
}

// handleWorkspaceMove moves a workspace (and its subtree) under a new parent.
func (s *Server) handleWorkspaceMove(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanArchive(ws, ws.ParentPath()) {
		return forbidden()
	}
	pid, _ := strconv.ParseInt(c.FormValue("parent_id"), 10, 64)
	parent, err := s.workspaces.FindWorkspaceByID(ctx, sc.Org.ID, pid)
	fail := func(msg string) error {
		m, err := s.moveModel(c, ws)
		if err != nil {
			return err
		}
		m.Error = msg
		return s.renderDialog(c, http.StatusUnprocessableEntity, "Move "+ws.Name, func(sh layout.Shell) templ.Component { return workspaces.MoveDialog(sh, m) })
	}
	if err != nil || !sc.Access.CanView(parent.Path) {
		return fail("Choose a workspace to move it under.")
	}
	if !sc.Access.CanMove(ws, parent.Path) {
		return fail("You do not manage " + parent.Name + ".")
	}
	if _, err := s.workspaces.MoveWorkspace(ctx, sc.Org.ID, sc.Access, ws.ID, parent.ID, maxDepth); err != nil {
		if code := orgbase.ErrorCode(err); code == orgbase.EINVALID || code == orgbase.ECONFLICT {
			return fail(orgbase.ErrorMessage(err))
		}
		return err
	}
	return s.afterTreeChange(c, ws.Name+" moved under "+parent.Name+".")
}

func (s *Server) handleWorkspaceArchive(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanArchive(ws, ws.ParentPath()) {
		return forbidden()
	}
	if _, err := s.workspaces.ArchiveWorkspace(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID); err != nil {
		return err
	}
	return s.afterTreeChange(c, ws.Name+" archived.")
}

func (s *Server) handleWorkspaceRestore(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanArchive(ws, ws.ParentPath()) {
		return forbidden()
	}
	if _, err := s.workspaces.RestoreWorkspace(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID); err != nil {
		return err
	}
	return s.afterTreeChange(c, ws.Name+" restored.")
}

// workspaceLinks lists the workspaces the caller can reach, in tree order,
// for the switcher: one query.
func (s *Server) workspaceLinks(c echo.Context) ([]layout.WorkspaceLink, error) {
	sc := orgOf(c)
	all, err := s.orgWorkspaces(c, false)
	if err != nil {
		return nil, err
	}
	roots := workspaces.BuildTree(all, func(w *orgbase.Workspace) bool { return sc.Access.CanView(w.Path) }, func(*workspaces.Node) {})
	var links []layout.WorkspaceLink
	for _, n := range flatten(roots) {
		links = append(links, layout.WorkspaceLink{ID: n.WS.ID, Name: n.WS.Name, Level: n.Level})
	}
	return links, nil
}

// orgWorkspaces loads the organization's workspaces once per request (the
// tree and the switcher share them); archived ones only when asked.
func (s *Server) orgWorkspaces(c echo.Context, archived bool) ([]*orgbase.Workspace, error) {
	key := "workspaces"
	if archived {
		key = "workspaces+archived"
	}
	if ws, ok := c.Get(key).([]*orgbase.Workspace); ok {
		return ws, nil
	}
	ws, err := s.workspaces.FindWorkspaces(c.Request().Context(), orgOf(c).Org.ID, store.WorkspaceFilter{Archived: archived})
	if err != nil {
		return nil, err
	}
	c.Set(key, ws)
	return ws, nil
}

// forgetWorkspaces drops the per-request copy after the tree changed.
func forgetWorkspaces(c echo.Context) {
	c.Set("workspaces", nil)
	c.Set("workspaces+archived", nil)
}
