package access

import (
	"context"
	"database/sql"
	"slices"
	"strings"

	"golang.org/x/sync/errgroup"

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

// Summarize answers bulkSummary for a selection, set-wise: a few statements per chunk
// of users that stream plain id rows, counted in Go, however many users and grants
// there are.
func Summarize(ctx context.Context, c *gen.Client, sel UserSelection) (*Summary, error) {
	users, err := sel.Resolve(ctx, c)
	if err != nil {
		return nil, err
	}
	// Rights are counted from the users' holdings, computed as for an impact; roles
	// and types beside them when c is the pool (see readers).
	var h *holdings
	var roles, types map[int]int
	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(readers(ctx, c))
	g.Go(func() (err error) {
		h, err = snapshot(gctx, c, users, reach{allRights: true})
		return err
	})
	g.Go(func() (err error) {
		roles, types, err = countRolesAndTypes(gctx, c, users)
		return err
	})
	if err := g.Wait(); err != nil {
		return nil, err
	}
	direct, effective := h.count(h.direct), h.count(h.effective)
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

// countRolesAndTypes counts, per role, the users holding it directly or through a
// linked type (SPEC §2.7), and per type the users linked to it. A user holding a role
// by several paths counts once.
func countRolesAndTypes(ctx context.Context, c *gen.Client, users []int) (roles, types map[int]int, err error) {
	typeRoles := map[int][]int{}
	ts, err := c.UserType.Query().WithRoles(func(q *gen.RoleQuery) { q.Select(role.FieldID) }).All(ctx)
	if err != nil {
		return nil, nil, err
	}
	for _, t := range ts {
		for _, r := range t.Edges.Roles {
			typeRoles[t.ID] = append(typeRoles[t.ID], r.ID)
		}
	}
	roles, types = map[int]int{}, map[int]int{}
	for chunk := range slices.Chunk(users, chunkSize) {
		in, args := idList(c.Dialect(), chunk)
		held := map[int][]int{} // user → roles, by any path
		if err := scanPairs(ctx, c, `SELECT ur.user_id, ur.role_id FROM user_roles ur WHERE ur.user_id IN `+in, args,
			func(u, r int64, _ sql.NullInt64) { held[int(u)] = append(held[int(u)], int(r)) }); err != nil {
			return nil, nil, err
		}
		if err := scanPairs(ctx, c, `SELECT l.user_id, l.user_type_id FROM user_type_links l WHERE l.user_id IN `+in, args,
			func(u, t int64, _ sql.NullInt64) {
				types[int(t)]++
				held[int(u)] = append(held[int(u)], typeRoles[int(t)]...)
			}); err != nil {
			return nil, nil, err
		}
		for _, rs := range held {
			slices.Sort(rs)
			for _, r := range slices.Compact(rs) {
				roles[r]++
			}
		}
	}
	return roles, types, nil
}
