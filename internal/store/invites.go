package store

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type invitationRow struct {
	ID          int64
	OrgID       int64
	Email       string
	Role        string
	TokenHash   string
	Note        string
	InvitedBy   *int64
	CreatedAt   time.Time
	SentAt      time.Time
	SendCount   int
	ExpiresAt   time.Time
	AcceptedAt  *time.Time
	AcceptedBy  *int64
	DeclinedAt  *time.Time
	RevokedAt   *time.Time
	InviterName string `gorm:"->;-:migration"`
}

func (invitationRow) TableName() string { return "invitations" }

func (r invitationRow) domain() *orgbase.Invitation {
	return &orgbase.Invitation{ID: r.ID, OrgID: r.OrgID, Email: r.Email, Role: orgbase.Role(r.Role), Note: r.Note,
		InvitedBy: r.InvitedBy, InviterName: r.InviterName, CreatedAt: r.CreatedAt, SentAt: r.SentAt, SendCount: r.SendCount,
		ExpiresAt: r.ExpiresAt, AcceptedAt: r.AcceptedAt, DeclinedAt: r.DeclinedAt, RevokedAt: r.RevokedAt}
}

type invitationGrantRow struct {
	InvitationID int64 `gorm:"primaryKey"`
	WorkspaceID  int64 `gorm:"primaryKey"`
	Role         string
}

func (invitationGrantRow) TableName() string { return "invitation_grants" }

// NewInvite is one address to invite, with its token hash and email.
type NewInvite struct {
	Email     string
	TokenHash string
	Mail      *orgbase.Email
}

// InviteBatch is what the invite dialog sends: addresses sharing a role,
// workspace grants, a note and an expiry.
type InviteBatch struct {
	Invites   []NewInvite
	Role      orgbase.Role
	Grants    []orgbase.InvitationGrant
	Note      string
	ExpiresAt time.Time
}

// CreateInvitations invites every address of the batch, or none: an address
// that is already a member or has an open invitation makes the whole batch
// fail with EINVALID and a message per address (Fields keyed by address),
// so nothing is half-sent. Grants must name workspaces of the organization
// (else EINVALID); the role is never owner. Each invitation's email is
// queued, and an audit entry written, in the same transaction.
func (db *DB) CreateInvitations(ctx context.Context, orgID int64, by orgbase.Access, b InviteBatch) ([]*orgbase.Invitation, error) {
	if b.Role == orgbase.RoleOwner || !b.Role.Valid() {
		return nil, orgbase.Errorf(orgbase.EINVALID, "Invitations can make people admins, billing members or members, never owners.")
	}
	now := db.now()
	var out []*orgbase.Invitation
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool {
			return orgbase.Can(orgbase.Actor{Membership: a.Membership}, orgbase.ActionMembersManage)
		}); err != nil {
			return err
		}
		for _, g := range b.Grants {
			var ws workspaceRow
			if err := tx.Take(&ws, "org_id = ? AND id = ? AND archived_at IS NULL", orgID, g.WorkspaceID).Error; err != nil {
				if errors.Is(err, gorm.ErrRecordNotFound) {
					return &orgbase.Error{Code: orgbase.EINVALID, Message: "Choose workspaces of this organization.",
						Fields: map[string]string{"workspaces": "One of the chosen workspaces does not exist here."}}
				}
				return err
			}
			if !g.Role.Valid() {
				return orgbase.Errorf(orgbase.EINVALID, "Choose manager or member for each workspace.")
			}
		}
		problems := map[string]string{}
		for _, inv := range b.Invites {
			var n int64
			if err := tx.Table("memberships m").Joins("JOIN users u ON u.id = m.user_id").
				Where("m.org_id = ? AND u.email = ?", orgID, inv.Email).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				problems[inv.Email] = "is already a member of this organization"
				continue
			}
			if err := tx.Model(&invitationRow{}).Where("org_id = ? AND email = ? AND accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL", orgID, inv.Email).Count(&n).Error; err != nil {
				return err
			}
			if n > 0 {
				problems[inv.Email] = "already has an open invitation: resend it from the members list"
			}
		}
		if len(problems) > 0 {
			return &orgbase.Error{Code: orgbase.EINVALID, Message: "Some addresses cannot be invited. Nobody was invited.", Fields: problems}
		}
		for _, inv := range b.Invites {
			row := invitationRow{OrgID: orgID, Email: inv.Email, Role: string(b.Role), TokenHash: inv.TokenHash, Note: b.Note,
				InvitedBy: creator(by), CreatedAt: now, SentAt: now, SendCount: 1, ExpiresAt: b.ExpiresAt}
			if err := tx.Create(&row).Error; err != nil {
				if isUniqueViolation(err) {
					return &orgbase.Error{Code: orgbase.EINVALID, Message: "Some addresses cannot be invited. Nobody was invited.",
						Fields: map[string]string{inv.Email: "already has an open invitation"}}
				}
				return err
			}
			for _, g := range b.Grants {
				if err := tx.Create(&invitationGrantRow{InvitationID: row.ID, WorkspaceID: g.WorkspaceID, Role: string(g.Role)}).Error; err != nil {
					return err
				}
			}
			if inv.Mail != nil {
				inv.Mail.OrgID = &orgID
				if err := insertEmail(tx, inv.Mail, now); err != nil {
					return err
				}
			}
			if err := audit(tx, orgID, "invitation.create", "invitation", strconv.FormatInt(row.ID, 10), inv.Email,
				map[string]any{"email": inv.Email, "role": b.Role, "workspaces": grantSummary(b.Grants), "expires_at": b.ExpiresAt}); err != nil {
				return err
			}
			out = append(out, row.domain())
		}
		return nil
	})
	return out, err
}

