package store

import (
	"context"
	"errors"
	"strconv"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// The workspace tree is stored as a materialized path ("/1/4/9/"): a subtree
// is one range scan on (org_id, path), the ancestors are the ids in the path,
// and a move rewrites the subtree's paths in one UPDATE. No recursion in Go,
// no N+1 queries, the same SQL on both dialects.

type grantRow struct {
	OrgID       int64
	WorkspaceID int64 `gorm:"primaryKey"`
	UserID      int64 `gorm:"primaryKey"`
	Role        string
	CreatedBy   *int64
	CreatedAt   time.Time
}

func (grantRow) TableName() string { return "workspace_grants" }

// NewWorkspace is what creating a workspace needs.
type NewWorkspace struct {
	ParentID    int64
	Name        string
	Description string
}

// WorkspaceFilter narrows FindWorkspaces.
type WorkspaceFilter struct {
	Archived bool   // include archived workspaces
	Under    string // only this path's subtree ("" for all)
}

// likePrefix returns a LIKE pattern matching every path that starts with p.
// Paths hold only digits and slashes, so no LIKE metacharacter needs escaping.
func likePrefix(p string) string { return p + "%" }

func wsDomain(rows []workspaceRow) []*orgbase.Workspace {
	out := make([]*orgbase.Workspace, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out
}

// FindWorkspaces lists an organization's workspaces ordered by path (parents
// before children), in one query.
func (db *DB) FindWorkspaces(ctx context.Context, orgID int64, f WorkspaceFilter) ([]*orgbase.Workspace, error) {
	q := db.q(ctx).Table("workspaces w").Select("w.*, COALESCE(u.name, '') AS creator_name").
		Joins("LEFT JOIN users u ON u.id = w.created_by").Where("w.org_id = ?", orgID)
	if !f.Archived {
		q = q.Where("w.archived_at IS NULL")
	}
	if f.Under != "" {
		q = q.Where("w.path LIKE ?", likePrefix(f.Under))
	}
	var rows []workspaceRow
	if err := q.Order("w.depth, w.id").Scan(&rows).Error; err != nil {
		return nil, err
	}
	return wsDomain(rows), nil
}

// FindWorkspaceByID returns one workspace of the organization, or ENOTFOUND
// (also for another organization's workspace).
func (db *DB) FindWorkspaceByID(ctx context.Context, orgID, id int64) (*orgbase.Workspace, error) {
	var row workspaceRow
	err := db.q(ctx).Table("workspaces w").Select("w.*, COALESCE(u.name, '') AS creator_name").
		Joins("LEFT JOIN users u ON u.id = w.created_by").Where("w.org_id = ? AND w.id = ?", orgID, id).Take(&row).Error
	if err != nil {
		return nil, notFound(err, "Workspace not found.")
	}
	return row.domain(), nil
}

// FindAncestors returns the workspaces on the path of ws from the root down
// to its parent, in one query.
func (db *DB) FindAncestors(ctx context.Context, ws *orgbase.Workspace) ([]*orgbase.Workspace, error) {
	ids := orgbase.PathIDs(ws.Path)
	if len(ids) <= 1 {
		return nil, nil
	}
	var rows []workspaceRow
	if err := db.q(ctx).Where("org_id = ? AND id IN ?", ws.OrgID, ids[:len(ids)-1]).Order("depth").Find(&rows).Error; err != nil {
		return nil, err
	}
	return wsDomain(rows), nil
}

func lockWorkspace(tx *gorm.DB, orgID, id int64) (*workspaceRow, error) {
	var row workspaceRow
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&row, "org_id = ? AND id = ?", orgID, id).Error
	if err != nil {
		return nil, notFound(err, "Workspace not found.")
	}
	return &row, nil
}

// recheck is the service half of "authorization twice": inside the
// transaction, after the rows it touches are locked, it reloads the actor's
// membership and grants (their paths as they are now, after any concurrent
// move) and asks the domain policy again. ok receives the fresh access.
func recheck(tx *gorm.DB, orgID int64, by orgbase.Access, ok func(orgbase.Access) bool) error {
	if by.Membership == nil || by.Membership.OrgID != orgID {
		return orgbase.Errorf(orgbase.EFORBIDDEN, "You are not a member of this organization.")
	}
	fresh := by
	if !by.IsOperator() {
		var m membershipRow
		if err := tx.Take(&m, "org_id = ? AND user_id = ?", orgID, by.Membership.UserID).Error; err != nil {
			return notFound(err, "Organization not found.")
		}
		fresh = orgbase.Access{Membership: m.domain()}
		if !fresh.SeesAll() {
			grants, err := findGrants(tx, "g.org_id = ? AND g.user_id = ? AND w.archived_at IS NULL", orgID, m.UserID)
			if err != nil {
				return err
			}
			fresh.Grants = grants
		}
	}
	if !ok(fresh) {
		return orgbase.Errorf(orgbase.EFORBIDDEN, "You do not manage this workspace.")
	}
	return nil
}

// creator is the user to record as having made a change (nil for the operator).
func creator(by orgbase.Access) *int64 {
	if by.IsOperator() {
		return nil
	}
	id := by.Membership.UserID
	return &id
}

func siblingTaken() error {
	return &orgbase.Error{Code: orgbase.ECONFLICT, Message: "A workspace with this name already exists here.",
		Fields: map[string]string{"name": "Another workspace at this level already has this name."}}
}

// lockOrgTree serializes structural changes of one organization's tree
// (create, move, archive) by locking its root row, so two concurrent moves
// cannot create a cycle or exceed the depth limit together.
func lockOrgTree(tx *gorm.DB, orgID int64) error {
	var row workspaceRow
	return tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select("id").Take(&row, "org_id = ? AND parent_id IS NULL", orgID).Error
}

// CreateWorkspace adds a child under an active parent the actor manages.
// Returns EFORBIDDEN when they do not, EINVALID when the depth limit would be
// exceeded, ECONFLICT for a duplicate sibling name, ENOTFOUND for an unknown
// parent.
func (db *DB) CreateWorkspace(ctx context.Context, orgID int64, by orgbase.Access, n NewWorkspace, maxDepth int) (*orgbase.Workspace, error) {
	now := db.now()
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		parent, err := lockWorkspace(tx, orgID, n.ParentID)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanManage(parent.Path) }); err != nil {
			return err
		}
		if parent.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived; restore it before adding workspaces to it.", parent.Name)
		}
		if parent.Depth+1 > maxDepth {
			return &orgbase.Error{Code: orgbase.EINVALID, Message: "Too deep.",
				Fields: map[string]string{"parent_id": "Workspaces can nest at most " + itoa(maxDepth) + " levels below Primary."}}
		}
		row := workspaceRow{OrgID: orgID, ParentID: &parent.ID, Name: n.Name, Description: n.Description,
			Depth: parent.Depth + 1, CreatedBy: creator(by), CreatedAt: now}
		if err := tx.Create(&row).Error; err != nil {
			if isUniqueViolation(err) {
				return siblingTaken()
			}
			return err
		}
		row.Path = orgbase.ChildPath(parent.Path, row.ID)
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, row.ID).Update("path", row.Path).Error; err != nil {
			return err
		}
		out = row.domain()
		changes := map[string]Change{"name": {To: row.Name}, "parent": {To: parent.Name}}
		if row.Description != "" {
			changes["description"] = Change{To: row.Description}
		}
		return audit(tx, orgID, "workspace.create", "workspace", itoa64(row.ID), row.Name, changes)
	})
	return out, err
}

