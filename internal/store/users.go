package store

import (
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

type userRow struct {
	ID              int64
	Email           string
	Name            string
	PasswordHash    string
	EmailVerifiedAt *time.Time
	CreatedAt       time.Time
	UpdatedAt       time.Time
}

func (userRow) TableName() string { return "users" }

func (r userRow) domain() *orgbase.User {
	return &orgbase.User{ID: r.ID, Email: r.Email, Name: r.Name, EmailVerifiedAt: r.EmailVerifiedAt, CreatedAt: r.CreatedAt}
}

type tokenRow struct {
	TokenHash string `gorm:"primaryKey"`
	UserID    int64
	Purpose   string
	Email     string
	CreatedAt time.Time
	ExpiresAt time.Time
	UsedAt    *time.Time
}

func (tokenRow) TableName() string { return "user_tokens" }

// Token purposes.
const (
	TokenVerify = "verify"
	TokenReset  = "reset"
)

// NewToken is a single-use token to store with the email that carries it.
type NewToken struct {
	Hash      string
	ExpiresAt time.Time
	Email     *orgbase.Email
}

// CreateUser inserts a user with an already hashed password and, in the same
// transaction, the verification token and its email. Returns ECONFLICT when
// the address is taken.
func (db *DB) CreateUser(ctx context.Context, email, name, passwordHash string, verify NewToken) (*orgbase.User, error) {
	now := db.now()
	row := userRow{Email: email, Name: name, PasswordHash: passwordHash, CreatedAt: now, UpdatedAt: now}
	err := db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Create(&row).Error; err != nil {
			if isUniqueViolation(err) {
				return conflictEmail()
			}
			return err
		}
		return insertToken(tx, row.ID, TokenVerify, email, verify, now)
	})
	if err != nil {
		return nil, err
	}
	return row.domain(), nil
}

func insertToken(tx *gorm.DB, userID int64, purpose, email string, t NewToken, now time.Time) error {
	if err := tx.Create(&tokenRow{TokenHash: t.Hash, UserID: userID, Purpose: purpose, Email: email, CreatedAt: now, ExpiresAt: t.ExpiresAt}).Error; err != nil {
		return err
	}
	if t.Email != nil {
		return insertEmail(tx, t.Email, now)
	}
	return nil
}

// FindUserByID returns the user, or ENOTFOUND.
func (db *DB) FindUserByID(ctx context.Context, id int64) (*orgbase.User, error) {
	var row userRow
	if err := db.q(ctx).Take(&row, "id = ?", id).Error; err != nil {
		return nil, notFound(err, "User not found.")
	}
	return row.domain(), nil
}

// FindUserByEmail returns the user with the (normalized) email and their
// password hash, or ENOTFOUND.
func (db *DB) FindUserByEmail(ctx context.Context, email string) (*orgbase.User, string, error) {
	var row userRow
	if err := db.q(ctx).Take(&row, "email = ?", email).Error; err != nil {
		return nil, "", notFound(err, "User not found.")
	}
	return row.domain(), row.PasswordHash, nil
}

// FindPasswordHash returns the password hash of a user.
func (db *DB) FindPasswordHash(ctx context.Context, userID int64) (string, error) {
	var row userRow
	if err := db.q(ctx).Select("password_hash").Take(&row, "id = ?", userID).Error; err != nil {
		return "", notFound(err, "User not found.")
	}
	return row.PasswordHash, nil
}

// UpdateUserName changes a user's display name.
func (db *DB) UpdateUserName(ctx context.Context, userID int64, name string) error {
	res := db.q(ctx).Model(&userRow{}).Where("id = ?", userID).Updates(map[string]any{"name": name, "updated_at": db.now()})
	if res.Error != nil {
		return res.Error
	}
	if res.RowsAffected == 0 {
		return orgbase.Errorf(orgbase.ENOTFOUND, "User not found.")
	}
	return nil
}

// ChangePassword stores a new password hash and ends every session of the
// user except keepSessionID (which may be empty to end them all), together.
func (db *DB) ChangePassword(ctx context.Context, userID int64, passwordHash, keepSessionID string) error {
	return db.tx(ctx, func(tx *gorm.DB) error {
		res := tx.Model(&userRow{}).Where("id = ?", userID).Updates(map[string]any{"password_hash": passwordHash, "updated_at": db.now()})
		if res.Error != nil {
			return res.Error
		}
		if res.RowsAffected == 0 {
			return orgbase.Errorf(orgbase.ENOTFOUND, "User not found.")
		}
		return tx.Where("user_id = ? AND id <> ?", userID, keepSessionID).Delete(&sessionRow{}).Error
	})
}

// CreateVerification replaces the user's open verification tokens by a new
// one and queues its email.
func (db *DB) CreateVerification(ctx context.Context, user *orgbase.User, t NewToken) error {
	now := db.now()
	return db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND purpose = ? AND used_at IS NULL", user.ID, TokenVerify).Delete(&tokenRow{}).Error; err != nil {
			return err
		}
		return insertToken(tx, user.ID, TokenVerify, user.Email, t, now)
	})
}

