package access

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"time"

	entsql "entgo.io/ent/dialect/sql"

	gen "latchkey/ent"
	"latchkey/ent/predicate"
	"latchkey/ent/right"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/ent/usergrant"
	"latchkey/ent/userrolecopy"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// A right copied from a role (SPEC §2.1) is a direct grant with source ROLE. It is
// stored in one of two ways, and every reader of direct grants reads both:
//   - a user_grants row, as every other direct grant (what a revocation leaves of a
//     copy, and what earlier versions wrote);
//   - a role copy: one RoleCopy per application (the role's rights at the time, who,
//     when) and one UserRoleCopy row per user it was applied to. Applying a role of
//     10 rights to 20,000 users writes 20,000 rows instead of 200,000.
// Where a user holds the same right from the same role more than once, the
// earliest copy is the path, as a unique user_grants row would keep it.

// copyHoldersSQL lists the users holding right ? through a role copy (a user_id
// column), for the UNIONs that find a right's holders from its side. Asked as IN,
// SQLite reads the few copies holding the right first and then their users (3.5×
// faster at 100k users than the join it chose, which scanned every user's copies).
const copyHoldersSQL = `SELECT uc.user_id FROM user_role_copies uc
	WHERE uc.role_copy_id IN (SELECT cr.role_copy_id FROM role_copy_rights cr WHERE cr.right_id = ?)`

// A copied right's id names the user's copy row and the right, each by its place
// in its table's range of ids (ent's universal ids, 1<<32 a table): it stays the
// same while both exist, whatever else the copy loses (a right deleted from the
// catalogue). Negative, so it never names a row: minus one, minus the copy row's
// place shifted left by copiedRightBits, minus the right's place.
const copiedRightBits = 31

var userCopyIDStart, rightIDStart = idRangeStart(userrolecopy.Table), idRangeStart(right.Table)

func idRangeStart(table string) int {
	start, ok := gen.IDRangeStart(table)
	if !ok {
		panic("access: no id range for table " + table)
	}
	return start
}

// copiedGrantID is the id the right a user holds through a role copy row is
// listed with.
func copiedGrantID(userCopyID, rightID int) (int, error) {
	c, r := userCopyID-userCopyIDStart, rightID-rightIDStart
	if c < 0 || c >= 1<<32 || r < 0 || r >= 1<<copiedRightBits || (c == 1<<32-1 && r == 1<<copiedRightBits-1) {
		return 0, fmt.Errorf("access: no copied grant id for copy %d and right %d", userCopyID, rightID)
	}
	return -(c<<copiedRightBits | r) - 1, nil
}

// splitCopiedGrantID returns the copy row and the right a copiedGrantID names.
func splitCopiedGrantID(id int) (userCopyID, rightID int) {
	v := -(id + 1)
	return userCopyIDStart + v>>copiedRightBits, rightIDStart + v&(1<<copiedRightBits-1)
}

// copiedGrantsByID returns the rights copied from roles that ids name (ids
// copiedGrantID made), by id, with their users, granters and rights loaded: five
// statements however many ids. An id that names nothing the caller may see is
// left out.
func copiedGrantsByID(ctx context.Context, c *gen.Client, ids []int) (map[int]*gen.UserGrant, error) {
	want := make(map[int]bool, len(ids))
	copyIDs := make([]int, 0, len(ids))
	for _, id := range ids {
		want[id] = true
		userCopyID, _ := splitCopiedGrantID(id)
		copyIDs = append(copyIDs, userCopyID)
	}
	userIDs, err := c.UserRoleCopy.Query().Where(userrolecopy.IDIn(copyIDs...)).Unique(true).
		Select(userrolecopy.FieldUserID).Ints(ctx)
	if err != nil || len(userIDs) == 0 {
		return nil, err
	}
	users, err := c.User.Query().Where(user.IDIn(userIDs...)).All(ctx)
	if err != nil {
		return nil, err
	}
	copied, err := copiedGrants(ctx, c, users, true, true)
	if err != nil {
		return nil, err
	}
	out := make(map[int]*gen.UserGrant, len(ids))
	for _, grants := range copied {
		for _, g := range grants {
			if want[g.ID] {
				out[g.ID] = g
			}
		}
	}
	return out, nil
}

