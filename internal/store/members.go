package store

import (
	"context"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// lockMemberships locks every membership row of the organization in user id
// order (so concurrent changes cannot deadlock) and returns the target's and
// the number of active owners. Locking them all makes "the last owner" a
// fact no concurrent demotion can change under us.
func lockMemberships(tx *gorm.DB, orgID, userID int64) (*membershipRow, int, error) {
	var rows []membershipRow
	if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Where("org_id = ?", orgID).Order("user_id").Find(&rows).Error; err != nil {
		return nil, 0, err
	}
	var target *membershipRow
	owners := 0
	for i := range rows {
		if rows[i].Role == string(orgbase.RoleOwner) && rows[i].Status == orgbase.MemberActive {
			owners++
		}
		if rows[i].UserID == userID {
			target = &rows[i]
		}
	}
	if target == nil {
		return nil, 0, orgbase.Errorf(orgbase.ENOTFOUND, "That person is not a member of this organization.")
	}
	return target, owners, nil
}

func lastOwner(target *membershipRow, owners int) bool {
	return target.Role == string(orgbase.RoleOwner) && target.Status == orgbase.MemberActive && owners <= 1
}

// actOn checks, inside the transaction, that the actor may act on the target
// member (admins never act on owners; people do not act on themselves here).
func actOn(tx *gorm.DB, orgID int64, by orgbase.Access, target *membershipRow) error {
	return recheck(tx, orgID, by, func(a orgbase.Access) bool {
		if !by.IsOperator() && target.UserID == a.Membership.UserID {
			return false
		}
		return orgbase.CanActOnMember(a.Membership, target.domain())
	})
}

func memberLabel(tx *gorm.DB, userID int64) string {
	var u userRow
	if tx.Select("email").Take(&u, "id = ?", userID).Error != nil {
		return ""
	}
	return u.Email
}

// ChangeRole gives a member another organization role. Only owners make
// owners; admins cannot change owners; the last owner cannot be demoted.
func (db *DB) ChangeRole(ctx context.Context, orgID int64, by orgbase.Access, userID int64, role orgbase.Role) error {
	if !role.Valid() {
		return orgbase.Errorf(orgbase.EINVALID, "Choose owner, admin, billing or member.")
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		target, owners, err := lockMemberships(tx, orgID, userID)
		if err != nil {
			return err
		}
		if err := actOn(tx, orgID, by, target); err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return orgbase.CanAssignRole(a.Membership, role) }); err != nil {
			return orgbase.Errorf(orgbase.EFORBIDDEN, "Only owners can make someone an owner.")
		}
		if target.Role == string(role) {
			return nil
		}
		if lastOwner(target, owners) {
			return orgbase.Errorf(orgbase.ECONFLICT, "This is the organization's last owner. Make someone else owner first.")
		}
		if err := tx.Model(&membershipRow{}).Where("org_id = ? AND user_id = ?", orgID, userID).Update("role", string(role)).Error; err != nil {
			return err
		}
		return audit(tx, orgID, "member.role_change", "member", strconv.FormatInt(userID, 10), memberLabel(tx, userID),
			map[string]Change{"role": {From: target.Role, To: role}})
	})
}

// SetMemberStatus suspends or restores a member. A suspended member loses
// access at once: every request checks the membership. The last owner
// cannot be suspended; admins cannot suspend owners.
func (db *DB) SetMemberStatus(ctx context.Context, orgID int64, by orgbase.Access, userID int64, status string) error {
	if status != orgbase.MemberActive && status != orgbase.MemberSuspended {
		return orgbase.Errorf(orgbase.EINVALID, "Unknown status.")
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		target, owners, err := lockMemberships(tx, orgID, userID)
		if err != nil {
			return err
		}
		if err := actOn(tx, orgID, by, target); err != nil {
			return err
		}
		if target.Status == status {
			return nil
		}
		if status == orgbase.MemberSuspended && lastOwner(target, owners) {
			return orgbase.Errorf(orgbase.ECONFLICT, "The last owner cannot be suspended.")
		}
		if err := tx.Model(&membershipRow{}).Where("org_id = ? AND user_id = ?", orgID, userID).Update("status", status).Error; err != nil {
			return err
		}
		action := "member.suspend"
		if status == orgbase.MemberActive {
			action = "member.restore"
		}
		return audit(tx, orgID, action, "member", strconv.FormatInt(userID, 10), memberLabel(tx, userID),
			map[string]Change{"status": {From: target.Status, To: status}})
	})
}

