// Package store implements Orgbase's persistence with GORM on PostgreSQL (the
// production database) and SQLite (the embedded default). Dialect differences
// live in this package and nowhere else. Each exported method is one
// transaction.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/pressly/goose/v3"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/orgbase/orgbase/internal/orgbase"
	"github.com/orgbase/orgbase/migrations"
)

// Dialects.
const (
	Postgres = "postgres"
	SQLite   = "sqlite"
)

// DB is the database handle every store method hangs off.
type DB struct {
	gorm    *gorm.DB
	sql     *sql.DB
	dialect string
	now     func() time.Time
	log     *slog.Logger
	outbox  *outboxHook
	touches sync.Map // API key id → when this process last stamped its last_used_at (apikeys.go)
	shards  sync.Map // [org id, shard] → usage account id (ledger.go)
}

// Options tune Open.
type Options struct {
	// Now returns the current time; tests freeze or advance it. Defaults to time.Now.
	Now func() time.Time
	// Logger receives slow-query and error logs; nil silences GORM.
	Logger *slog.Logger
	// Queries, when set, counts every SQL statement GORM runs (benchmarks
	// and tests use it to prove a page runs a constant number of queries).
	Queries *atomic.Int64
}

// Open connects to the database named by url: a postgres:// or postgresql://
// URL selects PostgreSQL; anything else is taken as a SQLite file path
// (its directory is created).
func Open(ctx context.Context, url string, opt Options) (*DB, error) {
	clock := opt.Now
	if clock == nil {
		clock = time.Now
	}
	now := func() time.Time { return clock().UTC().Truncate(time.Microsecond) }
	gcfg := &gorm.Config{
		Logger:                 logger.Discard,
		SkipDefaultTransaction: true,
		TranslateError:         false,
		NowFunc:                now, // GORM's timestamps (and audit entries) follow the store's clock
	}
	var (
		g       *gorm.DB
		err     error
		dialect string
	)
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		dialect = Postgres
		g, err = gorm.Open(postgres.Open(url), gcfg)
	} else {
		dialect = SQLite
		if dir := filepath.Dir(url); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("create database directory: %w", err)
			}
		}
		// _txlock=immediate: a transaction takes the write lock when it
		// begins, waiting up to busy_timeout for another process (the
		// CLI, a test, a second server) to finish. A deferred transaction
		// that read first and then wrote after someone else's commit
		// would fail at once with SQLITE_BUSY_SNAPSHOT instead (WAL mode;
		// busy_timeout does not apply to it).
		dsn := "file:" + url + "?_pragma=foreign_keys(1)&_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_time_format=sqlite&_txlock=immediate"
		g, err = gorm.Open(sqlite.Open(dsn), gcfg)
	}
	if err != nil {
		return nil, fmt.Errorf("open %s database: %w", dialect, err)
	}
	sqlDB, err := g.DB()
	if err != nil {
		return nil, err
	}
	outbox := &outboxHook{}
	if err := g.Use(outbox); err != nil {
		return nil, err
	}
	if opt.Queries != nil {
		count := func(*gorm.DB) { opt.Queries.Add(1) }
		cb := g.Callback()
		for _, err := range []error{
			cb.Query().After("gorm:query").Register("orgbase:count", count),
			cb.Row().After("gorm:row").Register("orgbase:count", count),
			cb.Raw().After("gorm:raw").Register("orgbase:count", count),
			cb.Create().After("gorm:create").Register("orgbase:count", count),
			cb.Update().After("gorm:update").Register("orgbase:count", count),
			cb.Delete().After("gorm:delete").Register("orgbase:count", count),
		} {
			if err != nil {
				return nil, err
			}
		}
	}
	if dialect == SQLite {
		// SQLite allows one writer; a single connection turns lock contention
		// into queueing instead of SQLITE_BUSY errors.
		sqlDB.SetMaxOpenConns(1)
	} else {
		sqlDB.SetMaxOpenConns(20)
		sqlDB.SetMaxIdleConns(10)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
	}
	pctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if err := sqlDB.PingContext(pctx); err != nil {
		sqlDB.Close()
		return nil, fmt.Errorf("connect to %s database: %w", dialect, err)
	}
	log := opt.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &DB{gorm: g, sql: sqlDB, dialect: dialect, now: now, log: log, outbox: outbox}, nil
}

