package access_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	gen "latchkey/ent"
	"latchkey/ent/auditevent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/problem"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// world is an account with two data sets — West with Region 1 › Branch A › Team X,
// Region 1 › Branch B and Region 2; East flat — and helpers to act on it in
// transactions, as the API does.
type world struct {
	t     *testing.T
	st    *store.Store
	ctx   context.Context
	west  int
	east  int
	nodes map[string]int
	users map[string]int
}

func newWorld(t *testing.T, st *store.Store) *world {
	t.Helper()
	w := &world{t: t, st: st, nodes: map[string]int{}, users: map[string]int{}}
	w.ctx = newAccount(t, st.Client, "acme")
	c := st.Client
	mk := func(name string) int {
		ds, err := c.DataSet.Create().SetName(name).Save(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		return ds.ID
	}
	w.west, w.east = mk("West"), mk("East")
	add := func(name, parent string) {
		var p *int
		path := "/"
		depth := 0
		if parent != "" {
			id := w.nodes[parent]
			p = &id
			n, _ := c.HierarchyNode.Get(w.ctx, id)
			path, depth = n.Path, n.Depth+1
		}
		n, err := c.HierarchyNode.Create().SetDataSetID(w.west).SetNillableParentID(p).SetName(name).SetDepth(depth).Save(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		n = c.HierarchyNode.UpdateOne(n).SetPath(path + itoa(n.ID) + "/").SaveX(w.ctx)
		w.nodes[name] = n.ID
	}
	add("Region 1", "")
	add("Branch A", "Region 1")
	add("Team X", "Branch A")
	add("Branch B", "Region 1")
	add("Region 2", "")
	for _, name := range []string{"jane", "bob", "carol"} {
		w.users[name] = newUser(t, w.ctx, c, name).ID
	}
	return w
}

// do runs f in a committed transaction.
func (w *world) do(f func(c *gen.Client) error) {
	w.t.Helper()
	tx, err := w.st.Client.Tx(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if err := f(tx.Client()); err != nil {
		_ = tx.Rollback()
		w.t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		w.t.Fatal(err)
	}
}

func (w *world) grant(userName string, grants ...access.GrantInput) {
	w.t.Helper()
	w.do(func(c *gen.Client) error {
		_, err := access.GrantRights(w.ctx, c, access.One(w.users[userName]), grants, false)
		return err
	})
}

func (w *world) role(name string, rights ...string) int {
	w.t.Helper()
	r, err := access.CreateRole(w.ctx, w.st.Client, access.CreateRoleInput{Name: name, Rights: rights})
	if err != nil {
		w.t.Fatal(err)
	}
	return r.ID
}

func (w *world) userType(in access.CreateUserTypeInput) int {
	w.t.Helper()
	t, err := access.CreateUserType(w.ctx, w.st.Client, in)
	if err != nil {
		w.t.Fatal(err)
	}
	return t.ID
}

func (w *world) link(userName string, typeID int) {
	w.t.Helper()
	w.do(func(c *gen.Client) error {
		_, err := access.LinkUserType(w.ctx, c, access.One(w.users[userName]), typeID, false)
		return err
	})
}

// can is the single-user check; it also asserts the set-wise whoCan agrees.
func (w *world) can(userName, rightKey string, dataSet int, node string) bool {
	w.t.Helper()
	d, err := access.Check(w.ctx, w.st.Client, w.users[userName], rightKey, dataSet, w.nodes[node], false)
	if err != nil {
		w.t.Fatal(err)
	}
	pred, err := access.WhoCan(w.ctx, w.st.Client, rightKey, dataSet, w.nodes[node])
	if err != nil {
		w.t.Fatal(err)
	}
	ids, err := w.st.Client.User.Query().Where(pred).IDs(w.ctx)
	if err != nil {
		w.t.Fatal(err)
	}
	if slices.Contains(ids, w.users[userName]) != d.Allowed {
		w.t.Errorf("can(%s, %s, %d, %q): check says %v, whoCan disagrees", userName, rightKey, dataSet, node, d.Allowed)
	}
	return d.Allowed
}

// holds lists the keys of the rights the user holds effectively, in any scope.
func (w *world) holds(userName string) []string {
	w.t.Helper()
	h, err := access.LoadHolder(w.ctx, w.st.Client, w.users[userName], true)
	if err != nil {
		w.t.Fatal(err)
	}
	var keys []string
	for _, er := range h.EffectiveRights() {
		if er.Effective() && !slices.Contains(keys, er.Right.Key) {
			keys = append(keys, er.Right.Key)
		}
	}
	slices.Sort(keys)
	return keys
}

func str(s string) *string { return &s }
func id(i int) *int        { return &i }
func yes() *bool           { b := true; return &b }

// TestRuleRolesCopy: SPEC §2.1.
func TestRuleRolesCopy(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		adjuster := w.role("Adjuster", "assignments.view", "assignments.edit")
		w.grant("jane", access.GrantInput{Right: str("reports.view")})
		steps := []struct {
			name string
			do   func()
			want []string
		}{
			{"apply copies the role's rights, keeping the user's own", func() {
				w.do(func(c *gen.Client) error { return access.ApplyRole(w.ctx, c, adjuster, w.users["jane"]) })
			}, []string{"assignments.edit", "assignments.view", "reports.view"}},
			{"editing the role does not change copied rights", func() {
				_, _, err := access.UpdateRole(w.ctx, w.st.Client, access.UpdateRoleInput{ID: adjuster, Rights: []string{"audit.view"}})
				if err != nil {
					t.Fatal(err)
				}
			}, []string{"assignments.edit", "assignments.view", "reports.view"}},
			{"re-applying adds the role's new rights and removes none", func() {
				w.do(func(c *gen.Client) error { _, err := access.ReapplyRole(w.ctx, c, adjuster, false); return err })
			}, []string{"assignments.edit", "assignments.view", "audit.view", "reports.view"}},
			{"changing to another role adds and removes nothing else", func() {
				other := w.role("Other", "reports.custom")
				w.do(func(c *gen.Client) error { return access.ApplyRole(w.ctx, c, other, w.users["jane"]) })
			}, []string{"assignments.edit", "assignments.view", "audit.view", "reports.custom", "reports.view"}},
			{"deleting the role leaves what it copied", func() {
				if _, err := access.DeleteRole(w.ctx, w.st.Client, adjuster, false); err != nil {
					t.Fatal(err)
				}
			}, []string{"assignments.edit", "assignments.view", "audit.view", "reports.custom", "reports.view"}},
		}
		for _, s := range steps {
			s.do()
			if got := w.holds("jane"); !slices.Equal(got, s.want) {
				t.Errorf("%s: holds %v, want %v", s.name, got, s.want)
			}
		}
		if n, _ := w.st.Client.User.Query().Where(user.HasRolesWith(role.Name("Other"))).Count(w.ctx); n != 1 {
			t.Errorf("the applied role is not recorded")
		}
	})
}

// TestRuleTypesLive: SPEC §2.2.
func TestRuleTypesLive(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		reporter := w.role("Reporter", "reports.view", "reports.custom")
		field := w.userType(access.CreateUserTypeInput{Name: "Field", RoleIDs: []int{reporter},
			Grants: []access.GrantInput{{DataSetID: id(w.west)}, {Right: str("assignments.edit"), DataSetID: id(w.west)}}})
		office := w.userType(access.CreateUserTypeInput{Name: "Office", RoleIDs: []int{w.role("Viewer2", "reports.view")}})
		w.grant("jane", access.GrantInput{Right: str("reports.custom")}) // held directly too
		w.link("jane", field)
		w.link("jane", office)
		w.link("bob", field)
		if got := w.holds("bob"); !slices.Equal(got, []string{"assignments.edit", "reports.custom", "reports.view"}) {
			t.Errorf("linked type's rights: %v", got)
		}
		if !w.can("bob", "assignments.edit", w.west, "Team X") || w.can("bob", "assignments.edit", w.east, "") {
			t.Error("the type's company-specific right applies on its data set only")
		}
		// Editing the type changes every linked user at once.
		if _, _, err := access.UpdateUserType(w.ctx, st.Client, access.UpdateUserTypeInput{ID: field, RoleIDs: []int{}}); err != nil {
			t.Fatal(err)
		}
		if got := w.holds("bob"); !slices.Equal(got, []string{"assignments.edit"}) {
			t.Errorf("after removing the type's role: %v", got)
		}
		if _, _, err := access.UpdateUserType(w.ctx, st.Client, access.UpdateUserTypeInput{ID: field, RoleIDs: []int{reporter}}); err != nil {
			t.Fatal(err)
		}
		// Unlinking revokes exactly what the type granted.
		w.do(func(c *gen.Client) error {
			_, err := access.UnlinkUserType(w.ctx, c, access.One(w.users["bob"]), field, false)
			return err
		})
		if got := w.holds("bob"); len(got) != 0 {
			t.Errorf("after unlinking: %v", got)
		}
		// Deleting the type keeps what jane also holds directly or through Office.
		imp, err := access.DeleteUserType(w.ctx, st.Client, field, false)
		if err != nil {
			t.Fatal(err)
		}
		if got := w.holds("jane"); !slices.Equal(got, []string{"reports.custom", "reports.view"}) {
			t.Errorf("after deleting the type: %v", got)
		}
		if imp.AffectedCount != 1 || len(imp.Users) != 1 || len(imp.Users[0].Lost) != 1 || imp.Users[0].Lost[0].Key != "assignments.edit" ||
			len(imp.Users[0].AccessLost) != 1 {
			t.Errorf("impact of deleting the type: %+v", imp)
		}
	})
}

