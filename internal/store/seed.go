package store

import (
	"context"

	"gorm.io/gorm"
)

// CreateVerifiedUser creates a user whose address is already verified, for
// operator provisioning and the demo seed. ECONFLICT when the address is taken.
func (db *DB) CreateVerifiedUser(ctx context.Context, email, name, passwordHash string) (int64, error) {
	now := db.now()
	u := userRow{Email: email, Name: name, PasswordHash: passwordHash, EmailVerifiedAt: &now, CreatedAt: now, UpdatedAt: now}
	err := db.tx(ctx, func(tx *gorm.DB) error { return tx.Create(&u).Error })
	if isUniqueViolation(err) {
		return 0, conflictEmail()
	}
	return u.ID, err
}

// UserExists reports whether an account uses the address.
func (db *DB) UserExists(ctx context.Context, email string) (bool, error) {
	var n int64
	err := db.q(ctx).Model(&userRow{}).Where("email = ?", email).Count(&n).Error
	return n > 0, err
}