// UpdateWorkspace changes a workspace's name and description. EFORBIDDEN
// unless the actor manages it; ECONFLICT for a duplicate sibling name; the
// Primary workspace may be renamed.
func (db *DB) UpdateWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64, name, description string) (*orgbase.Workspace, error) {
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		row, err := lockWorkspace(tx, orgID, id)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanManage(row.Path) }); err != nil {
			return err
		}
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, id).Updates(map[string]any{"name": name, "description": description}).Error; err != nil {
			if isUniqueViolation(err) {
				return siblingTaken()
			}
			return err
		}
		changes := map[string]Change{}
		changed(changes, "name", row.Name, name)
		changed(changes, "description", row.Description, description)
		row.Name, row.Description = name, description
		out = row.domain()
		if len(changes) == 0 {
			return nil // saved as it was: nothing to record
		}
		return audit(tx, orgID, "workspace.update", "workspace", itoa64(id), name, changes)
	})
	return out, err
}

// MoveWorkspace puts a workspace (with its subtree) under a new parent.
// Refused: the Primary workspace, a parent inside the workspace's own
// subtree, an archived parent, exceeding the depth limit, a sibling with the
// same name. The tree is unchanged on any refusal.
//
// EFORBIDDEN unless the actor manages the workspace's current parent and the
// new parent (domain policy Access.CanMove and CanArchive).
func (db *DB) MoveWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id, newParentID int64, maxDepth int) (*orgbase.Workspace, error) {
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		ws, err := lockWorkspace(tx, orgID, id)
		if err != nil {
			return err
		}
		if ws.ParentID == nil {
			return orgbase.Errorf(orgbase.EINVALID, "The Primary workspace cannot be moved.")
		}
		parent, err := lockWorkspace(tx, orgID, newParentID)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool {
			w := ws.domain()
			return a.CanArchive(w, ws.domain().ParentPath()) && a.CanMove(w, parent.Path)
		}); err != nil {
			return err
		}
		moveErr := func(msg string) error {
			return &orgbase.Error{Code: orgbase.EINVALID, Message: msg, Fields: map[string]string{"parent_id": msg}}
		}
		if orgbase.IsWithin(parent.Path, ws.Path) {
			return moveErr("A workspace cannot move under itself or one of its own workspaces.")
		}
		if parent.ArchivedAt != nil {
			return moveErr(parent.Name + " is archived.")
		}
		if *ws.ParentID == parent.ID {
			out = ws.domain()
			return nil
		}
		var oldParent workspaceRow
		if err := tx.Select("id", "name").Take(&oldParent, "org_id = ? AND id = ?", orgID, *ws.ParentID).Error; err != nil {
			return err
		}
		var deepest int
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND path LIKE ?", orgID, likePrefix(ws.Path)).
			Select("COALESCE(MAX(depth), 0)").Scan(&deepest).Error; err != nil {
			return err
		}
		shift := parent.Depth + 1 - ws.Depth
		if deepest+shift > maxDepth {
			return moveErr("Moving it there would nest workspaces more than " + itoa(maxDepth) + " levels below Primary.")
		}
		// A limit inside the moved subtree may not exceed the nearest limit
		// above its new place (SPEC §5.4).
		if err := checkLimitsUnder(tx, orgID, ws.Path, parent); err != nil {
			if orgbase.ErrorCode(err) == orgbase.EINVALID {
				return moveErr(orgbase.ErrorMessage(err))
			}
			return err
		}
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, ws.ID).Update("parent_id", parent.ID).Error; err != nil {
			if isUniqueViolation(err) {
				return moveErr("A workspace named " + ws.Name + " already exists there.")
			}
			return err
		}
		newPath := orgbase.ChildPath(parent.Path, ws.ID)
		// One statement rewrites the whole subtree: the old prefix is replaced
		// by the new one, depths shift by the same amount.
		if err := tx.Exec("UPDATE workspaces SET path = ? || substr(path, ?), depth = depth + ? WHERE org_id = ? AND path LIKE ?",
			newPath, len(ws.Path)+1, shift, orgID, likePrefix(ws.Path)).Error; err != nil {
			return err
		}
		ws.ParentID, ws.Path, ws.Depth = &parent.ID, newPath, ws.Depth+shift
		out = ws.domain()
		return audit(tx, orgID, "workspace.move", "workspace", itoa64(ws.ID), ws.Name, map[string]Change{
			"parent": {From: oldParent.Name, To: parent.Name},
		})
	})
	return out, err
}

