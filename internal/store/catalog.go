package store

import (
	"cmp"
	"context"
	"slices"
	"time"

	"gorm.io/gorm"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/orgbase"
)

// The price catalog is the operator's and global: one row per tool and
// model, prices in milli-credits.

type priceRow struct {
	ID             int64
	Tool           string
	Model          string
	Unit           string
	CreditsPerUnit int64
	Category       string
	Source         string
	Active         bool
	UpdatedAt      time.Time
}

func (priceRow) TableName() string { return "price_catalog" }

func (r priceRow) domain() orgbase.Price {
	return orgbase.Price{ID: r.ID, Tool: r.Tool, Model: r.Model, Unit: r.Unit, CreditsPerUnit: orgbase.Credits(r.CreditsPerUnit),
		Category: orgbase.Category(r.Category), Source: r.Source, Active: r.Active, UpdatedAt: r.UpdatedAt}
}

// SeedCatalog inserts the entries, or updates the unit, price, category and
// source of those already there (matched by tool and model), in one
// transaction. It is idempotent: a row is written only when something
// differs, so seeding the same catalog again changes nothing, not even
// updated_at. Rows that are not among the entries are left alone, and so is
// whether a row is active. It returns how many rows were inserted or changed.
func (db *DB) SeedCatalog(ctx context.Context, entries []catalog.Entry) (int, error) {
	for _, e := range entries {
		if e.Tool == "" || e.Model == "" || e.Unit == "" || e.CreditsPerUnit <= 0 || !e.Category.Valid() {
			return 0, orgbase.Errorf(orgbase.EINVALID, "Invalid price for %s %s.", e.Tool, e.Model)
		}
	}
	now := db.now()
	changed := 0
	err := db.tx(ctx, func(tx *gorm.DB) error {
		changed = 0
		for _, e := range entries {
			// One statement per row, safe against a concurrent seed (two
			// replicas running `migrate up`): the unique (tool, model) decides.
			res := tx.Exec(`INSERT INTO price_catalog (tool, model, unit, credits_per_unit, category, source, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?)
				ON CONFLICT (tool, model) DO UPDATE SET unit = excluded.unit, credits_per_unit = excluded.credits_per_unit,
					category = excluded.category, source = excluded.source, updated_at = excluded.updated_at
				WHERE price_catalog.unit <> excluded.unit OR price_catalog.credits_per_unit <> excluded.credits_per_unit
					OR price_catalog.category <> excluded.category OR price_catalog.source <> excluded.source`,
				e.Tool, e.Model, e.Unit, int64(e.CreditsPerUnit), string(e.Category), e.Source, now)
			if res.Error != nil {
				return res.Error
			}
			changed += int(res.RowsAffected)
		}
		return nil
	})
	return changed, err
}

// FindCatalog lists the active prices ordered by category, tool, price and
// model. The catalog is small, so it is sorted here: byte order on both
// dialects, whatever PostgreSQL's collation.
func (db *DB) FindCatalog(ctx context.Context) ([]orgbase.Price, error) {
	var rows []priceRow
	if err := db.q(ctx).Where("active").Find(&rows).Error; err != nil {
		return nil, err
	}
	out := make([]orgbase.Price, len(rows))
	for i, r := range rows {
		out[i] = r.domain()
	}
	slices.SortFunc(out, func(a, b orgbase.Price) int {
		return cmp.Or(cmp.Compare(a.Category, b.Category), cmp.Compare(a.Tool, b.Tool),
			cmp.Compare(a.CreditsPerUnit, b.CreditsPerUnit), cmp.Compare(a.Model, b.Model))
	})
	return out, nil
}

// FindPrice returns the active price of a tool with a model, or ENOTFOUND
// when the catalog has none.
func (db *DB) FindPrice(ctx context.Context, tool, model string) (orgbase.Price, error) {
	return findPrice(db.q(ctx), tool, model)
}

// findPrice is FindPrice inside a transaction (the charging service prices
// a charge in the transaction that writes it).
func findPrice(tx *gorm.DB, tool, model string) (orgbase.Price, error) {
	var row priceRow
	if err := tx.Take(&row, "tool = ? AND model = ? AND active", tool, model).Error; err != nil {
		return orgbase.Price{}, notFound(err, "The price catalog has no price for "+tool+" with model "+model+".")
	}
	return row.domain(), nil
}
