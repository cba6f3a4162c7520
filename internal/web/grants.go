package web

import (
	"net/http"
	"sort"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// homeModel gathers a workspace's home page: breadcrumbs, children, and who
// has access (owners and admins by role, others by a grant here or above).
func (s *Server) homeModel(c echo.Context, ws *orgbase.Workspace) (workspaces.HomeModel, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	m := workspaces.HomeModel{WS: ws, CanManage: sc.Access.CanManage(ws.Path), SeesRoot: sc.Access.CanView(orgbase.RootPath(ws.Path))}
	ancestors, err := s.workspaces.FindAncestors(ctx, ws)
	if err != nil {
		return m, err
	}
	for _, a := range ancestors {
		if !sc.Access.CanView(a.Path) {
			continue // workspaces above the caller's grant stay unseen, names included
		}
		m.Crumbs = append(m.Crumbs, workspaces.Crumb{Name: a.Name, Href: "/orgs/" + sc.Org.Slug + "/workspaces/" + strconv.FormatInt(a.ID, 10)})
	}
	m.Crumbs = append(m.Crumbs, workspaces.Crumb{Name: ws.Name})
	sub, err := s.workspaces.FindWorkspaces(ctx, sc.Org.ID, store.WorkspaceFilter{Under: ws.Path})
	if err != nil {
		return m, err
	}
	for _, w := range sub {
		if w.ParentID != nil && *w.ParentID == ws.ID {
			m.Children = append(m.Children, w)
		}
	}
	sort.Slice(m.Children, func(i, j int) bool { return m.Children[i].Name < m.Children[j].Name })
	members, err := s.workspaces.FindMembers(ctx, sc.Org.ID)
	if err != nil {
		return m, err
	}
	grants, err := s.workspaces.FindGrants(ctx, sc.Org.ID)
	if err != nil {
		return m, err
	}
	names := map[int64]string{ws.ID: ws.Name}
	for _, a := range ancestors {
		names[a.ID] = a.Name
	}
	// The strongest grant on the path wins; a direct grant is shown as such.
	best := map[int64]orgbase.Grant{}
	for _, g := range grants {
		if !orgbase.IsWithin(ws.Path, g.Path) {
			continue
		}
		cur, ok := best[g.UserID]
		if !ok || roleRank(g.Role) > roleRank(cur.Role) || (roleRank(g.Role) == roleRank(cur.Role) && g.WorkspaceID == ws.ID) {
			best[g.UserID] = g
		}
	}
	hasAccess := map[int64]bool{}
	for _, mem := range members {
		if mem.Status != orgbase.MemberActive {
			continue
		}
		p := workspaces.Person{UserID: mem.UserID, Name: mem.Name, Email: mem.Email}
		switch {
		case mem.Role == orgbase.RoleOwner || mem.Role == orgbase.RoleAdmin:
			p.Role, p.Via = mem.Role.Label(), "every workspace, as "+mem.Role.Label()
		default:
			g, ok := best[mem.UserID]
			if !ok {
				continue
			}
			p.Role, p.WorkspaceID = g.Role.Label(), g.WorkspaceID
			if g.WorkspaceID != ws.ID {
				p.Via = "inherited from " + names[g.WorkspaceID]
			} else {
				p.CanRemove = m.CanManage && mem.UserID != sc.Membership.UserID
			}
		}
		hasAccess[mem.UserID] = true
		m.People = append(m.People, p)
	}
	for _, mem := range members {
		if !hasAccess[mem.UserID] && mem.Status == orgbase.MemberActive {
			m.Grantable = append(m.Grantable, mem)
		}
	}
	return m, nil
}

func roleRank(r orgbase.WorkspaceRole) int {
	if r == orgbase.WorkspaceManager {
		return 2
	}
	return 1
}

func (s *Server) handleWorkspaceShow(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	m, err := s.homeModel(c, ws)
	if err != nil {
		return err
	}
	if err := s.homeExtras(c, ws, &m); err != nil { // limit card and API keys (apikeys.go)
		return err
	}
	if err := s.homeUsage(c, ws, &m); err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, ws.Name, "workspaces", func(sh layout.Shell) templ.Component { return workspaces.Home(sh, m) })
}

// homeUsage sets the home page's usage card: the workspace's usage (with
// its subtree) by category in the period of the query (this month, the last
// 30 days or all time; anything else is this month), and each child's.
// One query whatever the size of the tree.
func (s *Server) homeUsage(c echo.Context, ws *orgbase.Workspace, m *workspaces.HomeModel) error {
	m.Period = orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, c.QueryParam("period"), s.now())
	used, err := s.workspaces.WorkspaceUsageByCategory(c.Request().Context(), ws.OrgID, m.Period.From, m.Period.To)
	if err != nil {
		return err
	}
	figures := func(id int64) workspaces.UsageFigures {
		return workspaces.UsageFigures{ImageSpeech: used[id][orgbase.CategoryImageSpeech], Chatbot: used[id][orgbase.CategoryChatbot]}
	}
	m.Usage = figures(ws.ID)
	for _, child := range m.Children {
		m.Inside = append(m.Inside, workspaces.ChildUsage{WS: child, UsageFigures: figures(child.ID)})
	}
	return nil
}

func (s *Server) renderPeople(c echo.Context, status int, ws *orgbase.Workspace, msg, grantErr string) error {
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, grantErr, "/orgs/"+orgOf(c).Org.Slug+"/workspaces/"+strconv.FormatInt(ws.ID, 10))
	}
	m, err := s.homeModel(c, ws)
	if err != nil {
		return err
	}
	m.GrantError = grantErr
	sh, err := s.shell(c, ws.Name, "workspaces")
	if err != nil {
		return err
	}
	part := workspaces.People(sh, m)
	if msg != "" {
		part = withToasts(part, []components.Flash{flashOf("success", msg)})
	}
	return render(c, status, part, part)
}

// handleGrantCreate gives a member access to the workspace (managers, owners, admins).
func (s *Server) handleGrantCreate(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanGrant(ws.Path) {
		return forbidden()
	}
	uid, _ := strconv.ParseInt(c.FormValue("user_id"), 10, 64)
	role := orgbase.WorkspaceRole(c.FormValue("role"))
	if !role.Valid() {
		return s.renderPeople(c, http.StatusUnprocessableEntity, ws, "", "Choose Member or Manager.")
	}
	err = s.workspaces.SetGrant(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, uid, role)
	if code := orgbase.ErrorCode(err); code == orgbase.ENOTFOUND || code == orgbase.ECONFLICT || code == orgbase.EINVALID {
		return s.renderPeople(c, http.StatusUnprocessableEntity, ws, "", orgbase.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	return s.renderPeople(c, http.StatusOK, ws, "Access given.", "")
}

// handleGrantDelete removes a member's direct grant on the workspace.
func (s *Server) handleGrantDelete(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanGrant(ws.Path) {
		return forbidden()
	}
	uid, err := strconv.ParseInt(c.Param("user"), 10, 64)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "That access was already removed.")
	}
	if uid == sc.Membership.UserID && !sc.Access.SeesAll() {
		return orgbase.Errorf(orgbase.ECONFLICT, "You cannot remove your own access. Ask an owner or admin.")
	}
	if err := s.workspaces.DeleteGrant(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, uid); err != nil {
		return err
	}
	if c.QueryParam("from") == "access" && orgbase.Can(sc.actor(), orgbase.ActionMembersManage) {
		return s.renderAccessRow(c, http.StatusOK, uid, "Access removed.", "")
	}
	return s.renderPeople(c, http.StatusOK, ws, "Access removed.", "")
}
