package scim

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	gen "latchkey/ent"
	"latchkey/graph/relayid"
)

func testUser() *gen.User {
	boss := 7
	return &gen.User{ID: 1, UserName: "jane@acme.test", Email: "jane@acme.test", GivenName: "Jane", FamilyName: "Doe",
		DisplayName: "Jane Doe", Title: "Adjuster", Phone: "+1 555 0100", Department: "Claims", EmployeeNumber: "E1",
		Active: true, ManagerID: &boss, CreatedAt: time.Unix(0, 0), UpdatedAt: time.Unix(0, 0)}
}

// applyJSON applies a PatchOp body to jane's document and reads the result.
func applyJSON(body string) (userFields, error) {
	ops, err := parsePatch([]byte(body))
	if err != nil {
		return userFields{}, err
	}
	d := userDoc("https://h/scim/v2", testUser(), nil)
	d["externalId"] = "X1"
	if err := (&patcher{k: userKind}).apply(d, ops); err != nil {
		return userFields{}, err
	}
	return readUser(d)
}

func body(ops ...string) string {
	return `{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[` + strings.Join(ops, ",") + `]}`
}

// TestPatchForms: every PATCH form Okta and Entra ID send, applied to a user.
func TestPatchForms(t *testing.T) {
	boss2 := relayid.Encode(9)
	for _, tc := range []struct {
		name  string
		ops   []string
		check func(f userFields) bool
	}{
		{"capitalised op with a path", []string{`{"op":"Replace","path":"title","value":"Lead"}`}, func(f userFields) bool { return f.title == "Lead" }},
		{"upper-case op", []string{`{"OP":"REPLACE","PATH":"title","VALUE":"Lead"}`}, func(f userFields) bool { return f.title == "Lead" }},
		{"path-less replace with a dotted key", []string{`{"op":"replace","value":{"name.givenName":"Janet","displayName":"JD"}}`},
			func(f userFields) bool {
				return f.givenName == "Janet" && f.familyName == "Doe" && f.displayName == "JD"
			}},
		{"path-less replace with a complex value merges", []string{`{"op":"replace","value":{"name":{"familyName":"Roe"}}}`},
			func(f userFields) bool { return f.givenName == "Jane" && f.familyName == "Roe" }},
		{"path-less with the extension URN as a key", []string{`{"op":"replace","value":{"` + enterpriseURN + `":{"department":"Billing"}}}`},
			func(f userFields) bool { return f.department == "Billing" && f.employeeNumber == "E1" }},
		{"path-less with URN-prefixed keys", []string{`{"op":"add","value":{"` + enterpriseURN + `:employeeNumber":"E2","urn:ietf:params:scim:schemas:core:2.0:User:title":"T"}}`},
			func(f userFields) bool { return f.employeeNumber == "E2" && f.title == "T" }},
		{"extension URN as the path", []string{`{"op":"replace","path":"` + enterpriseURN + `","value":{"department":"Ops"}}`},
			func(f userFields) bool { return f.department == "Ops" }},
		{"string booleans", []string{`{"op":"Replace","path":"active","value":"False"}`}, func(f userFields) bool { return f.active != nil && !*f.active }},
		{"string boolean in a value object", []string{`{"op":"replace","value":{"active":"TRUE"}}`}, func(f userFields) bool { return f.active != nil && *f.active }},
		{"manager as a bare id", []string{`{"op":"Add","path":"` + enterpriseURN + `:manager","value":"` + boss2 + `"}`},
			func(f userFields) bool { return f.managerID != nil && *f.managerID == 9 }},
		{"manager as {value}", []string{`{"op":"replace","path":"` + enterpriseURN + `:manager","value":{"value":"` + boss2 + `"}}`},
			func(f userFields) bool { return f.managerID != nil && *f.managerID == 9 }},
		{"manager.value", []string{`{"op":"replace","path":"` + enterpriseURN + `:manager.value","value":"` + boss2 + `"}`},
			func(f userFields) bool { return f.managerID != nil && *f.managerID == 9 }},
		{"manager removed", []string{`{"op":"remove","path":"` + enterpriseURN + `:manager"}`}, func(f userFields) bool { return f.managerID == nil }},
		{"emails[type eq work].value", []string{`{"op":"replace","path":"emails[type eq \"work\"].value","value":"new@acme.test"}`},
			func(f userFields) bool { return f.email == "new@acme.test" }},
		{"filtered email path-less (aadOptscim062020)", []string{`{"op":"replace","value":{"emails[type eq \"work\"].value":"new@acme.test"}}`},
			func(f userFields) bool { return f.email == "new@acme.test" }},
		{"multi-valued emails replaced whole", []string{`{"op":"replace","path":"emails","value":[{"value":"home@x.test","type":"home"},{"value":"p@x.test","type":"work","primary":true}]}`},
			func(f userFields) bool { return f.email == "p@x.test" }},
		{"emails added with a new primary", []string{`{"op":"add","path":"emails","value":[{"value":"second@x.test","type":"other","primary":true}]}`},
			func(f userFields) bool { return f.email == "second@x.test" }},
		{"email replaced through a value filter", []string{`{"op":"replace","path":"emails[value eq \"JANE@acme.test\"]","value":{"value":"j2@acme.test","type":"work","primary":true}}`},
			func(f userFields) bool { return f.email == "j2@acme.test" }},
		{"a mobile number beside the work one", []string{`{"op":"Add","path":"phoneNumbers[type eq \"mobile\"].value","value":"+1 555 0199"}`},
			func(f userFields) bool { return f.phone == "+1 555 0100" }},
		{"phone removed", []string{`{"op":"remove","path":"phoneNumbers[type eq \"work\"]"}`}, func(f userFields) bool { return f.phone == "" }},
		{"replace with null clears", []string{`{"op":"replace","path":"title","value":null}`}, func(f userFields) bool { return f.title == "" }},
		{"remove a sub-attribute", []string{`{"op":"remove","path":"name.givenName"}`}, func(f userFields) bool { return f.givenName == "" && f.familyName == "Doe" }},
		{"externalId", []string{`{"op":"replace","path":"externalId","value":"X2"}`}, func(f userFields) bool { return *f.externalID == "X2" }},
		{"attributes not kept are ignored", []string{`{"op":"Replace","path":"addresses[type eq \"work\"].locality","value":"Seattle"}`,
			`{"op":"Add","path":"nickName","value":"JJ"}`, `{"op":"replace","value":{"preferredLanguage":"en","name.middleName":"Q","roles":[]}}`},
			func(f userFields) bool { return f.title == "Adjuster" }},
		{"Okta's id in a value object is ignored", []string{`{"op":"replace","value":{"id":"zzz","userName":"j@acme.test"}}`},
			func(f userFields) bool { return f.userName == "j@acme.test" }},
		{"operations apply in order", []string{`{"op":"replace","path":"title","value":"A"}`, `{"op":"replace","path":"title","value":"B"}`, `{"op":"remove","path":"displayName"}`},
			func(f userFields) bool { return f.title == "B" && f.displayName == "" }},
		{"attribute names in any case", []string{`{"op":"replace","path":"NAME.GIVENNAME","value":"J"}`, `{"op":"replace","value":{"DisplayName":"X"}}`},
			func(f userFields) bool { return f.givenName == "J" && f.displayName == "X" }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f, err := applyJSON(body(tc.ops...))
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(f) {
				t.Fatalf("result: %+v", f)
			}
		})
	}

	for _, bad := range []string{
		body(`{"op":"remove"}`),
		body(`{"op":"replace","path":"emails[value eq \"nobody\"]","value":{"value":"x@y.z"}}`),
		body(`{"op":"delete","path":"title"}`),
		body(`{"op":"replace","path":"title[","value":"x"}`),
		body(`{"op":"replace","path":"groups","value":[]}`),
		body(`{"op":"replace","path":"active","value":"yes"}`),
		`{"Operations":[{"op":"replace","path":"title","value":"x"}]}`,
		`[]`,
	} {
		if _, err := applyJSON(bad); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
}

