// Package provision is what identity-provider provisioning adds to the domain:
// mapping rules that make membership of a provisioned group drive rights (a group
// named "Claims Adjusters" links the "Adjuster" user type to its members, or applies
// a role). The rules themselves — a link is live, a role is copied — are the rights
// engine's (internal/access); this package only decides whom they apply to.
package provision

import (
	"context"
	"strings"

	"entgo.io/ent/dialect/sql"

	gen "latchkey/ent"
	"latchkey/ent/group"
	"latchkey/ent/predicate"
	"latchkey/ent/role"
	"latchkey/ent/scimmappingrule"
	"latchkey/ent/user"
	"latchkey/ent/usertype"
	"latchkey/internal/access"
	"latchkey/internal/problem"
)

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

// MembersAdded applies the rules of the group named groupName to users who joined
// it: each rule's user type is linked (SPEC §2.2) and each rule's role applied
// (SPEC §2.1).
func MembersAdded(ctx context.Context, c *gen.Client, groupName string, userIDs []int) error {
	userIDs = access.Unique(userIDs)
	if len(userIDs) == 0 {
		return nil
	}
	rules, err := RulesFor(ctx, c, groupName)
	if err != nil {
		return err
	}
	return apply(ctx, c, rules, userIDs, false)
}

// MembersRemoved keeps links in step when users leave the group groupID (named
// groupName): the types its rules link are unlinked from them, except where another
// group they are still in links the same type. Roles were copied and stay (SPEC §2.1).
// Call it before the group is renamed or deleted, or after the users left it.
func MembersRemoved(ctx context.Context, c *gen.Client, groupID int, groupName string, userIDs []int) error {
	userIDs = access.Unique(userIDs)
	if len(userIDs) == 0 {
		return nil
	}
	rules, err := RulesFor(ctx, c, groupName)
	if err != nil {
		return err
	}
	done := map[int]bool{}
	for _, r := range rules {
		if r.UserTypeID == nil || done[*r.UserTypeID] {
			continue
		}
		done[*r.UserTypeID] = true
		if err := unlinkUnlessKept(ctx, c, *r.UserTypeID, userIDs, groupID); err != nil {
			return err
		}
	}
	return nil
}

// Renamed keeps links in step when the group groupID is renamed from oldName to
// newName: the members lose the types only the old name's rules linked (unless
// another group links them) and get what the new name's rules give. Call it before
// or after the rename, with the group's members.
func Renamed(ctx context.Context, c *gen.Client, groupID int, oldName, newName string, members []int) error {
	if normName(oldName) == normName(newName) {
		return nil
	}
	oldRules, err := RulesFor(ctx, c, oldName)
	if err != nil {
		return err
	}
	newRules, err := RulesFor(ctx, c, newName)
	if err != nil {
		return err
	}
	stays := map[int]bool{}
	for _, r := range newRules {
		if r.UserTypeID != nil {
			stays[*r.UserTypeID] = true
		}
	}
	members = access.Unique(members)
	if len(members) == 0 {
		return nil
	}
	for _, r := range oldRules {
		if r.UserTypeID == nil || stays[*r.UserTypeID] {
			continue
		}
		stays[*r.UserTypeID] = true // once
		if err := unlinkUnlessKept(ctx, c, *r.UserTypeID, members, groupID); err != nil {
			return err
		}
	}
	return apply(ctx, c, newRules, members, false)
}

// HasRules reports whether any rule maps the group named name (so that callers can
// skip reading a group's members when no rule cares).
func HasRules(ctx context.Context, c *gen.Client, names ...string) (bool, error) {
	var ps []predicate.ScimMappingRule
	for _, n := range names {
		if n = strings.TrimSpace(n); n != "" {
			ps = append(ps, scimmappingrule.GroupNameEqualFold(n))
		}
	}
	if len(ps) == 0 {
		return false, nil
	}
	return c.ScimMappingRule.Query().Where(scimmappingrule.Or(ps...)).Exist(ctx)
}

