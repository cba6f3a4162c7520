package web

import (
	"context"
	"encoding/base64"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/history"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/workspaces"
)

// HistoryStore is what the History tab needs: the usage events.
type HistoryStore interface {
	FindHistory(ctx context.Context, orgID int64, f store.HistoryFilter) ([]orgbase.UsageEvent, bool, error)
	EachHistory(ctx context.Context, orgID int64, f store.HistoryFilter, fn func(orgbase.UsageEvent) error) error
	HasUsage(ctx context.Context, orgID int64, workspaceIDs []int64) (bool, error)
}

// historyPageSize is how many events one page (and each infinite-scroll
// step) shows.
const historyPageSize = 50

// Bounds of the date filter: older dates are typing mistakes, and a longer
// range is not a question anyone asks of a feed.
const (
	historyMinYear    = 2000
	historyMaxYear    = 9999
	historyMaxRangeYr = 10
)

// historyCategoryPrefix marks a category in the tool filter's values
// ("category:chatbot"); tools are written as the catalog names them.
const historyCategoryPrefix = "category:"

// historyParams is the decoded query string of the History tab: the form's
// values as typed (for re-rendering) and what they mean.
type historyParams struct {
	Filters     history.Filters
	WorkspaceID int64 // 0: every workspace the viewer sees
	Tool        string
	Category    orgbase.Category
	From, To    time.Time // [From, To): To is the day after the inclusive end date
	Cursor      *store.HistoryCursor
}

// decodeHistoryQuery reads the History filters from a query string. It
// checks their form, not the organization: whether the workspace exists
// and may be seen is decided by the caller; knownTool says whether the
// catalog has a tool. Invalid input comes back as field messages keyed by
// "workspace", "tool", "from", "to" and "cursor", never as an error.
func decodeHistoryQuery(q url.Values, knownTool func(string) bool) (historyParams, map[string]string) {
	var p historyParams
	errs := map[string]string{}
	p.Filters = history.Filters{
		Workspace: strings.TrimSpace(q.Get("workspace")),
		Tool:      strings.TrimSpace(q.Get("tool")),
		From:      strings.TrimSpace(q.Get("from")),
		To:        strings.TrimSpace(q.Get("to")),
	}
	switch me := q.Get("me"); me {
	case "", "0", "false", "off":
	default:
		p.Filters.Me = true
	}
	// Every value is echoed into the form: keep it short and printable.
	for _, v := range []*string{&p.Filters.Workspace, &p.Filters.Tool, &p.Filters.From, &p.Filters.To} {
		*v = echoable(*v)
	}
	if v := p.Filters.Workspace; v != "" && v != "all" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			errs["workspace"] = "Choose a workspace from the list."
		}
		p.WorkspaceID = id
	} else {
		p.Filters.Workspace = ""
	}
	if v := p.Filters.Tool; v != "" {
		if cat, ok := strings.CutPrefix(v, historyCategoryPrefix); ok {
			if c := orgbase.Category(cat); c.Valid() {
				p.Category = c
			} else {
				errs["tool"] = "Choose a tool or a category from the list."
			}
		} else if knownTool(v) {
			p.Tool = v
		} else {
			errs["tool"] = "Choose a tool or a category from the list."
		}
	}
	day := func(field, v, label string) (time.Time, bool) {
		if v == "" {
			return time.Time{}, true
		}
		t, err := time.ParseInLocation(time.DateOnly, v, time.UTC)
		if err != nil || t.Format(time.DateOnly) != v {
			errs[field] = "Enter the " + label + " date as YYYY-MM-DD, for example 2025-03-31."
			return time.Time{}, false
		}
		if t.Year() < historyMinYear || t.Year() > historyMaxYear {
			errs[field] = fmt.Sprintf("Choose a %s date between %d and %d.", label, historyMinYear, historyMaxYear)
			return time.Time{}, false
		}
		return t, true
	}
	from, okFrom := day("from", p.Filters.From, "start")
	to, okTo := day("to", p.Filters.To, "end")
	if okFrom && okTo && !from.IsZero() && !to.IsZero() {
		if err := orgbase.CheckDayRange(p.Filters.From, p.Filters.To); err != nil {
			errs["to"] = "The end date is before the start date."
		} else if to.After(from.AddDate(historyMaxRangeYr, 0, 0)) {
			errs["to"] = fmt.Sprintf("Choose a range of at most %d years.", historyMaxRangeYr)
		}
	}
	p.From = from
	if !to.IsZero() {
		p.To = to.AddDate(0, 0, 1) // the end date is inclusive: up to the next midnight
	}
	if v := q.Get("cursor"); v != "" {
		c, ok := decodeHistoryCursor(v)
		if !ok {
			errs["cursor"] = "This page link is broken. Start again from the newest actions."
		}
		p.Cursor = c
	}
	return p, errs
}

