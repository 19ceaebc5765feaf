package app_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"latchkey/graph"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestLimits checks page-size, depth and complexity limits, automatic persisted
// queries and introspection under tight limits.
func TestLimits(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		limits := graph.Limits{MaxPageSize: 3, MaxComplexity: 2000, MaxDepth: 6}
		env := apptest.New(t, st, app.Config{Limits: limits})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		var ids []string
		for _, n := range []string{"ann", "bob", "cat", "dan", "eve"} {
			ids = append(ids, c.Must(`mutation($n: String!, $e: String!) { createUser(input: {userName: $n, email: $e}) { user { id } } }`,
				map[string]any{"n": n, "e": n + "@acme.test"}).String("createUser.user.id"))
		}
		c.Must(`mutation($u: [ID!]) { createGroup(input: {name: "Everyone", userIds: $u}) { group { id } } }`, map[string]any{"u": ids})
		for i := range 4 {
			c.Must(`mutation($n: String!) { createGroup(input: {name: $n}) { group { id } } }`, map[string]any{"n": fmt.Sprintf("Group %d", i)})
		}
		const users = 6 // the Admin and five more

		t.Run("page size", func(t *testing.T) {
			pages := []struct {
				name, query string
				vars        map[string]any
				total       string // path of totalCount
				edges       string // path of the edges
				want        int
				count       int // 0: every user
			}{
				{"root without first or last", `{ users { totalCount pageInfo { hasNextPage } edges { node { id } } } }`, nil, "users.totalCount", "users.edges", 3, 0},
				{"root first 3", `{ users(first: 3) { totalCount edges { node { id } } } }`, nil, "users.totalCount", "users.edges", 3, 0},
				{"root last 2", `{ users(last: 2) { totalCount edges { node { id } } } }`, nil, "users.totalCount", "users.edges", 2, 0},
				{"root first 0", `{ users(first: 0) { totalCount edges { node { id } } } }`, nil, "users.totalCount", "users.edges", 0, 0},
				{"nested without first or last", `{ groups(where: {name: "Everyone"}) { edges { node { users { totalCount edges { cursor } } } } } }`, nil,
					"groups.edges.0.node.users.totalCount", "groups.edges.0.node.users.edges", 3, users - 1},
				{"first by variable", `query($n: Int) { users(first: $n) { totalCount edges { node { id } } } }`, map[string]any{"n": 2}, "users.totalCount", "users.edges", 2, 0},
			}
			for _, p := range pages {
				r := c.Do(p.query, p.vars)
				if len(r.Errors) > 0 {
					t.Errorf("%s: errors %v", p.name, r.Errors)
					continue
				}
				total := users
				if p.count != 0 {
					total = p.count
				}
				if got := len(r.List(p.edges)); got != p.want || r.Int(p.total) != total {
					t.Errorf("%s: %d nodes, totalCount %d; want %d nodes of %d (MaxPageSize %d caps a connection asked for without first or last)", p.name, got, r.Int(p.total), p.want, total, limits.MaxPageSize)
				}
			}
			if r := c.Must(`{ users { pageInfo { hasNextPage } } }`, nil); r.Get("users.pageInfo.hasNextPage") != true {
				t.Errorf("a page capped at MaxPageSize must say hasNextPage: %v", r.Data)
			}

			tooBig := []struct {
				name, query, field string
				vars               map[string]any
			}{
				{"first 4", `{ users(first: 4) { totalCount } }`, "first", nil},
				{"last 4", `{ users(last: 4) { totalCount } }`, "last", nil},
				{"first 4 by variable", `query($n: Int) { users(first: $n) { totalCount } }`, "first", map[string]any{"n": 4}},
				{"first negative", `{ users(first: -1) { totalCount } }`, "first", nil},
				{"nested first 4", `{ groups { edges { node { users(first: 4) { totalCount } } } } }`, "first", nil},
			}
			for _, tb := range tooBig {
				e := c.Fail(tb.query, tb.vars)
				if e.Code() != "BAD_USER_INPUT" || e.Field() != tb.field {
					t.Errorf("%s: %s field %q (%q), want BAD_USER_INPUT naming %q", tb.name, e.Code(), e.Field(), e.Message, tb.field)
				}
			}
		})

		t.Run("depth", func(t *testing.T) {
			// users(1) edges(2) node(3) manager(4) manager(5) id(6).
			ok := `{ users { edges { node { manager { manager { id } } } } } }`
			deep := `{ users { edges { node { manager { manager { manager { id } } } } } } }`
			viaFragment := `query { users { edges { node { ...M } } } } fragment M on User { manager { manager { manager { id } } } }`
			viaInline := `query { node(id: "bGs6MQ") { ... on User { groups { users { edges { node { manager { id } } } } } } } }`
			c.Must(ok, nil)
			for name, q := range map[string]string{"seven levels": deep, "through a fragment": viaFragment, "through an inline fragment": viaInline} {
				r := c.Do(q, nil)
				if len(r.Errors) == 0 || r.Data != nil {
					t.Errorf("%s: a query deeper than MaxDepth %d was served: %v", name, limits.MaxDepth, r.Data)
					continue
				}
				if !strings.Contains(r.Errors[0].Message, "deep") {
					t.Errorf("%s: error %q does not say the query is too deep", name, r.Errors[0].Message)
				}
				checkNoSQL(t, name, r.Errors)
			}
		})

		t.Run("complexity", func(t *testing.T) {
			// groups(first: P) { edges { node { u0: users(first: P) { totalCount } ... } } }
			// costs 1 + P*(2 + K*(1+P)) per root alias when a connection costs its
			// children times its page size: 127 for P=3, K=10; 20 aliases cost 2540.
			// The same query counted without page sizes costs 23 per alias (460).
			build := func(args string, roots, inner int) string {
				var b strings.Builder
				b.WriteString("{")
				for g := range roots {
					fmt.Fprintf(&b, " g%d: groups%s { edges { node {", g, args)
					for u := range inner {
						fmt.Fprintf(&b, " u%d: users%s { totalCount }", u, args)
					}
					b.WriteString(" } } }")
				}
				b.WriteString(" }")
				return b.String()
			}
			queries := []struct {
				name  string
				query string
				fail  bool
				why   string
			}{
				{"first 1 (cost 460)", build("(first: 1)", 20, 10), false, ""},
				{"first 3 (cost 2540)", build("(first: 3)", 20, 10), true, "a connection must cost its children times first"},
				{"last 3 (cost 2540)", build("(last: 3)", 20, 10), true, "a connection paged with last must cost its children times last, as with first"},
				{"no first or last (cost 2540)", build("", 20, 10), true, "a connection without first or last gets a page of MaxPageSize, so it must cost its children times MaxPageSize"},
				{"first 3, fewer aliases (cost 1270)", build("(first: 3)", 10, 10), false, ""},
			}
			for _, q := range queries {
				r := c.Do(q.query, nil)
				switch {
				case q.fail && len(r.Errors) == 0:
					t.Errorf("%s: served a query over MaxComplexity %d: %s", q.name, limits.MaxComplexity, q.why)
				case q.fail && (r.Data != nil || !strings.Contains(strings.ToLower(r.Errors[0].Message), "complex")):
					t.Errorf("%s: refused with %v, data %v; want an error saying the query is too complex", q.name, r.Errors, r.Data)
				case !q.fail && len(r.Errors) > 0:
					t.Errorf("%s: refused a query under MaxComplexity %d: %v", q.name, limits.MaxComplexity, r.Errors)
				}
			}
		})

		t.Run("persisted queries", func(t *testing.T) {
			query := `query Persisted { users(orderBy: {field: USER_NAME}) { totalCount edges { node { userName } } } }`
			sum := sha256.Sum256([]byte(query))
			ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}

			r := c.Post(map[string]any{"extensions": ext}, nil)
			if len(r.Errors) != 1 || r.Errors[0].Message != "PersistedQueryNotFound" || r.Data != nil {
				t.Fatalf("hash of an unknown query: %d %s, want the error PersistedQueryNotFound", r.Status, r.Raw)
			}
			if code := r.Errors[0].Code(); code != "PERSISTED_QUERY_NOT_FOUND" {
				t.Errorf("PersistedQueryNotFound has code %q, want PERSISTED_QUERY_NOT_FOUND (what APQ clients look for)", code)
			}
			check := func(what string, r *apptest.Response) {
				t.Helper()
				if len(r.Errors) > 0 || r.Int("users.totalCount") != users || r.String("users.edges.0.node.userName") != "admin@acme.test" {
					t.Errorf("%s: %d %s", what, r.Status, r.Raw)
				}
			}
			check("query with its hash", c.Post(map[string]any{"query": query, "extensions": ext}, nil))
			check("hash only", c.Post(map[string]any{"extensions": ext}, nil))
			check("hash only, again", c.Post(map[string]any{"extensions": ext, "operationName": "Persisted"}, nil))

			// The GET transport serves a registered hash too (CDN-friendly APQ).
			raw, _ := json.Marshal(ext)
			resp, body := env.Get("/query?extensions="+url.QueryEscape(string(raw)), http.Header{"Authorization": {"Bearer " + c.Token}})
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"totalCount":6`) {
				t.Errorf("GET with hash only: %d %s", resp.StatusCode, body)
			}

			bad := c.Post(map[string]any{"query": `{ users { totalCount } }`, "extensions": ext}, nil)
			if len(bad.Errors) == 0 || bad.Data != nil {
				t.Errorf("a query that does not match its hash was served: %s", bad.Raw)
			}
			// Persisted queries are still subject to authentication and limits.
			if r := env.Client("").Post(map[string]any{"extensions": ext}, nil); r.Status != http.StatusUnauthorized {
				t.Errorf("hash only without a token: HTTP %d %s, want 401", r.Status, r.Raw)
			}
			deep := `{ users { edges { node { manager { manager { manager { id } } } } } } }`
			sum = sha256.Sum256([]byte(deep))
			deepExt := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
			c.Post(map[string]any{"query": deep, "extensions": deepExt}, nil)
			if r := c.Post(map[string]any{"extensions": deepExt}, nil); len(r.Errors) == 0 || r.Data != nil {
				t.Errorf("a persisted query deeper than MaxDepth was served: %s", r.Raw)
			}
		})

		t.Run("introspection", func(t *testing.T) {
			r := c.Must(introspectionQuery, nil)
			types := map[string]bool{}
			for _, n := range r.Strings("__schema.types", "name") {
				types[n] = true
			}
			for _, want := range []string{"Query", "Mutation", "User", "UserConnection", "Node", "GrantInput", "UserWhereInput"} {
				if !types[want] {
					t.Errorf("introspection lacks type %s", want)
				}
			}
			if r.String("__schema.queryType.name") != "Query" || r.String("__schema.mutationType.name") != "Mutation" {
				t.Errorf("introspection roots: %v %v", r.Get("__schema.queryType"), r.Get("__schema.mutationType"))
			}
			typ := c.Must(`{ __type(name: "User") { fields { name } } }`, nil)
			if fields := typ.Strings("__type.fields", "name"); !containsAll(fields, "userName", "groups", "roles", "types", "grants") {
				t.Errorf("__type(User) fields: %v", fields)
			}
		})
	})
}

func containsAll(have []string, want ...string) bool {
	set := map[string]bool{}
	for _, h := range have {
		set[h] = true
	}
	for _, w := range want {
		if !set[w] {
			return false
		}
	}
	return true
}

// introspectionQuery is the query GraphiQL and code generators send.
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    queryType { name }
    mutationType { name }
    subscriptionType { name }
    types { ...FullType }
    directives { name description locations args { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description
  fields(includeDeprecated: true) { name description args { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue }
fragment TypeRef on __Type {
  kind name
  ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } }
}`