// ArchiveWorkspace archives a workspace without active children. Members
// whose only access was through a grant on it are given member access to the
// Primary workspace, so nobody is silently locked out of the organization.
// A budget workspace's balance returns to its funding parent (a ledger
// transfer in the same transaction).
//
// EFORBIDDEN unless the actor manages its parent (Access.CanArchive).
func (db *DB) ArchiveWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Workspace, error) {
	now := db.now()
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		ws, err := lockWorkspace(tx, orgID, id)
		if err != nil {
			return err
		}
		if ws.ParentID == nil {
			return orgbase.Errorf(orgbase.EINVALID, "The Primary workspace cannot be archived.")
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanArchive(ws.domain(), ws.domain().ParentPath()) }); err != nil {
			return err
		}
		if ws.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is already archived.", ws.Name)
		}
		var active int64
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND parent_id = ? AND archived_at IS NULL", orgID, ws.ID).Count(&active).Error; err != nil {
			return err
		}
		if active > 0 {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s has %d active workspace(s) inside it. Archive or move them first.", ws.Name, active)
		}
		// SPEC §3: a budget workspace's remaining balance goes back to its
		// funding parent, in the same transaction (the tree lock and the
		// workspace's row are held, as for a switch to shared).
		changes := map[string]Change{"archived_at": {To: now}}
		if ws.FundingMode == string(orgbase.FundingBudget) {
			returned, to, err := db.returnBalance(tx, orgID, by, ws, "Returned when "+ws.Name+" was archived", now)
			if err != nil {
				return err
			}
			if returned > 0 {
				changes["returned"] = Change{To: returned.String()}
				changes["returned_to"] = Change{To: to}
			}
		}
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, ws.ID).Update("archived_at", now).Error; err != nil {
			return err
		}
		// Grants on the archived workspace stay (so a restore brings access back);
		// people left without any grant on an active workspace get the Primary.
		var stranded []int64
		err = tx.Raw(`SELECT g.user_id FROM workspace_grants g WHERE g.org_id = ? AND g.workspace_id = ?
			AND NOT EXISTS (SELECT 1 FROM workspace_grants o JOIN workspaces w ON w.id = o.workspace_id
				WHERE o.org_id = ? AND o.user_id = g.user_id AND w.archived_at IS NULL)`, orgID, ws.ID, orgID).Scan(&stranded).Error
		if err != nil {
			return err
		}
		if len(stranded) > 0 {
			var root workspaceRow
			if err := tx.Take(&root, "org_id = ? AND parent_id IS NULL", orgID).Error; err != nil {
				return err
			}
			for _, uid := range stranded {
				g := grantRow{OrgID: orgID, WorkspaceID: root.ID, UserID: uid, Role: string(orgbase.WorkspaceMember), CreatedBy: creator(by), CreatedAt: now}
				if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&g).Error; err != nil {
					return err
				}
			}
			// The archive entry names who was given the Primary workspace, so
			// the log explains access nobody granted by hand.
			var people []userRow
			if err := tx.Select("id", "name", "email").Where("id IN ?", stranded).Order("lower(name), id").Find(&people).Error; err != nil {
				return err
			}
			given := make([]string, len(people))
			for i, p := range people {
				given[i] = p.Name + " (" + p.Email + ")"
			}
			changes["primary_access_given"] = Change{To: given}
		}
		ws.ArchivedAt = &now
		out = ws.domain()
		return audit(tx, orgID, "workspace.archive", "workspace", itoa64(ws.ID), ws.Name, changes)
	})
	return out, err
}

