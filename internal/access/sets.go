package access

import (
	"context"
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
		in, ids := inList(chunk)
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

// copyRoleRights copies role's current rights to the users as ROLE grants and
// records that they have the role (SPEC §2.1); existing paths are kept as they are.
func (s *sqlSet) copyRoleRights(ctx context.Context, users []int, r *gen.Role, grantedBy int, at time.Time) error {
	sourceKey := fmt.Sprintf("ROLE:%d", r.ID)
	sel := `SELECT ?, u.id, 'APP_RIGHT', rr.right_id, NULL, NULL, ?, NULL, NULL, NULL, ` + s.concat("'R:'", "rr.right_id") + `,
			'ROLE', ?, ?, ?, ?, ? FROM users u JOIN role_rights rr ON rr.role_id = ? WHERE u.account_id = ? AND u.id IN %s`
	stmt := s.insertIgnoring("user_grants", grantColumns, sel, "user_id")
	pre := []any{s.accountID, false, r.ID, r.Name, sourceKey, nullID(grantedBy), at, r.ID, s.accountID}
	if _, err := s.exec(ctx, users, stmt, pre, nil); err != nil {
		return err
	}
	link := s.insertIgnoring("user_roles", "user_id, role_id", `SELECT u.id, ? FROM users u WHERE u.account_id = ? AND u.id IN %s`, "user_id")
	_, err := s.exec(ctx, users, link, []any{r.ID, s.accountID}, nil)
	return err
}

// removeGrants deletes the users' direct grants with the given keys, by every source.
func (s *sqlSet) removeGrants(ctx context.Context, users []int, keys []string) error {
	if len(keys) == 0 {
		return nil
	}
	kin, kargs := stringList(keys)
	_, err := s.exec(ctx, users, `DELETE FROM user_grants WHERE account_id = ? AND user_id IN %s AND grant_key IN `+kin,
		[]any{s.accountID}, kargs)
	return err
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
	return user.And(append([]predicate.User{user.IDIn(ids...)}, p...)...)
}
