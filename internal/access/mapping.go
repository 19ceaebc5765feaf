package access

import (
	"context"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect/sql"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/predicate"
	"latchkey/ent/role"
	"latchkey/ent/scimmappingrule"
	"latchkey/ent/typelinksource"
	"latchkey/ent/user"
	"latchkey/ent/usertype"
	"latchkey/internal/problem"
)

// Mapping rules make membership of a group drive rights: members of the group named
// "Claims Adjusters" get the "Adjuster" user type linked (live, SPEC §2.2) or a role
// applied (copied, SPEC §2.1). Identity providers push the groups over SCIM, but the
// rules follow membership however it changes. Each link a rule makes is recorded as
// a source naming the group (type_link_sources; a link made by hand has a source
// without a group): a link lasts while it has a source, so leaving a group unlinks a
// type only when no other group and no admin keeps it, and provenance can name the
// group (PathSCIMGroup).

// normName is how group names are compared with rules: case-insensitively, trimmed.
func normName(name string) string { return strings.ToLower(strings.TrimSpace(name)) }

// RulesFor returns the mapping rules for the group named name.
func RulesFor(ctx context.Context, c *gen.Client, name string) ([]*gen.ScimMappingRule, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return nil, nil
	}
	return c.ScimMappingRule.Query().Where(scimmappingrule.GroupNameEqualFold(name)).
		Order(scimmappingrule.ByID()).All(ctx)
}

// groupPlan is what one group's rules do to some of its members: the types whose
// links through the group are dropped, and the types and roles the rules give.
type groupPlan struct {
	group      int
	staleTypes []int
	linkTypes  []int
	roles      []*gen.Role
	reach      reach // what the plan may give or take, for the impact
}

func (p *groupPlan) empty() bool {
	return len(p.staleTypes) == 0 && len(p.linkTypes) == 0 && len(p.roles) == 0
}

// planGroup plans group g's rules for users: sources through g whose type stale
// says to drop are dropped, and the rules in apply are applied. The caller must hold
// what the applied rules give (SPEC §2.8), even when users is empty.
func planGroup(ctx context.Context, c *gen.Client, g int, users []int, stale func(typeID int) bool,
	apply []*gen.ScimMappingRule) (*groupPlan, error) {
	p := &groupPlan{group: g}
	if stale != nil && len(users) > 0 {
		var typeIDs []int
		for chunk := range slices.Chunk(users, chunkSize) {
			ids, err := c.TypeLinkSource.Query().
				Where(typelinksource.GroupID(g), idsIn(typelinksource.FieldUserID, chunk)).
				Unique(true).Select(typelinksource.FieldUserTypeID).Ints(ctx)
			if err != nil {
				return nil, err
			}
			typeIDs = append(typeIDs, ids...)
		}
		for _, t := range Unique(typeIDs) {
			if stale(t) {
				p.staleTypes = append(p.staleTypes, t)
			}
		}
	}
	var given []int
	var roleIDs []int
	for _, r := range apply {
		if r.UserTypeID != nil {
			p.linkTypes = append(p.linkTypes, *r.UserTypeID)
		}
		if r.RoleID != nil {
			roleIDs = append(roleIDs, *r.RoleID)
		}
	}
	p.linkTypes = Unique(p.linkTypes)
	linked, err := typesReach(ctx, c, p.linkTypes...)
	if err != nil {
		return nil, err
	}
	given = append(given, linked.rights...)
	if p.reach, err = typesReach(ctx, c, append(slices.Clone(p.staleTypes), p.linkTypes...)...); err != nil {
		return nil, err
	}
	if len(roleIDs) > 0 {
		roles, err := c.Role.Query().Where(role.IDIn(Unique(roleIDs)...)).WithRights().All(ctx)
		if err != nil {
			return nil, err
		}
		p.roles = roles
		for _, r := range roles {
			for _, rt := range r.Edges.Rights {
				p.reach.rights = append(p.reach.rights, rt.ID)
				given = append(given, rt.ID)
			}
		}
	}
	p.reach.rights = Unique(p.reach.rights)
	return p, requireHolds(ctx, c, given)
}

// carry does what the plan says for users, who are members of the plan's group.
func (s *sqlSet) carry(ctx context.Context, users []int, p *groupPlan, now time.Time) error {
	for _, t := range p.staleTypes {
		if err := s.dropSources(ctx, users, t, p.group); err != nil {
			return err
		}
	}
	for _, t := range p.linkTypes {
		if err := s.linkType(ctx, users, t, p.group); err != nil {
			return err
		}
	}
	for _, r := range p.roles {
		if err := s.copyRoleRights(ctx, users, r, viewerUserID(ctx), now); err != nil {
			return err
		}
	}
	return nil
}

