package access_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"testing"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

func newAccount(t *testing.T, client *gen.Client, name string) context.Context {
	t.Helper()
	_, ctx, err := access.CreateAccount(context.Background(), client, name)
	if err != nil {
		t.Fatalf("CreateAccount: %v", err)
	}
	return ctx
}

func newUser(t *testing.T, ctx context.Context, client *gen.Client, name string) *gen.User {
	t.Helper()
	u, err := client.User.Create().SetUserName(name).SetEmail(name + "@acme.test").Save(ctx)
	if err != nil {
		t.Fatalf("create user: %v", err)
	}
	return u
}

func codeOf(err error) problem.Code {
	var p *problem.Error
	if errors.As(err, &p) {
		return p.Code
	}
	return problem.From(err).Code
}

func TestCreateAccountSeedsCatalogue(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := newAccount(t, st.Client, "acme")
		rights, err := st.Client.Right.Query().Order(right.ByKey()).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(rights) != len(access.BuiltInRights) {
			t.Fatalf("%d rights, want %d", len(rights), len(access.BuiltInRights))
		}
		for _, r := range rights {
			want := right.KindWRITE
			if r.Key == "audit.view" || r.Key == "reports.view" || r.Key == "assignments.view" {
				want = right.KindREAD
			}
			if r.Kind != want || !r.BuiltIn {
				t.Errorf("%s: kind %s built-in %v", r.Key, r.Kind, r.BuiltIn)
			}
		}
		roles, err := st.Client.Role.Query().WithRights().Order(role.ByName()).All(ctx)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string]struct {
			allData bool
			rights  int
		}{"Admin": {true, len(access.BuiltInRights)}, "Configurator": {true, 9}, "Power User": {false, 4}, "Viewer": {false, 2}}
		for _, r := range roles {
			w, ok := want[r.Name]
			if !ok || r.AllData != w.allData || len(r.Edges.Rights) != w.rights || !r.BuiltIn {
				t.Errorf("role %s: allData %v, %d rights", r.Name, r.AllData, len(r.Edges.Rights))
			}
		}
		if len(roles) != 4 {
			t.Errorf("%d roles", len(roles))
		}
		if _, _, err := access.CreateAccount(context.Background(), st.Client, "acme"); codeOf(err) != problem.Conflict {
			t.Errorf("second account named acme: %v", err)
		}
	})
}

func TestApplyRoleCopies(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		client := st.Client
		ctx := newAccount(t, client, "acme")
		jane := newUser(t, ctx, client, "jane")
		reports, err := access.CreateRole(ctx, client, access.CreateRoleInput{Name: "Reporter", Rights: []string{"reports.view", "reports.custom"}})
		if err != nil {
			t.Fatal(err)
		}
		heldRights := func() map[string][]string { // right key -> source keys
			out := map[string][]string{}
			for key, grants := range directGrants(t, ctx, client, jane) {
				for _, g := range grants {
					out[key] = append(out[key], g.SourceKey)
				}
			}
			return out
		}
		// Applying copies the rights with source ROLE and links the role.
		if err := access.ApplyRole(ctx, client, reports.ID, jane.ID); err != nil {
			t.Fatal(err)
		}
		if got := heldRights(); len(got) != 2 || len(got["reports.view"]) != 1 {
			t.Fatalf("after apply: %v", got)
		}
		if ok, _ := client.User.Query().Where(user.ID(jane.ID), user.HasRolesWith(role.ID(reports.ID))).Exist(ctx); !ok {
			t.Fatal("the role is not recorded on the user")
		}
		// Re-applying adds no second path.
		if err := access.ApplyRole(ctx, client, reports.ID, jane.ID); err != nil {
			t.Fatal(err)
		}
		if got := heldRights(); len(got["reports.view"]) != 1 {
			t.Fatalf("re-apply duplicated a path: %v", got)
		}
		// Editing the role later changes nothing already copied (SPEC §2.1).
		if _, _, err := access.UpdateRole(ctx, client, access.UpdateRoleInput{ID: reports.ID, Rights: []string{"audit.view"}}); err != nil {
			t.Fatal(err)
		}
		if got := heldRights(); len(got) != 2 || got["audit.view"] != nil {
			t.Fatalf("editing the role changed copied rights: %v", got)
		}
		// Applying a second role adds and removes nothing else.
		viewer, err := client.Role.Query().Where(role.Name("Viewer")).Only(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := access.ApplyRole(ctx, client, viewer.ID, jane.ID); err != nil {
			t.Fatal(err)
		}
		got := heldRights()
		if len(got) != 3 || !slices.Equal(sorted(got["reports.view"]), sorted([]string{"ROLE:" + itoa(reports.ID), "ROLE:" + itoa(viewer.ID)})) {
			t.Fatalf("after a second role: %v", got)
		}
		// Deleting the role leaves what it copied.
		if _, err := access.DeleteRole(ctx, client, reports.ID, false); err != nil {
			t.Fatal(err)
		}
		if got := heldRights(); len(got) != 3 {
			t.Fatalf("deleting the role removed copied rights: %v", got)
		}
	})
}

