package web

import (
	"context"
	"encoding/csv"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/a-h/templ"
	"github.com/labstack/echo/v4"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
	"github.com/orgbase/orgbase/views/components"
	"github.com/orgbase/orgbase/views/members"
	"github.com/orgbase/orgbase/views/workspaces"
)

// MemberStore is what the Members tab and invitation handlers need.
type MemberStore interface {
	CreateInvitations(ctx context.Context, orgID int64, by orgbase.Access, b store.InviteBatch) ([]*orgbase.Invitation, error)
	FindInvitations(ctx context.Context, orgID int64, all bool) ([]*orgbase.Invitation, error)
	FindInvitationByToken(ctx context.Context, tokenHash string) (*store.InvitationView, error)
	AcceptInvitation(ctx context.Context, tokenHash string, user *orgbase.User) (string, int64, error)
	DeclineInvitation(ctx context.Context, tokenHash string, user *orgbase.User) error
	ResendInvitation(ctx context.Context, orgID int64, by orgbase.Access, id int64, tokenHash string, expiresAt time.Time, mail *orgbase.Email) (*orgbase.Invitation, error)
	RevokeInvitation(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Invitation, error)
	ChangeRole(ctx context.Context, orgID int64, by orgbase.Access, userID int64, role orgbase.Role) error
	SetMemberStatus(ctx context.Context, orgID int64, by orgbase.Access, userID int64, status string) error
	RemoveMember(ctx context.Context, orgID int64, by orgbase.Access, userID int64, self bool) error
	FindLastSeen(ctx context.Context, orgID int64) (map[int64]time.Time, error)
	// Monthly member limits (limits.go).
	SetMemberLimit(ctx context.Context, orgID int64, by orgbase.Access, userID int64, limit *orgbase.Credits) error
	MemberUsage(ctx context.Context, orgID int64, period string) (map[int64]orgbase.Credits, error)
	MemberUsageByCategory(ctx context.Context, orgID int64, from, to string) (map[int64]map[orgbase.Category]orgbase.Credits, error)
	// The member list with usage, sorted and paged in SQL.
	FindMemberPage(ctx context.Context, orgID int64, q store.MemberQuery) (store.MemberPage, error)
	EachMember(ctx context.Context, orgID int64, q store.MemberQuery, fn func(store.MemberUsageRow) error) error
	FindMemberGrants(ctx context.Context, orgID int64, userIDs []int64) (map[int64][]store.MemberGrant, error)
}

const membersPerPage = 25

// memberListParams reads the Members tab's search, period, sort, direction
// and page from the query: anything unknown or malformed means the default
// (the search is cut at 200 characters), so a hand-edited URL still shows
// the tab.
func (s *Server) memberListParams(c echo.Context) (members.Model, store.MemberQuery) {
	return decodeMemberList(c.QueryParams(), periodKeyOf(c), s.now())
}

// decodeMemberList is memberListParams on the query and the period key.
// The search keeps no control characters (PostgreSQL refuses a NUL byte in
// a text parameter) and is valid UTF-8, so any search reaches the query.
func decodeMemberList(q url.Values, periodKey string, now time.Time) (members.Model, store.MemberQuery) {
	search := strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return -1
		}
		return r
	}, sanitizeEcho(q.Get("q")))
	m := members.Model{Query: strings.TrimSpace(search), Now: now, Closed: q.Get("closed") == "1"}
	if len(m.Query) > 200 {
		m.Query = strings.TrimSpace(strings.ToValidUTF8(m.Query[:200], ""))
	}
	m.Period = orgbase.ResolvePeriodOf(orgbase.MemberPeriodKeys, periodKey, m.Now)
	m.Sort = q.Get("sort")
	desc, ok := store.MemberSorts[m.Sort]
	if !ok {
		m.Sort, desc = store.MemberSortName, false
	}
	switch q.Get("dir") {
	case "asc":
		desc = false
	case "desc":
		desc = true
	}
	m.Desc = desc
	m.Page, _ = strconv.Atoi(q.Get("page"))
	m.Page = max(m.Page, 1)
	return m, store.MemberQuery{Search: m.Query, From: m.Period.From, To: m.Period.To, Sort: m.Sort, Desc: m.Desc, Page: m.Page, PerPage: membersPerPage}
}