// Noder resolves node(id): a copied right by its own id, every other record by ent.
func Noder(ctx context.Context, c *gen.Client, id int) (gen.Noder, error) {
	if !isCopiedGrantID(id) {
		return c.Noder(ctx, id)
	}
	nodes, errs := Noders(ctx, c, []int{id})
	return nodes[0], errs[0]
}

// Noders resolves nodes(ids): stored records by ent, a table's in one statement,
// and rights copied from roles together. Per id it returns the node, or the error
// that left it nil (not found where the caller may not see it).
func Noders(ctx context.Context, c *gen.Client, ids []int) ([]gen.Noder, []error) {
	nodes, errs := make([]gen.Noder, len(ids)), make([]error, len(ids))
	var stored, copied []int
	for _, id := range ids {
		if isCopiedGrantID(id) {
			copied = append(copied, id)
		} else {
			stored = append(stored, id)
		}
	}
	var storedNodes []gen.Noder
	var storedErrs []error
	if len(stored) > 0 {
		storedNodes, storedErrs = c.NodesOf(ctx, stored)
	}
	var found map[int]*gen.UserGrant
	var copiedErr error
	if len(copied) > 0 {
		found, copiedErr = copiedGrantsByID(ctx, c, copied)
	}
	next := 0 // the place of ids[i] among the stored ones
	for i, id := range ids {
		switch g := found[id]; {
		case !isCopiedGrantID(id):
			nodes[i], errs[i] = storedNodes[next], storedErrs[next]
			next++
		case copiedErr != nil:
			errs[i] = copiedErr
		case g == nil:
			errs[i] = gen.NotFound(usergrant.Label)
		default:
			nodes[i] = g
		}
	}
	return nodes, errs
}

// isCopiedGrantID reports whether id names a right copied from a role.
func isCopiedGrantID(id int) bool { return id < 0 }

