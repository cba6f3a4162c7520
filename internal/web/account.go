package web

import (
	"net/http"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/views/account"
	"github.com/orgbase/orgbase/views/layout"
)

// accountModel loads the sessions list for the account page.
func (s *Server) accountModel(c echo.Context) (account.Model, error) {
	u := currentUser(c)
	list, err := s.sessions.db.FindUserSessions(c.Request().Context(), u.ID)
	if err != nil {
		return account.Model{}, err
	}
	return account.Model{Name: u.Name, Sessions: list, CurrentSession: sessionRowID(session(c)),
		NameFields: map[string]string{}, PasswordFields: map[string]string{}}, nil
}

func (s *Server) renderAccount(c echo.Context, status int, m account.Model, partial func(layout.Shell, account.Model) templ.Component) error {
	sh, err := s.shell(c, "Account", "")
	if err != nil {
		return err
	}
	var part templ.Component
	if partial != nil {
		part = partial(sh, m)
	}
	return render(c, status, account.Page(sh, m), part)
}

func (s *Server) handleAccountShow(c echo.Context) error {
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	return s.renderAccount(c, http.StatusOK, m, nil)
}

// handleAccountNameUpdate changes the user's name; htmx swaps the card.
func (s *Server) handleAccountNameUpdate(c echo.Context) error {
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	m.Name = sanitizeEcho(c.FormValue("name"))
	name, err := orgbase.CleanText(c.FormValue("name"), "Name", orgbase.MaxNameLen, true)
	if err != nil {
		m.NameFields["name"] = orgbase.ErrorMessage(err)
		return s.renderAccount(c, http.StatusUnprocessableEntity, m, account.NameCard)
	}
	u := currentUser(c)
	if err := s.users.UpdateUserName(c.Request().Context(), u.ID, name); err != nil {
		return err
	}
	u.Name, m.Name = name, name
	if isHTMX(c) {
		sh, err := s.shell(c, "Account", "")
		if err != nil {
			return err
		}
		sh.Flashes = append(sh.Flashes, flashOf("success", "Name saved."))
		part := withToasts(account.NameCard(sh, m), sh.Flashes)
		return render(c, http.StatusOK, part, part)
	}
	if err := s.flash(c, "success", "Name saved."); err != nil {
		return err
	}
	return s.redirect(c, "/account")
}

// handleAccountPasswordUpdate changes the password after checking the current
// one, and ends every other session of the user.
func (s *Server) handleAccountPasswordUpdate(c echo.Context) error {
	ctx := c.Request().Context()
	u := currentUser(c)
	m, err := s.accountModel(c)
	if err != nil {
		return err
	}
	current, next := c.FormValue("current_password"), c.FormValue("new_password")
	hash, err := s.users.FindPasswordHash(ctx, u.ID)
	if err != nil {
		return err
	}
	if len(current) > 4*orgbase.MaxPasswordLen || !checkPassword(current, hash) {
		m.PasswordFields["current_password"] = "That is not your current password."
	} else if err := orgbase.CheckPassword(next, u.Email, u.Name); err != nil {
		m.PasswordFields["new_password"] = orgbase.ErrorMessage(err)
	} else if next == current {
		m.PasswordFields["new_password"] = "Choose a password different from the current one."
	}
	if len(m.PasswordFields) > 0 {
		return s.renderAccount(c, http.StatusUnprocessableEntity, m, nil)
	}
	newHash, err := hashPassword(next)
	if err != nil {
		return err
	}
	if err := s.users.ChangePassword(ctx, u.ID, newHash, sessionRowID(session(c))); err != nil {
		return err
	}
	if err := s.flash(c, "success", "Password changed. Your other sessions have been signed out."); err != nil {
		return err
	}
	return s.redirect(c, "/account")
}

// handleSessionDelete ends one of the user's other sessions.
func (s *Server) handleSessionDelete(c echo.Context) error {
	u := currentUser(c)
	id := c.FormValue("session")
	if id == "" || len(id) > 128 || !orgbase.Printable(id) { // PostgreSQL refuses a NUL byte or invalid UTF-8
		return orgbase.Errorf(orgbase.ENOTFOUND, "That session has already ended.")
	}
	if id == sessionRowID(session(c)) {
		return s.handleLogout(c)
	}
	if err := s.sessions.db.DeleteUserSession(c.Request().Context(), u.ID, id); err != nil {
		return err
	}
	if err := s.flash(c, "success", "That session has been signed out."); err != nil {
		return err
	}
	return s.redirect(c, "/account")
}

// handleSessionDeleteOthers ends every session of the user but this one.
func (s *Server) handleSessionDeleteOthers(c echo.Context) error {
	n, err := s.sessions.db.DeleteOtherSessions(c.Request().Context(), currentUser(c).ID, sessionRowID(session(c)))
	if err != nil {
		return err
	}
	msg := "You are signed out everywhere else."
	if n == 0 {
		msg = "There were no other sessions."
	}
	if err := s.flash(c, "success", msg); err != nil {
		return err
	}
	return s.redirect(c, "/account")
}
