package web

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/members"
	"github.com/orgbase/orgbase/views/workspaces"
)

// Monthly limits (SPEC §5.4) and the usage columns of the Workspaces tab.

// usageData is what the tree's limit and usage columns show: this month's
// spending of each workspace (with its subtree, from the limit counters)
// and its usage by category in the chosen period (from the daily rollups).
type usageData struct {
	period  orgbase.UsagePeriod
	month   string // this month, as people read it
	monthly map[int64]orgbase.Credits
	byCat   map[int64]map[orgbase.Category]orgbase.Credits
}

// usage loads the usage columns for the period named by key: two queries
// whatever the size of the tree.
func (s *Server) usage(c echo.Context, key string) (usageData, error) {
	ctx := c.Request().Context()
	orgID := orgOf(c).Org.ID
	now := s.now()
	u := usageData{period: orgbase.ResolveUsagePeriod(key, now), month: orgbase.PeriodLabel(orgbase.Period(now))}
	var err error
	if u.monthly, err = s.workspaces.WorkspaceUsage(ctx, orgID, orgbase.Period(now)); err != nil {
		return u, err
	}
	if u.byCat, err = s.workspaces.WorkspaceUsageByCategory(ctx, orgID, u.period.From, u.period.To); err != nil {
		return u, err
	}
	return u, nil
}

// decorate sets a node's limit, usage and what the viewer may do with its limit.
func (u usageData) decorate(a orgbase.Access, n *workspaces.Node) {
	n.Limit = n.WS.MonthlyLimit
	n.LimitUsed = u.monthly[n.WS.ID]
	n.CanLimit = n.WS.ArchivedAt == nil && a.CanSetWorkspaceLimit(n.WS)
	n.ImageSpeech = u.byCat[n.WS.ID][orgbase.CategoryImageSpeech]
	n.Chatbot = u.byCat[n.WS.ID][orgbase.CategoryChatbot]
}

// periodKeyOf is the usage period of the page the request comes from: the
// query's, else (an htmx request from the tab) the page's.
func periodKeyOf(c echo.Context) string {
	if p := c.QueryParam("period"); p != "" {
		return p
	}
	if cur, err := url.Parse(c.Request().Header.Get("HX-Current-URL")); err == nil {
		return cur.Query().Get("period")
	}
	return ""
}

// parseLimit reads a limit as typed: empty for none, else credits with up
// to three decimals. The error is the field's message.
func parseLimit(raw string) (*orgbase.Credits, string) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return nil, ""
	}
	if strings.HasPrefix(raw, "-") {
		return nil, "A limit cannot be negative: enter zero or more credits, or leave empty for no limit."
	}
	v, err := orgbase.ParseCredits(raw)
	if err != nil {
		return nil, orgbase.ErrorMessage(err)
	}
	return &v, ""
}

// workspaceMonthUse is what ws, with everything below it, spent this month
// (one query): the limit's counter when it has a limit (what charges are
// checked against), else the daily rollups (only limited workspaces keep a
// counter).
func (s *Server) workspaceMonthUse(c echo.Context, ws *orgbase.Workspace) (orgbase.Credits, error) {
	ctx := c.Request().Context()
	now := s.now()
	if ws.MonthlyLimit != nil {
		used, err := s.workspaces.WorkspaceUsage(ctx, ws.OrgID, orgbase.Period(now))
		return used[ws.ID], err
	}
	month := orgbase.ResolveUsagePeriod("month", now)
	used, err := s.workspaces.WorkspaceUsageByCategory(ctx, ws.OrgID, month.From, month.To)
	return sumCategories(used[ws.ID]), err
}

// memberMonthUse is what the member spent in the organization this month
// (one query), as workspaceMonthUse.
func (s *Server) memberMonthUse(c echo.Context, mem *orgbase.Member) (orgbase.Credits, error) {
	ctx := c.Request().Context()
	orgID := orgOf(c).Org.ID
	now := s.now()
	if mem.MonthlyLimit != nil {
		used, err := s.members.MemberUsage(ctx, orgID, orgbase.Period(now))
		return used[mem.UserID], err
	}
	month := orgbase.ResolveUsagePeriod("month", now)
	used, err := s.members.MemberUsageByCategory(ctx, orgID, month.From, month.To)
	return sumCategories(used[mem.UserID]), err
}