// copiedGrants returns the rights the users hold through role copies, per user id,
// as grants with source ROLE, their user edge set. With granters, their granter
// is loaded too; with rights, their right as well, and no other edge is looked up
// (one statement each, through the privacy rules): the listing needs both, a
// holder loads its rights itself and its granters only with details.
func copiedGrants(ctx context.Context, c *gen.Client, users []*gen.User, granters, rights bool) (map[int][]*gen.UserGrant, error) {
	if len(users) == 0 {
		return nil, nil
	}
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, problem.New(problem.Unauthenticated, "", "no caller")
	}
	byID := make(map[int]*gen.User, len(users))
	ids := make([]int, len(users))
	for i, u := range users {
		byID[u.ID], ids[i] = u, u.ID
	}
	out := map[int][]*gen.UserGrant{}
	var all []*gen.UserGrant
	for _, chunk := range chunks(ids) {
		in, args := idList(c.Dialect(), chunk)
		// One statement for every copy of every user: raw SQL, so limited to the
		// caller's account here; the users were read through the privacy rules.
		rows, err := c.QueryContext(ctx, `SELECT uc.id, uc.user_id, c.role_id, c.role_name, c.granted_by_id, c.granted_at, cr.right_id
			FROM user_role_copies uc JOIN role_copies c ON c.id = uc.role_copy_id
				JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.account_id = ? AND uc.user_id IN `+in+` ORDER BY uc.id, cr.right_id`, append([]any{v.AccountID}, args...)...)
		if err != nil {
			return nil, err
		}
		for rows.Next() {
			var userCopy, userID, roleID, rightID int
			var roleName string
			var grantedBy sql.NullInt64
			var grantedAt time.Time
			if err := rows.Scan(&userCopy, &userID, &roleID, &roleName, &grantedBy, &grantedAt, &rightID); err != nil {
				rows.Close()
				return nil, err
			}
			id, err := copiedGrantID(userCopy, rightID)
			if err != nil {
				rows.Close()
				return nil, err
			}
			g := &gen.UserGrant{ID: id, AccountID: v.AccountID, UserID: userID,
				Kind: enums.GrantAppRight, RightID: &rightID, GrantKey: Grant{Kind: enums.GrantAppRight, RightID: rightID}.Key(),
				Source: enums.SourceRole, SourceRoleID: &roleID, SourceRoleName: roleName,
				SourceKey: fmt.Sprintf("ROLE:%d", roleID), GrantedAt: grantedAt}
			if grantedBy.Valid {
				id := int(grantedBy.Int64)
				g.GrantedByID = &id
			}
			g.Edges.User = byID[userID]
			out[userID] = append(out[userID], g)
			all = append(all, g)
		}
		if err := rows.Close(); err != nil {
			return nil, err
		}
	}
	if (granters || rights) && len(all) > 0 {
		if err := loadCopiedEdges(ctx, c, all, granters, rights); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// loadCopiedEdges loads the granters and the rights of copied grants, as asked.
// With both their edges are complete, so no resolver looks up an edge by an id no
// row has.
func loadCopiedEdges(ctx context.Context, c *gen.Client, grants []*gen.UserGrant, withGranters, rights bool) error {
	var rightIDs, granters []int
	for _, g := range grants {
		rightIDs = append(rightIDs, *g.RightID)
		if g.GrantedByID != nil && withGranters {
			granters = append(granters, *g.GrantedByID)
		}
	}
	rightByID := map[int]*gen.Right{}
	if rights {
		rs, err := c.Right.Query().Where(right.IDIn(Unique(rightIDs)...)).All(ctx)
		if err != nil {
			return err
		}
		for _, r := range rs {
			rightByID[r.ID] = r
		}
	}
	userByID := map[int]*gen.User{}
	if len(granters) > 0 {
		us, err := c.User.Query().Where(user.IDIn(Unique(granters)...)).All(ctx)
		if err != nil {
			return err
		}
		for _, u := range us {
			userByID[u.ID] = u
		}
	}
	for _, g := range grants {
		if g.GrantedByID != nil && withGranters {
			g.Edges.GrantedBy = userByID[*g.GrantedByID]
		}
		if rights {
			g.Edges.Right = rightByID[*g.RightID]
		}
		if rights && withGranters {
			g.EdgesComplete()
		}
	}
	return nil
}

// withCopies returns a user's stored grants followed by their copied ones, one
// per path (grant key and source): the earliest where a path is held twice.
func withCopies(stored, copied []*gen.UserGrant) []*gen.UserGrant {
	if len(copied) == 0 {
		return stored
	}
	type path struct{ key, source string }
	at := make(map[path]int, len(stored)+len(copied))
	out := make([]*gen.UserGrant, 0, len(stored)+len(copied))
	for _, g := range slices.Concat(stored, copied) {
		p := path{g.GrantKey, g.SourceKey}
		if i, ok := at[p]; ok {
			if g.GrantedAt.Before(out[i].GrantedAt) {
				out[i] = g
			}
			continue
		}
		at[p] = len(out)
		out = append(out, g)
	}
	return out
}

// WithCopiedGrants completes u's stored grants (user_grants rows) with the rights
// copied to u from roles: User.grants, one per path.
func WithCopiedGrants(ctx context.Context, c *gen.Client, u *gen.User, stored []*gen.UserGrant) ([]*gen.UserGrant, error) {
	copied, err := copiedGrants(ctx, c, []*gen.User{u}, true, true)
	if err != nil {
		return nil, err
	}
	return withCopies(stored, copied[u.ID]), nil
}

// copiesWithRights is an SQL condition on a role copy id column: the copy holds
// one of the rights.
func copiesWithRights(column string, rightIDs []int) (string, []any) {
	in, args := inList(rightIDs)
	return column + ` IN (SELECT cr.role_copy_id FROM role_copy_rights cr WHERE cr.right_id IN ` + in + `)`, args
}

// holdsCopyOf is true for users holding one of the rights through a role copy.
func holdsCopyOf(rightIDs []int) predicate.User {
	return func(s *entsql.Selector) {
		cond, args := copiesWithRights("uc.role_copy_id", rightIDs)
		s.Where(existsFor(s, `SELECT 1 FROM user_role_copies uc WHERE uc.user_id = %[1]s AND `+cond, args...))
	}
}

// holdsCopyFrom is true for users holding the right through a copy of the role.
func holdsCopyFrom(roleID, rightID int) predicate.User {
	return func(s *entsql.Selector) {
		s.Where(existsFor(s, `SELECT 1 FROM user_role_copies uc JOIN role_copies c ON c.id = uc.role_copy_id
			JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.user_id = %[1]s AND c.role_id = ? AND cr.right_id = ?`, roleID, rightID))
	}
}
