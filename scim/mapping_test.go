package scim_test

import (
	"fmt"
	"testing"

	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestMappingRules: a provisioned group named "Claims Adjusters", mapped to the
// "Adjuster" user type, gives its members the type's rights live; leaving the group
// unlinks it (unless another mapped group still links it); a role rule copies the
// role, and removing a member never removes what was copied.
func TestMappingRules(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		c := e.gql
		ds, _, typ := adjusterType(c)
		viewerRole := ""
		for _, n := range c.Must(`{ roles(first: 50) { edges { node { id name } } } }`, nil).List("roles.edges") {
			node := n.(map[string]any)["node"].(map[string]any)
			if node["name"] == "Viewer" {
				viewerRole = node["id"].(string)
			}
		}

		rule := func(group, field, id string) string {
			return c.Must(`mutation($g: String!, $t: ID, $r: ID) { createScimMappingRule(input: {groupName: $g, userTypeId: $t, roleId: $r}) { rule { id groupName userType { name } role { name } } } }`,
				map[string]any{"g": group, field: id}).String("createScimMappingRule.rule.id")
		}
		rule("claims adjusters", "t", typ) // matched case-insensitively
		rule("Senior Adjusters", "t", typ)
		rule("Report Viewers", "r", viewerRole)

		can := func(userID string) bool {
			t.Helper()
			return c.Must(`query($u: ID!, $ds: ID!) { can(userId: $u, right: "claims.approve", dataSetId: $ds) }`,
				map[string]any{"u": userID, "ds": ds}).Get("can") == true
		}
		a := e.call("POST", "/Users", newUser("a@acme.test", nil)).must(201).str("id")
		b := e.call("POST", "/Users", newUser("b@acme.test", nil)).must(201).str("id")
		v := e.call("POST", "/Users", newUser("v@acme.test", nil)).must(201).str("id")
		if can(a) || can(b) {
			t.Fatal("rights before any group")
		}

		// Created with a member: the member gets the type, and its rights, live.
		g := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims Adjusters",
			"members": []any{map[string]any{"value": a}}}).must(201).str("id")
		if !can(a) || can(b) || !sameStrings(typeNames(e.user(a)), []string{"Adjuster"}) {
			t.Fatalf("after create: can(a)=%v can(b)=%v types %v", can(a), can(b), typeNames(e.user(a)))
		}
		// Explained through the type.
		ex := c.Must(`query($u: ID!, $ds: ID!) { explain(userId: $u, right: "claims.approve", dataSetId: $ds) { allowed paths { kind userType { name } } } }`,
			map[string]any{"u": a, "ds": ds})
		if ex.Get("explain.allowed") != true || ex.String("explain.paths.0.userType.name") != "Adjuster" {
			t.Fatalf("explain: %v", ex.Data)
		}

		// Added by PATCH: b too. Removed: a loses it.
		e.call("PATCH", "/Groups/"+g, patch(op("add", "members", []any{map[string]any{"value": b}}))).must(200)
		if !can(b) {
			t.Fatal("b after add")
		}
		e.call("PATCH", "/Groups/"+g, patch(op("remove", `members[value eq "`+a+`"]`, nil))).must(200)
		if can(a) || len(typeNames(e.user(a))) != 0 || !can(b) {
			t.Fatalf("after remove: can(a)=%v types %v can(b)=%v", can(a), typeNames(e.user(a)), can(b))
		}

		// Renamed away from the rule: members lose the type; renamed back: they get it.
		e.call("PATCH", "/Groups/"+g, patch(op("replace", "displayName", "Former Adjusters"))).must(200)
		if can(b) {
			t.Fatal("b kept the type after the rename")
		}
		e.call("PATCH", "/Groups/"+g, patch(op("replace", "displayName", "Claims Adjusters"))).must(200)
		if !can(b) {
			t.Fatal("b without the type after renaming back")
		}

		// Another mapped group links the same type: leaving one keeps it.
		senior := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Senior Adjusters",
			"members": []any{map[string]any{"value": b}}}).must(201).str("id")
		e.call("PATCH", "/Groups/"+g, patch(op("Remove", "members", []any{map[string]any{"value": b}}))).must(200)
		if !can(b) {
			t.Fatal("b lost the type although Senior Adjusters links it")
		}
		// Deleting that group unlinks it.
		e.call("DELETE", "/Groups/"+senior, nil).must(204)
		if can(b) {
			t.Fatal("b kept the type after its group was deleted")
		}

		// A role rule copies: leaving the group keeps the role and its rights.
		rv := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Report Viewers",
			"members": []any{map[string]any{"value": v}}}).must(201).str("id")
		if !sameStrings(roleNames(e.user(v)), []string{"Viewer"}) {
			t.Fatalf("roles after joining: %v", roleNames(e.user(v)))
		}
		e.call("PATCH", "/Groups/"+rv, patch(op("replace", "members", []any{}))).must(200)
		if !sameStrings(roleNames(e.user(v)), []string{"Viewer"}) || len(e.memberNames(rv)) != 0 {
			t.Fatalf("roles after leaving: %v", roleNames(e.user(v)))
		}

		// A rule made after the fact applies to the group's members at once, and
		// deleting it unlinks.
		aud := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Auditors",
			"members": []any{map[string]any{"value": a}}}).must(201).str("id")
		_ = aud
		if can(a) {
			t.Fatal("a has rights before the Auditors rule")
		}
		ruleID := rule("Auditors", "t", typ)
		if !can(a) {
			t.Fatal("the new rule did not apply to the group's members")
		}
		c.Must(`mutation($id: ID!) { deleteScimMappingRule(input: {id: $id}) { deletedId } }`, map[string]any{"id": ruleID})
		if can(a) {
			t.Fatal("deleting the rule did not unlink")
		}

		// Rules name exactly one of a type and a role.
		for _, vars := range []map[string]any{{"g": "X"}, {"g": "X", "t": typ, "r": viewerRole}} {
			err := c.Fail(`mutation($g: String!, $t: ID, $r: ID) { createScimMappingRule(input: {groupName: $g, userTypeId: $t, roleId: $r}) { rule { id } } }`, vars)
			if err.Code() != "BAD_USER_INPUT" {
				t.Fatalf("rule %v: %+v", vars, err)
			}
		}
		rules := c.Must(`{ scimMappingRules { totalCount } }`, nil)
		if rules.Int("scimMappingRules.totalCount") != 3 {
			t.Fatalf("rules: %v", rules.Data)
		}
	})
}