// linkType links type typeID to users, recording the source: group groupID's rule,
// or (0) an admin's hand.
func (s *sqlSet) linkType(ctx context.Context, users []int, typeID, groupID int) error {
	if err := s.link(ctx, users, "user_type_links", "user_type_id", typeID); err != nil {
		return err
	}
	same := "x.group_id IS NULL"
	args := []any{s.accountID, typeID, nullID(groupID), s.accountID}
	post := []any{typeID}
	if groupID != 0 {
		same = "x.group_id = ?"
		post = append(post, groupID)
	}
	_, err := s.exec(ctx, users, `INSERT INTO type_link_sources (account_id, user_id, user_type_id, group_id)
		SELECT ?, u.id, ?, ? FROM users u WHERE u.account_id = ? AND u.id IN %s AND NOT EXISTS (
			SELECT 1 FROM type_link_sources x WHERE x.user_id = u.id AND x.user_type_id = ? AND `+same+`)`, args, post)
	return err
}

// dropSources deletes the users' sources of their link to type typeID — group
// groupID's, or (0) every source — and then the links left without a source.
func (s *sqlSet) dropSources(ctx context.Context, users []int, typeID, groupID int) error {
	stmt := `DELETE FROM type_link_sources WHERE account_id = ? AND user_type_id = ? AND user_id IN %s`
	var post []any
	if groupID != 0 {
		stmt += ` AND group_id = ?`
		post = []any{groupID}
	}
	if _, err := s.exec(ctx, users, stmt, []any{s.accountID, typeID}, post); err != nil {
		return err
	}
	_, err := s.exec(ctx, users, `DELETE FROM user_type_links WHERE user_type_id = ? AND user_id IN %s AND NOT EXISTS (
		SELECT 1 FROM type_link_sources x WHERE x.user_id = user_type_links.user_id AND x.user_type_id = user_type_links.user_type_id)`,
		[]any{typeID}, nil)
	return err
}

// groupRules runs a plan for group g over users (nil: its current members) as one
// audited operation.
func groupRules(ctx context.Context, c *gen.Client, action string, g int, users []int, stale func(int) bool,
	apply []*gen.ScimMappingRule, input map[string]any) error {
	if users == nil {
		var err error
		if users, err = c.User.Query().Where(user.HasGroupsWith(group.ID(g))).IDs(ctx); err != nil {
			return err
		}
	}
	users = Unique(users)
	p, err := planGroup(ctx, c, g, users, stale, apply)
	if err != nil || p.empty() || len(users) == 0 {
		return err
	}
	input["group_id"] = g
	r := p.reach
	r.keepsFlags = true
	_, err = operation(ctx, c, action, users, r, false,
		input, nil, func(s *sqlSet, now time.Time) error { return s.carry(ctx, users, p, now) })
	return err
}

func dropAll(int) bool { return true }

// GroupMembersJoined applies the rules of group g (named name) to users who joined it.
func GroupMembersJoined(ctx context.Context, c *gen.Client, g int, name string, users []int) error {
	if len(users) == 0 {
		return nil
	}
	rules, err := RulesFor(ctx, c, name)
	if err != nil || len(rules) == 0 {
		return err
	}
	return groupRules(ctx, c, "group_rules_applied", g, users, nil, rules, map[string]any{"joined": len(users)})
}

// GroupMembersLeft keeps links in step when users left group g: the types its rules
// linked are unlinked unless another group or an admin keeps them. Roles were copied
// and stay (SPEC §2.1).
func GroupMembersLeft(ctx context.Context, c *gen.Client, g int, users []int) error {
	if len(users) == 0 {
		return nil
	}
	return groupRules(ctx, c, "group_rules_left", g, users, dropAll, nil, map[string]any{"left": len(users)})
}

// GroupRenamed keeps links in step when group g was renamed to newName: its members
// keep what the new name's rules link, lose what only the old name's rules linked,
// and get what the new name's rules give.
func GroupRenamed(ctx context.Context, c *gen.Client, g int, oldName, newName string) error {
	if normName(oldName) == normName(newName) {
		return nil
	}
	rules, err := RulesFor(ctx, c, newName)
	if err != nil {
		return err
	}
	keep := map[int]bool{}
	for _, r := range rules {
		if r.UserTypeID != nil {
			keep[*r.UserTypeID] = true
		}
	}
	return groupRules(ctx, c, "group_rules_renamed", g, nil, func(t int) bool { return !keep[t] }, rules,
		map[string]any{"old_name": oldName, "new_name": newName})
}

// GroupDeleting unlinks what group g's rules linked from its members, unless
// something else keeps it; call it before deleting the group.
func GroupDeleting(ctx context.Context, c *gen.Client, g int) error {
	return groupRules(ctx, c, "group_rules_left", g, nil, dropAll, nil, map[string]any{"deleted": true})
}