// membersModel loads the Members tab: one page of members, searched, sorted
// (by usage too) and paged in SQL with their usage in the period, then the
// page's grants and limits; a constant number of queries whatever the
// organization's size.
func (s *Server) membersModel(c echo.Context) (members.Model, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	m, q := s.memberListParams(c)
	page, err := s.members.FindMemberPage(ctx, sc.Org.ID, q)
	if err != nil {
		return m, err
	}
	m.Total, m.Pages, m.Page = page.Total, page.Pages, page.Page
	if m.Total == 0 {
		m.Pages = 0
	}
	if m.Rows, err = s.decorateMemberRows(c, page.Rows); err != nil {
		return m, err
	}
	if m.Page == 1 {
		invs, err := s.members.FindInvitations(ctx, sc.Org.ID, m.Closed)
		if err != nil {
			return m, err
		}
		low := strings.ToLower(m.Query)
		for _, inv := range invs {
			if low != "" && !strings.Contains(strings.ToLower(inv.Email), low) {
				continue
			}
			m.Invites = append(m.Invites, members.InviteRow{Inv: inv, Status: inv.Status(m.Now)})
		}
	}
	return m, nil
}

// decorateMemberRows turns members with usage into the tab's rows: their
// workspace access, this month's spending against a member limit, and what
// the viewer may do (two queries for the page).
func (s *Server) decorateMemberRows(c echo.Context, list []store.MemberUsageRow) ([]members.Row, error) {
	sc := orgOf(c)
	ctx := c.Request().Context()
	ids := make([]int64, len(list))
	for i, r := range list {
		ids[i] = r.UserID
	}
	grants, err := s.members.FindMemberGrants(ctx, sc.Org.ID, ids)
	if err != nil {
		return nil, err
	}
	period := orgbase.Period(s.now())
	used, err := s.members.MemberUsage(ctx, sc.Org.ID, period)
	if err != nil {
		return nil, err
	}
	month := orgbase.PeriodLabel(period)
	rows := make([]members.Row, 0, len(list))
	for _, mem := range list {
		var gv []members.GrantView
		for _, g := range grants[mem.UserID] {
			gv = append(gv, members.GrantView{Name: g.Name, Role: g.Role})
		}
		r := s.memberRow(sc, mem.Member, gv, mem.LastSeen)
		r.ImageSpeech, r.Chatbot = mem.ImageSpeech, mem.Chatbot
		r.Used, r.Month = used[mem.UserID], month
		rows = append(rows, r)
	}
	return rows, nil
}

// memberRowOf is the row of one member, with usage in the period of the
// page the request comes from; ok is false when they are not a member.
func (s *Server) memberRowOf(c echo.Context, userID int64) (members.Row, bool, error) {
	_, q := s.memberListParams(c)
	q.Search, q.UserID, q.PerPage = "", userID, 0
	page, err := s.members.FindMemberPage(c.Request().Context(), orgOf(c).Org.ID, q)
	if err != nil || len(page.Rows) == 0 {
		return members.Row{}, false, err
	}
	rows, err := s.decorateMemberRows(c, page.Rows)
	if err != nil {
		return members.Row{}, false, err
	}
	return rows[0], true, nil
}

