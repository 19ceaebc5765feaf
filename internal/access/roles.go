package access

import (
	"context"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/user"
	"latchkey/ent/usertype"
	"latchkey/internal/audit"
	"latchkey/internal/problem"
)

// CreateRightInput adds a right to the account's catalogue.
type CreateRightInput struct {
	Key         string
	Name        string
	Application *string
	Description *string
	Kind        right.Kind
}

// CreateRight adds a right to the catalogue. The built-in Admin role holds every
// right, so the new right joins its definition (holders get it on reapplyRole).
func CreateRight(ctx context.Context, client *gen.Client, in CreateRightInput) (*gen.Right, error) {
	c := client.Right.Create().SetKey(strings.TrimSpace(in.Key)).SetName(strings.TrimSpace(in.Name)).
		SetKind(in.Kind).SetNillableApplication(in.Application).SetNillableDescription(in.Description)
	r, err := c.Save(ctx)
	if err != nil {
		return nil, err
	}
	if err := client.Role.Update().Where(role.BuiltIn(true), role.Name(AdminRole)).AddRightIDs(r.ID).Exec(ctx); err != nil {
		return nil, err
	}
	return r, nil
}

// UpdateRightInput changes a right's descriptive fields; its key and kind are fixed.
type UpdateRightInput struct {
	ID          int
	Name        *string
	Application *string
	Description *string
}

func UpdateRight(ctx context.Context, client *gen.Client, in UpdateRightInput) (*gen.Right, error) {
	u := client.Right.UpdateOneID(in.ID).SetNillableApplication(in.Application).SetNillableDescription(in.Description)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	r, err := u.Save(ctx)
	return r, problem.MissingIfNotFound(err, "id", "right")
}

// DeleteRight removes a right the account added, with every grant of it.
func DeleteRight(ctx context.Context, client *gen.Client, id int) error {
	r, err := client.Right.Get(ctx, id)
	if err != nil {
		return problem.MissingIfNotFound(err, "id", "right")
	}
	if r.BuiltIn {
		return problem.BadInput("id", "built-in right %s cannot be deleted", r.Key)
	}
	return client.Right.DeleteOne(r).Exec(ctx)
}

// CreateRoleInput defines a role: a name, rights by key, and whether holders see all data.
type CreateRoleInput struct {
	Name        string
	Description *string
	Rights      []string
	AllData     *bool
}

func CreateRole(ctx context.Context, client *gen.Client, in CreateRoleInput) (*gen.Role, error) {
	ids, err := rightIDs(ctx, client, in.Rights, "rights")
	if err != nil {
		return nil, err
	}
	if err := requireHolds(ctx, client, ids); err != nil {
		return nil, err
	}
	return client.Role.Create().SetName(strings.TrimSpace(in.Name)).SetNillableDescription(in.Description).
		SetNillableAllData(in.AllData).AddRightIDs(ids...).Save(ctx)
}

// UpdateRoleInput changes a role; Rights, when given, replaces the role's rights.
// Rights already copied to users are not touched (SPEC §2.1).
type UpdateRoleInput struct {
	ID          int
	Name        *string
	Description *string
	Rights      []string
	AllData     *bool
	DryRun      *bool
}

// UpdateRole changes a role and reports the impact on users holding it through a user
// type (those linked live); users it was applied to keep what was copied.
func UpdateRole(ctx context.Context, client *gen.Client, in UpdateRoleInput) (*gen.Role, *Impact, error) {
	var r *gen.Role
	imp, err := roleEdit(ctx, client, in.ID, "edit_role", in, Dry(in.DryRun), func() (err error) {
		r, err = updateRole(ctx, client, in)
		return err
	})
	return r, imp, err
}

func updateRole(ctx context.Context, client *gen.Client, in UpdateRoleInput) (*gen.Role, error) {
	r, err := client.Role.Get(ctx, in.ID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "id", "role")
	}
	if r.BuiltIn && in.Name != nil && strings.TrimSpace(*in.Name) != r.Name {
		return nil, problem.BadInput("name", "built-in role %s cannot be renamed", r.Name)
	}
	if r.BuiltIn && r.Name == AdminRole && (in.Rights != nil || (in.AllData != nil && !*in.AllData)) {
		return nil, problem.BadInput("rights", "the built-in Admin role holds every right on all data")
	}
	u := client.Role.UpdateOne(r).SetNillableDescription(in.Description).SetNillableAllData(in.AllData)
	if in.Name != nil {
		u.SetName(strings.TrimSpace(*in.Name))
	}
	if in.Rights != nil {
		ids, err := rightIDs(ctx, client, in.Rights, "rights")
		if err != nil {
			return nil, err
		}
		// A role's rights reach every user of a type bundling it: putting a right in a
		// role is granting it.
		if err := requireHolds(ctx, client, ids); err != nil {
			return nil, err
		}
		u.ClearRights().AddRightIDs(ids...)
	}
	return u.Save(ctx)
}

// DeleteRole removes a role definition. Rights copied from it stay with their users
// (SPEC §2.1); types that bundled it no longer do, and the impact says who loses what.
func DeleteRole(ctx context.Context, client *gen.Client, id int, dryRun bool) (*Impact, error) {
	return roleEdit(ctx, client, id, "delete_role", map[string]any{"role_id": id}, dryRun, func() error {
		return deleteRole(ctx, client, id)
	})
}

// roleEdit measures an edit of role id on the users who hold it through a type.
func roleEdit(ctx context.Context, c *gen.Client, id int, action string, input any, dryRun bool, edit func() error) (*Impact, error) {
	users, err := c.User.Query().Where(user.HasTypesWith(usertype.HasRolesWith(role.ID(id)))).IDs(ctx)
	if err != nil {
		return nil, err
	}
	return measuredEdit(ctx, c, users, action, input, dryRun, edit)
}

// measuredEdit runs an edit of a role or type, measuring its impact on users, and
// records the impact in the audit log next to the edit's own events.
func measuredEdit(ctx context.Context, c *gen.Client, users []int, action string, input any, dryRun bool, edit func() error) (*Impact, error) {
	imp, err := measure(ctx, c, users, everything, dryRun, edit)
	if err != nil || dryRun {
		return imp, err
	}
	res := &Result{AffectedCount: imp.AffectedCount, Impact: imp}
	return imp, audit.Record(ctx, c, audit.Event{Action: "access." + action, TargetType: gen.TypeUser,
		After: auditRecord(users, input, res)})
}

func deleteRole(ctx context.Context, client *gen.Client, id int) error {
	r, err := client.Role.Get(ctx, id)
	if err != nil {
		return problem.MissingIfNotFound(err, "id", "role")
	}
	if r.BuiltIn {
		return problem.BadInput("id", "built-in role %s cannot be deleted", r.Name)
	}
	return client.Role.DeleteOne(r).Exec(ctx)
}

// rightIDs resolves right keys to ids in the caller's catalogue.
func rightIDs(ctx context.Context, client *gen.Client, keys []string, field string) ([]int, error) {
	if len(keys) == 0 {
		return nil, nil
	}
	rights, err := client.Right.Query().Where(right.KeyIn(keys...)).All(ctx)
	if err != nil {
		return nil, err
	}
	found := make(map[string]int, len(rights))
	for _, r := range rights {
		found[r.Key] = r.ID
	}
	ids := make([]int, 0, len(keys))
	seen := map[int]bool{}
	for _, k := range keys {
		id, ok := found[k]
		if !ok {
			return nil, problem.Missing(field, "right "+k)
		}
		if !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids, nil
}
