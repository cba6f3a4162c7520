package web

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/layout"
	"github.com/orgbase/orgbase/views/notifications"
)

// notificationPageSize is how many notifications the page (and each "Load
// more") shows; notificationMenuSize how many the bell's menu shows.
const (
	notificationPageSize = 30
	notificationMenuSize = 6
)

// withBell gives the top bar's bell its unread count: a function on the
// request context that counts (one indexed query) only if a page with the
// bell is rendered, and once at most. Routes under the organization scope.
func (s *Server) withBell(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		sc := orgOf(c)
		r := c.Request()
		if sc == nil || r.Method != http.MethodGet {
			return next(c)
		}
		ctx := r.Context()
		orgID, userID := sc.Org.ID, sc.Membership.UserID
		var (
			once sync.Once
			n    int
		)
		count := func() int {
			once.Do(func() {
				var err error
				if n, err = s.alerts.CountUnreadNotifications(ctx, orgID, userID); err != nil {
					// The page matters more than the bell's number.
					s.log.ErrorContext(ctx, "count unread notifications", slog.String("error", err.Error()))
					n = 0
				}
			})
			return n
		}
		c.SetRequest(r.WithContext(layout.WithUnreadCount(ctx, count)))
		return next(c)
	}
}

// setUnread tells the bell the count a handler already has (no second query).
func setUnread(c echo.Context, n int) {
	r := c.Request()
	c.SetRequest(r.WithContext(layout.WithUnreadCount(r.Context(), func() int { return n })))
}

// notificationsModel reads one page of the caller's notifications, the
// unread count and the organization's alert levels.
func (s *Server) notificationsModel(c echo.Context, before int64, onlyUnread bool) (notifications.Model, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	m := notifications.Model{OnlyUnread: onlyUnread, Paged: before > 0, Now: s.now(), Errors: map[string]string{},
		CanEdit: orgbase.Can(sc.actor(), orgbase.ActionOrgEditProfile)}
	items, more, err := s.alerts.FindNotifications(ctx, sc.Org.ID, sc.Membership.UserID,
		store.NotificationFilter{Before: before, Limit: notificationPageSize, Unread: onlyUnread})
	if err != nil {
		return m, err
	}
	m.Items = items
	if more && len(items) > 0 {
		m.Next = items[len(items)-1].ID
	}
	if m.Unread, err = s.alerts.CountUnreadNotifications(ctx, sc.Org.ID, sc.Membership.UserID); err != nil {
		return m, err
	}
	setUnread(c, m.Unread)
	if m.Settings, err = s.alerts.FindAlertSettings(ctx, sc.Org.ID); err != nil {
		return m, err
	}
	m.Thresholds = orgbase.FormatAlertThresholds(m.Settings.Thresholds)
	m.PoolPercent = strconv.Itoa(m.Settings.PoolPercent)
	return m, nil
}

// beforeParam reads the paging cursor: EINVALID for a malformed one.
func beforeParam(c echo.Context) (int64, error) {
	b := c.QueryParam("before")
	if b == "" {
		return 0, nil
	}
	id, err := strconv.ParseInt(b, 10, 64)
	if err != nil || id <= 0 {
		return 0, orgbase.Errorf(orgbase.EINVALID, "This page link is broken. Start again from the newest notifications.")
	}
	return id, nil
}

// handleNotificationIndex is the notifications page; with a cursor, htmx
// asks only for the next Items ("Load more").
func (s *Server) handleNotificationIndex(c echo.Context) error {
	before, err := beforeParam(c)
	if err != nil {
		return err
	}
	m, err := s.notificationsModel(c, before, c.QueryParam("filter") == "unread")
	if err != nil {
		return err
	}
	return s.renderNotifications(c, http.StatusOK, m, before > 0)
}

func (s *Server) renderNotifications(c echo.Context, status int, m notifications.Model, itemsOnly bool) error {
	sh, err := s.shell(c, "Notifications", "")
	if err != nil {
		return err
	}
	var partial templ.Component
	if itemsOnly {
		partial = notifications.Items(sh, m)
	}
	return render(c, status, notifications.Page(sh, m), partial)
}

// handleNotificationMenu is the bell's menu (htmx loads it when the bell
// opens, and refreshes the bell's count with it). A plain request gets the
// page.
func (s *Server) handleNotificationMenu(c echo.Context) error {
	if !isHTMX(c) {
		return s.redirect(c, "/orgs/"+orgOf(c).Org.Slug+"/notifications")
	}
	return s.renderMenu(c)
}

func (s *Server) renderMenu(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	items, _, err := s.alerts.FindNotifications(ctx, sc.Org.ID, sc.Membership.UserID, store.NotificationFilter{Limit: notificationMenuSize})
	if err != nil {
		return err
	}
	unread, err := s.alerts.CountUnreadNotifications(ctx, sc.Org.ID, sc.Membership.UserID)
	if err != nil {
		return err
	}
	m := notifications.Model{Items: items, Unread: unread, Now: s.now()}
	sh := layout.Shell{CSRF: csrfToken(c), User: currentUser(c), Org: sc.Org, Membership: sc.Membership}
	return render(c, http.StatusOK, templ.Join(notifications.Menu(sh, m), layout.BellCount(unread, true)), nil)
}