func (s *Server) memberRow(sc *scope, mem orgbase.Member, grants []members.GrantView, lastSeen *time.Time) members.Row {
	target := &orgbase.Membership{OrgID: sc.Org.ID, UserID: mem.UserID, Role: mem.Role, Status: mem.Status}
	r := members.Row{Member: mem, Grants: grants, Self: mem.UserID == sc.Membership.UserID}
	r.CanAct = !r.Self && orgbase.CanActOnMember(sc.Membership, target)
	r.CanLimit = sc.Access.CanSetMemberLimit(target)
	r.LastActive = lastSeen
	for _, role := range []orgbase.Role{orgbase.RoleOwner, orgbase.RoleAdmin, orgbase.RoleBilling, orgbase.RoleMember} {
		if orgbase.CanAssignRole(sc.Membership, role) || role == mem.Role {
			r.Roles = append(r.Roles, role)
		}
	}
	return r
}

func (s *Server) handleMemberIndex(c echo.Context) error {
	m, err := s.membersModel(c)
	if err != nil {
		return err
	}
	sh, err := s.shell(c, "Members", "members")
	if err != nil {
		return err
	}
	// htmx (search, period, sort, paging) swaps only the list.
	return render(c, http.StatusOK, members.Page(sh, m), members.List(sh, m))
}

// renderMemberRow answers an inline action with the member's row (or, when
// the member is gone, an empty row) and a toast.
func (s *Server) renderMemberRow(c echo.Context, userID int64, msg, rowErr string) error {
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, rowErr, "/orgs/"+orgOf(c).Org.Slug+"/members")
	}
	sh, err := s.shell(c, "Members", "members")
	if err != nil {
		return err
	}
	r, ok, err := s.memberRowOf(c, userID)
	if err != nil {
		return err
	}
	// A removed member has no row any more: the empty answer removes it.
	var part templ.Component = templ.NopComponent
	if ok {
		r.Flash, r.Error = rowErr == "", rowErr
		part = members.MemberRow(sh, r, s.now())
	}
	status := http.StatusOK
	flashes := []components.Flash{}
	if msg != "" {
		flashes = append(flashes, flashOf("success", msg))
	}
	if rowErr != "" {
		status = http.StatusUnprocessableEntity
	}
	part = withToasts(part, flashes)
	return render(c, status, part, part)
}

func memberParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("user"), 10, 64)
	if err != nil || id <= 0 {
		return 0, orgbase.Errorf(orgbase.ENOTFOUND, "Member not found.")
	}
	return id, nil
}

// memberAction runs one inline action and answers with the row; refusals
// the person can act on (the last owner, rules about owners) show in the row.
func (s *Server) memberAction(c echo.Context, do func(uid int64) error, msg string) error {
	uid, err := memberParam(c)
	if err != nil {
		return err
	}
	if _, err := s.memberByID(c, uid); err != nil {
		return err
	}
	err = do(uid)
	switch orgbase.ErrorCode(err) {
	case "":
		return s.renderMemberRow(c, uid, msg, "")
	case orgbase.ECONFLICT, orgbase.EINVALID:
		return s.renderMemberRow(c, uid, "", orgbase.ErrorMessage(err))
	}
	return err
}

func (s *Server) handleMemberRole(c echo.Context) error {
	sc := orgOf(c)
	role := orgbase.Role(c.FormValue("role"))
	return s.memberAction(c, func(uid int64) error {
		return s.members.ChangeRole(c.Request().Context(), sc.Org.ID, sc.Access, uid, role)
	}, "Role changed to "+role.Label()+".")
}

func (s *Server) handleMemberSuspend(c echo.Context) error {
	sc := orgOf(c)
	return s.memberAction(c, func(uid int64) error {
		return s.members.SetMemberStatus(c.Request().Context(), sc.Org.ID, sc.Access, uid, orgbase.MemberSuspended)
	}, "Suspended. They cannot reach this organization until restored.")
}

func (s *Server) handleMemberRestore(c echo.Context) error {
	sc := orgOf(c)
	return s.memberAction(c, func(uid int64) error {
		return s.members.SetMemberStatus(c.Request().Context(), sc.Org.ID, sc.Access, uid, orgbase.MemberActive)
	}, "Access restored.")
}

