package access

import (
	"context"
	"fmt"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usertype"
	"latchkey/ent/usertypegrant"
	"latchkey/internal/problem"
)

// CreateUserTypeInput defines a user type: its flags, roles and grants.
type CreateUserTypeInput struct {
	Name        string
	Description *string
	ReadOnly    *bool
	RoleIDs     []int
	Grants      []GrantInput
}

// typeGrantKinds are what a user type can hold besides roles (SPEC §1).
var typeGrantKinds = []enums.GrantKind{enums.GrantDataSet, enums.GrantOrgUnit, enums.GrantCompanyRight}

func CreateUserType(ctx context.Context, client *gen.Client, in CreateUserTypeInput) (*gen.UserType, error) {
	if err := RequireAll(ctx, client, gen.TypeRole, in.RoleIDs, "roleIds", "roles"); err != nil {
		return nil, err
	}
	grants, err := resolveTypeGrants(ctx, client, in.Grants)
	if err != nil {
		return nil, err
	}
	if err := requireHoldsBundle(ctx, client, in.RoleIDs, grants); err != nil {
		return nil, err
	}
	t, err := client.UserType.Create().SetName(strings.TrimSpace(in.Name)).SetNillableDescription(in.Description).
		SetNillableReadOnly(in.ReadOnly).AddRoleIDs(Unique(in.RoleIDs)...).Save(ctx)
	if err != nil {
		return nil, err
	}
	return t, addTypeGrants(ctx, client, t.ID, grants)
}

// UpdateUserTypeInput changes a user type. RoleIDs and Grants, when given, replace
// what the type holds; every linked user sees the change at once (SPEC §2.2).
type UpdateUserTypeInput struct {
	ID          int
	Name        *string
	Description *string
	ReadOnly    *bool
	RoleIDs     []int
	Grants      []GrantInput
	DryRun      *bool
}

// UpdateUserType changes a type; every linked user changes at once, and the impact
// says how.
func UpdateUserType(ctx context.Context, client *gen.Client, in UpdateUserTypeInput) (*gen.UserType, *Impact, error) {
	var t *gen.UserType
	imp, err := typeEdit(ctx, client, in.ID, "edit_user_type", in, Dry(in.DryRun), func() (err error) {
		t, err = updateUserType(ctx, client, in)
		return err
	})
	return t, imp, err
}

// typeEdit measures an edit of type id on its linked users.
func typeEdit(ctx context.Context, c *gen.Client, id int, action string, input any, dryRun bool, edit func() error) (*Impact, error) {
	users, err := c.User.Query().Where(user.HasTypesWith(usertype.ID(id))).IDs(ctx)
	if err != nil {
		return nil, err
	}
	return measuredEdit(ctx, c, users, action, input, dryRun, edit)
}

func updateUserType(ctx context.Context, client *gen.Client, in UpdateUserTypeInput) (*gen.UserType, error) {
	t, err := client.UserType.Get(ctx, in.ID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "id", "user type")
	}
	u := client.UserType.UpdateOne(t).SetNillableDescription(in.Description).SetNillableReadOnly(in.ReadOnly)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	if in.RoleIDs != nil {
		if err := RequireAll(ctx, client, gen.TypeRole, in.RoleIDs, "roleIds", "roles"); err != nil {
			return nil, err
		}
		if err := requireHoldsBundle(ctx, client, in.RoleIDs, nil); err != nil {
			return nil, err
		}
		u.ClearRoles().AddRoleIDs(Unique(in.RoleIDs)...)
	}
	if t, err = u.Save(ctx); err != nil {
		return nil, err
	}
	if in.Grants != nil {
		grants, err := resolveTypeGrants(ctx, client, in.Grants)
		if err != nil {
			return nil, err
		}
		if err := requireHoldsBundle(ctx, client, nil, grants); err != nil {
			return nil, err
		}
		if _, err := client.UserTypeGrant.Delete().Where(usertypegrant.UserTypeID(t.ID)).Exec(ctx); err != nil {
			return nil, err
		}
		if err := addTypeGrants(ctx, client, t.ID, grants); err != nil {
			return nil, err
		}
	}
	return t, nil
}

// DeleteUserType removes a type and its links; linked users lose exactly what it
// granted, since a type's grants were never copied to them (SPEC §2.2).
func DeleteUserType(ctx context.Context, client *gen.Client, id int, dryRun bool) (*Impact, error) {
	return typeEdit(ctx, client, id, "delete_user_type", map[string]any{"user_type_id": id}, dryRun, func() error {
		return problem.MissingIfNotFound(client.UserType.DeleteOneID(id).Exec(ctx), "id", "user type")
	})
}

func resolveTypeGrants(ctx context.Context, client *gen.Client, in []GrantInput) ([]Grant, error) {
	out := make([]Grant, 0, len(in))
	seen := map[string]bool{}
	for i, gi := range in {
		g, err := ResolveGrant(ctx, client, gi, fmt.Sprintf("grants[%d]", i), typeGrantKinds...)
		if err != nil {
			return nil, err
		}
		if !seen[g.Key()] {
			seen[g.Key()] = true
			out = append(out, g)
		}
	}
	return out, nil
}

func addTypeGrants(ctx context.Context, client *gen.Client, typeID int, grants []Grant) error {
	if len(grants) == 0 {
		return nil
	}
	builders := make([]*gen.UserTypeGrantCreate, len(grants))
	for i, g := range grants {
		builders[i] = client.UserTypeGrant.Create().SetUserTypeID(typeID).SetKind(g.Kind).
			SetGrantKey(g.Key()).SetAllDataSets(g.AllDataSets).
			SetNillableRightID(nonZero(g.RightID)).SetNillableDataSetID(nonZero(g.DataSetID)).
			SetNillableNodeID(nonZero(g.NodeID)).SetNillableOrgUnitID(nonZero(g.OrgUnitID))
	}
	return client.UserTypeGrant.CreateBulk(builders...).Exec(ctx)
}

func nonZero(id int) *int {
	if id == 0 {
		return nil
	}
	return &id
}

// RequireHoldsRoles refuses to give a user or service client roles carrying rights
// the caller does not hold (SPEC §2.8).
func RequireHoldsRoles(ctx context.Context, c *gen.Client, roleIDs []int) error {
	if err := RequireAll(ctx, c, gen.TypeRole, roleIDs, "roleIds", "roles"); err != nil {
		return err
	}
	return requireHoldsBundle(ctx, c, roleIDs, nil)
}

// requireHoldsBundle refuses to put into a type rights the caller does not hold: a
// type's roles and company-specific rights reach every linked user (SPEC §2.8).
func requireHoldsBundle(ctx context.Context, c *gen.Client, roleIDs []int, grants []Grant) error {
	var ids []int
	if len(roleIDs) > 0 {
		if err := c.Role.Query().Where(role.IDIn(Unique(roleIDs)...)).QueryRights().Select(right.FieldID).Scan(ctx, &ids); err != nil {
			return err
		}
	}
	for _, g := range grants {
		if g.RightID != 0 {
			ids = append(ids, g.RightID)
		}
	}
	return requireHolds(ctx, c, ids)
}
