package access

import (
	"context"

	gen "latchkey/ent"
	"latchkey/ent/apiclient"
	"latchkey/ent/predicate"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usertype"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Guard is what an API operation needs from its caller (SPEC §2.8).
type Guard struct {
	// AnyOf lists rights of which the caller must hold one; empty: any signed-in caller.
	AnyOf []string
	// Public operations need no caller at all (signing in).
	Public bool
	// SelfService mutations are allowed to read-only callers (they change only the
	// caller's own login).
	SelfService bool
	// Self names an argument: a caller asking about themselves needs no right.
	Self string
}

func needs(rights ...string) Guard { return Guard{AnyOf: rights} }

// Guards is the one table of operation → required right, for every GraphQL root field
// and SCIM route (by name). An operation missing from it is refused: new operations
// are closed until someone decides who may call them.
var Guards = map[string]Guard{
	// Reads: the caller's visibility (SPEC §2.4) limits what lists and nodes return.
	"node": {}, "nodes": {}, "viewer": {}, "account": {},
	"users": {}, "groups": {}, "computers": {}, "rights": {}, "roles": {}, "userTypes": {},
	"dataSets": {}, "orgUnits": {}, "dashboards": {},
	"auditEvents": needs("audit.view"),
	"apiClients":  needs("access.admin"),
	"can":         {AnyOf: []string{"users.admin", "access.admin"}, Self: "userId"},
	"canBatch":    {AnyOf: []string{"users.admin", "access.admin"}, Self: "userId"},
	"explain":     {AnyOf: []string{"users.admin", "access.admin"}, Self: "userId"},
	"whoCan":      needs("users.admin", "access.admin"),
	"bulkSummary": needs("users.admin"),

	// User administration and user types (the XactAnalysis guide: User Admin).
	"createUser": needs("users.admin"), "updateUser": needs("users.admin"), "deleteUsers": needs("users.admin"),
	"grantRights": needs("users.admin"), "revokeRights": needs("users.admin"),
	"applyRole": needs("users.admin"), "linkUserType": needs("users.admin"), "unlinkUserType": needs("users.admin"),
	"createUserType": needs("users.admin"), "updateUserType": needs("users.admin"), "deleteUserType": needs("users.admin"),
	"bulkGrantRights": needs("users.admin"), "bulkRevokeRights": needs("users.admin"), "bulkApplyRole": needs("users.admin"),
	"bulkLinkUserType": needs("users.admin"), "bulkUnlinkUserType": needs("users.admin"),
	"bulkSetReadOnly": needs("users.admin"), "bulkSetActive": needs("users.admin"), "bulkDeleteUsers": needs("users.admin"),
	"bulkAddToGroups": needs("groups.admin"), "bulkRemoveFromGroups": needs("groups.admin"),

	// Roles and the rights catalogue (User Roles Admin).
	"createRole": needs("roles.admin"), "updateRole": needs("roles.admin"), "deleteRole": needs("roles.admin"),
	"reapplyRole": needs("roles.admin"),
	"createRight": needs("roles.admin"), "updateRight": needs("roles.admin"), "deleteRight": needs("roles.admin"),

	// Groups and computers (Users & Groups).
	"createGroup": needs("groups.admin"), "updateGroup": needs("groups.admin"), "deleteGroup": needs("groups.admin"),
	"addGroupMembers": needs("groups.admin"), "removeGroupMembers": needs("groups.admin"), "importGroupCsv": needs("groups.admin"),
	"createComputer": needs("groups.admin"), "updateComputer": needs("groups.admin"), "deleteComputer": needs("groups.admin"),

	// App Access: viewable groups, logins and service clients.
	"setViewableGroups": needs("access.admin"),
	"createApiClient":   needs("access.admin"), "rotateApiClientSecret": needs("access.admin"), "deleteApiClient": needs("access.admin"),

	// Data sets, hierarchies and the organisation tree.
	"createDataSet": needs("datasets.admin"), "updateDataSet": needs("datasets.admin"), "deleteDataSet": needs("datasets.admin"),
	"createHierarchyNode": needs("datasets.admin"), "renameHierarchyNode": needs("datasets.admin"), "deleteHierarchyNode": needs("datasets.admin"),
	"createOrgUnit": needs("datasets.admin"), "renameOrgUnit": needs("datasets.admin"), "deleteOrgUnit": needs("datasets.admin"),

	// Dashboards are account settings.
	"createDashboard": needs("settings.configure"), "updateDashboard": needs("settings.configure"), "deleteDashboard": needs("settings.configure"),

	// SCIM tokens and mapping rules.
	"createScimToken": needs("scim.admin"), "revokeScimToken": needs("scim.admin"), "scimTokens": needs("scim.admin"),
	"scimMappingRules": needs("scim.admin"), "createScimMappingRule": needs("scim.admin"), "deleteScimMappingRule": needs("scim.admin"),

	// Signing in and one's own login.
	"login": {Public: true}, "acceptInvitation": {Public: true}, "refreshToken": {Public: true},
	"requestPasswordReset": {Public: true}, "resetPassword": {Public: true},
	// logout's credential is the refresh token itself (the access token may be gone).
	"logout": {Public: true}, "changePassword": {SelfService: true},
}

// Authorize checks a caller against an operation's guard. args are the operation's
// arguments (for Self). mutation says whether it changes anything (read-only callers
// may not, SPEC §2.3).
func Authorize(ctx context.Context, operation string, mutation bool, args map[string]any) error {
	g, known := Guards[operation]
	v := viewer.FromContext(ctx)
	if g.Public {
		return nil
	}
	if v == nil {
		return problem.New(problem.Unauthenticated, "", "sign in first: send Authorization: Bearer <token>")
	}
	if !known {
		return problem.Deny("%s is not open to any caller", operation)
	}
	if !mutation && len(g.AnyOf) == 0 {
		return nil // a read open to every caller: visibility limits what it returns
	}
	a, err := v.Authority(ctx)
	if err != nil {
		return err
	}
	if mutation && !g.SelfService && a.ReadOnly {
		return problem.New(problem.ReadOnly, "", "read-only users cannot change anything")
	}
	if len(g.AnyOf) == 0 {
		return nil
	}
	if g.Self != "" && v.UserID() != 0 && args[g.Self] == v.UserID() {
		return nil
	}
	for _, r := range g.AnyOf {
		if a.Holds(r) {
			return nil
		}
	}
	return problem.Deny("%s needs the right %s", operation, g.AnyOf[0])
}

// LoadAuthority reads what a user or service client may do: the application rights
// they hold effectively (SPEC §2.5's masks apply), Admin, read-only.
func LoadAuthority(ctx context.Context, c *gen.Client, v *viewer.Viewer) (*viewer.Authority, error) {
	return cached(ctx, c, v.AccountID, false, "authority:"+string(v.Kind), v.ActorID, func() (*viewer.Authority, error) {
		return loadAuthority(ctx, c, v)
	})
}

func loadAuthority(ctx context.Context, c *gen.Client, v *viewer.Viewer) (*viewer.Authority, error) {
	a := &viewer.Authority{Rights: map[string]bool{}}
	switch v.Kind {
	case viewer.KindUser:
		h, err := LoadHolder(ctx, c, v.ActorID, false)
		if err != nil {
			return nil, err
		}
		for _, er := range h.EffectiveRights() {
			if er.Effective() && er.DataSetID == 0 {
				a.Rights[er.Right.Key] = true
			}
		}
		a.ReadOnly = h.ReadOnly()
		if a.Admin, err = c.User.Query().Where(user.ID(v.ActorID), isAdmin()).Exist(ctx); err != nil {
			return nil, err
		}
	case viewer.KindService:
		cl, err := c.APIClient.Query().Where(apiclient.ID(v.ActorID)).
			WithRoles(func(q *gen.RoleQuery) { q.WithRights() }).Only(ctx)
		if err != nil {
			return nil, problem.MissingIfNotFound(err, "", "API client")
		}
		for _, r := range cl.Edges.Roles {
			a.Admin = a.Admin || (r.BuiltIn && r.Name == AdminRole)
			for _, rt := range r.Edges.Rights {
				a.Rights[rt.Key] = true
			}
		}
	default:
		a.All = true
	}
	return a, nil
}

// isAdmin is true for users holding the built-in Admin role, directly or through a type.
func isAdmin() predicate.User {
	admin := role.And(role.BuiltIn(true), role.Name(AdminRole))
	return user.Or(user.HasRolesWith(admin), user.HasTypesWith(usertype.HasRolesWith(admin)))
}

// callerAuthority is the caller's authority, for the escalation rules.
func callerAuthority(ctx context.Context) (*viewer.Authority, error) {
	return viewer.FromContext(ctx).Authority(ctx)
}

// requireHolds refuses to give someone rights the caller does not hold (SPEC §2.8).
func requireHolds(ctx context.Context, c *gen.Client, rightIDs []int) error {
	a, err := callerAuthority(ctx)
	if err != nil || a.All || len(rightIDs) == 0 {
		return err
	}
	rights, err := c.Right.Query().Where(right.IDIn(Unique(rightIDs)...)).All(ctx)
	if err != nil {
		return err
	}
	for _, r := range rights {
		if !a.Holds(r.Key) {
			return problem.Deny("you cannot grant %s: you do not hold it yourself", r.Key)
		}
	}
	return nil
}

// RequireAdminFor refuses a non-Admin caller any change to an Admin (SPEC §2.8).
func RequireAdminFor(ctx context.Context, c *gen.Client, users []int) error {
	a, err := callerAuthority(ctx)
	if err != nil || a.IsAdmin() || len(users) == 0 {
		return err
	}
	for _, chunk := range chunks(users) {
		n, err := c.User.Query().Where(idsIn(user.FieldID, chunk), isAdmin()).Count(ctx)
		if err != nil {
			return err
		}
		if n > 0 {
			return problem.Deny("only an Admin may change an Admin (%d selected user(s) are Admins)", n)
		}
	}
	return nil
}

// typesReach is what linking or unlinking users and the types can change: the
// rights the types give (their roles' and their company-specific rights), data-set
// access when one of them grants some, and every WRITE right when one is read-only,
// since that masks them all, however held (SPEC §2.3).
func typesReach(ctx context.Context, c *gen.Client, typeIDs ...int) (reach, error) {
	var r reach
	if len(typeIDs) == 0 {
		return r, nil
	}
	types, err := c.UserType.Query().Where(usertype.IDIn(Unique(typeIDs)...)).
		WithRoles(func(q *gen.RoleQuery) { q.WithRights(func(q *gen.RightQuery) { q.Select(right.FieldID) }) }).
		WithGrants().All(ctx)
	if err != nil {
		return r, err
	}
	for _, t := range types {
		r.writes = r.writes || t.ReadOnly
		for _, role := range t.Edges.Roles {
			for _, rt := range role.Edges.Rights {
				r.rights = append(r.rights, rt.ID)
			}
		}
		for _, g := range t.Edges.Grants {
			if g.RightID != nil {
				r.rights = append(r.rights, *g.RightID)
			}
			r.access = r.access || g.Kind == enums.GrantDataSet
		}
	}
	r.rights = Unique(r.rights)
	return r, nil
}