// echoable is a query value made safe to show back in a form: valid
// UTF-8 without control characters, at most 200 bytes.
func echoable(v string) string {
	if len(v) > 200 {
		v = v[:200]
	}
	return strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f {
			return -1
		}
		return r
	}, strings.ToValidUTF8(v, ""))
}

// encodeHistoryCursor writes where a page ends as an opaque URL-safe token.
func encodeHistoryCursor(t time.Time, id int64) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "/" + strconv.FormatInt(id, 10)))
}

// decodeHistoryCursor reads a cursor of encodeHistoryCursor, refusing
// anything else (a cursor is only ever written by the server).
func decodeHistoryCursor(s string) (*store.HistoryCursor, bool) {
	if len(s) > 100 {
		return nil, false
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return nil, false
	}
	ts, idStr, ok := strings.Cut(string(b), "/")
	if !ok {
		return nil, false
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil || t.Year() < historyMinYear || t.Year() > historyMaxYear {
		return nil, false
	}
	id, err := strconv.ParseInt(idStr, 10, 64)
	if err != nil || id <= 0 || strconv.FormatInt(id, 10) != idStr {
		return nil, false
	}
	t = t.UTC()
	if encodeHistoryCursor(t, id) != s {
		return nil, false // one cursor, one spelling
	}
	return &store.HistoryCursor{CreatedAt: t, ID: id}, true
}

// historyScope is what the viewer may see of the History: the workspaces
// (archived ones too, as their past usage stays), in tree order.
type historyScope struct {
	seesAll bool
	visible []*workspaces.Node // tree order
	byID    map[int64]*orgbase.Workspace
}

func (s *Server) historyScope(c echo.Context) (historyScope, error) {
	sc := orgOf(c)
	all, err := s.orgWorkspaces(c, true)
	if err != nil {
		return historyScope{}, err
	}
	hs := historyScope{seesAll: orgbase.Can(sc.actor(), orgbase.ActionUsageViewAll), byID: make(map[int64]*orgbase.Workspace, len(all))}
	for _, w := range all {
		hs.byID[w.ID] = w
	}
	hs.visible = flatten(workspaces.BuildTree(all, func(w *orgbase.Workspace) bool { return hs.seesAll || sc.Access.CanView(w.Path) }, func(*workspaces.Node) {}))
	return hs, nil
}

// workspaceIDs resolves the workspace filter: the chosen workspace and its
// subtree, or (none chosen) nil for viewers who see everything and their
// visible workspaces for the others. ok is false for a workspace that is
// not in the organization or that the viewer may not see.
func (hs historyScope) workspaceIDs(chosen int64) (ids []int64, ok bool) {
	if chosen == 0 {
		if hs.seesAll {
			return nil, true
		}
		ids = []int64{}
		for _, n := range hs.visible {
			ids = append(ids, n.WS.ID)
		}
		return ids, true
	}
	var root *orgbase.Workspace
	for _, n := range hs.visible {
		if n.WS.ID == chosen {
			root = n.WS
		}
	}
	if root == nil {
		return nil, false
	}
	for _, n := range hs.visible {
		if orgbase.IsWithin(n.WS.Path, root.Path) {
			ids = append(ids, n.WS.ID)
		}
	}
	return ids, true
}

// label is the workspace's name and the names of its ancestors.
func (hs historyScope) label(id int64) (name, path string, archived bool) {
	w := hs.byID[id]
	if w == nil {
		return "Workspace #" + strconv.FormatInt(id, 10), "", false
	}
	var names []string
	for _, a := range orgbase.PathIDs(w.ParentPath()) {
		if p := hs.byID[a]; p != nil {
			names = append(names, p.Name)
		}
	}
	return w.Name, strings.Join(names, " / "), w.ArchivedAt != nil
}

// historyRequest decodes and resolves the filters of a History request
// into a store filter; errs holds the field messages of invalid input.
func (s *Server) historyRequest(c echo.Context) (historyParams, store.HistoryFilter, historyScope, []orgbase.Price, map[string]string, error) {
	ctx := c.Request().Context()
	catalog, err := s.orgs.FindCatalog(ctx)
	if err != nil {
		return historyParams{}, store.HistoryFilter{}, historyScope{}, nil, nil, err
	}
	tools := map[string]bool{}
	for _, p := range catalog {
		tools[p.Tool] = true
	}
	p, errs := decodeHistoryQuery(c.QueryParams(), func(t string) bool { return tools[t] })
	hs, err := s.historyScope(c)
	if err != nil {
		return p, store.HistoryFilter{}, hs, nil, nil, err
	}
	f := store.HistoryFilter{Tool: p.Tool, Category: p.Category, From: p.From, To: p.To, Before: p.Cursor, Limit: historyPageSize}
	if errs["workspace"] == "" {
		ids, ok := hs.workspaceIDs(p.WorkspaceID)
		if !ok {
			// Unknown, another organization's or hidden: the same answer, so
			// a workspace's existence never leaks.
			errs["workspace"] = "Choose a workspace from the list."
		}
		f.WorkspaceIDs = ids
	}
	if p.Filters.Me {
		f.UserID = currentUser(c).ID
	}
	return p, f, hs, catalog, errs, nil
}

// handleHistoryIndex is the History tab: filters, one page of AI actions
// and the infinite-scroll sentinel. htmx asks for the panel (filters
// changed) or, with a cursor, only the next rows.
func (s *Server) handleHistoryIndex(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	p, f, hs, catalog, errs, err := s.historyRequest(c)
	if err != nil {
		return err
	}
	m := history.Model{Filters: p.Filters, Errors: errs, Paged: p.Cursor != nil}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		events, more, err := s.orgs.FindHistory(ctx, sc.Org.ID, f)
		if err != nil {
			return err
		}
		for _, e := range events {
			ev := history.Event{UsageEvent: e}
			ev.Workspace, ev.WorkspacePath, ev.Archived = hs.label(e.WorkspaceID)
			m.Events = append(m.Events, ev)
		}
		if more && len(events) > 0 {
			last := events[len(events)-1]
			m.Next = encodeHistoryCursor(last.CreatedAt, last.ID)
		}
		m.HasUsage = len(events) > 0
		if !m.HasUsage && p.Cursor == nil {
			visible, _ := hs.workspaceIDs(0)
			if m.HasUsage, err = s.orgs.HasUsage(ctx, sc.Org.ID, visible); err != nil {
				return err
			}
		}
	}
	// A history restore wants the whole page, as a normal navigation does.
	partial := isHTMX(c) && c.Request().Header.Get("HX-History-Restore-Request") != "true"
	frame := layout.Shell{Org: sc.Org, Membership: sc.Membership, User: currentUser(c), CSRF: csrfToken(c)}
	if partial && p.Cursor != nil && len(errs) == 0 {
		return render(c, status, history.Rows(frame, m), nil)
	}
	historyOptions(&m, hs, catalog)
	if partial {
		return render(c, status, history.Panel(frame, m), nil)
	}
	return s.renderPage(c, status, "History", "history", func(sh layout.Shell) templ.Component { return history.Page(sh, m) })
}

