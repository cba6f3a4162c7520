package store_test

import (
	"context"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/orgbase/orgbase/internal/catalog"
	"github.com/orgbase/orgbase/internal/dbtest"
	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/internal/store"
)

func defaultCatalog(t *testing.T) []catalog.Entry {
	t.Helper()
	entries, err := catalog.Default()
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

func TestSeedCatalog(t *testing.T) {
	for _, d := range dbtest.Dialects(t) {
		t.Run(d, func(t *testing.T) {
			var mu sync.Mutex
			now := time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			advance := func() { mu.Lock(); now = now.Add(time.Hour); mu.Unlock() }
			db := dbtest.Open(t, d, store.Options{Now: clock})
			ctx := context.Background()
			entries := defaultCatalog(t)

			n, err := db.SeedCatalog(ctx, entries)
			if err != nil || n != len(entries) {
				t.Fatalf("first seed: %d, %v; want %d rows", n, err, len(entries))
			}
			first, err := db.FindCatalog(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if len(first) != len(entries) {
				t.Fatalf("FindCatalog: %d prices, want %d", len(first), len(entries))
			}
			sorted := sort.SliceIsSorted(first, func(i, j int) bool {
				a, b := first[i], first[j]
				if a.Category != b.Category {
					return a.Category < b.Category
				}
				if a.Tool != b.Tool {
					return a.Tool < b.Tool
				}
				return a.CreditsPerUnit < b.CreditsPerUnit
			})
			if !sorted {
				t.Errorf("FindCatalog is not ordered by category, tool, price: %+v", first)
			}

			// Seeding again changes nothing, not even updated_at.
			advance()
			if n, err := db.SeedCatalog(ctx, entries); err != nil || n != 0 {
				t.Fatalf("second seed: %d, %v; want 0 rows changed", n, err)
			}
			again, _ := db.FindCatalog(ctx)
			for i := range first {
				if again[i] != first[i] {
					t.Errorf("second seed changed %+v into %+v", first[i], again[i])
				}
			}

			p, err := db.FindPrice(ctx, "chat.completion", "gpt-4.5")
			if err != nil {
				t.Fatal(err)
			}
			if p.CreditsPerUnit != 48_750 || p.Unit != "1000 words" || p.Category != orgbase.CategoryChatbot || !p.Active || p.Source != "published rate" {
				t.Errorf("gpt-4.5 = %+v", p)
			}
			if p.CreditsPerUnit.String() != "48.75" {
				t.Errorf("gpt-4.5 reads %s", p.CreditsPerUnit)
			}
			if !p.UpdatedAt.Equal(time.Date(2025, 3, 1, 9, 0, 0, 0, time.UTC)) {
				t.Errorf("updated_at = %v, want the first seed's time", p.UpdatedAt)
			}

			// A changed price is updated in place (same row), with a new updated_at.
			changed := append([]catalog.Entry(nil), entries...)
			for i := range changed {
				if changed[i].Tool == "chat.completion" && changed[i].Model == "gpt-4.5" {
					changed[i].CreditsPerUnit = 45_001
				}
			}
			advance()
			if n, err := db.SeedCatalog(ctx, changed); err != nil || n != 1 {
				t.Fatalf("seed with one new price: %d, %v; want 1 row changed", n, err)
			}
			q, err := db.FindPrice(ctx, "chat.completion", "gpt-4.5")
			if err != nil {
				t.Fatal(err)
			}
			if q.ID != p.ID || q.CreditsPerUnit != 45_001 || !q.UpdatedAt.After(p.UpdatedAt) {
				t.Errorf("after the change: %+v (before %+v)", q, p)
			}

			// Unknown tools and models are not found.
			for _, tm := range [][2]string{{"chat.completion", "gpt-9"}, {"teleport", "default"}, {"", ""}, {"image.generate", "GPT-4.5"}} {
				if _, err := db.FindPrice(ctx, tm[0], tm[1]); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
					t.Errorf("FindPrice(%q, %q) = %v, want ENOTFOUND", tm[0], tm[1], err)
				}
			}

			// An inactive price is neither listed nor found; seeding leaves it inactive.
			if _, err := db.SQL().Exec("UPDATE price_catalog SET active = FALSE WHERE tool = 'music.generate'"); err != nil {
				t.Fatal(err)
			}
			if _, err := db.FindPrice(ctx, "music.generate", "default"); orgbase.ErrorCode(err) != orgbase.ENOTFOUND {
				t.Errorf("inactive price: %v, want ENOTFOUND", err)
			}
			if n, err := db.SeedCatalog(ctx, changed); err != nil || n != 0 {
				t.Fatalf("seed after deactivating: %d, %v", n, err)
			}
			if list, _ := db.FindCatalog(ctx); len(list) != len(entries)-1 {
				t.Errorf("FindCatalog lists %d prices, want %d without the inactive one", len(list), len(entries)-1)
			}

			// Invalid entries are refused before anything is written.
			bad := append(append([]catalog.Entry(nil), changed...), catalog.Entry{Tool: "x", Model: "y", Unit: "u", CreditsPerUnit: 0, Category: orgbase.CategoryChatbot})
			if _, err := db.SeedCatalog(ctx, bad); orgbase.ErrorCode(err) != orgbase.EINVALID {
				t.Errorf("seed with a zero price: %v, want EINVALID", err)
			}
			// The database refuses them too.
			for _, stmt := range []string{
				"INSERT INTO price_catalog (tool, model, unit, credits_per_unit, category, updated_at) VALUES ('x', 'y', 'u', 0, 'chatbot', CURRENT_TIMESTAMP)",
				"INSERT INTO price_catalog (tool, model, unit, credits_per_unit, category, updated_at) VALUES ('x', 'y', 'u', 1, 'video', CURRENT_TIMESTAMP)",
				"INSERT INTO price_catalog (tool, model, unit, credits_per_unit, category, updated_at) VALUES ('chat.completion', 'gpt-4.5', 'u', 1, 'chatbot', CURRENT_TIMESTAMP)",
			} {
				if _, err := db.SQL().Exec(stmt); err == nil {
					t.Errorf("the database accepted %s", stmt)
				}
			}
		})
	}
}
