package scim

import (
	"context"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
	"latchkey/internal/admin"
)

// userFields are the user as SCIM writes it.
type userFields struct {
	userName, email                                  string
	givenName, familyName, displayName, phone, title string
	locale, employeeNumber, department               string
	externalID                                       *string
	active                                           *bool // nil: not given
	managerID                                        *int
}

// userDoc is the user as SCIM attributes; groups are included when given.
func userDoc(base string, u *gen.User, groups []*gen.Group) document {
	d := document{"userName": u.UserName, "active": u.Active}
	name := map[string]any{}
	setNonEmpty(name, "givenName", u.GivenName)
	setNonEmpty(name, "familyName", u.FamilyName)
	setNonEmpty(name, "formatted", strings.TrimSpace(u.GivenName+" "+u.FamilyName))
	setOrDelete(d, "name", name)
	setNonEmpty(d, "displayName", u.DisplayName)
	if u.Email != "" {
		d["emails"] = []any{map[string]any{"value": u.Email, "type": "work", "primary": true}}
	}
	if u.Phone != "" {
		d["phoneNumbers"] = []any{map[string]any{"value": u.Phone, "type": "work", "primary": true}}
	}
	setNonEmpty(d, "title", u.Title)
	setNonEmpty(d, "locale", u.Locale)
	if len(groups) > 0 {
		list := make([]any, len(groups))
		for i, g := range groups {
			id := relayid.Encode(g.ID)
			list[i] = map[string]any{"value": id, "display": g.Name, "$ref": location(base, groupKind, id), "type": "direct"}
		}
		d["groups"] = list
	}
	ext := map[string]any{}
	setNonEmpty(ext, "employeeNumber", u.EmployeeNumber)
	setNonEmpty(ext, "department", u.Department)
	if u.ManagerID != nil {
		id := relayid.Encode(*u.ManagerID)
		ext["manager"] = map[string]any{"value": id, "$ref": location(base, userKind, id)}
	}
	setOrDelete(d, enterpriseURN, ext)
	return d
}

func setNonEmpty(m map[string]any, key, v string) {
	if v != "" {
		m[key] = v
	}
}

func userResource(base string, u *gen.User, groups []*gen.Group) resource {
	return resource{id: relayid.Encode(u.ID), externalID: u.ExternalID, created: u.CreatedAt, modified: u.UpdatedAt,
		doc: userDoc(base, u, groups)}
}

// readUser reads a user document (coerced) as the fields to store.
func readUser(d document) (userFields, error) {
	var f userFields
	f.userName = strings.TrimSpace(strAt(d, "userName"))
	if f.userName == "" {
		return f, invalidValue("userName", "is required")
	}
	name := mapAt(d, "name")
	f.givenName, f.familyName = strAt(name, "givenName"), strAt(name, "familyName")
	f.displayName = strAt(d, "displayName")
	f.email = strings.TrimSpace(pickValue(asList(d["emails"])))
	if f.email == "" && strings.Contains(f.userName, "@") {
		f.email = f.userName // an IdP that sends no address: the userName is one (a UPN)
	}
	if f.email == "" {
		return f, invalidValue("emails", "a user needs an email address")
	}
	f.phone = pickValue(asList(d["phoneNumbers"]))
	f.title, f.locale = strAt(d, "title"), strAt(d, "locale")
	if b, ok := d["active"].(bool); ok {
		f.active = &b
	}
	if s := strAt(d, "externalId"); s != "" {
		f.externalID = &s
	}
	ext := mapAt(d, enterpriseURN)
	f.employeeNumber, f.department = strAt(ext, "employeeNumber"), strAt(ext, "department")
	if m := strings.TrimSpace(strAt(mapAt(ext, "manager"), "value")); m != "" {
		id, err := relayid.Decode(m)
		if err != nil {
			return f, invalidValue(enterpriseURN+":manager", "%q is not the id of a user", m)
		}
		f.managerID = &id
	}
	return f, nil
}

// pickValue is the value Latchkey keeps of a multi-valued attribute: the primary,
// else the work one, else the first.
func pickValue(items []any) string {
	best, rank := "", 0
	for _, it := range items {
		m := asMap(it)
		v := strAt(m, "value")
		if v == "" {
			continue
		}
		r := 1
		if strings.EqualFold(strAt(m, "type"), "work") {
			r = 2
		}
		if p, _ := m["primary"].(bool); p {
			r = 3
		}
		if r > rank {
			best, rank = v, r
		}
	}
	return best
}

func optStr(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}

