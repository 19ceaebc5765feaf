package app_test

import (
	"slices"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestAdministrationWorkflow walks the guides' administration workflow through the
// real HTTP handler: catalogue records of every kind, nested reads, pagination,
// filters and ordering.
func TestAdministrationWorkflow(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")

		// A data set with a two-level hierarchy.
		ds := c.Must(`mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id name } } }`, nil).String("createDataSet.dataSet.id")
		region := c.Must(`mutation($ds: ID!) { createHierarchyNode(input: {dataSetId: $ds, name: "Region 1"}) { node { id depth } } }`,
			map[string]any{"ds": ds}).String("createHierarchyNode.node.id")
		branch := c.Must(`mutation($ds: ID!, $p: ID!) { createHierarchyNode(input: {dataSetId: $ds, parentId: $p, name: "Branch A"}) { node { id depth parent { name } } } }`,
			map[string]any{"ds": ds, "p": region})
		if branch.Int("createHierarchyNode.node.depth") != 1 || branch.String("createHierarchyNode.node.parent.name") != "Region 1" {
			t.Fatalf("branch node: %v", branch.Data)
		}
		org := c.Must(`mutation { createOrgUnit(input: {name: "Claims Department"}) { orgUnit { id } } }`, nil).String("createOrgUnit.orgUnit.id")
		c.Must(`mutation { createDashboard(input: {name: "Cycle Time", kind: SCORECARD}) { dashboard { id kind } } }`, nil)

		// Rights, a role and a user type holding the role and grants.
		right := c.Must(`mutation { createRight(input: {key: "claims.approve", name: "Approve Claims", application: "Claims", kind: WRITE}) { right { id key kind builtIn } } }`, nil)
		if right.String("createRight.right.kind") != "WRITE" || right.Get("createRight.right.builtIn") != false {
			t.Fatalf("createRight: %v", right.Data)
		}
		role := c.Must(`mutation { createRole(input: {name: "Adjuster", rights: ["claims.approve", "reports.view"]}) { role { id rights { key } } } }`, nil)
		if got := role.Strings("createRole.role.rights", "key"); !sameSet(got, []string{"claims.approve", "reports.view"}) {
			t.Fatalf("role rights: %v", got)
		}
		roleID := role.String("createRole.role.id")
		userType := c.Must(`mutation($role: ID!, $ds: ID!, $node: ID!, $org: ID!) {
			createUserType(input: {name: "Field Adjuster", readOnly: false, roleIds: [$role], grants: [
				{dataSetId: $ds, nodeId: $node}, {right: "claims.approve", dataSetId: $ds}, {orgUnitId: $org}]}) {
				userType { id roles { name } grants { kind dataSet { name } node { name } right { key } orgUnit { name } } } } }`,
			map[string]any{"role": roleID, "ds": ds, "node": region, "org": org})
		if kinds := userType.Strings("createUserType.userType.grants", "kind"); !sameSet(kinds, []string{"DATA_SET", "COMPANY_RIGHT", "ORG_UNIT"}) {
			t.Fatalf("type grants: %v", kinds)
		}

		// People, a computer, and a group holding both.
		users := map[string]string{}
		for _, u := range []struct{ name, location string }{{"jane", "Denver"}, {"bob", "Boston"}, {"carol", "Denver"}, {"dave", "Austin"}, {"erin", "Boston"}} {
			r := c.Must(`mutation($n: String!, $e: String!, $l: String) { createUser(input: {userName: $n, email: $e, location: $l, givenName: $n}) { user { id userName status source } } }`,
				map[string]any{"n": u.name, "e": u.name + "@acme.test", "l": u.location})
			if r.String("createUser.user.status") != "INVITED" || r.String("createUser.user.source") != "MANUAL" {
				t.Fatalf("new user: %v", r.Data)
			}
			users[u.name] = r.String("createUser.user.id")
		}
		laptop := c.Must(`mutation($o: ID!) { createComputer(input: {name: "LAPTOP-1", hostname: "laptop-1.acme.test", ownerId: $o}) { computer { id owner { userName } } } }`,
			map[string]any{"o": users["jane"]}).String("createComputer.computer.id")
		group := c.Must(`mutation($u: [ID!], $c: [ID!]) { createGroup(input: {name: "Claims", userIds: $u, computerIds: $c}) { group { id } } }`,
			map[string]any{"u": []string{users["jane"], users["bob"]}, "c": []string{laptop}}).String("createGroup.group.id")
		c.Must(`mutation($g: ID!, $u: [ID!]) { addGroupMembers(input: {groupId: $g, userIds: $u}) { group { users { totalCount } } } }`,
			map[string]any{"g": group, "u": []string{users["carol"], users["jane"]}})
		c.Must(`mutation($g: ID!, $u: [ID!]) { removeGroupMembers(input: {groupId: $g, userIds: $u}) { group { id } } }`,
			map[string]any{"g": group, "u": []string{users["bob"]}})

		// Everything, nested, in one request.
		nested := c.Must(`query {
			groups(where: {name: "Claims"}) { totalCount edges { node { name
				users(first: 10, orderBy: {field: USER_NAME}) { totalCount edges { node { userName groups { name } } } }
				computers(first: 10) { edges { node { name owner { userName } } } } } } }
			userTypes { edges { node { name roles { name rights { key } } grants { kind node { name } } } } }
			dataSets(first: 10) { edges { node { name nodes(first: 50) { totalCount edges { node { name children { name } } } } } } }
			dashboards { totalCount }
			orgUnits { edges { node { name } } }
			viewer { userName roles { name } }
		}`, nil)
		if got := nested.Strings("groups.edges.0.node.users.edges", "node.userName"); !slices.Equal(got, []string{"carol", "jane"}) {
			t.Fatalf("group members: %v", got)
		}
		if nested.String("groups.edges.0.node.users.edges.0.node.groups.0.name") != "Claims" ||
			nested.String("groups.edges.0.node.computers.edges.0.node.owner.userName") != "jane" {
			t.Fatalf("nested group: %v", nested.Data)
		}
		if got := nested.Strings("userTypes.edges.0.node.roles.0.rights", "key"); !sameSet(got, []string{"claims.approve", "reports.view"}) {
			t.Fatalf("type role rights: %v", got)
		}
		if nested.Int("dataSets.edges.0.node.nodes.totalCount") != 2 || nested.Int("dashboards.totalCount") != 1 {
			t.Fatalf("data set nodes: %v", nested.Data)
		}
		if nested.String("viewer.userName") != "admin@acme.test" || nested.String("viewer.roles.0.name") != "Admin" {
			t.Fatalf("viewer: %v", nested.Get("viewer"))
		}

		// Pagination forwards and backwards, ordered by userName.
		all := []string{"admin@acme.test", "bob", "carol", "dave", "erin", "jane"}
		var forward []string
		var after any
		for page := 0; ; page++ {
			r := c.Must(`query($after: Cursor) { users(first: 2, after: $after, orderBy: {field: USER_NAME}) {
				totalCount pageInfo { hasNextPage endCursor } edges { node { userName } } } }`, map[string]any{"after": after})
			if r.Int("users.totalCount") != len(all) {
				t.Fatalf("totalCount = %d", r.Int("users.totalCount"))
			}
			forward = append(forward, r.Strings("users.edges", "node.userName")...)
			if r.Get("users.pageInfo.hasNextPage") != true {
				break
			}
			after = r.String("users.pageInfo.endCursor")
			if page > 5 {
				t.Fatal("pagination does not end")
			}
		}
		if !slices.Equal(forward, all) {
			t.Fatalf("forward pages: %v", forward)
		}
		var backward []string
		var before any
		for page := 0; ; page++ {
			r := c.Must(`query($before: Cursor) { users(last: 2, before: $before, orderBy: {field: USER_NAME}) {
				pageInfo { hasPreviousPage startCursor } edges { node { userName } } } }`, map[string]any{"before": before})
			backward = append(r.Strings("users.edges", "node.userName"), backward...)
			if r.Get("users.pageInfo.hasPreviousPage") != true {
				break
			}
			before = r.String("users.pageInfo.startCursor")
			if page > 5 {
				t.Fatal("backward pagination does not end")
			}
		}
		if !slices.Equal(backward, all) {
			t.Fatalf("backward pages: %v", backward)
		}

		// Filters and ordering.
		filters := []struct {
			name  string
			where map[string]any
			order map[string]any
			want  []string
		}{
			{"location", map[string]any{"location": "Denver"}, nil, []string{"carol", "jane"}},
			{"userName case-insensitive", map[string]any{"userNameEqualFold": "JANE"}, nil, []string{"jane"}},
			{"email contains", map[string]any{"emailContainsFold": "ACME.TEST", "userNameNotIn": []string{"admin@acme.test"}}, nil, []string{"bob", "carol", "dave", "erin", "jane"}},
			{"in group", map[string]any{"hasGroupsWith": []any{map[string]any{"name": "Claims"}}}, nil, []string{"carol", "jane"}},
			{"with role", map[string]any{"hasRolesWith": []any{map[string]any{"name": "Admin"}}}, nil, []string{"admin@acme.test"}},
			{"status", map[string]any{"status": "INVITED", "locationIn": []string{"Boston", "Austin"}}, nil, []string{"bob", "dave", "erin"}},
			{"or", map[string]any{"or": []any{map[string]any{"location": "Austin"}, map[string]any{"userName": "erin"}}}, nil, []string{"dave", "erin"}},
			{"order desc", map[string]any{"location": "Boston"}, map[string]any{"field": "USER_NAME", "direction": "DESC"}, []string{"erin", "bob"}},
			{"order by location", map[string]any{"userNameIn": []string{"jane", "dave", "bob"}}, map[string]any{"field": "LOCATION"}, []string{"dave", "bob", "jane"}},
		}
		for _, f := range filters {
			order := f.order
			if order == nil {
				order = map[string]any{"field": "USER_NAME"}
			}
			r := c.Must(`query($w: UserWhereInput, $o: UserOrder) { users(where: $w, orderBy: $o) { totalCount edges { node { userName } } } }`,
				map[string]any{"w": f.where, "o": order})
			if got := r.Strings("users.edges", "node.userName"); !slices.Equal(got, f.want) || r.Int("users.totalCount") != len(f.want) {
				t.Errorf("%s: got %v (total %d), want %v", f.name, got, r.Int("users.totalCount"), f.want)
			}
		}

		// CSV upload: a new group, and members added to an existing one.
		imp := c.Must(`mutation($csv: String!) { importGroupCsv(input: {csv: $csv}) { createdGroups addedMembers groups { name source users { totalCount } computers { totalCount } } } }`,
			map[string]any{"csv": "group,userName,computer\nBoston Team,bob,\nBoston Team,ERIN,\nClaims,dave,\nClaims,jane,LAPTOP-1\n"})
		if imp.Int("importGroupCsv.createdGroups") != 1 || imp.Int("importGroupCsv.addedMembers") != 3 ||
			imp.String("importGroupCsv.groups.0.source") != "CSV" || imp.Int("importGroupCsv.groups.1.users.totalCount") != 3 {
			t.Fatalf("importGroupCsv: %v", imp.Data)
		}

		// Edit and delete a user; the audit log keeps the whole record.
		upd := c.Must(`mutation($id: ID!, $m: ID!) { updateUser(input: {id: $id, title: "Adjuster", managerId: $m}) { user { title manager { userName } } } }`,
			map[string]any{"id": users["dave"], "m": users["jane"]})
		if upd.String("updateUser.user.manager.userName") != "jane" {
			t.Fatalf("updateUser: %v", upd.Data)
		}
		del := c.Must(`mutation($ids: [ID!]!) { deleteUsers(input: {ids: $ids}) { affectedCount deletedIds } }`, map[string]any{"ids": []string{users["dave"]}})
		if del.Int("deleteUsers.affectedCount") != 1 {
			t.Fatalf("deleteUsers: %v", del.Data)
		}
		if r := c.Do(`query($id: ID!) { node(id: $id) { id } users(where: {userName: "dave"}) { totalCount } }`, map[string]any{"id": users["dave"]}); r.Get("node") != nil ||
			r.Int("users.totalCount") != 0 || len(r.Errors) != 1 || r.Errors[0].Code() != "NOT_FOUND" {
			t.Fatalf("deleted user still listed: %v %v", r.Data, r.Errors)
		}
		audit := c.Must(`query($id: ID!) { auditEvents(where: {action: "user.delete", targetID: $id}) { edges { node { actor actorKind operation before requestID } } } }`,
			map[string]any{"id": users["dave"]})
		ev := audit.Get("auditEvents.edges.0.node")
		if ev == nil || audit.String("auditEvents.edges.0.node.before.user_name") != "dave" ||
			audit.String("auditEvents.edges.0.node.before.title") != "Adjuster" || len(audit.List("auditEvents.edges.0.node.before.group_ids")) != 1 ||
			audit.String("auditEvents.edges.0.node.actor") != "user:admin@acme.test" || audit.String("auditEvents.edges.0.node.operation") != "mutation deleteUsers" ||
			audit.String("auditEvents.edges.0.node.requestID") == "" {
			t.Fatalf("audit of delete: %v", audit.Data)
		}
	})
}

func sameSet(a, b []string) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}