// TestRuleReadOnlyWins: SPEC §2.3.
func TestRuleReadOnlyWins(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		for _, u := range []string{"jane", "bob", "carol"} {
			w.grant(u, access.GrantInput{DataSetID: id(w.west)}, access.GrantInput{Right: str("assignments.edit")}, access.GrantInput{Right: str("assignments.view")})
		}
		ro := w.userType(access.CreateUserTypeInput{Name: "Auditors", ReadOnly: yes()})
		w.link("bob", ro)
		w.do(func(c *gen.Client) error {
			_, err := access.SetReadOnly(w.ctx, c, access.One(w.users["carol"]), true, false)
			return err
		})
		for _, tc := range []struct {
			user        string
			write, read bool
		}{{"jane", true, true}, {"bob", false, true}, {"carol", false, true}} {
			if got := w.can(tc.user, "assignments.edit", w.west, ""); got != tc.write {
				t.Errorf("%s WRITE: %v", tc.user, got)
			}
			if got := w.can(tc.user, "assignments.view", w.west, ""); got != tc.read {
				t.Errorf("%s READ: %v", tc.user, got)
			}
		}
		h, _ := access.LoadHolder(w.ctx, st.Client, w.users["bob"], false)
		for _, er := range h.EffectiveRights() {
			masked := slices.Contains(er.Masks, access.MaskReadOnly)
			if masked != (er.Right.Kind == right.KindWRITE) {
				t.Errorf("bob's %s: masks %v", er.Right.Key, er.Masks)
			}
		}
	})
}

