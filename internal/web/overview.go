package web

import (
	"context"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/orgs"
	"github.com/orgbase/orgbase/views/workspaces"
)

// OverviewStore is what the Overview tab reads (store/overview.go): the
// rollups and the ledger, a few statements per page whatever the volume.
type OverviewStore interface {
	DailyUsage(ctx context.Context, orgID int64, s store.UsageScope) ([]store.DayUsage, error)
	UsageTotal(ctx context.Context, orgID int64, s store.UsageScope) (orgbase.Credits, error)
	TopWorkspaces(ctx context.Context, orgID int64, s store.UsageScope, n int) ([]store.TopWorkspace, error)
	TopMembers(ctx context.Context, orgID int64, s store.UsageScope, n int) ([]store.TopMember, error)
	CreditsAdded(ctx context.Context, orgID int64, since, until time.Time) (orgbase.Credits, error)
	MemberLimitStatus(ctx context.Context, orgID, userID int64) (*orgbase.Credits, orgbase.Credits, error)
}

// Overview settings.
const (
	overviewTopN         = 5  // rows of the top workspaces and top members
	overviewMaxAvailable = 4  // granted workspaces whose credits a member sees
	overviewDefaultDays  = 30 // the chart's default period
	burnDays             = 7  // the burn rate's window
)

// overviewPeriods are the chart's fixed periods, in days.
var overviewPeriods = map[string]int{"7d": 7, "30d": 30, "90d": 90}

// seesOrgUsage reports whether the viewer gets the full Overview (SPEC
// §4.1: owners, admins and billing); others see their own usage only.
func seesOrgUsage(sc *scope) bool {
	if !sc.Access.Active() {
		return false
	}
	switch sc.Membership.Role {
	case orgbase.RoleOwner, orgbase.RoleAdmin, orgbase.RoleBilling:
		return true
	}
	return false
}

// handleOrgShow is the Overview tab. The chart's filter form asks for the
// usage panel alone (HX-Target usage-panel); a refused filter answers 422
// with the message in the panel, never a 500.
func (s *Server) handleOrgShow(c echo.Context) error {
	sc := orgOf(c)
	full := seesOrgUsage(sc)
	panel, err := s.usagePanel(c, full)
	if err != nil {
		return err
	}
	status := http.StatusOK
	if panel.Error != "" {
		status = http.StatusUnprocessableEntity
	}
	h := c.Request().Header
	if isHTMX(c) && h.Get("HX-Target") == "usage-panel" && h.Get("HX-History-Restore-Request") != "true" {
		return render(c, status, orgs.UsagePanelView(panel), nil)
	}
	m := orgs.OverviewModel{Full: full, Usage: panel, Month: s.now().UTC().Format("January 2006")}
	if err := s.overviewCards(c, &m); err != nil {
		return err
	}
	sh, err := s.shell(c, sc.Org.Name, "overview")
	if err != nil {
		return err
	}
	sh.Charts = true
	return render(c, status, orgs.Overview(sh, m), nil)
}

// overviewRange reads the chart's range as of now: period 7d, 30d or 90d
// (30d when empty) ending today, or custom with from and to (the default
// period when both are empty). A refused range comes back as msg, with
// the period and days to show in the form.
func overviewRange(period, from, to string, now time.Time) (string, string, string, string) {
	today := now.UTC()
	todayDay := today.Format(time.DateOnly)
	if period == "" {
		period = "30d"
	}
	if n, ok := overviewPeriods[period]; ok {
		return period, today.AddDate(0, 0, 1-n).Format(time.DateOnly), todayDay, ""
	}
	if period != "custom" {
		return "30d", today.AddDate(0, 0, 1-overviewDefaultDays).Format(time.DateOnly), todayDay, "Choose 7, 30 or 90 days, or a custom range."
	}
	if from == "" && to == "" {
		// Switching to Custom starts from the default period, to edit.
		from, to = today.AddDate(0, 0, 1-overviewDefaultDays).Format(time.DateOnly), todayDay
	}
	if err := store.CheckReportRange(from, to); err != nil {
		return period, from, to, orgbase.ErrorMessage(err)
	} else if to > todayDay {
		return period, from, to, "Choose an end day no later than today (" + today.Format("Jan 2, 2006") + ")."
	}
	return period, from, to, ""
}

