package app_test

import (
	"context"
	"database/sql"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"entgo.io/ent/dialect"

	"latchkey/graph/relayid"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// statements counts the SQL statements, and apart from them the transactions, the
// server runs while on is set.
type statements struct {
	mu    sync.Mutex
	on    bool
	count int
	txs   int
	log   []string
}

func (s *statements) driver(d dialect.Driver) dialect.Driver {
	return dialect.DebugWithContext(d, func(_ context.Context, v ...any) {
		msg := fmt.Sprint(v...)
		begun := strings.Contains(msg, "): started")
		if !begun && !strings.Contains(msg, "Query: ") && !strings.Contains(msg, "Exec: ") {
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch {
		case !s.on:
		case begun:
			s.txs++
		default:
			s.count++
			s.log = append(s.log, msg)
		}
	})
}

func (s *statements) measure(f func()) (int, []string) {
	s.mu.Lock()
	s.on, s.count, s.txs, s.log = true, 0, 0, nil
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

// TestOperationQueryCounts: each operation the scale benchmark times costs the same
// number of SQL statements however many rows it answers with — more users holding a
// role, more grants behind a check, more checks in a batch, more users in a page or a
// selection, more SCIM resources in a list. Each size is measured on its first request
// after a change, so caches (keyed by the account revision) do not hide a query.
func TestOperationQueryCounts(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, boot := env.Bootstrap("acme", "admin@acme.test")
		ds := c.Must(`mutation { createDataSet(input: {name: "West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		role := c.Must(`mutation { createRole(input: {name: "Adjusting", rights: ["reports.view"]}) { role { id } } }`, nil).String("createRole.role.id")
		typ := c.Must(`mutation($r: ID!, $ds: ID!) { createUserType(input: {name: "Adjuster", roleIds: [$r], grants: [{dataSetId: $ds}]}) { userType { id } } }`,
			map[string]any{"r": role, "ds": ds}).String("createUserType.userType.id")
		var users []string
		grow := func(n int) {
			for len(users) < n {
				i := len(users)
				u := c.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test", department: "Claims"}) { user { id } } }`,
					map[string]any{"n": fmt.Sprintf("user%03d", i)}).String("createUser.user.id")
				c.Must(`mutation($u: ID!, $t: ID!) { linkUserType(input: {userId: $u, userTypeId: $t}) { user { id } } }`, map[string]any{"u": u, "t": typ})
				// The first user collects a direct grant per new user, so checks about
				// them weigh more at the larger size.
				c.Must(`mutation($k: String!) { createRight(input: {key: $k, name: $k, application: "Claims", kind: READ}) { right { id } } }`,
					map[string]any{"k": fmt.Sprintf("claims.r%03d", i)})
				users = append(users, u)
			}
			keys := make([]any, 0, n)
			for i := range n {
				keys = append(keys, map[string]any{"right": fmt.Sprintf("claims.r%03d", i)})
			}
			c.Must(`mutation($u: ID!, $g: [GrantInput!]!) { grantRights(input: {userId: $u, grants: $g}) { affectedCount } }`,
				map[string]any{"u": users[0], "g": keys})
		}
		checks := func(n int) []any {
			out := make([]any, n)
			for i := range out {
				out[i] = map[string]any{"right": fmt.Sprintf("claims.r%03d", i%len(users)), "dataSetId": ds}
			}
			return out
		}
		scimAuth := http.Header{"Authorization": {"Bearer " + boot.ScimToken}}
		for _, op := range []struct {
			name string
			run  func(n int) int // runs the operation at size n and returns how many rows it answered with
			// warm runs it once unmeasured first (SCIM records a token's last use at most
			// once a minute, and uses no cache).
			warm bool
		}{
			{"can", func(n int) int {
				c.Must(`query($u: ID!, $ds: ID!) { can(userId: $u, right: "claims.r000", dataSetId: $ds) }`, map[string]any{"u": users[0], "ds": ds})
				return n
			}, false},
			{"canBatch", func(n int) int {
				return len(c.Must(`query($u: ID!, $c: [CheckInput!]!) { canBatch(userId: $u, checks: $c) }`, map[string]any{"u": users[0], "c": checks(5 * n)}).List("canBatch"))
			}, false},
			{"effectiveRights", func(int) int {
				return len(c.Must(`query($u: ID!) { node(id: $u) { ... on User { effectiveRights { right { key } dataSet { name } sources { kind role { name } userType { name } group { name } grantedBy { userName } } } } } }`,
					map[string]any{"u": users[0]}).List("node.effectiveRights"))
			}, false},
			{"users withRole", func(int) int {
				return len(c.Must(`query($r: ID!) { users(first: 50, where: {withRole: $r}) { totalCount edges { node { userName } } } }`, map[string]any{"r": role}).List("users.edges"))
			}, false},
			{"whoCan", func(int) int {
				return len(c.Must(`query($ds: ID!) { whoCan(right: "reports.view", dataSetId: $ds, first: 50) { totalCount edges { node { userName } } } }`, map[string]any{"ds": ds}).List("whoCan.edges"))
			}, false},
			{"bulkSummary", func(int) int {
				return c.Must(`{ bulkSummary(selection: {where: {department: "Claims"}}) { count rights { right { key } effective } roles { role { name } } userTypes { userType { name } } } }`, nil).Int("bulkSummary.count")
			}, false},
			{"SCIM list", func(int) int {
				res, body := env.Get("/scim/v2/Users?count=50", scimAuth)
				if res.StatusCode != 200 {
					t.Fatalf("SCIM list: %d %s", res.StatusCode, body)
				}
				return strings.Count(string(body), `"userName"`)
			}, true},
		} {
			counts := map[int]int{}
			for _, size := range []int{3, 9} {
				grow(size)
				if op.warm {
					op.run(size)
				}
				var rows int
				counts[size], _ = stmts.measure(func() { rows = op.run(size) })
				if rows < size {
					t.Fatalf("%s at size %d answered %d rows", op.name, size, rows)
				}
			}
			if counts[3] != counts[9] {
				t.Errorf("%s: statements grow with rows: %v", op.name, counts)
			}
			if op.name == "can" || op.name == "canBatch" {
				// Asked again at the same revision, a check reads only the revision (a
				// plain QueryContext, which the statement log does not see).
				if n, log := stmts.measure(func() { op.run(9) }); n != 0 {
					t.Errorf("%s again: %d statements, want none but the revision:\n%s", op.name, n, strings.Join(log, "\n"))
				}
			}
		}
	})
}

