package access

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strings"
	"time"

	"entgo.io/ent/dialect"

	gen "latchkey/ent"
	"latchkey/ent/predicate"
	"latchkey/ent/user"
	"latchkey/internal/problem"
	"latchkey/internal/viewer"
)

// Bulk changes are set-based SQL (INSERT … SELECT, DELETE … WHERE, UPDATE … WHERE)
// over chunks of user ids, run on the caller's transaction: a selection of tens of
// thousands of users costs a handful of statements, not one per user. Every
// statement is limited to the caller's account explicitly, because raw SQL does not
// pass through the ent privacy rules.

// UserSelection is a set of users: a list of ids, or a filter ("all N users").
type UserSelection struct {
	UserIDs []int
	Where   *gen.UserWhereInput
	// field names the ids in errors (default "selection.userIds").
	field string
}

// Named returns s reporting errors about its ids as field.
func (s UserSelection) Named(field string) UserSelection {
	s.field = field
	return s
}

// Resolve returns the selected users' ids (sorted), as the caller sees them.
// Unknown ids fail the whole selection.
func (s UserSelection) Resolve(ctx context.Context, c *gen.Client) ([]int, error) {
	if (s.UserIDs == nil) == (s.Where == nil) {
		return nil, problem.BadInput("selection", "give either userIds or where")
	}
	var ids []int
	if s.UserIDs != nil {
		want := Unique(s.UserIDs)
		field := s.field
		if field == "" {
			field = "selection.userIds"
		}
		if err := RequireAll(ctx, c, gen.TypeUser, want, field, "users"); err != nil {
			return nil, err
		}
		ids = want
	} else {
		p, err := s.Where.P()
		if err != nil && err != gen.ErrEmptyUserWhereInput {
			return nil, problem.BadInput("selection.where", "%v", err)
		}
		q := c.User.Query()
		if p != nil {
			q.Where(p)
		}
		if ids, err = q.IDs(ctx); err != nil {
			return nil, err
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// sqlSet writes hand-written statements for one dialect.
type sqlSet struct {
	c         *gen.Client
	dialect   string
	accountID int
}

func newSQLSet(ctx context.Context, c *gen.Client) (*sqlSet, error) {
	v := viewer.FromContext(ctx)
	if v == nil {
		return nil, problem.New(problem.Unauthenticated, "", "no caller")
	}
	return &sqlSet{c: c, dialect: c.Dialect(), accountID: v.AccountID}, nil
}

// insertIgnoring returns "INSERT INTO table (cols) <selectSQL>" that skips rows whose
// key already exists. selectSQL must have a WHERE clause.
func (s *sqlSet) insertIgnoring(table, cols, selectSQL, keyCol string) string {
	if s.dialect == dialect.MySQL {
		return fmt.Sprintf("INSERT INTO %s (%s) %s ON DUPLICATE KEY UPDATE %s = %s.%s", table, cols, selectSQL, keyCol, table, keyCol)
	}
	return fmt.Sprintf("INSERT INTO %s (%s) %s ON CONFLICT DO NOTHING", table, cols, selectSQL)
}

// concat is SQL string concatenation.
func (s *sqlSet) concat(parts ...string) string {
	if s.dialect == dialect.MySQL {
		return "CONCAT(" + strings.Join(parts, ", ") + ")"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

// exec runs stmt once per chunk of users; stmt has one %s for the "(?, …)" list,
// and args are placed before (pre) and after (post) the ids.
func (s *sqlSet) exec(ctx context.Context, users []int, stmt string, pre, post []any) (int64, error) {
	var total int64
	for chunk := range slices.Chunk(users, chunkSize) {
		in, ids := idList(s.dialect, chunk)
		args := append(append(slices.Clone(pre), ids...), post...)
		res, err := s.c.ExecContext(ctx, fmt.Sprintf(stmt, in), args...)
		if err != nil {
			return total, err
		}
		n, _ := res.RowsAffected()
		total += n
	}
	return total, nil
}

// grantRow is one grant to add to every selected user.
type grantRow struct {
	grant     Grant
	source    string // MANUAL, ROLE, CSV, SCIM
	sourceKey string
	roleID    *int
	roleName  string
}

const grantColumns = `account_id, user_id, kind, right_id, data_set_id, node_id, all_data_sets, org_unit_id, dashboard_id, group_id,
	grant_key, source, source_role_id, source_role_name, source_key, granted_by_id, granted_at`

// addGrants gives every user the rows they do not hold yet by the same path.
func (s *sqlSet) addGrants(ctx context.Context, users []int, rows []grantRow, grantedBy int, at time.Time) error {
	for _, r := range rows {
		g := r.grant
		sel := `SELECT ?, u.id, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? FROM users u WHERE u.account_id = ? AND u.id IN %s`
		stmt := s.insertIgnoring("user_grants", grantColumns, sel, "user_id")
		pre := []any{s.accountID, string(g.Kind), nullID(g.RightID), nullID(g.DataSetID), nullID(g.NodeID), g.AllDataSets,
			nullID(g.OrgUnitID), nullID(g.DashboardID), nullID(g.GroupID), g.Key(), r.source, r.roleID, nullString(r.roleName),
			r.sourceKey, nullID(grantedBy), at, s.accountID}
		if _, err := s.exec(ctx, users, stmt, pre, nil); err != nil {
			return err
		}
	}
	return nil
}

// copyRoleRights copies role's current rights to the users and records that they
// have the role (SPEC §2.1): one role copy (the rights as they are now, who, when)
// and a row per user pointing at it. Paths the users already hold keep their
// dates: readers take the earliest copy of a right from a role (withCopies).
func (s *sqlSet) copyRoleRights(ctx context.Context, users []int, r *gen.Role, grantedBy int, at time.Time) error {
	res, err := s.c.ExecContext(ctx, `INSERT INTO role_copies (account_id, role_id, role_name, granted_by_id, granted_at) VALUES (?, ?, ?, ?, ?)`,
		s.accountID, r.ID, r.Name, nullID(grantedBy), at)
	if err != nil {
		return err
	}
	copyID, err := res.LastInsertId()
	if err != nil {
		return err
	}
	if _, err := s.c.ExecContext(ctx, `INSERT INTO role_copy_rights (role_copy_id, right_id) SELECT ?, rr.right_id FROM role_rights rr WHERE rr.role_id = ?`,
		copyID, r.ID); err != nil {
		return err
	}
	// A user holding an earlier copy of the role with all of this one's rights gets
	// nothing from it: re-applying a role to its holders stores no row.
	var covering []any
	if err := scanPairs(ctx, s.c, `SELECT c.id, c.id FROM role_copies c WHERE c.account_id = ? AND c.role_id = ? AND c.id <> ?
			AND NOT EXISTS (SELECT 1 FROM role_copy_rights n WHERE n.role_copy_id = ? AND NOT EXISTS (
				SELECT 1 FROM role_copy_rights h WHERE h.role_copy_id = c.id AND h.right_id = n.right_id))`,
		[]any{s.accountID, r.ID, copyID, copyID}, func(id, _ int64, _ sql.NullInt64) { covering = append(covering, id) }); err != nil {
		return err
	}
	sel := `SELECT ?, u.id, ? FROM users u WHERE u.account_id = ? AND u.id IN %s`
	if len(covering) > 0 {
		sel += ` AND NOT EXISTS (SELECT 1 FROM user_role_copies uc WHERE uc.user_id = u.id AND uc.role_copy_id IN (` +
			placeholders(len(covering)) + `))`
	}
	copies := s.insertIgnoring("user_role_copies", "account_id, user_id, role_copy_id", sel, "user_id")
	reached, err := s.exec(ctx, users, copies, []any{s.accountID, copyID, s.accountID}, covering)
	if err != nil {
		return err
	}
	if reached == 0 { // every user held it already: the copy would be held by none
		if err := s.dropUnheldCopies(ctx, []int{int(copyID)}); err != nil {
			return err
		}
	}
	return s.link(ctx, users, "user_roles", "role_id", r.ID)
}

// heldCopies returns the role copies the users hold, or (with a condition on
// role_copy_id and its arguments) those of them it selects: a plain read, so it
// locks nothing.
func (s *sqlSet) heldCopies(ctx context.Context, users []int, cond string, condArgs []any) ([]int, error) {
	if cond != "" {
		cond = " AND " + cond
	}
	seen := map[int]bool{}
	var out []int
	for _, chunk := range chunks(users) {
		in, args := idList(s.dialect, chunk)
		err := scanPairs(ctx, s.c, `SELECT DISTINCT role_copy_id, 0 FROM user_role_copies WHERE account_id = ? AND user_id IN `+in+cond,
			append(append([]any{s.accountID}, args...), condArgs...), func(id, _ int64, _ sql.NullInt64) {
				if !seen[int(id)] {
					seen[int(id)] = true
					out = append(out, int(id))
				}
			})
		if err != nil {
			return nil, err
		}
	}
	return out, nil
}

// dropUnheldCopies deletes those of the role copies no user holds any more, with
// their rights: a copy is read only through the users holding it, and an unheld
// one would only lengthen every later application's search for covering copies.
// Given by id (heldCopies, read before the users let go), so the statement locks
// those copies and the entries it probes, not every copy of the account.
func (s *sqlSet) dropUnheldCopies(ctx context.Context, copyIDs []int) error {
	for _, chunk := range chunks(copyIDs) {
		in, args := idList(s.dialect, chunk)
		if _, err := s.c.ExecContext(ctx, `DELETE FROM role_copies WHERE account_id = ? AND id IN `+in+`
			AND NOT EXISTS (SELECT 1 FROM user_role_copies uc WHERE uc.role_copy_id = role_copies.id)`,
			append([]any{s.accountID}, args...)...); err != nil {
			return err
		}
	}
	return nil
}

// removeGrants deletes the users' direct grants with the given keys, by every source.
// A role copy holding one of the rights is turned back into user_grants rows for
// each user it is taken from, less the rights revoked: the user keeps the copy's
// other rights, with their source and date.
func (s *sqlSet) removeGrants(ctx context.Context, users []int, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	var rightIDs []int
	for _, k := range keys {
		if id, _ := parseKey(k); id != 0 && strings.HasPrefix(k, "R:") {
			rightIDs = append(rightIDs, id)
		}
	}
	if len(rightIDs) > 0 {
		copies, cargs := copiesWithRights("uc.role_copy_id", rightIDs)
		rin, rargs := inList(rightIDs)
		sel := `SELECT ?, uc.user_id, 'APP_RIGHT', cr.right_id, NULL, NULL, ?, NULL, NULL, NULL, ` + s.concat("'R:'", "cr.right_id") + `,
				'ROLE', c.role_id, c.role_name, ` + s.concat("'ROLE:'", "c.role_id") + `, c.granted_by_id, c.granted_at
			FROM user_role_copies uc JOIN role_copies c ON c.id = uc.role_copy_id
				JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.account_id = ? AND uc.user_id IN %s AND ` + copies + ` AND cr.right_id NOT IN ` + rin
		pre := []any{s.accountID, false, s.accountID}
		if _, err := s.exec(ctx, users, s.insertKeepingEarliest(sel), pre, append(slices.Clone(cargs), rargs...)); err != nil {
			return err
		}
		gone, _ := copiesWithRights("role_copy_id", rightIDs)
		left, err := s.heldCopies(ctx, users, gone, cargs)
		if err != nil {
			return err
		}
		if _, err := s.exec(ctx, users, `DELETE FROM user_role_copies WHERE account_id = ? AND user_id IN %s AND `+gone,
			[]any{s.accountID}, cargs); err != nil {
			return err
		}
		if err := s.dropUnheldCopies(ctx, left); err != nil {
			return err
		}
	}
	kin, kargs := stringList(keys)
	_, err := s.exec(ctx, users, `DELETE FROM user_grants WHERE account_id = ? AND user_id IN %s AND grant_key IN `+kin,
		[]any{s.accountID}, kargs)
	return err
}

// insertKeepingEarliest is "INSERT INTO user_grants … <selectSQL>" where a path the
// user holds already keeps the earlier of the two dates, and its granter.
func (s *sqlSet) insertKeepingEarliest(selectSQL string) string {
	if s.dialect == dialect.MySQL {
		// MySQL assigns left to right, so the granter is decided before the date.
		return `INSERT INTO user_grants (` + grantColumns + `) ` + selectSQL + ` ON DUPLICATE KEY UPDATE
			user_grants.granted_by_id = IF(VALUES(granted_at) < user_grants.granted_at, VALUES(granted_by_id), user_grants.granted_by_id),
			user_grants.granted_at = LEAST(user_grants.granted_at, VALUES(granted_at))`
	}
	return `INSERT INTO user_grants (` + grantColumns + `) ` + selectSQL + ` ON CONFLICT (user_id, grant_key, source_key) DO UPDATE SET
		granted_by_id = CASE WHEN excluded.granted_at < user_grants.granted_at THEN excluded.granted_by_id ELSE user_grants.granted_by_id END,
		granted_at = MIN(user_grants.granted_at, excluded.granted_at)`
}

// link adds (user, other) rows to a join table, skipping existing ones.
func (s *sqlSet) link(ctx context.Context, users []int, table, otherCol string, other int) error {
	stmt := s.insertIgnoring(table, "user_id, "+otherCol, `SELECT u.id, ? FROM users u WHERE u.account_id = ? AND u.id IN %s`, "user_id")
	_, err := s.exec(ctx, users, stmt, []any{other, s.accountID}, nil)
	return err
}

// unlink deletes (user, other) rows from a join table. The other id was checked to be
// the caller's, so the rows are too.
func (s *sqlSet) unlink(ctx context.Context, users []int, table, otherCol string, other int) error {
	_, err := s.exec(ctx, users, "DELETE FROM "+table+" WHERE "+otherCol+" = ? AND user_id IN %s", []any{other}, nil)
	return err
}

// setFlag sets a boolean column of the users.
func (s *sqlSet) setFlag(ctx context.Context, users []int, column string, value bool, at time.Time) error {
	_, err := s.exec(ctx, users, "UPDATE users SET "+column+" = ?, updated_at = ? WHERE account_id = ? AND id IN %s",
		[]any{value, at, s.accountID}, nil)
	return err
}

func nullID(id int) any {
	if id == 0 {
		return nil
	}
	return id
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

func stringList(values []string) (string, []any) {
	args := make([]any, len(values))
	for i, v := range values {
		args[i] = v
	}
	return "(" + placeholders(len(values)) + ")", args
}

// usersWhere is a user predicate limited to ids (for counting what a change touches).
func usersWhere(ids []int, p ...predicate.User) predicate.User {
	return user.And(append([]predicate.User{idsIn(user.FieldID, ids)}, p...)...)
}
