package scim_test

import (
	"net/url"
	"testing"
	"time"

	"latchkey/ent/auditevent"
	"latchkey/ent/refreshtoken"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// entraDialect is how one of Entra ID's provisioning modes words a PATCH.
type entraDialect struct {
	name string
	// userUpdate changes email, family name, userName, employee number and
	// manager, and sends attributes Latchkey does not keep.
	userUpdate func(email, family, userName, manager string) map[string]any
	deactivate map[string]any
	addMember  func(id string) map[string]any
	// removeMember must remove only the named member.
	removeMember func(id string) map[string]any
	rename       func(name string) map[string]any
}

var entraDialects = []entraDialect{
	{
		// The default "scim" job: capitalised ops, one path per attribute, string
		// booleans, the manager as a bare id, members removed by value list.
		name: "default",
		userUpdate: func(email, family, userName, manager string) map[string]any {
			return patch(
				op("Replace", `emails[type eq "work"].value`, email),
				op("Replace", "name.familyName", family),
				op("Replace", "userName", userName),
				op("Replace", enterpriseURN+":employeeNumber", "E-42"),
				op("Add", enterpriseURN+":manager", manager),
				op("Add", `phoneNumbers[type eq "work"].value`, "+1 555 0100"),
				op("Replace", `addresses[type eq "work"].locality`, "Seattle"),
				op("Replace", "preferredLanguage", "en-US"),
			)
		},
		deactivate: patch(op("Replace", "active", "False")),
		addMember: func(id string) map[string]any {
			return patch(op("Add", "members", []any{map[string]any{"$ref": nil, "value": id}}))
		},
		removeMember: func(id string) map[string]any {
			return patch(op("Remove", "members", []any{map[string]any{"value": id}}))
		},
		rename: func(name string) map[string]any { return patch(op("Replace", "displayName", name)) },
	},
	{
		// The aadOptscim062020 mode: lower-case ops, path-less value objects with
		// dotted, filtered and URN-prefixed keys, real booleans, members removed by
		// a filtered path.
		name: "aadOptscim062020",
		userUpdate: func(email, family, userName, manager string) map[string]any {
			return patch(op("replace", "", map[string]any{
				`emails[type eq "work"].value`:                     email,
				"name.familyName":                                  family,
				"userName":                                         userName,
				enterpriseURN + ":employeeNumber":                  "E-42",
				enterpriseURN + ":manager":                         map[string]any{"value": manager},
				`phoneNumbers[type eq "work"].value`:               "+1 555 0100",
				`addresses[type eq "work"].locality`:               "Seattle",
				"urn:ietf:params:scim:schemas:core:2.0:User:title": "Adjuster",
			}))
		},
		deactivate: patch(op("replace", "", map[string]any{"active": false})),
		addMember: func(id string) map[string]any {
			return patch(op("add", "members", []any{map[string]any{"value": id}}))
		},
		removeMember: func(id string) map[string]any {
			return patch(op("remove", `members[value eq "`+id+`"]`, nil))
		},
		rename: func(name string) map[string]any {
			return patch(op("replace", "", map[string]any{"displayName": name}))
		},
	},
}

// TestEntraConversation replays Entra ID's provisioning cycle in both of its
// dialects: probe, create, update, membership, soft delete (deactivation) and
// delete, checking what is stored after every step.
func TestEntraConversation(t *testing.T) {
	for _, d := range entraDialects {
		t.Run(d.name, func(t *testing.T) {
			storetest.Each(t, func(t *testing.T, st *store.Store) { replayEntra(t, st, d) })
		})
	}
}

func replayEntra(t *testing.T, st *store.Store, d entraDialect) {
	e := newEnv(t, st)
	q := url.QueryEscape
	const upn = "Test_User_ab6490ee@testuser.com"

	// The manager first, as Entra ID provisions them.
	manager := e.call("POST", "/Users", newUser("boss@testuser.com", nil)).must(201).str("id")

	e.call("GET", "/Users?filter="+q(`userName eq "`+upn+`"`), nil).must(200)
	r := e.call("POST", "/Users", map[string]any{
		"schemas":     []string{userURN, enterpriseURN},
		"externalId":  "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef",
		"userName":    upn,
		"active":      true,
		"displayName": "Test User",
		"emails":      []any{map[string]any{"primary": true, "type": "work", "value": "Test_User_fd0ea19b@testuser.com"}},
		"meta":        map[string]any{"resourceType": "User"},
		"name":        map[string]any{"formatted": "givenName familyName", "familyName": "familyName", "givenName": "givenName"},
		"roles":       []any{},
		"addresses":   []any{map[string]any{"type": "work", "locality": "Redmond"}},
		enterpriseURN: map[string]any{"department": "Claims", "employeeNumber": "E-1"},
	}).must(201)
	id := r.str("id")
	if r.str(enterpriseURN+".department") != "Claims" || r.str("externalId") != "0a21f0f2-8d2a-4f8e-bf98-7363c4aed4ef" {
		t.Fatalf("create: %s", r.Raw)
	}
	u := e.user(id)
	if u.Department != "Claims" || u.EmployeeNumber != "E-1" || u.Email != "Test_User_fd0ea19b@testuser.com" || u.GivenName != "givenName" {
		t.Fatalf("created: %+v", u)
	}
	r = e.call("GET", "/Users?filter="+q(`userName eq "`+upn+`"`), nil).must(200)
	if r.num("totalResults") != 1 || r.str("Resources.0.id") != id {
		t.Fatalf("probe: %s", r.Raw)
	}

	// Update.
	r = e.call("PATCH", "/Users/"+id, d.userUpdate("updated@testuser.com", "updatedFamily", "renamed@testuser.com", manager)).must(200)
	u = e.user(id)
	managerID, _ := relayid.Decode(manager)
	if u.Email != "updated@testuser.com" || u.FamilyName != "updatedFamily" || u.UserName != "renamed@testuser.com" ||
		u.EmployeeNumber != "E-42" || u.ManagerID == nil || *u.ManagerID != managerID || u.Phone != "+1 555 0100" ||
		u.Department != "Claims" || u.GivenName != "givenName" {
		t.Fatalf("after update: %+v", u)
	}
	if r.str(enterpriseURN+".manager.value") != manager || r.str("userName") != "renamed@testuser.com" || len(r.List("emails")) != 1 {
		t.Fatalf("update answer: %s", r.Raw)
	}
	if d.name == "aadOptscim062020" && u.Title != "Adjuster" {
		t.Fatalf("title: %q", u.Title)
	}
	// The manager is cleared by removing it.
	e.call("PATCH", "/Users/"+id, patch(op("remove", enterpriseURN+":manager", nil))).must(200)
	if e.user(id).ManagerID != nil {
		t.Fatal("manager not removed")
	}

	// Groups: probe, create, add, remove, rename.
	r = e.call("GET", "/Groups?excludedAttributes=members&filter="+q(`displayName eq "Claims Team"`), nil).must(200)
	if r.num("totalResults") != 0 {
		t.Fatalf("group probe: %s", r.Raw)
	}
	r = e.call("POST", "/Groups", map[string]any{
		"schemas": []string{groupURN}, "externalId": "8aa1a0c0-c4c3", "displayName": "Claims Team",
		"meta": map[string]any{"resourceType": "Group"},
	}).must(201)
	gid := r.str("id")
	if g := e.group(gid); g.Source != "SCIM" || g.ExternalID == nil || *g.ExternalID != "8aa1a0c0-c4c3" {
		t.Fatalf("group: %+v", g)
	}
	e.call("PATCH", "/Groups/"+gid, d.addMember(id)).must(200)
	e.call("PATCH", "/Groups/"+gid, d.addMember(manager)).must(200)
	if got := e.memberNames(gid); !sameStrings(got, []string{"renamed@testuser.com", "boss@testuser.com"}) {
		t.Fatalf("members after add: %v", got)
	}
	e.call("PATCH", "/Groups/"+gid, d.removeMember(manager)).must(200)
	if got := e.memberNames(gid); !sameStrings(got, []string{"renamed@testuser.com"}) {
		t.Fatalf("members after remove (only the one named goes): %v", got)
	}
	e.call("PATCH", "/Groups/"+gid, d.rename("Claims Team West")).must(200)
	r = e.call("GET", "/Groups/"+gid+"?excludedAttributes=members", nil).must(200)
	if r.str("displayName") != "Claims Team West" || r.Get("members") != nil || r.str("externalId") != "8aa1a0c0-c4c3" {
		t.Fatalf("group read without members: %s", r.Raw)
	}

	// Soft delete: the user is deactivated, and their sessions end.
	sys := e.sys()
	rt := st.Client.RefreshToken.Create().SetUserID(u.ID).SetFamily("f1").SetTokenHash("h-" + d.name).
		SetExpiresAt(time.Now().Add(time.Hour)).SaveX(sys)
	e.call("PATCH", "/Users/"+id, d.deactivate).must(200)
	if u := e.user(id); u.Active || u.Status != user.StatusSUSPENDED {
		t.Fatalf("not deactivated and suspended: active %v, status %s", u.Active, u.Status)
	}
	if got := st.Client.RefreshToken.Query().Where(refreshtoken.ID(rt.ID)).OnlyX(sys); got.RevokedAt == nil {
		t.Fatal("sessions not revoked on deactivation")
	}

	// Hard delete: gone from SCIM, kept whole in the audit log.
	e.call("DELETE", "/Users/"+id, nil).must(204)
	e.call("GET", "/Users/"+id, nil).fails(404, "")
	if e.user(id) != nil {
		t.Fatal("user still stored")
	}
	r = e.call("GET", "/Users?filter="+q(`userName eq "renamed@testuser.com"`), nil).must(200)
	if r.num("totalResults") != 0 {
		t.Fatalf("deleted user listed: %s", r.Raw)
	}
	ev := st.Client.AuditEvent.Query().Where(auditevent.Action("user.delete"), auditevent.TargetID(u.ID)).OnlyX(sys)
	if ev.Actor != "scim:bootstrap" || !containsJSON(ev.Before, `"user_name":"renamed@testuser.com"`) {
		t.Fatalf("audit of the delete: %s %s", ev.Actor, ev.Before)
	}
	if got := e.memberNames(gid); len(got) != 0 {
		t.Fatalf("deleted user still a member: %v", got)
	}
	e.call("DELETE", "/Groups/"+gid, nil).must(204)
}