func (s *Server) handleMemberRemove(c echo.Context) error {
	sc := orgOf(c)
	return s.memberAction(c, func(uid int64) error {
		return s.members.RemoveMember(c.Request().Context(), sc.Org.ID, sc.Access, uid, false)
	}, "Removed from the organization.")
}

// handleOrgLeave lets a member leave the organization (not its last owner).
func (s *Server) handleOrgLeave(c echo.Context) error {
	sc := orgOf(c)
	err := s.members.RemoveMember(c.Request().Context(), sc.Org.ID, sc.Access, sc.Membership.UserID, true)
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		if err := s.flash(c, "error", orgbase.ErrorMessage(err)); err != nil {
			return err
		}
		return s.redirect(c, "/orgs/"+sc.Org.Slug)
	} else if err != nil {
		return err
	}
	if err := s.flash(c, "success", "You left "+sc.Org.Name+"."); err != nil {
		return err
	}
	return s.redirect(c, "/orgs")
}

// inviteForm builds the dialog with the workspaces the inviter may grant.
func (s *Server) inviteForm(c echo.Context) (members.InviteForm, error) {
	f := members.InviteForm{Role: "member", Days: "7", Fields: map[string]string{}}
	all, err := s.orgWorkspaces(c, false)
	if err != nil {
		return f, err
	}
	roots := workspaces.BuildTree(all, func(*orgbase.Workspace) bool { return true }, func(*workspaces.Node) {})
	for _, n := range flatten(roots) {
		f.Workspaces = append(f.Workspaces, members.WorkspaceChoice{ID: n.WS.ID, Label: strings.Repeat("\u2003", n.Level) + n.WS.Name, Checked: n.WS.IsPrimary(), Role: orgbase.WorkspaceMember})
	}
	return f, nil
}

func (s *Server) renderInviteDialog(c echo.Context, status int, f members.InviteForm) error {
	sh, err := s.shell(c, "Invite members", "members")
	if err != nil {
		return err
	}
	b := members.InviteDialog(sh, f)
	return render(c, status, members.DialogPage(sh, b), b)
}

func (s *Server) handleInviteNew(c echo.Context) error {
	f, err := s.inviteForm(c)
	if err != nil {
		return err
	}
	return s.renderInviteDialog(c, http.StatusOK, f)
}

// handleInviteCreate invites every listed address or none (each problem is
// reported; nothing is half-sent).
func (s *Server) handleInviteCreate(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	f, err := s.inviteForm(c)
	if err != nil {
		return err
	}
	form, _ := c.FormParams() // a body that does not parse reads as empty: every field is refused
	in, ok := decodeInvite(form, &f)
	if !ok {
		return s.renderInviteDialog(c, http.StatusUnprocessableEntity, f)
	}
	emails, role, grants, note, days := in.emails, in.role, in.grants, in.note, in.days
	expires := s.now().Add(time.Duration(days) * 24 * time.Hour)
	batch := store.InviteBatch{Role: role, Grants: grants, Note: note, ExpiresAt: expires}
	inviter := currentUser(c)
	var wsNames []string
	for _, w := range f.Workspaces {
		if w.Checked {
			wsNames = append(wsNames, strings.TrimLeft(w.Label, "\u2003")+" ("+strings.ToLower(w.Role.Label())+")")
		}
	}
	links := map[string]string{}
	for _, e := range emails {
		token, hash := newToken()
		link := s.cfg.URL("/invites/" + token)
		links[e] = link
		logo := ""
		if sc.Org.LogoType != "" {
			logo = s.cfg.URL("/invites/" + token + "/logo")
		}
		mail, err := s.composer.Invite(e, sc.Org.Name, inviter.Name, strings.ToLower(role.Label()), wsNames, note, link, logo, expires.Format("January 2, 2006"))
		if err != nil {
			return err
		}
		batch.Invites = append(batch.Invites, store.NewInvite{Email: e, TokenHash: hash, Mail: mail})
	}
	_, err = s.members.CreateInvitations(ctx, sc.Org.ID, sc.Access, batch)
	if orgbase.ErrorCode(err) == orgbase.EINVALID {
		f.Fields = map[string]string{"emails": orgbase.ErrorMessage(err)}
		for k, p := range orgbase.ErrorFields(err) {
			if k == "workspaces" {
				f.Fields["workspaces"] = p
				continue
			}
			f.Problems = append(f.Problems, k+" "+p+".")
		}
		sort.Strings(f.Problems)
		return s.renderInviteDialog(c, http.StatusUnprocessableEntity, f)
	} else if err != nil {
		return err
	}
	for e, link := range links {
		s.logDevMail(c, e, "invitation to "+sc.Org.Name, link)
	}
	msg := fmt.Sprintf("Invitation sent to %d people.", len(emails))
	if len(emails) == 1 {
		msg = "Invitation sent to " + emails[0] + "."
	}
	if err := s.flash(c, "success", msg); err != nil {
		return err
	}
	return s.redirect(c, "/orgs/"+sc.Org.Slug+"/members")
}