// Dialect returns Postgres or SQLite.
func (db *DB) Dialect() string { return db.dialect }

// SQL returns the underlying connection pool (for the job engine and tests).
func (db *DB) SQL() *sql.DB { return db.sql }

// Now is the store's clock, in UTC.
func (db *DB) Now() time.Time { return db.now() }

// Close closes the connection pool.
func (db *DB) Close() error { return db.sql.Close() }

// Ping reports whether the database answers.
func (db *DB) Ping(ctx context.Context) error { return db.sql.PingContext(ctx) }

func (db *DB) provider() (*goose.Provider, error) {
	dir, gd := "postgres", goose.DialectPostgres
	if db.dialect == SQLite {
		dir, gd = "sqlite", goose.DialectSQLite3
	}
	sub, err := fs.Sub(migrations.FS, dir)
	if err != nil {
		return nil, err
	}
	return goose.NewProvider(gd, db.sql, sub)
}

// Migrate applies every pending migration: the job queue's (River's tables,
// from its rivermigrate package), then Orgbase's own.
func (db *DB) Migrate(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	if err := db.riverMigrateUp(ctx); err != nil {
		return err
	}
	_, err = p.Up(ctx)
	return err
}

// MigrateDown rolls back the latest of Orgbase's migrations; once none is
// left, the job queue's, one per call (the reverse of Migrate).
func (db *DB) MigrateDown(ctx context.Context) error {
	p, err := db.provider()
	if err != nil {
		return err
	}
	_, err = p.Down(ctx)
	if errors.Is(err, goose.ErrNoNextVersion) {
		if done, rerr := db.riverMigrateDownOne(ctx); done || rerr != nil {
			return rerr
		}
	}
	return err
}

// MigrationStatus is one migration's state.
type MigrationStatus struct {
	Version   int64
	Name      string
	Applied   bool
	AppliedAt time.Time
}

// MigrateStatus lists every known migration, in the order Migrate applies
// them, and whether it is applied.
func (db *DB) MigrateStatus(ctx context.Context) ([]MigrationStatus, error) {
	p, err := db.provider()
	if err != nil {
		return nil, err
	}
	st, err := p.Status(ctx)
	if err != nil {
		return nil, err
	}
	out, err := db.riverMigrateStatus(ctx) // applied first
	if err != nil {
		return nil, err
	}
	for _, s := range st {
		out = append(out, MigrationStatus{
			Version: s.Source.Version, Name: filepath.Base(s.Source.Path),
			Applied: s.State == goose.StateApplied, AppliedAt: s.AppliedAt,
		})
	}
	return out, nil
}

// Ready reports nil when the database answers and no migration is pending.
func (db *DB) Ready(ctx context.Context) error {
	if err := db.Ping(ctx); err != nil {
		return fmt.Errorf("database unreachable: %w", err)
	}
	p, err := db.provider()
	if err != nil {
		return err
	}
	pending, err := p.HasPending(ctx)
	if err != nil {
		return fmt.Errorf("read migration state: %w", err)
	}
	if !pending {
		pending, err = db.riverPending(ctx)
		if err != nil {
			return fmt.Errorf("read job queue migration state: %w", err)
		}
	}
	if pending {
		return errors.New("migrations pending")
	}
	return nil
}

// tx runs fn in one transaction.
func (db *DB) tx(ctx context.Context, fn func(tx *gorm.DB) error) error {
	return db.gorm.WithContext(ctx).Transaction(fn)
}

// q is the context-bound handle for single statements.
func (db *DB) q(ctx context.Context) *gorm.DB { return db.gorm.WithContext(ctx) }

// notFound maps gorm.ErrRecordNotFound to ENOTFOUND with msg.
func notFound(err error, msg string) error {
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return orgbase.Errorf(orgbase.ENOTFOUND, "%s", msg)
	}
	return err
}

// isUniqueViolation reports whether err is a unique-constraint failure on
// either dialect.
func isUniqueViolation(err error) bool {
	var pg *pgconn.PgError
	if errors.As(err, &pg) {
		return pg.Code == "23505"
	}
	return err != nil && strings.Contains(err.Error(), "UNIQUE constraint failed")
}
