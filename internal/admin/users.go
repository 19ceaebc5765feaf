// Package admin administers the account's records: users, groups, computers, data
// sets and their hierarchies, the organisation tree and dashboards. Rights, roles
// and types are the rights engine's (internal/access).
package admin

import (
	"context"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/problem"
)

// CreateUserInput adds a person to the account (SPEC §6 createUser).
type CreateUserInput struct {
	UserName       string
	Email          string
	GivenName      *string
	FamilyName     *string
	DisplayName    *string
	Title          *string
	Department     *string
	Location       *string
	EmployeeNumber *string
	Phone          *string
	Locale         *string
	ManagerID      *int
	ReadOnly       *bool
	Active         *bool
}

// CreateUser adds a user. Invitations are sent by the identity layer.
func CreateUser(ctx context.Context, client *gen.Client, in CreateUserInput) (*gen.User, error) {
	if err := checkManager(ctx, client, in.ManagerID, 0); err != nil {
		return nil, err
	}
	return client.User.Create().
		SetUserName(strings.TrimSpace(in.UserName)).
		SetEmail(strings.TrimSpace(in.Email)).
		SetNillableGivenName(in.GivenName).
		SetNillableFamilyName(in.FamilyName).
		SetNillableDisplayName(in.DisplayName).
		SetNillableTitle(in.Title).
		SetNillableDepartment(in.Department).
		SetNillableLocation(in.Location).
		SetNillableEmployeeNumber(in.EmployeeNumber).
		SetNillablePhone(in.Phone).
		SetNillableLocale(in.Locale).
		SetNillableManagerID(in.ManagerID).
		SetNillableReadOnly(in.ReadOnly).
		SetNillableActive(in.Active).
		Save(ctx)
}

// UpdateUserInput changes the fields that are set; ClearManager removes the manager.
type UpdateUserInput struct {
	ID             int
	UserName       *string
	Email          *string
	GivenName      *string
	FamilyName     *string
	DisplayName    *string
	Title          *string
	Department     *string
	Location       *string
	EmployeeNumber *string
	Phone          *string
	Locale         *string
	ManagerID      *int
	ClearManager   *bool
	ReadOnly       *bool
	Active         *bool
}

func UpdateUser(ctx context.Context, client *gen.Client, in UpdateUserInput) (*gen.User, error) {
	if err := checkManager(ctx, client, in.ManagerID, in.ID); err != nil {
		return nil, err
	}
	u := client.User.UpdateOneID(in.ID).
		SetNillableGivenName(in.GivenName).
		SetNillableFamilyName(in.FamilyName).
		SetNillableDisplayName(in.DisplayName).
		SetNillableTitle(in.Title).
		SetNillableDepartment(in.Department).
		SetNillableLocation(in.Location).
		SetNillableEmployeeNumber(in.EmployeeNumber).
		SetNillablePhone(in.Phone).
		SetNillableLocale(in.Locale).
		SetNillableManagerID(in.ManagerID).
		SetNillableReadOnly(in.ReadOnly).
		SetNillableActive(in.Active)
	if in.UserName != nil {
		u.SetUserName(strings.TrimSpace(*in.UserName))
	}
	if in.Email != nil {
		u.SetEmail(strings.TrimSpace(*in.Email))
	}
	if in.ClearManager != nil && *in.ClearManager {
		u.ClearManager()
	}
	usr, err := u.Save(ctx)
	return usr, problem.MissingIfNotFound(err, "id", "user")
}

func checkManager(ctx context.Context, client *gen.Client, managerID *int, self int) error {
	if managerID == nil {
		return nil
	}
	if *managerID == self {
		return problem.BadInput("managerId", "a user cannot be their own manager")
	}
	ok, err := client.User.Query().Where(user.ID(*managerID)).Exist(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return problem.Missing("managerId", "manager")
	}
	return nil
}

// DeleteUsersInput names the users to delete.
type DeleteUsersInput struct {
	IDs []int
}

// deletedUser is how the audit log keeps a deleted user: the whole record with
// what they held, so nothing is lost (SPEC §2.9).
type deletedUser struct {
	*gen.User
	Grants   []*gen.UserGrant `json:"grants"`
	RoleIDs  []int            `json:"role_ids"`
	TypeIDs  []int            `json:"type_ids"`
	GroupIDs []int            `json:"group_ids"`
}

// DeleteUsers deletes users, removing them from every listing, and records each one
// whole in the audit log. Unknown ids fail the whole call.
func DeleteUsers(ctx context.Context, client *gen.Client, in DeleteUsersInput) (int, error) {
	ids := access.Unique(in.IDs)
	if len(ids) == 0 {
		return 0, problem.BadInput("ids", "name at least one user")
	}
	users, err := client.User.Query().Where(user.IDIn(ids...)).
		WithGrants().WithRoles(func(q *gen.RoleQuery) { q.Select("id") }).
		WithTypes(func(q *gen.UserTypeQuery) { q.Select("id") }).
		WithGroups(func(q *gen.GroupQuery) { q.Select("id") }).All(ctx)
	if err != nil {
		return 0, err
	}
	if len(users) != len(ids) {
		return 0, problem.Missing("ids", "one or more users")
	}
	events := make([]audit.Event, len(users))
	for i, u := range users {
		rec := deletedUser{User: u, Grants: u.Edges.Grants}
		for _, r := range u.Edges.Roles {
			rec.RoleIDs = append(rec.RoleIDs, r.ID)
		}
		for _, t := range u.Edges.Types {
			rec.TypeIDs = append(rec.TypeIDs, t.ID)
		}
		for _, g := range u.Edges.Groups {
			rec.GroupIDs = append(rec.GroupIDs, g.ID)
		}
		u.Edges = gen.UserEdges{}
		events[i] = audit.Event{Action: "user.delete", TargetType: gen.TypeUser, TargetID: u.ID, Before: rec}
	}
	quiet := audit.WithoutHook(ctx)
	if _, err := client.UserGrant.Delete().Where(usergrant.UserIDIn(ids...)).Exec(quiet); err != nil {
		return 0, err
	}
	n, err := client.User.Delete().Where(user.IDIn(ids...)).Exec(quiet)
	if err != nil {
		return 0, err
	}
	return n, audit.Record(ctx, client, events...)
}