// inviteInput is a valid invitation form.
type inviteInput struct {
	emails []string
	role   orgbase.Role
	grants []orgbase.InvitationGrant
	note   string
	days   int
}

// decodeInvite reads the invitation form into f (what was typed, the
// workspaces ticked) and checks it: ok is false with f.Fields (and, for
// malformed or repeated addresses, f.Problems) set when anything is wrong,
// so nobody is invited unless everyone can be. f.Workspaces are the choices
// offered: a ticked workspace not among them is refused.
func decodeInvite(form url.Values, f *members.InviteForm) (in inviteInput, ok bool) {
	f.Emails, f.Role, f.Note, f.Days = sanitizeEcho(form.Get("emails")), form.Get("role"), sanitizeEcho(form.Get("note")), form.Get("days")
	checked := map[string]bool{}
	for _, v := range form["ws"] {
		checked[v] = true
	}
	for i := range f.Workspaces {
		w := &f.Workspaces[i]
		id := strconv.FormatInt(w.ID, 10)
		w.Checked = checked[id]
		if form.Get("wsrole-"+id) == string(orgbase.WorkspaceManager) {
			w.Role = orgbase.WorkspaceManager
		}
		if w.Checked {
			in.grants = append(in.grants, orgbase.InvitationGrant{WorkspaceID: w.ID, Role: w.Role})
			delete(checked, id)
		}
	}
	var v orgbase.Validator
	if len(checked) > 0 {
		v.Check(false, "workspaces", "One of the chosen workspaces does not exist here.")
	}
	emails, problems := orgbase.ParseEmailList(form.Get("emails"))
	v.Check(utf8Valid(form.Get("emails")), "emails", "The addresses contain characters we cannot read.")
	v.Check(len(emails)+len(problems) > 0, "emails", "Enter at least one email address.")
	v.Check(len(emails)+len(problems) <= orgbase.MaxInvitesPerRequest, "emails", fmt.Sprintf("Invite at most %d people at a time.", orgbase.MaxInvitesPerRequest))
	in.emails = emails
	in.role = orgbase.Role(f.Role)
	v.Check(slices.Contains(orgbase.InvitableRoles, in.role), "role", "Choose admin, billing or member.")
	days, err := strconv.Atoi(f.Days)
	v.Check(err == nil && days >= 1 && days <= 30, "days", "Choose between 1 and 30 days.")
	in.days = days
	in.note, err = orgbase.CleanText(form.Get("note"), "Note", orgbase.MaxNoteLen, false)
	v.Add("note", err)
	if len(problems) > 0 && v.Fields["emails"] == "" {
		v.Check(false, "emails", "Fix the addresses below. Nobody was invited.")
		for raw, p := range problems {
			f.Problems = append(f.Problems, truncate(raw, 80)+" "+p+".")
		}
		sort.Strings(f.Problems)
	}
	if !v.Valid() {
		f.Fields = v.Fields
		return inviteInput{}, false
	}
	return in, true
}

