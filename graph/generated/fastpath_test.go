package generated

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/executor"

	"latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/right"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
)

// fakeRoot answers node(id) with one user whose effective rights are rights; every
// other resolver is unset (a test that reached one would panic).
type fakeRoot struct {
	ResolverRoot
	rights []*access.EffectiveRight
}

type fakeQuery struct {
	QueryResolver
	user *ent.User
}

type fakeUser struct {
	UserResolver
	rights []*access.EffectiveRight
}

type fakeRightPath struct{}

func (r fakeRoot) Query() QueryResolver { return fakeQuery{user: &ent.User{ID: 7, UserName: "u"}} }
func (r fakeRoot) User() UserResolver   { return fakeUser{rights: r.rights} }
func (fakeRoot) RightPath() RightPathResolver {
	return fakeRightPath{}
}

func (q fakeQuery) Node(context.Context, int) (ent.Noder, error) { return q.user, nil }
func (u fakeUser) EffectiveRights(context.Context, *ent.User) ([]*access.EffectiveRight, error) {
	return u.rights, nil
}

// Source answers as the real resolver does for grants, and fails for SCIM_GROUP
// paths, so a resolver error is seen to leave the list to gqlgen.
func (fakeRightPath) Source(_ context.Context, p *access.Path) (*enums.GrantSource, error) {
	if p.Kind == access.PathSCIMGroup && p.GroupName == "fails" {
		return nil, errors.New("source unknown")
	}
	return p.GrantSource(), nil
}

// effectiveRightsSample holds every shape of effective right: every path kind,
// missing and present records, masks, strings JSON must escape, and times with
// nanoseconds and zones.
func effectiveRightsSample() []*access.EffectiveRight {
	at := time.Date(2026, 3, 4, 5, 6, 7, 890123456, time.FixedZone("X", 5*3600+1800))
	by := &ent.User{ID: 21, UserName: "admin@example.com", Email: "a@example.com", GivenName: "Ad\"min", DisplayName: "Ad\\min\n", Active: true, Status: user.StatusACTIVE}
	parent := 40
	node := &ent.HierarchyNode{ID: 41, Name: "Nord <Süd> & \u2028", ParentID: &parent, Path: "/40/41", Depth: 1, DataSetID: 30}
	ds := &ent.DataSet{ID: 30, Name: "Stores\t1", Description: "all \"stores\""}
	role := &ent.Role{ID: 50, Name: "Manager", Description: "é", AllData: true}
	typ := &ent.UserType{ID: 60, Name: "Staff", ReadOnly: true}
	ext := "ext-1"
	grp := &ent.Group{ID: 70, Name: "Sales", ExternalID: &ext, Source: group.SourceSCIM}
	r1 := &ent.Right{ID: 10, Key: "orders.read", Name: "Read orders", Application: "shop", Description: "", Kind: right.KindREAD, BuiltIn: true}
	r2 := &ent.Right{ID: 11, Key: "admin\u0001", Name: "Admin", Application: "core", Description: "line\nbreak", Kind: right.KindWRITE}
	return []*access.EffectiveRight{
		{Right: r1, DataSetID: 30, DataSet: ds, NodeID: 41, Node: node, Paths: []access.Path{
			{Kind: access.PathDirect, Source: enums.SourceSCIM, GrantedAt: &at, GrantedBy: by, DataSet: ds, Node: node},
			{Kind: access.PathRole, Source: enums.SourceRole, RoleName: "Deleted role", GrantedAt: &at},
			{Kind: access.PathTypeRole, Role: role, RoleName: "Manager", UserType: typ, UserTypeName: "Staff", DataSet: ds},
		}},
		{Right: r2, Masks: []access.Mask{access.MaskInactive, access.MaskReadOnly}, Paths: []access.Path{
			{Kind: access.PathType, UserType: typ, AllDataSets: true},
			{Kind: access.PathSCIMGroup, UserType: typ, Group: grp, GroupName: "Sales", Role: role},
		}},
		{Right: r1, DataSetID: 30, DataSet: ds, Masks: []access.Mask{access.MaskReadOnly}},
	}
}

