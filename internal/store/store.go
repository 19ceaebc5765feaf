// Package store opens Latchkey's database — embedded SQLite or MySQL/MariaDB —
// and migrates its schema.
package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"
	"github.com/go-sql-driver/mysql"
	"modernc.org/sqlite" // the pure-Go SQLite driver

	"latchkey/ent"
	// Whoever holds a Store gets a usable client: the runtime package installs
	// the schema's hooks, defaults and privacy policies.
	_ "latchkey/ent/runtime"
)

// Store is an open database: the ent client and the pool under it.
type Store struct {
	Client  *ent.Client
	DB      *sql.DB
	Dialect string // dialect.SQLite or dialect.MySQL

	// raw is the ent driver before any WithDriver wrapper, so migrations do
	// not show up in a test's statement counts.
	raw    dialect.Driver
	logger *slog.Logger
}

type options struct {
	wrap   func(dialect.Driver) dialect.Driver
	logger *slog.Logger
}

// Option configures Open.
type Option func(*options)

// WithDriver wraps the ent driver the client uses, e.g. to count or log SQL
// statements in tests.
func WithDriver(wrap func(dialect.Driver) dialect.Driver) Option {
	return func(o *options) { o.wrap = wrap }
}

// WithLogger sets the logger for migrations; the default is slog.Default().
func WithLogger(l *slog.Logger) Option {
	return func(o *options) {
		if l != nil {
			o.logger = l
		}
	}
}

// Open connects to the database named by databaseURL (see ParseURL) and checks
// that it answers. It does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, opts ...Option) (*Store, error) {
	o := options{logger: slog.Default()}
	for _, opt := range opts {
		opt(&o)
	}
	cfg, err := ParseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	switch cfg.Dialect {
	case dialect.SQLite:
		if err := os.MkdirAll(filepath.Dir(cfg.Path), 0o750); err != nil {
			return nil, fmt.Errorf("store: creating directory for %s: %w", cfg.Path, err)
		}
	case dialect.MySQL:
		if cfg.Database == "" {
			return nil, fmt.Errorf("store: mysql URL names no database; %s", acceptedForms)
		}
	}
	db, err := openDB(cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	configurePool(db, cfg.Dialect)
	// Fail at startup on a bad path, credentials or parameter rather than on
	// the first request.
	if err := db.PingContext(ctx); err != nil {
		return nil, errors.Join(fmt.Errorf("store: connecting to %s: %w", describe(cfg), err), db.Close())
	}
	var raw dialect.Driver = entsql.OpenDB(cfg.Dialect, db)
	if cfg.Dialect == dialect.SQLite {
		raw = newWriteQueue(raw, sqliteBusyTimeout)
	}
	drv := raw
	if o.wrap != nil {
		drv = o.wrap(drv)
	}
	return &Store{
		Client:  ent.NewClient(ent.Driver(drv)),
		DB:      db,
		Dialect: cfg.Dialect,
		raw:     raw,
		logger:  o.logger,
	}, nil
}

// openDB opens the pool; SQLite's connections keep their statements prepared
// (stmtcache.go).
func openDB(cfg Config) (*sql.DB, error) {
	if cfg.Dialect != dialect.SQLite {
		return sql.Open(cfg.Driver, cfg.DSN)
	}
	c, err := sqlite.NewConnector(cfg.DSN)
	if err != nil {
		return nil, err
	}
	return sql.OpenDB(stmtCachingConnector{c}), nil
}

func configurePool(db *sql.DB, d string) {
	switch d {
	case dialect.SQLite:
		// WAL lets readers run beside the one writer; writers queue on
		// busy_timeout. Connections are local, so there is no reason to recycle
		// them, and keeping them idle keeps their page caches warm.
		n := max(4, runtime.GOMAXPROCS(0))
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
		db.SetConnMaxLifetime(0)
	case dialect.MySQL:
		// Several replicas share one server (default max_connections is 151).
		// Recycling connections well inside the server's and any proxy's idle
		// timeout avoids "invalid connection" errors on stale sockets.
		db.SetMaxOpenConns(25)
		db.SetMaxIdleConns(25)
		db.SetConnMaxLifetime(5 * time.Minute)
		db.SetConnMaxIdleTime(time.Minute)
	}
}

// describe names the database for errors without its password.
func describe(cfg Config) string {
	if cfg.Dialect == dialect.SQLite {
		return "sqlite " + cfg.Path
	}
	if c, err := mysql.ParseDSN(cfg.DSN); err == nil {
		return fmt.Sprintf("mysql database %s at %s", cfg.Database, c.Addr)
	}
	return "mysql database " + cfg.Database
}

// Close closes the client and the pool.
func (s *Store) Close() error {
	return s.Client.Close()
}

// Ping reports whether the database answers; it backs the readiness probe.
func (s *Store) Ping(ctx context.Context) error {
	return s.DB.PingContext(ctx)
}
