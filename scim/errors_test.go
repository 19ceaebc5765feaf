package scim_test

import (
	"strings"
	"testing"

	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestErrors: every failure answers with a SCIM error body and the right status,
// and a failed request changes nothing.
func TestErrors(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		id := e.call("POST", "/Users", newUser("jane@acme.test", nil)).must(201).str("id")
		gid := e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims"}).must(201).str("id")
		etag := e.call("GET", "/Users/"+id, nil).must(200).Header.Get("ETag")

		for _, tc := range []struct {
			name           string
			method, path   string
			body           any
			header         []string
			status         int
			scimType, text string // text: in the detail
		}{
			{"unknown user", "GET", "/Users/" + strings.Repeat("x", 8), nil, nil, 404, "", ""},
			{"unknown valid-looking id", "GET", "/Users/" + gid, nil, nil, 404, "", ""},
			{"unknown group", "PATCH", "/Groups/bGs6OTk5OTk5", patch(op("replace", "displayName", "x")), nil, 404, "", ""},
			{"delete unknown", "DELETE", "/Users/bGs6OTk5OTk5", nil, nil, 404, "", ""},
			{"unknown endpoint", "GET", "/Computers", nil, nil, 404, "", ""},
			{"not JSON", "POST", "/Users", "{userName:", nil, 400, "invalidSyntax", ""},
			{"no schemas", "POST", "/Users", map[string]any{"userName": "x@acme.test"}, nil, 400, "invalidSyntax", "schemas"},
			{"no userName", "POST", "/Users", map[string]any{"schemas": []string{userURN}}, nil, 400, "invalidValue", "userName"},
			{"no email", "POST", "/Users", map[string]any{"schemas": []string{userURN}, "userName": "nomail"}, nil, 400, "invalidValue", "emails"},
			{"bad email", "POST", "/Users", newUser("bad", map[string]any{"emails": []any{map[string]any{"value": "not an address"}}}), nil, 400, "invalidValue", "emails"},
			{"bad boolean", "POST", "/Users", newUser("b@acme.test", map[string]any{"active": "maybe"}), nil, 400, "invalidValue", "active"},
			{"bad name type", "POST", "/Users", newUser("c@acme.test", map[string]any{"name": "Jane"}), nil, 400, "invalidValue", "name"},
			{"unknown manager", "POST", "/Users", newUser("d@acme.test", map[string]any{enterpriseURN: map[string]any{"manager": map[string]any{"value": "bGs6OTk5OTk5"}}}), nil, 400, "invalidValue", "manager"},
			{"duplicate userName", "POST", "/Users", newUser("JANE@acme.test", nil), nil, 409, "uniqueness", "userName"},
			{"duplicate displayName", "POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Claims"}, nil, 409, "uniqueness", "displayName"},
			{"rename onto a taken userName", "PATCH", "/Users/" + id, patch(op("replace", "userName", "admin@ACME.test")), nil, 409, "uniqueness", "userName"},
			{"unknown member", "POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "G2", "members": []any{map[string]any{"value": "bGs6OTk5OTk5"}}}, nil, 400, "invalidValue", "members"},
			{"If-Match mismatch on PATCH", "PATCH", "/Users/" + id, patch(op("replace", "title", "x")), []string{"If-Match", `W/"0"`}, 412, "", ""},
			{"If-Match mismatch on PUT", "PUT", "/Users/" + id, newUser("jane@acme.test", nil), []string{"If-Match", `W/"0"`}, 412, "", ""},
			{"If-Match mismatch on DELETE", "DELETE", "/Users/" + id, nil, []string{"If-Match", `"nope"`}, 412, "", ""},
			{"patch without schemas", "PATCH", "/Users/" + id, map[string]any{"Operations": []any{op("replace", "title", "x")}}, nil, 400, "invalidSyntax", ""},
			{"patch with no operations", "PATCH", "/Users/" + id, patch(), nil, 400, "invalidSyntax", ""},
			{"patch with a bad op", "PATCH", "/Users/" + id, patch(op("merge", "title", "x")), nil, 400, "invalidSyntax", ""},
			{"remove without a path", "PATCH", "/Users/" + id, patch(op("remove", "", nil)), nil, 400, "noTarget", ""},
			{"unparsable path", "PATCH", "/Users/" + id, patch(op("replace", `emails[type eq`, "x")), nil, 400, "invalidPath", ""},
			{"unknown attribute", "PATCH", "/Users/" + id, patch(op("replace", "shoeSize", "42")), nil, 400, "invalidPath", "shoeSize"},
			{"unknown schema", "PATCH", "/Users/" + id, patch(op("replace", "urn:example:ext:1.0:User:x", "1")), nil, 400, "invalidPath", ""},
			{"read-only attribute", "PATCH", "/Users/" + id, patch(op("replace", "groups", []any{})), nil, 400, "mutability", ""},
			{"filter on a single value", "PATCH", "/Users/" + id, patch(op("replace", `userName[value eq "x"]`, "y")), nil, 400, "invalidPath", ""},
			{"replace a value no filter selects", "PATCH", "/Users/" + id, patch(op("replace", `emails[value co "nobody"]`, map[string]any{"value": "x@acme.test"})), nil, 400, "noTarget", ""},
			{"path-less replace of a string", "PATCH", "/Users/" + id, patch(op("replace", "", "x")), nil, 400, "invalidValue", ""},
			{"patch boolean", "PATCH", "/Users/" + id, patch(op("replace", "active", "sometimes")), nil, 400, "invalidValue", "active"},
			{"empty userName", "PATCH", "/Users/" + id, patch(op("replace", "userName", "")), nil, 400, "invalidValue", "userName"},
			{"add an unknown member", "PATCH", "/Groups/" + gid, patch(op("add", "members", []any{map[string]any{"value": "garbage"}})), nil, 400, "invalidValue", "members"},
			{"method", "PATCH", "/Users", patch(op("replace", "title", "x")), nil, 405, "", ""},
			{"search by GET", "GET", "/Users/.search", nil, nil, 405, "", ""},
			{"search without schemas", "POST", "/Users/.search", map[string]any{"filter": `userName pr`}, nil, 400, "invalidSyntax", ""},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := e.call(tc.method, tc.path, tc.body, tc.header...).fails(tc.status, tc.scimType)
				if tc.text != "" && !strings.Contains(r.str("detail"), tc.text) {
					t.Fatalf("detail %q does not name %q", r.str("detail"), tc.text)
				}
			})
		}
		// Nothing above changed the user.
		r := e.call("GET", "/Users/"+id, nil).must(200)
		if r.Header.Get("ETag") != etag || r.str("userName") != "jane@acme.test" || r.Get("title") != nil {
			t.Fatalf("changed by failed requests: %s", r.Raw)
		}

		// If-None-Match with the current version: 304; with another: the user.
		if r := e.call("GET", "/Users/"+id, nil, "If-None-Match", etag); r.Status != 304 || r.Header.Get("ETag") != etag {
			t.Fatalf("If-None-Match: %d %s", r.Status, r.Raw)
		}
		e.call("GET", "/Users/"+id, nil, "If-None-Match", `W/"1"`).must(200)

		// The current ETag, strong or weak, or *, passes If-Match.
		r = e.call("PATCH", "/Users/"+id, patch(op("replace", "title", "Adjuster")), "If-Match", etag).must(200)
		next := r.Header.Get("ETag")
		if next == etag || r.str("meta.version") != next {
			t.Fatalf("ETag after change: %q (was %q), meta.version %q", next, etag, r.str("meta.version"))
		}
		e.call("PUT", "/Users/"+id, newUser("jane@acme.test", nil), "If-Match", strings.TrimPrefix(next, "W/")).must(200)
		e.call("DELETE", "/Groups/"+gid, nil, "If-Match", "*").must(204)
	})
}

