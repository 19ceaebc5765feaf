package access

import (
	"context"
	"fmt"
	"time"

	"entgo.io/ent/dialect/sql"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// ApplyRole copies role R's rights to the users as their own direct grants (source
// ROLE R) and records that they have R (SPEC §2.1). It never removes a right: a
// right a user already holds by another path keeps that path, and gains this one.
func ApplyRole(ctx context.Context, client *gen.Client, roleID int, userIDs ...int) error {
	r, err := client.Role.Query().Where(role.ID(roleID)).
		WithRights(func(q *gen.RightQuery) { q.Select(right.FieldID) }).Only(ctx)
	if err != nil {
		return problem.MissingIfNotFound(err, "roleId", "role")
	}
	userIDs = Unique(userIDs)
	if err := RequireAll(ctx, client, gen.TypeUser, userIDs, "userId", "users"); err != nil {
		return err
	}
	// Link the role to users that do not have it yet.
	have, err := client.User.Query().Where(user.IDIn(userIDs...), user.HasRolesWith(role.ID(roleID))).IDs(ctx)
	if err != nil {
		return err
	}
	if link := missingIDs(userIDs, have); len(link) > 0 {
		if err := client.Role.UpdateOne(r).AddUserIDs(link...).Exec(ctx); err != nil {
			return err
		}
	}
	if len(r.Edges.Rights) == 0 {
		return nil
	}
	now := time.Now()
	grantedBy := viewer.FromContext(ctx).UserID()
	sourceKey := fmt.Sprintf("%s:%d", enums.SourceRole, r.ID)
	builders := make([]*gen.UserGrantCreate, 0, len(userIDs)*len(r.Edges.Rights))
	for _, uid := range userIDs {
		for _, rt := range r.Edges.Rights {
			g := Grant{Kind: enums.GrantAppRight, RightID: rt.ID}
			b := client.UserGrant.Create().SetUserID(uid).SetKind(g.Kind).SetRightID(rt.ID).
				SetGrantKey(g.Key()).SetSource(enums.SourceRole).SetSourceKey(sourceKey).
				SetSourceRoleID(r.ID).SetSourceRoleName(r.Name).SetGrantedAt(now)
			if grantedBy != 0 {
				b.SetGrantedByID(grantedBy)
			}
			builders = append(builders, b)
		}
	}
	// Re-applying keeps the first copy (and its date): the same path is not added twice.
	return client.UserGrant.CreateBulk(builders...).
		OnConflict(sql.ConflictColumns(usergrant.FieldUserID, usergrant.FieldGrantKey, usergrant.FieldSourceKey)).
		DoNothing().Exec(ctx)
}

func missingIDs(ids, have []int) []int {
	h := make(map[int]bool, len(have))
	for _, id := range have {
		h[id] = true
	}
	var out []int
	for _, id := range ids {
		if !h[id] {
			out = append(out, id)
		}
	}
	return out
}
