package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/access"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// accessModel loads the access panel in four queries whatever its size.
func (s *Server) accessModel(c echo.Context) (access.Model, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	var m access.Model
	members, err := s.workspaces.FindMembers(ctx, sc.Org.ID)
	if err != nil {
		return m, err
	}
	all, err := s.workspaces.FindWorkspaces(ctx, sc.Org.ID, store.WorkspaceFilter{})
	if err != nil {
		return m, err
	}
	grants, err := s.workspaces.FindGrants(ctx, sc.Org.ID)
	if err != nil {
		return m, err
	}
	names := map[int64]string{}
	for _, n := range flatten(workspaces.BuildTree(all, func(*orgbase.Workspace) bool { return true }, func(*workspaces.Node) {})) {
		names[n.WS.ID] = n.WS.Name
		m.Workspaces = append(m.Workspaces, access.WorkspaceOption{ID: n.WS.ID, Label: strings.Repeat("\u2003", n.WS.Depth) + n.WS.Name})
	}
	byUser := map[int64][]access.GrantView{}
	for _, g := range grants {
		byUser[g.UserID] = append(byUser[g.UserID], access.GrantView{WorkspaceID: g.WorkspaceID, WorkspaceName: names[g.WorkspaceID], Role: g.Role})
	}
	for _, mem := range members {
		m.Rows = append(m.Rows, access.Row{Member: mem, Grants: byUser[mem.UserID]})
	}
	return m, nil
}

func flatten(ns []*workspaces.Node) []*workspaces.Node {
	var out []*workspaces.Node
	for _, n := range ns {
		out = append(out, n)
		out = append(out, flatten(n.Children)...)
	}
	return out
}

func (s *Server) handleAccessIndex(c echo.Context) error {
	m, err := s.accessModel(c)
	if err != nil {
		return err
	}
	return s.renderPage(c, http.StatusOK, "Workspace access", "access", func(sh layout.Shell) templ.Component { return access.Page(sh, m) })
}

// renderAccessRow answers a change on the access panel with the member's row.
func (s *Server) renderAccessRow(c echo.Context, status int, userID int64, msg, rowErr string) error {
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, rowErr, "/orgs/"+orgOf(c).Org.Slug+"/access")
	}
	m, err := s.accessModel(c)
	if err != nil {
		return err
	}
	sh, err := s.shell(c, "Workspace access", "access")
	if err != nil {
		return err
	}
	for _, r := range m.Rows {
		if r.Member.UserID == userID {
			r.Error, r.Flash = rowErr, rowErr == ""
			var part templ.Component = access.MemberRow(sh, r, m.Workspaces)
			if msg != "" {
				part = withToasts(part, []components.Flash{flashOf("success", msg)})
			}
			return render(c, status, part, part)
		}
	}
	return orgbase.Errorf(orgbase.ENOTFOUND, "Member not found.")
}

// handleAccessGrant gives a member access to a workspace from the panel.
func (s *Server) handleAccessGrant(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	uid, err := strconv.ParseInt(c.Param("user"), 10, 64)
	if err != nil {
		return orgbase.Errorf(orgbase.ENOTFOUND, "Member not found.")
	}
	if _, err := s.memberByID(c, uid); err != nil {
		return err
	}
	wsID, _ := strconv.ParseInt(c.FormValue("workspace_id"), 10, 64)
	if wsID <= 0 {
		return s.renderAccessRow(c, http.StatusUnprocessableEntity, uid, "", "Choose a workspace.")
	}
	role := orgbase.WorkspaceRole(c.FormValue("role"))
	if !role.Valid() {
		return s.renderAccessRow(c, http.StatusUnprocessableEntity, uid, "", "Choose Member or Manager.")
	}
	err = s.workspaces.SetGrant(ctx, sc.Org.ID, sc.Access, wsID, uid, role)
	switch orgbase.ErrorCode(err) {
	case "":
		return s.renderAccessRow(c, http.StatusOK, uid, "Access given.", "")
	case orgbase.ECONFLICT, orgbase.EINVALID:
		return s.renderAccessRow(c, http.StatusUnprocessableEntity, uid, "", orgbase.ErrorMessage(err))
	}
	// ENOTFOUND: the picker only offers this organization's workspaces and
	// members, so an unknown id is tampering or a race: a plain 404.
	return err
}

// memberByID returns a member of the request's organization, or ENOTFOUND.
func (s *Server) memberByID(c echo.Context, userID int64) (*orgbase.Member, error) {
	members, err := s.workspaces.FindMembers(c.Request().Context(), orgOf(c).Org.ID)
	if err != nil {
		return nil, err
	}
	for i := range members {
		if members[i].UserID == userID {
			return &members[i], nil
		}
	}
	return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Member not found.")
}