func utf8Valid(s string) bool { return strings.ToValidUTF8(s, "\uFFFD") == s }

func inviteParam(c echo.Context) (int64, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return 0, orgbase.Errorf(orgbase.ENOTFOUND, "Invitation not found.")
	}
	return id, nil
}

// renderInviteRow answers resend and revoke with the invitation's row.
func (s *Server) renderInviteRow(c echo.Context, inv *orgbase.Invitation, msg, rowErr string) error {
	if !isHTMX(c) {
		return s.flashRedirect(c, msg, rowErr, "/orgs/"+orgOf(c).Org.Slug+"/members")
	}
	sh, err := s.shell(c, "Members", "members")
	if err != nil {
		return err
	}
	row := members.InviteRow{Inv: inv, Status: inv.Status(s.now()), Flash: rowErr == "", Error: rowErr}
	status := http.StatusOK
	var flashes []components.Flash
	if msg != "" {
		flashes = append(flashes, flashOf("success", msg))
	}
	if rowErr != "" {
		status = http.StatusUnprocessableEntity
	}
	part := withToasts(members.InvitationRow(sh, row), flashes)
	return render(c, status, part, part)
}

func (s *Server) findInvitation(c echo.Context, id int64) (*orgbase.Invitation, error) {
	invs, err := s.members.FindInvitations(c.Request().Context(), orgOf(c).Org.ID, true)
	if err != nil {
		return nil, err
	}
	for _, inv := range invs {
		if inv.ID == id {
			return inv, nil
		}
	}
	return nil, orgbase.Errorf(orgbase.ENOTFOUND, "Invitation not found.")
}

// handleInviteResend sends a fresh link; the old one stops working.
func (s *Server) handleInviteResend(c echo.Context) error {
	sc := orgOf(c)
	id, err := inviteParam(c)
	if err != nil {
		return err
	}
	inv, err := s.findInvitation(c, id)
	if err != nil {
		return err
	}
	token, hash := newToken()
	link := s.cfg.URL("/invites/" + token)
	expires := s.now().Add(orgbase.DefaultInviteTTL)
	logo := ""
	if sc.Org.LogoType != "" {
		logo = s.cfg.URL("/invites/" + token + "/logo")
	}
	mail, err := s.composer.Invite(inv.Email, sc.Org.Name, currentUser(c).Name, strings.ToLower(inv.Role.Label()), nil, inv.Note, link, logo, expires.Format("January 2, 2006"))
	if err != nil {
		return err
	}
	updated, err := s.members.ResendInvitation(c.Request().Context(), sc.Org.ID, sc.Access, id, hash, expires, mail)
	switch orgbase.ErrorCode(err) {
	case "":
		updated.InviterName = inv.InviterName // the store's row has no inviter name
		s.logDevMail(c, inv.Email, "invitation to "+sc.Org.Name, link)
		return s.renderInviteRow(c, updated, "A new invitation was sent to "+inv.Email+". The old link no longer works.", "")
	case orgbase.ERATELIMIT, orgbase.ECONFLICT:
		return s.renderInviteRow(c, inv, "", orgbase.ErrorMessage(err))
	}
	return err
}

func (s *Server) handleInviteRevoke(c echo.Context) error {
	sc := orgOf(c)
	id, err := inviteParam(c)
	if err != nil {
		return err
	}
	inv, err := s.findInvitation(c, id)
	if err != nil {
		return err
	}
	updated, err := s.members.RevokeInvitation(c.Request().Context(), sc.Org.ID, sc.Access, id)
	if orgbase.ErrorCode(err) == orgbase.ECONFLICT {
		return s.renderInviteRow(c, inv, "", orgbase.ErrorMessage(err))
	} else if err != nil {
		return err
	}
	updated.InviterName = inv.InviterName // the store's row has no inviter name
	return s.renderInviteRow(c, updated, "The invitation to "+inv.Email+" was revoked.", "")
}

