package app_test

import (
	"fmt"
	"sort"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/ast"

	"latchkey/graph/generated"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

var schema = generated.NewExecutableSchema(generated.Config{}).Schema()

// TestEveryOperationIsGuarded: no root field is left out of the guard table (an
// operation missing from it would be refused to everyone).
func TestEveryOperationIsGuarded(t *testing.T) {
	for _, root := range []*ast.Definition{schema.Query, schema.Mutation} {
		for _, f := range root.Fields {
			if strings.HasPrefix(f.Name, "__") {
				continue
			}
			if _, ok := access.Guards[f.Name]; !ok {
				t.Errorf("%s.%s has no entry in access.Guards", root.Name, f.Name)
			}
		}
	}
}

// dummy builds a value of type typ for the required arguments of an operation: ids
// that exist nowhere, one-element lists, objects with their required fields.
func dummy(typ *ast.Type) any {
	if typ.Elem != nil {
		return []any{dummy(typ.Elem)}
	}
	def := schema.Types[typ.NamedType]
	switch {
	case def.Kind == ast.Enum:
		return def.EnumValues[0].Name
	case def.Kind == ast.InputObject:
		obj := map[string]any{}
		for _, f := range def.Fields {
			if f.Type.NonNull {
				obj[f.Name] = dummy(f.Type)
			}
		}
		return obj
	}
	switch typ.NamedType {
	case "ID":
		return relayid.Encode(999_999_999)
	case "Int":
		return 1
	case "Boolean":
		return false
	case "Time":
		return "2026-01-01T00:00:00Z"
	}
	return "x"
}

// document calls one root field with dummy required arguments.
func document(opType string, f *ast.FieldDefinition) (string, map[string]any) {
	var decls, args []string
	vars := map[string]any{}
	for _, a := range f.Arguments {
		if !a.Type.NonNull {
			continue
		}
		decls = append(decls, fmt.Sprintf("$%s: %s", a.Name, a.Type.String()))
		args = append(args, fmt.Sprintf("%s: $%s", a.Name, a.Name))
		vars[a.Name] = dummy(a.Type)
	}
	q := opType
	if len(decls) > 0 {
		q += "(" + strings.Join(decls, ", ") + ")"
	}
	q += " { " + f.Name
	if len(args) > 0 {
		q += "(" + strings.Join(args, ", ") + ")"
	}
	if def := schema.Types[f.Type.Name()]; def.Kind != ast.Scalar && def.Kind != ast.Enum {
		q += " { __typename }"
	}
	return q + " }", vars
}

// TestGuardTable is generated from access.Guards: for every guarded query and
// mutation, a caller without the right is refused (FORBIDDEN) and a caller holding
// it gets past the guard (whatever the dummy input then earns), and nobody gets
// anywhere without a token.
func TestGuardTable(t *testing.T) {
	st := storetest.SQLite(t)
	env := apptest.New(t, st, app.Config{})
	admin, boot := env.Bootstrap("acme", "admin@acme.test")
	newCaller := func(name string, rights []string) *apptest.Client {
		u := admin.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test"}) { user { id } } }`, map[string]any{"n": name}).String("createUser.user.id")
		if len(rights) > 0 {
			r := admin.Must(`mutation($n: String!, $r: [String!]) { createRole(input: {name: $n, rights: $r, allData: true}) { role { id } } }`,
				map[string]any{"n": "role " + name, "r": rights}).String("createRole.role.id")
			admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": u, "r": r})
		}
		return env.Client(env.Token(boot.AccountID, u))
	}
	nobody := newCaller("nobody", nil)
	anonymous := env.Client("")
	holders := map[string]*apptest.Client{}
	for _, pair := range []struct {
		opType string
		root   *ast.Definition
	}{{"query", schema.Query}, {"mutation", schema.Mutation}} {
		for _, f := range pair.root.Fields {
			g, ok := access.Guards[f.Name]
			if !ok || strings.HasPrefix(f.Name, "__") {
				continue
			}
			q, vars := document(pair.opType, f)
			if !g.Public {
				if r := anonymous.Do(q, vars); len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Errorf("%s without a token: %+v", f.Name, r.Errors)
				}
			}
			if len(g.AnyOf) == 0 {
				continue
			}
			if e := nobody.Fail(q, vars); e.Code() != "FORBIDDEN" {
				t.Errorf("%s by a caller without %v: %s %q", f.Name, g.AnyOf, e.Code(), e.Message)
			}
			key := g.AnyOf[0]
			if holders[key] == nil {
				holders[key] = newCaller("holder "+key, []string{key})
			}
			for _, e := range holders[key].Do(q, vars).Errors {
				if c := e.Code(); c == "FORBIDDEN" || c == "UNAUTHENTICATED" || c == "READ_ONLY" {
					t.Errorf("%s by a holder of %s: %s %q", f.Name, key, c, e.Message)
				}
			}
		}
	}
	var tested []string
	for k := range holders {
		tested = append(tested, k)
	}
	sort.Strings(tested)
	if len(tested) < 6 {
		t.Errorf("only rights %v were exercised", tested)
	}
}

