package store

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type orgRow struct {
	ID              int64
	Slug            string
	Name            string
	BillingEmail    string
	CompanySize     string
	CreatorFunction string
	Plan            string
	LogoType        string
	LogoData        []byte
	LogoVersion     int64
	CreatedAt       time.Time
	UpdatedAt       time.Time
	DeletedAt       *time.Time
	PurgeAfter      *time.Time
}

func (orgRow) TableName() string { return "organizations" }

func (r orgRow) domain() *orgbase.Org {
	return &orgbase.Org{ID: r.ID, Slug: r.Slug, Name: r.Name, BillingEmail: r.BillingEmail, CompanySize: r.CompanySize,
		CreatorFunction: r.CreatorFunction, Plan: r.Plan, LogoType: r.LogoType, LogoVersion: r.LogoVersion,
		CreatedAt: r.CreatedAt, DeletedAt: r.DeletedAt, PurgeAfter: r.PurgeAfter}
}

// orgColumns are the columns read for an Org; the logo bytes are read only by FindOrgLogo.
var orgColumns = []string{"id", "slug", "name", "billing_email", "company_size", "creator_function", "plan",
	"logo_type", "logo_version", "created_at", "updated_at", "deleted_at", "purge_after"}

type membershipRow struct {
	OrgID        int64 `gorm:"primaryKey"`
	UserID       int64 `gorm:"primaryKey"`
	Role         string
	Status       string
	CreatedAt    time.Time
	MonthlyLimit *int64 // changed only by SetMemberLimit (limits.go)
}

func (membershipRow) TableName() string { return "memberships" }

func (r membershipRow) domain() *orgbase.Membership {
	return &orgbase.Membership{OrgID: r.OrgID, UserID: r.UserID, Role: orgbase.Role(r.Role), Status: r.Status, CreatedAt: r.CreatedAt,
		MonthlyLimit: limitDomain(r.MonthlyLimit)}
}

type workspaceRow struct {
	ID           int64
	OrgID        int64
	ParentID     *int64
	Name         string
	Description  string
	Path         string
	Depth        int
	CreatedBy    *int64
	CreatedAt    time.Time
	ArchivedAt   *time.Time
	FundingMode  string `gorm:"default:shared"` // changed only by SetFundingMode (ledger.go)
	MonthlyLimit *int64 // changed only by SetWorkspaceLimit (limits.go)
	CreatorName  string `gorm:"->;-:migration"`
}

func (workspaceRow) TableName() string { return "workspaces" }

func (r workspaceRow) domain() *orgbase.Workspace {
	return &orgbase.Workspace{ID: r.ID, OrgID: r.OrgID, ParentID: r.ParentID, Name: r.Name, Description: r.Description,
		Path: r.Path, Depth: r.Depth, CreatedBy: r.CreatedBy, CreatedByName: r.CreatorName, CreatedAt: r.CreatedAt, ArchivedAt: r.ArchivedAt,
		FundingMode: orgbase.FundingMode(r.FundingMode), MonthlyLimit: limitDomain(r.MonthlyLimit)}
}

// NewOrg is what the create-organization wizard collects.
type NewOrg struct {
	Name            string
	Slug            string
	CompanySize     string
	CreatorFunction string
	BillingEmail    string
	// FreeTrial grants the Free plan's one-off trial credits into the pool
	// (a plan_grant, key "plan:free:trial") in the same transaction. The
	// wizard sets it when the creator chose Free; an organization created
	// for a paid plan gets that plan's credits when it is paid instead.
	FreeTrial bool
}