func grantSummary(gs []orgbase.InvitationGrant) []string {
	out := make([]string, len(gs))
	for i, g := range gs {
		out[i] = strconv.FormatInt(g.WorkspaceID, 10) + ":" + string(g.Role)
	}
	return out
}

// FindInvitations lists an organization's invitations, newest first; open
// ones only unless all is set.
func (db *DB) FindInvitations(ctx context.Context, orgID int64, all bool) ([]*orgbase.Invitation, error) {
	q := db.q(ctx).Table("invitations i").Select("i.*, COALESCE(u.name, '') AS inviter_name").
		Joins("LEFT JOIN users u ON u.id = i.invited_by").Where("i.org_id = ?", orgID)
	if !all {
		q = q.Where("i.accepted_at IS NULL AND i.declined_at IS NULL AND i.revoked_at IS NULL")
	}
	var rows []invitationRow
	if err := q.Order("i.created_at DESC, i.id DESC").Scan(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]*orgbase.Invitation, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	return out, nil
}

// InvitationView is an invitation as its link shows it.
type InvitationView struct {
	Invitation *orgbase.Invitation
	Org        *orgbase.Org
}

// FindInvitationByToken resolves the invitation behind a link, with its
// organization and grants (workspace names). ENOTFOUND for unknown tokens;
// the caller decides what its status means.
func (db *DB) FindInvitationByToken(ctx context.Context, tokenHash string) (*InvitationView, error) {
	var row invitationRow
	err := db.q(ctx).Table("invitations i").Select("i.*, COALESCE(u.name, '') AS inviter_name").
		Joins("LEFT JOIN users u ON u.id = i.invited_by").Where("i.token_hash = ?", tokenHash).Take(&row).Error
	if err != nil {
		return nil, notFound(err, "This invitation link is not valid.")
	}
	var org orgRow
	if err := db.q(ctx).Select(orgColumns).Take(&org, "id = ? AND deleted_at IS NULL", row.OrgID).Error; err != nil {
		return nil, notFound(err, "This invitation link is not valid.")
	}
	inv := row.domain()
	type g struct {
		WorkspaceID int64
		Name        string
		Role        string
	}
	var gs []g
	if err := db.q(ctx).Table("invitation_grants ig").Select("ig.workspace_id, w.name, ig.role").
		Joins("JOIN workspaces w ON w.id = ig.workspace_id").Where("ig.invitation_id = ? AND w.archived_at IS NULL", row.ID).
		Order("w.depth, w.name").Scan(&gs).Error; err != nil {
		return nil, err
	}
	for _, x := range gs {
		inv.Grants = append(inv.Grants, orgbase.InvitationGrant{WorkspaceID: x.WorkspaceID, WorkspaceName: x.Name, Role: orgbase.WorkspaceRole(x.Role)})
	}
	return &InvitationView{Invitation: inv, Org: org.domain()}, nil
}

