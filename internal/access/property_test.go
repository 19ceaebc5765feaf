package access_test

// A randomized property test of the rights engine: random accounts are built with
// ent directly, a deliberately simple reference written from SPEC §1, §2.3 and §2.5
// decides every question from an in-memory model of what was inserted, and the
// engine (Holder.Decide, Check, EffectiveRights) and its SQL twins (CanAt,
// HoldsRight, HoldsRole) must agree with it everywhere.
//
// Seeds are deterministic. To reproduce one failing seed:
//
//	LATCHKEY_PROPERTY_SEED=17 go test ./internal/access/ -run Property -v
//
// LATCHKEY_PROPERTY_SEEDS=N changes how many seeds run on each store.

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"

	"entgo.io/ent/dialect"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// ---------------------------------------------------------------------------
// The model: what the builder inserted, in memory.

type pNode struct {
	id, dataSet, parent int // parent 0: a root level
	depth               int
	path                string
}

// pGrant is one grant row: a user's (with its source) or a type's (source unused).
type pGrant struct {
	kind    enums.GrantKind
	right   int // APP_RIGHT, COMPANY_RIGHT
	dataSet int // DATA_SET, COMPANY_RIGHT (unless all)
	node    int // optional level within dataSet
	all     bool
	// ORG_UNIT and DASHBOARD grants decide no right; they are there to be ignored.
	orgUnit, dashboard int
	source             enums.GrantSource
	role               int // source ROLE: the role it was copied from
	// roleName is the role's name when copied (kept when the role is deleted later).
	roleName string
}

func (g pGrant) grant() access.Grant {
	return access.Grant{Kind: g.kind, RightID: g.right, DataSetID: g.dataSet, NodeID: g.node, AllDataSets: g.all,
		OrgUnitID: g.orgUnit, DashboardID: g.dashboard}
}

func (g pGrant) sourceKey() string {
	if g.source == enums.SourceRole {
		return fmt.Sprintf("ROLE:%d", g.role)
	}
	return string(g.source)
}

type pType struct {
	id       int
	name     string
	readOnly bool
	roles    []int    // live: resolved at query time (SPEC §2.2)
	grants   []pGrant // DATA_SET, COMPANY_RIGHT, ORG_UNIT
}

type pUser struct {
	id               int
	name             string
	active, readOnly bool
	grants           []pGrant     // direct rows, one per (grant key, source key)
	roles            map[int]bool // roles applied (and not deleted since)
	types            []int        // linked types
}

type pModel struct {
	seed      uint64
	orgUnit   int // one organisation unit and one dashboard, for grants that decide no right
	dashboard int
	dataSets  []int
	nodes     map[int]pNode
	nodesOf   map[int][]int // data set -> its nodes, in creation order
	rights    map[int]*gen.Right
	allRights []int          // every right of the account, ascending
	rightIDs  []int          // the rights this seed grants: the custom ones and some built-ins
	roles     map[int][]int  // live role definitions: role -> rights
	roleNames map[int]string // every role ever created, deleted ones too
	roleIDs   []int          // the custom roles still defined
	builtIns  []int          // the built-in roles
	types     map[int]*pType
	typeIDs   []int
	users     []*pUser
}

