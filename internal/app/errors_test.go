package app_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"latchkey/graph/relayid"
	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// sqlWords must never appear in a message a client sees.
var sqlWords = []string{"SQL", "sql:", "constraint", "INSERT", "UPDATE ", "SELECT", "Duplicate entry", "UNIQUE", "syntax", "Error 1", "ent:"}

// checkNoSQL fails when an error message shows store internals.
func checkNoSQL(t *testing.T, what string, errs []apptest.Error) {
	t.Helper()
	for _, e := range errs {
		for _, w := range sqlWords {
			if strings.Contains(e.Message, w) {
				t.Errorf("%s: error message leaks store text %q: %q", what, w, e.Message)
			}
		}
	}
}

// shiftID returns the id n places after id: well-formed, of the same kind, absent.
func shiftID(t *testing.T, id string, n int) string {
	t.Helper()
	i, err := relayid.Decode(id)
	if err != nil {
		t.Fatalf("decoding %q: %v", id, err)
	}
	return relayid.Encode(i + n)
}

// TestErrors checks that every kind of bad request gets its documented error
// code, field and path, that no error shows store internals, and that a failed
// mutation writes nothing.
func TestErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, boot := env.Bootstrap("acme", "admin@acme.test")

		jane := c.Must(`mutation { createUser(input: {userName: "jane", email: "jane@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		bob := c.Must(`mutation { createUser(input: {userName: "bob", email: "bob@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
		laptop := c.Must(`mutation { createComputer(input: {name: "LAPTOP-1"}) { computer { id } } }`, nil).String("createComputer.computer.id")
		claims := c.Must(`mutation($u: [ID!]) { createGroup(input: {name: "Claims", userIds: $u}) { group { id } } }`, map[string]any{"u": []string{jane}}).String("createGroup.group.id")
		other := c.Must(`mutation { createGroup(input: {name: "Other"}) { group { id } } }`, nil).String("createGroup.group.id")
		c.Must(`mutation { createRight(input: {key: "claims.approve", name: "Approve Claims", kind: WRITE}) { right { id } } }`, nil)
		role := c.Must(`mutation { createRole(input: {name: "Adjuster", rights: ["claims.approve"]}) { role { id } } }`, nil).String("createRole.role.id")
		ds := c.Must(`mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		node := c.Must(`mutation($ds: ID!) { createHierarchyNode(input: {dataSetId: $ds, name: "Region 1"}) { node { id } } }`, map[string]any{"ds": ds}).String("createHierarchyNode.node.id")
		east := c.Must(`mutation { createDataSet(input: {name: "Carrier East"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
		typ := c.Must(`mutation($ds: ID!) { createUserType(input: {name: "Field", grants: [{dataSetId: $ds}]}) { userType { id } } }`, map[string]any{"ds": ds}).String("createUserType.userType.id")
		c.Must(`mutation { createDashboard(input: {name: "Board", kind: GENERIC}) { dashboard { id } } }`, nil)

		ghostUser := shiftID(t, jane, 1_000_000)
		ghostGroup := shiftID(t, claims, 1_000_000)
		ghostDataSet := shiftID(t, ds, 1_000_000)
		b64 := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
		createUser := `mutation($in: CreateUserInput!) { createUser(input: $in) { user { id } } }`

		cases := []struct {
			name  string
			query string
			vars  map[string]any
			code  string
			field string // "" when the error need not name one
			path  string // the root field the error must be on; "" for a request refused before execution
		}{
			// Uniqueness.
			{"duplicate userName other case", `mutation { createUser(input: {userName: "JANE", email: "jane2@acme.test"}) { user { id } } }`, nil, "CONFLICT", "userName", "createUser"},
			{"duplicate userName padded", `mutation { createUser(input: {userName: " jane ", email: "jane3@acme.test"}) { user { id } } }`, nil, "CONFLICT", "userName", "createUser"},
			{"rename to taken userName", `mutation($id: ID!) { updateUser(input: {id: $id, userName: "Jane"}) { user { id } } }`, map[string]any{"id": bob}, "CONFLICT", "userName", "updateUser"},
			{"duplicate group", `mutation { createGroup(input: {name: "Claims"}) { group { id } } }`, nil, "CONFLICT", "name", "createGroup"},
			{"rename to taken group", `mutation($id: ID!) { updateGroup(input: {id: $id, name: "Claims"}) { group { id } } }`, map[string]any{"id": other}, "CONFLICT", "name", "updateGroup"},
			{"duplicate role", `mutation { createRole(input: {name: "Adjuster"}) { role { id } } }`, nil, "CONFLICT", "name", "createRole"},
			{"duplicate built-in role", `mutation { createRole(input: {name: "Admin"}) { role { id } } }`, nil, "CONFLICT", "name", "createRole"},
			{"duplicate right key", `mutation { createRight(input: {key: "claims.approve", name: "Other", kind: READ}) { right { id } } }`, nil, "CONFLICT", "key", "createRight"},
			{"duplicate built-in right key", `mutation { createRight(input: {key: "users.admin", name: "Mine", kind: WRITE}) { right { id } } }`, nil, "CONFLICT", "key", "createRight"},
			{"duplicate data set", `mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id } } }`, nil, "CONFLICT", "name", "createDataSet"},
			{"duplicate user type", `mutation { createUserType(input: {name: "Field"}) { userType { id } } }`, nil, "CONFLICT", "name", "createUserType"},
			{"duplicate computer", `mutation { createComputer(input: {name: "LAPTOP-1"}) { computer { id } } }`, nil, "CONFLICT", "name", "createComputer"},
			{"duplicate dashboard", `mutation { createDashboard(input: {name: "Board", kind: CUSTOM}) { dashboard { id } } }`, nil, "CONFLICT", "name", "createDashboard"},

			// Missing or mistyped input.
			{"missing userName inline", `mutation { createUser(input: {email: "x@acme.test"}) { user { id } } }`, nil, "BAD_USER_INPUT", "userName", ""},
			{"missing userName variables", createUser, map[string]any{"in": map[string]any{"email": "x@acme.test"}}, "BAD_USER_INPUT", "userName", ""},
			{"missing email variables", createUser, map[string]any{"in": map[string]any{"userName": "x"}}, "BAD_USER_INPUT", "email", ""},
			{"missing role name inline", `mutation { createRole(input: {rights: ["reports.view"]}) { role { id } } }`, nil, "BAD_USER_INPUT", "name", ""},
			{"missing dataSetId variables", `mutation($in: CreateHierarchyNodeInput!) { createHierarchyNode(input: $in) { node { id } } }`, map[string]any{"in": map[string]any{"name": "Region 2"}}, "BAD_USER_INPUT", "dataSetId", ""},
			{"mistyped userName variables", createUser, map[string]any{"in": map[string]any{"userName": map[string]any{"first": "x"}, "email": "x@acme.test"}}, "BAD_USER_INPUT", "userName", ""},
			{"mistyped nested grant variables", `mutation($in: CreateUserTypeInput!) { createUserType(input: $in) { userType { id } } }`, map[string]any{"in": map[string]any{"name": "T", "grants": []any{map[string]any{"right": []any{"a", "b"}}}}}, "BAD_USER_INPUT", "right", ""},
			{"missing input argument", `mutation { createUser { user { id } } }`, nil, "BAD_USER_INPUT", "input", ""},

			// Invalid values.
			{"empty userName", `mutation { createUser(input: {userName: "", email: "e@acme.test"}) { user { id } } }`, nil, "BAD_USER_INPUT", "userName", "createUser"},
			{"blank userName", `mutation { createUser(input: {userName: "   ", email: "e@acme.test"}) { user { id } } }`, nil, "BAD_USER_INPUT", "userName", "createUser"},
			{"empty userName on update", `mutation($id: ID!) { updateUser(input: {id: $id, userName: ""}) { user { id } } }`, map[string]any{"id": bob}, "BAD_USER_INPUT", "userName", "updateUser"},
			{"too long userName", `mutation($n: String!) { createUser(input: {userName: $n, email: "e@acme.test"}) { user { id } } }`, map[string]any{"n": strings.Repeat("x", 151)}, "BAD_USER_INPUT", "userName", "createUser"},
			{"email without @", `mutation { createUser(input: {userName: "e1", email: "not-an-email"}) { user { id } } }`, nil, "BAD_USER_INPUT", "email", "createUser"},
			{"email without domain", `mutation { createUser(input: {userName: "e2", email: "jane@"}) { user { id } } }`, nil, "BAD_USER_INPUT", "email", "createUser"},
			{"email with display name", `mutation { createUser(input: {userName: "e3", email: "Jane <jane4@acme.test>"}) { user { id } } }`, nil, "BAD_USER_INPUT", "email", "createUser"},
			{"empty email", `mutation { createUser(input: {userName: "e4", email: ""}) { user { id } } }`, nil, "BAD_USER_INPUT", "email", "createUser"},
			{"bad email on update", `mutation($id: ID!) { updateUser(input: {id: $id, email: "bob at acme"}) { user { id } } }`, map[string]any{"id": bob}, "BAD_USER_INPUT", "email", "updateUser"},
			{"right key with spaces", `mutation { createRight(input: {key: "claims approve", name: "X", kind: WRITE}) { right { id } } }`, nil, "BAD_USER_INPUT", "key", "createRight"},
			{"right key upper case", `mutation { createRight(input: {key: "Claims.Approve", name: "X", kind: WRITE}) { right { id } } }`, nil, "BAD_USER_INPUT", "key", "createRight"},
			{"right key empty segment", `mutation { createRight(input: {key: "claims..approve", name: "X", kind: WRITE}) { right { id } } }`, nil, "BAD_USER_INPUT", "key", "createRight"},
			{"right key leading digit", `mutation { createRight(input: {key: "1claims", name: "X", kind: WRITE}) { right { id } } }`, nil, "BAD_USER_INPUT", "key", "createRight"},
			{"empty right key", `mutation { createRight(input: {key: "", name: "X", kind: WRITE}) { right { id } } }`, nil, "BAD_USER_INPUT", "key", "createRight"},
			{"empty group name", `mutation { createGroup(input: {name: "  "}) { group { id } } }`, nil, "BAD_USER_INPUT", "name", "createGroup"},
			{"own manager", `mutation($id: ID!) { updateUser(input: {id: $id, managerId: $id}) { user { id } } }`, map[string]any{"id": bob}, "BAD_USER_INPUT", "managerId", "updateUser"},
			{"grant naming two things", `mutation($ds: ID!) { createUserType(input: {name: "T2", grants: [{orgUnitId: $ds, dataSetId: $ds}]}) { userType { id } } }`, map[string]any{"ds": ds}, "BAD_USER_INPUT", "grants[0]", "createUserType"},
			{"parent node of another data set", `mutation($ds: ID!, $n: ID!) { createHierarchyNode(input: {dataSetId: $ds, parentId: $n, name: "X"}) { node { id } } }`, map[string]any{"ds": east, "n": node}, "BAD_USER_INPUT", "parentId", "createHierarchyNode"},

			// Well-formed ids of nothing.
			{"node of absent id", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": ghostUser}, "NOT_FOUND", "", "node"},
			{"node of id in no table", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": relayid.Encode(1 << 45)}, "NOT_FOUND", "", "node"},
			{"updateUser absent", `mutation($id: ID!) { updateUser(input: {id: $id, title: "X"}) { user { id } } }`, map[string]any{"id": ghostUser}, "NOT_FOUND", "id", "updateUser"},
			{"updateUser with a group's id", `mutation($id: ID!) { updateUser(input: {id: $id, title: "X"}) { user { id } } }`, map[string]any{"id": claims}, "NOT_FOUND", "id", "updateUser"},
			{"deleteUsers absent", `mutation($id: ID!) { deleteUsers(input: {ids: [$id]}) { affectedCount } }`, map[string]any{"id": ghostUser}, "NOT_FOUND", "ids", "deleteUsers"},
			{"deleteGroup absent", `mutation($id: ID!) { deleteGroup(input: {id: $id}) { deletedId } }`, map[string]any{"id": ghostGroup}, "NOT_FOUND", "id", "deleteGroup"},
			{"addGroupMembers absent user", `mutation($g: ID!, $u: ID!) { addGroupMembers(input: {groupId: $g, userIds: [$u]}) { group { id } } }`, map[string]any{"g": claims, "u": ghostUser}, "NOT_FOUND", "userIds", "addGroupMembers"},
			{"addGroupMembers absent group", `mutation($g: ID!, $u: ID!) { addGroupMembers(input: {groupId: $g, userIds: [$u]}) { group { id } } }`, map[string]any{"g": ghostGroup, "u": bob}, "NOT_FOUND", "groupId", "addGroupMembers"},
			{"createComputer absent owner", `mutation($u: ID!) { createComputer(input: {name: "PC-9", ownerId: $u}) { computer { id } } }`, map[string]any{"u": ghostUser}, "NOT_FOUND", "ownerId", "createComputer"},
			{"createHierarchyNode absent data set", `mutation($ds: ID!) { createHierarchyNode(input: {dataSetId: $ds, name: "X"}) { node { id } } }`, map[string]any{"ds": ghostDataSet}, "NOT_FOUND", "dataSetId", "createHierarchyNode"},
			{"createRole absent right", `mutation { createRole(input: {name: "R9", rights: ["no.such.right"]}) { role { id } } }`, nil, "NOT_FOUND", "rights", "createRole"},
			{"createUserType absent role", `mutation($r: ID!) { createUserType(input: {name: "T9", roleIds: [$r]}) { userType { id } } }`, map[string]any{"r": shiftID(t, role, 1_000_000)}, "NOT_FOUND", "roleIds", "createUserType"},

			// Malformed ids.
			{"node of garbage id", `query { node(id: "garbage!") { id } }`, nil, "BAD_USER_INPUT", "id", "node"},
			{"nodes with garbage id", `query($ids: [ID!]!) { nodes(ids: $ids) { id } }`, map[string]any{"ids": []string{jane, "???"}}, "BAD_USER_INPUT", "ids", "nodes"},
			{"updateUser garbage id inline", `mutation { updateUser(input: {id: "not-an-id", title: "X"}) { user { id } } }`, nil, "BAD_USER_INPUT", "id", "updateUser"},
			{"updateUser garbage id variables", `mutation($in: UpdateUserInput!) { updateUser(input: $in) { user { id } } }`, map[string]any{"in": map[string]any{"id": "%%%", "title": "X"}}, "BAD_USER_INPUT", "id", "updateUser"},
			{"id of letters", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": b64("lk:abc")}, "BAD_USER_INPUT", "id", "node"},
			{"id of zero", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": b64("lk:0")}, "BAD_USER_INPUT", "id", "node"},
			{"id past 64 bits", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": b64("lk:9223372036854775808")}, "BAD_USER_INPUT", "id", "node"},
			{"id without prefix", `query($id: ID!) { node(id: $id) { id } }`, map[string]any{"id": b64("42")}, "BAD_USER_INPUT", "id", "node"},
			{"member ids garbage", `mutation($g: ID!) { addGroupMembers(input: {groupId: $g, userIds: ["junk"]}) { group { id } } }`, map[string]any{"g": claims}, "BAD_USER_INPUT", "userIds", "addGroupMembers"},
			{"garbage cursor", `query { users(after: "junk") { totalCount } }`, nil, "BAD_USER_INPUT", "after", "users"},
		}
		for _, tc := range cases {
			r := c.Do(tc.query, tc.vars)
			checkNoSQL(t, tc.name, r.Errors)
			if len(r.Errors) == 0 {
				t.Errorf("%s: no error; data %v", tc.name, r.Data)
				continue
			}
			e := r.Errors[0]
			if tc.code != "" && e.Code() != tc.code {
				t.Errorf("%s: code %q (message %q), want %s", tc.name, e.Code(), e.Message, tc.code)
			}
			if e.Code() == "" || e.Code() == "INTERNAL_SERVER_ERROR" {
				t.Errorf("%s: error has code %q: %q", tc.name, e.Code(), e.Message)
			}
			if tc.field != "" && e.Field() != tc.field {
				t.Errorf("%s: %s error has extensions.field %q (message %q), want %q (SPEC §6: BAD_USER_INPUT carries extensions.field naming the input at fault)", tc.name, e.Code(), e.Field(), e.Message, tc.field)
			}
			if e.Message == "" {
				t.Errorf("%s: empty error message", tc.name)
			}
			if tc.path != "" && (len(e.Path) == 0 || e.Path[0] != tc.path) {
				t.Errorf("%s: error path %v, want it to start at %q", tc.name, e.Path, tc.path)
			}
			if tc.path != "" && r.Data[tc.path] != nil {
				t.Errorf("%s: failed field answered data %v", tc.name, r.Data[tc.path])
			}
		}

		t.Run("authentication", func(t *testing.T) {
			parts := strings.Split(c.Token, ".")
			if len(parts) != 3 {
				t.Fatalf("access token is not a JWS: %q", c.Token)
			}
			flip := func(s string, i int) string {
				b := []byte(s)
				if b[i] == 'A' {
					b[i] = 'B'
				} else {
					b[i] = 'A'
				}
				return string(b)
			}
			inactive := c.Must(`mutation { createUser(input: {userName: "off", email: "off@acme.test", active: false}) { user { id } } }`, nil).String("createUser.user.id")
			gone := c.Must(`mutation { createUser(input: {userName: "gone", email: "gone@acme.test"}) { user { id } } }`, nil).String("createUser.user.id")
			goneToken := env.Token(boot.AccountID, gone)
			c.Must(`mutation($id: ID!) { deleteUsers(input: {ids: [$id]}) { affectedCount } }`, map[string]any{"id": gone})
			none := base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"none","typ":"JWT"}`))

			headers := []struct{ name, authorization string }{
				{"no token", ""},
				{"basic scheme", "Basic YWRtaW46YWRtaW4="},
				{"bearer without token", "Bearer "},
				{"garbage token", "Bearer not.a.jwt"},
				{"tampered payload", "Bearer " + parts[0] + "." + flip(parts[1], len(parts[1])/2) + "." + parts[2]},
				{"tampered signature", "Bearer " + parts[0] + "." + parts[1] + "." + flip(parts[2], len(parts[2])/2)},
				{"tampered header", "Bearer " + flip(parts[0], len(parts[0])/2) + "." + parts[1] + "." + parts[2]},
				{"alg none", "Bearer " + none + "." + parts[1] + "."},
				{"inactive user", "Bearer " + env.Token(boot.AccountID, inactive)},
				{"deleted user", "Bearer " + goneToken},
			}
			for _, h := range headers {
				hdr := http.Header{}
				if h.authorization != "" {
					hdr.Set("Authorization", h.authorization)
				}
				r := env.Client("").Post(map[string]any{"query": `{ viewer { id } users { totalCount } }`}, hdr)
				if r.Status != http.StatusUnauthorized {
					t.Errorf("%s: HTTP %d, want 401: %s", h.name, r.Status, r.Raw)
				}
				if len(r.Errors) == 0 || r.Errors[0].Code() != "UNAUTHENTICATED" {
					t.Errorf("%s: errors %v, want UNAUTHENTICATED", h.name, r.Errors)
				}
				if r.Data != nil {
					t.Errorf("%s: answered data %v", h.name, r.Data)
				}
				if !strings.Contains(r.Header.Get("WWW-Authenticate"), "Bearer") {
					t.Errorf("%s: WWW-Authenticate %q, want a Bearer challenge", h.name, r.Header.Get("WWW-Authenticate"))
				}
				checkNoSQL(t, h.name, r.Errors)
			}
			// The untampered token still works.
			c.Must(`{ viewer { id } }`, nil)
		})

		t.Run("unreadable requests", func(t *testing.T) {
			// Requests gqlgen refuses before it has an operation: they are the client's
			// fault (4xx, not INTERNAL_SERVER_ERROR), and say what is wrong.
			bodies := []struct{ name, body string }{
				{"malformed JSON", `{not json`},
				{"variables not an object", `{"query": "{ viewer { id } }", "variables": "x"}`},
				{"query not a string", `{"query": 42}`},
			}
			for _, b := range bodies {
				req, _ := http.NewRequest(http.MethodPost, env.Server.URL+"/query", strings.NewReader(b.body))
				req.Header.Set("Content-Type", "application/json")
				req.Header.Set("Authorization", "Bearer "+c.Token)
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				var decoded struct{ Errors []apptest.Error }
				_ = json.Unmarshal(raw, &decoded)
				if resp.StatusCode != http.StatusBadRequest || len(decoded.Errors) == 0 ||
					decoded.Errors[0].Code() == "INTERNAL_SERVER_ERROR" || decoded.Errors[0].Message == "internal error" {
					t.Errorf("%s: HTTP %d %s; want 400 with an error saying the body is not a GraphQL request, not an internal error "+
						"(entgql.Transactioner.InterceptResponse panics on \"missing operation context\" when gqlgen dispatches a transport error)", b.name, resp.StatusCode, raw)
				}
				checkNoSQL(t, b.name, decoded.Errors)
			}
		})

		t.Run("no partial writes", func(t *testing.T) {
			before := snapshot(t, c)
			failing := []struct {
				name, query string
				vars        map[string]any
			}{
				{"createUserType with one bad grant", `mutation($ds: ID!, $bad: ID!) { createUserType(input: {name: "Half Type", grants: [{dataSetId: $ds}, {dataSetId: $bad}]}) { userType { id } } }`,
					map[string]any{"ds": ds, "bad": ghostDataSet}},
				{"createUserType with one bad right", `mutation($ds: ID!) { createUserType(input: {name: "Half Type", grants: [{dataSetId: $ds}, {right: "no.such", allDataSets: true}]}) { userType { id } } }`,
					map[string]any{"ds": ds}},
				{"updateUserType rename with a bad grant", `mutation($id: ID!, $bad: ID!) { updateUserType(input: {id: $id, name: "Renamed Type", readOnly: true, grants: [{dataSetId: $bad}]}) { userType { id } } }`,
					map[string]any{"id": typ, "bad": ghostDataSet}},
				{"updateUserType rename with a bad role", `mutation($id: ID!, $bad: ID!) { updateUserType(input: {id: $id, name: "Renamed Type", roleIds: [$bad]}) { userType { id } } }`,
					map[string]any{"id": typ, "bad": shiftID(t, role, 1_000_000)}},
				{"updateRole rename with a bad right", `mutation($id: ID!) { updateRole(input: {id: $id, name: "Renamed Role", rights: ["reports.view", "no.such"]}) { role { id } } }`,
					map[string]any{"id": role}},
				{"importGroupCsv new groups, unknown user", `mutation($csv: String!) { importGroupCsv(input: {csv: $csv}) { createdGroups } }`,
					map[string]any{"csv": "group,userName\nTeam One,jane\nTeam One,bob\nTeam Two,bob\nTeam Two,ghost\n"}},
				{"importGroupCsv existing group, unknown computer", `mutation($csv: String!) { importGroupCsv(input: {csv: $csv}) { createdGroups } }`,
					map[string]any{"csv": "group,userName,computer\nClaims,bob,LAPTOP-1\nTeam Three,,NO-SUCH-PC\n"}},
				{"createGroup with an absent member", `mutation($u: [ID!]) { createGroup(input: {name: "Half Group", userIds: $u}) { group { id } } }`,
					map[string]any{"u": []string{jane, ghostUser}}},
				{"createGroup duplicate with members", `mutation($u: [ID!], $c: [ID!]) { createGroup(input: {name: "Claims", userIds: $u, computerIds: $c}) { group { id } } }`,
					map[string]any{"u": []string{bob}, "c": []string{laptop}}},
				{"addGroupMembers one absent", `mutation($g: ID!, $u: [ID!]) { addGroupMembers(input: {groupId: $g, userIds: $u}) { group { id } } }`,
					map[string]any{"g": claims, "u": []string{bob, ghostUser}}},
				{"deleteUsers one absent", `mutation($ids: [ID!]!) { deleteUsers(input: {ids: $ids}) { affectedCount } }`,
					map[string]any{"ids": []string{bob, ghostUser}}},
				{"createHierarchyNode under a node of another data set", `mutation($ds: ID!, $n: ID!) { createHierarchyNode(input: {dataSetId: $ds, parentId: $n, name: "Stray"}) { node { id } } }`,
					map[string]any{"ds": east, "n": node}},
			}
			for _, f := range failing {
				r := c.Do(f.query, f.vars)
				if len(r.Errors) == 0 {
					t.Errorf("%s: succeeded: %v", f.name, r.Data)
					continue
				}
				checkNoSQL(t, f.name, r.Errors)
				for _, e := range r.Errors {
					if len(e.Path) == 0 {
						t.Errorf("%s: error without a path: %+v", f.name, e)
					}
				}
			}
			if diff := snapshotDiff(before, snapshot(t, c)); diff != "" {
				t.Errorf("failed mutations left writes behind:\n%s", diff)
			}
		})
	})
}