// historyOptions fills the choices of the workspace and tool filters.
func historyOptions(m *history.Model, hs historyScope, catalog []orgbase.Price) {
	m.AllLabel = "All my workspaces"
	if hs.seesAll {
		m.AllLabel = "All workspaces"
	}
	for _, n := range hs.visible {
		label := strings.Repeat("\u2003", n.Level) + n.WS.Name
		if n.WS.ArchivedAt != nil {
			label += " (archived)"
		}
		m.Workspaces = append(m.Workspaces, components.Option{Value: strconv.FormatInt(n.WS.ID, 10), Label: label})
	}
	// A value from a link keeps showing, even one that is not a choice, so
	// the form says what was asked next to its message.
	keep := func(opts []components.Option, v, label string) []components.Option {
		if v == "" {
			return opts
		}
		for _, o := range opts {
			if o.Value == v {
				return opts
			}
		}
		return append(opts, components.Option{Value: v, Label: label})
	}
	for _, cat := range orgbase.Categories {
		m.Tools = append(m.Tools, components.Option{Value: historyCategoryPrefix + string(cat), Label: cat.Label() + " (all)"})
		seen := map[string]bool{}
		for _, p := range catalog {
			if p.Category == cat && !seen[p.Tool] {
				seen[p.Tool] = true
				m.Tools = append(m.Tools, components.Option{Value: p.Tool, Label: "\u2003" + orgbase.ToolLabel(p.Tool)})
			}
		}
	}
	m.Workspaces = keep(m.Workspaces, m.Filters.Workspace, "Workspace "+m.Filters.Workspace+" (not available)")
	m.Tools = keep(m.Tools, m.Filters.Tool, m.Filters.Tool+" (unknown)")
}

