package access

import (
	"context"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/internal/audit"
)

// deletedUser is how the audit log keeps a deleted user: the whole record with what
// they held, so nothing is lost (SPEC §2.9).
type deletedUser struct {
	*gen.User
	Grants   []*gen.UserGrant `json:"grants"`
	RoleIDs  []int            `json:"role_ids"`
	TypeIDs  []int            `json:"type_ids"`
	GroupIDs []int            `json:"group_ids"`
}

// DeleteUsers deletes the selected users: they leave every listing and SCIM, and the
// audit log keeps each one whole (SPEC §2.9).
func DeleteUsers(ctx context.Context, c *gen.Client, sel UserSelection, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	r := everything
	r.deletes = true
	return operation(ctx, c, "delete_users", users, r, dryRun, nil, user.IDGT(0), func(s *sqlSet, _ time.Time) error {
		held, err := s.heldCopies(ctx, users, "", nil)
		if err != nil {
			return err
		}
		for _, chunk := range chunks(users) {
			if err := deleteChunk(ctx, c, chunk); err != nil {
				return err
			}
		}
		return s.dropUnheldCopies(ctx, held)
	})
}

func deleteChunk(ctx context.Context, c *gen.Client, ids []int) error {
	list, err := c.User.Query().Where(user.IDIn(ids...)).
		WithGrants().WithRoles(func(q *gen.RoleQuery) { q.Select("id") }).
		WithTypes(func(q *gen.UserTypeQuery) { q.Select("id") }).
		WithGroups(func(q *gen.GroupQuery) { q.Select("id") }).All(ctx)
	if err != nil {
		return err
	}
	copied, err := copiedGrants(ctx, c, list, false, false)
	if err != nil {
		return err
	}
	events := make([]audit.Event, len(list))
	for i, u := range list {
		rec := deletedUser{User: u, Grants: withCopies(u.Edges.Grants, copied[u.ID])}
		for _, r := range u.Edges.Roles {
			rec.RoleIDs = append(rec.RoleIDs, r.ID)
		}
		for _, t := range u.Edges.Types {
			rec.TypeIDs = append(rec.TypeIDs, t.ID)
		}
		for _, g := range u.Edges.Groups {
			rec.GroupIDs = append(rec.GroupIDs, g.ID)
		}
		for _, g := range rec.Grants {
			g.Edges = gen.UserGrantEdges{}
		}
		u.Edges = gen.UserEdges{}
		events[i] = audit.Event{Action: "user.delete", TargetType: gen.TypeUser, TargetID: u.ID, Before: rec}
	}
	// One event per user, written here whole, instead of the hook's row events.
	quiet := audit.WithoutHook(ctx)
	if _, err := c.UserGrant.Delete().Where(usergrant.UserIDIn(ids...)).Exec(quiet); err != nil {
		return err
	}
	if _, err := c.User.Delete().Where(user.IDIn(ids...)).Exec(quiet); err != nil {
		return err
	}
	return audit.Record(ctx, c, events...)
}

// chunks splits ids for statements with IN lists.
func chunks(ids []int) [][]int {
	var out [][]int
	for len(ids) > chunkSize {
		out = append(out, ids[:chunkSize])
		ids = ids[chunkSize:]
	}
	if len(ids) > 0 {
		out = append(out, ids)
	}
	return out
}