func TestBuiltInsAreProtected(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		client := st.Client
		ctx := newAccount(t, client, "acme")
		admin, _ := client.Role.Query().Where(role.Name(access.AdminRole)).Only(ctx)
		viewer, _ := client.Role.Query().Where(role.Name("Viewer")).Only(ctx)
		usersAdmin, _ := client.Right.Query().Where(right.Key("users.admin")).Only(ctx)
		newName := "Boss"
		noAll := false
		for _, tc := range []struct {
			name string
			err  error
		}{
			{"delete built-in role", second(access.DeleteRole(ctx, client, viewer.ID, false))},
			{"rename built-in role", third(access.UpdateRole(ctx, client, access.UpdateRoleInput{ID: viewer.ID, Name: &newName}))},
			{"change Admin's rights", third(access.UpdateRole(ctx, client, access.UpdateRoleInput{ID: admin.ID, Rights: []string{"reports.view"}}))},
			{"take Admin's all data", third(access.UpdateRole(ctx, client, access.UpdateRoleInput{ID: admin.ID, AllData: &noAll}))},
			{"delete built-in right", access.DeleteRight(ctx, client, usersAdmin.ID)},
		} {
			if codeOf(tc.err) != problem.BadUserInput {
				t.Errorf("%s: %v", tc.name, tc.err)
			}
		}
		// A new right joins the Admin role's definition.
		r, err := access.CreateRight(ctx, client, access.CreateRightInput{Key: "claims.approve", Name: "Approve", Kind: right.KindWRITE})
		if err != nil {
			t.Fatal(err)
		}
		if ok, _ := client.Role.Query().Where(role.ID(admin.ID), role.HasRightsWith(right.ID(r.ID))).Exist(ctx); !ok {
			t.Error("Admin does not hold the new right")
		}
	})
}

func TestResolveGrant(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		client := st.Client
		ctx := newAccount(t, client, "acme")
		ds, _ := client.DataSet.Create().SetName("West").Save(ctx)
		other, _ := client.DataSet.Create().SetName("East").Save(ctx)
		node, _ := client.HierarchyNode.Create().SetDataSetID(ds.ID).SetName("Region").Save(ctx)
		org, _ := client.OrgUnit.Create().SetName("HQ").Save(ctx)
		dash, _ := client.Dashboard.Create().SetName("Cycle").SetKind("GENERIC").Save(ctx)
		key := func(s string) *string { return &s }
		id := func(i int) *int { return &i }
		yes := true
		reportsView, _ := client.Right.Query().Where(right.Key("reports.view")).OnlyID(ctx)
		for _, tc := range []struct {
			name    string
			in      access.GrantInput
			kind    enums.GrantKind
			wantKey string
			code    problem.Code
		}{
			{"application right", access.GrantInput{Right: key("reports.view")}, enums.GrantAppRight, "R:" + itoa(reportsView), ""},
			{"data set", access.GrantInput{DataSetID: id(ds.ID)}, enums.GrantDataSet, "D:" + itoa(ds.ID), ""},
			{"data set node", access.GrantInput{DataSetID: id(ds.ID), NodeID: id(node.ID)}, enums.GrantDataSet, "D:" + itoa(ds.ID) + ":" + itoa(node.ID), ""},
			{"company right", access.GrantInput{Right: key("reports.view"), DataSetID: id(ds.ID)}, enums.GrantCompanyRight, "C:" + itoa(reportsView) + ":" + itoa(ds.ID), ""},
			{"company right ALL", access.GrantInput{Right: key("reports.view"), AllDataSets: &yes}, enums.GrantCompanyRight, "C:" + itoa(reportsView) + ":*", ""},
			{"org unit", access.GrantInput{OrgUnitID: id(org.ID)}, enums.GrantOrgUnit, "O:" + itoa(org.ID), ""},
			{"dashboard", access.GrantInput{DashboardID: id(dash.ID)}, enums.GrantDashboard, "B:" + itoa(dash.ID), ""},
			{"nothing", access.GrantInput{}, "", "", problem.BadUserInput},
			{"right, data set and ALL", access.GrantInput{Right: key("reports.view"), DataSetID: id(ds.ID), AllDataSets: &yes}, "", "", problem.BadUserInput},
			{"company right on a level", access.GrantInput{Right: key("reports.view"), DataSetID: id(ds.ID), NodeID: id(node.ID)}, enums.GrantCompanyRight, "C:" + itoa(reportsView) + ":" + itoa(ds.ID) + ":" + itoa(node.ID), ""},
			{"company right ALL on a level", access.GrantInput{Right: key("reports.view"), AllDataSets: &yes, NodeID: id(node.ID)}, "", "", problem.BadUserInput},
			{"node without data set", access.GrantInput{NodeID: id(node.ID)}, "", "", problem.BadUserInput},
			{"org and dashboard", access.GrantInput{OrgUnitID: id(org.ID), DashboardID: id(dash.ID)}, "", "", problem.BadUserInput},
			{"unknown right", access.GrantInput{Right: key("nope.nope")}, "", "", problem.NotFound},
			{"node of another data set", access.GrantInput{DataSetID: id(other.ID), NodeID: id(node.ID)}, "", "", problem.NotFound},
			{"unknown data set", access.GrantInput{DataSetID: id(ds.ID + 999)}, "", "", problem.NotFound},
		} {
			g, err := access.ResolveGrant(ctx, client, tc.in, "grant")
			if tc.code != "" {
				if codeOf(err) != tc.code {
					t.Errorf("%s: err %v, want %s", tc.name, err, tc.code)
				}
				continue
			}
			if err != nil || g.Kind != tc.kind || g.Key() != tc.wantKey {
				t.Errorf("%s: %+v key %q err %v", tc.name, g, g.Key(), err)
			}
		}
		// A user type may not hold an application right or a dashboard directly.
		_, err := access.CreateUserType(ctx, client, access.CreateUserTypeInput{Name: "T", Grants: []access.GrantInput{{Right: key("reports.view")}}})
		if codeOf(err) != problem.BadUserInput {
			t.Errorf("type with an application right: %v", err)
		}
	})
}

func second[T any](_ T, err error) error { return err }

func third[T, U any](_ T, _ U, err error) error { return err }

func itoa(i int) string { return strconv.Itoa(i) }

func sorted(s []string) []string {
	s = slices.Clone(s)
	slices.Sort(s)
	return s
}
