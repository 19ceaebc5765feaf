package access

import (
	"context"
	"fmt"
	"slices"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/predicate"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/ent/usertype"
	"latchkey/internal/audit"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Result is what a rule operation did (or, dry, would do).
type Result struct {
	// AffectedCount counts the selected users the operation changed.
	AffectedCount int
	Impact        *Impact
	DryRun        bool
}

// userGrantKinds are what a user can be granted directly with GrantInput (viewable
// groups have their own operation).
var userGrantKinds = []enums.GrantKind{enums.GrantAppRight, enums.GrantDataSet, enums.GrantOrgUnit,
	enums.GrantCompanyRight, enums.GrantDashboard}

// operation runs one rule operation over a selection: it resolves the users, counts
// those the change will touch, measures the impact, records one audit event with
// that impact (unless dry), and returns the result.
func operation(ctx context.Context, c *gen.Client, action string, users []int, r reach, dryRun bool, input any,
	touched predicate.User, change func(s *sqlSet, now time.Time) error) (*Result, error) {
	s, err := newSQLSet(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := RequireAdminFor(ctx, c, users); err != nil {
		return nil, err
	}
	affected := 0
	if len(users) > 0 && touched != nil {
		for chunk := range slices.Chunk(users, chunkSize) {
			n, err := c.User.Query().Where(usersWhere(chunk, touched)).Count(ctx)
			if err != nil {
				return nil, err
			}
			affected += n
		}
	}
	now := time.Now()
	imp, err := measure(ctx, c, users, r, dryRun, func() error {
		if len(users) == 0 {
			return nil
		}
		return change(s, now)
	})
	if err != nil {
		return nil, err
	}
	res := &Result{AffectedCount: affected, Impact: imp, DryRun: dryRun}
	if dryRun {
		return res, nil
	}
	return res, audit.Record(ctx, c, audit.Event{Action: "access." + action, TargetType: gen.TypeUser,
		TargetID: single(users), After: auditRecord(users, input, res)})
}

// auditRecord is what the log keeps of an operation: its input, whom it touched and
// its impact (the first users in detail, every right counted).
func auditRecord(users []int, input any, res *Result) map[string]any {
	ids := users
	if len(ids) > MaxImpactUsers {
		ids = ids[:MaxImpactUsers]
	}
	perUser := make([]map[string]any, 0, len(res.Impact.Users))
	for _, u := range res.Impact.Users {
		perUser = append(perUser, map[string]any{"user_id": u.UserID, "user_name": u.UserName,
			"gained": rightKeys(u.Gained), "lost": rightKeys(u.Lost), "access_gained": u.AccessGained, "access_lost": u.AccessLost})
	}
	perRight := make([]map[string]any, 0, len(res.Impact.Rights))
	for _, r := range res.Impact.Rights {
		perRight = append(perRight, map[string]any{"right": r.Right.Key, "gained": r.Gained, "lost": r.Lost})
	}
	return map[string]any{"input": input, "selected": len(users), "user_ids": ids, "affected": res.AffectedCount,
		"impact": map[string]any{"affected": res.Impact.AffectedCount, "users": perUser, "rights": perRight, "truncated": res.Impact.Truncated}}
}

func rightKeys(rs []*gen.Right) []string {
	out := make([]string, len(rs))
	for i, r := range rs {
		out[i] = r.Key
	}
	return out
}

func viewerUserID(ctx context.Context) int { return viewer.FromContext(ctx).UserID() }

func single(users []int) int {
	if len(users) == 1 {
		return users[0]
	}
	return 0
}

// GrantRights gives the selected users direct grants (source MANUAL). Existing grants
// stay; a grant a user already holds by hand is not added twice.
func GrantRights(ctx context.Context, c *gen.Client, sel UserSelection, grants []GrantInput, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	rows, err := resolveUserGrants(ctx, c, grants)
	if err != nil {
		return nil, err
	}
	var lacking []predicate.User
	var rightIDs []int
	for _, r := range rows {
		lacking = append(lacking, user.Not(user.HasGrantsWith(usergrant.GrantKey(r.grant.Key()), usergrant.SourceKey(r.sourceKey))))
		if r.grant.RightID != 0 {
			rightIDs = append(rightIDs, r.grant.RightID)
		}
	}
	if err := requireHolds(ctx, c, rightIDs); err != nil {
		return nil, err
	}
	r := grantsReach(rows)
	r.keepsFlags, r.keepsLinks = true, true
	for _, row := range rows {
		r.gives = append(r.gives, row.grant)
	}
	return operation(ctx, c, "grant_rights", users, r, dryRun, grants, user.Or(lacking...), func(s *sqlSet, now time.Time) error {
		return s.addGrants(ctx, users, rows, viewerUserID(ctx), now)
	})
}

// RevokeRights removes the named direct grants from the selected users, by every
// source (by hand, copied from roles, CSV, SCIM). What a user type grants is not a
// direct grant and stays for as long as the type is linked (SPEC §2.2).
func RevokeRights(ctx context.Context, c *gen.Client, sel UserSelection, grants []GrantInput, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	rows, err := resolveUserGrants(ctx, c, grants)
	if err != nil {
		return nil, err
	}
	keys := make([]string, len(rows))
	var appRights []int
	for i, r := range rows {
		keys[i] = r.grant.Key()
		if r.grant.Kind == enums.GrantAppRight {
			appRights = append(appRights, r.grant.RightID)
		}
	}
	holders := user.HasGrantsWith(usergrant.GrantKeyIn(keys...))
	if len(appRights) > 0 {
		holders = user.Or(holders, holdsCopyOf(appRights))
	}
	r := grantsReach(rows)
	r.keepsFlags = true
	return operation(ctx, c, "revoke_rights", users, r, dryRun, grants, holders,
		func(s *sqlSet, _ time.Time) error { return s.removeGrants(ctx, users, keys) })
}

// grantsReach is what granting or revoking rows can change.
func grantsReach(rows []grantRow) reach {
	var r reach
	for _, row := range rows {
		if row.grant.RightID != 0 {
			r.rights = append(r.rights, row.grant.RightID)
		}
		r.access = r.access || row.grant.Kind == enums.GrantDataSet
	}
	return r
}

func resolveUserGrants(ctx context.Context, c *gen.Client, in []GrantInput) ([]grantRow, error) {
	if len(in) == 0 {
		return nil, problem.BadInput("grants", "name at least one grant")
	}
	var rows []grantRow
	seen := map[string]bool{}
	for i, gi := range in {
		g, err := ResolveGrant(ctx, c, gi, fmt.Sprintf("grants[%d]", i), userGrantKinds...)
		if err != nil {
			return nil, err
		}
		if !seen[g.Key()] {
			seen[g.Key()] = true
			rows = append(rows, grantRow{grant: g, source: string(enums.SourceManual), sourceKey: string(enums.SourceManual)})
		}
	}
	return rows, nil
}

// ApplyRoleTo copies role R's rights to the selected users and records that they have
// R (SPEC §2.1). It never removes a right.
func ApplyRoleTo(ctx context.Context, c *gen.Client, sel UserSelection, roleID int, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	r, err := c.Role.Get(ctx, roleID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "roleId", "role")
	}
	rightIDs, err := c.Role.QueryRights(r).IDs(ctx)
	if err != nil {
		return nil, err
	}
	if err := requireHolds(ctx, c, rightIDs); err != nil {
		return nil, err
	}
	lacking := lacksRoleCopy(r, rightIDs)
	gives := make([]Grant, len(rightIDs))
	for i, id := range rightIDs {
		gives[i] = Grant{Kind: enums.GrantAppRight, RightID: id}
	}
	return operation(ctx, c, "apply_role", users, reach{rights: rightIDs, gives: gives, keepsFlags: true, keepsLinks: true}, dryRun, map[string]any{"role_id": r.ID, "role": r.Name}, lacking,
		func(s *sqlSet, now time.Time) error {
			return s.copyRoleRights(ctx, users, r, viewerUserID(ctx), now)
		})
}

// ReapplyRole copies role R's current rights to every user R was applied to: after an
// edit of R, its holders gain what it gained and lose nothing (SPEC §2.1).
func ReapplyRole(ctx context.Context, c *gen.Client, roleID int, dryRun bool) (*Result, error) {
	holders, err := c.User.Query().Where(user.HasRolesWith(role.ID(roleID))).IDs(ctx)
	if err != nil {
		return nil, err
	}
	if ok, err := c.Role.Query().Where(role.ID(roleID)).Exist(ctx); err != nil {
		return nil, err
	} else if !ok {
		return nil, problem.Missing("roleId", "role")
	}
	if len(holders) == 0 {
		return &Result{Impact: &Impact{}, DryRun: dryRun}, nil
	}
	return ApplyRoleTo(ctx, c, UserSelection{UserIDs: holders}, roleID, dryRun)
}

// lacksRoleCopy is true for users who do not have R, or lack a copy of one of R's
// current rights.
func lacksRoleCopy(r *gen.Role, rightIDs []int) predicate.User {
	preds := []predicate.User{user.Not(user.HasRolesWith(role.ID(r.ID)))}
	key := fmt.Sprintf("ROLE:%d", r.ID)
	for _, id := range rightIDs {
		preds = append(preds, user.And(user.Not(user.HasGrantsWith(usergrant.SourceKey(key), usergrant.RightID(id))),
			user.Not(holdsCopyFrom(r.ID, id))))
	}
	return user.Or(preds...)
}

// LinkUserType links the selected users to type T: everything T holds becomes part of
// their effective rights for as long as the link exists (SPEC §2.2). Nothing is removed.
func LinkUserType(ctx context.Context, c *gen.Client, sel UserSelection, typeID int, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	t, err := c.UserType.Get(ctx, typeID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "userTypeId", "user type")
	}
	r, err := typesReach(ctx, c, typeID)
	if err != nil {
		return nil, err
	}
	if err := requireHolds(ctx, c, r.rights); err != nil {
		return nil, err
	}
	r.keepsGrants, r.keepsFlags, r.relinks = true, true, t.ID
	return operation(ctx, c, "link_user_type", users, r, dryRun, map[string]any{"user_type_id": t.ID, "user_type": t.Name},
		user.Not(user.HasTypesWith(usertype.ID(t.ID))),
		func(s *sqlSet, _ time.Time) error { return s.linkType(ctx, users, t.ID, 0) })
}