// TestSCIMStatements: a SCIM read runs outside any transaction (on MySQL its BEGIN
// and COMMIT would be two more round trips): a lookup by userName is the token, the
// user and its groups. A write is one transaction.
func TestSCIMStatements(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		_, boot := env.Bootstrap("acme", "admin@acme.test")
		send := func(method, path, body string) (int, string) {
			req, err := http.NewRequest(method, env.Server.URL+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			req.Header.Set("Authorization", "Bearer "+boot.ScimToken)
			req.Header.Set("Content-Type", "application/scim+json")
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			b, _ := io.ReadAll(res.Body)
			return res.StatusCode, string(b)
		}
		const userSchema = `"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"]`
		// The token's first use is recorded (once a minute), in a transaction of its own.
		status, body := send(http.MethodGet, "/scim/v2/Users?count=1", "")
		if status != http.StatusOK {
			t.Fatalf("GET /Users: %d %s", status, body)
		}
		n, _ := stmts.measure(func() {
			status, body = send(http.MethodPost, "/scim/v2/Users", `{`+userSchema+`, "userName": "ann@acme.test"}`)
		})
		if status != http.StatusCreated {
			t.Fatalf("POST /Users: %d %s", status, body)
		}
		if stmts.txs != 1 || n == 0 {
			t.Errorf("POST /Users: %d transactions, %d statements; want one transaction", stmts.txs, n)
		}
		id := strings.Split(strings.Split(body, `"id":"`)[1], `"`)[0]
		if status, body = send(http.MethodPost, "/scim/v2/Groups", `{"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Claims", "members": [{"value": "`+id+`"}]}`); status != http.StatusCreated {
			t.Fatalf("POST /Groups: %d %s", status, body)
		}
		n, log := stmts.measure(func() {
			status, body = send(http.MethodGet, "/scim/v2/Users?filter="+url.QueryEscape(`userName eq "ANN@acme.test"`), "")
		})
		if status != http.StatusOK || !strings.Contains(body, `"totalResults":1`) || !strings.Contains(body, `"display":"Claims"`) {
			t.Fatalf("GET /Users by userName: %d %s", status, body)
		}
		// The token, then the user with its groups in one statement (scim/list.go).
		if stmts.txs != 0 || n != 2 {
			t.Errorf("GET /Users by userName: %d transactions and %d statements, want none and 2:\n%s", stmts.txs, n, strings.Join(log, "\n"))
		}
	})
}