// RestoreWorkspace brings an archived workspace back under its (active)
// parent. EFORBIDDEN unless the actor manages the parent; ECONFLICT when the
// parent is archived or a sibling took its name.
func (db *DB) RestoreWorkspace(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Workspace, error) {
	var out *orgbase.Workspace
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := lockOrgTree(tx, orgID); err != nil {
			return notFound(err, "Organization not found.")
		}
		ws, err := lockWorkspace(tx, orgID, id)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanArchive(ws.domain(), ws.domain().ParentPath()) }); err != nil {
			return err
		}
		if ws.ArchivedAt == nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is not archived.", ws.Name)
		}
		var parent workspaceRow
		if err := tx.Take(&parent, "org_id = ? AND id = ?", orgID, *ws.ParentID).Error; err != nil {
			return err
		}
		if parent.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "Restore %s first: %s is inside it.", parent.Name, ws.Name)
		}
		if err := tx.Model(&workspaceRow{}).Where("org_id = ? AND id = ?", orgID, ws.ID).Update("archived_at", nil).Error; err != nil {
			if isUniqueViolation(err) {
				return orgbase.Errorf(orgbase.ECONFLICT, "Another workspace next to it is now called %s. Rename one of them first.", ws.Name)
			}
			return err
		}
		archivedAt := *ws.ArchivedAt
		ws.ArchivedAt = nil
		out = ws.domain()
		return audit(tx, orgID, "workspace.restore", "workspace", itoa64(ws.ID), ws.Name, map[string]Change{
			"archived_at": {From: archivedAt},
		})
	})
	return out, err
}

