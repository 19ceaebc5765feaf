package access

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/usertype"
)

// Summary is bulkSummary (SPEC §3): how many users are selected and, for every right,
// role and type, how many of them hold it.
type Summary struct {
	Count     int
	Rights    []RightCount
	Roles     []RoleCount
	UserTypes []UserTypeCount
}

// RightCount counts the selected users holding a right directly (a direct grant of
// the application right or a company-specific right, by any source) and effectively
// (by any path, not masked).
type RightCount struct {
	Right             *gen.Right
	Direct, Effective int
}

// RoleCount counts the selected users holding a role, directly or through a type.
type RoleCount struct {
	Role  *gen.Role
	Count int
}

// UserTypeCount counts the selected users linked to a type.
type UserTypeCount struct {
	UserType *gen.UserType
	Count    int
}

// Summarize answers bulkSummary for a selection, set-wise: a few grouped statements
// per chunk of users, however many users and grants there are.
func Summarize(ctx context.Context, c *gen.Client, sel UserSelection) (*Summary, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	direct, effective, roles, types := map[int]int{}, map[int]int{}, map[int]int{}, map[int]int{}
	add := func(into map[int]int) func(a, b int64, _ sql.NullInt64) {
		return func(a, b int64, _ sql.NullInt64) { into[int(a)] += int(b) }
	}
	// Users are split among chunks, so per-chunk distinct counts add up.
	for chunk := range slices.Chunk(users, chunkSize) {
		in, args := inList(chunk)
		queries := []struct {
			sql  string
			args []any
			into map[int]int
		}{
			{`SELECT g.right_id, COUNT(DISTINCT g.user_id) FROM user_grants g
				WHERE g.user_id IN ` + in + ` AND g.kind IN ('APP_RIGHT', 'COMPANY_RIGHT') GROUP BY g.right_id`, args, direct},
			{`SELECT x.role_id, COUNT(DISTINCT x.user_id) FROM (
					SELECT ur.user_id, ur.role_id FROM user_roles ur WHERE ur.user_id IN ` + in + `
					UNION ALL
					SELECT l.user_id, tr.role_id FROM user_type_links l JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
						WHERE l.user_id IN ` + in + `
				) x GROUP BY x.role_id`, append(slices.Clone(args), args...), roles},
			{`SELECT l.user_type_id, COUNT(*) FROM user_type_links l WHERE l.user_id IN ` + in + ` GROUP BY l.user_type_id`, args, types},
		}
		eff, eargs := effectiveRightsSQL(in, args, nil)
		queries = append(queries, struct {
			sql  string
			args []any
			into map[int]int
		}{`SELECT e.right_id, COUNT(*) FROM (` + eff + `) e GROUP BY e.right_id`, eargs, effective})
		for _, q := range queries {
			if err := scanPairs(ctx, c, q.sql, q.args, add(q.into)); err != nil {
				return nil, err
			}
		}
	}
	s := &Summary{Count: len(users)}
	rights, err := c.Right.Query().Order(right.ByKey()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range rights {
		s.Rights = append(s.Rights, RightCount{Right: r, Direct: direct[r.ID], Effective: effective[r.ID]})
	}
	allRoles, err := c.Role.Query().Order(role.ByName()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, r := range allRoles {
		s.Roles = append(s.Roles, RoleCount{Role: r, Count: roles[r.ID]})
	}
	allTypes, err := c.UserType.Query().Order(usertype.ByName()).All(ctx)
	if err != nil {
		return nil, err
	}
	for _, t := range allTypes {
		s.UserTypes = append(s.UserTypes, UserTypeCount{UserType: t, Count: types[t.ID]})
	}
	slices.SortStableFunc(s.Rights, func(a, b RightCount) int { return strings.Compare(a.Right.Key, b.Right.Key) })
	return s, nil
}