func (m *pModel) hasDirect(u *pUser, g pGrant) bool {
	for _, h := range u.grants {
		if h.grant().Key() == g.grant().Key() && h.sourceKey() == g.sourceKey() {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// The reference, straight from the SPEC.

// lineage is node and every node above it, following the parents the builder chose.
func (m *pModel) lineage(node int) map[int]bool {
	out := map[int]bool{}
	for node != 0 {
		out[node] = true
		node = m.nodes[node].parent
	}
	return out
}

// within reports whether a grant scoped to (dataSet, node) reaches the target
// (ds, node): the same data set, and either the whole of it or the target's level or
// one above it. A grant on a level does not reach the whole data set.
func (m *pModel) within(g pGrant, ds, node int) bool {
	return g.dataSet == ds && (g.node == 0 || m.lineage(node)[g.node])
}

func (m *pModel) linkedTypes(u *pUser) []*pType {
	out := make([]*pType, len(u.types))
	for i, id := range u.types {
		out[i] = m.types[id]
	}
	return out
}

// readOnly: the user's own flag, or any linked read-only type (SPEC §2.3).
func (m *pModel) readOnly(u *pUser) bool {
	if u.readOnly {
		return true
	}
	for _, t := range m.linkedTypes(u) {
		if t.readOnly {
			return true
		}
	}
	return false
}

// masks: inactive users can nothing (§2.5); read-only users hold no WRITE right (§2.3).
func (m *pModel) masks(u *pUser, rightID int) []string {
	var out []string
	if !u.active {
		out = append(out, string(access.MaskInactive))
	}
	if m.rights[rightID].Kind == right.KindWRITE && m.readOnly(u) {
		out = append(out, string(access.MaskReadOnly))
	}
	return out
}

// hasAccess: some data-set access, direct or through a linked type, covers the target.
func (m *pModel) hasAccess(u *pUser, ds, node int) bool {
	grants := slices.Clone(u.grants)
	for _, t := range m.linkedTypes(u) {
		grants = append(grants, t.grants...)
	}
	for _, g := range grants {
		if g.kind == enums.GrantDataSet && m.within(g, ds, node) {
			return true
		}
	}
	return false
}

// rightHolding is one way a user holds a right, in the scope it is held.
type rightHolding struct {
	right int
	scope pGrant // all, or dataSet (+ node); neither: an application right
	path  string // "DIRECT/MANUAL", "ROLE/7/name", "TYPE/3", "TYPE_ROLE/3/7"
}

// holdings lists every path by which u holds any right: direct application and
// company-specific rights (by hand, CSV, SCIM or copied from a role), the linked
// types' company-specific rights, and the rights of the linked types' roles as they
// are defined now.
func (m *pModel) holdings(u *pUser) []rightHolding {
	var out []rightHolding
	for _, g := range u.grants {
		if g.kind != enums.GrantAppRight && g.kind != enums.GrantCompanyRight {
			continue
		}
		path := "DIRECT/" + string(g.source)
		if g.source == enums.SourceRole {
			path = fmt.Sprintf("ROLE/%d/%s", g.role, g.roleName)
		}
		out = append(out, rightHolding{g.right, g, path})
	}
	for _, t := range m.linkedTypes(u) {
		for _, r := range t.roles {
			for _, rt := range m.roles[r] {
				out = append(out, rightHolding{rt, pGrant{}, fmt.Sprintf("TYPE_ROLE/%d/%d", t.id, r)})
			}
		}
		for _, g := range t.grants {
			if g.kind == enums.GrantCompanyRight {
				out = append(out, rightHolding{g.right, g, fmt.Sprintf("TYPE/%d", t.id)})
			}
		}
	}
	return out
}

// holdsAt: the right as an application right, or as a company-specific right for ALL
// data sets or for the target's data set (and a level covering the target).
func (m *pModel) holdsAt(u *pUser, rightID, ds, node int) bool {
	for _, h := range m.holdings(u) {
		if h.right == rightID && (h.scope.dataSet == 0 || h.scope.all || m.within(h.scope, ds, node)) {
			return true
		}
	}
	return false
}

// can is SPEC §2.5 with §2.3: active, access covers the target, the right is held
// there, and no read-only suppresses a WRITE right.
func (m *pModel) can(u *pUser, rightID, ds, node int) bool {
	return len(m.masks(u, rightID)) == 0 && m.hasAccess(u, ds, node) && m.holdsAt(u, rightID, ds, node)
}

type pScope struct{ right, dataSet, node int }

// refEffective is what EffectiveRights must list: per (right, scope) — an ALL
// company-specific right has the scope of an application right — every path, each
// with the scope its grant names, sorted.
func (m *pModel) refEffective(u *pUser) map[pScope][]string {
	out := map[pScope][]string{}
	for _, h := range m.holdings(u) {
		s := pScope{h.right, h.scope.dataSet, h.scope.node}
		if h.scope.all {
			s.dataSet, s.node = 0, 0
		}
		out[s] = append(out[s], h.path+scopeSuffix(h.scope.all, h.scope.dataSet, h.scope.node))
	}
	for _, paths := range out {
		sort.Strings(paths)
	}
	return out
}

func scopeSuffix(all bool, ds, node int) string {
	switch {
	case all:
		return "@*"
	case ds == 0:
		return "@-"
	}
	return fmt.Sprintf("@%d:%d", ds, node)
}

// holdsEffectively: the right is held in some scope and nothing masks it (§6 withRight).
func (m *pModel) holdsEffectively(u *pUser, rightID int) bool {
	if len(m.masks(u, rightID)) > 0 {
		return false
	}
	for _, h := range m.holdings(u) {
		if h.right == rightID {
			return true
		}
	}
	return false
}

// holdsRole: applied to the user, or a role of a linked type (SPEC §2.7).
func (m *pModel) holdsRole(u *pUser, roleID int) bool {
	if u.roles[roleID] {
		return true
	}
	for _, t := range m.linkedTypes(u) {
		if slices.Contains(t.roles, roleID) {
			return true
		}
	}
	return false
}

// ---------------------------------------------------------------------------
// The builder: a random account, written with ent directly.

type builder struct {
	t      *testing.T
	ctx    context.Context
	client *gen.Client
	rng    *rand.Rand
	m      *pModel
}

func (b *builder) must(err error, what string) {
	b.t.Helper()
	if err != nil {
		b.t.Fatalf("seed %d: %s: %v", b.m.seed, what, err)
	}
}

func (b *builder) chance(p float64) bool { return b.rng.Float64() < p }

func pick[T any](rng *rand.Rand, s []T) T { return s[rng.IntN(len(s))] }

// subset picks between lo and hi distinct elements of s, in s's order.
func subset[T any](rng *rand.Rand, s []T, lo, hi int) []T {
	n := min(lo+rng.IntN(hi-lo+1), len(s))
	idx := rng.Perm(len(s))[:n]
	sort.Ints(idx)
	out := make([]T, n)
	for i, j := range idx {
		out[i] = s[j]
	}
	return out
}

func (b *builder) dataSets() {
	org, err := b.client.OrgUnit.Create().SetName("HQ").Save(b.ctx)
	b.must(err, "create org unit")
	b.must(b.client.OrgUnit.UpdateOne(org).SetPath(fmt.Sprintf("/%d/", org.ID)).Exec(b.ctx), "set org unit path")
	dash, err := b.client.Dashboard.Create().SetName("Cycle").SetKind("GENERIC").Save(b.ctx)
	b.must(err, "create dashboard")
	b.m.orgUnit, b.m.dashboard = org.ID, dash.ID
	for i := range 2 + b.rng.IntN(2) {
		ds, err := b.client.DataSet.Create().SetName(fmt.Sprintf("ds%d", i)).Save(b.ctx)
		b.must(err, "create data set")
		b.m.dataSets = append(b.m.dataSets, ds.ID)
		for range 1 + b.rng.IntN(2) {
			root := b.node(ds.ID, 0)
			for range 1 + b.rng.IntN(2) {
				mid := b.node(ds.ID, root)
				for range b.rng.IntN(3) {
					b.node(ds.ID, mid)
				}
			}
		}
	}
}

// node creates a hierarchy level as admin.CreateHierarchyNode does: path is the
// parent's path plus the node's own id.
func (b *builder) node(ds, parent int) int {
	parentPath, depth := "/", 0
	c := b.client.HierarchyNode.Create().SetDataSetID(ds).SetName(fmt.Sprintf("n%d", len(b.m.nodes)))
	if parent != 0 {
		p := b.m.nodes[parent]
		parentPath, depth = p.path, p.depth+1
		c.SetParentID(parent)
	}
	n, err := c.SetDepth(depth).Save(b.ctx)
	b.must(err, "create node")
	path := fmt.Sprintf("%s%d/", parentPath, n.ID)
	b.must(b.client.HierarchyNode.UpdateOne(n).SetPath(path).Exec(b.ctx), "set node path")
	b.m.nodes[n.ID] = pNode{id: n.ID, dataSet: ds, parent: parent, depth: depth, path: path}
	b.m.nodesOf[ds] = append(b.m.nodesOf[ds], n.ID)
	return n.ID
}

func (b *builder) rightsAndRoles() {
	for i := range 2 + b.rng.IntN(3) {
		kind := right.KindREAD
		if b.chance(0.5) {
			kind = right.KindWRITE
		}
		_, err := b.client.Right.Create().SetKey(fmt.Sprintf("prop.r%d", i)).SetName(fmt.Sprintf("Custom %d", i)).
			SetKind(kind).Save(b.ctx)
		b.must(err, "create right")
	}
	rights, err := b.client.Right.Query().Order(right.ByID()).All(b.ctx)
	b.must(err, "read rights")
	var builtIn []int
	for _, r := range rights {
		b.m.rights[r.ID] = r
		b.m.allRights = append(b.m.allRights, r.ID)
		if r.BuiltIn {
			builtIn = append(builtIn, r.ID)
		} else {
			b.m.rightIDs = append(b.m.rightIDs, r.ID)
		}
	}
	// A different handful of the built-ins each seed keeps the questions few; over
	// the seeds every built-in is used.
	b.m.rightIDs = append(b.m.rightIDs, subset(b.rng, builtIn, 4, 6)...)
	sort.Ints(b.m.rightIDs)
	builtIns, err := b.client.Role.Query().WithRights().All(b.ctx)
	b.must(err, "read built-in roles")
	for _, r := range builtIns {
		b.m.builtIns = append(b.m.builtIns, r.ID)
		b.m.roleNames[r.ID] = r.Name
		for _, rt := range r.Edges.Rights {
			b.m.roles[r.ID] = append(b.m.roles[r.ID], rt.ID)
		}
	}
	for i := range 3 + b.rng.IntN(3) {
		ids := subset(b.rng, b.m.rightIDs, 0, 5)
		r, err := b.client.Role.Create().SetName(fmt.Sprintf("Role %d", i)).AddRightIDs(ids...).Save(b.ctx)
		b.must(err, "create role")
		b.m.roles[r.ID], b.m.roleNames[r.ID] = ids, r.Name
		b.m.roleIDs = append(b.m.roleIDs, r.ID)
	}
}

// scoped fills a grant's data-set scope: one data set, one of its levels, or (when
// all is allowed) ALL.
func (b *builder) scoped(g pGrant, allowAll bool) pGrant {
	if allowAll && b.chance(0.25) {
		g.all = true
		return g
	}
	g.dataSet = pick(b.rng, b.m.dataSets)
	if b.chance(0.5) {
		g.node = pick(b.rng, b.m.nodesOf[g.dataSet])
	}
	return g
}

// randomGrant is a data-set access, or a company-specific right, or (for users) an
// application right; now and then an organisation or dashboard access.
func (b *builder) randomGrant(forUser bool) pGrant {
	switch n := b.rng.IntN(20); {
	case n == 0:
		return pGrant{kind: enums.GrantOrgUnit, orgUnit: b.m.orgUnit}
	case n == 1 && forUser:
		return pGrant{kind: enums.GrantDashboard, dashboard: b.m.dashboard}
	case forUser && n < 8:
		return pGrant{kind: enums.GrantAppRight, right: pick(b.rng, b.m.rightIDs)}
	case n < 14:
		return b.scoped(pGrant{kind: enums.GrantDataSet}, false)
	default:
		return b.scoped(pGrant{kind: enums.GrantCompanyRight, right: pick(b.rng, b.m.rightIDs)}, true)
	}
}

func setTarget[C interface {
	SetKind(enums.GrantKind) C
	SetGrantKey(string) C
	SetAllDataSets(bool) C
	SetNillableRightID(*int) C
	SetNillableDataSetID(*int) C
	SetNillableNodeID(*int) C
	SetNillableOrgUnitID(*int) C
	SetNillableDashboardID(*int) C
}](c C, g pGrant) C {
	return c.SetKind(g.kind).SetGrantKey(g.grant().Key()).SetAllDataSets(g.all).
		SetNillableRightID(nonZero(g.right)).SetNillableDataSetID(nonZero(g.dataSet)).SetNillableNodeID(nonZero(g.node)).
		SetNillableOrgUnitID(nonZero(g.orgUnit)).SetNillableDashboardID(nonZero(g.dashboard))
}

func nonZero(id int) *int {
	if id == 0 {
		return nil
	}
	return &id
}

func (b *builder) userTypes() {
	for i := range 2 + b.rng.IntN(3) {
		t := &pType{name: fmt.Sprintf("Type %d", i), readOnly: b.chance(0.25), roles: subset(b.rng, b.m.roleIDs, 0, 2)}
		ut, err := b.client.UserType.Create().SetName(t.name).SetReadOnly(t.readOnly).AddRoleIDs(t.roles...).Save(b.ctx)
		b.must(err, "create user type")
		t.id = ut.ID
		seen := map[string]bool{}
		var rows []*gen.UserTypeGrantCreate
		for range b.rng.IntN(4) {
			g := b.randomGrant(false)
			if seen[g.grant().Key()] {
				continue
			}
			seen[g.grant().Key()] = true
			t.grants = append(t.grants, g)
			rows = append(rows, setTarget(b.client.UserTypeGrant.Create().SetUserTypeID(t.id), g))
		}
		b.must(b.client.UserTypeGrant.CreateBulk(rows...).Exec(b.ctx), "create type grants")
		b.m.types[t.id] = t
		b.m.typeIDs = append(b.m.typeIDs, t.id)
	}
}

func (b *builder) users() {
	var rows []*gen.UserGrantCreate
	for i := range 10 + b.rng.IntN(11) {
		u := &pUser{name: fmt.Sprintf("u%d", i), active: b.chance(0.8), readOnly: b.chance(0.2), roles: map[int]bool{}}
		c := b.client.User.Create().SetUserName(u.name).SetEmail(u.name + "@prop.test").
			SetActive(u.active).SetReadOnly(u.readOnly)
		if b.chance(0.5) { // still INVITED otherwise, which counts as active (§2.5)
			c.SetStatus(user.StatusACTIVE)
		}
		created, err := c.Save(b.ctx)
		b.must(err, "create user")
		u.id = created.ID
		for range b.rng.IntN(7) {
			g := b.randomGrant(true)
			switch n := b.rng.IntN(10); {
			case n < 5:
				g.source = enums.SourceManual
			case n < 7:
				g.source = enums.SourceSCIM
			case n < 8:
				g.source = enums.SourceCSV
			default:
				g.source, g.role = enums.SourceRole, pick(b.rng, b.m.roleIDs)
				g.roleName = b.m.roleNames[g.role]
			}
			if b.m.hasDirect(u, g) {
				continue
			}
			u.grants = append(u.grants, g)
			c := setTarget(b.client.UserGrant.Create().SetUserID(u.id), g).SetSource(g.source).SetSourceKey(g.sourceKey())
			if g.source == enums.SourceRole {
				c.SetSourceRoleID(g.role).SetSourceRoleName(g.roleName)
			}
			rows = append(rows, c)
		}
		b.m.users = append(b.m.users, u)
	}
	b.must(b.client.UserGrant.CreateBulk(rows...).Exec(b.ctx), "create user grants")
}

// applyRoles applies each custom role, through access.ApplyRole, to a few users.
func (b *builder) applyRoles() {
	for _, r := range b.m.roleIDs {
		b.applyRole(r, subset(b.rng, b.m.users, 0, 4))
	}
}

// applyRole copies role r's current rights to the users (§2.1): one direct grant
// per right with source ROLE r, none twice, and records that they have r.
func (b *builder) applyRole(r int, users []*pUser) {
	if len(users) == 0 {
		return
	}
	ids := make([]int, len(users))
	for i, u := range users {
		ids[i] = u.id
	}
	b.must(access.ApplyRole(b.ctx, b.client, r, ids...), "apply role")
	for _, u := range users {
		u.roles[r] = true
		for _, rt := range b.m.roles[r] {
			g := pGrant{kind: enums.GrantAppRight, right: rt, source: enums.SourceRole, role: r, roleName: b.m.roleNames[r]}
			if !b.m.hasDirect(u, g) {
				u.grants = append(u.grants, g)
			}
		}
	}
}

func (b *builder) linkTypes() {
	for _, u := range b.m.users {
		u.types = subset(b.rng, b.m.typeIDs, 0, 2)
		if len(u.types) > 0 {
			b.must(b.client.User.UpdateOneID(u.id).AddTypeIDs(u.types...).Exec(b.ctx), "link types")
		}
	}
}

// editLater changes roles and types after they were applied and linked: copied rights
// must not follow a role's edit (§2.1), type-held ones must (§2.2).
func (b *builder) editLater() {
	for _, r := range b.m.roleIDs {
		if b.chance(0.3) {
			ids := subset(b.rng, b.m.rightIDs, 0, 5)
			b.must(b.client.Role.UpdateOneID(r).ClearRights().AddRightIDs(ids...).Exec(b.ctx), "edit role")
			b.m.roles[r] = ids
		}
	}
	// Applying an edited role again, to holders and others, copies what it has now.
	if b.chance(0.3) {
		b.applyRole(pick(b.rng, b.m.roleIDs), subset(b.rng, b.m.users, 1, 6))
	}
	if b.chance(0.3) {
		r := pick(b.rng, b.m.roleIDs)
		// What access.DeleteRole does to the store: the role and its links go.
		b.must(b.client.Role.DeleteOneID(r).Exec(b.ctx), "delete role")
		delete(b.m.roles, r)
		b.m.roleIDs = slices.DeleteFunc(b.m.roleIDs, func(id int) bool { return id == r })
		for _, t := range b.m.types {
			t.roles = slices.DeleteFunc(t.roles, func(id int) bool { return id == r })
		}
		for _, u := range b.m.users {
			delete(u.roles, r)
		}
	}
	for _, id := range b.m.typeIDs {
		if t := b.m.types[id]; b.chance(0.2) {
			t.readOnly = !t.readOnly
			b.must(b.client.UserType.UpdateOneID(id).SetReadOnly(t.readOnly).Exec(b.ctx), "edit type")
		}
	}
	if b.chance(0.2) { // deleting a type revokes exactly what it granted (§2.2)
		gone := pick(b.rng, b.m.typeIDs)
		b.must(b.client.UserType.DeleteOneID(gone).Exec(b.ctx), "delete type")
		delete(b.m.types, gone)
		b.m.typeIDs = slices.DeleteFunc(b.m.typeIDs, func(id int) bool { return id == gone })
		for _, u := range b.m.users {
			u.types = slices.DeleteFunc(u.types, func(id int) bool { return id == gone })
		}
	}
	for _, u := range b.m.users {
		if len(u.types) > 0 && b.chance(0.2) {
			gone := pick(b.rng, u.types)
			b.must(b.client.User.UpdateOneID(u.id).RemoveTypeIDs(gone).Exec(b.ctx), "unlink type")
			u.types = slices.DeleteFunc(u.types, func(id int) bool { return id == gone })
		}
	}
}

// buildAccount creates a fresh account for seed and fills it at random, in one
// transaction. It returns the model and a context acting inside the account.
func buildAccount(t *testing.T, st *store.Store, seed uint64) (*pModel, context.Context) {
	t.Helper()
	_, sys, err := access.CreateAccount(context.Background(), st.Client, fmt.Sprintf("prop-%d", seed))
	if err != nil {
		t.Fatalf("seed %d: CreateAccount: %v", seed, err)
	}
	tx, err := st.Client.Tx(sys)
	if err != nil {
		t.Fatal(err)
	}
	committed := false
	defer func() {
		if !committed { // a failed build must not hold SQLite's write lock for the next seed
			_ = tx.Rollback()
		}
	}()
	m := &pModel{seed: seed, nodes: map[int]pNode{}, nodesOf: map[int][]int{}, rights: map[int]*gen.Right{},
		roles: map[int][]int{}, roleNames: map[int]string{}, types: map[int]*pType{}}
	// The audit log is not under test; writing it would triple the statements.
	b := &builder{t: t, ctx: audit.WithoutHook(sys), client: tx.Client(), rng: rand.New(rand.NewPCG(seed, 0x1a7c4)), m: m}
	b.dataSets()
	b.rightsAndRoles()
	b.userTypes()
	b.users()
	b.applyRoles()
	b.linkTypes()
	b.editLater()
	if err := tx.Commit(); err != nil {
		t.Fatalf("seed %d: commit: %v", seed, err)
	}
	committed = true
	return m, sys
}

// ---------------------------------------------------------------------------
// Descriptions for failure messages: the part of the graph a question depends on.

func (m *pModel) rightName(id int) string {
	if r := m.rights[id]; r != nil {
		return fmt.Sprintf("%s(#%d %s)", r.Key, id, r.Kind)
	}
	return fmt.Sprintf("right#%d", id)
}

func (m *pModel) scopeName(ds, node int, all bool) string {
	switch {
	case all:
		return "ALL data sets"
	case ds == 0:
		return "application-wide"
	case node == 0:
		return fmt.Sprintf("data set #%d", ds)
	}
	return fmt.Sprintf("data set #%d level #%d (path %s)", ds, node, m.nodes[node].path)
}

func (m *pModel) grantName(g pGrant) string {
	var s string
	switch g.kind {
	case enums.GrantAppRight:
		s = "APP_RIGHT " + m.rightName(g.right)
	case enums.GrantDataSet:
		s = "DATA_SET " + m.scopeName(g.dataSet, g.node, false)
	case enums.GrantCompanyRight:
		s = "COMPANY_RIGHT " + m.rightName(g.right) + " on " + m.scopeName(g.dataSet, g.node, g.all)
	default:
		s = string(g.kind) + " " + g.grant().Key()
	}
	if g.source == enums.SourceRole {
		s += fmt.Sprintf(" [ROLE #%d %q]", g.role, g.roleName)
	} else if g.source != "" {
		s += " [" + string(g.source) + "]"
	}
	return s
}

func (m *pModel) describeUser(u *pUser) string {
	var b strings.Builder
	fmt.Fprintf(&b, "user %s #%d active=%v readOnly=%v\n", u.name, u.id, u.active, u.readOnly)
	for _, g := range u.grants {
		fmt.Fprintf(&b, "  direct %s\n", m.grantName(g))
	}
	var applied []int
	for r := range u.roles {
		applied = append(applied, r)
	}
	sort.Ints(applied)
	for _, r := range applied {
		fmt.Fprintf(&b, "  role applied: #%d %q\n", r, m.roleNames[r])
	}
	for _, t := range m.linkedTypes(u) {
		fmt.Fprintf(&b, "  linked type #%d %q readOnly=%v\n", t.id, t.name, t.readOnly)
		for _, r := range t.roles {
			names := make([]string, len(m.roles[r]))
			for i, rt := range m.roles[r] {
				names[i] = m.rightName(rt)
			}
			fmt.Fprintf(&b, "    role #%d %q: %s\n", r, m.roleNames[r], strings.Join(names, ", "))
		}
		for _, g := range t.grants {
			fmt.Fprintf(&b, "    %s\n", m.grantName(g))
		}
	}
	return b.String()
}

// ---------------------------------------------------------------------------
// The comparisons.

type pTarget struct {
	dataSet, node int
	target        access.Target
}

// checker collects disagreements of one seed, printing the first few in full.
type checker struct {
	t      *testing.T
	m      *pModel
	ctx    context.Context
	client *gen.Client
	store  string
	rng    *rand.Rand
	failed int
	stats  *pStats
}

// pStats counts what the seeds exercised, so a vacuous run shows in -v output.
type pStats struct {
	seeds, users, questions, allowed, viaLevel, readOnlyMasked, inactiveMasked, whoCanNonEmpty, paths int
	pathKinds                                                                                         map[string]int
}

func (s *pStats) String() string {
	return fmt.Sprintf("%d seeds, %d users, %d can() questions (%d allowed, %d through a level's ancestor), "+
		"%d effective rights masked READ_ONLY and %d INACTIVE, %d non-empty whoCan sets, %d paths by kind %v",
		s.seeds, s.users, s.questions, s.allowed, s.viaLevel, s.readOnlyMasked, s.inactiveMasked, s.whoCanNonEmpty, s.paths, s.pathKinds)
}

const maxReported = 8

func (c *checker) fail(format string, args ...any) {
	c.t.Helper()
	c.failed++
	if c.failed <= maxReported {
		c.t.Errorf("seed %d (%s): "+format, append([]any{c.m.seed, c.store}, args...)...)
	}
}

func (c *checker) must(err error, what string) {
	c.t.Helper()
	if err != nil {
		c.t.Fatalf("seed %d: %s: %v", c.m.seed, what, err)
	}
}

func (c *checker) targets() []pTarget {
	var out []pTarget
	for _, ds := range c.m.dataSets {
		for _, node := range append([]int{0}, c.m.nodesOf[ds]...) {
			t, err := access.ResolveTarget(c.ctx, c.client, ds, node)
			c.must(err, "ResolveTarget")
			out = append(out, pTarget{ds, node, t})
		}
	}
	return out
}

// checkUser compares one user's Decide answers and EffectiveRights with the reference.
func (c *checker) checkUser(u *pUser, targets []pTarget) {
	h, err := access.LoadHolder(c.ctx, c.client, u.id, false)
	c.must(err, "LoadHolder")
	for _, pt := range targets {
		for _, rid := range c.m.rightIDs {
			d := h.Decide(c.m.rights[rid], pt.target)
			want := c.m.can(u, rid, pt.dataSet, pt.node)
			c.stats.questions++
			if want {
				c.stats.allowed++
				if pt.node != 0 && !c.m.can(u, rid, pt.dataSet, c.m.nodes[pt.node].parent) {
					c.stats.viaLevel++
				}
			}
			if d.Allowed != want {
				c.fail("Decide(%s at %s) = %v, reference %v (missing %v, masks %v)\n%s", c.m.rightName(rid),
					c.m.scopeName(pt.dataSet, pt.node, false), d.Allowed, want, d.Missing, d.Masks, c.m.describeUser(u))
				continue
			}
			wantMissing := []string{}
			if !c.m.hasAccess(u, pt.dataSet, pt.node) {
				wantMissing = append(wantMissing, "NO_DATA_SET_ACCESS")
			}
			if !c.m.holdsAt(u, rid, pt.dataSet, pt.node) {
				wantMissing = append(wantMissing, "NO_RIGHT")
			}
			if got := append([]string{}, d.Missing...); !slices.Equal(got, wantMissing) || !slices.Equal(maskStrings(d.Masks), c.m.masks(u, rid)) {
				c.fail("Decide(%s at %s): missing %v masks %v, reference missing %v masks %v\n%s", c.m.rightName(rid),
					c.m.scopeName(pt.dataSet, pt.node, false), d.Missing, d.Masks, wantMissing, c.m.masks(u, rid), c.m.describeUser(u))
			}
		}
	}
	// access.Check itself (loading the right, the target and the holder again) on a
	// sample: it is Decide on a freshly loaded holder, which the loop above covers.
	pt, rid := pick(c.rng, targets), pick(c.rng, c.m.rightIDs)
	d, err := access.Check(c.ctx, c.client, u.id, c.m.rights[rid].Key, pt.dataSet, pt.node, c.rng.IntN(2) == 0)
	c.must(err, "Check")
	if want := c.m.can(u, rid, pt.dataSet, pt.node); d.Allowed != want {
		c.fail("Check(%s at %s) = %v, reference %v\n%s", c.m.rightName(rid),
			c.m.scopeName(pt.dataSet, pt.node, false), d.Allowed, want, c.m.describeUser(u))
	}
	c.checkEffective(u, h.EffectiveRights())
}

func maskStrings(ms []access.Mask) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = string(m)
	}
	sort.Strings(out)
	return out
}

// enginePath renders an engine path as the reference does, after checking that the
// roles and types it names are the user's own.
func (c *checker) enginePath(u *pUser, p access.Path) (string, error) {
	var s string
	switch p.Kind {
	case access.PathDirect:
		s = "DIRECT/" + string(p.Source)
	case access.PathRole:
		s = fmt.Sprintf("ROLE/%d/%s", p.RoleID, p.RoleName)
	case access.PathType, access.PathTypeRole:
		if !slices.Contains(u.types, p.UserTypeID) {
			return "", fmt.Errorf("path %s names type #%d, which the user is not linked to", p.Kind, p.UserTypeID)
		}
		s = fmt.Sprintf("TYPE/%d", p.UserTypeID)
		if p.Kind == access.PathTypeRole {
			if !slices.Contains(c.m.types[p.UserTypeID].roles, p.RoleID) {
				return "", fmt.Errorf("path TYPE_ROLE names role #%d, which type #%d does not hold", p.RoleID, p.UserTypeID)
			}
			s = fmt.Sprintf("TYPE_ROLE/%d/%d", p.UserTypeID, p.RoleID)
		}
	default:
		return "", fmt.Errorf("unknown path kind %q", p.Kind)
	}
	return s + scopeSuffix(p.AllDataSets, p.DataSetID, p.NodeID), nil
}

func (c *checker) checkEffective(u *pUser, got []access.EffectiveRight) {
	want := c.m.refEffective(u)
	seen := map[pScope]bool{}
	for _, er := range got {
		s := pScope{er.Right.ID, er.DataSetID, er.NodeID}
		where := c.m.rightName(s.right) + " on " + c.m.scopeName(s.dataSet, s.node, false)
		if seen[s] {
			c.fail("EffectiveRights lists %s twice\n%s", where, c.m.describeUser(u))
		}
		seen[s] = true
		wantPaths, ok := want[s]
		if !ok {
			c.fail("EffectiveRights lists %s, which the reference does not derive\n%s", where, c.m.describeUser(u))
			continue
		}
		var paths []string
		for _, p := range er.Paths {
			ps, err := c.enginePath(u, p)
			if err != nil {
				c.fail("EffectiveRights %s: %v\n%s", where, err, c.m.describeUser(u))
			}
			paths = append(paths, ps)
		}
		sort.Strings(paths)
		if !slices.Equal(paths, wantPaths) {
			c.fail("EffectiveRights %s: paths %v, reference %v\n%s", where, paths, wantPaths, c.m.describeUser(u))
		}
		for _, p := range er.Paths {
			c.stats.paths++
			c.stats.pathKinds[string(p.Kind)]++
		}
		for _, mk := range er.Masks {
			if mk == access.MaskReadOnly {
				c.stats.readOnlyMasked++
			} else {
				c.stats.inactiveMasked++
			}
		}
		if gm, wm := maskStrings(er.Masks), c.m.masks(u, s.right); !slices.Equal(gm, wm) {
			c.fail("EffectiveRights %s: masks %v, reference %v\n%s", where, gm, wm, c.m.describeUser(u))
		}
	}
	for s := range want {
		if !seen[s] {
			c.fail("EffectiveRights omits %s on %s (reference paths %v)\n%s", c.m.rightName(s.right),
				c.m.scopeName(s.dataSet, s.node, false), want[s], c.m.describeUser(u))
		}
	}
}

// compareSet compares the users a predicate selects with the reference's.
func (c *checker) compareSet(what string, got []int, want func(*pUser) bool) {
	c.t.Helper()
	gotSet := map[int]bool{}
	for _, id := range got {
		gotSet[id] = true
	}
	for _, u := range c.m.users {
		if w := want(u); gotSet[u.id] != w {
			c.fail("%s: user %s selected=%v, reference %v\n%s", what, u.name, gotSet[u.id], w, c.m.describeUser(u))
		}
		delete(gotSet, u.id)
	}
	for id := range gotSet {
		c.fail("%s selects user #%d, who is not in this account's model", what, id)
	}
}

func (c *checker) checkPredicates(targets []pTarget) {
	for _, rid := range c.m.allRights {
		r := c.m.rights[rid]
		ids, err := c.client.User.Query().Where(access.HoldsRight(r)).IDs(c.ctx)
		c.must(err, "HoldsRight")
		c.compareSet("HoldsRight("+c.m.rightName(rid)+")", ids, func(u *pUser) bool { return c.m.holdsEffectively(u, rid) })
	}
	for _, rid := range c.m.rightIDs {
		r := c.m.rights[rid]
		for _, pt := range targets {
			ids, err := c.client.User.Query().Where(access.CanAt(r, pt.target)).IDs(c.ctx)
			c.must(err, "CanAt")
			if len(ids) > 0 {
				c.stats.whoCanNonEmpty++
			}
			c.compareSet(fmt.Sprintf("CanAt(%s, %s)", c.m.rightName(rid), c.m.scopeName(pt.dataSet, pt.node, false)), ids,
				func(u *pUser) bool { return c.m.can(u, rid, pt.dataSet, pt.node) })
		}
	}
	for _, role := range append(slices.Clone(c.m.roleIDs), c.m.builtIns...) {
		ids, err := c.client.User.Query().Where(access.HoldsRole(role)).IDs(c.ctx)
		c.must(err, "HoldsRole")
		c.compareSet(fmt.Sprintf("HoldsRole(#%d %q)", role, c.m.roleNames[role]), ids, func(u *pUser) bool { return c.m.holdsRole(u, role) })
	}
}

// checkSummary checks bulkSummary of every user against the reference, read as the
// server reads it (from the pool, chunks side by side) in chunks of three users,
// so that chunks share role copies and types.
func (c *checker) checkSummary(st *store.Store) {
	defer access.SetChunkSize(3)()
	cache, err := access.NewCache(c.ctx, st.Client, st.DB, 64)
	c.must(err, "NewCache")
	defer cache.Close()
	s, err := access.Summarize(access.WithCache(c.ctx, cache), st.Client, access.UserSelection{Where: &gen.UserWhereInput{}})
	c.must(err, "Summarize")
	count := func(what string, got int, holds func(u *pUser) bool) {
		want := 0
		for _, u := range c.m.users {
			if holds(u) {
				want++
			}
		}
		if got != want {
			c.fail("bulkSummary: %s: %d users, the reference says %d", what, got, want)
		}
	}
	count("count", s.Count, func(*pUser) bool { return true })
	for _, rc := range s.Rights {
		rid := rc.Right.ID
		count(c.m.rightName(rid)+" direct", rc.Direct, func(u *pUser) bool {
			return slices.ContainsFunc(u.grants, func(g pGrant) bool {
				return (g.kind == enums.GrantAppRight || g.kind == enums.GrantCompanyRight) && g.right == rid
			})
		})
		count(c.m.rightName(rid)+" effective", rc.Effective, func(u *pUser) bool { return c.m.holdsEffectively(u, rid) })
	}
	for _, rc := range s.Roles {
		count(fmt.Sprintf("role %q", rc.Role.Name), rc.Count, func(u *pUser) bool { return c.m.holdsRole(u, rc.Role.ID) })
	}
	for _, tc := range s.UserTypes {
		count(fmt.Sprintf("type %q", tc.UserType.Name), tc.Count, func(u *pUser) bool { return slices.Contains(u.types, tc.UserType.ID) })
	}
}

// propertySeeds is the seeds to run on a store: LATCHKEY_PROPERTY_SEED picks one,
// LATCHKEY_PROPERTY_SEEDS sets the count.
func propertySeeds(t *testing.T, dialectName string) []uint64 {
	if s := os.Getenv("LATCHKEY_PROPERTY_SEED"); s != "" {
		seed, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("LATCHKEY_PROPERTY_SEED: %v", err)
		}
		return []uint64{seed}
	}
	n := 40
	if dialectName == dialect.MySQL {
		n = 8
	}
	if testing.Short() {
		n = 5
	}
	if s := os.Getenv("LATCHKEY_PROPERTY_SEEDS"); s != "" {
		var err error
		if n, err = strconv.Atoi(s); err != nil {
			t.Fatalf("LATCHKEY_PROPERTY_SEEDS: %v", err)
		}
	}
	out := make([]uint64, n)
	for i := range out {
		out[i] = uint64(i + 1)
	}
	return out
}

