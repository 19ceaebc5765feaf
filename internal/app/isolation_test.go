package app_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"sort"
	"strings"
	"testing"

	"latchkey/internal/access"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// tenant is one account's records, one of every kind, by the ids the API gave them.
type tenant struct {
	prefix  string // "Alpha": every name the tenant chose starts with it
	lower   string // "alpha"
	client  *apptest.Client
	account string // account id
	ids     map[string]string
}

// seedTenant creates one record of every kind through the API as c's Admin.
func seedTenant(t *testing.T, c *apptest.Client, boot *app.BootstrapResult, prefix string) *tenant {
	t.Helper()
	lower := strings.ToLower(prefix)
	tn := &tenant{prefix: prefix, lower: lower, client: c, account: boot.AccountID, ids: map[string]string{"admin": boot.UserID, "account": boot.AccountID}}
	ids := tn.ids
	ids["user"] = c.Must(`mutation($n: String!, $e: String!) { createUser(input: {userName: $n, email: $e, title: "Clerk"}) { user { id } } }`,
		map[string]any{"n": lower + "-user", "e": lower + "-user@" + lower + ".test"}).String("createUser.user.id")
	ids["computer"] = c.Must(`mutation($n: String!, $o: ID!) { createComputer(input: {name: $n, hostname: "pc.example.test", ownerId: $o}) { computer { id } } }`,
		map[string]any{"n": strings.ToUpper(lower) + "-PC", "o": ids["user"]}).String("createComputer.computer.id")
	ids["group"] = c.Must(`mutation($n: String!, $u: [ID!], $c: [ID!]) { createGroup(input: {name: $n, userIds: $u, computerIds: $c}) { group { id } } }`,
		map[string]any{"n": prefix + " Group", "u": []string{ids["user"]}, "c": []string{ids["computer"]}}).String("createGroup.group.id")
	ids["right"] = c.Must(`mutation($k: String!, $n: String!) { createRight(input: {key: $k, name: $n, application: "Claims", kind: WRITE}) { right { id } } }`,
		map[string]any{"k": lower + ".secret", "n": prefix + " Secret"}).String("createRight.right.id")
	ids["role"] = c.Must(`mutation($n: String!, $k: String!) { createRole(input: {name: $n, rights: [$k, "reports.view"]}) { role { id } } }`,
		map[string]any{"n": prefix + " Role", "k": lower + ".secret"}).String("createRole.role.id")
	ids["dataSet"] = c.Must(`mutation($n: String!) { createDataSet(input: {name: $n}) { dataSet { id } } }`,
		map[string]any{"n": prefix + " Data"}).String("createDataSet.dataSet.id")
	ids["node"] = c.Must(`mutation($ds: ID!, $n: String!) { createHierarchyNode(input: {dataSetId: $ds, name: $n}) { node { id } } }`,
		map[string]any{"ds": ids["dataSet"], "n": prefix + " Region"}).String("createHierarchyNode.node.id")
	ids["orgUnit"] = c.Must(`mutation($n: String!) { createOrgUnit(input: {name: $n}) { orgUnit { id } } }`,
		map[string]any{"n": prefix + " Unit"}).String("createOrgUnit.orgUnit.id")
	ids["dashboard"] = c.Must(`mutation($n: String!) { createDashboard(input: {name: $n, kind: GENERIC}) { dashboard { id } } }`,
		map[string]any{"n": prefix + " Board"}).String("createDashboard.dashboard.id")
	ut := c.Must(`mutation($n: String!, $role: ID!, $ds: ID!, $node: ID!, $org: ID!, $k: String!) {
		createUserType(input: {name: $n, roleIds: [$role], grants: [{dataSetId: $ds, nodeId: $node}, {right: $k, dataSetId: $ds}, {orgUnitId: $org}]}) {
			userType { id grants { id } } } }`,
		map[string]any{"n": prefix + " Type", "role": ids["role"], "ds": ids["dataSet"], "node": ids["node"], "org": ids["orgUnit"], "k": lower + ".secret"})
	ids["userType"] = ut.String("createUserType.userType.id")
	for i, g := range ut.Strings("createUserType.userType.grants", "id") {
		ids[fmt.Sprintf("userTypeGrant%d", i)] = g
	}
	v := c.Must(`{ viewer { grants { id } } auditEvents(first: 1) { edges { node { id } } } }`, nil)
	for i, g := range v.Strings("viewer.grants", "id") {
		if i < 2 {
			ids[fmt.Sprintf("userGrant%d", i)] = g
		}
	}
	ids["auditEvent"] = v.String("auditEvents.edges.0.node.id")
	for k, id := range ids {
		if id == "" {
			t.Fatalf("%s: seeding gave no %s id", prefix, k)
		}
	}
	return tn
}

