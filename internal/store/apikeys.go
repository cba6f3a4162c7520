package store

import (
	"cmp"
	"context"
	"errors"
	"time"

	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/orgbase/orgbase/internal/orgbase"
)

// Workspace API keys (SPEC §6).

type apiKeyRow struct {
	ID          int64
	OrgID       int64
	WorkspaceID int64
	Name        string
	Prefix      string
	SecretHash  string
	CreatedBy   *int64
	CreatedAt   time.Time
	LastUsedAt  *time.Time
	RevokedAt   *time.Time
}

func (apiKeyRow) TableName() string { return "api_keys" }

func (r apiKeyRow) domain() *orgbase.APIKey {
	return &orgbase.APIKey{ID: r.ID, OrgID: r.OrgID, WorkspaceID: r.WorkspaceID, Name: r.Name, Prefix: r.Prefix,
		CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, LastUsedAt: r.LastUsedAt, RevokedAt: r.RevokedAt}
}

// CreateAPIKey creates a key for the workspace and returns it with its
// secret, which is never available again. EFORBIDDEN unless the actor
// manages the workspace (checked again inside the transaction); ECONFLICT
// for an archived workspace; EINVALID on "name".
func (db *DB) CreateAPIKey(ctx context.Context, orgID int64, by orgbase.Access, workspaceID int64, name string) (*orgbase.APIKey, string, error) {
	name, err := orgbase.CleanAPIKeyName(name)
	if err != nil {
		return nil, "", err
	}
	secret := orgbase.NewAPIKeySecret()
	var out *orgbase.APIKey
	err = db.tx(ctx, func(tx *gorm.DB) error {
		var ws workspaceRow
		if err := tx.Clauses(clause.Locking{Strength: "SHARE"}).Take(&ws, "org_id = ? AND id = ?", orgID, workspaceID).Error; err != nil {
			return notFound(err, "Workspace not found.")
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanManageAPIKeys(ws.Path) }); err != nil {
			return err
		}
		if ws.ArchivedAt != nil {
			return orgbase.Errorf(orgbase.ECONFLICT, "%s is archived.", ws.Name)
		}
		row := apiKeyRow{OrgID: orgID, WorkspaceID: ws.ID, Name: name, Prefix: orgbase.APIKeyDisplayPrefix(secret),
			SecretHash: orgbase.HashAPIKey(secret), CreatedBy: creator(by), CreatedAt: db.now()}
		if err := tx.Create(&row).Error; err != nil {
			return err
		}
		out = row.domain()
		return audit(tx, orgID, "apikey.create", "api_key", itoa64(row.ID), name, map[string]any{
			"workspace": ws.Name, "prefix": row.Prefix})
	})
	if err != nil {
		return nil, "", err
	}
	return out, secret, nil
}

// FindAPIKeys lists the keys of a workspace, newest first, revoked ones
// included, with their creators' names.
func (db *DB) FindAPIKeys(ctx context.Context, orgID, workspaceID int64) ([]*orgbase.APIKey, error) {
	var rows []apiKeyRow
	if err := db.q(ctx).Where("org_id = ? AND workspace_id = ?", orgID, workspaceID).
		Order("revoked_at IS NOT NULL, id DESC").Find(&rows).Error; err != nil {
		return nil, err
	}
	var ids []int64
	for _, r := range rows {
		if r.CreatedBy != nil {
			ids = append(ids, *r.CreatedBy)
		}
	}
	names := map[int64]string{}
	if len(ids) > 0 {
		var users []userRow
		if err := db.q(ctx).Where("id IN ?", ids).Find(&users).Error; err != nil {
			return nil, err
		}
		for _, u := range users {
			names[u.ID] = cmp.Or(u.Name, u.Email)
		}
	}
	out := make([]*orgbase.APIKey, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
		if r.CreatedBy == nil {
			out[i].CreatedByName = "Operator"
		} else {
			out[i].CreatedByName = names[*r.CreatedBy]
		}
	}
	return out, nil
}