// TestPropertyRightsAgreeWithReference builds random accounts and checks, for every
// user, right and target (each data set, each level), the engine and its SQL
// predicates against the reference.
func TestPropertyRightsAgreeWithReference(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		stats := &pStats{pathKinds: map[string]int{}}
		defer func() { t.Logf("%s: %s", st.Dialect, stats) }()
		for _, seed := range propertySeeds(t, st.Dialect) {
			t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) {
				m, ctx := buildAccount(t, st, seed)
				c := &checker{t: t, m: m, ctx: ctx, client: st.Client, store: st.Dialect, rng: rand.New(rand.NewPCG(seed, 0xc43c)), stats: stats}
				stats.seeds++
				stats.users += len(m.users)
				targets := c.targets()
				for _, u := range m.users {
					c.checkUser(u, targets)
				}
				c.checkPredicates(targets)
				c.checkSummary(st)
				if c.failed > 0 {
					sub := "sqlite"
					if st.Dialect == dialect.MySQL {
						sub = "mysql"
					}
					t.Errorf("seed %d (%s): %d disagreements (first %d shown); reproduce with LATCHKEY_PROPERTY_SEED=%d go test ./internal/access/ -run Property/%s",
						seed, st.Dialect, c.failed, min(c.failed, maxReported), seed, sub)
				}
			})
		}
	})
}