// CreateOrg creates an organization on the free plan, makes the creator its
// owner and creates its Primary workspace, in one transaction, with the
// trial credits when n.FreeTrial is set. Returns ECONFLICT when the slug is
// taken.
func (db *DB) CreateOrg(ctx context.Context, creatorID int64, n NewOrg) (*orgbase.Org, error) {
	now := db.now()
	row := orgRow{Slug: n.Slug, Name: n.Name, CompanySize: n.CompanySize, CreatorFunction: n.CreatorFunction,
		BillingEmail: n.BillingEmail, Plan: "free", CreatedAt: now, UpdatedAt: now}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			if isUniqueViolation(err) {
				return slugTaken()
			}
			return err
		}
		m := membershipRow{OrgID: row.ID, UserID: creatorID, Role: string(orgbase.RoleOwner), Status: orgbase.MemberActive, CreatedAt: now}
		if err := tx.Create(&m).Error; err != nil {
			return err
		}
		ws := workspaceRow{OrgID: row.ID, Name: orgbase.PrimaryWorkspaceName, CreatedBy: &creatorID, CreatedAt: now}
		if err := tx.Create(&ws).Error; err != nil {
			return err
		}
		// The path holds the node's own id, so it is written once the id is known.
		if err := tx.Model(&workspaceRow{}).Where("id = ?", ws.ID).Update("path", fmt.Sprintf("/%d/", ws.ID)).Error; err != nil {
			return err
		}
		// The ledger's accounts (the pool, held by the Primary, and the system accounts).
		if err := ensureAccounts(tx, row.ID, now); err != nil {
			return err
		}
		if err := audit(tx, row.ID, "organization.create", "organization", itoa64(row.ID), row.Name, map[string]Change{
			"name": {To: row.Name}, "slug": {To: row.Slug}, "plan": {To: row.Plan},
		}); err != nil {
			return err
		}
		if !n.FreeTrial {
			return nil
		}
		// Inside this transaction: an organization created on Free never
		// exists without its trial grant (audited as credits.plan_grant).
		r := trialGrantReq(row.ID)
		if err := r.validate(); err != nil {
			return err
		}
		_, _, _, err := db.transferIn(tx, &r)
		return err
	})
	if err != nil {
		return nil, err
	}
	return row.domain(), nil
}

func slugTaken() error {
	return &orgbase.Error{Code: orgbase.ECONFLICT, Message: "That URL is taken.",
		Fields: map[string]string{"slug": "This URL is already taken. Choose another."}}
}

// SlugAvailable reports whether no organization (live or in its deletion
// grace period) uses slug.
func (db *DB) SlugAvailable(ctx context.Context, slug string) (bool, error) {
	var n int64
	err := db.q(ctx).Model(&orgRow{}).Where("slug = ?", slug).Count(&n).Error
	return n == 0, err
}

// FindOrgForMember resolves an organization by slug together with the
// caller's membership. An organization the user is not an active member of
// is ENOTFOUND, so its existence never leaks. Deleted organizations are
// returned (their DeletedAt set) so owners can restore them.
func (db *DB) FindOrgForMember(ctx context.Context, slug string, userID int64) (*orgbase.Org, *orgbase.Membership, error) {
	var org orgRow
	if err := db.q(ctx).Select(orgColumns).Take(&org, "slug = ?", slug).Error; err != nil {
		return nil, nil, notFound(err, "Organization not found.")
	}
	var m membershipRow
	if err := db.q(ctx).Take(&m, "org_id = ? AND user_id = ? AND status = ?", org.ID, userID, orgbase.MemberActive).Error; err != nil {
		return nil, nil, notFound(err, "Organization not found.")
	}
	return org.domain(), m.domain(), nil
}

// FindOrgsForUser lists the organizations the user is an active member of,
// by name, including those in their deletion grace period.
func (db *DB) FindOrgsForUser(ctx context.Context, userID int64) ([]orgbase.OrgWithRole, error) {
	type row struct {
		Org  orgRow `gorm:"embedded"` // exported: GORM skips unexported embedded fields
		Role string
	}
	var rows []row
	err := db.q(ctx).Table("organizations o").
		Select("o.id, o.slug, o.name, o.billing_email, o.company_size, o.creator_function, o.plan, o.logo_type, o.logo_version, o.created_at, o.updated_at, o.deleted_at, o.purge_after, m.role").
		Joins("JOIN memberships m ON m.org_id = o.id").
		Where("m.user_id = ? AND m.status = ?", userID, orgbase.MemberActive).
		Order("lower(o.name), o.id").Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	out := make([]orgbase.OrgWithRole, len(rows))
	for i, r := range rows {
		out[i] = orgbase.OrgWithRole{Org: *r.Org.domain(), Role: orgbase.Role(r.Role)}
	}
	return out, nil
}