// UnlinkUserType removes the link: the users lose exactly what T granted — never a
// right they also hold directly or through another type, since nothing T granted
// was ever copied (SPEC §2.2). An admin's unlink removes the link whatever made it,
// a mapping rule's group included; the group's next membership change links it again.
func UnlinkUserType(ctx context.Context, c *gen.Client, sel UserSelection, typeID int, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	t, err := c.UserType.Get(ctx, typeID)
	if err != nil {
		return nil, problem.MissingIfNotFound(err, "userTypeId", "user type")
	}
	r, err := typesReach(ctx, c, typeID)
	if err != nil {
		return nil, err
	}
	r.keepsGrants, r.keepsFlags, r.relinks, r.unlinks = true, true, t.ID, true
	return operation(ctx, c, "unlink_user_type", users, r, dryRun, map[string]any{"user_type_id": t.ID, "user_type": t.Name},
		user.HasTypesWith(usertype.ID(t.ID)),
		func(s *sqlSet, _ time.Time) error { return s.dropSources(ctx, users, t.ID, 0) })
}

// SetReadOnly sets the users' read-only flag (SPEC §2.3).
func SetReadOnly(ctx context.Context, c *gen.Client, sel UserSelection, readOnly, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	return operation(ctx, c, "set_read_only", users, reach{allRights: true, keepsGrants: true}, dryRun, map[string]any{"read_only": readOnly}, user.ReadOnlyNEQ(readOnly),
		func(s *sqlSet, now time.Time) error { return s.setFlag(ctx, users, "read_only", readOnly, now) })
}

