package store

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/riverqueue/river/riverdriver"
	"github.com/riverqueue/river/riverdriver/riverdatabasesql"
	"github.com/riverqueue/river/riverdriver/riversqlite"
	"github.com/riverqueue/river/rivermigrate"
)

// RiverDriver returns the job queue's (River's) driver for this database. Both
// work on the connection pool GORM uses, and their transactions are the same
// *sql.Tx, so a job can be inserted in the transaction of the change that
// causes it.
func (db *DB) RiverDriver() riverdriver.Driver[*sql.Tx] {
	if db.dialect == SQLite {
		return riversqlite.New(db.sql)
	}
	return riverdatabasesql.New(db.sql)
}

func (db *DB) riverMigrator() (*rivermigrate.Migrator[*sql.Tx], error) {
	// River's migrator logs "No migrations to apply" and the like at Info.
	return rivermigrate.New(db.RiverDriver(), &rivermigrate.Config{Logger: slog.New(warnOnly{db.log.Handler()})})
}

// warnOnly passes on warnings and errors only.
type warnOnly struct{ slog.Handler }

func (h warnOnly) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}
func (h warnOnly) WithAttrs(as []slog.Attr) slog.Handler { return warnOnly{h.Handler.WithAttrs(as)} }
func (h warnOnly) WithGroup(name string) slog.Handler    { return warnOnly{h.Handler.WithGroup(name)} }

func (db *DB) riverMigrateUp(ctx context.Context) error {
	m, err := db.riverMigrator()
	if err != nil {
		return err
	}
	if _, err := m.Migrate(ctx, rivermigrate.DirectionUp, nil); err != nil {
		return fmt.Errorf("job queue migrations: %w", err)
	}
	return nil
}

// riverMigrateDownOne rolls back River's latest migration and reports
// whether there was one.
func (db *DB) riverMigrateDownOne(ctx context.Context) (bool, error) {
	m, err := db.riverMigrator()
	if err != nil {
		return false, err
	}
	res, err := m.Migrate(ctx, rivermigrate.DirectionDown, &rivermigrate.MigrateOpts{MaxSteps: 1})
	if err != nil {
		return false, fmt.Errorf("job queue migrations: %w", err)
	}
	return len(res.Versions) > 0, nil
}

// riverApplied returns the applied River migration versions and when they
// were applied (zero when unknown).
func (db *DB) riverApplied(ctx context.Context) (map[int]time.Time, error) {
	m, err := db.riverMigrator()
	if err != nil {
		return nil, err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return nil, err
	}
	applied := make(map[int]time.Time, len(existing))
	for _, e := range existing {
		applied[e.Version] = time.Time{}
	}
	if len(existing) == 0 {
		return applied, nil
	}
	rows, err := db.sql.QueryContext(ctx, "SELECT version, created_at FROM river_migration WHERE line = 'main'")
	if err != nil {
		return applied, nil // the times are informative only
	}
	defer rows.Close()
	for rows.Next() {
		var (
			v  int
			at any
		)
		if rows.Scan(&v, &at) != nil {
			continue
		}
		if _, ok := applied[v]; ok {
			applied[v] = parseAnyTime(at)
		}
	}
	return applied, rows.Err()
}

func parseAnyTime(v any) time.Time {
	switch t := v.(type) {
	case time.Time:
		return t
	case []byte:
		return parseAnyTime(string(t))
	case string:
		for _, layout := range []string{"2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999", time.RFC3339Nano} {
			if p, err := time.Parse(layout, t); err == nil {
				return p
			}
		}
	}
	return time.Time{}
}

func (db *DB) riverMigrateStatus(ctx context.Context) ([]MigrationStatus, error) {
	m, err := db.riverMigrator()
	if err != nil {
		return nil, err
	}
	applied, err := db.riverApplied(ctx)
	if err != nil {
		return nil, fmt.Errorf("job queue migrations: %w", err)
	}
	var out []MigrationStatus
	for _, mig := range m.AllVersions() {
		at, ok := applied[mig.Version]
		out = append(out, MigrationStatus{Version: int64(mig.Version), Name: fmt.Sprintf("river/%03d_%s", mig.Version, strings.ReplaceAll(mig.Name, " ", "_")), Applied: ok, AppliedAt: at})
	}
	return out, nil
}

func (db *DB) riverPending(ctx context.Context) (bool, error) {
	m, err := db.riverMigrator()
	if err != nil {
		return false, err
	}
	existing, err := m.ExistingVersions(ctx)
	if err != nil {
		return false, err
	}
	return len(existing) < len(m.AllVersions()), nil
}