func sumCategories(m map[orgbase.Category]orgbase.Credits) orgbase.Credits {
	var t orgbase.Credits
	for _, c := range m {
		t += c
	}
	return t
}

// limitModel builds the limit dialog of ws: its limit, this month's use and
// the nearest limit above it (two queries).
func (s *Server) limitModel(c echo.Context, ws *orgbase.Workspace) (workspaces.LimitModel, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	now := s.now()
	m := workspaces.LimitModel{WS: ws, Current: ws.MonthlyLimit, Month: orgbase.PeriodLabel(orgbase.Period(now)), Fields: map[string]string{}}
	if ws.MonthlyLimit != nil {
		m.Value = ws.MonthlyLimit.String()
	}
	var err error
	if m.Used, err = s.workspaceMonthUse(c, ws); err != nil {
		return m, err
	}
	ancestors, err := s.workspaces.FindAncestors(ctx, ws)
	if err != nil {
		return m, err
	}
	for _, a := range ancestors { // root first: the last one with a limit is the nearest
		if a.MonthlyLimit != nil {
			m.Above, m.AboveName = *a.MonthlyLimit, a.Name
			if !sc.Access.CanView(a.Path) {
				m.AboveName = "a workspace above it"
			}
		}
	}
	if ws.ArchivedAt != nil {
		m.Error = ws.Name + " is archived: restore it to change its limit."
	}
	return m, nil
}

func (s *Server) renderLimit(c echo.Context, status int, m workspaces.LimitModel) error {
	return s.renderDialog(c, status, "Monthly limit of "+m.WS.Name, func(sh layout.Shell) templ.Component { return workspaces.LimitDialog(sh, m) })
}

// handleWorkspaceLimitEdit shows the monthly limit dialog (those who manage
// the workspace's parent; owners and admins for the Primary).
func (s *Server) handleWorkspaceLimitEdit(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !orgOf(c).Access.CanSetWorkspaceLimit(ws) {
		return orgbase.Errorf(orgbase.EFORBIDDEN, "Only those who manage the workspace above %s set its limit.", ws.Name)
	}
	m, err := s.limitModel(c, ws)
	if err != nil {
		return err
	}
	return s.renderLimit(c, http.StatusOK, m)
}

// handleWorkspaceLimitUpdate sets the limit, or clears it (an empty amount,
// or the Remove limit button). Refusals (a malformed amount, a limit above
// the parent's or below a child's) re-render the dialog with the store's
// message and change nothing.
func (s *Server) handleWorkspaceLimitUpdate(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanSetWorkspaceLimit(ws) {
		return orgbase.Errorf(orgbase.EFORBIDDEN, "Only those who manage the workspace above %s set its limit.", ws.Name)
	}
	m, err := s.limitModel(c, ws)
	if err != nil {
		return err
	}
	m.Error = ""
	m.Value = sanitizeEcho(c.FormValue("monthly_limit"))
	var limit *orgbase.Credits
	if c.FormValue("clear") == "1" {
		m.Value = ""
	} else {
		var msg string
		if limit, msg = parseLimit(c.FormValue("monthly_limit")); msg != "" {
			m.Fields["monthly_limit"] = msg
			return s.renderLimit(c, http.StatusUnprocessableEntity, m)
		}
	}
	updated, err := s.workspaces.SetWorkspaceLimit(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, limit)
	switch orgbase.ErrorCode(err) {
	case "":
		s.alertSoon(sc.Org.ID) // a lower limit may be past a threshold already
	case orgbase.EINVALID:
		if f := orgbase.ErrorFields(err)["monthly_limit"]; f != "" {
			m.Fields["monthly_limit"] = f
		} else {
			m.Error = orgbase.ErrorMessage(err)
		}
		return s.renderLimit(c, http.StatusUnprocessableEntity, m)
	case orgbase.ECONFLICT:
		m.Error = orgbase.ErrorMessage(err)
		return s.renderLimit(c, http.StatusUnprocessableEntity, m)
	default:
		return err
	}
	msg := "The monthly limit of " + updated.Name + " was removed."
	if limit != nil {
		msg = "The monthly limit of " + updated.Name + " is now " + limit.String() + " credits."
	}
	return s.afterTreeChange(c, msg)
}

