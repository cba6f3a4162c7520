package web

import (
	"net/http"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// Workspace API keys on a workspace's home page (SPEC §6): its managers,
// admins and owners list, create and revoke them. A key's secret is shown
// once, in the answer to its creation, and never stored.

// homeExtras adds to a workspace's home page what only its handler shows
// (not the People partial): the monthly limit card with this month's use
// (one query) and, for those who manage the workspace's keys, the keys.
func (s *Server) homeExtras(c echo.Context, ws *orgbase.Workspace, m *workspaces.HomeModel) error {
	sc := orgOf(c)
	used, err := s.workspaceMonthUse(c, ws)
	if err != nil {
		return err
	}
	m.Limit, m.LimitUsed, m.Month = ws.MonthlyLimit, used, orgbase.PeriodLabel(orgbase.Period(s.now()))
	m.CanLimit = ws.ArchivedAt == nil && sc.Access.CanSetWorkspaceLimit(ws)
	m.Keys, err = s.keysModel(c, ws)
	return err
}

// keysModel lists the workspace's keys for someone who manages them; for
// anyone else it is empty and CanKeys is false (no query).
func (s *Server) keysModel(c echo.Context, ws *orgbase.Workspace) (workspaces.CreateKeyModel, error) {
	sc := orgOf(c)
	m := workspaces.CreateKeyModel{CanKeys: sc.Access.CanManageAPIKeys(ws.Path), Fields: map[string]string{}, Now: s.now(), APIURL: s.cfg.URL("/api/v1/usage")}
	if !m.CanKeys {
		return m, nil
	}
	keys, err := s.workspaces.FindAPIKeys(c.Request().Context(), sc.Org.ID, ws.ID)
	if err != nil {
		return m, err
	}
	m.List = keys
	return m, nil
}

// keysWorkspace resolves :ws for the key routes: 404 for a workspace the
// caller cannot see, 403 for one whose keys they do not manage.
func (s *Server) keysWorkspace(c echo.Context) (*orgbase.Workspace, error) {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return nil, err
	}
	if !orgOf(c).Access.CanManageAPIKeys(ws.Path) {
		return nil, orgbase.Errorf(orgbase.EFORBIDDEN, "Only managers of %s, admins and owners manage its API keys.", ws.Name)
	}
	return ws, nil
}

// renderKeys answers a key action: for htmx, the keys card (in place, or
// out of band from the revoke dialog) and a toast; otherwise the whole
// home page, since a new key's secret cannot travel through a redirect.
func (s *Server) renderKeys(c echo.Context, status int, ws *orgbase.Workspace, km workspaces.CreateKeyModel, msg string, fromDialog bool) error {
	if isHTMX(c) {
		sh, err := s.shell(c, ws.Name, "workspaces")
		if err != nil {
			return err
		}
		m := workspaces.HomeModel{WS: ws, Keys: km}
		var flashes []components.Flash
		if msg != "" {
			flashes = append(flashes, flashOf("success", msg))
		}
		part := withToasts(workspaces.APIKeys(sh, m), flashes)
		if fromDialog {
			c.Response().Header().Set("HX-Trigger", "close-modal")
			part = withToasts(oob(workspaces.APIKeys(sh, m)), flashes)
		}
		return render(c, status, part, part)
	}
	m, err := s.homeModel(c, ws)
	if err != nil {
		return err
	}
	if err := s.homeExtras(c, ws, &m); err != nil {
		return err
	}
	m.Keys.Name, m.Keys.Fields, m.Keys.Error, m.Keys.New = km.Name, km.Fields, km.Error, km.New
	sh, err := s.shell(c, ws.Name, "workspaces")
	if err != nil {
		return err
	}
	if msg != "" {
		sh.Flashes = append(sh.Flashes, flashOf("success", msg))
	}
	return render(c, status, workspaces.Home(sh, m), nil)
}

// handleAPIKeyCreate creates a key and shows its secret, this once.
func (s *Server) handleAPIKeyCreate(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.keysWorkspace(c)
	if err != nil {
		return err
	}
	km, err := s.keysModel(c, ws)
	if err != nil {
		return err
	}
	key, secret, err := s.workspaces.CreateAPIKey(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, c.FormValue("name"))
	switch orgbase.ErrorCode(err) {
	case "":
	case orgbase.EINVALID, orgbase.ECONFLICT:
		km.Name = sanitizeEcho(c.FormValue("name"))
		if f := orgbase.ErrorFields(err)["name"]; f != "" {
			km.Fields["name"] = f
		} else {
			km.Error = orgbase.ErrorMessage(err)
		}
		return s.renderKeys(c, http.StatusUnprocessableEntity, ws, km, "", false)
	default:
		return err
	}
	// The list again, with the new key in it (the secret is not in the list).
	if km, err = s.keysModel(c, ws); err != nil {
		return err
	}
	km.New = &workspaces.NewKey{Key: key, Secret: secret}
	return s.renderKeys(c, http.StatusCreated, ws, km, "", false)
}

// apiKeyParam finds :key among the workspace's keys (ENOTFOUND otherwise).
func (s *Server) apiKeyParam(c echo.Context, ws *orgbase.Workspace) (*orgbase.APIKey, error) {
	id, err := strconv.ParseInt(c.Param("key"), 10, 64)
	if err != nil || id <= 0 {
		return nil, orgbase.Errorf(orgbase.ENOTFOUND, "API key not found.")
	}
	keys, err := s.workspaces.FindAPIKeys(c.Request().Context(), orgOf(c).Org.ID, ws.ID)
	if err != nil {
		return nil, err
	}
	for _, k := range keys {
		if k.ID == id {
			return k, nil
		}
	}
	return nil, orgbase.Errorf(orgbase.ENOTFOUND, "API key not found.")
}

// handleAPIKeyRevokeNew asks to confirm a revocation (in the modal, or as a
// page without JavaScript).
func (s *Server) handleAPIKeyRevokeNew(c echo.Context) error {
	ws, err := s.keysWorkspace(c)
	if err != nil {
		return err
	}
	key, err := s.apiKeyParam(c, ws)
	if err != nil {
		return err
	}
	if key.Revoked() {
		return orgbase.Errorf(orgbase.ECONFLICT, "%s was already revoked.", key.Name)
	}
	m := workspaces.RevokeKeyModel{WS: ws, Key: key}
	return s.renderDialog(c, http.StatusOK, "Revoke "+key.Name, func(sh layout.Shell) templ.Component { return workspaces.RevokeKeyDialog(sh, m) })
}

// handleAPIKeyRevoke revokes a key at once (revoking it again changes nothing).
func (s *Server) handleAPIKeyRevoke(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.keysWorkspace(c)
	if err != nil {
		return err
	}
	key, err := s.apiKeyParam(c, ws)
	if err != nil {
		return err
	}
	if _, err := s.workspaces.RevokeAPIKey(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, key.ID); err != nil {
		return err
	}
	msg := key.Name + " was revoked. Requests with it are refused from now on."
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, "", "/orgs/"+sc.Org.Slug+"/workspaces/"+strconv.FormatInt(ws.ID, 10)+"#ws-keys")
	}
	km, err := s.keysModel(c, ws)
	if err != nil {
		return err
	}
	return s.renderKeys(c, http.StatusOK, ws, km, msg, true)
}