// createUser stores a provisioned user (source SCIM).
func (rq *request) createUser(ctx context.Context, d document) (*gen.User, error) {
	f, err := readUser(d)
	if err != nil {
		return nil, err
	}
	source := user.SourceSCIM
	u, err := admin.CreateUser(ctx, rq.c, admin.CreateUserInput{
		UserName: f.userName, Email: f.email,
		GivenName: optStr(f.givenName), FamilyName: optStr(f.familyName), DisplayName: optStr(f.displayName),
		Title: optStr(f.title), Department: optStr(f.department), EmployeeNumber: optStr(f.employeeNumber),
		Phone: optStr(f.phone), Locale: optStr(f.locale), ManagerID: f.managerID, Active: f.active,
		Source: &source, ExternalID: f.externalID,
	})
	if err != nil {
		return nil, err
	}
	// Read back: the version (ETag) is the stored time, which the database may
	// have rounded to microseconds.
	return rq.c.User.Get(ctx, u.ID)
}

// updateUser stores what changed between u and the document d. With keepActive, a
// document without active leaves the flag as it is (a PUT that does not mention it).
func (rq *request) updateUser(ctx context.Context, u *gen.User, d document) (*gen.User, error) {
	f, err := readUser(d)
	if err != nil {
		return nil, err
	}
	c := rq.c
	in := admin.UpdateUserInput{ID: u.ID}
	changed := false
	set := func(dst **string, have, want string) {
		if have != want {
			*dst, changed = &want, true
		}
	}
	set(&in.UserName, u.UserName, f.userName)
	set(&in.Email, u.Email, f.email)
	set(&in.GivenName, u.GivenName, f.givenName)
	set(&in.FamilyName, u.FamilyName, f.familyName)
	set(&in.DisplayName, u.DisplayName, f.displayName)
	set(&in.Phone, u.Phone, f.phone)
	set(&in.Title, u.Title, f.title)
	set(&in.Locale, u.Locale, f.locale)
	set(&in.EmployeeNumber, u.EmployeeNumber, f.employeeNumber)
	set(&in.Department, u.Department, f.department)
	switch {
	case f.managerID == nil && u.ManagerID != nil:
		in.ClearManager, changed = ptr(true), true
	case f.managerID != nil && (u.ManagerID == nil || *u.ManagerID != *f.managerID):
		in.ManagerID, changed = f.managerID, true
	}
	if changed {
		if _, err := admin.UpdateUser(ctx, c, in); err != nil {
			return nil, err
		}
	}
	if u.Source != user.SourceSCIM || !equalPtr(u.ExternalID, f.externalID) {
		upd := c.User.UpdateOneID(u.ID).SetSource(user.SourceSCIM)
		if f.externalID == nil {
			upd.ClearExternalID()
		} else {
			upd.SetExternalID(*f.externalID)
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, err
		}
	}
	if f.active != nil && *f.active != u.Active {
		// Deactivation (Okta's, and Entra ID's soft delete) suspends the user's use
		// of the account and ends their sessions at once.
		if _, err := access.SetActive(ctx, c, access.One(u.ID), *f.active, false); err != nil {
			return nil, err
		}
		suspended := !*f.active
		if _, err := admin.UpdateUser(ctx, c, admin.UpdateUserInput{ID: u.ID, Suspended: &suspended}); err != nil {
			return nil, err
		}
		if !*f.active && rq.h.identity != nil {
			if err := rq.h.identity.RevokeUser(ctx, c, u.ID); err != nil {
				return nil, err
			}
		}
	}
	return c.User.Get(ctx, u.ID)
}

func equalPtr[T comparable](a, b *T) bool {
	return (a == nil) == (b == nil) && (a == nil || *a == *b)
}

// loadUser reads a user by SCIM id, with its groups when wanted.
func (rq *request) loadUser(ctx context.Context, id string, withGroups bool) (*gen.User, error) {
	n, err := relayid.Decode(id)
	if err != nil {
		return nil, notFound(userKind, id)
	}
	q := rq.c.User.Query().Where(user.ID(n))
	if withGroups {
		q.WithGroups(func(q *gen.GroupQuery) { q.Select(group.FieldID, group.FieldName).Order(group.ByID()) })
	}
	u, err := q.Only(ctx)
	if gen.IsNotFound(err) {
		return nil, notFound(userKind, id)
	}
	return u, err
}

// deleteUser removes the user from every listing; the audit log keeps the whole
// record (SPEC §2.9).
func (rq *request) deleteUser(ctx context.Context, u *gen.User) error {
	_, err := access.DeleteUsers(ctx, rq.c, access.UserSelection{UserIDs: []int{u.ID}}, false)
	return err
}

// patchUser applies PATCH operations to the user.
func (rq *request) patchUser(ctx context.Context, u *gen.User, ops []patchOp) (*gen.User, error) {
	d := userDoc(rq.base, u, nil)
	if u.ExternalID != nil {
		d["externalId"] = *u.ExternalID
	}
	p := patcher{k: userKind}
	if err := p.apply(d, ops); err != nil {
		return nil, err
	}
	return rq.updateUser(ctx, u, d)
}
