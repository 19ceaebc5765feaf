package access

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/hierarchynode"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/typelinksource"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/ent/usertypegrant"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// PathKind says how a user holds a right or a data-set access (SPEC §2.6).
type PathKind string

const (
	PathDirect   PathKind = "DIRECT"    // granted to the user (by hand, CSV or SCIM)
	PathRole     PathKind = "ROLE"      // copied from a role when it was applied
	PathType     PathKind = "TYPE"      // held by a linked user type
	PathTypeRole PathKind = "TYPE_ROLE" // a right of a role of a linked user type
	// Held through a user type that a mapping rule linked because the user is a
	// member of the group (Group); Role is set for a right of a role of the type.
	PathSCIMGroup PathKind = "SCIM_GROUP"
)

// Mask is what suppresses a right the user otherwise holds.
type Mask string

const (
	MaskInactive Mask = "INACTIVE"  // the user is not active (SPEC §2.5)
	MaskReadOnly Mask = "READ_ONLY" // a WRITE right of a read-only user (SPEC §2.3)
)

// Path is one way a user holds something, with its scope.
type Path struct {
	Kind PathKind
	// Direct grant (DIRECT and ROLE paths).
	GrantID     int
	Source      enums.GrantSource
	GrantedAt   *time.Time
	GrantedByID *int
	// The role (ROLE: copied from, possibly deleted since; TYPE_ROLE: of the type).
	RoleID   int
	RoleName string
	// The user type (TYPE, TYPE_ROLE, SCIM_GROUP).
	UserTypeID   int
	UserTypeName string
	// The group whose mapping rule linked the type (SCIM_GROUP).
	GroupID   int
	GroupName string
	// Scope: none set is an application right (every data set the user can reach).
	DataSetID   int
	NodeID      int
	AllDataSets bool
	// The records named above, when the holder was loaded with details (nil for a
	// role deleted since its rights were copied).
	Role      *gen.Role
	UserType  *gen.UserType
	DataSet   *gen.DataSet
	Node      *gen.HierarchyNode
	GrantedBy *gen.User
	Group     *gen.Group
}

// GrantSource is where the grant behind a DIRECT or ROLE path came from (by hand,
// CSV, SCIM…); the other paths are not grants and have none.
func (p *Path) GrantSource() *enums.GrantSource {
	if p.Kind != PathDirect && p.Kind != PathRole {
		return nil
	}
	return &p.Source
}

// EffectiveRight is a right a user holds in one scope, with every path to it.
type EffectiveRight struct {
	Right     *gen.Right
	DataSetID int // 0: every data set the user can reach (application right or ALL)
	NodeID    int // a hierarchy level the right is limited to, within DataSetID
	DataSet   *gen.DataSet
	Node      *gen.HierarchyNode
	Paths     []Path
	Masks     []Mask
}

// Effective reports whether no mask suppresses the right.
func (e EffectiveRight) Effective() bool { return len(e.Masks) == 0 }

// Holder is everything that decides one user's rights, loaded in a fixed number of
// queries (user, grants, types, their roles and roles' rights, type grants).
type Holder struct {
	User *gen.User
	// ReadOnlyBy names why the user is read-only: "user" and/or the read-only types.
	ReadOnlyBy  []string
	grants      []*gen.UserGrant
	types       []*gen.UserType
	rights      map[int]*gen.Right
	sourceRoles map[int]*gen.Role
	// linkGroups lists, per linked type, the groups whose rules linked it, and
	// linkedByHand the types an admin linked (with details only; without, every link
	// counts as by hand, which decides the same).
	linkGroups   map[int][]*gen.Group
	linkedByHand map[int]bool

	// Computed once, on first use: a cached holder answers many checks (and
	// goroutines) without rebuilding its paths.
	pathsOnce    sync.Once
	rightsOnce   sync.Once
	effective    []EffectiveRight
	pathsByRight map[int][]Path
	accessPaths  []Path
}