// TestFirstPageCount: a first page asked for with its totalCount runs no COUNT
// statement (its ids carry COUNT(*) OVER () of the whole list), and the total is the
// same as a separate count gives — for a list longer than the page, an empty one, a
// page from the end, and a page after a cursor (which keeps the separate count).
func TestFirstPageCount(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		for i := range 7 {
			c.Must(`mutation($n: String!, $d: String!) { createUser(input: {userName: $n, email: "x@acme.test", department: $d}) { user { id } } }`,
				map[string]any{"n": fmt.Sprintf("user%d", i), "d": []string{"Claims", "Sales"}[i%2]})
		}
		const page = `totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { userName } }`
		for _, tt := range []struct {
			name, args   string
			total, edges int
			next, prev   bool
			separate     bool // counted by a statement of its own
		}{
			{name: "first page", args: `first: 3, where: {department: "Claims"}`, total: 4, edges: 3, next: true},
			{name: "whole list", args: `first: 10, where: {department: "Claims"}`, total: 4, edges: 4},
			{name: "empty", args: `first: 3, where: {department: "Nobody"}`, total: 0, edges: 0},
			{name: "from the end", args: `last: 2, where: {department: "Sales"}`, total: 3, edges: 2, prev: true},
			{name: "all users", args: `first: 2`, total: 8, edges: 2, next: true},
		} {
			t.Run(tt.name, func(t *testing.T) {
				var r *apptest.Response
				_, log := stmts.measure(func() { r = c.Must(`{ users(`+tt.args+`) { `+page+` } }`, nil) })
				if r.Int("users.totalCount") != tt.total || len(r.List("users.edges")) != tt.edges ||
					r.Get("users.pageInfo.hasNextPage") != tt.next || r.Get("users.pageInfo.hasPreviousPage") != tt.prev {
					t.Errorf("users(%s): %v", tt.args, r.Get("users"))
				}
				if counts, windows := countStatements(log); counts != 0 || windows != 1 {
					t.Errorf("users(%s): %d COUNT statements and %d statements with the total in their rows, want 0 and 1:\n%s",
						tt.args, counts, windows, strings.Join(log, "\n"))
				}
				if tt.edges == 0 || !tt.next {
					return
				}
				// The next page counts separately, and agrees.
				cursor := r.String("users.pageInfo.endCursor")
				_, log = stmts.measure(func() {
					r = c.Must(`query($a: Cursor) { users(`+tt.args+`, after: $a) { `+page+` } }`, map[string]any{"a": cursor})
				})
				if r.Int("users.totalCount") != tt.total || len(r.List("users.edges")) != min(tt.total-tt.edges, tt.edges) {
					t.Errorf("users(%s) after the first page: %v", tt.args, r.Get("users"))
				}
				if counts, windows := countStatements(log); counts != 1 || windows != 0 {
					t.Errorf("a page after a cursor: %d COUNT statements, %d with the total in its rows; want 1 and 0", counts, windows)
				}
			})
		}
	})
}

// countStatements counts, among logged statements, the separate COUNT queries and
// the row queries that carry the total in a window.
func countStatements(log []string) (counts, windows int) {
	for _, s := range log {
		switch {
		case strings.Contains(s, "OVER ()"):
			windows++
		case strings.Contains(s, "SELECT COUNT("):
			counts++
		}
	}
	return counts, windows
}

// TestUserNameFilterPlan: the statement behind users(where: {userName: …}) can be
// answered from an index on both stores (it scanned every user: the unique index
// holds the folded name, and the filter compares the name as written).
func TestUserNameFilterPlan(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		var r *apptest.Response
		_, log := stmts.measure(func() {
			r = c.Must(`{ users(first: 2, where: {userName: "admin@acme.test"}) { totalCount edges { node { id } } } }`, nil)
		})
		if r.Int("users.totalCount") != 1 {
			t.Fatalf("users by userName: %v", r.Get("users"))
		}
		query, args := loggedStatement(t, log, "`users`.`user_name` = ?")
		const index = "user_account_id_user_name"
		if st.Dialect == dialect.SQLite {
			plan := strings.Join(column(t, st.DB, 3, "EXPLAIN QUERY PLAN "+query, args...), "; ")
			if !strings.Contains(plan, "INDEX "+index+" ") {
				t.Errorf("the filter's plan does not use %s: %s\n%s", index, plan, query)
			}
			return
		}
		// possible_keys: MySQL may still prefer a scan of a table this small.
		if keys := strings.Join(column(t, st.DB, 4, "EXPLAIN "+query, args...), "; "); !strings.Contains(keys, index) {
			t.Errorf("the filter cannot use %s (possible keys: %s)\n%s", index, keys, query)
		}
	})
}