// handleNotificationRead marks the caller's notifications read: the one
// named by the form's id, or all of them. htmx gets the part it came from
// (the item, the page's panel or the bell's menu) and the bell's new count;
// a plain form goes back to the page.
func (s *Server) handleNotificationRead(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	var ids []int64
	if v := strings.TrimSpace(c.FormValue("id")); v != "" {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return orgbase.Errorf(orgbase.EINVALID, "Choose a notification from the list.")
		}
		ids = append(ids, id)
	}
	n, err := s.alerts.MarkNotificationsRead(ctx, sc.Org.ID, sc.Membership.UserID, ids...)
	if err != nil {
		return err
	}
	if len(ids) > 0 && n == 0 {
		// Not one of the caller's unread notifications here: read already,
		// or someone else's (which must not be told apart).
		items, _, err := s.alerts.FindNotifications(ctx, sc.Org.ID, sc.Membership.UserID, store.NotificationFilter{Before: ids[0] + 1, Limit: 1})
		if err != nil {
			return err
		}
		if len(items) == 0 || items[0].ID != ids[0] {
			return orgbase.Errorf(orgbase.ENOTFOUND, "Notification not found.")
		}
	}
	if !isHTMX(c) {
		return s.redirect(c, "/orgs/"+sc.Org.Slug+"/notifications")
	}
	switch c.FormValue("view") {
	case "menu":
		return s.renderMenu(c)
	case "item":
		if len(ids) == 1 {
			items, _, err := s.alerts.FindNotifications(ctx, sc.Org.ID, sc.Membership.UserID, store.NotificationFilter{Before: ids[0] + 1, Limit: 1})
			if err != nil {
				return err
			}
			unread, err := s.alerts.CountUnreadNotifications(ctx, sc.Org.ID, sc.Membership.UserID)
			if err != nil {
				return err
			}
			if len(items) == 1 {
				sh := layout.Shell{CSRF: csrfToken(c), User: currentUser(c), Org: sc.Org, Membership: sc.Membership}
				return render(c, http.StatusOK, templ.Join(notifications.Item(sh, items[0], s.now()), layout.BellCount(unread, true),
					notifications.UnreadCount(unread, true)), nil)
			}
		}
	}
	m, err := s.notificationsModel(c, 0, c.FormValue("filter") == "unread")
	if err != nil {
		return err
	}
	sh := layout.Shell{CSRF: csrfToken(c), User: currentUser(c), Org: sc.Org, Membership: sc.Membership}
	return render(c, http.StatusOK, templ.Join(notifications.Panel(sh, m), layout.BellCount(m.Unread, true)), nil)
}

// decodeAlertSettings reads the alert levels form: the thresholds
// (orgbase.ParseAlertThresholds) and the pool percentage ("20" or "20%").
// fields has a message per wrong field, checked as the store checks them;
// empty, the settings are valid.
func decodeAlertSettings(thresholds, pool string) (orgbase.AlertSettings, map[string]string) {
	var in orgbase.AlertSettings
	fields := map[string]string{}
	ts, err := orgbase.ParseAlertThresholds(thresholds)
	if err != nil {
		fields["thresholds"] = orgbase.ErrorFields(err)["thresholds"]
	}
	in.Thresholds = ts
	if p, err := strconv.Atoi(strings.TrimSuffix(pool, "%")); err != nil || len(pool) > 3 {
		fields["pool_percent"] = "Enter a percentage from 1 to 99, or 0 to turn the pool alert off."
	} else {
		in.PoolPercent = p
	}
	for k, v := range orgbase.ErrorFields(in.Validate()) {
		if _, seen := fields[k]; !seen {
			fields[k] = v
		}
	}
	return in, fields
}

// handleAlertSettingsUpdate changes the organization's alert levels
// (owners and admins): a flash and back to the page, or the page again with
// the field messages (422).
func (s *Server) handleAlertSettingsUpdate(c echo.Context) error {
	sc := orgOf(c)
	thresholds := strings.TrimSpace(c.FormValue("thresholds"))
	pool := strings.TrimSpace(c.FormValue("pool_percent"))
	in, fields := decodeAlertSettings(thresholds, pool)
	if len(fields) == 0 {
		_, err := s.alerts.SetAlertSettings(c.Request().Context(), sc.Org.ID, sc.Access, in)
		if err == nil {
			return s.flashRedirect(c, "Alert levels saved.", "", "/orgs/"+sc.Org.Slug+"/notifications")
		}
		if orgbase.ErrorCode(err) != orgbase.EINVALID {
			return err
		}
		fields = fieldsOf(err)
	}
	m, err := s.notificationsModel(c, 0, false)
	if err != nil {
		return err
	}
	m.Thresholds, m.PoolPercent, m.Errors = sanitizeEcho(thresholds), sanitizeEcho(pool), fields
	sh, err := s.shell(c, "Notifications", "")
	if err != nil {
		return err
	}
	sh.Flashes = append(sh.Flashes, components.Flash{Kind: "error", Message: "Check the alert levels."})
	return render(c, http.StatusUnprocessableEntity, notifications.Page(sh, m), nil)
}
