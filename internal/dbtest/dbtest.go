// Package dbtest gives tests a fresh, migrated database: a SQLite file of
// their own, and a PostgreSQL schema of their own when TEST_DATABASE_URL is
// set. With CI=true a missing TEST_DATABASE_URL fails the test instead of
// skipping it.
package dbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // registers the "pgx" driver for schema set-up

	"github.com/orgbase/orgbase/internal/store"
)

// Dialects lists the dialects tests run on: SQLite always, PostgreSQL when
// configured (or required, under CI).
func Dialects(t testing.TB) []string {
	if os.Getenv("TEST_DATABASE_URL") != "" {
		return []string{store.SQLite, store.Postgres}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("CI=true but TEST_DATABASE_URL is not set: PostgreSQL tests cannot be skipped in CI")
	}
	return []string{store.SQLite}
}

// Each runs fn as a subtest on every dialect, each with a fresh database.
func Each(t *testing.T, fn func(t *testing.T, db *store.DB)) {
	t.Helper()
	for _, d := range Dialects(t) {
		t.Run(d, func(t *testing.T) {
			fn(t, Open(t, d, store.Options{}))
		})
	}
}

// URL returns a fresh database URL for the dialect (a new SQLite file or a new
// PostgreSQL schema), dropped when the test ends. Nothing is migrated yet.
func URL(t testing.TB, dialect string) string {
	t.Helper()
	if dialect == store.SQLite {
		return filepath.Join(t.TempDir(), "orgbase.db")
	}
	base := os.Getenv("TEST_DATABASE_URL")
	if base == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("CI=true but TEST_DATABASE_URL is not set")
		}
		t.Skip("TEST_DATABASE_URL not set: skipping PostgreSQL")
	}
	var b [6]byte
	rand.Read(b[:])
	schema := "t_" + hex.EncodeToString(b[:])
	admin, err := sql.Open("pgx", base)
	if err != nil {
		t.Fatalf("open TEST_DATABASE_URL: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE SCHEMA "+schema); err != nil {
		admin.Close()
		t.Fatalf("create schema (is PostgreSQL running at TEST_DATABASE_URL?): %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Logf("drop schema %s: %v", schema, err)
		}
		admin.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatalf("parse TEST_DATABASE_URL: %v", err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// Open returns a migrated store on a fresh database of the dialect, closed
// when the test ends.
func Open(t testing.TB, dialect string, opt store.Options) *store.DB {
	t.Helper()
	db, err := store.Open(context.Background(), URL(t, dialect), opt)
	if err != nil {
		t.Fatalf("open %s: %v", dialect, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("migrate %s: %v", dialect, err)
	}
	return db
}