// TestEscalationAndAdminProtection: a caller may never grant a right they do not hold
// themselves, nor change an Admin unless they are one (SPEC §2.8); read-only callers
// change nothing (SPEC §2.3).
func TestEscalationAndAdminProtection(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		admin, boot := env.Bootstrap("acme", "admin@acme.test")
		mk := func(name string) string {
			return admin.Must(`mutation($n: String!) { createUser(input: {userName: $n, email: "x@acme.test"}) { user { id } } }`, map[string]any{"n": name}).String("createUser.user.id")
		}
		managerID, targetID, roID := mk("manager"), mk("target"), mk("readonly")
		mgrRole := admin.Must(`mutation { createRole(input: {name: "User Managers", rights: ["users.admin", "roles.admin", "reports.view"], allData: true}) { role { id } } }`, nil).String("createRole.role.id")
		for _, u := range []string{managerID, roID} {
			admin.Must(`mutation($u: ID!, $r: ID!) { applyRole(input: {userId: $u, roleId: $r}) { affectedCount } }`, map[string]any{"u": u, "r": mgrRole})
		}
		admin.Must(`mutation($u: ID!) { updateUser(input: {id: $u, readOnly: true}) { user { id } } }`, map[string]any{"u": roID})
		adminRole := admin.Must(`{ roles(where: {name: "Admin"}) { edges { node { id } } } }`, nil).String("roles.edges.0.node.id")
		fieldType := admin.Must(`mutation($r: ID!) { createUserType(input: {name: "Auditors", roleIds: [$r]}) { userType { id } } }`, map[string]any{"r": adminRole}).String("createUserType.userType.id")
		mgr := env.Client(env.Token(boot.AccountID, managerID))
		ro := env.Client(env.Token(boot.AccountID, roID))
		vars := map[string]any{"t": targetID, "a": boot.UserID, "admin": adminRole, "type": fieldType}
		for _, tc := range []struct {
			name, query, code string
		}{
			{"grant a right one holds", `mutation($t: ID!) { grantRights(input: {userId: $t, grants: [{right: "reports.view"}]}) { affectedCount } }`, ""},
			{"grant a right one lacks", `mutation($t: ID!) { grantRights(input: {userId: $t, grants: [{right: "audit.view"}]}) { affectedCount } }`, "FORBIDDEN"},
			{"company-specific right one lacks", `mutation($t: ID!) { bulkGrantRights(input: {selection: {userIds: [$t]}, grants: [{right: "audit.view", allDataSets: true}]}) { affectedCount } }`, "FORBIDDEN"},
			{"apply a role with rights one lacks", `mutation($t: ID!, $admin: ID!) { applyRole(input: {userId: $t, roleId: $admin}) { affectedCount } }`, "FORBIDDEN"},
			{"link a type with rights one lacks", `mutation($t: ID!, $type: ID!) { linkUserType(input: {userId: $t, userTypeId: $type}) { affectedCount } }`, "FORBIDDEN"},
			{"create a role with rights one lacks", `mutation { createRole(input: {name: "Sneaky", rights: ["scim.admin"]}) { role { id } } }`, "FORBIDDEN"},
			{"create a type bundling rights one lacks", `mutation($admin: ID!) { createUserType(input: {name: "Sneaky", roleIds: [$admin]}) { userType { id } } }`, "FORBIDDEN"},
			{"edit the Admin", `mutation($a: ID!) { updateUser(input: {id: $a, title: "x"}) { user { id } } }`, "FORBIDDEN"},
			{"revoke from the Admin", `mutation($a: ID!) { revokeRights(input: {userId: $a, grants: [{right: "reports.view"}]}) { affectedCount } }`, "FORBIDDEN"},
			{"deactivate a selection holding the Admin", `mutation { bulkSetActive(input: {selection: {where: {}}, active: false}) { affectedCount } }`, "FORBIDDEN"},
			{"delete the Admin", `mutation($a: ID!) { deleteUsers(input: {ids: [$a]}) { affectedCount } }`, "FORBIDDEN"},
			{"edit a non-Admin", `mutation($t: ID!) { updateUser(input: {id: $t, title: "x"}) { user { title } } }`, ""},
		} {
			r := mgr.Do(tc.query, vars)
			got := ""
			if len(r.Errors) > 0 {
				got = r.Errors[0].Code()
			}
			if got != tc.code {
				t.Errorf("%s: %q %v, want %q", tc.name, got, r.Errors, tc.code)
			}
		}
		// The Admin is untouched; the read-only user changes nothing, reads everything.
		if n := admin.Must(`query($a: ID!) { node(id: $a) { ... on User { title active } } }`, vars); n.String("node.title") != "" || n.Get("node.active") != true {
			t.Errorf("the Admin was changed: %v", n.Data)
		}
		for _, q := range []string{
			`mutation($t: ID!) { updateUser(input: {id: $t, title: "y"}) { user { id } } }`,
			`mutation { createUser(input: {userName: "z", email: "z@acme.test"}) { user { id } } }`,
			`mutation($t: ID!) { grantRights(input: {userId: $t, grants: [{right: "reports.view"}]}) { affectedCount } }`,
		} {
			if e := ro.Fail(q, vars); e.Code() != "READ_ONLY" {
				t.Errorf("read-only caller: %s %q", e.Code(), e.Message)
			}
		}
		if n := ro.Must(`{ users { totalCount } }`, nil).Int("users.totalCount"); n != 4 {
			t.Errorf("read-only caller reads %d users", n)
		}
	})
}

