package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"entgo.io/ent/dialect"

	"latchkey/ent/privacy"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

func TestOpenDefaultCreatesDataDir(t *testing.T) {
	t.Chdir(t.TempDir())
	ctx := context.Background()
	s, err := store.Open(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Dialect != dialect.SQLite {
		t.Errorf("Dialect = %q, want %q", s.Dialect, dialect.SQLite)
	}
	if _, err := os.Stat(filepath.Join("data", "latchkey.db")); err != nil {
		t.Errorf("default database file: %v", err)
	}
	if err := s.Ping(ctx); err != nil {
		t.Errorf("Ping: %v", err)
	}
}

func TestOpenRejects(t *testing.T) {
	tests := []struct {
		name, url, want string
	}{
		{"bad scheme", "postgres://db/latchkey", "accepted forms"},
		{"mysql without database", "mysql://root@127.0.0.1:3306/", "names no database"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := store.Open(context.Background(), tt.url)
			if err == nil {
				s.Close()
				t.Fatalf("Open(%q) succeeded", tt.url)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Open(%q) = %v, want an error containing %q", tt.url, err, tt.want)
			}
		})
	}
}

// Pragmas are per connection, so check two connections held at once.
func TestSQLitePragmas(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	want := []struct{ pragma, value string }{
		{"foreign_keys", "1"},
		{"journal_mode", "wal"},
		{"busy_timeout", "10000"},
		{"synchronous", "1"}, // NORMAL
		{"cache_size", "-8192"},
	}
	for i := range 2 {
		conn, err := s.DB.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for _, w := range want {
			var got string
			if err := conn.QueryRowContext(ctx, "PRAGMA "+w.pragma).Scan(&got); err != nil {
				t.Fatalf("PRAGMA %s: %v", w.pragma, err)
			}
			if got != w.value {
				t.Errorf("connection %d: PRAGMA %s = %q, want %q", i, w.pragma, got, w.value)
			}
		}
	}
}

func TestForeignKeysEnforced(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		now := time.Now().UTC()
		_, err := s.DB.ExecContext(context.Background(),
			"INSERT INTO data_sets (created_at, updated_at, name, account_id) VALUES (?, ?, ?, ?)",
			now, now, "orphan", 12345)
		if err == nil {
			t.Fatal("inserting a data set of a missing account succeeded")
		}
	})
}

// With _txlock=immediate a transaction that reads and then writes takes the
// write lock up front, so concurrent ones wait on busy_timeout instead of
// failing with SQLITE_BUSY when they upgrade.
func TestSQLiteConcurrentWriters(t *testing.T) {
	s := storetest.SQLite(t)
	ctx := context.Background()
	const writers, perWriter = 8, 15
	runWriters(t, writers, perWriter, func(w, i int) error {
		return readThenWrite(ctx, s, fmt.Sprintf("acct-%d-%d", w, i))
	})
	var n int
	if err := s.DB.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != writers*perWriter {
		t.Errorf("accounts = %d, want %d", n, writers*perWriter)
	}
}

// runWriters runs write(w, i) perWriter times in each of writers goroutines, and
// fails the test with each writer's first error.
func runWriters(t *testing.T, writers, perWriter int, write func(w, i int) error) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			for i := range perWriter {
				if err := write(w, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func readThenWrite(ctx context.Context, s *store.Store, name string) error {
	tx, err := s.DB.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	var n int
	if err := tx.QueryRowContext(ctx, "SELECT count(*) FROM accounts").Scan(&n); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	now := time.Now().UTC()
	if _, err := tx.ExecContext(ctx, "INSERT INTO accounts (created_at, updated_at, name) VALUES (?, ?, ?)", now, now, name); err != nil {
		return errors.Join(err, tx.Rollback())
	}
	return tx.Commit()
}

// countingDriver counts the statements the ent client sends.
type countingDriver struct {
	dialect.Driver
	n *atomic.Int64
}

func (d countingDriver) Exec(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Exec(ctx, query, args, v)
}

func (d countingDriver) Query(ctx context.Context, query string, args, v any) error {
	d.n.Add(1)
	return d.Driver.Query(ctx, query, args, v)
}

func TestWithDriverSeesClientStatements(t *testing.T) {
	var n atomic.Int64
	wrap := store.WithDriver(func(d dialect.Driver) dialect.Driver { return countingDriver{d, &n} })
	storetest.EachWith(t, []store.Option{wrap}, func(t *testing.T, s *store.Store) {
		n.Store(0) // migrations bypass the wrapper, but be explicit about the baseline
		ctx := privacy.DecisionContext(context.Background(), privacy.Allow)
		if _, err := s.Client.Account.Query().Count(ctx); err != nil {
			t.Fatal(err)
		}
		if got := n.Load(); got != 1 {
			t.Errorf("counted %d statements, want 1", got)
		}
	})
}

func TestPingAfterClose(t *testing.T) {
	storetest.Each(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		if err := s.Ping(ctx); err != nil {
			t.Fatalf("Ping: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Ping(ctx); err == nil {
			t.Error("Ping after Close succeeded")
		}
	})
}