// TestGroupMemberForms: the member operations the IdPs send reach the store as
// adds, removes and replacements by id (the whole membership is never read to
// change part of it).
func TestGroupMemberForms(t *testing.T) {
	a, b := relayid.Encode(1), relayid.Encode(2)
	for _, tc := range []struct {
		name string
		ops  []string
		want []string
	}{
		{"add a list", []string{`{"op":"add","path":"members","value":[{"value":"` + a + `","display":"a"},{"$ref":null,"value":"` + b + `"}]}`}, []string{"add 1,2"}},
		{"Entra remove by value list", []string{`{"op":"Remove","path":"members","value":[{"value":"` + a + `"}]}`}, []string{"remove 1"}},
		{"remove by filter", []string{`{"op":"remove","path":"members[value eq \"` + b + `\"]"}`}, []string{"remove-filter " + b}},
		{"remove everyone", []string{`{"op":"remove","path":"members"}`}, []string{"remove all"}},
		{"replace, including empty", []string{`{"op":"replace","path":"members","value":[{"value":"` + a + `"}]}`, `{"op":"replace","path":"members","value":[]}`},
			[]string{"replace 1", "replace "}},
		{"path-less members", []string{`{"op":"replace","value":{"displayName":"New","members":[{"value":"` + b + `"}]}}`}, []string{"replace 2"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ops, err := parsePatch([]byte(body(tc.ops...)))
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			p := patcher{k: groupKind, members: func(op string, tg target, value any) error {
				if tg.filter != nil {
					vals, _ := valueEqualities(tg.filter)
					got = append(got, "remove-filter "+strAt(asMap(vals[0]), "value"))
					return nil
				}
				if op == "remove" && value == nil {
					got = append(got, "remove all")
					return nil
				}
				v, err := coerce(tg.attr, value, "members")
				if err != nil {
					return err
				}
				ids, err := memberIDs(asList(v), true)
				if err != nil {
					return err
				}
				got = append(got, op+" "+strings.Trim(strings.Join(strings.Fields(fmt.Sprint(ids)), ","), "[]"))
				return nil
			}}
			d := document{"displayName": "Old"}
			if err := p.apply(d, ops); err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("got %q, want %q", got, tc.want)
			}
		})
	}
}