// SetActive sets the users' active flag; an inactive user can nothing (SPEC §2.5).
func SetActive(ctx context.Context, c *gen.Client, sel UserSelection, active, dryRun bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	return operation(ctx, c, "set_active", users, reach{allRights: true, keepsGrants: true}, dryRun, map[string]any{"active": active}, user.ActiveNEQ(active),
		func(s *sqlSet, now time.Time) error { return s.setFlag(ctx, users, "active", active, now) })
}

// AddToGroups adds the selected users to groups; members stay members.
func AddToGroups(ctx context.Context, c *gen.Client, sel UserSelection, groupIDs []int, dryRun bool) (*Result, error) {
	return groupMembership(ctx, c, sel, groupIDs, dryRun, true)
}

// RemoveFromGroups removes the selected users from groups.
func RemoveFromGroups(ctx context.Context, c *gen.Client, sel UserSelection, groupIDs []int, dryRun bool) (*Result, error) {
	return groupMembership(ctx, c, sel, groupIDs, dryRun, false)
}

func groupMembership(ctx context.Context, c *gen.Client, sel UserSelection, groupIDs []int, dryRun, add bool) (*Result, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	groupIDs = Unique(groupIDs)
	if len(groupIDs) == 0 {
		return nil, problem.BadInput("groupIds", "name at least one group")
	}
	if err := RequireAll(ctx, c, gen.TypeGroup, groupIDs, "groupIds", "groups"); err != nil {
		return nil, err
	}
	// Joining or leaving a group with mapping rules links or unlinks types and
	// applies roles; that is part of the change, its impact and its audit.
	plans, err := membershipPlans(ctx, c, groupIDs, users, add)
	if err != nil {
		return nil, err
	}
	r := reach{}
	for _, p := range plans {
		r = r.and(p.reach)
	}
	r.keepsFlags = true
	var touched []predicate.User
	action := "remove_from_groups"
	for _, g := range groupIDs {
		if add {
			touched = append(touched, user.Not(user.HasGroupsWith(group.ID(g))))
			action = "add_to_groups"
		} else {
			touched = append(touched, user.HasGroupsWith(group.ID(g)))
		}
	}
	return operation(ctx, c, action, users, r, dryRun, map[string]any{"group_ids": groupIDs}, user.Or(touched...),
		func(s *sqlSet, now time.Time) error {
			for _, g := range groupIDs {
				op := s.unlink
				if add {
					op = s.link
				}
				if err := op(ctx, users, "group_users", "group_id", g); err != nil {
					return err
				}
			}
			for _, p := range plans {
				if err := s.carry(ctx, users, p, now); err != nil {
					return err
				}
			}
			return nil
		})
}