// invitationClosed explains why a link no longer works, or returns nil.
func invitationClosed(r *invitationRow, now time.Time) error {
	switch r.domain().Status(now) {
	case orgbase.InviteAccepted:
		return orgbase.Errorf(orgbase.EEXPIRED, "This invitation has already been accepted.")
	case orgbase.InviteRevoked:
		return orgbase.Errorf(orgbase.EEXPIRED, "This invitation was withdrawn by the organization.")
	case orgbase.InviteDeclined:
		return orgbase.Errorf(orgbase.EEXPIRED, "This invitation was declined.")
	case orgbase.InviteExpired:
		return orgbase.Errorf(orgbase.EEXPIRED, "This invitation has expired. Ask the person who invited you to send a new one.")
	}
	return nil
}

// AcceptInvitation makes the user a member with the invitation's role and
// grants, marks the address verified (the link proves it) and closes the
// invitation, in one transaction. Exactly one of concurrent accepts wins
// (a conditional update). EEXPIRED for used, revoked, declined or expired
// links; EFORBIDDEN when the user's address is not the invited one. Returns
// the organization's slug and the first granted workspace (0 for none).
func (db *DB) AcceptInvitation(ctx context.Context, tokenHash string, user *orgbase.User) (slug string, workspaceID int64, err error) {
	now := db.now()
	err = db.tx(ctx, func(tx *gorm.DB) error {
		var inv invitationRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&inv, "token_hash = ?", tokenHash).Error; err != nil {
			return notFound(err, "This invitation link is not valid.")
		}
		if err := invitationClosed(&inv, now); err != nil {
			return err
		}
		if !strings.EqualFold(inv.Email, user.Email) {
			return orgbase.Errorf(orgbase.EFORBIDDEN, "This invitation was sent to %s; you are signed in as %s.", inv.Email, user.Email)
		}
		res := tx.Model(&invitationRow{}).Where("id = ? AND accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL", inv.ID).
			Updates(map[string]any{"accepted_at": now, "accepted_by": user.ID})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return orgbase.Errorf(orgbase.EEXPIRED, "This invitation has already been accepted.")
		}
		var org orgRow
		if err := tx.Select("id", "slug").Take(&org, "id = ? AND deleted_at IS NULL", inv.OrgID).Error; err != nil {
			return notFound(err, "This organization no longer exists.")
		}
		slug = org.Slug
		var existing int64
		if err := tx.Model(&membershipRow{}).Where("org_id = ? AND user_id = ?", inv.OrgID, user.ID).Count(&existing).Error; err != nil {
			return err
		}
		if existing == 0 {
			if err := tx.Create(&membershipRow{OrgID: inv.OrgID, UserID: user.ID, Role: inv.Role, Status: orgbase.MemberActive, CreatedAt: now}).Error; err != nil {
				return err
			}
		}
		var grants []invitationGrantRow
		if err := tx.Table("invitation_grants ig").Select("ig.*").Joins("JOIN workspaces w ON w.id = ig.workspace_id").
			Where("ig.invitation_id = ? AND w.archived_at IS NULL AND w.org_id = ?", inv.ID, inv.OrgID).Order("w.depth, w.id").Scan(&grants).Error; err != nil {
			return err
		}
		for i, g := range grants {
			row := grantRow{OrgID: inv.OrgID, WorkspaceID: g.WorkspaceID, UserID: user.ID, Role: g.Role, CreatedBy: inv.InvitedBy, CreatedAt: now}
			if err := tx.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
				return err
			}
			if i == 0 {
				workspaceID = g.WorkspaceID
			}
		}
		if err := tx.Model(&userRow{}).Where("id = ? AND email_verified_at IS NULL AND email = ?", user.ID, inv.Email).
			Update("email_verified_at", now).Error; err != nil {
			return err
		}
		auditCtx := tx.WithContext(orgbase.WithAuditMeta(tx.Statement.Context, withActor(orgbase.AuditMetaFrom(tx.Statement.Context), user.ID)))
		return audit(auditCtx, inv.OrgID, "invitation.accept", "invitation", strconv.FormatInt(inv.ID, 10), inv.Email,
			map[string]any{"role": inv.Role, "user_id": user.ID})
	})
	return slug, workspaceID, err
}

func withActor(m orgbase.AuditMeta, id int64) orgbase.AuditMeta {
	m.ActorID = id
	return m
}