// paths returns the holder's right paths by right id and its data-set access paths.
func (h *Holder) paths() (map[int][]Path, []Path) {
	h.pathsOnce.Do(func() {
		h.pathsByRight = map[int][]Path{}
		for _, rp := range h.rightPaths() {
			h.pathsByRight[rp.RightID] = append(h.pathsByRight[rp.RightID], rp.Path)
		}
		h.accessPaths = h.AccessPaths()
	})
	return h.pathsByRight, h.accessPaths
}

// LoadHolder loads what decides userID's rights. The user must be visible to the
// caller; a user who is not is NOT_FOUND. With details, the records every path names
// (data sets, nodes, granters, roles) are loaded too, still in a fixed number of
// queries; checks do without them.
func LoadHolder(ctx context.Context, client *gen.Client, userID int, details bool) (*Holder, error) {
	kind := "holder"
	if details {
		kind = "holder+details"
	}
	return cached(ctx, client, viewer.FromContext(ctx).Account(), true, kind, userID, func() (*Holder, error) {
		return loadHolder(ctx, client, userID, details)
	})
}

func loadHolder(ctx context.Context, client *gen.Client, userID int, details bool) (*Holder, error) {
	u, err := client.User.Query().Where(user.ID(userID)).
		WithGrants(func(q *gen.UserGrantQuery) {
			q.Where(usergrant.KindIn(enums.GrantAppRight, enums.GrantCompanyRight, enums.GrantDataSet))
			if details {
				q.WithDataSet().WithNode().WithGrantedBy()
			}
		}).
		WithTypes(func(q *gen.UserTypeQuery) {
			q.WithRoles(func(q *gen.RoleQuery) { q.WithRights() })
			q.WithGrants(func(q *gen.UserTypeGrantQuery) {
				q.Where(usertypegrant.KindIn(enums.GrantCompanyRight, enums.GrantDataSet))
				if details {
					q.WithDataSet().WithNode()
				}
			})
		}).Only(ctx)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "userId", "user")
	}
	copied, err := copiedGrants(ctx, client, []*gen.User{u}, details, false)
	if err != nil {
		return nil, err
	}
	h := &Holder{User: u, grants: withCopies(u.Edges.Grants, copied[u.ID]), types: u.Edges.Types, rights: map[int]*gen.Right{},
		sourceRoles: map[int]*gen.Role{}}
	if details {
		if err := h.loadLinkSources(ctx, client); err != nil {
			return nil, err
		}
		var roleIDs []int
		for _, g := range h.grants {
			if g.SourceRoleID != nil {
				roleIDs = append(roleIDs, *g.SourceRoleID)
			}
		}
		if len(roleIDs) > 0 {
			roles, err := client.Role.Query().Where(role.IDIn(Unique(roleIDs)...)).All(ctx)
			if err != nil {
				return nil, err
			}
			for _, r := range roles {
				h.sourceRoles[r.ID] = r
			}
		}
	}
	if u.ReadOnly {
		h.ReadOnlyBy = append(h.ReadOnlyBy, "user")
	}
	var rightIDs []int
	for _, g := range h.grants {
		if g.RightID != nil {
			rightIDs = append(rightIDs, *g.RightID)
		}
	}
	for _, t := range h.types {
		if t.ReadOnly {
			h.ReadOnlyBy = append(h.ReadOnlyBy, "type "+t.Name)
		}
		for _, r := range t.Edges.Roles {
			for _, rt := range r.Edges.Rights {
				h.rights[rt.ID] = rt
			}
		}
		for _, g := range t.Edges.Grants {
			if g.RightID != nil {
				rightIDs = append(rightIDs, *g.RightID)
			}
		}
	}
	if missing := h.missingRights(rightIDs); len(missing) > 0 {
		rights, err := client.Right.Query().Where(right.IDIn(missing...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rights {
			h.rights[r.ID] = r
		}
	}
	return h, nil
}

// loadLinkSources reads why each of the user's types is linked.
func (h *Holder) loadLinkSources(ctx context.Context, client *gen.Client) error {
	if len(h.types) == 0 {
		return nil
	}
	sources, err := client.TypeLinkSource.Query().Where(typelinksource.UserID(h.User.ID)).
		WithGroup().Order(typelinksource.ByID()).All(ctx)
	if err != nil {
		return err
	}
	h.linkGroups, h.linkedByHand = map[int][]*gen.Group{}, map[int]bool{}
	for _, s := range sources {
		if g := s.Edges.Group; g != nil {
			h.linkGroups[s.UserTypeID] = append(h.linkGroups[s.UserTypeID], g)
		} else {
			h.linkedByHand[s.UserTypeID] = true
		}
	}
	return nil
}

// typeVia returns one path per reason the type t is linked: by hand (p as it is)
// and through each group whose rule linked it.
func (h *Holder) typeVia(t *gen.UserType, p Path) []Path {
	groups := h.linkGroups[t.ID]
	var out []Path
	if h.linkGroups == nil || h.linkedByHand[t.ID] || len(groups) == 0 {
		out = append(out, p)
	}
	for _, g := range groups {
		q := p
		q.Kind, q.GroupID, q.GroupName, q.Group = PathSCIMGroup, g.ID, g.Name, g
		out = append(out, q)
	}
	return out
}

func (h *Holder) missingRights(ids []int) []int {
	var out []int
	for _, id := range Unique(ids) {
		if _, ok := h.rights[id]; !ok {
			out = append(out, id)
		}
	}
	return out
}

// ReadOnly reports whether the user is read-only, by their own flag or a type's.
func (h *Holder) ReadOnly() bool { return len(h.ReadOnlyBy) > 0 }

// masks returns what suppresses a right of kind k for this user.
func (h *Holder) masks(k right.Kind) []Mask {
	var m []Mask
	if !h.User.Active {
		m = append(m, MaskInactive)
	}
	if k == right.KindWRITE && h.ReadOnly() {
		m = append(m, MaskReadOnly)
	}
	return m
}

// rightPaths lists every path by which the user holds a right, in a stable order.
func (h *Holder) rightPaths() []struct {
	RightID int
	Path    Path
} {
	type rp = struct {
		RightID int
		Path    Path
	}
	var out []rp
	for _, g := range h.grants {
		if g.RightID == nil || (g.Kind != enums.GrantAppRight && g.Kind != enums.GrantCompanyRight) {
			continue
		}
		p := h.directPath(g)
		if g.Source == enums.SourceRole {
			p.Kind, p.RoleID, p.RoleName = PathRole, deref(g.SourceRoleID), g.SourceRoleName
			p.Role = h.sourceRoles[p.RoleID]
		}
		out = append(out, rp{*g.RightID, p})
	}
	for _, t := range h.types {
		for _, r := range t.Edges.Roles {
			for _, rt := range r.Edges.Rights {
				for _, p := range h.typeVia(t, Path{Kind: PathTypeRole, UserTypeID: t.ID, UserTypeName: t.Name, UserType: t,
					RoleID: r.ID, RoleName: r.Name, Role: r}) {
					out = append(out, rp{rt.ID, p})
				}
			}
		}
		for _, g := range t.Edges.Grants {
			if g.Kind != enums.GrantCompanyRight || g.RightID == nil {
				continue
			}
			for _, p := range h.typeVia(t, typePath(t, g)) {
				out = append(out, rp{*g.RightID, p})
			}
		}
	}
	return out
}

// EffectiveRights lists every right the user holds, one entry per right and scope
// (a company-specific right on ALL data sets has the scope of an application right),
// each with all its paths and the masks that suppress it. The list is computed once
// per holder, and a cached holder serves many requests: callers must not change it.
func (h *Holder) EffectiveRights() []EffectiveRight {
	h.rightsOnce.Do(func() { h.effective = h.effectiveRights() })
	return h.effective
}

func (h *Holder) effectiveRights() []EffectiveRight {
	type scope struct{ right, dataSet, node int }
	index := map[scope]int{}
	var out []EffectiveRight
	for _, rp := range h.rightPaths() {
		s := scope{rp.RightID, rp.Path.DataSetID, rp.Path.NodeID}
		if rp.Path.AllDataSets {
			s.dataSet, s.node = 0, 0
		}
		i, ok := index[s]
		if !ok {
			r := h.rights[rp.RightID]
			if r == nil {
				continue
			}
			i = len(out)
			index[s] = i
			er := EffectiveRight{Right: r, DataSetID: s.dataSet, NodeID: s.node, Masks: h.masks(r.Kind)}
			if s.dataSet != 0 {
				er.DataSet, er.Node = rp.Path.DataSet, rp.Path.Node
			}
			out = append(out, er)
		}
		out[i].Paths = append(out[i].Paths, rp.Path)
	}
	slices.SortStableFunc(out, func(a, b EffectiveRight) int {
		if c := strings.Compare(a.Right.Key, b.Right.Key); c != 0 {
			return c
		}
		if a.DataSetID != b.DataSetID {
			return a.DataSetID - b.DataSetID
		}
		return a.NodeID - b.NodeID
	})
	return out
}

// AccessPaths lists the user's data-set access (direct and through types).
func (h *Holder) AccessPaths() []Path {
	var out []Path
	for _, g := range h.grants {
		if g.Kind == enums.GrantDataSet {
			out = append(out, h.directPath(g))
		}
	}
	for _, t := range h.types {
		for _, g := range t.Edges.Grants {
			if g.Kind == enums.GrantDataSet {
				out = append(out, h.typeVia(t, typePath(t, g))...)
			}
		}
	}
	return out
}

func (h *Holder) directPath(g *gen.UserGrant) Path {
	return Path{Kind: PathDirect, GrantID: g.ID, Source: g.Source, GrantedAt: ptrTime(g.GrantedAt), GrantedByID: g.GrantedByID,
		AllDataSets: g.AllDataSets, DataSetID: deref(g.DataSetID), NodeID: deref(g.NodeID),
		DataSet: g.Edges.DataSet, Node: g.Edges.Node, GrantedBy: g.Edges.GrantedBy}
}

func typePath(t *gen.UserType, g *gen.UserTypeGrant) Path {
	return Path{Kind: PathType, UserTypeID: t.ID, UserTypeName: t.Name, UserType: t,
		AllDataSets: g.AllDataSets, DataSetID: deref(g.DataSetID), NodeID: deref(g.NodeID),
		DataSet: g.Edges.DataSet, Node: g.Edges.Node}
}

// Target is where a check asks about: a data set, optionally one hierarchy node.
type Target struct {
	DataSetID int
	NodeID    int
	// ancestors holds NodeID and every node above it.
	ancestors map[int]bool
}

// ResolveTarget checks that the data set (and node, within it) exist for the caller.
func ResolveTarget(ctx context.Context, client *gen.Client, dataSetID, nodeID int) (Target, error) {
	cat, err := loadCatalogue(ctx, client)
	if err != nil {
		return Target{}, err
	}
	return cat.target(ctx, client, dataSetID, nodeID)
}

func (cat *catalogue) target(ctx context.Context, client *gen.Client, dataSetID, nodeID int) (Target, error) {
	if !cat.dataSets[dataSetID] {
		return Target{}, problem.Missing("dataSetId", "data set")
	}
	var node *gen.HierarchyNode
	if nodeID != 0 {
		nodes, err := nodesByID(ctx, client, []int{nodeID})
		if err != nil {
			return Target{}, err
		}
		if node = nodes[nodeID]; node == nil {
			return Target{}, problem.Missing("nodeId", "hierarchy node in that data set")
		}
	}
	t, ok := target(dataSetID, node)
	if !ok {
		return t, problem.Missing("nodeId", "hierarchy node in that data set")
	}
	return t, nil
}

// pathIDs reads the ids in a tree path ("/3/17/42/").
func pathIDs(path string) map[int]bool {
	out := map[int]bool{}
	for _, part := range strings.Split(strings.Trim(path, "/"), "/") {
		if id, err := strconv.Atoi(part); err == nil {
			out[id] = true
		}
	}
	return out
}

// covers reports whether a grant scoped to (dataSet, node) reaches t: the same data
// set, and no node (the whole data set) or t's node or one of its ancestors.
func (t Target) covers(dataSetID, nodeID int) bool {
	if dataSetID != t.DataSetID {
		return false
	}
	return nodeID == 0 || t.ancestors[nodeID]
}

// Decision is the answer to "may this user use this right here?", with its reasons.
type Decision struct {
	Allowed bool
	Right   *gen.Right
	// RightPaths are the paths that grant the right at the target; AccessPaths the
	// data-set access that covers it.
	RightPaths  []Path
	AccessPaths []Path
	Masks       []Mask
	// Missing names what is lacking when the answer is no: NO_DATA_SET_ACCESS and/or
	// NO_RIGHT (masks are reported in Masks).
	Missing []string
}

// Decide answers can(user, right, dataSet, node) (SPEC §2.5): the user is active, their
// data-set access covers the target, and they hold the right as an application right
// or as a company-specific right for the data set (or ALL) — each possibly through a
// type — and no read-only mask suppresses it.
func (h *Holder) Decide(r *gen.Right, t Target) Decision {
	d := Decision{Right: r, Masks: h.masks(r.Kind)}
	byRight, accessPaths := h.paths()
	for _, p := range accessPaths {
		if t.covers(p.DataSetID, p.NodeID) {
			d.AccessPaths = append(d.AccessPaths, p)
		}
	}
	for _, p := range byRight[r.ID] {
		if p.AllDataSets || p.DataSetID == 0 || t.covers(p.DataSetID, p.NodeID) {
			d.RightPaths = append(d.RightPaths, p)
		}
	}
	if len(d.AccessPaths) == 0 {
		d.Missing = append(d.Missing, "NO_DATA_SET_ACCESS")
	}
	if len(d.RightPaths) == 0 {
		d.Missing = append(d.Missing, "NO_RIGHT")
	}
	d.Allowed = len(d.Missing) == 0 && len(d.Masks) == 0
	return d
}

// catalogue is what checks look up by name or id in an account: its rights by key
// and its data sets. It is read whole (hundreds of rows) once per account revision.
type catalogue struct {
	rights   map[string]*gen.Right
	dataSets map[int]bool
}

func loadCatalogue(ctx context.Context, client *gen.Client) (*catalogue, error) {
	return cached(ctx, client, viewer.FromContext(ctx).Account(), false, "catalogue", 0, func() (*catalogue, error) {
		rights, err := client.Right.Query().All(ctx)
		if err != nil {
			return nil, err
		}
		ids, err := client.DataSet.Query().IDs(ctx)
		if err != nil {
			return nil, err
		}
		cat := &catalogue{rights: make(map[string]*gen.Right, len(rights)), dataSets: make(map[int]bool, len(ids))}
		for _, r := range rights {
			cat.rights[r.Key] = r
		}
		for _, id := range ids {
			cat.dataSets[id] = true
		}
		return cat, nil
	})
}

// RightByKey finds a right of the caller's catalogue by key.
func RightByKey(ctx context.Context, client *gen.Client, key string) (*gen.Right, error) {
	cat, err := loadCatalogue(ctx, client)
	if err != nil {
		return nil, err
	}
	return cat.right(key)
}

func (cat *catalogue) right(key string) (*gen.Right, error) {
	if r := cat.rights[key]; r != nil {
		return r, nil
	}
	return nil, problem.Missing("right", "right "+key)
}

// nodesByID reads hierarchy nodes, through the cache node by node.
func nodesByID(ctx context.Context, client *gen.Client, ids []int) (map[int]*gen.HierarchyNode, error) {
	s, err := cacheScope(ctx, client, viewer.FromContext(ctx).Account(), false)
	if err != nil {
		return nil, err
	}
	out := make(map[int]*gen.HierarchyNode, len(ids))
	var missing []int
	for _, id := range Unique(ids) {
		if v, ok := s.get("node", id); ok {
			out[id] = v.(*gen.HierarchyNode)
		} else {
			missing = append(missing, id)
		}
	}
	if len(missing) > 0 {
		ns, err := client.HierarchyNode.Query().Where(hierarchynode.IDIn(missing...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, n := range ns {
			out[n.ID] = n
			s.add("node", n.ID, n)
		}
	}
	return out, nil
}

// target is the Target of a check of node (0: the whole data set) in dataSetID, or
// false when the node is not in that data set.
func target(dataSetID int, node *gen.HierarchyNode) (Target, bool) {
	t := Target{DataSetID: dataSetID}
	if node == nil {
		return t, true
	}
	if node.DataSetID != dataSetID {
		return t, false
	}
	t.NodeID, t.ancestors = node.ID, pathIDs(node.Path)
	t.ancestors[node.ID] = true
	return t, true
}

// Check loads what is needed and decides can(userID, rightKey, dataSetID, nodeID);
// with details, the decision's paths name their records (for explain).
func Check(ctx context.Context, client *gen.Client, userID int, rightKey string, dataSetID, nodeID int, details bool) (Decision, error) {
	cat, err := loadCatalogue(ctx, client)
	if err != nil {
		return Decision{}, err
	}
	r, err := cat.right(rightKey)
	if err != nil {
		return Decision{}, err
	}
	t, err := cat.target(ctx, client, dataSetID, nodeID)
	if err != nil {
		return Decision{}, err
	}
	h, err := LoadHolder(ctx, client, userID, details)
	if err != nil {
		return Decision{}, err
	}
	return h.Decide(r, t), nil
}

// CheckQuery is one check of a batch: a right (by key) on a data set or a node of it.
type CheckQuery struct {
	Right     string
	DataSetID int
	NodeID    *int
}

// MaxChecks bounds a batch of checks.
const MaxChecks = 1000

// CheckMany answers many checks about one user: the user, the rights and the
// targets are each loaded once, so a batch costs a fixed number of queries.
func CheckMany(ctx context.Context, client *gen.Client, userID int, checks []*CheckQuery) ([]bool, error) {
	if len(checks) > MaxChecks {
		return nil, problem.BadInput("checks", "at most %d checks in one request", MaxChecks)
	}
	if len(checks) == 0 {
		return []bool{}, nil
	}
	cat, err := loadCatalogue(ctx, client)
	if err != nil {
		return nil, err
	}
	var nodes []int
	for i, q := range checks {
		if !cat.dataSets[q.DataSetID] {
			return nil, problem.Missing(fmt.Sprintf("checks.%d.dataSetId", i), "data set")
		}
		if n := deref(q.NodeID); n != 0 {
			nodes = append(nodes, n)
		}
	}
	nodeByID, err := nodesByID(ctx, client, nodes)
	if err != nil {
		return nil, err
	}
	h, err := LoadHolder(ctx, client, userID, false)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(checks))
	for i, q := range checks {
		r := cat.rights[q.Right]
		if r == nil {
			return nil, problem.Missing(fmt.Sprintf("checks.%d.right", i), "right "+q.Right)
		}
		var node *gen.HierarchyNode
		if id := deref(q.NodeID); id != 0 {
			if node = nodeByID[id]; node == nil {
				return nil, problem.Missing(fmt.Sprintf("checks.%d.nodeId", i), "hierarchy node in that data set")
			}
		}
		t, ok := target(q.DataSetID, node)
		if !ok {
			return nil, problem.Missing(fmt.Sprintf("checks.%d.nodeId", i), "hierarchy node in that data set")
		}
		out[i] = h.Decide(r, t).Allowed
	}
	return out, nil
}

func deref(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

func ptrTime(t time.Time) *time.Time { return &t }
