// Package admin administers the account's records: users, groups, computers, data
// sets and their hierarchies, the organisation tree and dashboards. Rights, roles
// and types are the rights engine's (internal/access).
package admin

import (
	"context"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/user"
	"latchkey/internal/access"
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
	// Source and ExternalID say where a provisioned user came from (SCIM sets
	// them); they are not in the GraphQL input, so an admin's user is MANUAL.
	Source     *user.Source
	ExternalID *string
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
		SetNillableSource(in.Source).
		SetNillableExternalID(in.ExternalID).
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
	// Suspended suspends the user, or lifts the suspension (back to ACTIVE with a
	// login, INVITED without).
	Suspended *bool
}

func UpdateUser(ctx context.Context, client *gen.Client, in UpdateUserInput) (*gen.User, error) {
	if err := checkManager(ctx, client, in.ManagerID, in.ID); err != nil {
		return nil, err
	}
	if err := access.RequireAdminFor(ctx, client, []int{in.ID}); err != nil {
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
	if in.Suspended != nil {
		current, err := client.User.Get(ctx, in.ID)
		if err != nil {
			return nil, problem.MissingIfNotFound(err, "id", "user")
		}
		switch {
		case *in.Suspended:
			u.SetStatus(user.StatusSUSPENDED)
		case current.Status == user.StatusSUSPENDED && current.IdentityID != nil:
			u.SetStatus(user.StatusACTIVE)
		case current.Status == user.StatusSUSPENDED:
			u.SetStatus(user.StatusINVITED)
		}
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
