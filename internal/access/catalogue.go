// Package access is the rights engine: the rights catalogue, roles, user types and
// grants, and every rule of SPEC §2 about them. GraphQL and SCIM call it; neither
// restates a rule.
package access

import (
	"context"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/privacy"
	"latchkey/ent/right"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// BuiltInRight is a right every account's catalogue starts with.
type BuiltInRight struct {
	Key, Name, Application, Description string
}

// BuiltInRights is the seeded catalogue (SPEC §1). "*.view" rights are READ; every
// other built-in right is WRITE.
var BuiltInRights = []BuiltInRight{
	{"users.admin", "User Admin", "Administration", "Manage users and user types"},
	{"roles.admin", "User Roles Admin", "Administration", "Manage user roles"},
	{"groups.admin", "Groups Admin", "Administration", "Manage groups and their members"},
	{"access.admin", "App Access", "Administration", "Manage viewable groups and logins"},
	{"datasets.admin", "Data Sets Admin", "Administration", "Manage data sets and hierarchies"},
	{"audit.view", "Audit Log", "Administration", "Read the audit log"},
	{"scim.admin", "SCIM Admin", "Administration", "Manage SCIM tokens and mapping rules"},
	{"reports.view", "View Reports", "Reports", "Open reports and dashboards"},
	{"reports.custom", "Custom Reports", "Reports", "Build custom reports"},
	{"scorecard.thresholds", "Scorecard Thresholds", "Reports", "Set performance scorecard thresholds"},
	{"assignments.view", "View Assignments", "Assignments", "Read assignment data"},
	{"assignments.edit", "Edit Assignments", "Assignments", "Edit and contribute to assignments"},
	{"settings.configure", "Configure Settings", "Settings", "Change account settings"},
}

// KindOf is the kind of a built-in right.
func (r BuiltInRight) KindOf() right.Kind {
	if strings.HasSuffix(r.Key, ".view") {
		return right.KindREAD
	}
	return right.KindWRITE
}

// BuiltInRole is a role every account starts with.
type BuiltInRole struct {
	Name, Description string
	AllData           bool
	// Rights are keys; nil means every right in the catalogue.
	Rights []string
}

const AdminRole = "Admin"

// BuiltInRoles are the four roles of SPEC §1.
var BuiltInRoles = []BuiltInRole{
	{Name: AdminRole, Description: "Every right, on all data", AllData: true},
	{Name: "Configurator", Description: "Settings and administration, on all data", AllData: true,
		Rights: []string{"users.admin", "roles.admin", "groups.admin", "access.admin", "datasets.admin",
			"audit.view", "scim.admin", "settings.configure", "scorecard.thresholds"}},
	{Name: "Power User", Description: "Reports and assignments on their viewable groups",
		Rights: []string{"reports.view", "reports.custom", "assignments.view", "assignments.edit"}},
	{Name: "Viewer", Description: "Read reports on their viewable groups",
		Rights: []string{"reports.view", "assignments.view"}},
}

// CreateAccount creates a tenant and seeds its built-in rights and roles, on client
// (a transaction's client, so that all of it happens or none). It returns the
// account and a context acting as the system inside it.
func CreateAccount(ctx context.Context, client *gen.Client, name string) (*gen.Account, context.Context, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, ctx, problem.BadInput("account", "account name must not be empty")
	}
	// Accounts are created by the system only; no viewer can create one.
	acct, err := client.Account.Create().SetName(name).Save(privacy.DecisionContext(ctx, privacy.Allow))
	if err != nil {
		if gen.IsConstraintError(err) {
			return nil, ctx, problem.Duplicate("account", "an account named %q already exists", name)
		}
		return nil, ctx, err
	}
	sys := viewer.System(ctx, acct.ID, "seed")
	rights := make([]*gen.RightCreate, len(BuiltInRights))
	for i, r := range BuiltInRights {
		rights[i] = client.Right.Create().SetKey(r.Key).SetName(r.Name).SetApplication(r.Application).
			SetDescription(r.Description).SetKind(r.KindOf()).SetBuiltIn(true)
	}
	created, err := client.Right.CreateBulk(rights...).Save(sys)
	if err != nil {
		return nil, ctx, err
	}
	byKey := make(map[string]int, len(created))
	all := make([]int, len(created))
	for i, r := range created {
		byKey[r.Key] = r.ID
		all[i] = r.ID
	}
	for _, br := range BuiltInRoles {
		ids := all
		if br.Rights != nil {
			ids = make([]int, len(br.Rights))
			for i, k := range br.Rights {
				ids[i] = byKey[k]
			}
		}
		if _, err := client.Role.Create().SetName(br.Name).SetDescription(br.Description).
			SetAllData(br.AllData).SetBuiltIn(true).AddRightIDs(ids...).Save(sys); err != nil {
			return nil, ctx, err
		}
	}
	return acct, sys, nil
}