// apply links the rules' types to users and applies their roles. With check, an
// empty selection still checks that the caller may grant what the rules give.
func apply(ctx context.Context, c *gen.Client, rules []*gen.ScimMappingRule, userIDs []int, check bool) error {
	if len(userIDs) == 0 && !check {
		return nil
	}
	sel := access.UserSelection{UserIDs: append([]int{}, userIDs...)}
	dry := len(userIDs) == 0 // a check only: nothing changes, nothing is recorded
	for _, r := range rules {
		if r.UserTypeID != nil {
			if _, err := access.LinkUserType(ctx, c, sel, *r.UserTypeID, dry); err != nil {
				return err
			}
		}
		if r.RoleID != nil {
			if _, err := access.ApplyRoleTo(ctx, c, sel, *r.RoleID, dry); err != nil {
				return err
			}
		}
	}
	return nil
}

// unlinkUnlessKept unlinks type typeID from users, except those who are members of a
// group (other than exceptGroup) that some rule maps to the same type.
func unlinkUnlessKept(ctx context.Context, c *gen.Client, typeID int, userIDs []int, exceptGroup int) error {
	names, err := c.ScimMappingRule.Query().Where(scimmappingrule.UserTypeID(typeID)).
		Select(scimmappingrule.FieldGroupName).Strings(ctx)
	if err != nil {
		return err
	}
	keep := map[int]bool{}
	if len(names) > 0 {
		groupP := []predicate.Group{nameIn(names)}
		if exceptGroup != 0 {
			groupP = append(groupP, group.IDNEQ(exceptGroup))
		}
		for chunk := range chunked(userIDs) {
			kept, err := c.User.Query().Where(user.IDIn(chunk...), user.HasGroupsWith(groupP...)).IDs(ctx)
			if err != nil {
				return err
			}
			for _, id := range kept {
				keep[id] = true
			}
		}
	}
	var unlink []int
	for _, id := range userIDs {
		if !keep[id] {
			unlink = append(unlink, id)
		}
	}
	if len(unlink) == 0 {
		return nil
	}
	_, err = access.UnlinkUserType(ctx, c, access.UserSelection{UserIDs: unlink}, typeID, false)
	return err
}

// nameIn matches groups whose name is one of names, case-insensitively.
func nameIn(names []string) predicate.Group {
	args := make([]any, 0, len(names))
	seen := map[string]bool{}
	for _, n := range names {
		if n = normName(n); !seen[n] {
			seen[n] = true
			args = append(args, n)
		}
	}
	return func(s *sql.Selector) {
		s.Where(sql.P(func(b *sql.Builder) {
			b.WriteString("LOWER(").Ident(s.C(group.FieldName)).WriteString(") IN (").Args(args...).WriteString(")")
		}))
	}
}

const chunkSize = 500

func chunked(ids []int) func(func([]int) bool) {
	return func(yield func([]int) bool) {
		for len(ids) > 0 {
			n := min(chunkSize, len(ids))
			if !yield(ids[:n]) {
				return
			}
			ids = ids[n:]
		}
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
	members, err := c.User.Query().Where(user.HasGroupsWith(nameIn([]string{name}))).IDs(ctx)
	if err != nil {
		return nil, err
	}
	if err := apply(ctx, c, []*gen.ScimMappingRule{rule}, members, true); err != nil {
		return nil, err
	}
	return rule, nil
}

// DeleteRule removes a mapping rule. The type it linked is unlinked from the
// members of its group unless another rule still links it to them; roles it applied
// were copied and stay.
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
	members, err := c.User.Query().Where(user.HasGroupsWith(nameIn([]string{rule.GroupName}))).IDs(ctx)
	if err != nil || len(members) == 0 {
		return err
	}
	return unlinkUnlessKept(ctx, c, *rule.UserTypeID, members, 0)
}