// RemoveMember revokes a member's access: the membership and its workspace
// grants go, at once and in one transaction; their past activity stays in
// every report (the audit log and usage keep the user id). The last owner
// cannot be removed; admins cannot remove owners. Leaving (removing
// oneself) is RemoveMember with self set.
func (db *DB) RemoveMember(ctx context.Context, orgID int64, by orgbase.Access, userID int64, self bool) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		target, owners, err := lockMemberships(tx, orgID, userID)
		if err != nil {
			return err
		}
		if self {
			if by.Membership == nil || by.Membership.UserID != userID {
				return orgbase.Errorf(orgbase.EFORBIDDEN, "You can only leave for yourself.")
			}
		} else if err := actOn(tx, orgID, by, target); err != nil {
			return err
		}
		if lastOwner(target, owners) {
			return orgbase.Errorf(orgbase.ECONFLICT, "The last owner cannot leave or be removed. Make someone else owner first, or delete the organization.")
		}
		label := memberLabel(tx, userID)
		if err := tx.Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&grantRow{}).Error; err != nil {
			return err
		}
		if err := tx.Where("org_id = ? AND user_id = ?", orgID, userID).Delete(&membershipRow{}).Error; err != nil {
			return err
		}
		action := "member.remove"
		if self {
			action = "member.leave"
		}
		return audit(tx, orgID, action, "member", strconv.FormatInt(userID, 10), label, map[string]any{"role": target.Role})
	})
}

// FindLastSeen returns, per member of the organization who has ever signed
// in, when they last made a request (users.last_seen_at, kept after logout).
func (db *DB) FindLastSeen(ctx context.Context, orgID int64) (map[int64]time.Time, error) {
	type row struct {
		ID         int64
		LastSeenAt *time.Time
	}
	var rows []row
	err := db.q(ctx).Table("users u").Select("u.id, u.last_seen_at").
		Joins("JOIN memberships m ON m.user_id = u.id AND m.org_id = ?", orgID).
		Where("u.last_seen_at IS NOT NULL").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make(map[int64]time.Time, len(rows))
	for _, r := range rows {
		out[r.ID] = *r.LastSeenAt
	}
	return out, nil
}

// memberRollup is the per-member daily rollup the Members tab reads
// (org_id, user_id, category, day, credits), kept in the charging
// transaction beside usage_daily: its primary key (org_id, user_id, ...)
// serves the grouping per member.
const memberRollup = "usage_daily_member"

// Member list sort keys (MemberQuery.Sort).
const (
	MemberSortName        = "name"
	MemberSortRole        = "role"
	MemberSortActive      = "active"
	MemberSortTotal       = "total"
	MemberSortImageSpeech = "image_speech"
	MemberSortChatbot     = "chatbot"
)

// MemberSorts are the sort keys of the member list, each with its natural
// direction (true: descending): names A to Z, roles from owner down, the
// most recently active and the biggest spenders first.
var MemberSorts = map[string]bool{
	MemberSortName: false, MemberSortRole: false, MemberSortActive: true,
	MemberSortTotal: true, MemberSortImageSpeech: true, MemberSortChatbot: true,
}

// MemberQuery selects, orders and pages the member list with each person's
// usage in a range of days.
type MemberQuery struct {
	Search   string // part of the name or email, any case; "" for everyone
	From, To string // usage days, "YYYY-MM-DD", both included (orgbase.UsagePeriod)
	Sort     string // a MemberSorts key; ties go by name, then user id
	Desc     bool
	UserID   int64 // only this member (0: all)
	Page     int   // 1-based; past the last page means the last
	PerPage  int   // 0: no paging
}

// MemberUsageRow is one member with their last activity and their usage in
// the query's range by category.
type MemberUsageRow struct {
	orgbase.Member
	LastSeen    *time.Time
	ImageSpeech orgbase.Credits
	Chatbot     orgbase.Credits
}

// Total is the member's usage in every category.
func (r MemberUsageRow) Total() orgbase.Credits { return r.ImageSpeech + r.Chatbot }

