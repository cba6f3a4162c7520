package web

import (
	"context"
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
	"github.com/orgbase/orgbase/views/audit"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
)

// AuditStore is what the audit log pages need.
type AuditStore interface {
	FindAudit(ctx context.Context, orgID int64, f store.AuditFilter) ([]orgbase.AuditEntry, bool, error)
	EachAudit(ctx context.Context, orgID int64, f store.AuditFilter, fn func(orgbase.AuditEntry) error) error
	FindAuditActions(ctx context.Context, orgID int64) ([]string, error)
	FindAuditActors(ctx context.Context, orgID int64) ([]orgbase.User, error)
}

// auditPageSize is how many entries one page (and each "Load more") shows.
const auditPageSize = 50

const auditDate = "2006-01-02"

// auditFilter reads the audit filters from the query string. Invalid input
// comes back as field messages (never an error): the page re-renders with
// them and status 422.
func auditFilter(c echo.Context) (audit.Filters, store.AuditFilter, map[string]string) {
	return decodeAuditFilter(c.QueryParams(), time.Now())
}

// decodeAuditFilter is auditFilter on the query; now only dates the
// example in the date messages. The action is printable text (PostgreSQL
// refuses a NUL byte or invalid UTF-8 in a parameter).
func decodeAuditFilter(q url.Values, now time.Time) (audit.Filters, store.AuditFilter, map[string]string) {
	in := audit.Filters{
		Actor:  strings.TrimSpace(q.Get("actor")),
		Action: strings.TrimSpace(q.Get("action")),
		From:   strings.TrimSpace(q.Get("from")),
		To:     strings.TrimSpace(q.Get("to")),
	}
	f := store.AuditFilter{Limit: auditPageSize}
	errs := map[string]string{}
	switch in.Actor {
	case "":
	case "system":
		f.ActorID = store.AuditNoActor
	default:
		id, err := strconv.ParseInt(in.Actor, 10, 64)
		if err != nil || id <= 0 {
			errs["actor"] = "Choose a person from the list."
		}
		f.ActorID = id
	}
	if len(in.Action) > 100 || !orgbase.Printable(in.Action) {
		errs["action"] = "Choose an action from the list."
	}
	f.Action = in.Action
	day := func(field, v, label string) time.Time {
		if v == "" {
			return time.Time{}
		}
		t, err := time.ParseInLocation(auditDate, v, time.UTC)
		if err != nil || t.Year() < 2000 {
			errs[field] = "Enter the " + label + " date as YYYY-MM-DD, for example " + now.UTC().Format(auditDate) + "."
			return time.Time{}
		}
		return t
	}
	f.From = day("from", in.From, "start")
	if to := day("to", in.To, "end"); !to.IsZero() {
		f.To = to.AddDate(0, 0, 1) // the end date is inclusive: up to the next midnight
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		errs["to"] = "The end date is before the start date."
	}
	if b := q.Get("before"); b != "" {
		id, err := strconv.ParseInt(b, 10, 64)
		if err != nil || id <= 0 {
			errs["before"] = "This page link is broken. Start again from the newest entries."
		}
		f.Before = id
	}
	return in, f, errs
}

// auditQuery encodes the filters for page and export links.
func auditQuery(in audit.Filters) string {
	q := url.Values{}
	for k, v := range map[string]string{"actor": in.Actor, "action": in.Action, "from": in.From, "to": in.To} {
		if v != "" {
			q.Set(k, v)
		}
	}
	return q.Encode()
}

// handleAuditIndex is the audit log: filters, one page of entries and a
// "Load more" link. htmx asks for the panel (filters changed) or, with a
// cursor, only the next rows.
func (s *Server) handleAuditIndex(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	in, f, errs := auditFilter(c)
	m := audit.Model{Filters: in, Errors: errs, Query: auditQuery(in), Paged: f.Before > 0}
	status := http.StatusOK
	if len(errs) > 0 {
		status = http.StatusUnprocessableEntity
	} else {
		entries, more, err := s.orgs.FindAudit(ctx, sc.Org.ID, f)
		if err != nil {
			return err
		}
		for _, e := range entries {
			m.Entries = append(m.Entries, audit.NewEntry(e))
		}
		if more && len(entries) > 0 {
			m.Next = entries[len(entries)-1].ID
		}
	}
	// A history restore wants the whole page, as a normal navigation does.
	partial := isHTMX(c) && c.Request().Header.Get("HX-History-Restore-Request") != "true"
	// Partials need only the organization's paths, not the whole frame.
	frame := layout.Shell{Org: sc.Org, Membership: sc.Membership, User: currentUser(c), CSRF: csrfToken(c)}
	if partial && f.Before > 0 && len(errs) == 0 {
		return render(c, status, audit.Rows(frame, m), nil)
	}
	if err := s.auditOptions(ctx, sc.Org.ID, &m); err != nil {
		return err
	}
	if partial {
		return render(c, status, audit.Panel(frame, m), nil)
	}
	return s.renderPage(c, status, "Audit log", "audit", func(sh layout.Shell) templ.Component { return audit.Page(sh, m) })
}

