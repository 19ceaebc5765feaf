package store

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"time"

	atlas "ariga.io/atlas/sql/schema"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"latchkey/ent/migrate"
)

// MySQLMigrationsDir is where the versioned MySQL migrations live, relative to
// this package; see migrations/README.md.
const MySQLMigrationsDir = "migrations/mysql"

//go:embed migrations/mysql/*.sql
var mysqlMigrations embed.FS

// MySQLMigrations returns the embedded goose migration files.
func MySQLMigrations() fs.FS {
	sub, err := fs.Sub(mysqlMigrations, MySQLMigrationsDir)
	if err != nil {
		panic(err) // the path is a constant checked by go:embed
	}
	return sub
}

// Migrate brings the schema up to date. SQLite follows the ent schema directly;
// MySQL only ever runs the committed versioned migrations, so production
// schema changes are reviewed SQL.
func (s *Store) Migrate(ctx context.Context) error {
	if err := s.migrateSchema(ctx); err != nil {
		return err
	}
	return s.repairTypeLinkSources(ctx)
}

// repairTypeLinkSources gives every user-type link without a recorded source one
// by hand: links made before sources were recorded were an admin's. It is
// idempotent and cheap once every link has a source.
func (s *Store) repairTypeLinkSources(ctx context.Context) error {
	_, err := s.DB.ExecContext(ctx, `INSERT INTO type_link_sources (account_id, user_id, user_type_id, group_id)
		SELECT u.account_id, l.user_id, l.user_type_id, NULL FROM user_type_links l JOIN users u ON u.id = l.user_id
		WHERE NOT EXISTS (SELECT 1 FROM type_link_sources x WHERE x.user_id = l.user_id AND x.user_type_id = l.user_type_id)`)
	if err != nil {
		return fmt.Errorf("store: recording type link sources: %w", err)
	}
	return nil
}

func (s *Store) migrateSchema(ctx context.Context) error {
	switch s.Dialect {
	case dialect.SQLite:
		// Dropping indexes keeps removed unique constraints from rejecting
		// writes; columns are never dropped automatically, as that loses data.
		err := migrate.NewSchema(s.raw).Create(ctx, SQLiteMigrateOptions()...)
		if err != nil {
			return fmt.Errorf("store: migrating sqlite: %w", err)
		}
		return s.Optimize(ctx)
	case dialect.MySQL:
		return s.migrateMySQL(ctx)
	default:
		return fmt.Errorf("store: no migrations for dialect %q", s.Dialect)
	}
}

// sqliteIndexes are SQLite's alone. The join tables of many-to-many edges are
// indexed from their second column, for the set-wise questions that start from a
// role, type, right or user (holders of a role, a type's users, a user's groups):
// ent's schema cannot declare indexes on its join tables, and MySQL has these
// already, as its foreign keys' indexes. users_masks is a narrow copy of what a
// set-wise question checks of each user it finds (account, active, read-only), so
// counting thousands of holders reads a few pages of it instead of the wide user
// rows (whoCan's count at 100k users: 17 ms -> 11 ms in C SQLite); InnoDB's rows
// are clustered by id, so MySQL gains nothing from it.
var sqliteIndexes = []struct {
	table, name string
	columns     []string
}{
	{"user_roles", "user_roles_by_role", []string{"role_id", "user_id"}},
	{"user_type_links", "user_type_links_by_type", []string{"user_type_id", "user_id"}},
	{"user_type_roles", "user_type_roles_by_role", []string{"role_id", "user_type_id"}},
	{"role_rights", "role_rights_by_right", []string{"right_id", "role_id"}},
	{"group_users", "group_users_by_user", []string{"user_id", "group_id"}},
	{"users", "users_masks", []string{"id", "account_id", "active", "read_only"}},
}

// SQLiteMigrateOptions are how SQLite follows the ent schema: removed indexes are
// dropped (so an old unique constraint cannot reject writes), and the indexes above
// are part of the desired schema.
func SQLiteMigrateOptions() []schema.MigrateOption {
	return []schema.MigrateOption{schema.WithDropIndex(true), schema.WithDiffHook(func(next schema.Differ) schema.Differ {
		return schema.DiffFunc(func(current, desired *atlas.Schema) ([]atlas.Change, error) {
			for _, ix := range sqliteIndexes {
				t, ok := desired.Table(ix.table)
				if !ok {
					return nil, fmt.Errorf("store: no table %s to index", ix.table)
				}
				idx := atlas.NewIndex(ix.name)
				for _, name := range ix.columns {
					c, ok := t.Column(name)
					if !ok {
						return nil, fmt.Errorf("store: no column %s.%s to index", ix.table, name)
					}
					idx.AddColumns(c)
				}
				t.AddIndexes(idx)
			}
			return next.Diff(current, desired)
		})
	})}
}

func (s *Store) migrateMySQL(ctx context.Context) error {
	// Replicas may start together; a lock row in the database (unlike
	// GET_LOCK, it works the same on TiDB and Vitess) lets one of them migrate
	// while the others wait.
	locker, err := lock.NewMySQLTableLocker(
		lock.WithTableLockTimeout(time.Second, 600),
		lock.WithTableLogger(s.logger),
	)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	p, err := goose.NewProvider(goose.DialectMySQL, s.DB, MySQLMigrations(),
		goose.WithLocker(locker),
		goose.WithSlog(s.logger),
		goose.WithDisableGlobalRegistry(true),
	)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("store: migrating mysql: %w", err)
	}
	for _, r := range results {
		s.logger.InfoContext(ctx, "applied migration",
			"version", r.Source.Version, "file", r.Source.Path, "duration", r.Duration)
	}
	return nil
}

// Optimize refreshes the query planner's statistics where the store keeps none by
// itself (SQLite); without them SQLite can pick an index that turns a lookup per user
// into a scan per user. The server runs it at start and then periodically.
func (s *Store) Optimize(ctx context.Context) error {
	if s.Dialect != dialect.SQLite {
		return nil
	}
	if _, err := s.DB.ExecContext(ctx, "PRAGMA optimize=0x10002"); err != nil {
		return fmt.Errorf("store: optimizing sqlite: %w", err)
	}
	return nil
}