// TestRuleAllData: SPEC §2.4 (the API tests cover what each caller sees).
func TestRuleAllData(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		g, _ := st.Client.Group.Create().SetName("Sales").AddUserIDs(w.users["bob"]).Save(w.ctx)
		admin, _ := st.Client.Role.Query().Where(role.Name(access.AdminRole)).OnlyID(w.ctx)
		allDataType := w.userType(access.CreateUserTypeInput{Name: "Supervisors", RoleIDs: []int{admin}})
		w.do(func(c *gen.Client) error { return access.ApplyRole(w.ctx, c, admin, w.users["jane"]) })
		w.link("carol", allDataType)
		for _, u := range []string{"jane", "carol"} {
			_, err := access.SetViewableGroups(w.ctx, st.Client, w.users[u], []int{g.ID})
			if p := problem.From(err); p == nil || p.Code != problem.BadUserInput || p.Field != "groupIds" {
				t.Errorf("viewable groups for all-data %s: %v", u, err)
			}
		}
		if _, err := access.SetViewableGroups(w.ctx, st.Client, w.users["bob"], []int{g.ID}); err != nil {
			t.Fatal(err)
		}
		// Bob (restricted) sees himself and Sales' members only.
		vis, _ := access.VisibilityOf(w.ctx, st.Client, w.users["bob"])
		bob := viewer.NewContext(context.Background(), &viewer.Viewer{AccountID: viewer.FromContext(w.ctx).AccountID, Kind: viewer.KindUser,
			ActorID: w.users["bob"], AllData: vis.AllData, ViewableGroupIDs: vis.ViewableGroupIDs})
		if n, _ := st.Client.User.Query().Count(bob); n != 1 || vis.AllData {
			t.Errorf("bob sees %d users (all data %v)", n, vis.AllData)
		}
	})
}

