package store

import (
	"context"
	"database/sql"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
)

// openCachingConn opens a SQLite store with a table t of the numbers 1…5 and
// returns one of its connections, and that connection's statement cache.
func openCachingConn(t *testing.T) (*sql.Conn, *stmtCachingConn) {
	t.Helper()
	ctx := context.Background()
	s, err := Open(ctx, "sqlite://"+filepath.ToSlash(filepath.Join(t.TempDir(), "c.db")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Client.Close() })
	if _, err := s.DB.Exec("CREATE TABLE t (n INTEGER); INSERT INTO t VALUES (1), (2), (3), (4), (5)"); err != nil {
		t.Fatal(err)
	}
	conn, err := s.DB.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	var cc *stmtCachingConn
	if err := conn.Raw(func(dc any) error {
		var ok bool
		cc, ok = dc.(*stmtCachingConn)
		if !ok {
			return fmt.Errorf("the connection is a %T, not a statement-caching one", dc)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return conn, cc
}

func numbers(t *testing.T, rows *sql.Rows) []int {
	t.Helper()
	var out []int
	for rows.Next() {
		var n int
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

const above = "SELECT n FROM t WHERE n > ? ORDER BY n"

// A statement is prepared once and used again, with other arguments.
func TestStmtCacheReuses(t *testing.T) {
	ctx := context.Background()
	conn, cc := openCachingConn(t)
	var first *cachedStmt
	for i, want := range []string{"[2 3 4 5]", "[4 5]", "[]"} {
		rows, err := conn.QueryContext(ctx, above, []int{1, 3, 5}[i])
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(numbers(t, rows)); got != want {
			t.Errorf("run %d: %s, want %s", i, got, want)
		}
		s, ok := cc.stmts.Peek(above)
		switch {
		case !ok:
			t.Fatalf("run %d: the statement is not kept", i)
		case first == nil:
			first = s
		case s != first:
			t.Errorf("run %d: the statement was prepared again", i)
		}
		if s.busy {
			t.Errorf("run %d: the statement is still busy after its rows closed", i)
		}
	}
	if _, err := conn.ExecContext(ctx, "UPDATE t SET n = n WHERE n = ?", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(ctx, "UPDATE t SET n = n WHERE n = ?", 2); err != nil {
		t.Fatal(err)
	}
	if cc.stmts.Len() != 2 {
		t.Errorf("%d statements kept, want 2 (a script without arguments is not): %v", cc.stmts.Len(), cc.stmts.Keys())
	}
	long := "SELECT n FROM t WHERE n IN (" + strings.Repeat("0, ", maxCachedQuery/3) + "?)"
	rows, err := conn.QueryContext(ctx, long, 1)
	if err != nil {
		t.Fatal(err)
	}
	if got := numbers(t, rows); len(got) != 1 {
		t.Errorf("the long query read %v", got)
	}
	if cc.stmts.Contains(long) {
		t.Error("a statement longer than maxCachedQuery is kept")
	}
}

// The same text run again while rows from its statement are open gets a statement
// of its own: both read all their rows, interleaved.
func TestStmtCacheSameQueryWhileReading(t *testing.T) {
	ctx := context.Background()
	conn, cc := openCachingConn(t)
	outer, err := conn.QueryContext(ctx, above, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer outer.Close()
	var got []string
	for outer.Next() {
		var n int
		if err := outer.Scan(&n); err != nil {
			t.Fatal(err)
		}
		inner, err := conn.QueryContext(ctx, above, n)
		if err != nil {
			t.Fatalf("the same query while its statement reads: %v", err)
		}
		got = append(got, fmt.Sprint(n, numbers(t, inner)))
		if s, _ := cc.stmts.Peek(above); s == nil || !s.busy {
			t.Error("the outer rows' statement is not busy while they are open")
		}
	}
	if err := outer.Err(); err != nil {
		t.Fatal(err)
	}
	if want := "[1 [2 3 4 5] 2 [3 4 5] 3 [4 5] 4 [5] 5 []]"; fmt.Sprint(got) != want {
		t.Errorf("interleaved reads: %v, want %s", got, want)
	}
}

// A statement pushed out of the cache while its rows are open closes when they
// close, and they read to the end.
func TestStmtCacheEvictedWhileReading(t *testing.T) {
	ctx := context.Background()
	conn, cc := openCachingConn(t)
	rows, err := conn.QueryContext(ctx, above, 0)
	if err != nil {
		t.Fatal(err)
	}
	s, _ := cc.stmts.Peek(above)
	for i := range stmtCacheSize {
		var n int
		if err := conn.QueryRowContext(ctx, fmt.Sprintf("SELECT ? + %d", i), 1).Scan(&n); err != nil {
			t.Fatal(err)
		}
	}
	if cc.stmts.Contains(above) || !s.evicted {
		t.Fatal("the open rows' statement was not pushed out")
	}
	if got := fmt.Sprint(numbers(t, rows)); got != "[1 2 3 4 5]" {
		t.Errorf("rows of an evicted statement: %s", got)
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	if s.busy {
		t.Error("the evicted statement is still busy")
	}
	// The closed statement is out of the cache, so the next run prepares anew.
	rows, err = conn.QueryContext(ctx, above, 4)
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(numbers(t, rows)); got != "[5]" {
		t.Errorf("after eviction: %s", got)
	}
}