// nameIs matches groups named name, case-insensitively.
func nameIs(name string) predicate.Group {
	n := normName(name)
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("LOWER(").Ident(s.C(group.FieldName)).WriteString(") = ").Arg(n)
		}))
	}
}

// CreateRuleInput makes membership of the group named GroupName link a user type or
// apply a role: exactly one of UserTypeID and RoleID.
type CreateRuleInput struct {
	GroupName  string
	UserTypeID *int
	RoleID     *int
}

// CreateRule adds a mapping rule and applies it at once to the members of the group
// it names, so rights follow membership from now on. The caller must hold what the
// rule gives (SPEC §2.8), whether or not the group has members yet.
func CreateRule(ctx context.Context, c *gen.Client, in CreateRuleInput) (*gen.ScimMappingRule, error) {
	if (in.UserTypeID == nil) == (in.RoleID == nil) {
		return nil, problem.BadInput("userTypeId", "give exactly one of userTypeId and roleId")
	}
	name := strings.TrimSpace(in.GroupName)
	if name == "" {
		return nil, problem.BadInput("groupName", "groupName must not be empty")
	}
	if in.UserTypeID != nil {
		if ok, err := c.UserType.Query().Where(usertype.ID(*in.UserTypeID)).Exist(ctx); err != nil {
			return nil, err
		} else if !ok {
			return nil, problem.Missing("userTypeId", "user type")
		}
	}
	if in.RoleID != nil {
		if ok, err := c.Role.Query().Where(role.ID(*in.RoleID)).Exist(ctx); err != nil {
			return nil, err
		} else if !ok {
			return nil, problem.Missing("roleId", "role")
		}
	}
	rule, err := c.ScimMappingRule.Create().SetGroupName(name).
		SetNillableUserTypeID(in.UserTypeID).SetNillableRoleID(in.RoleID).Save(ctx)
	if err != nil {
		return nil, err
	}
	groups, err := c.Group.Query().Where(nameIs(name)).IDs(ctx)
	if err != nil {
		return nil, err
	}
	if len(groups) == 0 { // nobody to apply it to yet, but the caller must hold what it gives
		_, err := planGroup(ctx, c, 0, nil, nil, []*gen.ScimMappingRule{rule})
		return rule, err
	}
	for _, g := range groups {
		if err := groupRules(ctx, c, "group_rules_applied", g, nil, nil, []*gen.ScimMappingRule{rule},
			map[string]any{"rule_id": rule.ID}); err != nil {
			return nil, err
		}
	}
	return rule, nil
}

// DeleteRule removes a mapping rule. The type it linked is unlinked from the
// members of its group unless another rule, group or admin still keeps it; roles it
// applied were copied and stay.
func DeleteRule(ctx context.Context, c *gen.Client, id int) error {
	rule, err := c.ScimMappingRule.Get(ctx, id)
	if err != nil {
		return problem.MissingIfNotFound(err, "id", "mapping rule")
	}
	if err := c.ScimMappingRule.DeleteOne(rule).Exec(ctx); err != nil {
		return err
	}
	if rule.UserTypeID == nil {
		return nil
	}
	rest, err := RulesFor(ctx, c, rule.GroupName)
	if err != nil {
		return err
	}
	for _, r := range rest {
		if r.UserTypeID != nil && *r.UserTypeID == *rule.UserTypeID {
			return nil // another rule for the same group still links the type
		}
	}
	groups, err := c.Group.Query().Where(nameIs(rule.GroupName)).IDs(ctx)
	if err != nil {
		return err
	}
	typeID := *rule.UserTypeID
	for _, g := range groups {
		if err := groupRules(ctx, c, "group_rules_left", g, nil, func(t int) bool { return t == typeID }, nil,
			map[string]any{"rule_id": rule.ID}); err != nil {
			return err
		}
	}
	return nil
}

// membershipPlans plans the rules of groups for users joining (add) or leaving them.
func membershipPlans(ctx context.Context, c *gen.Client, groupIDs, users []int, add bool) ([]*groupPlan, error) {
	var plans []*groupPlan
	var names map[int]string
	if add {
		gs, err := c.Group.Query().Where(group.IDIn(groupIDs...)).Select(group.FieldID, group.FieldName).All(ctx)
		if err != nil {
			return nil, err
		}
		names = map[int]string{}
		for _, g := range gs {
			names[g.ID] = g.Name
		}
	}
	for _, g := range groupIDs {
		var p *groupPlan
		var err error
		if add {
			rules, rerr := RulesFor(ctx, c, names[g])
			if rerr != nil {
				return nil, rerr
			}
			p, err = planGroup(ctx, c, g, users, nil, rules)
		} else {
			p, err = planGroup(ctx, c, g, users, dropAll, nil)
		}
		if err != nil {
			return nil, err
		}
		if !p.empty() {
			plans = append(plans, p)
		}
	}
	return plans, nil
}
