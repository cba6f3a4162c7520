package store

import (
	"context"
	"fmt"

	"gorm.io/gorm"
)

// Demo describes the demo account and organization.
type Demo struct {
	Email        string
	Name         string
	PasswordHash string
	OrgName      string
	OrgSlug      string
}

// SeedDemo creates the demo user (verified) and organization unless the user
// exists; it reports whether it created anything.
func (db *DB) SeedDemo(ctx context.Context, d Demo) (bool, error) {
	var n int64
	if err := db.q(ctx).Model(&userRow{}).Where("email = ?", d.Email).Count(&n).Error; err != nil {
		return false, err
	}
	if n > 0 {
		return false, nil
	}
	now := db.now()
	u := userRow{Email: d.Email, Name: d.Name, PasswordHash: d.PasswordHash, EmailVerifiedAt: &now, CreatedAt: now, UpdatedAt: now}
	if err := db.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&u).Error }); err != nil {
		return false, err
	}
	if _, err := db.CreateOrg(ctx, u.ID, NewOrg{Name: d.OrgName, Slug: d.OrgSlug, CompanySize: "11-50", CreatorFunction: "Engineering", BillingEmail: d.Email}); err != nil {
		return false, fmt.Errorf("create demo organization: %w", err)
	}
	return true, nil
}