// FindGrantsForUser returns a member's grants in the organization, each with the
// granted workspace's current path (so a move changes inherited access at
// once), in one query.
func (db *DB) FindGrantsForUser(ctx context.Context, orgID, userID int64) ([]orgbase.Grant, error) {
	return db.findGrants(ctx, "g.org_id = ? AND g.user_id = ? AND w.archived_at IS NULL", orgID, userID)
}

// FindGrants returns every grant on active workspaces of the organization.
func (db *DB) FindGrants(ctx context.Context, orgID int64) ([]orgbase.Grant, error) {
	return db.findGrants(ctx, "g.org_id = ? AND w.archived_at IS NULL", orgID)
}

func (db *DB) findGrants(ctx context.Context, where string, args ...any) ([]orgbase.Grant, error) {
	return findGrants(db.q(ctx), where, args...)
}

func findGrants(q *gorm.DB, where string, args ...any) ([]orgbase.Grant, error) {
	type row struct {
		OrgID       int64
		WorkspaceID int64
		UserID      int64
		Role        string
		Path        string
		CreatedAt   time.Time
	}
	var rows []row
	err := q.Table("workspace_grants g").Select("g.org_id, g.workspace_id, g.user_id, g.role, w.path, g.created_at").
		Joins("JOIN workspaces w ON w.id = g.workspace_id").Where(where, args...).Order("w.path, g.user_id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]orgbase.Grant, len(rows))
	for i, r := range rows {
		out[i] = orgbase.Grant{OrgID: r.OrgID, WorkspaceID: r.WorkspaceID, UserID: r.UserID, Role: orgbase.WorkspaceRole(r.Role), Path: r.Path, CreatedAt: r.CreatedAt}
	}
	return out, nil
}

// SetGrant gives (or changes) a member's role on a workspace. EFORBIDDEN
// unless the actor may grant access to it; ENOTFOUND when the workspace or
// the membership is not in the organization.
func (db *DB) SetGrant(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, userID int64, role orgbase.WorkspaceRole) error {
	if !role.Valid() {
		return orgbase.Errorf(orgbase.EINVALID, "Choose manager or member.")
	}
	return db.tx(ctx, func(tx *gorm.DB) error {
		ws, err := lockWorkspace(tx, orgID, workspaceID)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanGrant(ws.Path) }); err != nil {
			return err
		}
		if ws.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived.", ws.Name)
		}
		var m membershipRow
		if err := tx.Take(&m, "org_id = ? AND user_id = ?", orgID, userID).Error; err != nil {
			return notFound(err, "That person is not a member of this organization.")
		}
		var prev grantRow
		prevErr := tx.Take(&prev, "org_id = ? AND workspace_id = ? AND user_id = ?", orgID, workspaceID, userID).Error
		if prevErr != nil && !errors.Is(prevErr, gorm.ErrRecordNotFound) {
			return prevErr
		}
		g := grantRow{OrgID: orgID, WorkspaceID: workspaceID, UserID: userID, Role: string(role), CreatedBy: creator(by), CreatedAt: db.now()}
		if err := tx.Clauses(clause.OnConflict{Columns: []clause.Column{{Name: "workspace_id"}, {Name: "user_id"}},
			DoUpdates: clause.AssignmentColumns([]string{"role"})}).Create(&g).Error; err != nil {
			return err
		}
		changes := map[string]Change{"workspace": {To: ws.Name}, "role": {To: string(role)}}
		if prevErr == nil {
			if prev.Role == string(role) {
				return nil // the same grant again: nothing changed
			}
			changes["role"] = Change{From: prev.Role, To: string(role)}
		}
		label, err := userLabel(tx, userID)
		if err != nil {
			return err
		}
		return audit(tx, orgID, "access.grant", "member", itoa64(userID), label, changes)
	})
}