// historyCSVHeader names the columns of the History export.
var historyCSVHeader = []string{"time_utc", "member_email", "member_name", "workspace", "tool", "model", "category", "units", "credits", "idempotency_key"}

// historyCSVRecord is one event's row of the History export (ws is the
// workspace as the row names it, with its path), each cell guarded
// (csvCell).
func historyCSVRecord(e orgbase.UsageEvent, ws string) []string {
	rec := []string{e.CreatedAt.UTC().Format(time.RFC3339), e.UserEmail, e.UserName, ws, e.Tool, e.Model,
		e.Category.Label(), strconv.FormatInt(e.Units, 10), e.Credits.Decimal(), e.IdempotencyKey}
	for i := range rec {
		rec[i] = csvCell(rec[i])
	}
	return rec
}

// handleHistoryExport streams the filtered History as CSV, newest first,
// without holding it in memory.
func (s *Server) handleHistoryExport(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	_, f, hs, _, errs, err := s.historyRequest(c)
	if err != nil {
		return err
	}
	delete(errs, "cursor") // the export is the whole filtered set
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, k := range []string{"workspace", "tool", "from", "to"} {
			if m := errs[k]; m != "" {
				msgs = append(msgs, m)
			}
		}
		return &orgbase.Error{Code: orgbase.EINVALID, Message: strings.Join(msgs, " "), Fields: errs}
	}
	f.Before = nil
	res := c.Response()
	name := fmt.Sprintf("%s-history-%s.csv", sc.Org.Slug, s.now().UTC().Format("20060102-150405"))
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(historyCSVHeader); err != nil {
		return nil // the client went away
	}
	n := 0
	err = s.orgs.EachHistory(ctx, sc.Org.ID, f, func(e orgbase.UsageEvent) error {
		ws, path, _ := hs.label(e.WorkspaceID)
		if path != "" {
			ws = path + " / " + ws
		}
		if err := w.Write(historyCSVRecord(e, ws)); err != nil {
			return err
		}
		if n++; n%200 == 0 {
			w.Flush()
			res.Flush()
			return w.Error()
		}
		return nil
	})
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil && ctx.Err() == nil {
		// The status is sent: the download ends short, and we log why.
		s.log.ErrorContext(ctx, "history export failed", slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.Int64("org_id", sc.Org.ID), slog.String("error", err.Error()))
	}
	return nil
}
