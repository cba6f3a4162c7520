package main

import (
	"context"
	"fmt"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/store"
)

// seedCatalog writes the default price catalog after migrating: new tools
// and changed prices of the shipped catalog are applied; seeding an
// unchanged catalog writes nothing. Every path that migrates calls it
// (`serve` in development, `migrate up`, `seed`).
func seedCatalog(ctx context.Context, db *store.DB) error {
	entries, err := catalog.Default()
	if err != nil {
		return err
	}
	if _, err := db.SeedCatalog(ctx, entries); err != nil {
		return fmt.Errorf("seed the price catalog: %w", err)
	}
	return nil
}