// DeleteGrant removes a member's grant on a workspace. EFORBIDDEN unless the
// actor may grant access to it; ENOTFOUND when there is no such grant.
func (db *DB) DeleteGrant(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, userID int64) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		ws, err := lockWorkspace(tx, orgID, workspaceID)
		if err != nil {
			return err
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanGrant(ws.Path) }); err != nil {
			return err
		}
		var prev grantRow
		if err := tx.Take(&prev, "org_id = ? AND workspace_id = ? AND user_id = ?", orgID, workspaceID, userID).Error; err != nil {
			return notFound(err, "That access was already removed.")
		}
		res := tx.Where("org_id = ? AND workspace_id = ? AND user_id = ?", orgID, workspaceID, userID).Delete(&grantRow{})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ENOTFOUND, "That access was already removed.")
		}
		label, err := userLabel(tx, userID)
		if err != nil {
			return err
		}
		return audit(tx, orgID, "access.revoke", "member", itoa64(userID), label, map[string]Change{
			"workspace": {From: ws.Name}, "role": {From: prev.Role},
		})
	})
}

// FindMembers lists an organization's memberships with their users, by name.
func (db *DB) FindMembers(ctx context.Context, orgID int64) ([]orgbase.Member, error) {
	type row struct {
		UserID       int64
		Email        string
		Name         string
		Role         string
		Status       string
		CreatedAt    time.Time
		MonthlyLimit *int64
	}
	var rows []row
	err := db.q(ctx).Table("memberships m").Select("m.user_id, u.email, u.name, m.role, m.status, m.created_at, m.monthly_limit").
		Joins("JOIN users u ON u.id = m.user_id").Where("m.org_id = ?", orgID).Order("lower(u.name), u.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]orgbase.Member, len(rows))
	for i, r := range rows {
		out[i] = orgbase.Member{UserID: r.UserID, Email: r.Email, Name: r.Name, Role: orgbase.Role(r.Role), Status: r.Status, JoinedAt: r.CreatedAt,
			MonthlyLimit: limitDomain(r.MonthlyLimit)}
	}
	return out, nil
}

// AddMember adds an existing user to an organization with a role (the
// invitation flow and the demo seed build on it); workspace access is
// granted separately. ECONFLICT when already a member.
func (db *DB) AddMember(ctx context.Context, orgID, userID int64, role orgbase.Role) error {
	if !role.Valid() {
		return orgbase.Errorf(orgbase.EINVALID, "Unknown role.")
	}
	now := db.now()
	return db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&membershipRow{OrgID: orgID, UserID: userID, Role: string(role), Status: orgbase.MemberActive, CreatedAt: now}).Error; err != nil {
			if isUniqueViolation(err) {
				return orgbase.Errorf(orgbase.ECONFLICT, "Already a member of this organization.")
			}
			return err
		}
		label, err := userLabel(tx, userID)
		if err != nil {
			return err
		}
		return audit(tx, orgID, "member.add", "member", itoa64(userID), label, map[string]Change{"role": {To: string(role)}})
	})
}

func itoa(n int) string { return strconv.Itoa(n) }
