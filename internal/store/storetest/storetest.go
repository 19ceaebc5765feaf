// Package storetest gives tests fresh, migrated stores: an SQLite file always,
// and a MySQL/MariaDB database when LATCHKEY_TEST_MYSQL_DSN names a server.
package storetest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"latchkey/internal/store"
)

// MySQLEnv names the server URL for MySQL tests, e.g. mysql://root@127.0.0.1:3306/.
const MySQLEnv = "LATCHKEY_TEST_MYSQL_DSN"

// Each runs fn as subtest "sqlite" and as subtest "mysql", each on its own
// fresh, migrated store. The mysql subtest is skipped unless MySQLEnv is set.
func Each(t *testing.T, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	EachWith(t, nil, fn)
}

// EachWith is Each with options passed to store.Open, e.g. store.WithDriver to
// count statements. Migrations do not pass through a WithDriver wrapper.
func EachWith(t *testing.T, opts []store.Option, fn func(t *testing.T, s *store.Store)) {
	t.Helper()
	t.Run("sqlite", func(t *testing.T) { fn(t, SQLiteWith(t, opts...)) })
	t.Run("mysql", func(t *testing.T) { fn(t, MySQLWith(t, opts...)) })
}

// SQLite returns a fresh, migrated store on an SQLite file in t.TempDir().
func SQLite(t testing.TB) *store.Store {
	t.Helper()
	return SQLiteWith(t)
}

// SQLiteWith is SQLite with options passed to store.Open.
func SQLiteWith(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	path := filepath.Join(t.TempDir(), "latchkey.db")
	return open(t, "sqlite://"+filepath.ToSlash(path), opts)
}

// MySQL returns a store on a freshly created and migrated database on the
// server named by MySQLEnv, dropped when the test ends; it skips the test when
// MySQLEnv is unset.
func MySQL(t testing.TB) *store.Store {
	t.Helper()
	return MySQLWith(t)
}

// MySQLWith is MySQL with options passed to store.Open.
func MySQLWith(t testing.TB, opts ...store.Option) *store.Store {
	t.Helper()
	return open(t, CreateMySQLDatabase(t), opts)
}

// CreateMySQLDatabase creates an empty database lk_test_<random> on the server
// named by MySQLEnv, drops it when the test ends and returns its URL. It skips
// the test when MySQLEnv is unset. Use it to test migrations themselves.
func CreateMySQLDatabase(t testing.TB) string {
	t.Helper()
	server := os.Getenv(MySQLEnv)
	if server == "" {
		t.Skipf("MySQL tests are skipped because %s is not set (e.g. %s=mysql://root@127.0.0.1:3306/)", MySQLEnv, MySQLEnv)
	}
	u, err := url.Parse(server)
	if err != nil || u.Scheme != "mysql" {
		t.Fatalf("%s must be a mysql:// server URL, got %q", MySQLEnv, server)
	}
	u.Path = "/"
	cfg, err := store.ParseURL(u.String())
	if err != nil {
		t.Fatalf("%s: %v", MySQLEnv, err)
	}
	admin, err := sql.Open(cfg.Driver, cfg.DSN)
	if err != nil {
		t.Fatal(err)
	}
	name := "lk_test_" + strings.ToLower(rand.Text()[:16])
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := admin.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		admin.Close()
		t.Fatalf("creating test database: %v", err)
	}
	// Registered before the store's Close (cleanups run last-in first-out),
	// so the database is dropped after every connection to it is closed.
	t.Cleanup(func() {
		defer admin.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if _, err := admin.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`"); err != nil {
			t.Errorf("dropping test database %s: %v", name, err)
		}
	})
	u.Path = "/" + name
	return u.String()
}

func open(t testing.TB, databaseURL string, opts []store.Option) *store.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	// Quiet by default; a caller's WithLogger comes later and wins.
	opts = append([]store.Option{store.WithLogger(slog.New(slog.DiscardHandler))}, opts...)
	s, err := store.Open(ctx, databaseURL, opts...)
	if err != nil {
		t.Fatalf("opening store: %v", err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("closing store: %v", err)
		}
	})
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrating %s store: %v", s.Dialect, err)
	}
	return s
}