// TestRuleScopedChecks: SPEC §2.5 on a three-level hierarchy.
func TestRuleScopedChecks(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.grant("jane", access.GrantInput{DataSetID: id(w.west), NodeID: id(w.nodes["Branch A"])}, access.GrantInput{Right: str("assignments.edit")})
		w.grant("bob", access.GrantInput{DataSetID: id(w.west)}, access.GrantInput{DataSetID: id(w.east)},
			access.GrantInput{Right: str("reports.custom"), DataSetID: id(w.west)},
			access.GrantInput{Right: str("reports.view"), AllDataSets: yes()},
			access.GrantInput{Right: str("audit.view"), DataSetID: id(w.west), NodeID: id(w.nodes["Region 2"])})
		w.grant("carol", access.GrantInput{DataSetID: id(w.west)}, access.GrantInput{Right: str("assignments.view")})
		w.do(func(c *gen.Client) error { // an inactive user can nothing; an INVITED one can
			_, err := access.SetActive(w.ctx, c, access.One(w.users["carol"]), false, false)
			return err
		})
		for _, tc := range []struct {
			user, right string
			ds          int
			node        string
			want        bool
		}{
			{"jane", "assignments.edit", w.west, "Branch A", true},
			{"jane", "assignments.edit", w.west, "Team X", true},    // a descendant
			{"jane", "assignments.edit", w.west, "Branch B", false}, // a sibling
			{"jane", "assignments.edit", w.west, "Region 1", false}, // the parent
			{"jane", "assignments.edit", w.west, "", false},         // the whole data set
			{"jane", "reports.view", w.west, "Branch A", false},     // no such right
			{"bob", "reports.custom", w.west, "Team X", true},       // company-specific, its data set
			{"bob", "reports.custom", w.east, "", false},            // not another
			{"bob", "reports.view", w.east, "", true},               // company-specific ALL
			{"bob", "reports.view", w.west, "Region 2", true},
			{"bob", "audit.view", w.west, "Region 2", true}, // company-specific on a level
			{"bob", "audit.view", w.west, "Region 1", false},
			{"carol", "assignments.view", w.west, "", false}, // inactive
		} {
			if got := w.can(tc.user, tc.right, tc.ds, tc.node); got != tc.want {
				t.Errorf("can(%s, %s, %q): %v, want %v", tc.user, tc.right, tc.node, got, tc.want)
			}
		}
		if u, _ := st.Client.User.Get(w.ctx, w.users["jane"]); u.Status != user.StatusINVITED {
			t.Fatalf("jane should still be INVITED, is %s", u.Status)
		}
	})
}

// TestRuleProvenance: SPEC §2.6 — every path, with its scope.
func TestRuleProvenance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		r := w.role("Reporter", "reports.view")
		typ := w.userType(access.CreateUserTypeInput{Name: "Field", RoleIDs: []int{r},
			Grants: []access.GrantInput{{Right: str("reports.view"), DataSetID: id(w.east)}}})
		w.grant("jane", access.GrantInput{Right: str("reports.view")})
		w.do(func(c *gen.Client) error { return access.ApplyRole(w.ctx, c, r, w.users["jane"]) })
		w.link("jane", typ)
		h, _ := access.LoadHolder(w.ctx, st.Client, w.users["jane"], true)
		got := map[string][]access.PathKind{}
		for _, er := range h.EffectiveRights() {
			if er.Right.Key != "reports.view" {
				continue
			}
			scope := "all"
			if er.DataSet != nil {
				scope = er.DataSet.Name
			}
			for _, p := range er.Paths {
				got[scope] = append(got[scope], p.Kind)
				if p.Kind == access.PathRole && (p.RoleName != "Reporter" || p.GrantedAt == nil || p.Role == nil) {
					t.Errorf("ROLE path: %+v", p)
				}
				if p.Kind == access.PathTypeRole && (p.UserType == nil || p.Role == nil) {
					t.Errorf("TYPE_ROLE path: %+v", p)
				}
			}
		}
		want := map[string][]access.PathKind{
			"all":  {access.PathDirect, access.PathRole, access.PathTypeRole},
			"East": {access.PathType},
		}
		for scope, kinds := range want {
			if g := got[scope]; !sameKinds(g, kinds) {
				t.Errorf("%s: paths %v, want %v", scope, g, kinds)
			}
		}
	})
}

