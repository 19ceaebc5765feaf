package scim

import (
	"context"
	"slices"
	"strings"

	filter "github.com/scim2/filter-parser/v2"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/user"
	"latchkey/graph/relayid"
	"latchkey/internal/access"
	"latchkey/internal/admin"
)

// groupDoc is the group as SCIM attributes; members are included when given.
func groupDoc(base string, g *gen.Group, members []*gen.User) document {
	d := document{"displayName": g.Name}
	if len(members) > 0 {
		list := make([]any, len(members))
		for i, u := range members {
			id := relayid.Encode(u.ID)
			display := u.DisplayName
			if display == "" {
				display = u.UserName
			}
			list[i] = map[string]any{"value": id, "display": display, "$ref": location(base, userKind, id), "type": "User"}
		}
		d["members"] = list
	}
	return d
}

func groupResource(base string, g *gen.Group, members []*gen.User) resource {
	return resource{id: relayid.Encode(g.ID), externalID: g.ExternalID, created: g.CreatedAt, modified: g.UpdatedAt,
		doc: groupDoc(base, g, members)}
}

// memberQuery selects what a member's rendering needs.
func memberQuery(q *gen.UserQuery) {
	q.Select(user.FieldID, user.FieldUserName, user.FieldDisplayName).Order(user.ByID())
}

func (rq *request) loadGroup(ctx context.Context, id string, withMembers bool) (*gen.Group, error) {
	n, err := relayid.Decode(id)
	if err != nil {
		return nil, notFound(groupKind, id)
	}
	q := rq.c.Group.Query().Where(group.ID(n))
	if withMembers {
		q.WithUsers(memberQuery)
	}
	g, err := q.Only(ctx)
	if gen.IsNotFound(err) {
		return nil, notFound(groupKind, id)
	}
	return g, err
}

// memberIDs reads member ids from a members value (a list of {value}).
func memberIDs(items []any, strict bool) ([]int, error) {
	var ids []int
	for _, it := range items {
		v := strings.TrimSpace(strAt(asMap(it), "value"))
		id, err := relayid.Decode(v)
		if err != nil {
			if strict {
				return nil, invalidValue("members", "%q is not the id of a user", v)
			}
			continue
		}
		ids = append(ids, id)
	}
	return access.Unique(ids), nil
}

func groupName(d document) (string, error) {
	name := strings.TrimSpace(strAt(d, "displayName"))
	if name == "" {
		return "", invalidValue("displayName", "is required")
	}
	return name, nil
}

// createGroup stores a provisioned group (source SCIM) with its members, and applies
// the mapping rules of its name to them.
func (rq *request) createGroup(ctx context.Context, d document) (*gen.Group, error) {
	name, err := groupName(d)
	if err != nil {
		return nil, err
	}
	members, err := memberIDs(asList(d["members"]), true)
	if err != nil {
		return nil, err
	}
	c := rq.c
	g, err := admin.CreateGroup(ctx, c, admin.CreateGroupInput{Name: name, UserIDs: members})
	if err != nil {
		return nil, err
	}
	if err := c.Group.UpdateOneID(g.ID).SetSource(group.SourceSCIM).SetNillableExternalID(optStr(strAt(d, "externalId"))).Exec(ctx); err != nil {
		return nil, err
	}
	return c.Group.Get(ctx, g.ID)
}

// members changes a group's membership through the domain (admin), which keeps
// mapping-rule links in step.
type members struct {
	rq *request
	g  *gen.Group
}

// current returns the group's members (among some ids only, unless among is nil).
func (m members) current(ctx context.Context, among []int) ([]int, error) {
	q := func() *gen.UserQuery { return m.rq.c.User.Query().Where(user.HasGroupsWith(group.ID(m.g.ID))) }
	if among == nil {
		return q().IDs(ctx)
	}
	var out []int
	for chunk := range slices.Chunk(among, 500) {
		ids, err := q().Where(user.IDIn(chunk...)).IDs(ctx)
		if err != nil {
			return nil, err
		}
		out = append(out, ids...)
	}
	return out, nil
}

func (m members) add(ctx context.Context, ids []int) error {
	ids = access.Unique(ids)
	if len(ids) == 0 {
		return nil
	}
	have, err := m.current(ctx, ids)
	if err != nil {
		return err
	}
	_, err = admin.AddGroupMembers(ctx, m.rq.c, admin.GroupMembersInput{GroupID: m.g.ID, UserIDs: without(ids, have)})
	return err
}

// remove takes ids out of the group (nil: everyone); ids that are not members are
// ignored.
func (m members) remove(ctx context.Context, ids []int) error {
	if ids != nil && len(ids) == 0 {
		return nil
	}
	gone, err := m.current(ctx, ids)
	if err != nil || len(gone) == 0 {
		return err
	}
	_, err = admin.RemoveGroupMembers(ctx, m.rq.c, admin.GroupMembersInput{GroupID: m.g.ID, UserIDs: gone})
	return err
}

// set makes ids the group's members.
func (m members) set(ctx context.Context, ids []int) error {
	have, err := m.current(ctx, nil)
	if err != nil {
		return err
	}
	if err := m.add(ctx, without(ids, have)); err != nil {
		return err
	}
	return m.remove(ctx, without(have, ids))
}