// FuzzPatch: any PATCH body is applied (or refused) without panicking, to users and
// groups.
func FuzzPatch(f *testing.F) {
	for _, s := range []string{
		body(`{"op":"Replace","path":"emails[type eq \"work\"].value","value":"x@y.z"}`),
		body(`{"op":"replace","value":{"name.givenName":"J","` + enterpriseURN + `":{"manager":"x"}}}`),
		body(`{"op":"remove","path":"members[value eq \"a\" or display co \"b\"]"}`),
		body(`{"op":"add","path":"phoneNumbers","value":{"value":1.5,"primary":"true"}}`),
		body(`{"op":"replace","path":"` + enterpriseURN + `","value":[1,2]}`),
		`{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{"op":"add","path":"emails[not (type eq \"x\")].value","value":null}]}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		ops, err := parsePatch(raw)
		if err != nil {
			return
		}
		d := userDoc("https://h/scim/v2", testUser(), nil)
		if err := (&patcher{k: userKind}).apply(d, ops); err == nil {
			_, _ = readUser(d)
			if _, err := json.Marshal(d); err != nil {
				t.Fatalf("document no longer JSON: %v", err)
			}
		}
		g := document{"displayName": "G"}
		p := patcher{k: groupKind, members: func(op string, tg target, value any) error {
			v, err := coerce(tg.attr, value, "members")
			if err != nil {
				return err
			}
			_, _ = memberIDs(asList(v), false)
			if tg.filter != nil {
				_, _ = valueEqualities(tg.filter)
				_, _ = matching(tg, []any{map[string]any{"value": "a", "display": "b", "type": "User"}})
			}
			return nil
		}}
		_ = p.apply(g, ops)
	})
}