// memberCSVHeader names the columns of the member export.
var memberCSVHeader = []string{"user_id", "name", "email", "role", "status", "workspaces", "image_speech_credits", "chatbot_credits",
	"total_credits", "period", "period_from", "period_to", "monthly_limit_credits", "last_active_utc"}

// memberCSVRecord is one member's row of the member export: their grants,
// the period and its first day as the export writes it ("" for all time),
// each cell guarded (csvCell).
func memberCSVRecord(r store.MemberUsageRow, grants []store.MemberGrant, period orgbase.UsagePeriod, from string) []string {
	var ws []string
	if r.Role == orgbase.RoleOwner || r.Role == orgbase.RoleAdmin {
		ws = []string{"every workspace"}
	}
	for _, g := range grants {
		ws = append(ws, g.Name+" ("+g.Role.Label()+")")
	}
	limit, seen := "", ""
	if r.MonthlyLimit != nil {
		limit = r.MonthlyLimit.Decimal()
	}
	if r.LastSeen != nil {
		seen = r.LastSeen.UTC().Format(time.RFC3339)
	}
	_, status := members.StatusBadge(r.Status)
	rec := []string{strconv.FormatInt(r.UserID, 10), r.Name, r.Email, r.Role.Label(), status, strings.Join(ws, "; "),
		r.ImageSpeech.Decimal(), r.Chatbot.Decimal(), r.Total().Decimal(), period.Label, from, period.To, limit, seen}
	for i := range rec {
		rec[i] = csvCell(rec[i])
	}
	return rec
}

// handleMemberExport streams the member list as CSV with the tab's search,
// period and sort (no paging), a chunk at a time: credits as exact decimals
// (milli-credit precision), times in UTC.
func (s *Server) handleMemberExport(c echo.Context) error {
	sc := orgOf(c)
	ctx := c.Request().Context()
	m, q := s.memberListParams(c)
	res := c.Response()
	name := fmt.Sprintf("%s-members-%s-%s.csv", sc.Org.Slug, m.Period.Key, s.now().UTC().Format("20060102-150405"))
	res.Header().Set(echo.HeaderContentType, "text/csv; charset=utf-8")
	res.Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	res.Header().Set("Cache-Control", "no-store")
	res.WriteHeader(http.StatusOK)
	w := csv.NewWriter(res)
	if err := w.Write(memberCSVHeader); err != nil {
		return nil // the client went away
	}
	from := m.Period.From
	if m.Period.Key == "all" {
		from = ""
	}
	var batch []store.MemberUsageRow
	flush := func() error {
		ids := make([]int64, len(batch))
		for i, r := range batch {
			ids[i] = r.UserID
		}
		grants, err := s.members.FindMemberGrants(ctx, sc.Org.ID, ids)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if err := w.Write(memberCSVRecord(r, grants[r.UserID], m.Period, from)); err != nil {
				return err
			}
		}
		batch = batch[:0]
		w.Flush()
		res.Flush()
		return w.Error()
	}
	err := s.members.EachMember(ctx, sc.Org.ID, q, func(r store.MemberUsageRow) error {
		if batch = append(batch, r); len(batch) == 200 {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	w.Flush()
	if err == nil {
		err = w.Error()
	}
	if err != nil && ctx.Err() == nil {
		// The status is sent: the download ends short, and we log why.
		s.log.ErrorContext(ctx, "members export failed", slog.String("request_id", res.Header().Get(echo.HeaderXRequestID)),
			slog.Int64("org_id", sc.Org.ID), slog.String("error", err.Error()))
	}
	return nil
}