// usagePanel reads the chart's filters from the query — range (7d, 30d,
// 90d or custom with from and to) and workspace — and loads the series and,
// for the full view, the top lists. A refused filter sets Error and loads
// nothing; err is for failures only.
func (s *Server) usagePanel(c echo.Context, full bool) (orgs.UsagePanel, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	q := c.QueryParams()
	p := orgs.UsagePanel{URL: "/orgs/" + sc.Org.Slug, Own: !full, Period: q.Get("range"), Workspace: q.Get("workspace")}
	all, err := s.orgWorkspaces(c, true)
	if err != nil {
		return p, err
	}
	if ws, ok := c.Get("workspaces").([]*orgbase.Workspace); !ok || ws == nil {
		// The shell's switcher wants the active ones: the same list, filtered,
		// saves it a query.
		active := make([]*orgbase.Workspace, 0, len(all))
		for _, w := range all {
			if w.ArchivedAt == nil {
				active = append(active, w)
			}
		}
		c.Set("workspaces", active)
	}
	visible := func(w *orgbase.Workspace) bool { return full || sc.Access.CanView(w.Path) }
	for _, n := range flatten(workspaces.BuildTree(all, visible, func(*workspaces.Node) {})) {
		p.Options = append(p.Options, orgs.WorkspaceOption{ID: n.WS.ID, Name: n.WS.Name, Level: n.Level, Archived: n.WS.ArchivedAt != nil})
	}

	p.Period, p.From, p.To, p.Error = overviewRange(p.Period, q.Get("from"), q.Get("to"), s.now())

	scope := store.UsageScope{From: p.From, To: p.To}
	if !full {
		scope.UserID = sc.Membership.UserID
	}
	if p.Workspace != "" {
		ws := findVisible(all, p.Workspace, visible)
		if ws == nil {
			p.Error = "That workspace is not one you can see in this organization. Choose one from the list."
		} else if !ws.IsPrimary() {
			// Primary's subtree is the whole organization: no filter keeps the
			// queries on the coarse rollups (usage_daily only under a filter).
			scope.Path = ws.Path
		}
	}
	if p.Error != "" {
		return p, nil
	}

	days, err := s.orgs.DailyUsage(ctx, sc.Org.ID, scope)
	if orgbase.ErrorCode(err) == orgbase.EINVALID {
		p.Error = orgbase.ErrorMessage(err)
		return p, nil
	} else if err != nil {
		return p, err
	}
	p.Days = make([]orgs.Day, len(days))
	for i, d := range days {
		p.Days[i] = orgs.Day{Day: d.Day, ImageSpeech: d.ImageSpeech, Chatbot: d.Chatbot}
		p.ImageSpeech += d.ImageSpeech
		p.Chatbot += d.Chatbot
	}
	if !full || p.Total() == 0 {
		return p, nil
	}

	tw, err := s.orgs.TopWorkspaces(ctx, sc.Org.ID, scope, overviewTopN)
	if err != nil {
		return p, err
	}
	byID := make(map[int64]*orgbase.Workspace, len(all))
	for _, w := range all {
		byID[w.ID] = w
	}
	for _, w := range tw {
		row := orgs.TopRow{Label: w.Name, Credits: w.Credits}
		if row.Label == "" {
			row.Label = "Deleted workspace"
		}
		if ws := byID[w.ID]; ws != nil {
			row.Sub = parentTrail(ws, byID)
			if sc.Access.CanView(ws.Path) {
				row.Href = p.URL + "/workspaces/" + strconv.FormatInt(ws.ID, 10)
			}
		}
		if w.Archived {
			row.Sub = joinSub(row.Sub, "archived")
		}
		p.TopWorkspaces = append(p.TopWorkspaces, row)
	}
	tm, err := s.orgs.TopMembers(ctx, sc.Org.ID, scope, overviewTopN)
	if err != nil {
		return p, err
	}
	canMembers := orgbase.Can(sc.actor(), orgbase.ActionMembersManage)
	for _, u := range tm {
		row := orgs.TopRow{Label: u.Name, Sub: u.Email, Credits: u.Credits}
		if row.Label == "" {
			row.Label, row.Sub = u.Email, ""
		}
		if row.Label == "" {
			row.Label = "Deleted account"
		}
		if canMembers && u.Email != "" {
			row.Href = p.URL + "/members?q=" + url.QueryEscape(u.Email)
		}
		p.TopMembers = append(p.TopMembers, row)
	}
	return p, nil
}

// findVisible returns the workspace whose id is the text id, if the viewer
// may see it; nil for malformed, unknown, foreign or hidden ids alike.
func findVisible(all []*orgbase.Workspace, id string, visible func(*orgbase.Workspace) bool) *orgbase.Workspace {
	n, err := strconv.ParseInt(id, 10, 64)
	if err != nil || n <= 0 {
		return nil
	}
	for _, w := range all {
		if w.ID == n && visible(w) {
			return w
		}
	}
	return nil
}