// idSet is every id the tenant has, for "never reaches" checks.
func (tn *tenant) idSet() map[string]string {
	out := map[string]string{}
	for k, v := range tn.ids {
		out[v] = k
	}
	return out
}

// TestTenantIsolation proves that one account's admin can neither read nor write,
// nor link to, any record of another account, through any path of the API.
func TestTenantIsolation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		ca, bootA := env.Bootstrap("alpha", "admin@alpha.test")
		cb, bootB := env.Bootstrap("bravo", "admin@bravo.test")
		a := seedTenant(t, ca, bootA, "Alpha")
		b := seedTenant(t, cb, bootB, "Bravo")

		t.Run("account", func(t *testing.T) {
			for _, tn := range []*tenant{a, b} {
				r := tn.client.Must(`{ account { id name userCount } }`, nil)
				if r.String("account.name") != tn.lower || r.String("account.id") != tn.account || r.Int("account.userCount") != 2 {
					t.Errorf("%s's token sees account %v, want only %q with its 2 users", tn.lower, r.Data, tn.lower)
				}
			}
		})

		t.Run("node", func(t *testing.T) {
			for kind, id := range b.ids {
				// A's record of the same kind resolves: the refusal below is isolation,
				// not a kind the node query cannot load.
				own := a.client.Do(`query($id: ID!) { node(id: $id) { id __typename } }`, map[string]any{"id": a.ids[kind]})
				if own.String("node.id") != a.ids[kind] || len(own.Errors) > 0 {
					t.Errorf("node(A's %s) = %v %v, want A's own record", kind, own.Data, own.Errors)
				}
				r := a.client.Do(`query($id: ID!) { node(id: $id) { id __typename } }`, map[string]any{"id": id})
				if r.Get("node") != nil {
					t.Errorf("node(B's %s) as A = %v, want null", kind, r.Get("node"))
				}
				checkNotFoundOnly(t, "node(B's "+kind+")", r, b)
			}
		})

		t.Run("nodes", func(t *testing.T) {
			var kinds, ids []string
			for kind, id := range b.ids {
				kinds, ids = append(kinds, kind), append(ids, id)
			}
			r := a.client.Do(`query($ids: [ID!]!) { nodes(ids: $ids) { id __typename } }`, map[string]any{"ids": ids})
			got := r.List("nodes")
			if len(got) != len(ids) {
				t.Fatalf("nodes(B's %d ids) as A returned %d entries: %v %v", len(ids), len(got), r.Data, r.Errors)
			}
			for i, n := range got {
				if n != nil {
					t.Errorf("nodes: B's %s is visible to A: %v", kinds[i], n)
				}
			}
			checkNotFoundOnly(t, "nodes(B's ids)", r, b)
			if len(r.Errors) == 0 {
				t.Errorf("nodes(B's ids) answered nulls without a NOT_FOUND error")
			}
			mixed := a.client.Do(`query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{a.ids["user"], b.ids["user"], a.ids["group"], b.ids["group"]}})
			if l := mixed.List("nodes"); len(l) != 4 || mixed.String("nodes.0.id") != a.ids["user"] || l[1] != nil ||
				mixed.String("nodes.2.id") != a.ids["group"] || l[3] != nil {
				t.Errorf("nodes([A user, B user, A group, B group]) as A = %v, want [A user, null, A group, null]", mixed.Data)
			}
			checkNotFoundOnly(t, "nodes(mixed)", mixed, b)
		})

		t.Run("lists", func(t *testing.T) {
			for _, pair := range [][2]*tenant{{a, b}, {b, a}} {
				own, other := pair[0], pair[1]
				builtInRights := make([]string, 0, len(access.BuiltInRights)+1)
				for _, r := range access.BuiltInRights {
					builtInRights = append(builtInRights, r.Key)
				}
				builtInRoles := make([]string, 0, len(access.BuiltInRoles)+1)
				for _, r := range access.BuiltInRoles {
					builtInRoles = append(builtInRoles, r.Name)
				}
				lists := []struct {
					field, name string
					want        []string
				}{
					{"users", "userName", []string{"admin@" + own.lower + ".test", own.lower + "-user"}},
					{"groups", "name", []string{own.prefix + " Group"}},
					{"computers", "name", []string{strings.ToUpper(own.lower) + "-PC"}},
					{"rights", "key", append(builtInRights, own.lower+".secret")},
					{"roles", "name", append(builtInRoles, own.prefix+" Role")},
					{"userTypes", "name", []string{own.prefix + " Type"}},
					{"dataSets", "name", []string{own.prefix + " Data"}},
					{"orgUnits", "name", []string{own.prefix + " Unit"}},
					{"dashboards", "name", []string{own.prefix + " Board"}},
				}
				for _, l := range lists {
					r := own.client.Must(fmt.Sprintf(`{ %s(first: 100) { totalCount edges { node { id %s } } } }`, l.field, l.name), nil)
					got := r.Strings(l.field+".edges", "node."+l.name)
					if !sameSet(got, l.want) || r.Int(l.field+".totalCount") != len(l.want) {
						t.Errorf("%s as %s: got %v (totalCount %d), want exactly %v", l.field, own.lower, got, r.Int(l.field+".totalCount"), l.want)
					}
					for _, id := range r.Strings(l.field+".edges", "node.id") {
						if kind, leaked := other.idSet()[id]; leaked {
							t.Errorf("%s as %s lists %s's %s", l.field, own.lower, other.lower, kind)
						}
					}
				}
				r := own.client.Must(`{ auditEvents(first: 1000) { totalCount edges { node { id actor targetID before after } } } }`, nil)
				if n := len(r.List("auditEvents.edges")); n == 0 || n != r.Int("auditEvents.totalCount") {
					t.Errorf("auditEvents as %s: %d edges, totalCount %d", own.lower, n, r.Int("auditEvents.totalCount"))
				}
				for _, ev := range r.List("auditEvents.edges") {
					raw, _ := json.Marshal(ev)
					if strings.Contains(string(raw), other.prefix) || strings.Contains(string(raw), other.lower) {
						t.Errorf("auditEvents as %s shows an event about %s: %s", own.lower, other.lower, raw)
					}
					e := &apptest.Response{Data: map[string]any{"e": ev}}
					if kind, leaked := other.idSet()[e.String("e.node.targetID")]; leaked {
						t.Errorf("auditEvents as %s shows an event on %s's %s", own.lower, other.lower, kind)
					}
				}
			}
		})

		t.Run("filters", func(t *testing.T) {
			filters := []struct{ name, query string }{
				{"users by id", `query($b: ID!) { x: users(where: {id: $b}) { totalCount } }`},
				{"users by idIn", `query($b: ID!) { x: users(where: {idIn: [$b]}) { totalCount } }`},
				{"users by userName", `query { x: users(where: {userNameEqualFold: "bravo-user"}) { totalCount } }`},
				{"users in B's group", `query { x: users(where: {hasGroupsWith: [{name: "Bravo Group"}]}) { totalCount } }`},
				{"groups by member", `query { x: groups(where: {hasUsersWith: [{userName: "bravo-user"}]}) { totalCount } }`},
				{"computers by owner", `query { x: computers(where: {hasOwnerWith: [{userName: "bravo-user"}]}) { totalCount } }`},
				{"roles by right", `query { x: roles(where: {hasRightsWith: [{key: "bravo.secret"}]}) { totalCount } }`},
				{"rights by key", `query { x: rights(where: {key: "bravo.secret"}) { totalCount } }`},
				{"audit by target", `query($b: ID!) { x: auditEvents(where: {targetID: $b}) { totalCount } }`},
			}
			for _, f := range filters {
				vars := map[string]any{}
				if strings.Contains(f.query, "$b") {
					vars["b"] = b.ids["user"]
				}
				r := a.client.Do(f.query, vars)
				if r.Int("x.totalCount") != 0 {
					t.Errorf("%s as A: totalCount %d, want 0 (B's records): %v", f.name, r.Int("x.totalCount"), r.Errors)
				}
			}
		})

		t.Run("nested", func(t *testing.T) {
			for _, pair := range [][2]*tenant{{a, b}, {b, a}} {
				own, other := pair[0], pair[1]
				r := own.client.Must(nestedQuery, nil)
				if n := len(r.List("users.edges")); n != 2 {
					t.Errorf("nested as %s: %d users", own.lower, n)
				}
				walkJSON(r.Data, "", func(path, s string) {
					if kind, leaked := other.idSet()[s]; leaked {
						t.Errorf("nested as %s reaches %s's %s at %s", own.lower, other.lower, kind, path)
					}
					if strings.Contains(s, other.prefix) || strings.Contains(s, other.lower) {
						t.Errorf("nested as %s reaches %s's record at %s: %q", own.lower, other.lower, path, s)
					}
				})
			}
		})

		t.Run("cross-account token", func(t *testing.T) {
			// A token naming account A and one of B's users must not act as anyone.
			for _, who := range []string{"user", "admin"} {
				r := env.Client(env.Token(a.account, b.ids[who])).Do(`{ viewer { id } account { name } }`, nil)
				if r.Status != http.StatusUnauthorized || len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Errorf("token for account A with B's %s: HTTP %d %v %v, want 401 UNAUTHENTICATED", who, r.Status, r.Data, r.Errors)
				}
			}
		})

		t.Run("writes", func(t *testing.T) {
			beforeA := snapshot(t, a.client)
			beforeB := snapshot(t, b.client)
			ids := map[string]any{}
			for k, v := range b.ids {
				ids["b"+strings.ToUpper(k[:1])+k[1:]] = v
			}
			for k, v := range a.ids {
				ids["a"+strings.ToUpper(k[:1])+k[1:]] = v
			}
			writes := []struct{ name, query string }{
				// Changing or deleting B's records.
				{"updateUser", `mutation($bUser: ID!) { updateUser(input: {id: $bUser, title: "Pwned"}) { user { id } } }`},
				{"updateUser admin", `mutation($bAdmin: ID!) { updateUser(input: {id: $bAdmin, readOnly: true}) { user { id } } }`},
				{"deleteUsers", `mutation($bUser: ID!) { deleteUsers(input: {ids: [$bUser]}) { affectedCount } }`},
				{"deleteUsers mixed", `mutation($aUser: ID!, $bUser: ID!) { deleteUsers(input: {ids: [$aUser, $bUser]}) { affectedCount } }`},
				{"updateGroup", `mutation($bGroup: ID!) { updateGroup(input: {id: $bGroup, name: "Pwned"}) { group { id } } }`},
				{"deleteGroup", `mutation($bGroup: ID!) { deleteGroup(input: {id: $bGroup}) { deletedId } }`},
				{"addGroupMembers to B's group", `mutation($bGroup: ID!, $aUser: ID!) { addGroupMembers(input: {groupId: $bGroup, userIds: [$aUser]}) { group { id } } }`},
				{"removeGroupMembers from B's group", `mutation($bGroup: ID!, $bUser: ID!, $bComputer: ID!) { removeGroupMembers(input: {groupId: $bGroup, userIds: [$bUser], computerIds: [$bComputer]}) { group { id } } }`},
				{"updateComputer", `mutation($bComputer: ID!) { updateComputer(input: {id: $bComputer, name: "PWNED"}) { computer { id } } }`},
				{"updateComputer clearOwner", `mutation($bComputer: ID!) { updateComputer(input: {id: $bComputer, clearOwner: true}) { computer { id } } }`},
				{"deleteComputer", `mutation($bComputer: ID!) { deleteComputer(input: {id: $bComputer}) { deletedId } }`},
				{"updateRight", `mutation($bRight: ID!) { updateRight(input: {id: $bRight, name: "Pwned"}) { right { id } } }`},
				{"deleteRight", `mutation($bRight: ID!) { deleteRight(input: {id: $bRight}) { deletedId } }`},
				{"updateRole", `mutation($bRole: ID!) { updateRole(input: {id: $bRole, name: "Pwned"}) { role { id } } }`},
				{"updateRole rights", `mutation($bRole: ID!) { updateRole(input: {id: $bRole, rights: ["reports.view"]}) { role { id } } }`},
				{"deleteRole", `mutation($bRole: ID!) { deleteRole(input: {id: $bRole}) { deletedId } }`},
				{"updateUserType", `mutation($bUserType: ID!) { updateUserType(input: {id: $bUserType, name: "Pwned", readOnly: true}) { userType { id } } }`},
				{"updateUserType grants", `mutation($bUserType: ID!, $aDataSet: ID!) { updateUserType(input: {id: $bUserType, grants: [{dataSetId: $aDataSet}]}) { userType { id } } }`},
				{"deleteUserType", `mutation($bUserType: ID!) { deleteUserType(input: {id: $bUserType}) { deletedId } }`},
				{"updateDataSet", `mutation($bDataSet: ID!) { updateDataSet(input: {id: $bDataSet, name: "Pwned"}) { dataSet { id } } }`},
				{"deleteDataSet", `mutation($bDataSet: ID!) { deleteDataSet(input: {id: $bDataSet}) { deletedId } }`},
				{"renameHierarchyNode", `mutation($bNode: ID!) { renameHierarchyNode(input: {id: $bNode, name: "Pwned"}) { node { id } } }`},
				{"deleteHierarchyNode", `mutation($bNode: ID!) { deleteHierarchyNode(input: {id: $bNode}) { deletedId } }`},
				{"renameOrgUnit", `mutation($bOrgUnit: ID!) { renameOrgUnit(input: {id: $bOrgUnit, name: "Pwned"}) { orgUnit { id } } }`},
				{"deleteOrgUnit", `mutation($bOrgUnit: ID!) { deleteOrgUnit(input: {id: $bOrgUnit}) { deletedId } }`},
				{"updateDashboard", `mutation($bDashboard: ID!) { updateDashboard(input: {id: $bDashboard, name: "Pwned"}) { dashboard { id } } }`},
				{"deleteDashboard", `mutation($bDashboard: ID!) { deleteDashboard(input: {id: $bDashboard}) { deletedId } }`},

				// Linking B's records into A's.
				{"createGroup with B's user", `mutation($bUser: ID!) { createGroup(input: {name: "Leak Group 1", userIds: [$bUser]}) { group { id } } }`},
				{"createGroup with A's and B's user", `mutation($aUser: ID!, $bUser: ID!) { createGroup(input: {name: "Leak Group 2", userIds: [$aUser, $bUser]}) { group { id } } }`},
				{"createGroup with B's computer", `mutation($bComputer: ID!) { createGroup(input: {name: "Leak Group 3", computerIds: [$bComputer]}) { group { id } } }`},
				{"addGroupMembers B's user", `mutation($aGroup: ID!, $bUser: ID!) { addGroupMembers(input: {groupId: $aGroup, userIds: [$bUser]}) { group { id } } }`},
				{"addGroupMembers B's computer", `mutation($aGroup: ID!, $bComputer: ID!) { addGroupMembers(input: {groupId: $aGroup, computerIds: [$bComputer]}) { group { id } } }`},
				{"createComputer owned by B's user", `mutation($bUser: ID!) { createComputer(input: {name: "LEAK-PC", ownerId: $bUser}) { computer { id } } }`},
				{"updateComputer owner B's user", `mutation($aComputer: ID!, $bUser: ID!) { updateComputer(input: {id: $aComputer, ownerId: $bUser}) { computer { id } } }`},
				{"createUser managed by B's user", `mutation($bUser: ID!) { createUser(input: {userName: "leak", email: "leak@alpha.test", managerId: $bUser}) { user { id } } }`},
				{"updateUser manager B's user", `mutation($aUser: ID!, $bUser: ID!) { updateUser(input: {id: $aUser, managerId: $bUser}) { user { id } } }`},
				{"createUserType with B's role", `mutation($bRole: ID!) { createUserType(input: {name: "Leak Type 1", roleIds: [$bRole]}) { userType { id } } }`},
				{"createUserType on B's data set", `mutation($bDataSet: ID!) { createUserType(input: {name: "Leak Type 2", grants: [{dataSetId: $bDataSet}]}) { userType { id } } }`},
				{"createUserType on B's node", `mutation($aDataSet: ID!, $bNode: ID!) { createUserType(input: {name: "Leak Type 3", grants: [{dataSetId: $aDataSet, nodeId: $bNode}]}) { userType { id } } }`},
				{"createUserType on B's node in B's data set", `mutation($bDataSet: ID!, $bNode: ID!) { createUserType(input: {name: "Leak Type 4", grants: [{dataSetId: $bDataSet, nodeId: $bNode}]}) { userType { id } } }`},
				{"createUserType on B's org unit", `mutation($bOrgUnit: ID!) { createUserType(input: {name: "Leak Type 5", grants: [{orgUnitId: $bOrgUnit}]}) { userType { id } } }`},
				{"createUserType B's right key on A's data set", `mutation($aDataSet: ID!) { createUserType(input: {name: "Leak Type 6", grants: [{right: "bravo.secret", dataSetId: $aDataSet}]}) { userType { id } } }`},
				{"createUserType B's right key on all data sets", `mutation { createUserType(input: {name: "Leak Type 7", grants: [{right: "bravo.secret", allDataSets: true}]}) { userType { id } } }`},
				{"createUserType A's right on B's data set", `mutation($bDataSet: ID!) { createUserType(input: {name: "Leak Type 8", grants: [{right: "reports.view", dataSetId: $bDataSet}]}) { userType { id } } }`},
				{"createUserType valid grant then B's org unit", `mutation($aDataSet: ID!, $bOrgUnit: ID!) { createUserType(input: {name: "Leak Type 9", grants: [{dataSetId: $aDataSet}, {orgUnitId: $bOrgUnit}]}) { userType { id } } }`},
				{"updateUserType with B's role", `mutation($aUserType: ID!, $bRole: ID!) { updateUserType(input: {id: $aUserType, name: "Leak Rename", roleIds: [$bRole]}) { userType { id } } }`},
				{"updateUserType grant on B's data set", `mutation($aUserType: ID!, $bDataSet: ID!) { updateUserType(input: {id: $aUserType, name: "Leak Rename", grants: [{dataSetId: $bDataSet}]}) { userType { id } } }`},
				{"createHierarchyNode in B's data set", `mutation($bDataSet: ID!) { createHierarchyNode(input: {dataSetId: $bDataSet, name: "Leak Node 1"}) { node { id } } }`},
				{"createHierarchyNode under B's node", `mutation($aDataSet: ID!, $bNode: ID!) { createHierarchyNode(input: {dataSetId: $aDataSet, parentId: $bNode, name: "Leak Node 2"}) { node { id } } }`},
				{"createHierarchyNode under B's node in B's data set", `mutation($bDataSet: ID!, $bNode: ID!) { createHierarchyNode(input: {dataSetId: $bDataSet, parentId: $bNode, name: "Leak Node 3"}) { node { id } } }`},
				{"createOrgUnit under B's unit", `mutation($bOrgUnit: ID!) { createOrgUnit(input: {parentId: $bOrgUnit, name: "Leak Unit"}) { orgUnit { id } } }`},
				{"createRole with B's right key", `mutation { createRole(input: {name: "Leak Role", rights: ["reports.view", "bravo.secret"]}) { role { id } } }`},
				{"updateRole with B's right key", `mutation($aRole: ID!) { updateRole(input: {id: $aRole, name: "Leak Rename", rights: ["bravo.secret"]}) { role { id } } }`},
			}
			for _, w := range writes {
				vars := map[string]any{}
				for k, v := range ids {
					if strings.Contains(w.query, "$"+k+":") {
						vars[k] = v
					}
				}
				r := a.client.Do(w.query, vars)
				if len(r.Errors) == 0 {
					t.Errorf("%s as A on B's records succeeded: %v", w.name, r.Data)
					continue
				}
				if r.Errors[0].Code() != "NOT_FOUND" {
					t.Errorf("%s as A on B's records: %s %q, want NOT_FOUND", w.name, r.Errors[0].Code(), r.Errors[0].Message)
				}
				for field, v := range r.Data {
					if v != nil {
						t.Errorf("%s: failed mutation answered data %s = %v", w.name, field, v)
					}
				}
				checkNotFoundOnly(t, w.name, r, b)
			}
			if diff := snapshotDiff(beforeB, snapshot(t, b.client)); diff != "" {
				t.Errorf("A's refused writes changed B's records:\n%s", diff)
			}
			if diff := snapshotDiff(beforeA, snapshot(t, a.client)); diff != "" {
				t.Errorf("A's refused writes left partial records in A:\n%s", diff)
			}
		})
	})
}

// checkNotFoundOnly fails unless every error of r is NOT_FOUND, and no message
// names one of other's records.
func checkNotFoundOnly(t *testing.T, what string, r *apptest.Response, other *tenant) {
	t.Helper()
	for _, e := range r.Errors {
		if e.Code() != "NOT_FOUND" {
			t.Errorf("%s: error %s %q, want NOT_FOUND", what, e.Code(), e.Message)
		}
		if strings.Contains(e.Message, other.prefix) {
			t.Errorf("%s: error message names another account's record: %q", what, e.Message)
		}
	}
}

// nestedQuery follows every edge of the graph from every root list.
const nestedQuery = `{
	viewer { id userName manager { id } reports { id } groups { id name } roles { id name } types { id name } }
	account { id name }
	users(first: 20) { edges { node { id userName email
		manager { id userName } reports { id userName }
		groups { id name users(first: 5) { edges { node { id userName } } } computers(first: 5) { edges { node { id name } } } }
		roles { id name rights { id key roles { id name } } users(first: 5) { edges { node { id userName } } } userTypes { id name } }
		types { id name roles { id name } grants { id dataSet { id name } node { id name } orgUnit { id name } right { id key } } users(first: 5) { edges { node { id userName } } } }
		grants { id right { id key } dataSet { id name } node { id name } orgUnit { id name } dashboard { id name } group { id name } user { id userName } grantedBy { id userName } }
		computers { id name owner { id userName } groups { id name } } } } }
	groups(first: 20) { edges { node { id name users(first: 5) { edges { node { id userName groups { id name } } } } computers(first: 5) { edges { node { id name owner { id userName } } } } } } }
	computers(first: 20) { edges { node { id name owner { id userName } groups { id name } } } }
	rights(first: 20) { edges { node { id key name roles { id name users(first: 5) { edges { node { id userName } } } userTypes { id name } } } } }
	roles(first: 20) { edges { node { id name rights { id key } users(first: 5) { edges { node { id userName } } } userTypes { id name } } } }
	userTypes(first: 20) { edges { node { id name roles { id name rights { id key } } users(first: 5) { edges { node { id } } }
		grants { id userType { id name } right { id key } dataSet { id name } node { id name } orgUnit { id name } dashboard { id name } group { id name } } } } }
	dataSets(first: 20) { edges { node { id name nodes(first: 20) { edges { node { id name dataSet { id name } parent { id name } children { id name } } } } } } }
	orgUnits(first: 20) { edges { node { id name parent { id name } children { id name } } } }
	dashboards(first: 20) { edges { node { id name } } }
	auditEvents(first: 20) { edges { node { id actor targetID } } }
}`

// walkJSON calls fn with every string in v and its path.
func walkJSON(v any, path string, fn func(path, s string)) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			walkJSON(sub, path+"."+k, fn)
		}
	case []any:
		for i, sub := range x {
			walkJSON(sub, fmt.Sprintf("%s.%d", path, i), fn)
		}
	case string:
		fn(path, x)
	}
}

// snapshotQuery reads every record of the caller's account with the fields and
// links a write could change, updatedAt included.
const snapshotQuery = `{
	account { name userCount }
	users(first: 20) { totalCount edges { node { id userName email title readOnly active updatedAt manager { id } groups { id } roles { id } types { id } grants { id } computers { id } } } }
	groups(first: 20) { totalCount edges { node { id name description updatedAt users(first: 10) { totalCount edges { node { id } } } computers(first: 10) { totalCount edges { node { id } } } } } }
	computers(first: 20) { totalCount edges { node { id name hostname updatedAt owner { id } } } }
	rights(first: 20) { totalCount edges { node { id key name description updatedAt roles { id } } } }
	roles(first: 20) { totalCount edges { node { id name description allData updatedAt rights { id } userTypes { id } } } }
	userTypes(first: 20) { totalCount edges { node { id name description readOnly updatedAt roles { id } grants { id kind dataSetID nodeID orgUnitID rightID allDataSets } } } }
	dataSets(first: 20) { totalCount edges { node { id name updatedAt nodes(first: 20) { totalCount edges { node { id name parentID path updatedAt } } } } } }
	orgUnits(first: 20) { totalCount edges { node { id name parentID path updatedAt } } }
	dashboards(first: 20) { totalCount edges { node { id name kind updatedAt } } }
	auditEvents { totalCount }
}`

// snapshot is the caller's whole account as canonical JSON lines (lists sorted),
// so two snapshots differ exactly when some record changed.
func snapshot(t *testing.T, c *apptest.Client) []string {
	t.Helper()
	var lines []string
	flatten(c.Must(snapshotQuery, nil).Data, "", &lines)
	sort.Strings(lines)
	return lines
}

// flatten writes one "path = value" line per leaf; list indexes are replaced by
// the element's canonical form so that order does not matter.
func flatten(v any, path string, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, sub := range x {
			flatten(sub, path+"."+k, out)
		}
	case []any:
		for _, sub := range x {
			var inner []string
			flatten(sub, "", &inner)
			sort.Strings(inner)
			*out = append(*out, path+"[] = {"+strings.Join(inner, "; ")+"}")
		}
		if len(x) == 0 {
			*out = append(*out, path+" = []")
		}
	default:
		raw, _ := json.Marshal(x)
		*out = append(*out, path+" = "+string(raw))
	}
}

func snapshotDiff(before, after []string) string {
	var b strings.Builder
	for _, l := range before {
		if !slices.Contains(after, l) {
			fmt.Fprintf(&b, "- %s\n", l)
		}
	}
	for _, l := range after {
		if !slices.Contains(before, l) {
			fmt.Fprintf(&b, "+ %s\n", l)
		}
	}
	return b.String()
}
