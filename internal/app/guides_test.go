package app_test

import (
	"slices"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestActivTrakGuide replays "Granting Data Access to Employees": a group, a new login
// with a Power User role and a viewable group, and that user's view shrinking to the
// group's members; Admins and Configurators see everything and cannot be given
// viewable groups.
func TestActivTrakGuide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		admin, boot := env.Bootstrap("acme", "admin@acme.test")
		ids := map[string]string{}
		for _, n := range []string{"alice", "bob", "carol", "dave", "erin"} {
			ids[n] = admin.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test"}) { user { id } } }`,
				map[string]any{"n": n}).String("createUser.user.id")
		}
		pc := admin.Must(`mutation($o: ID!) { createComputer(input: {name: "PC-1", ownerId: $o}) { computer { id } } }`, map[string]any{"o": ids["alice"]}).String("createComputer.computer.id")
		admin.Must(`mutation { createComputer(input: {name: "PC-2"}) { computer { id } } }`, nil)
		// Steps 1–3: a group with users and a computer.
		sales := admin.Must(`mutation($u: [ID!], $c: [ID!]) { createGroup(input: {name: "Sales", userIds: $u, computerIds: $c}) { group { id } } }`,
			map[string]any{"u": []string{ids["alice"], ids["bob"]}, "c": []string{pc}}).String("createGroup.group.id")
		admin.Must(`mutation($u: [ID!]) { createGroup(input: {name: "Support", userIds: $u}) { group { id } } }`, map[string]any{"u": []string{ids["dave"]}})
		roleID := func(name string) string {
			return admin.Must(`query($n: String!) { roles(where: {name: $n}) { edges { node { id } } } }`, map[string]any{"n": name}).String("roles.edges.0.node.id")
		}
		// Steps 5–7: carol gets the Power User role and Sales as a viewable group.
		admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": ids["carol"], "r": roleID("Power User")})
		vg := admin.Must(`mutation($u: ID!, $g: [ID!]!) { setViewableGroups(input: {userId: $u, groupIds: $g}) { user { viewableGroups { name } allData } } }`,
			map[string]any{"u": ids["carol"], "g": []string{sales}})
		if vg.String("setViewableGroups.user.viewableGroups.0.name") != "Sales" || vg.Get("setViewableGroups.user.allData") != false {
			t.Fatalf("setViewableGroups: %v", vg.Data)
		}
		// Carol sees exactly Sales' members and herself, Sales, and Sales' computer.
		carol := env.Client(env.Token(boot.AccountID, ids["carol"]))
		view := carol.Must(`{ users(orderBy: {field: USER_NAME}) { totalCount edges { node { userName } } }
			groups { edges { node { name users { totalCount } } } } computers { edges { node { name } } } }`, nil)
		if got := view.Strings("users.edges", "node.userName"); !slices.Equal(got, []string{"alice", "bob", "carol"}) || view.Int("users.totalCount") != 3 {
			t.Errorf("carol sees users %v", got)
		}
		if got := view.Strings("groups.edges", "node.name"); !slices.Equal(got, []string{"Sales"}) {
			t.Errorf("carol sees groups %v", got)
		}
		if got := view.Strings("computers.edges", "node.name"); !slices.Equal(got, []string{"PC-1"}) {
			t.Errorf("carol sees computers %v", got)
		}
		if r := carol.Do(`query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ids["dave"]}); r.Get("node") != nil {
			t.Errorf("carol reads dave through node(): %v", r.Data)
		}
		// A Viewer with no viewable group sees no one else's data.
		admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": ids["erin"], "r": roleID("Viewer")})
		erin := env.Client(env.Token(boot.AccountID, ids["erin"]))
		if got := erin.Must(`{ users { edges { node { userName } } } groups { totalCount } }`, nil); !slices.Equal(got.Strings("users.edges", "node.userName"), []string{"erin"}) || got.Int("groups.totalCount") != 0 {
			t.Errorf("erin sees %v", got.Data)
		}
		// An Admin (all data) cannot be given viewable groups (step 5's note).
		admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": ids["bob"], "r": roleID("Configurator")})
		e := admin.Fail(`mutation($u: ID!, $g: [ID!]!) { setViewableGroups(input: {userId: $u, groupIds: $g}) { user { id } } }`,
			map[string]any{"u": ids["bob"], "g": []string{sales}})
		if e.Code() != "BAD_USER_INPUT" || e.Field() != "groupIds" {
			t.Errorf("viewable groups for an all-data user: %+v", e)
		}
		bob := env.Client(env.Token(boot.AccountID, ids["bob"]))
		if n := bob.Must(`{ users { totalCount } }`, nil).Int("users.totalCount"); n != 6 {
			t.Errorf("an all-data user sees %d users, want 6", n)
		}
		// Step 8: the App Access page lists users with their viewable groups.
		page := admin.Must(`{ users(where: {hasRolesWith: [{allData: false}]}, orderBy: {field: USER_NAME}) { edges { node { userName roles { name } viewableGroups { name } } } } }`, nil)
		if got := page.Strings("users.edges", "node.userName"); !slices.Equal(got, []string{"carol", "erin"}) {
			t.Errorf("App Access page: %v", got)
		}
	})
}

// TestXactAnalysisGuide replays "User Administration": data sets and hierarchies,
// roles that copy, user types that stay live, company-specific rights, read-only
// users, filters by role through types, scoped checks with explanations, and bulk
// editing of a selection with an impact preview.
func TestXactAnalysisGuide(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, _ := env.Bootstrap("acme", "admin@acme.test")
		m := func(q string, vars map[string]any) *apptest.Response { return c.Must(q, vars) }
		id := func(r *apptest.Response, path string) string { return r.String(path) }

		ds := id(m(`mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id } } }`, nil), "createDataSet.dataSet.id")
		other := id(m(`mutation { createDataSet(input: {name: "Carrier East"}) { dataSet { id } } }`, nil), "createDataSet.dataSet.id")
		node := func(name string, parent any) string {
			return id(m(`mutation($ds: ID!, $p: ID, $n: String!) { createHierarchyNode(input: {dataSetId: $ds, parentId: $p, name: $n}) { node { id } } }`,
				map[string]any{"ds": ds, "p": parent, "n": name}), "createHierarchyNode.node.id")
		}
		region1 := node("Region 1", nil)
		branchA := node("Branch A", region1)
		teamX := node("Team X", branchA)
		region2 := node("Region 2", nil)
		jane := id(m(`mutation { createUser(input: {userName: "jane", email: "jane@acme.test", location: "Denver"}) { user { id } } }`, nil), "createUser.user.id")
		sam := id(m(`mutation { createUser(input: {userName: "sam", email: "sam@acme.test", location: "Denver"}) { user { id } } }`, nil), "createUser.user.id")

		can := func(user, right, dataSet string, nodeID any) bool {
			return m(`query($u: ID!, $r: String!, $d: ID!, $n: ID) { can(userId: $u, right: $r, dataSetId: $d, nodeId: $n) }`,
				map[string]any{"u": user, "r": right, "d": dataSet, "n": nodeID}).Get("can") == true
		}

		// User Roles Admin: a role, applied (rights copied), then edited.
		adjuster := id(m(`mutation { createRole(input: {name: "Adjuster", rights: ["assignments.view", "assignments.edit"]}) { role { id } } }`, nil), "createRole.role.id")
		applied := m(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount impact { affectedCount rights { right { key } gained } }
			user { roles { name } grants { source sourceRoleName right { key } } } } }`, map[string]any{"u": jane, "r": adjuster})
		if applied.Int("applyRole.affectedCount") != 1 || applied.Int("applyRole.impact.affectedCount") != 1 || len(applied.List("applyRole.user.grants")) != 2 ||
			applied.String("applyRole.user.grants.0.source") != "ROLE" {
			t.Fatalf("applyRole: %v", applied.Data)
		}
		edit := m(`mutation($r: ID!) { updateRole(input: {id: $r, rights: ["assignments.view"]}) { role { rights { key } } impact { affectedCount } } }`, map[string]any{"r": adjuster})
		if edit.Int("updateRole.impact.affectedCount") != 0 {
			t.Errorf("editing a role changed copied rights: %v", edit.Data)
		}
		if n := m(`mutation($r: ID!) { reapplyRole(input: {roleId: $r}) { affectedCount } }`, map[string]any{"r": adjuster}).Int("reapplyRole.affectedCount"); n != 0 {
			t.Errorf("reapplying a role whose rights the holder has: %d changed", n)
		}

		// Data Set / Hierarchy tab: jane is limited to Region 1.
		m(`mutation($u: ID!, $d: ID!, $n: ID!) { grantRights(input: {userId: $u, grants: [{dataSetId: $d, nodeId: $n}]}) { affectedCount } }`,
			map[string]any{"u": jane, "d": ds, "n": region1})
		for _, tc := range []struct {
			name   string
			node   any
			set    string
			expect bool
		}{
			{"in Region 1", region1, ds, true}, {"in Branch A below it", branchA, ds, true}, {"in Team X, two levels below", teamX, ds, true},
			{"in sibling Region 2", region2, ds, false}, {"on the whole data set", nil, ds, false}, {"in another data set", nil, other, false},
		} {
			if got := can(jane, "assignments.edit", tc.set, tc.node); got != tc.expect {
				t.Errorf("jane can edit assignments %s: %v, want %v", tc.name, got, tc.expect)
			}
		}
		why := m(`query($u: ID!, $d: ID!, $n: ID!) { explain(userId: $u, right: "assignments.edit", dataSetId: $d, nodeId: $n) {
			allowed missing paths { kind role { name } roleName grantedAt } access { kind dataSet { name } node { name } } } }`,
			map[string]any{"u": jane, "d": ds, "n": branchA})
		if why.Get("explain.allowed") != true || why.String("explain.paths.0.kind") != "ROLE" || why.String("explain.paths.0.roleName") != "Adjuster" ||
			why.String("explain.paths.0.grantedAt") == "" || why.String("explain.access.0.node.name") != "Region 1" {
			t.Errorf("explain allowed: %v", why.Data)
		}
		denied := m(`query($u: ID!, $d: ID!, $n: ID!) { explain(userId: $u, right: "reports.custom", dataSetId: $d, nodeId: $n) { allowed missing } }`,
			map[string]any{"u": jane, "d": ds, "n": region2})
		if got := denied.List("explain.missing"); denied.Get("explain.allowed") != false || len(got) != 2 {
			t.Errorf("explain denied: %v", denied.Data)
		}

		// User Type Admin: a live bundle with a role and a company-specific right.
		reporter := id(m(`mutation { createRole(input: {name: "Reporter", rights: ["reports.view"]}) { role { id } } }`, nil), "createRole.role.id")
		field := id(m(`mutation($r: ID!, $d: ID!) { createUserType(input: {name: "Field", roleIds: [$r],
			grants: [{dataSetId: $d}, {right: "reports.custom", dataSetId: $d}]}) { userType { id } } }`,
			map[string]any{"r": reporter, "d": other}), "createUserType.userType.id")
		m(`mutation($u: ID!, $t: ID!) { linkUserType(input: {userId: $u, userTypeId: $t}) { affectedCount } }`, map[string]any{"u": jane, "t": field})
		if !can(jane, "reports.custom", other, nil) || can(jane, "reports.custom", ds, region1) || !can(jane, "reports.view", ds, branchA) {
			t.Error("type rights: company-specific right on its data set only, role rights everywhere jane reaches")
		}
		eff := m(`query($u: ID!) { node(id: $u) { ... on User { effectiveRights { right { key } dataSet { name } effective masks sources { kind role { name } userType { name } } } } } }`,
			map[string]any{"u": jane})
		kinds := map[string][]string{}
		for _, er := range eff.List("node.effectiveRights") {
			r := &apptest.Response{Data: map[string]any{"x": er}}
			for _, s := range r.List("x.sources") {
				kinds[r.String("x.right.key")] = append(kinds[r.String("x.right.key")], (&apptest.Response{Data: map[string]any{"s": s}}).String("s.kind"))
			}
		}
		if !slices.Equal(kinds["reports.view"], []string{"TYPE_ROLE"}) || !slices.Equal(kinds["reports.custom"], []string{"TYPE"}) || !slices.Equal(kinds["assignments.edit"], []string{"ROLE"}) {
			t.Errorf("provenance: %v", kinds)
		}
		// Filter by role includes types (SPEC §2.7); by right, effective.
		for _, f := range []struct {
			where map[string]any
			want  []string
		}{
			{map[string]any{"withRole": reporter}, []string{"jane"}},
			{map[string]any{"withRole": adjuster, "location": "Denver"}, []string{"jane"}},
			{map[string]any{"withUserType": field}, []string{"jane"}},
			{map[string]any{"withRight": "reports.custom", "location": "Denver"}, []string{"jane"}},
			{map[string]any{"location": "Denver", "not": map[string]any{"withRole": reporter}}, []string{"sam"}},
		} {
			got := m(`query($w: UserWhereInput) { users(where: $w, orderBy: {field: USER_NAME}) { edges { node { userName } } } }`, map[string]any{"w": f.where}).Strings("users.edges", "node.userName")
			if !slices.Equal(got, f.want) {
				t.Errorf("users where %v: %v, want %v", f.where, got, f.want)
			}
		}
		who := m(`query($d: ID!, $n: ID!) { whoCan(right: "assignments.view", dataSetId: $d, nodeId: $n) { totalCount edges { node { userName } } } }`,
			map[string]any{"d": ds, "n": teamX})
		if got := who.Strings("whoCan.edges", "node.userName"); !slices.Equal(got, []string{"jane"}) {
			t.Errorf("whoCan: %v", got)
		}

		// Editing the type: read-only, previewed first, changes jane at once.
		preview := m(`mutation($t: ID!) { updateUserType(input: {id: $t, readOnly: true, dryRun: true}) { impact { affectedCount users { userName lost { key } } } } }`,
			map[string]any{"t": field})
		if got := preview.Strings("updateUserType.impact.users.0.lost", "key"); !slices.Equal(got, []string{"assignments.edit", "reports.custom"}) {
			t.Errorf("preview of read-only: %v", preview.Data)
		}
		if !can(jane, "assignments.edit", ds, region1) {
			t.Fatal("a dry run changed the type")
		}
		m(`mutation($t: ID!) { updateUserType(input: {id: $t, readOnly: true}) { impact { affectedCount } } }`, map[string]any{"t": field})
		if can(jane, "assignments.edit", ds, region1) || !can(jane, "assignments.view", ds, region1) {
			t.Error("read-only type: WRITE rights must go, READ rights stay")
		}
		// Deleting the type revokes exactly what it granted: a right jane also holds
		// directly stays. (reports.custom is WRITE and already masked by the read-only
		// type; with the type gone jane is no longer read-only and regains her copied
		// assignments.edit.)
		m(`mutation($u: ID!) { grantRights(input: {userId: $u, grants: [{right: "reports.view"}]}) { affectedCount } }`, map[string]any{"u": jane})
		del := m(`mutation($t: ID!) { deleteUserType(input: {id: $t}) { deletedId impact { users { gained { key } lost { key } accessLost { dataSet { name } } } } } }`, map[string]any{"t": field})
		if got := del.Strings("deleteUserType.impact.users.0.gained", "key"); !slices.Equal(got, []string{"assignments.edit"}) || len(del.List("deleteUserType.impact.users.0.lost")) != 0 ||
			del.String("deleteUserType.impact.users.0.accessLost.0.dataSet.name") != "Carrier East" {
			t.Errorf("deleting the type: %v", del.Data)
		}
		if !can(jane, "reports.view", ds, region1) || can(jane, "reports.custom", other, nil) || !can(jane, "assignments.edit", ds, region1) {
			t.Error("after deleting the type: the direct right and the copied role rights stay; the type's go")
		}

		// Edit Selected Users: a filter selection, its summary, a previewed bulk apply.
		sel := map[string]any{"where": map[string]any{"location": "Denver"}}
		sum := m(`query($s: UserSelection!) { bulkSummary(selection: $s) { count rights { right { key } direct effective } roles { role { name } count } } }`, map[string]any{"s": sel})
		counts := map[string][2]int{}
		for _, rc := range sum.List("bulkSummary.rights") {
			r := &apptest.Response{Data: map[string]any{"x": rc}}
			counts[r.String("x.right.key")] = [2]int{r.Int("x.direct"), r.Int("x.effective")}
		}
		if sum.Int("bulkSummary.count") != 2 || counts["assignments.edit"] != [2]int{1, 1} || counts["reports.view"] != [2]int{1, 1} {
			t.Errorf("bulkSummary: %v", counts)
		}
		dry := m(`mutation($s: UserSelection!, $r: ID!) { bulkApplyRole(input: {selection: $s, roleId: $r, dryRun: true}) { affectedCount dryRun impact { affectedCount users { userName gained { key } } } } }`,
			map[string]any{"s": sel, "r": reporter})
		if dry.Int("bulkApplyRole.affectedCount") != 2 || dry.Int("bulkApplyRole.impact.affectedCount") != 1 || dry.String("bulkApplyRole.impact.users.0.userName") != "sam" {
			t.Errorf("bulk preview: %v", dry.Data)
		}
		if m(`query { users(where: {withRole: "`+reporter+`"}) { totalCount } }`, nil).Int("users.totalCount") != 0 {
			t.Fatal("a bulk dry run changed users")
		}
		real := m(`mutation($s: UserSelection!, $r: ID!) { bulkApplyRole(input: {selection: $s, roleId: $r}) { affectedCount impact { affectedCount } } }`,
			map[string]any{"s": sel, "r": reporter})
		if real.Int("bulkApplyRole.affectedCount") != 2 || real.Int("bulkApplyRole.impact.affectedCount") != 1 || can(sam, "reports.view", ds, nil) {
			t.Errorf("bulk apply: %v", real.Data)
		}
		// sam now holds reports.view but has no data-set access: can() still says no.
		if got := m(`query($r: ID!) { users(where: {withRole: $r}, orderBy: {field: USER_NAME}) { edges { node { userName } } } }`, map[string]any{"r": reporter}).Strings("users.edges", "node.userName"); !slices.Equal(got, []string{"jane", "sam"}) {
			t.Errorf("after bulk apply, Reporter holders: %v", got)
		}
		audit := m(`{ auditEvents(where: {action: "access.apply_role"}, orderBy: {field: CREATED_AT, direction: DESC}, first: 1) { edges { node { after } } } }`, nil)
		if audit.Int("auditEvents.edges.0.node.after.selected") != 2 || audit.Int("auditEvents.edges.0.node.after.impact.affected") != 1 {
			t.Errorf("bulk audit: %v", audit.Data)
		}
	})
}