// auditOptions fills the choices of the actor and action filters.
func (s *Server) auditOptions(ctx context.Context, orgID int64, m *audit.Model) error {
	actors, err := s.orgs.FindAuditActors(ctx, orgID)
	if err != nil {
		return err
	}
	m.Actors = append(m.Actors, components.Option{Value: "system", Label: "System (no person)"})
	for _, u := range actors {
		m.Actors = append(m.Actors, components.Option{Value: strconv.FormatInt(u.ID, 10), Label: u.Name + " (" + u.Email + ")"})
	}
	actions, err := s.orgs.FindAuditActions(ctx, orgID)
	if err != nil {
		return err
	}
	known := map[string]bool{}
	category := ""
	for _, a := range actions {
		if cat := orgbase.AuditCategory(a); cat != category {
			category = cat
			m.Actions = append(m.Actions, components.Option{Value: cat + ".", Label: strings.ToUpper(cat[:1]) + cat[1:] + " (all)"})
			known[cat+"."] = true
		}
		m.Actions = append(m.Actions, components.Option{Value: a, Label: "\u2003" + orgbase.AuditActionLabel(a)})
		known[a] = true
	}
	// A filter from a link keeps showing even when nothing matches it.
	if v := m.Filters.Action; v != "" && !known[v] {
		m.Actions = append(m.Actions, components.Option{Value: v, Label: v})
	}
	return nil
}

// csvCell guards a cell against formula injection: spreadsheets run cells
// that start with = + - @ (or a tab or carriage return), so those get a
// leading single quote.
func csvCell(s string) string {
	if s != "" && strings.ContainsRune("=+-@\t\r", rune(s[0])) {
		return "'" + s
	}
	return s
}

// auditCSVHeader names the columns of the audit export.
var auditCSVHeader = []string{"id", "time_utc", "actor_id", "actor_name", "actor_email", "ip", "user_agent",
	"action", "action_label", "target_type", "target_id", "target_label", "changes"}

// auditCSVRecord is one entry's row of the audit export, each cell guarded
// (csvCell).
func auditCSVRecord(e orgbase.AuditEntry) []string {
	actorID := ""
	if e.ActorID != nil {
		actorID = strconv.FormatInt(*e.ActorID, 10)
	}
	rec := []string{strconv.FormatInt(e.ID, 10), e.CreatedAt.UTC().Format(time.RFC3339), actorID, e.ActorName, e.ActorEmail,
		e.IP, e.UserAgent, e.Action, orgbase.AuditActionLabel(e.Action), e.TargetType, e.TargetID, e.TargetLabel, e.Changes}
	for i := range rec {
		rec[i] = csvCell(rec[i])
	}
	return rec
}

// handleAuditExport streams the filtered audit log as CSV, newest first,
// without holding it in memory.
func (s *Server) handleAuditExport(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	_, f, errs := auditFilter(c)
	if len(errs) > 0 {
		msgs := make([]string, 0, len(errs))
		for _, k := range []string{"actor", "action", "from", "to", "before"} {
			if m := errs[k]; m != "" {
				msgs = append(msgs, m)
			}
		}
		return &orgbase.Error{Code: orgbase.EINVALID, Message: strings.Join(msgs, " "), Fields: errs}
	}
	f.Before = 0 // the export is the whole filtered set
	res := c.Response()
	name := fmt.Sprintf("%s-audit-%s.csv", sc.Org.Slug, s.now().UTC().Format("20060102-150405"))
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(auditCSVHeader); err != nil {
		return nil // the client went away
	}
	n := 0
	err := s.orgs.EachAudit(ctx, sc.Org.ID, f, func(e orgbase.AuditEntry) error {
		if err := w.Write(auditCSVRecord(e)); err != nil {
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
		s.log.ErrorContext(ctx, "audit export failed", slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.Int64("org_id", sc.Org.ID), slog.String("error", err.Error()))
	}
	return nil
}
