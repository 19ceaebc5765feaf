package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"latchkey/ent"
	"latchkey/internal/store"
)

// openQueueStore opens an unmigrated SQLite store whose busy handler waits at most
// busyMs, with a table q to write to.
func openQueueStore(t *testing.T, busyMs string) *store.Store {
	t.Helper()
	path := filepath.ToSlash(filepath.Join(t.TempDir(), "q.db"))
	s, err := store.Open(context.Background(), "sqlite://"+path+"?_pragma=busy_timeout("+busyMs+")")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Client.Close() })
	if _, err := s.DB.Exec("CREATE TABLE q (n INTEGER)"); err != nil {
		t.Fatal(err)
	}
	return s
}

// A busy handler polls, so without turns a writer waiting for the lock starves
// while the others keep beginning again as soon as they commit, and fails after the
// busy timeout of 50 ms; with turns it waits in line and then finds the lock free.
func TestSQLiteWritersTakeTurns(t *testing.T) {
	s := openQueueStore(t, "50")
	ctx := context.Background()
	const writers, perWriter = 4, 40
	runWriters(t, writers, perWriter, func(w, i int) error {
		tx, err := s.Client.Tx(ctx)
		if err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, "INSERT INTO q (n) VALUES (?)", w*perWriter+i); err != nil {
			return errors.Join(err, tx.Rollback())
		}
		time.Sleep(5 * time.Millisecond) // a transaction that takes a while
		return tx.Commit()
	})
	var n int
	if err := s.DB.QueryRow("SELECT count(*) FROM q").Scan(&n); err != nil || n != writers*perWriter {
		t.Errorf("rows = %d (%v), want %d", n, err, writers*perWriter)
	}
}

// TestWriteTurns checks how a write transaction's turn ends, and that readers do
// not wait for one.
func TestWriteTurns(t *testing.T) {
	const settle = 100 * time.Millisecond // long enough for a waiting writer to have begun, were it free to
	tests := []struct {
		name string
		end  func(t *testing.T, tx *ent.Tx, cancel context.CancelFunc) // ends the first writer's turn
	}{
		{"commit", func(t *testing.T, tx *ent.Tx, _ context.CancelFunc) {
			if err := tx.Commit(); err != nil {
				t.Fatal(err)
			}
		}},
		{"rollback", func(t *testing.T, tx *ent.Tx, _ context.CancelFunc) {
			if err := tx.Rollback(); err != nil {
				t.Fatal(err)
			}
		}},
		{"its context ends", func(t *testing.T, _ *ent.Tx, cancel context.CancelFunc) { cancel() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := openQueueStore(t, "10000")
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			first, err := s.Client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			ro, err := s.Client.BeginTx(context.Background(), &sql.TxOptions{ReadOnly: true})
			if err != nil {
				t.Fatalf("a read-only transaction beside a writer: %v", err)
			}
			_ = ro.Rollback()
			// Writers queued behind the first get their turns in the order they asked.
			var mu sync.Mutex
			var order []int
			var wg sync.WaitGroup
			for i := 1; i <= 3; i++ {
				wg.Go(func() {
					tx, err := s.Client.Tx(context.Background())
					if err != nil {
						t.Error(err)
						return
					}
					mu.Lock()
					order = append(order, i)
					mu.Unlock()
					_ = tx.Rollback()
				})
				time.Sleep(settle)
			}
			mu.Lock()
			if len(order) != 0 {
				t.Fatalf("writers %v began while the first held its turn", order)
			}
			mu.Unlock()
			tc.end(t, first, cancel)
			wg.Wait()
			if want := []int{1, 2, 3}; len(order) != 3 || order[0] != 1 || order[1] != 2 || order[2] != 3 {
				t.Errorf("turns taken in order %v, want %v", order, want)
			}
		})
	}
}