// parentTrail names the workspace's ancestors below Primary: "Clients › Acme".
func parentTrail(ws *orgbase.Workspace, byID map[int64]*orgbase.Workspace) string {
	ids := orgbase.PathIDs(ws.Path)
	out := ""
	for _, id := range ids[:max(len(ids)-1, 0)] {
		if a := byID[id]; a != nil && !a.IsPrimary() {
			out = joinSub(out, a.Name)
		}
	}
	if out == "" && !ws.IsPrimary() {
		return ""
	}
	return out
}

func joinSub(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "archived":
		return a + " · " + b
	}
	return a + " › " + b
}

// overviewCards fills the cards: for the full view the credits added this
// month, what remains (the pool plus every budget), members and the burn
// rate; for others what they can spend, their member limit and their use
// this month.
func (s *Server) overviewCards(c echo.Context, m *orgs.OverviewModel) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	now := s.now().UTC()
	month := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	today := now.Format(time.DateOnly)
	if !m.Full {
		return s.memberCards(c, m, month, today)
	}
	n, err := s.orgs.CountMembers(ctx, sc.Org.ID)
	if err != nil {
		return err
	}
	m.Members = n
	if m.Added, err = s.orgs.CreditsAdded(ctx, sc.Org.ID, month, month.AddDate(0, 1, 0)); err != nil {
		return err
	}
	accts, err := s.workspaces.FindAccounts(ctx, sc.Org.ID)
	if err != nil {
		return err
	}
	for _, a := range accts {
		switch a.Kind {
		case orgbase.AccountPool:
			m.Pool += a.Balance
		case orgbase.AccountWorkspace:
			m.Budgets += a.Balance
			if a.Balance > 0 {
				m.BudgetCount++
			}
		}
	}
	m.Remaining = m.Pool + m.Budgets
	week := store.UsageScope{From: now.AddDate(0, 0, 1-burnDays).Format(time.DateOnly), To: today}
	spent, err := s.orgs.UsageTotal(ctx, sc.Org.ID, week)
	if err != nil {
		return err
	}
	m.BurnRate, m.HasBurn = spent/burnDays, spent > 0
	invoices, err := s.billing.FindInvoices(ctx, sc.Org.ID)
	if err != nil {
		return err
	}
	m.Invoices = invoices[:min(len(invoices), overviewInvoices)]
	return nil
}

// overviewInvoices is how many billing records the Overview lists.
const overviewInvoices = 3

// memberCards fills the limited view: for each workspace the member was
// granted (a few), what they can spend there now — its funding balance and
// limits (WorkspaceBalanceReport), and their own member limit.
func (s *Server) memberCards(c echo.Context, m *orgs.OverviewModel, month time.Time, today string) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	limit, used, err := s.orgs.MemberLimitStatus(ctx, sc.Org.ID, sc.Membership.UserID)
	if err != nil {
		return err
	}
	m.MemberLimit, m.MemberUsed = limit, used
	mine := store.UsageScope{From: month.Format(time.DateOnly), To: today, UserID: sc.Membership.UserID}
	if m.MyMonth, err = s.orgs.UsageTotal(ctx, sc.Org.ID, mine); err != nil {
		return err
	}
	seen := map[int64]bool{}
	for _, g := range sc.Access.Grants {
		if len(m.Available) == overviewMaxAvailable || seen[g.WorkspaceID] {
			continue
		}
		seen[g.WorkspaceID] = true
		b, err := s.api.WorkspaceBalanceReport(ctx, sc.Org.ID, g.WorkspaceID)
		if orgbase.ErrorCode(err) == orgbase.ENOTFOUND {
			continue
		} else if err != nil {
			return err
		}
		if b.Workspace.ArchivedAt != nil {
			continue
		}
		a := orgs.AvailableCredits{WorkspaceID: b.Workspace.ID, Name: b.Workspace.Name, Available: max(b.Funding.Balance, 0), Because: "the organization pool"}
		if b.Funding.Kind == orgbase.AccountWorkspace {
			a.Because = "its budget"
			if b.Funding.WorkspaceID != nil && *b.Funding.WorkspaceID != b.Workspace.ID {
				a.Because = "the budget it shares"
			}
		}
		for _, l := range b.Limits {
			if l.Remaining() < a.Available {
				a.Available, a.Because = l.Remaining(), "the monthly limit of "+l.Name
			}
		}
		if limit != nil && m.MemberLeft() < a.Available {
			a.Available, a.Because = m.MemberLeft(), "your monthly limit"
		}
		m.Available = append(m.Available, a)
	}
	return nil
}