// TestGuardsFollowSpec checks the guard table against SPEC §2.8, written out
// independently: users and user types need users.admin, roles roles.admin, groups
// groups.admin, App Access access.admin, data sets and hierarchies datasets.admin,
// the audit log audit.view, SCIM tokens scim.admin.
func TestGuardsFollowSpec(t *testing.T) {
	spec := map[string][]string{
		"users.admin": {"createUser", "updateUser", "deleteUsers", "grantRights", "revokeRights", "applyRole",
			"linkUserType", "unlinkUserType", "createUserType", "updateUserType", "deleteUserType", "bulkGrantRights",
			"bulkRevokeRights", "bulkApplyRole", "bulkLinkUserType", "bulkUnlinkUserType", "bulkSetReadOnly",
			"bulkSetActive", "bulkDeleteUsers", "bulkSummary"},
		"roles.admin":    {"createRole", "updateRole", "deleteRole", "reapplyRole"},
		"groups.admin":   {"createGroup", "updateGroup", "deleteGroup", "addGroupMembers", "removeGroupMembers", "importGroupCsv"},
		"access.admin":   {"setViewableGroups"},
		"datasets.admin": {"createDataSet", "createHierarchyNode", "deleteDataSet", "deleteHierarchyNode"},
		"audit.view":     {"auditEvents"},
		"scim.admin":     {"createScimToken", "revokeScimToken"},
	}
	for right, ops := range spec {
		for _, op := range ops {
			g, ok := access.Guards[op]
			if !ok || len(g.AnyOf) == 0 || g.AnyOf[0] != right {
				t.Errorf("%s must need %s; the table says %+v", op, right, g)
			}
		}
	}
}