// adjusterType creates a data set, the right claims.approve, a role "Adjusting"
// holding it and a user type "Adjuster" with that role and access to the data set.
func adjusterType(c *apptest.Client) (ds, role, typ string) {
	ds = c.Must(`mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
	c.Must(`mutation { createRight(input: {key: "claims.approve", name: "Approve Claims", application: "Claims", kind: WRITE}) { right { id } } }`, nil)
	role = c.Must(`mutation { createRole(input: {name: "Adjusting", rights: ["claims.approve"]}) { role { id } } }`, nil).String("createRole.role.id")
	typ = c.Must(`mutation($r: ID!, $ds: ID!) { createUserType(input: {name: "Adjuster", roleIds: [$r], grants: [{dataSetId: $ds}]}) { userType { id } } }`,
		map[string]any{"r": role, "ds": ds}).String("createUserType.userType.id")
	return ds, role, typ
}

// TestScimTokens: tokens are created (shown once), listed with prefix and last use,
// and revoked in GraphQL; a revoked token gets 401.
func TestScimTokens(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		r := e.gql.Must(`mutation { createScimToken(input: {name: "Okta"}) { token scimToken { id name prefix lastUsedAt revokedAt } } }`, nil)
		token, id := r.String("createScimToken.token"), r.String("createScimToken.scimToken.id")
		if token == "" || r.String("createScimToken.scimToken.prefix") != token[:len(r.String("createScimToken.scimToken.prefix"))] ||
			r.Get("createScimToken.scimToken.lastUsedAt") != nil {
			t.Fatalf("created: %v", r.Data)
		}
		e.callWith(token, "GET", "/Users", nil).must(200)
		list := e.gql.Must(`{ scimTokens { edges { node { id name prefix lastUsedAt } } } }`, nil)
		used := false
		for _, edge := range list.List("scimTokens.edges") {
			n := (&apptest.Response{Data: map[string]any{"n": edge}})
			if n.String("n.node.id") == id && n.String("n.node.lastUsedAt") != "" {
				used = true
			}
		}
		if !used {
			t.Fatalf("last use not recorded: %v", list.Data)
		}
		e.gql.Must(`mutation($id: ID!) { revokeScimToken(input: {id: $id}) { scimToken { revokedAt } } }`, map[string]any{"id": id})
		e.callWith(token, "GET", "/Users", nil).fails(401, "")
		// The bootstrap token is unaffected.
		e.call("GET", "/Users", nil).must(200)
	})
}

// TestMappingProvenance: a type linked by a mapping rule is explained as held through
// the group (SCIM_GROUP, naming it); a type an admin also linked by hand survives
// leaving the group; and the rules follow membership however it changes — GraphQL
// member edits, bulk group edits (with a dry run that shows the loss) and group
// deletion included.
func TestMappingProvenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		c := e.gql
		ds, _, typ := adjusterType(c)
		c.Must(`mutation($t: ID!) { createScimMappingRule(input: {groupName: "Claims Adjusters", userTypeId: $t}) { rule { id } } }`,
			map[string]any{"t": typ})

		a := e.call("POST", "/Users", newUser("a@acme.test", nil)).must(201).str("id")
		b := e.call("POST", "/Users", newUser("b@acme.test", nil)).must(201).str("id")
		g := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims Adjusters",
			"members": []any{map[string]any{"value": a}, map[string]any{"value": b}}}).must(201).str("id")

		// paths lists how u holds claims.approve, as "KIND/type/group".
		paths := func(u string) []string {
			t.Helper()
			r := c.Must(`query($u: ID!) { node(id: $u) { ... on User { effectiveRights { right { key } sources { kind userType { name } role { name } group { id name } groupName } } } } }`,
				map[string]any{"u": u})
			var out []string
			for _, er := range r.List("node.effectiveRights") {
				er := &apptest.Response{Data: map[string]any{"r": er}}
				if er.String("r.right.key") != "claims.approve" {
					continue
				}
				for i := range er.List("r.sources") {
					p := func(f string) string { return er.String(fmt.Sprintf("r.sources.%d.%s", i, f)) }
					s := p("kind") + "/" + p("userType.name")
					if p("group.id") != "" {
						if p("group.id") != g || p("groupName") != "Claims Adjusters" || p("group.name") != "Claims Adjusters" || p("role.name") != "Adjusting" {
							t.Fatalf("group path: %v", er.Data)
						}
						s += "/" + p("groupName")
					}
					out = append(out, s)
				}
			}
			return out
		}
		if got := paths(a); !sameStrings(got, []string{"SCIM_GROUP/Adjuster/Claims Adjusters"}) {
			t.Fatalf("a's paths: %v", got)
		}
		ex := c.Must(`query($u: ID!, $ds: ID!) { explain(userId: $u, right: "claims.approve", dataSetId: $ds) { allowed paths { kind groupName } access { kind groupName } } }`,
			map[string]any{"u": a, "ds": ds})
		if ex.String("explain.paths.0.kind") != "SCIM_GROUP" || ex.String("explain.paths.0.groupName") != "Claims Adjusters" ||
			ex.String("explain.access.0.kind") != "SCIM_GROUP" {
			t.Fatalf("explain: %v", ex.Data)
		}

		// b is linked by hand as well: two paths; leaving the group keeps the hand link.
		c.Must(`mutation($u: ID!, $t: ID!) { linkUserType(input: {userId: $u, userTypeId: $t}) { user { id } } }`, map[string]any{"u": b, "t": typ})
		if got := paths(b); !sameStrings(got, []string{"TYPE_ROLE/Adjuster", "SCIM_GROUP/Adjuster/Claims Adjusters"}) {
			t.Fatalf("b's paths: %v", got)
		}
		e.call("PATCH", "/Groups/"+g, patch(op("remove", `members[value eq "`+b+`"]`, nil))).must(200)
		if got := paths(b); !sameStrings(got, []string{"TYPE_ROLE/Adjuster"}) {
			t.Fatalf("b's paths after leaving: %v", got)
		}

		// GraphQL member edits apply the rules too.
		c.Must(`mutation($g: ID!, $u: ID!) { removeGroupMembers(input: {groupId: $g, userIds: [$u]}) { group { id } } }`, map[string]any{"g": g, "u": a})
		if got := paths(a); len(got) != 0 || len(typeNames(e.user(a))) != 0 {
			t.Fatalf("a after removeGroupMembers: %v %v", got, typeNames(e.user(a)))
		}
		c.Must(`mutation($g: ID!, $u: ID!) { addGroupMembers(input: {groupId: $g, userIds: [$u]}) { group { id } } }`, map[string]any{"g": g, "u": a})
		if got := paths(a); !sameStrings(got, []string{"SCIM_GROUP/Adjuster/Claims Adjusters"}) {
			t.Fatalf("a after addGroupMembers: %v", got)
		}

		// A bulk removal previews the loss, then makes it.
		bulk := `mutation($u: ID!, $g: ID!, $dry: Boolean) { bulkRemoveFromGroups(input: {selection: {userIds: [$u]}, groupIds: [$g], dryRun: $dry}) {
			affectedCount impact { affectedCount users { lost { key } } } } }`
		dry := c.Must(bulk, map[string]any{"u": a, "g": g, "dry": true})
		if dry.Int("bulkRemoveFromGroups.impact.affectedCount") != 1 || dry.String("bulkRemoveFromGroups.impact.users.0.lost.0.key") != "claims.approve" {
			t.Fatalf("dry run: %v", dry.Data)
		}
		if got := paths(a); len(got) != 1 {
			t.Fatalf("the dry run changed something: %v", got)
		}
		c.Must(bulk, map[string]any{"u": a, "g": g, "dry": false})
		if got := paths(a); len(got) != 0 {
			t.Fatalf("a after bulk removal: %v", got)
		}
		c.Must(`mutation($u: ID!, $g: ID!) { bulkAddToGroups(input: {selection: {userIds: [$u]}, groupIds: [$g]}) { affectedCount } }`, map[string]any{"u": a, "g": g})
		if got := paths(a); !sameStrings(got, []string{"SCIM_GROUP/Adjuster/Claims Adjusters"}) {
			t.Fatalf("a after bulk add: %v", got)
		}

		// Deleting the group in GraphQL unlinks what only it linked.
		c.Must(`mutation($b: ID!) { addGroupMembers(input: {groupId: $b, userIds: []}) { group { id } } }`, map[string]any{"b": g})
		c.Must(`mutation($g: ID!) { deleteGroup(input: {id: $g}) { deletedId } }`, map[string]any{"g": g})
		if got := paths(a); len(got) != 0 {
			t.Fatalf("a after the group was deleted: %v", got)
		}
		if got := paths(b); !sameStrings(got, []string{"TYPE_ROLE/Adjuster"}) {
			t.Fatalf("b after the group was deleted: %v", got)
		}
	})
}