// execute runs query through gqlgen's executor over rights and returns every
// response it gives (more than one with @defer): each one's data as written, then
// the rest of it as JSON.
func execute(t *testing.T, rights []*access.EffectiveRight, query string, vars map[string]any) string {
	t.Helper()
	query = strings.ReplaceAll(query, `node(id: "x")`, `node(id: "`+relayid.Encode(7)+`")`)
	exec := executor.New(NewExecutableSchema(Config{Resolvers: fakeRoot{rights: rights}}))
	ctx := graphql.StartOperationTrace(context.Background())
	oc, errs := exec.CreateOperationContext(ctx, &graphql.RawParams{Query: query, Variables: vars})
	if errs != nil {
		t.Fatalf("%s: %v", query, errs)
	}
	handler, ctx := exec.DispatchOperation(ctx, oc)
	var all strings.Builder
	for resp := handler(ctx); resp != nil; resp = handler(ctx) {
		// The data as written (json.Marshal would escape it again), then the rest.
		all.Write(resp.Data)
		resp.Data = nil
		b, err := json.Marshal(resp)
		if err != nil {
			t.Fatal(err)
		}
		all.Write(b)
	}
	return all.String()
}

func TestFastEffectiveRightsAnswersAsGqlgen(t *testing.T) {
	const all = `
		__typename
		right { __typename id key name application description kind builtIn }
		dataSet { __typename id name description }
		node { __typename id name parentID path depth dataSetID }
		sources {
			__typename kind source roleName groupName grantedAt allDataSets
			role { __typename id name description allData builtIn }
			userType { __typename id name description readOnly }
			group { __typename id name description externalID source }
			grantedBy { __typename id userName email givenName familyName displayName active readOnly status }
			dataSet { id name } node { id name }
		}
		masks effective`
	sample := effectiveRightsSample()
	tests := []struct {
		name   string
		query  string
		vars   map[string]any
		rights []*access.EffectiveRight
		fast   bool // the fast path writes the list
	}{
		{name: "the bench's selection", fast: true, query: `{ node(id: "x") { ... on User { effectiveRights {
			right { key } dataSet { id } node { id }
			sources { kind role { name } userType { name } group { name } grantedAt }
			masks effective } } } }`},
		{name: "every field it knows", fast: true, query: `{ node(id: "x") { ... on User { effectiveRights {` + all + `} } } }`},
		{name: "aliases, fragments, repeated fields", fast: true, query: `
			query { node(id: "x") { ... on User { list: effectiveRights { ...F r: right { ... on Node { id } k: key } right { key } right { name } effective e: effective } } } }
			fragment F on EffectiveRight { right { id } sources { ... on RightPath { kind k2: kind } role { id } } }`},
		{name: "skip and include", fast: true, vars: map[string]any{"yes": true, "no": false}, query: `
			query($yes: Boolean!, $no: Boolean!) { node(id: "x") { ... on User { effectiveRights {
				right @include(if: $yes) { key } dataSet @skip(if: $yes) { id } masks @include(if: $no) effective @skip(if: $no) } } } }`},
		{name: "no rights", fast: true, rights: []*access.EffectiveRight{}, query: `{ node(id: "x") { ... on User { effectiveRights { effective } } } }`},
		{name: "a missing right (an error gqlgen reports)", rights: append(effectiveRightsSample(), &access.EffectiveRight{}),
			query: `{ node(id: "x") { ... on User { effectiveRights { right { key } effective } } } }`},
		{name: "a resolver failing", rights: []*access.EffectiveRight{{Right: &ent.Right{ID: 1}, Paths: []access.Path{{Kind: access.PathSCIMGroup, GroupName: "fails"}}}},
			query: `{ node(id: "x") { ... on User { effectiveRights { sources { kind source } } } } }`},
		{name: "an edge that loads", query: `{ node(id: "x") { ... on User { effectiveRights { right { key } dataSet { id createdAt } } } } }`},
		{name: "a deferred fragment", query: `{ node(id: "x") { ... on User { effectiveRights { right { key } ... @defer { effective } } } } }`},
	}
	defer func() { fastPaths = true }()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rights := tt.rights
			if rights == nil {
				rights = sample
			}
			fastPaths = false
			want := execute(t, rights, tt.query, tt.vars)
			fastPaths = true
			before := fastPathsTaken.Load()
			got := execute(t, rights, tt.query, tt.vars)
			if taken := fastPathsTaken.Load() > before; taken != tt.fast {
				t.Errorf("fast path taken: %v, want %v", taken, tt.fast)
			}
			if got != want {
				t.Errorf("answers differ\n fast: %s\ngqlgen: %s", got, want)
			}
		})
	}
}