// UpdateOrg changes an organization's profile. Returns ECONFLICT when the
// new slug is taken and ENOTFOUND when the organization is gone or deleted.
func (db *DB) UpdateOrg(ctx context.Context, orgID int64, u orgbase.OrgUpdate) (*orgbase.Org, error) {
	var out *orgbase.Org
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var old orgRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select(orgColumns).
			Take(&old, "id = ? AND deleted_at IS NULL", orgID).Error; err != nil {
			return notFound(err, "Organization not found.")
		}
		res := tx.Model(&orgRow{}).Where("id = ? AND deleted_at IS NULL", orgID).Updates(map[string]any{
			"name": u.Name, "slug": u.Slug, "billing_email": u.BillingEmail, "company_size": u.CompanySize,
			"creator_function": u.CreatorFunction, "updated_at": db.now(),
		})
		if res.Error != nil {
			if isUniqueViolation(res.Error) {
				return slugTaken()
			}
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
		}
		var row orgRow
		if err := tx.Select(orgColumns).Take(&row, "id = ?", orgID).Error; err != nil {
			return err
		}
		out = row.domain()
		changes := map[string]Change{}
		changed(changes, "name", old.Name, row.Name)
		changed(changes, "slug", old.Slug, row.Slug)
		changed(changes, "billing_email", old.BillingEmail, row.BillingEmail)
		changed(changes, "company_size", old.CompanySize, row.CompanySize)
		changed(changes, "creator_function", old.CreatorFunction, row.CreatorFunction)
		if len(changes) == 0 {
			return nil // saved as it was: nothing to record
		}
		return audit(tx, orgID, "organization.update", "organization", itoa64(orgID), row.Name, changes)
	})
	return out, err
}

// SetOrgLogo stores a validated logo image (or removes it when data is nil).
// ENOTFOUND when the organization is gone or deleted.
func (db *DB) SetOrgLogo(ctx context.Context, orgID int64, contentType string, data []byte) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		var old struct {
			Name     string
			LogoType string
			LogoSize int64
		}
		if err := tx.Model(&orgRow{}).Clauses(clause.Locking{Strength: "UPDATE"}).
			Select("name, logo_type, COALESCE(length(logo_data), 0) AS logo_size").
			Where("id = ? AND deleted_at IS NULL", orgID).Take(&old).Error; err != nil {
			return notFound(err, "Organization not found.")
		}
		res := tx.Model(&orgRow{}).Where("id = ? AND deleted_at IS NULL", orgID).Updates(map[string]any{
			"logo_type": contentType, "logo_data": data, "logo_version": gorm.Expr("logo_version + 1"), "updated_at": db.now(),
		})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ENOTFOUND, "Organization not found.")
		}
		action := "organization.logo_update"
		if data == nil {
			action = "organization.logo_remove"
		}
		return audit(tx, orgID, action, "organization", itoa64(orgID), old.Name, map[string]Change{
			"logo": {From: logoDesc(old.LogoType, old.LogoSize), To: logoDesc(contentType, int64(len(data)))},
		})
	})
}

// logoDesc describes a logo for the audit log ("image/png, 12 KB"), or nil
// when there is none.
func logoDesc(contentType string, size int64) any {
	if contentType == "" || size == 0 {
		return nil
	}
	if size < 1024 {
		return fmt.Sprintf("%s, %d bytes", contentType, size)
	}
	return fmt.Sprintf("%s, %d KB", contentType, (size+512)/1024)
}

// FindOrgLogo returns the logo's content type and bytes, or ENOTFOUND.
func (db *DB) FindOrgLogo(ctx context.Context, orgID int64) (string, []byte, error) {
	var row orgRow
	if err := db.q(ctx).Select("logo_type", "logo_data").Take(&row, "id = ?", orgID).Error; err != nil {
		return "", nil, notFound(err, "Logo not found.")
	}
	if row.LogoType == "" || len(row.LogoData) == 0 {
		return "", nil, orgbase.Errorf(orgbase.ENOTFOUND, "This organization has no logo.")
	}
	return row.LogoType, row.LogoData, nil
}