// Inputs of the rule operations, as the API takes them.
type (
	UserGrantsInput struct {
		UserID int
		Grants []GrantInput
		DryRun *bool
	}
	ApplyRoleInput struct {
		UserID, RoleID int
		DryRun         *bool
	}
	ReapplyRoleInput struct {
		RoleID int
		DryRun *bool
	}
	UserTypeLinkInput struct {
		UserID, UserTypeID int
		DryRun             *bool
	}
	SetViewableGroupsInput struct {
		UserID   int
		GroupIDs []int
	}
	DeleteUsersInput struct {
		IDs    []int
		DryRun *bool
	}
	BulkGrantsInput struct {
		Selection UserSelection
		Grants    []GrantInput
		DryRun    *bool
	}
	BulkRoleInput struct {
		Selection UserSelection
		RoleID    int
		DryRun    *bool
	}
	BulkUserTypeInput struct {
		Selection  UserSelection
		UserTypeID int
		DryRun     *bool
	}
	BulkReadOnlyInput struct {
		Selection UserSelection
		ReadOnly  bool
		DryRun    *bool
	}
	BulkActiveInput struct {
		Selection UserSelection
		Active    bool
		DryRun    *bool
	}
	BulkGroupsInput struct {
		Selection UserSelection
		GroupIDs  []int
		DryRun    *bool
	}
	BulkSelectionInput struct {
		Selection UserSelection
		DryRun    *bool
	}
)

// Dry reports whether a dryRun flag was set.
func Dry(flag *bool) bool { return flag != nil && *flag }

// One selects one user.
func One(userID int) UserSelection { return UserSelection{UserIDs: []int{userID}, field: "userId"} }
