package web

import (
	"crypto/rand"
	"encoding/hex"
	"net/http"
	"sort"
	"strconv"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// balances maps each workspace to its own balance: the pool for Primary,
// its budget account for a workspace in budget mode. One query.
func (s *Server) balances(c echo.Context) (map[int64]orgbase.Credits, error) {
	accts, err := s.workspaces.FindAccounts(c.Request().Context(), orgOf(c).Org.ID)
	if err != nil {
		return nil, err
	}
	out := map[int64]orgbase.Credits{}
	for _, a := range accts {
		if (a.Kind == orgbase.AccountPool || a.Kind == orgbase.AccountWorkspace) && a.WorkspaceID != nil {
			out[*a.WorkspaceID] = a.Balance
		}
	}
	return out, nil
}

// hasBalance reports whether the workspace holds credits of its own.
func hasBalance(w *orgbase.Workspace) bool {
	return w.IsPrimary() || w.FundingMode == orgbase.FundingBudget
}

// accountRef is the ledger account of a workspace's own balance.
func accountRef(w *orgbase.Workspace) orgbase.AccountRef {
	if w.IsPrimary() {
		return orgbase.PoolAccount()
	}
	return orgbase.WorkspaceAccount(w.ID)
}

func balanceName(w *orgbase.Workspace) string {
	if w.IsPrimary() {
		return orgbase.AccountPool.Label()
	}
	return w.Name
}

func newDialogKey() string {
	var b [16]byte
	_, _ = rand.Read(b[:])
	return "web-credits-" + hex.EncodeToString(b[:])
}

// creditsModel builds the Manage credits dialog of ws from the request's
// direction, account and amount (query or form): the accounts the viewer may
// move credits with (the pool and budget workspaces they manage), and the
// preview of both balances. Two queries whatever the size of the tree.
func (s *Server) creditsModel(c echo.Context, ws *orgbase.Workspace) (workspaces.CreditsModel, map[string]*orgbase.Workspace, error) {
	sc := orgOf(c)
	all, err := s.orgWorkspaces(c, false)
	if err != nil {
		return workspaces.CreditsModel{}, nil, err
	}
	bal, err := s.balances(c)
	if err != nil {
		return workspaces.CreditsModel{}, nil, err
	}
	m := workspaces.CreditsModel{WS: ws, Name: balanceName(ws), Balance: bal[ws.ID], NoBudget: !hasBalance(ws),
		CanBudget: sc.Access.CanSetFundingMode(ws, ws.ParentPath()), Fields: map[string]string{},
		Direction: c.FormValue("direction"), Other: sanitizeEcho(c.FormValue("account")), Amount: sanitizeEcho(c.FormValue("amount"))}
	if m.Direction != "out" {
		m.Direction = "in"
	}
	byValue := map[string]*orgbase.Workspace{}
	var opts []*orgbase.Workspace
	for _, w := range all {
		if w.ID == ws.ID || w.ArchivedAt != nil || !hasBalance(w) || !sc.Access.CanManage(w.Path) {
			continue
		}
		opts = append(opts, w)
	}
	sort.SliceStable(opts, func(i, j int) bool {
		if opts[i].IsPrimary() != opts[j].IsPrimary() {
			return opts[i].IsPrimary()
		}
		return opts[i].Path < opts[j].Path
	})
	for _, w := range opts {
		v := strconv.FormatInt(w.ID, 10)
		if w.IsPrimary() {
			v = "pool"
		}
		byValue[v] = w
		m.Options = append(m.Options, workspaces.CreditsOption{Value: v, Name: balanceName(w), Balance: bal[w.ID]})
	}
	if m.Find(m.Other) == nil && len(m.Options) > 0 {
		if m.Other != "" && c.Request().Method == http.MethodPost {
			m.Fields["account"] = "Choose a balance you manage."
		}
		m.Other = m.Options[0].Value
		// A manager's natural source is the nearest budget above.
		for i := len(m.Options) - 1; i >= 0; i-- {
			if w := byValue[m.Options[i].Value]; orgbase.IsWithin(ws.Path, w.Path) {
				m.Other = m.Options[i].Value
				break
			}
		}
	}
	if amt, err := orgbase.ParseCredits(m.Amount); err == nil && amt > 0 && !m.NoBudget {
		if o := m.Find(m.Other); o != nil {
			p := &workspaces.CreditsPreview{FromName: o.Name, FromBefore: o.Balance, ToName: m.Name, ToBefore: m.Balance}
			if m.Direction == "out" {
				p = &workspaces.CreditsPreview{FromName: m.Name, FromBefore: m.Balance, ToName: o.Name, ToBefore: o.Balance}
			}
			p.FromAfter, p.ToAfter = p.FromBefore-amt, p.ToBefore+amt
			p.Short = amt > p.FromBefore
			m.Preview = p
		}
	}
	return m, byValue, nil
}

func (s *Server) renderCredits(c echo.Context, status int, m workspaces.CreditsModel) error {
	return s.renderDialog(c, status, "Manage credits of "+m.WS.Name, func(sh layout.Shell) templ.Component { return workspaces.CreditsDialog(sh, m) })
}

// handleCreditsNew shows the Manage credits dialog (and, with hx-select,
// refreshes its preview as the amount changes).
func (s *Server) handleCreditsNew(c echo.Context) error {
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !orgOf(c).Access.CanManage(ws.Path) {
		return forbidden()
	}
	m, _, err := s.creditsModel(c, ws)
	if err != nil {
		return err
	}
	m.Key = newDialogKey()
	return s.renderCredits(c, http.StatusOK, m)
}

// handleCreditsMove moves credits between ws and the chosen account: one
// ledger transfer, idempotent on the dialog's key.
func (s *Server) handleCreditsMove(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanManage(ws.Path) {
		return forbidden()
	}
	m, byValue, err := s.creditsModel(c, ws)
	if err != nil {
		return err
	}
	m.Key = sanitizeEcho(c.FormValue("key"))
	if m.Key == "" || len(m.Key) > orgbase.MaxIdempotencyKeyLen {
		m.Key = newDialogKey()
	}
	fail := func() error { return s.renderCredits(c, http.StatusUnprocessableEntity, m) }
	if ws.ArchivedAt != nil {
		m.Error = ws.Name + " is archived."
		return fail()
	}
	if m.NoBudget {
		m.Error = ws.Name + " shares the credits of the workspaces above it; switch it to its own budget first."
		return fail()
	}
	other := byValue[m.Other]
	if other == nil {
		if m.Fields["account"] == "" {
			m.Fields["account"] = "There is no other balance you manage to move credits with."
		}
		return fail()
	}
	amount, err := orgbase.ParseCredits(c.FormValue("amount"))
	if err == nil && amount == 0 {
		err = orgbase.Errorf(orgbase.EINVALID, "Enter an amount above zero.")
	}
	if err != nil {
		m.Fields["amount"] = orgbase.ErrorMessage(err)
	}
	if len(m.Fields) > 0 {
		return fail()
	}
	from, to := accountRef(other), accountRef(ws)
	fromName, toName := balanceName(other), m.Name
	if m.Direction == "out" {
		from, to = to, from
		fromName, toName = toName, fromName
	}
	t, err := s.workspaces.Transfer(c.Request().Context(), sc.Org.ID, sc.Access, from, to, amount, orgbase.TransferMove, "", m.Key)
	if err != nil {
		switch orgbase.ErrorCode(err) {
		case orgbase.EINVALID, orgbase.ECONFLICT:
			if f := orgbase.ErrorFields(err); f != nil {
				for k, v := range f {
					if k == "amount" || k == "account" {
						m.Fields[k] = v
					} else {
						m.Error = v
					}
				}
			} else {
				m.Error = orgbase.ErrorMessage(err)
			}
			return fail()
		}
		return err
	}
	msg := "Moved " + t.Amount.String() + " credits from " + fromName + " to " + toName + "."
	if t.Replayed {
		msg = "Already done: " + t.Amount.String() + " credits moved from " + fromName + " to " + toName + "."
	}
	s.alertSoon(sc.Org.ID) // a top-up or a move changes balance alerts (alerts.go)
	return s.afterTreeChange(c, msg)
}

// handleFundingMode switches one workspace between shared and budget.
func (s *Server) handleFundingMode(c echo.Context) error {
	sc := orgOf(c)
	ws, err := s.workspaceParam(c)
	if err != nil {
		return err
	}
	if !sc.Access.CanSetFundingMode(ws, ws.ParentPath()) {
		return forbidden()
	}
	mode := orgbase.FundingMode(c.FormValue("mode"))
	if !mode.Valid() {
		return orgbase.Errorf(orgbase.EINVALID, "Choose shared or budget.")
	}
	before := orgbase.Credits(0)
	if mode == orgbase.FundingShared && ws.FundingMode == orgbase.FundingBudget {
		bal, err := s.balances(c)
		if err != nil {
			return err
		}
		before = bal[ws.ID]
	}
	updated, err := s.workspaces.SetFundingMode(c.Request().Context(), sc.Org.ID, sc.Access, ws.ID, mode)
	if err != nil {
		return err
	}
	msg := updated.Name + " now has its own budget. Use Credits to fund it."
	if mode == orgbase.FundingShared {
		msg = updated.Name + " now shares the credits above it."
		if before > 0 {
			msg = updated.Name + " now shares the credits above it; its " + before.String() + " credits went back."
		}
	}
	s.alertSoon(sc.Org.ID)
	return s.afterTreeChange(c, msg)
}

// handleOrgFunding is the organization-wide shortcut: "shared" switches
// every workspace to shared (deepest first, so each balance returns up the
// tree); "budgets" puts every top-level workspace in budget mode. Each
// switch is its own transaction: a failure part way leaves the switches
// already made in place, each of them complete and balanced.
func (s *Server) handleOrgFunding(c echo.Context) error {
	sc := orgOf(c)
	if !sc.Access.SeesAll() {
		return orgbase.Errorf(orgbase.EFORBIDDEN, "Only owners and admins switch the organization's funding.")
	}
	choice := c.FormValue("mode")
	if choice != "shared" && choice != "budgets" {
		return orgbase.Errorf(orgbase.EINVALID, "Choose Shared pool or Workspace budgets.")
	}
	all, err := s.orgWorkspaces(c, false)
	if err != nil {
		return err
	}
	var todo []*orgbase.Workspace
	mode := orgbase.FundingBudget
	if choice == "shared" {
		mode = orgbase.FundingShared
	}
	for _, w := range all {
		if w.IsPrimary() || w.FundingMode == mode {
			continue
		}
		if choice == "shared" || w.Depth == 1 {
			todo = append(todo, w)
		}
	}
	sort.SliceStable(todo, func(i, j int) bool { return todo[i].Depth > todo[j].Depth })
	for _, w := range todo {
		if _, err := s.workspaces.SetFundingMode(c.Request().Context(), sc.Org.ID, sc.Access, w.ID, mode); err != nil {
			return err
		}
	}
	msg := "Every workspace now shares the organization pool."
	if choice == "budgets" {
		msg = "Every top-level workspace now has its own budget. Use Credits to fund them."
	}
	s.alertSoon(sc.Org.ID)
	return s.afterTreeChange(c, msg)
}

// orgMode is which of the shortcut's two settings the tree is in, if any.
func orgMode(all []*orgbase.Workspace) string {
	shared, budgets := true, true
	top := 0
	for _, w := range all {
		if w.IsPrimary() || w.ArchivedAt != nil {
			continue
		}
		if w.FundingMode == orgbase.FundingBudget {
			shared = false
		}
		if w.Depth == 1 {
			top++
			if w.FundingMode != orgbase.FundingBudget {
				budgets = false
			}
		}
	}
	switch {
	case shared:
		return "shared"
	case budgets && top > 0:
		return "budgets"
	}
	return ""
}