// memberLimitForm builds the member limit dialog (one query for this
// month's use; the member comes from memberByID).
func (s *Server) memberLimitForm(c echo.Context, mem *orgbase.Member) (members.LimitForm, error) {
	now := s.now()
	f := members.LimitForm{Member: *mem, Month: orgbase.PeriodLabel(orgbase.Period(now)), Fields: map[string]string{}}
	if mem.MonthlyLimit != nil {
		f.Value = mem.MonthlyLimit.String()
	}
	var err error
	f.Used, err = s.memberMonthUse(c, mem)
	return f, err
}

func (s *Server) renderMemberLimit(c echo.Context, status int, f members.LimitForm) error {
	sh, err := s.shell(c, "Monthly limit of "+f.Member.Name, "members")
	if err != nil {
		return err
	}
	b := members.LimitDialog(sh, f)
	return render(c, status, members.DialogPage(sh, b), b)
}

// memberForLimit resolves :user to a member the caller may set a limit on:
// 404 for anyone not in the organization, 403 for an owner when the caller
// is an admin.
func (s *Server) memberForLimit(c echo.Context) (*orgbase.Member, error) {
	uid, err := memberParam(c)
	if err != nil {
		return nil, err
	}
	mem, err := s.memberByID(c, uid)
	if err != nil {
		return nil, err
	}
	target := &orgbase.Membership{OrgID: orgOf(c).Org.ID, UserID: mem.UserID, Role: mem.Role, Status: mem.Status, MonthlyLimit: mem.MonthlyLimit}
	if !orgOf(c).Access.CanSetMemberLimit(target) {
		return nil, orgbase.Errorf(orgbase.EFORBIDDEN, "Only owners set an owner's limit.")
	}
	return mem, nil
}

// handleMemberLimitEdit shows the member limit dialog.
func (s *Server) handleMemberLimitEdit(c echo.Context) error {
	mem, err := s.memberForLimit(c)
	if err != nil {
		return err
	}
	f, err := s.memberLimitForm(c, mem)
	if err != nil {
		return err
	}
	return s.renderMemberLimit(c, http.StatusOK, f)
}

// handleMemberLimitUpdate sets or clears a member's monthly limit; the
// member's row is swapped in place (out of band, from the dialog).
func (s *Server) handleMemberLimitUpdate(c echo.Context) error {
	sc := orgOf(c)
	mem, err := s.memberForLimit(c)
	if err != nil {
		return err
	}
	f, err := s.memberLimitForm(c, mem)
	if err != nil {
		return err
	}
	f.Value = sanitizeEcho(c.FormValue("monthly_limit"))
	var limit *orgbase.Credits
	if c.FormValue("clear") == "1" {
		f.Value = ""
	} else {
		var msg string
		if limit, msg = parseLimit(c.FormValue("monthly_limit")); msg != "" {
			f.Fields["monthly_limit"] = msg
			return s.renderMemberLimit(c, http.StatusUnprocessableEntity, f)
		}
	}
	err = s.members.SetMemberLimit(c.Request().Context(), sc.Org.ID, sc.Access, mem.UserID, limit)
	switch orgbase.ErrorCode(err) {
	case "":
	case orgbase.EINVALID:
		if msg := orgbase.ErrorFields(err)["monthly_limit"]; msg != "" {
			f.Fields["monthly_limit"] = msg
		} else {
			f.Error = orgbase.ErrorMessage(err)
		}
		return s.renderMemberLimit(c, http.StatusUnprocessableEntity, f)
	default:
		return err
	}
	msg := "The monthly limit of " + mem.Name + " was removed."
	if limit != nil {
		msg = "The monthly limit of " + mem.Name + " is now " + limit.String() + " credits."
	}
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, "", "/orgs/"+sc.Org.Slug+"/members")
	}
	sh, err := s.shell(c, "Members", "members")
	if err != nil {
		return err
	}
	r, ok, err := s.memberRowOf(c, mem.UserID)
	if err != nil {
		return err
	}
	var parts []templ.Component
	if ok {
		r.Flash = true
		// A <tr> swapped out of band travels in a <template>.
		parts = append(parts, oobRow(members.MemberRow(sh, r, s.now())))
	}
	parts = append(parts, components.Toasts([]components.Flash{flashOf("success", msg)}, true))
	c.Response().Header().Set("HX-Trigger", "close-modal")
	part := templ.Join(parts...)
	return render(c, http.StatusOK, part, part)
}

// oobRow swaps a table row out of band.
func oobRow(row templ.Component) templ.Component {
	return templ.Join(templ.Raw("<template>"), oob(row), templ.Raw("</template>"))
}