// MemberPage is one page of the member list.
type MemberPage struct {
	Rows  []MemberUsageRow
	Total int // members matching the search, on every page
	Page  int // the page shown (clamped)
	Pages int
}

type memberUsageScan struct {
	UserID       int64
	Email        string
	Name         string
	Role         string
	Status       string
	CreatedAt    time.Time
	MonthlyLimit *int64
	LastSeenAt   *time.Time
	ImageSpeech  int64
	Chatbot      int64
}

func (r memberUsageScan) domain() MemberUsageRow {
	return MemberUsageRow{
		Member: orgbase.Member{UserID: r.UserID, Email: r.Email, Name: r.Name, Role: orgbase.Role(r.Role), Status: r.Status,
			JoinedAt: r.CreatedAt, MonthlyLimit: limitDomain(r.MonthlyLimit)},
		LastSeen: r.LastSeenAt, ImageSpeech: orgbase.Credits(r.ImageSpeech), Chatbot: orgbase.Credits(r.Chatbot),
	}
}

// containsPattern is a LIKE pattern (with ESCAPE '\') matching any text
// that contains s literally.
func containsPattern(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(s) + "%"
}

// memberBase is the organization's members matching the query's search
// (and user), memberships joined to users.
func (db *DB) memberBase(ctx context.Context, orgID int64, q MemberQuery) *gorm.DB {
	b := db.q(ctx).Table("memberships m").Joins("JOIN users u ON u.id = m.user_id").Where("m.org_id = ?", orgID)
	if s := strings.TrimSpace(q.Search); s != "" {
		// lower() folds ASCII on SQLite; the search as typed also matches
		// other scripts' names written in the same case.
		low, raw := containsPattern(strings.ToLower(s)), containsPattern(s)
		b = b.Where(`(lower(u.name) LIKE ? ESCAPE '\' OR lower(u.email) LIKE ? ESCAPE '\' OR u.name LIKE ? ESCAPE '\')`, low, low, raw)
	}
	if q.UserID != 0 {
		b = b.Where("m.user_id = ?", q.UserID)
	}
	return b
}

// memberOrder is the ORDER BY of the query: the sort key, then name and id
// (so pages never overlap or skip a member).
func memberOrder(q MemberQuery) string {
	dir := " ASC"
	if q.Desc {
		dir = " DESC"
	}
	var key string
	switch q.Sort {
	case MemberSortRole:
		key = "CASE m.role WHEN 'owner' THEN 0 WHEN 'admin' THEN 1 WHEN 'billing' THEN 2 ELSE 3 END" + dir + ", "
	case MemberSortActive:
		// Never seen sorts after everyone seen, in both directions and dialects.
		key = "CASE WHEN u.last_seen_at IS NULL THEN 1 ELSE 0 END, u.last_seen_at" + dir + ", "
	case MemberSortTotal:
		key = "COALESCE(x.total, 0)" + dir + ", "
	case MemberSortImageSpeech:
		key = "COALESCE(x.image_speech, 0)" + dir + ", "
	case MemberSortChatbot:
		key = "COALESCE(x.chatbot, 0)" + dir + ", "
	case MemberSortName:
		return "lower(u.name)" + dir + ", m.user_id" + dir
	}
	return key + "lower(u.name), m.user_id"
}

// memberRows is the query of the member list with usage: the rollup
// grouped per member in the range, joined to the members (members who used
// nothing have zeros), sorted in SQL.
func (db *DB) memberRows(ctx context.Context, orgID int64, q MemberQuery) *gorm.DB {
	usage := db.q(ctx).Table(memberRollup).
		Select(`user_id, SUM(CASE WHEN category = 'image_speech' THEN credits ELSE 0 END) AS image_speech,
			SUM(CASE WHEN category = 'chatbot' THEN credits ELSE 0 END) AS chatbot, SUM(credits) AS total`).
		Where("org_id = ? AND day >= ? AND day <= ?", orgID, q.From, q.To).Group("user_id")
	if q.UserID != 0 {
		usage = usage.Where("user_id = ?", q.UserID)
	}
	return db.memberBase(ctx, orgID, q).
		Select(`m.user_id, u.email, u.name, m.role, m.status, m.created_at, m.monthly_limit, u.last_seen_at,
			COALESCE(x.image_speech, 0) AS image_speech, COALESCE(x.chatbot, 0) AS chatbot`).
		Joins("LEFT JOIN (?) x ON x.user_id = m.user_id", usage).
		Order(memberOrder(q))
}