// loggedStatement finds the logged statement containing part and returns its SQL
// and arguments (as text; none of them holds a space).
func loggedStatement(t *testing.T, log []string, part string) (string, []any) {
	t.Helper()
	for _, line := range log {
		if !strings.Contains(line, part) {
			continue
		}
		_, rest, _ := strings.Cut(line, "query=")
		query, list, _ := strings.Cut(rest, " args=[")
		var args []any
		for _, a := range strings.Fields(strings.TrimSuffix(list, "]")) {
			args = append(args, a)
		}
		return query, args
	}
	t.Fatalf("no statement with %q among:\n%s", part, strings.Join(log, "\n"))
	return "", nil
}

// column reads column i of every row query returns, as text.
func column(t *testing.T, db *sql.DB, i int, query string, args ...any) []string {
	t.Helper()
	rows, err := db.Query(query, args...)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for rows.Next() {
		vals := make([]sql.NullString, len(cols))
		ptrs := make([]any, len(cols))
		for j := range vals {
			ptrs[j] = &vals[j]
		}
		if err := rows.Scan(ptrs...); err != nil {
			t.Fatal(err)
		}
		out = append(out, vals[i].String)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// TestNodesQueryCount checks that nodes(ids) costs the same statements however many
// of its ids it resolves, rights copied from roles (ids of their own) and stored
// records alike, and that each resolves at its place.
func TestNodesQueryCount(t *testing.T) {
	var stmts statements
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		role := c.Must(`mutation { createRole(input: {name: "Viewing", rights: ["reports.view", "audit.view"]}) { role { id } } }`, nil).String("createRole.role.id")
		var users []string
		// ids lists, for each of the first n users, the user and the rights copied to
		// them from the role, with what each id must resolve to.
		ids := func(n int) (ids, want []string) {
			for len(users) < n {
				u := c.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test"}) { user { id } } }`,
					map[string]any{"n": fmt.Sprintf("user%03d", len(users))}).String("createUser.user.id")
				c.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": u, "r": role})
				users = append(users, u)
			}
			for _, u := range users[:n] {
				r := c.Must(`query($u: ID!) { node(id: $u) { ... on User { userName grants { id source right { key } } } } }`, map[string]any{"u": u})
				ids, want = append(ids, u), append(want, r.String("node.userName"))
				for _, g := range r.List("node.grants") {
					g := g.(map[string]any)
					if id, err := relayid.Decode(g["id"].(string)); err != nil || id >= 0 || g["source"] != "ROLE" {
						t.Fatalf("%s's grant %v is not a copied right", r.String("node.userName"), g)
					}
					ids, want = append(ids, g["id"].(string)), append(want, g["right"].(map[string]any)["key"].(string)+" of "+r.String("node.userName"))
				}
			}
			return ids, want
		}
		const query = `query($ids: [ID!]!) { nodes(ids: $ids) { id ... on User { userName } ... on UserGrant { right { key } user { userName } } } }`
		counts := map[int]int{}
		for _, size := range []int{3, 9} {
			ids, want := ids(size)
			if len(ids) != 3*size {
				t.Fatalf("size %d: %d ids, want the user and two copied rights each", size, len(ids))
			}
			var r *apptest.Response
			counts[size], _ = stmts.measure(func() { r = c.Must(query, map[string]any{"ids": ids}) })
			got := r.List("nodes")
			if len(got) != len(ids) {
				t.Fatalf("nodes: %d answers for %d ids", len(got), len(ids))
			}
			for i, n := range got {
				n, _ := n.(map[string]any)
				var is string
				if name, ok := n["userName"].(string); ok {
					is = name
				} else if right, ok := n["right"].(map[string]any); ok {
					is = right["key"].(string) + " of " + n["user"].(map[string]any)["userName"].(string)
				}
				if n == nil || n["id"] != ids[i] || is != want[i] {
					t.Errorf("nodes[%d] = %v, want %s", i, n, want[i])
				}
			}
		}
		if counts[3] != counts[9] {
			t.Errorf("nodes: statements grow with the ids: %v", counts)
		}
	})
}