// DeclineInvitation closes the invitation without a membership. Same errors
// as AcceptInvitation.
func (db *DB) DeclineInvitation(ctx context.Context, tokenHash string, user *orgbase.User) error {
	now := db.now()
	return db.tx(ctx, func(tx *gorm.DB) error {
		var inv invitationRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&inv, "token_hash = ?", tokenHash).Error; err != nil {
			return notFound(err, "This invitation link is not valid.")
		}
		if err := invitationClosed(&inv, now); err != nil {
			return err
		}
		if !strings.EqualFold(inv.Email, user.Email) {
			return orgbase.Errorf(orgbase.EFORBIDDEN, "This invitation was sent to %s; you are signed in as %s.", inv.Email, user.Email)
		}
		res := tx.Model(&invitationRow{}).Where("id = ? AND accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL", inv.ID).Update("declined_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return orgbase.Errorf(orgbase.EEXPIRED, "This invitation is no longer open.")
		}
		return audit(tx, inv.OrgID, "invitation.decline", "invitation", strconv.FormatInt(inv.ID, 10), inv.Email, nil)
	})
}

// ResendInvitation replaces an open (pending or expired) invitation's token,
// so the old link stops working, extends its expiry and queues a new email.
// ERATELIMIT within a minute of the last send or after 5 sends.
func (db *DB) ResendInvitation(ctx context.Context, orgID int64, by orgbase.Access, id int64, tokenHash string, expiresAt time.Time, mail *orgbase.Email) (*orgbase.Invitation, error) {
	now := db.now()
	var out *orgbase.Invitation
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool {
			return orgbase.Can(orgbase.Actor{Membership: a.Membership}, orgbase.ActionMembersManage)
		}); err != nil {
			return err
		}
		var inv invitationRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&inv, "org_id = ? AND id = ?", orgID, id).Error; err != nil {
			return notFound(err, "Invitation not found.")
		}
		if s := inv.domain().Status(now); s != orgbase.InvitePending && s != orgbase.InviteExpired {
			return orgbase.Errorf(orgbase.ECONFLICT, "This invitation is %s and cannot be resent.", s)
		}
		if now.Sub(inv.SentAt) < time.Minute {
			return orgbase.Errorf(orgbase.ERATELIMIT, "The invitation to %s was sent less than a minute ago. Wait a moment before resending.", inv.Email)
		}
		if inv.SendCount >= 5 {
			return orgbase.Errorf(orgbase.ERATELIMIT, "The invitation to %s has been sent 5 times. Revoke it and invite again if needed.", inv.Email)
		}
		if err := tx.Model(&invitationRow{}).Where("id = ?", inv.ID).Updates(map[string]any{
			"token_hash": tokenHash, "expires_at": expiresAt, "sent_at": now, "send_count": gorm.Expr("send_count + 1"),
		}).Error; err != nil {
			return err
		}
		if mail != nil {
			mail.OrgID = &orgID
			if err := insertEmail(tx, mail, now); err != nil {
				return err
			}
		}
		inv.SendCount++
		inv.ExpiresAt, inv.SentAt = expiresAt, now
		out = inv.domain()
		return audit(tx, orgID, "invitation.resend", "invitation", strconv.FormatInt(inv.ID, 10), inv.Email, map[string]any{"expires_at": expiresAt})
	})
	return out, err
}

// RevokeInvitation withdraws an open invitation: its link stops working.
func (db *DB) RevokeInvitation(ctx context.Context, orgID int64, by orgbase.Access, id int64) (*orgbase.Invitation, error) {
	now := db.now()
	var out *orgbase.Invitation
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool {
			return orgbase.Can(orgbase.Actor{Membership: a.Membership}, orgbase.ActionMembersManage)
		}); err != nil {
			return err
		}
		var inv invitationRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&inv, "org_id = ? AND id = ?", orgID, id).Error; err != nil {
			return notFound(err, "Invitation not found.")
		}
		res := tx.Model(&invitationRow{}).Where("id = ? AND accepted_at IS NULL AND declined_at IS NULL AND revoked_at IS NULL", inv.ID).Update("revoked_at", now)
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected != 1 {
			return orgbase.Errorf(orgbase.ECONFLICT, "This invitation is no longer open.")
		}
		inv.RevokedAt = &now
		out = inv.domain()
		return audit(tx, orgID, "invitation.revoke", "invitation", strconv.FormatInt(inv.ID, 10), inv.Email, nil)
	})
	return out, err
}