// DeleteOrg starts an organization's deletion grace period: it disappears for
// its members and is purged after grace unless an owner restores it.
func (db *DB) DeleteOrg(ctx context.Context, orgID int64, grace time.Duration) (*orgbase.Org, error) {
	now := db.now()
	purge := now.Add(grace)
	var out *orgbase.Org
	err := db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&orgRow{}).Where("id = ? AND deleted_at IS NULL", orgID).
			Updates(map[string]any{"deleted_at": now, "purge_after": purge, "updated_at": now})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ECONFLICT, "This organization is already scheduled for deletion.")
		}
		var row orgRow
		if err := tx.Select(orgColumns).Take(&row, "id = ?", orgID).Error; err != nil {
			return err
		}
		out = row.domain()
		return audit(tx, orgID, "organization.delete", "organization", itoa64(orgID), row.Name, map[string]Change{
			"purge_after": {To: purge},
		})
	})
	return out, err
}

// RestoreOrg ends the deletion grace period. ECONFLICT when it is not deleted.
func (db *DB) RestoreOrg(ctx context.Context, orgID int64) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		var old orgRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Select(orgColumns).Take(&old, "id = ?", orgID).Error; err != nil {
			return notFound(err, "Organization not found.")
		}
		res := tx.Model(&orgRow{}).Where("id = ? AND deleted_at IS NOT NULL", orgID).
			Updates(map[string]any{"deleted_at": nil, "purge_after": nil, "updated_at": db.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ECONFLICT, "This organization is not scheduled for deletion.")
		}
		return audit(tx, orgID, "organization.restore", "organization", itoa64(orgID), old.Name, map[string]Change{
			"purge_after": {From: old.PurgeAfter},
		})
	})
}

// PurgeDeletedOrgs permanently removes organizations whose grace period has
// ended, with everything they own, and returns how many went.
func (db *DB) PurgeDeletedOrgs(ctx context.Context) (int, error) {
	var ids []int64
	if err := db.q(ctx).Model(&orgRow{}).Where("deleted_at IS NOT NULL AND purge_after <= ?", db.now()).Pluck("id", &ids).Error; err != nil {
		return 0, err
	}
	for _, id := range ids {
		err := db.tx(ctx, func(tx *gorm.DB) error {
			// The ledger first (it references workspaces), then children
			// before parents: workspaces reference each other.
			for _, q := range []string{"DELETE FROM usage_daily WHERE org_id = ?", "DELETE FROM usage_daily_ws WHERE org_id = ?", "DELETE FROM usage_daily_member WHERE org_id = ?", "DELETE FROM usage_daily_ws_member WHERE org_id = ?", "DELETE FROM usage_events WHERE org_id = ?", "DELETE FROM transfers WHERE org_id = ?", "DELETE FROM accounts WHERE org_id = ?"} {
				if err := tx.Exec(q, id).Error; err != nil {
					return err
				}
			}
			if err := tx.Exec("DELETE FROM workspaces WHERE org_id = ? AND parent_id IS NOT NULL", id).Error; err != nil {
				return err
			}
			return tx.Exec("DELETE FROM organizations WHERE id = ? AND deleted_at IS NOT NULL", id).Error
		})
		if err != nil {
			return 0, err
		}
	}
	return len(ids), nil
}

// FindOrgBySlug returns an organization by slug, for operator commands
// (including one in its deletion grace period), or ENOTFOUND.
func (db *DB) FindOrgBySlug(ctx context.Context, slug string) (*orgbase.Org, error) {
	var row orgRow
	if err := db.q(ctx).Select(orgColumns).Take(&row, "slug = ?", slug).Error; err != nil {
		return nil, notFound(err, "Organization not found.")
	}
	return row.domain(), nil
}

// FindPrimaryWorkspace returns the root workspace of an organization.
func (db *DB) FindPrimaryWorkspace(ctx context.Context, orgID int64) (*orgbase.Workspace, error) {
	var row workspaceRow
	if err := db.q(ctx).Take(&row, "org_id = ? AND parent_id IS NULL", orgID).Error; err != nil {
		return nil, notFound(err, "Workspace not found.")
	}
	return row.domain(), nil
}

// CountMembers returns the number of active members of an organization.
func (db *DB) CountMembers(ctx context.Context, orgID int64) (int64, error) {
	var n int64
	err := db.q(ctx).Model(&membershipRow{}).Where("org_id = ? AND status = ?", orgID, orgbase.MemberActive).Count(&n).Error
	return n, err
}