// CreatePasswordReset stores a reset token for the user and queues its email;
// earlier unused reset tokens of the user stop working.
func (db *DB) CreatePasswordReset(ctx context.Context, user *orgbase.User, t NewToken) error {
	now := db.now()
	return db.tx(ctx, func(tx *gorm.DB) error {
		if err := tx.Where("user_id = ? AND purpose = ? AND used_at IS NULL", user.ID, TokenReset).Delete(&tokenRow{}).Error; err != nil {
			return err
		}
		return insertToken(tx, user.ID, TokenReset, user.Email, t, now)
	})
}

// useToken marks the token used and returns it; EEXPIRED when it is unknown,
// used or past its expiry. The conditional update makes it single use even
// under concurrent requests.
func (db *DB) useToken(tx *gorm.DB, hash, purpose string) (*tokenRow, error) {
	now := db.now()
	var row tokenRow
	err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&row, "token_hash = ? AND purpose = ?", hash, purpose).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This link is not valid. It may have been used already or replaced by a newer one.")
	} else if err != nil {
		return nil, err
	}
	if row.UsedAt != nil {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This link has already been used.")
	}
	if !now.Before(row.ExpiresAt) {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This link has expired.")
	}
	res := tx.Model(&tokenRow{}).Where("token_hash = ? AND used_at IS NULL", hash).Update("used_at", now)
	if res.Error != nil {
		return nil, res.Error
	}
	if res.RowsAffected == 0 {
		return nil, orgbase.Errorf(orgbase.EEXPIRED, "This link has already been used.")
	}
	return &row, nil
}

// VerifyEmail consumes a verification token and marks the address verified.
// Returns EEXPIRED for unknown, used or expired tokens.
func (db *DB) VerifyEmail(ctx context.Context, tokenHash string) (*orgbase.User, error) {
	var user *orgbase.User
	err := db.tx(ctx, func(tx *gorm.DB) error {
		tok, err := db.useToken(tx, tokenHash, TokenVerify)
		if err != nil {
			return err
		}
		var row userRow
		if err := tx.Take(&row, "id = ?", tok.UserID).Error; err != nil {
			return notFound(err, "User not found.")
		}
		if row.Email != tok.Email {
			return orgbase.Errorf(orgbase.EEXPIRED, "This link was sent to an address you no longer use.")
		}
		if row.EmailVerifiedAt == nil {
			now := db.now()
			row.EmailVerifiedAt = &now
			if err := tx.Model(&userRow{}).Where("id = ?", row.ID).Update("email_verified_at", now).Error; err != nil {
				return err
			}
		}
		user = row.domain()
		return nil
	})
	return user, err
}

// CheckPasswordReset reports whether a reset token is usable, without using it.
func (db *DB) CheckPasswordReset(ctx context.Context, tokenHash string) error {
	var row tokenRow
	err := db.q(ctx).Take(&row, "token_hash = ? AND purpose = ?", tokenHash, TokenReset).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return orgbase.Errorf(orgbase.EEXPIRED, "This reset link is not valid. It may have been used already or replaced by a newer one.")
	} else if err != nil {
		return err
	}
	if row.UsedAt != nil {
		return orgbase.Errorf(orgbase.EEXPIRED, "This reset link has already been used.")
	}
	if !db.now().Before(row.ExpiresAt) {
		return orgbase.Errorf(orgbase.EEXPIRED, "This reset link has expired.")
	}
	return nil
}

// ResetPassword consumes a reset token, stores the new password hash, marks
// the address verified (the link proved it) and ends every session of the
// user, in one transaction. Returns EEXPIRED for unusable tokens.
func (db *DB) ResetPassword(ctx context.Context, tokenHash, passwordHash string) (*orgbase.User, error) {
	var user *orgbase.User
	err := db.tx(ctx, func(tx *gorm.DB) error {
		tok, err := db.useToken(tx, tokenHash, TokenReset)
		if err != nil {
			return err
		}
		now := db.now()
		var row userRow
		if err := tx.Take(&row, "id = ?", tok.UserID).Error; err != nil {
			return notFound(err, "User not found.")
		}
		upd := map[string]any{"password_hash": passwordHash, "updated_at": now}
		if row.EmailVerifiedAt == nil && row.Email == tok.Email {
			upd["email_verified_at"] = now
			row.EmailVerifiedAt = &now
		}
		if err := tx.Model(&userRow{}).Where("id = ?", row.ID).Updates(upd).Error; err != nil {
			return err
		}
		if err := tx.Where("user_id = ?", row.ID).Delete(&sessionRow{}).Error; err != nil {
			return err
		}
		user = row.domain()
		return nil
	})
	return user, err
}

func conflictEmail() error {
	return orgbase.Errorf(orgbase.ECONFLICT, "An account with this email already exists.")
}