// TestAuthentication: no token, a wrong one, a malformed header and a revoked one
// all get 401 with a SCIM body; one account's token never sees another's users.
func TestAuthentication(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		e.call("POST", "/Users", newUser("jane@acme.test", nil)).must(201)
		for _, token := range []string{"", "lk_scim_wrong", e.boot.AccessToken} {
			r := e.callWith(token, "GET", "/Users", nil).fails(401, "")
			if !strings.HasPrefix(r.Header.Get("WWW-Authenticate"), "Bearer") {
				t.Fatalf("WWW-Authenticate %q", r.Header.Get("WWW-Authenticate"))
			}
		}
		e.call("GET", "/ServiceProviderConfig", nil, "Authorization", "Basic Zm9vOmJhcg==").fails(401, "")

		// Another account's token sees only its own account.
		_, other := e.Bootstrap("globex", "admin@globex.test")
		r := e.callWith(other.ScimToken, "GET", "/Users", nil).must(200)
		if got := r.values("Resources", "userName"); !sameStrings(got, []string{"admin@globex.test"}) {
			t.Fatalf("other account sees %v", got)
		}
		jane := e.call("GET", `/Users?filter=userName+eq+"jane@acme.test"`, nil).must(200).str("Resources.0.id")
		e.callWith(other.ScimToken, "GET", "/Users/"+jane, nil).fails(404, "")
		e.callWith(other.ScimToken, "DELETE", "/Users/"+jane, nil).fails(404, "")
		e.callWith(other.ScimToken, "POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "G",
			"members": []any{map[string]any{"value": jane}}}).fails(400, "invalidValue")

		// Revoked in GraphQL: refused at once.
		tokens := e.gql.Must(`{ scimTokens { edges { node { id name } } } }`, nil)
		id := tokens.String("scimTokens.edges.0.node.id")
		e.gql.Must(`mutation($id: ID!) { revokeScimToken(input: {id: $id}) { scimToken { id revokedAt } } }`, map[string]any{"id": id})
		r = e.call("GET", "/Users", nil).fails(401, "")
		if !strings.Contains(r.str("detail"), "revoked") {
			t.Fatalf("detail: %s", r.Raw)
		}
	})
}

