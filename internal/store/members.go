package store

import (
	"context"
	"strconv"
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
