package access

import (
	"context"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/ent/usertype"
	"latchkey/internal/problem"
)

// HasAllData reports whether the user holds a role with allData, directly or through
// a linked type (SPEC §2.4).
func HasAllData(ctx context.Context, c *gen.Client, userID int) (bool, error) {
	return c.User.Query().Where(user.ID(userID), user.Or(
		user.HasRolesWith(role.AllData(true)),
		user.HasTypesWith(usertype.HasRolesWith(role.AllData(true))),
	)).Exist(ctx)
}

// Visibility is whose data a user may see (SPEC §2.4): everyone, with an all-data
// role; otherwise the members of their viewable groups, and themselves.
type Visibility struct {
	AllData          bool
	ViewableGroupIDs []int
}

// VisibilityOf reads a user's visibility.
func VisibilityOf(ctx context.Context, c *gen.Client, userID int) (Visibility, error) {
	all, err := HasAllData(ctx, c, userID)
	if err != nil || all {
		return Visibility{AllData: all}, err
	}
	ids, err := viewableGroupIDs(ctx, c, userID)
	return Visibility{ViewableGroupIDs: ids}, err
}

func viewableGroupIDs(ctx context.Context, c *gen.Client, userID int) ([]int, error) {
	var ids []int
	err := c.UserGrant.Query().
		Where(usergrant.UserID(userID), usergrant.KindEQ(enums.GrantViewableGroup), usergrant.GroupIDNotNil()).
		Select(usergrant.FieldGroupID).Scan(ctx, &ids)
	return ids, err
}

// SetViewableGroups replaces the groups whose members' data the user may see (the
// ActivTrak App Access model). A user with an all-data role already sees everyone
// and cannot be given viewable groups (SPEC §2.4).
func SetViewableGroups(ctx context.Context, c *gen.Client, userID int, groupIDs []int) (*Result, error) {
	if err := RequireAll(ctx, c, gen.TypeUser, []int{userID}, "userId", "user"); err != nil {
		return nil, err
	}
	groupIDs = Unique(groupIDs)
	if err := RequireAll(ctx, c, gen.TypeGroup, groupIDs, "groupIds", "groups"); err != nil {
		return nil, err
	}
	if len(groupIDs) > 0 {
		all, err := HasAllData(ctx, c, userID)
		if err != nil {
			return nil, err
		}
		if all {
			return nil, problem.BadInput("groupIds", "the user holds a role with all data and sees every user, group and computer; they cannot be given viewable groups")
		}
	}
	current, err := viewableGroupIDs(ctx, c, userID)
	if err != nil {
		return nil, err
	}
	var remove []string
	for _, id := range current {
		if !contains(groupIDs, id) {
			remove = append(remove, Grant{Kind: enums.GrantViewableGroup, GroupID: id}.Key())
		}
	}
	var add []grantRow
	for _, id := range groupIDs {
		if !contains(current, id) {
			g := Grant{Kind: enums.GrantViewableGroup, GroupID: id}
			add = append(add, grantRow{grant: g, source: string(enums.SourceManual), sourceKey: string(enums.SourceManual)})
		}
	}
	users := []int{userID}
	changed := user.ID(-1) // nobody, unless something changes
	if len(remove)+len(add) > 0 {
		changed = user.ID(userID)
	}
	return operation(ctx, c, "set_viewable_groups", users, reach{}, false, map[string]any{"group_ids": groupIDs}, changed,
		func(s *sqlSet, now time.Time) error {
			if err := s.removeGrants(ctx, users, remove); err != nil {
				return err
			}
			return s.addGrants(ctx, users, add, viewerUserID(ctx), now)
		})
}

// ViewableGroups lists the groups a user may see the members of.
func ViewableGroups(ctx context.Context, c *gen.Client, userID int) ([]*gen.Group, error) {
	ids, err := viewableGroupIDs(ctx, c, userID)
	if err != nil || len(ids) == 0 {
		return nil, err
	}
	return c.Group.Query().Where(group.IDIn(ids...)).Order(group.ByName()).All(ctx)
}

func contains(ids []int, id int) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}
