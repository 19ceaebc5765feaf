package app_test

import (
	"testing"

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
