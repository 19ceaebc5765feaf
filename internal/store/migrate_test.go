package store_test

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"io/fs"
	"log/slog"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"ariga.io/atlas/sql/migrate"
	"ariga.io/atlas/sql/sqltool"
	"entgo.io/ent/dialect"
	"entgo.io/ent/dialect/sql/schema"

	entmigrate "latchkey/ent/migrate"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// pendingChanges is what ent's automatic migration would still do to reach
// the ent schema, as SQL; empty when the database matches it.
func pendingChanges(t *testing.T, s *store.Store) string {
	t.Helper()
	var buf bytes.Buffer
	opts := []schema.MigrateOption{schema.WithDropColumn(true), schema.WithDropIndex(true)}
	if s.Dialect == dialect.SQLite {
		opts = append(opts, store.SQLiteMigrateOptions()...)
	}
	err := s.Client.Schema.WriteTo(context.Background(), &buf, opts...)
	if err != nil {
		t.Fatalf("diffing against the ent schema: %v", err)
	}
	return buf.String()
}

// TestMigrationsMatchEntSchema fails when the committed MySQL migrations (or
// SQLite's automatic migration) leave the database different from ent/schema.
func TestMigrationsMatchEntSchema(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		if pending := pendingChanges(t, s); pending != "" {
			t.Fatalf("the migrated %s database differs from the ent schema; after changing ent/schema run\n"+
				"\tgo run ./internal/store/migrations/gen --name <what_changed>\n"+
				"(see internal/store/migrations/README.md). Statements still needed:\n%s", s.Dialect, pending)
		}
		// Ent never drops tables, so the diff above cannot see one the
		// migrations create but the schema no longer has.
		entTables := make(map[string]bool)
		for _, tbl := range entmigrate.Tables {
			entTables[tbl.Name] = true
		}
		for _, name := range tableNames(t, s) {
			if !entTables[name] && !bookkeeping(name) {
				t.Errorf("table %q exists after migrating but not in the ent schema", name)
			}
		}
	})
}

func bookkeeping(table string) bool {
	return table == "goose_db_version" || table == "goose_lock" || strings.HasPrefix(table, "sqlite_")
}

func tableNames(t *testing.T, s *store.Store) []string {
	t.Helper()
	q := "SELECT table_name FROM information_schema.tables WHERE table_schema = DATABASE()"
	if s.Dialect == dialect.SQLite {
		q = "SELECT name FROM sqlite_master WHERE type = 'table'"
	}
	rows, err := s.DB.QueryContext(context.Background(), q)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		names = append(names, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return names
}

func TestMigrateTwiceIsNoop(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		before := schemaVersion(t, s)
		if err := s.Migrate(ctx); err != nil {
			t.Fatalf("second Migrate: %v", err)
		}
		if after := schemaVersion(t, s); after != before {
			t.Errorf("schema version changed from %d to %d", before, after)
		}
		if pending := pendingChanges(t, s); pending != "" {
			t.Errorf("changes pending after a second Migrate:\n%s", pending)
		}
	})
}

// schemaVersion is goose's version on MySQL and SQLite's schema cookie, which
// every DDL statement bumps.
func schemaVersion(t *testing.T, s *store.Store) int64 {
	t.Helper()
	q := "SELECT MAX(version_id) FROM goose_db_version"
	if s.Dialect == dialect.SQLite {
		q = "PRAGMA schema_version"
	}
	var v int64
	if err := s.DB.QueryRowContext(context.Background(), q).Scan(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestMySQLMigrateAppliesEveryFileOnce(t *testing.T) {
	databaseURL := storetest.CreateMySQLDatabase(t)
	ctx := context.Background()
	var logs bytes.Buffer
	s, err := store.Open(ctx, databaseURL, store.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	files, err := fs.Glob(store.MySQLMigrations(), "*.sql")
	if err != nil || len(files) == 0 {
		t.Fatalf("embedded migrations: %v %v", files, err)
	}
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	for _, f := range files {
		if !strings.Contains(logs.String(), f) {
			t.Errorf("migration %s was not reported as applied; log:\n%s", f, logs.String())
		}
	}
	latest, _, _ := strings.Cut(files[len(files)-1], "_")
	if got := strconv.FormatInt(schemaVersion(t, s), 10); got != latest {
		t.Errorf("goose version = %s, want %s", got, latest)
	}

	logs.Reset()
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	if strings.Contains(logs.String(), "applied migration") {
		t.Errorf("second Migrate applied something:\n%s", logs.String())
	}
	var applied int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM goose_db_version WHERE version_id > 0").Scan(&applied); err != nil {
		t.Fatal(err)
	}
	if applied != len(files) {
		t.Errorf("goose_db_version has %d applied migrations, want %d", applied, len(files))
	}
}

// Ent's global ids give each table its own 1<<32 id range; the migrations
// must start each table's counter there.
func TestGlobalIDRanges(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		checked := 0
		for _, tbl := range entmigrate.Tables {
			if tbl.Annotation == nil || tbl.Annotation.IncrementStart == nil || *tbl.Annotation.IncrementStart == 0 {
				continue
			}
			start := int64(*tbl.Annotation.IncrementStart)
			if next := nextID(t, s, tbl.Name); next < start || next > start+1 {
				t.Errorf("%s: next id %d, want %d", tbl.Name, next, start)
			}
			checked++
		}
		if checked == 0 {
			t.Fatal("no table has an increment start; is the globalid feature off?")
		}

		// And a real insert lands in the range.
		now := time.Now().UTC()
		res, err := s.DB.ExecContext(ctx, "INSERT INTO accounts (created_at, updated_at, name) VALUES (?, ?, ?)", now, now, "acme")
		if err != nil {
			t.Fatal(err)
		}
		account, _ := res.LastInsertId()
		res, err = s.DB.ExecContext(ctx, "INSERT INTO data_sets (created_at, updated_at, name, account_id) VALUES (?, ?, ?, ?)", now, now, "ds", account)
		if err != nil {
			t.Fatal(err)
		}
		id, _ := res.LastInsertId()
		if start := int64(17179869184); id < start || id >= start+1<<32 {
			t.Errorf("data set id %d outside [%d, %d)", id, start, start+1<<32)
		}
	})
}