// RevokeAPIKey revokes a key of the workspace at once: the next request
// with it is refused. Revoking a revoked key changes nothing. EFORBIDDEN
// unless the actor manages the key's workspace; ENOTFOUND for a key not in
// that workspace.
func (db *DB) RevokeAPIKey(ctx context.Context, orgID int64, by orgbase.Access, workspaceID, keyID int64) (*orgbase.APIKey, error) {
	var out *orgbase.APIKey
	err := db.tx(ctx, func(tx *gorm.DB) error {
		var row apiKeyRow
		if err := tx.Clauses(clause.Locking{Strength: "UPDATE"}).Take(&row, "org_id = ? AND workspace_id = ? AND id = ?", orgID, workspaceID, keyID).Error; err != nil {
			return notFound(err, "API key not found.")
		}
		var ws workspaceRow
		if err := tx.Take(&ws, "org_id = ? AND id = ?", orgID, row.WorkspaceID).Error; err != nil {
			return notFound(err, "Workspace not found.")
		}
		if err := recheck(tx, orgID, by, func(a orgbase.Access) bool { return a.CanManageAPIKeys(ws.Path) }); err != nil {
			return err
		}
		if row.RevokedAt != nil {
			out = row.domain()
			return nil
		}
		now := db.now()
		if err := tx.Model(&apiKeyRow{}).Where("id = ?", row.ID).Update("revoked_at", now).Error; err != nil {
			return err
		}
		row.RevokedAt = &now
		out = row.domain()
		return audit(tx, orgID, "apikey.revoke", "api_key", itoa64(row.ID), row.Name, map[string]any{
			"workspace": ws.Name, "prefix": row.Prefix})
	})
	return out, err
}

// APIKeyAuth is what an API request acts as: the key, its organization and
// its workspace (the root of what it may charge and read).
type APIKeyAuth struct {
	Key       *orgbase.APIKey
	OrgID     int64
	OrgSlug   string
	Workspace *orgbase.Workspace
}

// AuthenticateAPIKey finds the live key with this secret, in one query.
// EUNAUTHORIZED (ENOTFOUND's API twin) for anything else: an unknown or
// malformed secret, a revoked key, a key of a deleted organization.
func (db *DB) AuthenticateAPIKey(ctx context.Context, secret string) (*APIKeyAuth, error) {
	refused := orgbase.Errorf(orgbase.EUNAUTHORIZED, "The API key is not valid: it is unknown or was revoked.")
	if !orgbase.LooksLikeAPIKey(secret) {
		return nil, refused
	}
	var rows []struct {
		KeyID        int64
		KeyName      string
		KeyPrefix    string
		KeyCreatedBy *int64
		KeyCreatedAt time.Time
		KeyLastUsed  *time.Time
		OrgSlug      string
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
		FundingMode  string
		MonthlyLimit *int64
	}
	err := db.q(ctx).Table("api_keys k").
		Select(`k.id AS key_id, k.name AS key_name, k.prefix AS key_prefix, k.created_by AS key_created_by,
			k.created_at AS key_created_at, k.last_used_at AS key_last_used, o.slug AS org_slug,
			w.id, w.org_id, w.parent_id, w.name, w.description, w.path, w.depth, w.created_by, w.created_at,
			w.archived_at, w.funding_mode, w.monthly_limit`).
		Joins("JOIN organizations o ON o.id = k.org_id AND o.deleted_at IS NULL").
		Joins("JOIN workspaces w ON w.id = k.workspace_id AND w.org_id = k.org_id").
		Where("k.secret_hash = ? AND k.revoked_at IS NULL", orgbase.HashAPIKey(secret)).
		Limit(1).Scan(&rows).Error
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, refused
	}
	r := rows[0]
	ws := workspaceRow{ID: r.ID, OrgID: r.OrgID, ParentID: r.ParentID, Name: r.Name, Description: r.Description, Path: r.Path,
		Depth: r.Depth, CreatedBy: r.CreatedBy, CreatedAt: r.CreatedAt, ArchivedAt: r.ArchivedAt, FundingMode: r.FundingMode, MonthlyLimit: r.MonthlyLimit}
	key := &orgbase.APIKey{ID: r.KeyID, OrgID: r.OrgID, WorkspaceID: r.ID, Name: r.KeyName, Prefix: r.KeyPrefix,
		CreatedBy: r.KeyCreatedBy, CreatedAt: r.KeyCreatedAt, LastUsedAt: r.KeyLastUsed}
	return &APIKeyAuth{Key: key, OrgID: r.OrgID, OrgSlug: r.OrgSlug, Workspace: ws.domain()}, nil
}

// TouchAPIKey records that the key was used now, at most once a minute per
// process (last used is for people, to the minute): a busy key costs one
// UPDATE a minute, not one per request.
func (db *DB) TouchAPIKey(ctx context.Context, keyID int64) error {
	now := db.now()
	if v, ok := db.touches.Load(keyID); ok && now.Sub(v.(time.Time)) < time.Minute {
		return nil
	}
	db.touches.Store(keyID, now)
	err := db.q(ctx).Model(&apiKeyRow{}).Where("id = ? AND (last_used_at IS NULL OR last_used_at < ?)", keyID, now.Add(-time.Minute)).
		Update("last_used_at", now).Error
	if errors.Is(err, context.Canceled) {
		return nil
	}
	return err
}