// TestEdgeTolerance: paths in any case with trailing slashes, absolute locations
// behind a proxy, discovery documents that describe what is supported.
func TestEdgeTolerance(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		r := e.call("POST", "/users/", newUser("jane@acme.test", nil), "X-Forwarded-Proto", "https", "X-Forwarded-Host", "idp.example.com").must(201)
		id := r.str("id")
		want := "https://idp.example.com/scim/v2/Users/" + id
		if r.Header.Get("Location") != want || r.str("meta.location") != want {
			t.Fatalf("Location %q meta.location %q, want %q", r.Header.Get("Location"), r.str("meta.location"), want)
		}
		if ct := r.Header.Get("Content-Type"); ct != "application/scim+json" {
			t.Fatalf("Content-Type %q", ct)
		}
		e.call("GET", "/USERS/"+id+"/", nil).must(200)
		r = e.call("GET", "/Users?filter="+strings.ReplaceAll(`userName eq "jane@acme.test"`, " ", "%20"), nil, "X-Forwarded-Proto", "https", "X-Forwarded-Host", "idp.example.com").must(200)
		if r.str("Resources.0.meta.location") != want {
			t.Fatalf("list location: %s", r.Raw)
		}
		r = e.call("PATCH", "/users/"+id, patch(op("replace", "title", "x")), "X-Forwarded-Proto", "https", "X-Forwarded-Host", "idp.example.com").must(200)
		if r.str("meta.location") != want {
			t.Fatalf("patch location: %s", r.Raw)
		}
		// 204 when the request asks for nothing back.
		r = e.call("PATCH", "/Users/"+id+"?attributes=", patch(op("replace", "title", "y")))
		if r.Status != 204 || r.Header.Get("ETag") == "" {
			t.Fatalf("minimal PATCH: %d %s", r.Status, r.Raw)
		}

		spc := e.call("GET", "/serviceproviderconfig", nil).must(200)
		if spc.str("patch.supported") != "true" || spc.str("filter.supported") != "true" || spc.str("sort.supported") != "true" ||
			spc.str("etag.supported") != "true" || spc.str("bulk.supported") != "false" || spc.str("authenticationSchemes.0.type") != "oauthbearertoken" {
			t.Fatalf("ServiceProviderConfig: %s", spc.Raw)
		}
		types := e.call("GET", "/ResourceTypes", nil).must(200)
		if got := types.values("Resources", "endpoint"); !sameStrings(got, []string{"/Users", "/Groups"}) {
			t.Fatalf("ResourceTypes: %s", types.Raw)
		}
		e.call("GET", "/ResourceTypes/group", nil).must(200)
		schemas := e.call("GET", "/Schemas", nil).must(200)
		if got := schemas.values("Resources", "id"); !has(toAny(got), userURN) || !has(toAny(got), enterpriseURN) || !has(toAny(got), groupURN) {
			t.Fatalf("Schemas: %v", got)
		}
		user := e.call("GET", "/Schemas/"+userURN, nil).must(200)
		attrs := user.values("attributes", "name")
		for _, a := range []string{"userName", "name", "displayName", "emails", "phoneNumbers", "title", "locale", "active", "groups"} {
			if !has(toAny(attrs), a) {
				t.Fatalf("User schema lacks %s: %v", a, attrs)
			}
		}
		for _, a := range []string{"addresses", "nickName", "password", "timezone", "x509Certificates"} {
			if has(toAny(attrs), a) {
				t.Fatalf("User schema claims %s, which is not kept", a)
			}
		}
	})
}

func toAny(s []string) []any {
	out := make([]any, len(s))
	for i, v := range s {
		out[i] = v
	}
	return out
}
