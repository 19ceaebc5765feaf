package app_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// statements counts the SQL statements the server runs while on is set.
type statements struct {
	mu    sync.Mutex
	on    bool
	count int
	log   []string
}

func (s *statements) driver(d dialect.Driver) dialect.Driver {
	return dialect.DebugWithContext(d, func(_ context.Context, v ...any) {
		msg := fmt.Sprint(v...)
		if !strings.Contains(msg, "Query: ") && !strings.Contains(msg, "Exec: ") {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.on {
			s.count++
			s.log = append(s.log, msg)
		}
	})
}

func (s *statements) measure(f func()) (int, []string) {
	s.mu.Lock()
	s.on, s.count, s.log = true, 0, nil
	s.mu.Unlock()
	f()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.on = false
	return s.count, s.log
}

// TestNestedListQueryCount checks that a nested page (users → groups → members)
// costs the same, small number of SQL statements however many rows it returns:
// edges are eager-loaded, never fetched per row.
func TestNestedListQueryCount(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		const query = `{ users(first: 100, orderBy: {field: USER_NAME}) { totalCount edges { node { userName
			groups { name users(first: 5) { totalCount edges { node { userName roles { name } } } } } } } } }`

		counts := map[int]int{}
		created := 0
		for _, size := range []int{3, 12} {
			for ; created < size; created++ {
				u := c.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test"}) { user { id } } }`,
					map[string]any{"n": fmt.Sprintf("user%02d", created)}).String("createUser.user.id")
				for g := 0; g < 3; g++ {
					name := fmt.Sprintf("group%d-%d", created%4, g)
					r := c.Do(`mutation($n: String!, $u: [ID!]) { createGroup(input: {name: $n, userIds: $u}) { group { id } } }`,
						map[string]any{"n": name, "u": []string{u}})
					if len(r.Errors) > 0 { // the group exists: add the member instead
						gid := c.Must(`query($n: String!) { groups(where: {name: $n}) { edges { node { id } } } }`, map[string]any{"n": name}).String("groups.edges.0.node.id")
						c.Must(`mutation($g: ID!, $u: [ID!]) { addGroupMembers(input: {groupId: $g, userIds: $u}) { group { id } } }`, map[string]any{"g": gid, "u": []string{u}})
					}
				}
			}
			var r *apptest.Response
			n, log := stmts.measure(func() { r = c.Must(query, nil) })
			if got := len(r.List("users.edges")); got != size+1 {
				t.Fatalf("users returned: %d, want %d", got, size+1)
			}
			if r.Int("users.edges.1.node.groups.0.users.totalCount") < 1 {
				t.Fatalf("nested members missing: %v", r.Get("users.edges.1.node"))
			}
			counts[size] = n
			if n > 10 {
				t.Errorf("%d users: %d statements, want at most 10:\n%s", size, n, strings.Join(log, "\n"))
			}
		}
		if counts[3] != counts[12] {
			t.Errorf("statement count grows with rows: %v", counts)
		}
	})
}