var reAutoIncrement = regexp.MustCompile(`AUTO_INCREMENT=(\d+)`)

// nextID is the id the next insert into table would get (±1: SQLite stores
// the last id used, MySQL the next one).
func nextID(t *testing.T, s *store.Store, table string) int64 {
	t.Helper()
	ctx := context.Background()
	if s.Dialect == dialect.SQLite {
		var seq int64
		err := s.DB.QueryRowContext(ctx, "SELECT seq FROM sqlite_sequence WHERE name = ?", table).Scan(&seq)
		if errors.Is(err, sql.ErrNoRows) {
			return 1
		} else if err != nil {
			t.Fatal(err)
		}
		return seq + 1
	}
	// SHOW CREATE TABLE is exact; information_schema may serve cached statistics.
	var name, ddl string
	if err := s.DB.QueryRowContext(ctx, "SHOW CREATE TABLE `"+table+"`").Scan(&name, &ddl); err != nil {
		t.Fatal(err)
	}
	m := reAutoIncrement.FindStringSubmatch(ddl)
	if m == nil {
		return 1
	}
	v, _ := strconv.ParseInt(m[1], 10, 64)
	return v
}

// TestMigrationFilesIntact checks the files without a database: goose names
// and atlas.sum, which the generator's replay relies on.
func TestMigrationFilesIntact(t *testing.T) {
	dir, err := sqltool.NewGooseDir(store.MySQLMigrationsDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := migrate.Validate(dir); err != nil {
		t.Fatalf("%s does not match atlas.sum (%v); if a migration was edited on purpose, run\n"+
			"\tgo run ./internal/store/migrations/gen --rehash", store.MySQLMigrationsDir, err)
	}
	files, err := dir.Files()
	if err != nil {
		t.Fatal(err)
	}
	goose := regexp.MustCompile(`^\d{14}_[a-z0-9_]+\.sql$`)
	var versions []string
	for _, f := range files {
		if !goose.MatchString(f.Name()) {
			t.Errorf("%s: want <14-digit version>_<name>.sql", f.Name())
		}
		if _, err := f.Stmts(); err != nil {
			t.Errorf("%s: %v", f.Name(), err)
		}
		v, _, _ := strings.Cut(f.Name(), "_")
		versions = append(versions, v)
	}
	if len(slices.Compact(slices.Clone(versions))) != len(versions) {
		t.Errorf("duplicate migration versions: %v", versions)
	}
}

// The drift check above is only as good as its ability to see drift.
func TestPendingChangesSeesDrift(t *testing.T) {
	tests := []struct {
		name   string
		open   func(testing.TB) *store.Store
		tamper string
		want   string
	}{
		{"sqlite dropped column", storetest.SQLite, "ALTER TABLE users DROP COLUMN phone", "phone"},
		{"mysql dropped column", storetest.MySQL, "ALTER TABLE users DROP COLUMN phone", "phone"},
		{"mysql dropped index", storetest.MySQL, "DROP INDEX user_account_id_location ON users", "user_account_id_location"},
		{"mysql lost id range", storetest.MySQL, "ALTER TABLE data_sets AUTO_INCREMENT = 1", "AUTO_INCREMENT"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := tt.open(t)
			if _, err := s.DB.ExecContext(context.Background(), tt.tamper); err != nil {
				t.Fatal(err)
			}
			if pending := pendingChanges(t, s); !strings.Contains(pending, tt.want) {
				t.Errorf("after %q, pending changes do not mention %q:\n%s", tt.tamper, tt.want, pending)
			}
		})
	}
}

// Replicas starting together must not apply a migration twice.
func TestMySQLConcurrentMigrate(t *testing.T) {
	databaseURL := storetest.CreateMySQLDatabase(t)
	ctx := context.Background()
	const replicas = 3
	errs := make(chan error, replicas)
	for range replicas {
		s, err := store.Open(ctx, databaseURL, store.WithLogger(slog.New(slog.DiscardHandler)))
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		go func() { errs <- s.Migrate(ctx) }()
	}
	for range replicas {
		if err := <-errs; err != nil {
			t.Errorf("Migrate: %v", err)
		}
	}
}