func checkMemberQuery(q *MemberQuery) error {
	if err := orgbase.CheckDayRange(q.From, q.To); err != nil {
		return err
	}
	if _, ok := MemberSorts[q.Sort]; !ok {
		return orgbase.Errorf(orgbase.EINVALID, "Sort by name, role, last activity or credits used.")
	}
	if q.PerPage < 0 || q.Page < 0 {
		return orgbase.Errorf(orgbase.EINVALID, "Choose a page from 1.")
	}
	return nil
}

// FindMemberPage returns one page of the organization's members matching
// the search, with their usage in the range by category and their last
// activity, sorted (by usage too) and paged in SQL: two queries (the count
// and the page) whatever the organization's size. EINVALID for a malformed
// range or an unknown sort.
func (db *DB) FindMemberPage(ctx context.Context, orgID int64, q MemberQuery) (MemberPage, error) {
	if err := checkMemberQuery(&q); err != nil {
		return MemberPage{}, err
	}
	var total int64
	if err := db.memberBase(ctx, orgID, q).Count(&total).Error; err != nil {
		return MemberPage{}, err
	}
	p := MemberPage{Total: int(total), Page: 1, Pages: 1}
	if total == 0 {
		return p, nil
	}
	sel := db.memberRows(ctx, orgID, q)
	if q.PerPage > 0 {
		p.Pages = (p.Total + q.PerPage - 1) / q.PerPage
		p.Page = min(max(q.Page, 1), p.Pages)
		sel = sel.Limit(q.PerPage).Offset((p.Page - 1) * q.PerPage)
	}
	var rows []memberUsageScan
	if err := sel.Scan(&rows).Error; err != nil {
		return MemberPage{}, err
	}
	p.Rows = make([]MemberUsageRow, len(rows))
	for i, r := range rows {
		p.Rows[i] = r.domain()
	}
	return p, nil
}

// memberChunk is how many members EachMember reads per query.
const memberChunk = 1000

// EachMember calls fn with every member matching the query (paging
// ignored), in its order, reading them a chunk at a time so that an export
// never holds the whole list nor a connection while fn writes. EINVALID as
// FindMemberPage.
func (db *DB) EachMember(ctx context.Context, orgID int64, q MemberQuery, fn func(MemberUsageRow) error) error {
	if err := checkMemberQuery(&q); err != nil {
		return err
	}
	for offset := 0; ; offset += memberChunk {
		var rows []memberUsageScan
		if err := db.memberRows(ctx, orgID, q).Limit(memberChunk).Offset(offset).Scan(&rows).Error; err != nil {
			return err
		}
		for _, r := range rows {
			if err := fn(r.domain()); err != nil {
				return err
			}
		}
		if len(rows) < memberChunk {
			return nil
		}
	}
}

// FindMemberGrants returns the workspace access of the given members
// (active workspaces), with each workspace's name, by user id, ordered by
// workspace path: one query, for one page of the member list.
func (db *DB) FindMemberGrants(ctx context.Context, orgID int64, userIDs []int64) (map[int64][]MemberGrant, error) {
	out := map[int64][]MemberGrant{}
	if len(userIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		UserID      int64
		WorkspaceID int64
		Name        string
		Role        string
	}
	err := db.q(ctx).Table("workspace_grants g").Select("g.user_id, g.workspace_id, w.name, g.role").
		Joins("JOIN workspaces w ON w.id = g.workspace_id AND w.org_id = g.org_id").
		Where("g.org_id = ? AND g.user_id IN ? AND w.archived_at IS NULL", orgID, userIDs).
		Order("w.path, g.user_id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		out[r.UserID] = append(out[r.UserID], MemberGrant{WorkspaceID: r.WorkspaceID, Name: r.Name, Role: orgbase.WorkspaceRole(r.Role)})
	}
	return out, nil
}

// MemberGrant is a member's access to one workspace, by name.
type MemberGrant struct {
	WorkspaceID int64
	Name        string
	Role        orgbase.WorkspaceRole
}