func sameKinds(a, b []access.PathKind) bool {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	return slices.Equal(a, b)
}

// TestRuleFilterByRoleIncludesTypes: SPEC §2.7.
func TestRuleFilterByRoleIncludesTypes(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		r := w.role("Reporter", "reports.view")
		w.do(func(c *gen.Client) error { return access.ApplyRole(w.ctx, c, r, w.users["jane"]) })
		w.link("bob", w.userType(access.CreateUserTypeInput{Name: "T", RoleIDs: []int{r}}))
		var names []string
		st.Client.User.Query().Where(access.HoldsRole(r)).Order(user.ByUserName()).Select(user.FieldUserName).ScanX(w.ctx, &names)
		if !slices.Equal(names, []string{"bob", "jane"}) {
			t.Errorf("holders of Reporter: %v", names)
		}
	})
}

// TestRuleDeleteKeepsRecord: SPEC §2.9 and §2.10.
func TestRuleDeleteKeepsRecord(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.grant("jane", access.GrantInput{Right: str("reports.view")})
		w.do(func(c *gen.Client) error {
			_, err := access.DeleteUsers(w.ctx, c, access.One(w.users["jane"]), false)
			return err
		})
		if n, _ := st.Client.User.Query().Where(user.UserName("jane")).Count(w.ctx); n != 0 {
			t.Error("deleted user still listed")
		}
		ev, err := st.Client.AuditEvent.Query().Where(auditevent.Action("user.delete"), auditevent.TargetID(w.users["jane"])).Only(w.ctx)
		if err != nil {
			t.Fatal(err)
		}
		if !containsAll(string(ev.Before), `"user_name":"jane"`, `"grant_key":"R:`, `"source":"MANUAL"`) {
			t.Errorf("audit keeps %s", ev.Before)
		}
		ops, _ := st.Client.AuditEvent.Query().Where(auditevent.Action("access.delete_users")).Count(w.ctx)
		grants, _ := st.Client.AuditEvent.Query().Where(auditevent.Action("access.grant_rights")).Count(w.ctx)
		if ops != 1 || grants != 1 {
			t.Errorf("operations audited: delete %d, grant %d", ops, grants)
		}
	})
}

func containsAll(s string, parts ...string) bool {
	for _, p := range parts {
		if !strings.Contains(s, p) {
			return false
		}
	}
	return true
}