// without is ids not in drop (never nil).
func without(ids, drop []int) []int {
	gone := make(map[int]bool, len(drop))
	for _, id := range drop {
		gone[id] = true
	}
	out := []int{}
	for _, id := range ids {
		if !gone[id] {
			out = append(out, id)
		}
	}
	return out
}

// rename renames the group and sets its externalId, keeping rule links in step.
func (rq *request) updateGroupFields(ctx context.Context, g *gen.Group, d document) (*gen.Group, error) {
	name, err := groupName(d)
	if err != nil {
		return nil, err
	}
	c := rq.c
	if name != g.Name {
		if _, err := admin.UpdateGroup(ctx, c, admin.UpdateGroupInput{ID: g.ID, Name: &name}); err != nil {
			return nil, err
		}
	}
	ext := optStr(strAt(d, "externalId"))
	if g.Source != group.SourceSCIM || !equalPtr(g.ExternalID, ext) {
		upd := c.Group.UpdateOneID(g.ID).SetSource(group.SourceSCIM)
		if ext == nil {
			upd.ClearExternalID()
		} else {
			upd.SetExternalID(*ext)
		}
		if err := upd.Exec(ctx); err != nil {
			return nil, err
		}
	}
	return c.Group.Get(ctx, g.ID)
}

// replaceGroup is PUT: the name, externalId and the whole membership.
func (rq *request) replaceGroup(ctx context.Context, g *gen.Group, d document) (*gen.Group, error) {
	ids, err := memberIDs(asList(d["members"]), true)
	if err != nil {
		return nil, err
	}
	if _, err := groupName(d); err != nil {
		return nil, err
	}
	if err := (members{rq, g}).set(ctx, ids); err != nil {
		return nil, err
	}
	return rq.updateGroupFields(ctx, g, d)
}

// patchGroup applies PATCH operations: member changes go to the store as they come
// (by id, without reading the whole membership unless the operation replaces it);
// displayName and externalId are stored at the end.
func (rq *request) patchGroup(ctx context.Context, g *gen.Group, ops []patchOp) (*gen.Group, error) {
	d := document{"displayName": g.Name}
	if g.ExternalID != nil {
		d["externalId"] = *g.ExternalID
	}
	m := members{rq, g}
	p := patcher{k: groupKind, members: func(op string, t target, value any) error {
		if t.sub != nil {
			return invalidPath("%s: members are added, replaced or removed whole", t.String())
		}
		if t.filter != nil {
			if op != "remove" {
				return invalidPath("%s: members are added and replaced without a filter", t.String())
			}
			ids, err := rq.filteredMembers(ctx, g, t)
			if err != nil {
				return err
			}
			return m.remove(ctx, ids)
		}
		var items []any
		if value != nil {
			v, err := coerce(t.attr, value, "members")
			if err != nil {
				return err
			}
			items = asList(v)
		}
		switch op {
		case "add":
			ids, err := memberIDs(items, true)
			if err != nil {
				return err
			}
			return m.add(ctx, ids)
		case "replace":
			ids, err := memberIDs(items, true)
			if err != nil {
				return err
			}
			return m.set(ctx, ids)
		default: // remove: the listed members (Entra ID), or everyone
			if value == nil {
				return m.remove(ctx, nil)
			}
			ids, _ := memberIDs(items, false)
			return m.remove(ctx, ids)
		}
	}}
	if err := p.apply(d, ops); err != nil {
		return nil, err
	}
	return rq.updateGroupFields(ctx, g, d)
}

// filteredMembers are the members a filter such as members[value eq "…"] selects:
// read straight from the filter when it only compares values, else by evaluating
// it on the members.
func (rq *request) filteredMembers(ctx context.Context, g *gen.Group, t target) ([]int, error) {
	if vals, ok := valueEqualities(t.filter); ok {
		ids, _ := memberIDs(vals, false)
		return ids, nil
	}
	users, err := rq.c.Group.QueryUsers(g).Select(user.FieldID, user.FieldUserName, user.FieldDisplayName).All(ctx)
	if err != nil {
		return nil, err
	}
	doc := groupDoc(rq.base, g, users)
	match, err := matching(t, asList(doc["members"]))
	if err != nil {
		return nil, err
	}
	ids := []int{}
	for i, ok := range match {
		if ok {
			ids = append(ids, users[i].ID)
		}
	}
	return ids, nil
}

// valueEqualities reads `value eq "a" or value eq "b"` as the values it names.
func valueEqualities(e any) ([]any, bool) {
	switch x := e.(type) {
	case *filter.AttributeExpression:
		s, ok := x.CompareValue.(string)
		if x.Operator != filter.EQ || !ok || x.AttributePath.URIPrefix != nil || x.AttributePath.SubAttribute != nil ||
			!strings.EqualFold(x.AttributePath.AttributeName, "value") {
			return nil, false
		}
		return []any{map[string]any{"value": s}}, true
	case *filter.LogicalExpression:
		if x.Operator != filter.OR {
			return nil, false
		}
		l, ok := valueEqualities(x.Left)
		if !ok {
			return nil, false
		}
		r, ok := valueEqualities(x.Right)
		return append(l, r...), ok
	}
	return nil, false
}

// deleteGroup deletes the group; its members lose what its rules linked (the
// domain sees to that).
func (rq *request) deleteGroup(ctx context.Context, g *gen.Group) error {
	return admin.DeleteGroup(ctx, rq.c, g.ID)
}
