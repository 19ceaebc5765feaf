package app_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"latchkey/graph/relayid"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestCacheAcrossReplicas: two servers over one database, each with its own cache.
// What one of them changes, the other answers at once — checks, batches, the caller's
// own authority and status — and a dry run (rolled back) never leaks into a cache.
func TestCacheAcrossReplicas(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		a := apptest.New(t, st, app.Config{})
		b := apptest.New(t, st, app.Config{})
		adminA, boot := a.Bootstrap("acme", "admin@acme.test")
		adminB := b.Client(boot.AccessToken)

		ds := adminA.Must(`mutation { createDataSet(input: {name: "West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		node := adminA.Must(`mutation($ds: ID!) { createHierarchyNode(input: {dataSetId: $ds, name: "Region"}) { node { id } } }`,
			map[string]any{"ds": ds}).String("createHierarchyNode.node.id")
		u := adminA.Must(`mutation { createUser(input: {userName: "jane", email: "jane@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		jane := b.Client(a.Token(boot.AccountID, u))

		can := func() bool {
			t.Helper()
			return adminB.Must(`query($u: ID!, $ds: ID!) { can(userId: $u, right: "reports.view", dataSetId: $ds) }`,
				map[string]any{"u": u, "ds": ds}).Get("can") == true
		}
		batch := func() []any {
			t.Helper()
			return adminB.Must(`query($u: ID!, $ds: ID!, $n: ID!) { canBatch(userId: $u, checks: [
				{right: "reports.view", dataSetId: $ds}, {right: "reports.view", dataSetId: $ds, nodeId: $n}, {right: "users.admin", dataSetId: $ds}]) }`,
				map[string]any{"u": u, "ds": ds, "n": node}).List("canBatch")
		}
		grant := `mutation($u: ID!, $ds: ID!, $dry: Boolean) { bulkGrantRights(input: {selection: {userIds: [$u]}, grants: [{dataSetId: $ds}, {right: "reports.view"}], dryRun: $dry}) { affectedCount } }`

		if can() || batch()[0] != false {
			t.Fatal("jane can before any grant")
		}
		adminA.Must(grant, map[string]any{"u": u, "ds": ds, "dry": true})
		if can() {
			t.Fatal("a dry run on one replica showed on the other")
		}
		adminA.Must(grant, map[string]any{"u": u, "ds": ds, "dry": false})
		if !can() {
			t.Fatal("a grant on one replica was not seen on the other")
		}
		if got := batch(); got[0] != true || got[1] != true || got[2] != false {
			t.Fatalf("canBatch: %v", got)
		}
		// Jane's own authority: whoCan needs users.admin, then she gets it on A.
		whoCan := `query($ds: ID!) { whoCan(right: "reports.view", dataSetId: $ds, first: 5) { totalCount } }`
		if err := jane.Fail(whoCan, map[string]any{"ds": ds}); err.Code() != "FORBIDDEN" {
			t.Fatalf("jane before users.admin: %+v", err)
		}
		adminA.Must(`mutation($u: ID!) { grantRights(input: {userId: $u, grants: [{right: "users.admin"}]}) { affectedCount } }`, map[string]any{"u": u})
		if r := jane.Must(whoCan, map[string]any{"ds": ds}); r.Int("whoCan.totalCount") != 1 {
			t.Fatalf("whoCan: %v", r.Data)
		}
		// Deactivated on A: her checks turn false and her token stops working on B.
		adminA.Must(`mutation($u: ID!) { bulkSetActive(input: {selection: {userIds: [$u]}, active: false}) { affectedCount } }`, map[string]any{"u": u})
		if can() {
			t.Fatal("an inactive user can, on the other replica")
		}
		if err := jane.Fail(whoCan, map[string]any{"ds": ds}); err.Code() != "UNAUTHENTICATED" {
			t.Fatalf("inactive jane's token: %+v", err)
		}
	})
}

// TestCanBatch: a batch answers each check as can does, in order, and bad input is
// named by its position.
func TestCanBatch(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, boot := env.Bootstrap("acme", "admin@acme.test")
		ds := c.Must(`mutation { createDataSet(input: {name: "West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		other := c.Must(`mutation { createDataSet(input: {name: "East"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		node := c.Must(`mutation($ds: ID!) { createHierarchyNode(input: {dataSetId: $ds, name: "Region"}) { node { id } } }`,
			map[string]any{"ds": other}).String("createHierarchyNode.node.id")
		c.Must(`mutation($u: ID!, $ds: ID!) { grantRights(input: {userId: $u, grants: [{dataSetId: $ds}]}) { affectedCount } }`,
			map[string]any{"u": boot.UserID, "ds": ds})
		q := `query($u: ID!, $c: [CheckInput!]!) { canBatch(userId: $u, checks: $c) }`
		check := func(right, dataSet string) map[string]any {
			return map[string]any{"right": right, "dataSetId": dataSet}
		}
		got := c.Must(q, map[string]any{"u": boot.UserID, "c": []any{check("reports.view", ds), check("reports.view", other), check("users.admin", ds)}}).List("canBatch")
		if len(got) != 3 || got[0] != true || got[1] != false || got[2] != true {
			t.Fatalf("canBatch: %v", got)
		}
		for _, tc := range []struct {
			name   string
			checks []any
			code   string
			field  string
		}{
			{"unknown right", []any{check("reports.view", ds), check("no.such", ds)}, "NOT_FOUND", "checks.1.right"},
			{"unknown data set", []any{check("reports.view", boot.UserID)}, "NOT_FOUND", "checks.0.dataSetId"},
			{"node of another data set", []any{map[string]any{"right": "reports.view", "dataSetId": ds, "nodeId": node}}, "NOT_FOUND", "checks.0.nodeId"},
			{"too many", func() []any {
				out := make([]any, 1001)
				for i := range out {
					out[i] = check("reports.view", ds)
				}
				return out
			}(), "BAD_USER_INPUT", "checks"},
		} {
			err := c.Fail(q, map[string]any{"u": boot.UserID, "c": tc.checks})
			if err.Code() != tc.code || err.Field() != tc.field {
				t.Errorf("%s: %+v", tc.name, err)
			}
		}
	})
}

// TestResponseCache: a large answer is served again from the response cache until
// the account's revision moves, to the same caller only, and never for a query
// that reads anything the revision does not cover. The cache is seen by writing
// behind the audit log's back (raw SQL bumps no revision): a kept answer still
// shows the old value; a fresh one, the new.
func TestResponseCache(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		a := apptest.New(t, st, app.Config{})
		b := apptest.New(t, st, app.Config{})
		adminA, boot := a.Bootstrap("acme", "admin@acme.test")
		adminB := b.Client(boot.AccessToken)
		admin := adminA.Must(`{ viewer { id } }`, nil).String("viewer.id")
		adminID, err := relayid.Decode(admin)
		if err != nil {
			t.Fatal(err)
		}
		// The Admin's rights, several times over: an answer large enough to keep.
		var rights strings.Builder
		for i := range 8 {
			fmt.Fprintf(&rights, " r%d: effectiveRights { right { key name } sources { kind role { name } } }", i)
		}
		query := `query($u: ID!) { node(id: $u) { ... on User { displayName` + rights.String() + ` } } }`
		noCache := http.Header{"Cache-Control": {"no-cache"}}
		displayName := func(c *apptest.Client, h http.Header) string {
			t.Helper()
			r := c.Post(map[string]any{"query": query, "variables": map[string]any{"u": admin}}, h)
			if len(r.Errors) > 0 || r.Status != http.StatusOK {
				t.Fatalf("HTTP %d: %+v", r.Status, r.Errors)
			}
			if len(r.Raw) < 8<<10 {
				t.Fatalf("the answer is %d bytes: too small to be kept", len(r.Raw))
			}
			return r.String("node.displayName")
		}
		behindTheLog := func(table, column, value string, id int) {
			t.Helper()
			if _, err := st.DB.Exec(`UPDATE `+table+` SET `+column+` = ? WHERE id = ?`, value, id); err != nil {
				t.Fatal(err)
			}
		}

		first := displayName(adminA, nil)
		behindTheLog("users", "display_name", "Behind the log", adminID)
		if got := displayName(adminA, nil); got != first {
			t.Fatalf("a repeated query was made afresh (%q), not served from the cache", got)
		}
		if got := displayName(adminA, http.Header{"Cache-Control": {"no-store"}}); got != "Behind the log" {
			t.Fatalf("Cache-Control: no-store got %q", got)
		}
		if got := displayName(adminA, nil); got != first {
			t.Fatalf("an answer sent with no-store was kept: %q", got)
		}
		if got := displayName(adminA, noCache); got != "Behind the log" {
			t.Fatalf("Cache-Control: no-cache got %q", got)
		}
		if got := displayName(adminA, nil); got != "Behind the log" {
			t.Fatalf("the fresh answer to no-cache was not kept: %q", got)
		}
		if got := displayName(adminB, nil); got != "Behind the log" {
			t.Fatalf("the other replica answered %q", got)
		}

		u := adminA.Must(`mutation { createUser(input: {userName: "jane", email: "jane@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		jane := a.Client(a.Token(boot.AccountID, u))
		// An audited change moves the revision: both replicas answer afresh.
		adminA.Must(`mutation($u: ID!) { updateUser(input: {id: $u, displayName: "Audited"}) { user { id } } }`, map[string]any{"u": admin})
		for _, c := range []*apptest.Client{adminA, adminB} {
			if got := displayName(c, nil); got != "Audited" {
				t.Fatalf("after an audited change: %q", got)
			}
		}

		// Another caller never gets the Admin's answer, kept at this revision: Jane
		// may not read his rights.
		if r := jane.Do(query, map[string]any{"u": admin}); r.Get("node") != nil && r.Get("node.displayName") != nil {
			t.Fatalf("jane read the Admin's rights (%d bytes)", len(r.Raw))
		}

		// A query that reads a SCIM token (whose last use is kept outside the audit
		// log) is never kept, however large.
		token := adminA.Must(`mutation { createScimToken(input: {name: "okta"}) { scimToken { id } } }`, nil).String("createScimToken.scimToken.id")
		tokens := `query($u: ID!, $t: ID!) { token: node(id: $t) { ... on ScimToken { name } } node(id: $u) { ... on User {` + rights.String() + ` } } }`
		tokenName := func() (string, int) {
			t.Helper()
			r := adminA.Must(tokens, map[string]any{"u": admin, "t": token})
			return r.String("token.name"), len(r.Raw)
		}
		if name, size := tokenName(); name != "okta" || size < 8<<10 {
			t.Fatalf("token %q in %d bytes", name, size)
		}
		tokenID, _ := relayid.Decode(token)
		behindTheLog("scim_tokens", "name", "renamed", tokenID)
		if name, _ := tokenName(); name != "renamed" {
			t.Fatalf("a query reading a SCIM token was served from the cache: %q", name)
		}
	})
}