// TestTypeLinkImpact: linking a type gains what it gives and the user lacks —
// rights and data-set access —, and a read-only type takes every WRITE right the
// user holds, by any path, not only the type's own (SPEC §2.3); unlinking undoes it.
// What the user holds directly counts before and after alike.
func TestTypeLinkImpact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		w.grant("bob", access.GrantInput{DataSetID: id(w.west)}, access.GrantInput{Right: str("assignments.edit")},
			access.GrantInput{Right: str("assignments.view")})
		viewer := w.role("Report readers", "assignments.view", "reports.view")
		for _, tc := range []struct {
			name string
			in   access.CreateUserTypeInput
			link string // the impact of linking; unlinking is its mirror
		}{
			{"read-only", access.CreateUserTypeInput{Name: "Auditors", ReadOnly: yes()}, "lost assignments.edit"},
			{"rights and access", access.CreateUserTypeInput{Name: "East viewers", RoleIDs: []int{viewer},
				Grants: []access.GrantInput{{DataSetID: id(w.east)}}}, fmt.Sprintf("gained reports.view; access %d/0", w.east)},
		} {
			typeID := w.userType(tc.in)
			// op is access.LinkUserType or access.UnlinkUserType.
			impact := func(op func(context.Context, *gen.Client, access.UserSelection, int, bool) (*access.Result, error)) string {
				t.Helper()
				var res *access.Result
				w.do(func(c *gen.Client) (err error) {
					res, err = op(w.ctx, c, access.One(w.users["bob"]), typeID, false)
					return err
				})
				var got []string
				for _, u := range res.Impact.Users {
					for _, r := range u.Gained {
						got = append(got, "gained "+r.Key)
					}
					for _, r := range u.Lost {
						got = append(got, "lost "+r.Key)
					}
					for _, a := range u.AccessGained {
						got = append(got, fmt.Sprintf("access %d/%d", a.DataSetID, a.NodeID))
					}
					for _, a := range u.AccessLost {
						got = append(got, fmt.Sprintf("no access %d/%d", a.DataSetID, a.NodeID))
					}
				}
				if res.Impact.AffectedCount != 1 {
					t.Errorf("%s: affected %d, want 1", tc.name, res.Impact.AffectedCount)
				}
				return strings.Join(got, "; ")
			}
			mirror := strings.NewReplacer("gained", "lost", "lost", "gained", "access", "no access").Replace(tc.link)
			if got := impact(access.LinkUserType); got != tc.link {
				t.Errorf("%s, link: %q, want %q", tc.name, got, tc.link)
			}
			if got := impact(access.UnlinkUserType); got != mirror {
				t.Errorf("%s, unlink: %q, want %q", tc.name, got, mirror)
			}
		}
	})
}

// TestGroupRulesImpact: a group's mapping rule that links a read-only type gives its
// role's rights and takes the members' WRITE rights, when they join through
// AddToGroups and when an IdP's membership change applies the rules; the impact says
// so, an inactive member changes in nothing (and every snapshot an impact derives is
// checked against a read, as in all this package's tests).
func TestGroupRulesImpact(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		w := newWorld(t, st)
		for _, u := range []string{"bob", "carol", "jane"} {
			w.grant(u, access.GrantInput{DataSetID: id(w.west)}, access.GrantInput{Right: str("assignments.edit")},
				access.GrantInput{Right: str("assignments.view")})
		}
		// jane is inactive: she loses nothing, since she can nothing.
		w.do(func(c *gen.Client) error {
			_, err := access.SetActive(w.ctx, c, access.One(w.users["jane"]), false, false)
			return err
		})
		readers := w.role("Report readers", "reports.view")
		ro := w.userType(access.CreateUserTypeInput{Name: "Auditors", ReadOnly: yes(), RoleIDs: []int{readers}})
		var groupID int
		w.do(func(c *gen.Client) error {
			g, err := c.Group.Create().SetName("Auditors").Save(w.ctx)
			if err != nil {
				return err
			}
			groupID = g.ID
			_, err = access.CreateRule(w.ctx, c, access.CreateRuleInput{GroupName: "Auditors", UserTypeID: &ro})
			return err
		})
		w.do(func(c *gen.Client) error {
			res, err := access.AddToGroups(w.ctx, c, byIDs([]int{w.users["bob"], w.users["jane"]}), []int{groupID}, false)
			if err == nil && (res.Impact.AffectedCount != 1 || len(res.Impact.Users) != 1 ||
				len(res.Impact.Users[0].Lost) != 1 || res.Impact.Users[0].Lost[0].Key != "assignments.edit" ||
				len(res.Impact.Users[0].Gained) != 1 || res.Impact.Users[0].Gained[0].Key != "reports.view") {
				t.Errorf("joining: impact %+v, want bob to lose assignments.edit and gain reports.view", res.Impact)
			}
			return err
		})
		w.do(func(c *gen.Client) error {
			return access.GroupMembersJoined(w.ctx, c, groupID, "Auditors", []int{w.users["carol"], w.users["jane"]})
		})
		for _, tc := range []struct {
			user        string
			write, read bool
		}{{"bob", false, true}, {"carol", false, true}, {"jane", false, false}} {
			if got := w.can(tc.user, "assignments.edit", w.west, ""); got != tc.write {
				t.Errorf("%s WRITE: %v", tc.user, got)
			}
			if got := w.can(tc.user, "reports.view", w.west, ""); got != tc.read {
				t.Errorf("%s reports.view: %v", tc.user, got)
			}
		}
	})
}
