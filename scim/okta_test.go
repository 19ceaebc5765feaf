package scim_test

import (
	"net/url"
	"testing"

	"latchkey/ent/auditevent"
	"latchkey/ent/user"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// TestOktaConversation replays the requests Okta's SCIM 2.0 client sends (as its
// documentation and the library's recordings show them), from the "user exists?"
// probe through deactivation, and pushes a group through rename, membership changes
// and deletion, checking what is stored after every step.
func TestOktaConversation(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		e := newEnv(t, st)
		q := url.QueryEscape

		// Does the user exist? Okta asks by userName, paging explicitly.
		r := e.call("GET", "/Users?filter="+q(`userName eq "test.user@okta.local"`)+"&startIndex=1&count=100", nil).must(200)
		if r.num("totalResults") != 0 || len(r.List("Resources")) != 0 || r.num("itemsPerPage") != 0 {
			t.Fatalf("probe: %s", r.Raw)
		}

		// Create, with what Okta sends besides: a password, an empty groups list.
		r = e.call("POST", "/Users", map[string]any{
			"schemas":     []string{userURN},
			"userName":    "test.user@okta.local",
			"name":        map[string]any{"givenName": "Test", "familyName": "User"},
			"emails":      []any{map[string]any{"primary": true, "value": "test.user@okta.local", "type": "work"}},
			"displayName": "Test User",
			"locale":      "en-US",
			"externalId":  "00ujl29u0le5T6Aj10h7",
			"groups":      []any{},
			"password":    "1mz050nq",
			"active":      true,
		}).must(201)
		id := r.str("id")
		if loc := r.Header.Get("Location"); loc != e.scim.URL+"/scim/v2/Users/"+id || r.str("meta.location") != loc {
			t.Fatalf("Location %q, meta.location %q", loc, r.str("meta.location"))
		}
		if r.Header.Get("ETag") == "" || r.Header.Get("ETag") != r.str("meta.version") {
			t.Fatalf("ETag %q, meta.version %q", r.Header.Get("ETag"), r.str("meta.version"))
		}
		u := e.user(id)
		if u.UserName != "test.user@okta.local" || u.Email != "test.user@okta.local" || u.GivenName != "Test" ||
			u.DisplayName != "Test User" || u.Locale != "en-US" || u.ExternalID == nil || *u.ExternalID != "00ujl29u0le5T6Aj10h7" ||
			!u.Active || u.Source != user.SourceSCIM || u.Status != user.StatusINVITED {
			t.Fatalf("created user: %+v", u)
		}
		// Audited with the token as the actor, as one create (its source and
		// externalId are part of it, not a second change).
		n, err := st.Client.AuditEvent.Query().Where(auditevent.TargetID(u.ID), auditevent.Action("user.create"),
			auditevent.ActorKindEQ(auditevent.ActorKindSCIM), auditevent.Actor("scim:bootstrap")).Count(e.sys())
		if err != nil || n != 1 {
			t.Fatalf("audit of the create: %d, %v", n, err)
		}
		if n, err := st.Client.AuditEvent.Query().Where(auditevent.TargetID(u.ID)).Count(e.sys()); err != nil || n != 1 {
			t.Fatalf("audit events of the provisioned user: %d, %v; want only the create", n, err)
		}

		// Read back (the same version), and found by the probe now.
		created := r.Header.Get("ETag")
		r = e.call("GET", "/Users/"+id, nil).must(200)
		if r.Header.Get("ETag") != created {
			t.Fatalf("ETag %q on GET, %q on create", r.Header.Get("ETag"), created)
		}
		if r.str("userName") != "test.user@okta.local" || r.str("name.formatted") != "Test User" || r.str("emails.0.primary") != "true" {
			t.Fatalf("GET: %s", r.Raw)
		}
		r = e.call("GET", "/Users?filter="+q(`userName eq "Test.User@OKTA.local"`)+"&startIndex=1&count=100", nil).must(200)
		if r.num("totalResults") != 1 || r.str("Resources.0.id") != id {
			t.Fatalf("probe after create: %s", r.Raw)
		}

		// Profile update: Okta PUTs the whole user (here without locale, with a
		// middle name Latchkey does not keep).
		e.call("PUT", "/Users/"+id, map[string]any{
			"schemas":  []string{userURN},
			"id":       id,
			"userName": "test.user@okta.local",
			"name":     map[string]any{"givenName": "Another", "middleName": "Excited", "familyName": "User"},
			"emails":   []any{map[string]any{"primary": true, "value": "test.user@okta.local", "type": "work", "display": "test.user@okta.local"}},
			"active":   true,
			"groups":   []any{},
			"meta":     map[string]any{"resourceType": "User"},
		}).must(200)
		u = e.user(id)
		if u.GivenName != "Another" || u.Locale != "" || u.DisplayName != "" || u.ExternalID != nil || !u.Active {
			t.Fatalf("after PUT: %+v", u)
		}

		// Deactivation: a path-less replace of active.
		r = e.call("PATCH", "/Users/"+id, patch(op("replace", "", map[string]any{"active": false}))).must(200)
		if r.str("active") != "false" || e.user(id).Active {
			t.Fatalf("deactivate: %s", r.Raw)
		}
		// And back.
		e.call("PATCH", "/Users/"+id, patch(op("replace", "", map[string]any{"active": true}))).must(200)
		if !e.user(id).Active {
			t.Fatal("reactivate")
		}
		other := e.call("POST", "/Users", newUser("other.user@okta.local", nil)).must(201).str("id")

		// Push a group: created empty, renamed with Okta's value object (which
		// carries the id), then membership changes in one request.
		r = e.call("POST", "/Groups", map[string]any{"schemas": []string{groupURN}, "displayName": "Test SCIMv2", "members": []any{}}).must(201)
		gid := r.str("id")
		if r.Header.Get("Location") != e.scim.URL+"/scim/v2/Groups/"+gid {
			t.Fatalf("group Location %q", r.Header.Get("Location"))
		}
		e.call("PATCH", "/Groups/"+gid, patch(op("replace", "", map[string]any{"id": gid, "displayName": "Test SCIMv2 renamed"}))).must(200)
		if g := e.group(gid); g.Name != "Test SCIMv2 renamed" || len(g.Edges.Users) != 0 {
			t.Fatalf("rename: %+v", g)
		}
		e.call("PATCH", "/Groups/"+gid, patch(
			op("add", "members", []any{map[string]any{"value": id, "display": "test.user@okta.local"}}),
			op("add", "members", []any{map[string]any{"value": other, "display": "other.user@okta.local"}}),
		)).must(200)
		if got := e.memberNames(gid); !sameStrings(got, []string{"test.user@okta.local", "other.user@okta.local"}) {
			t.Fatalf("after add: %v", got)
		}
		e.call("PATCH", "/Groups/"+gid, patch(op("remove", `members[value eq "`+other+`"]`, nil))).must(200)
		if got := e.memberNames(gid); !sameStrings(got, []string{"test.user@okta.local"}) {
			t.Fatalf("after remove: %v", got)
		}
		r = e.call("PATCH", "/Groups/"+gid, patch(op("replace", "members", []any{
			map[string]any{"value": other, "display": "other.user@okta.local"}}))).must(200)
		if got := e.memberNames(gid); !sameStrings(got, []string{"other.user@okta.local"}) {
			t.Fatalf("after replace: %v", got)
		}
		if r.str("members.0.value") != other || len(r.List("members")) != 1 {
			t.Fatalf("PATCH answer: %s", r.Raw)
		}
		// The user shows the group, read-only.
		r = e.call("GET", "/Users/"+other, nil).must(200)
		if r.str("groups.0.value") != gid || r.str("groups.0.display") != "Test SCIMv2 renamed" {
			t.Fatalf("user's groups: %s", r.Raw)
		}
		// Okta finds groups by name.
		r = e.call("GET", "/Groups?filter="+q(`displayName eq "test scimv2 RENAMED"`)+"&startIndex=1&count=100", nil).must(200)
		if r.num("totalResults") != 1 || r.str("Resources.0.id") != gid {
			t.Fatalf("group probe: %s", r.Raw)
		}
		// Unpushing the group deletes it; its members stay.
		e.call("DELETE", "/Groups/"+gid, nil).must(204)
		if e.group(gid) != nil || e.user(other) == nil {
			t.Fatal("group delete")
		}
		e.call("GET", "/Groups/"+gid, nil).fails(404, "")

		// Okta never deletes a user: unassigning deactivates, and the user stays.
		e.call("PATCH", "/Users/"+id, patch(op("replace", "", map[string]any{"active": false}))).must(200)
		if u := e.user(id); u == nil || u.Active {
			t.Fatalf("final state: %+v", u)
		}
		r = e.call("GET", "/Users?filter="+q(`active eq false`), nil).must(200)
		if r.num("totalResults") != 1 || r.str("Resources.0.id") != id {
			t.Fatalf("inactive users: %s", r.Raw)
		}
	})
}
