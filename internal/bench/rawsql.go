package bench

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"strings"
)

// The hand-written SQL the read operations are compared with: one statement per
// operation that computes the operation's answer straight from the tables, by the
// rules of internal/access (predicates.go, effective.go, summary.go). Every statement
// is plain SQL that SQLite and MySQL 8 / MariaDB both run (CTEs, window functions,
// backquoted names).

// rawDB runs the statements on the server's database, inside one account.
type rawDB struct {
	db        *sql.DB
	accountID int
}

// query runs a statement and reads every row, as a client would.
func (q *rawDB) query(ctx context.Context, stmt string, args ...any) ([][]any, error) {
	rows, err := q.db.QueryContext(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out [][]any
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		if err := rows.Scan(ptrs...); err != nil {
			return nil, err
		}
		out = append(out, vals)
	}
	return out, rows.Err()
}

// asInt reads an integer column whatever the driver made of it.
func asInt(v any) int {
	switch x := v.(type) {
	case int64:
		return int(x)
	case int32:
		return int(x)
	case int:
		return x
	case uint64:
		return int(x)
	case float64:
		return int(x)
	case bool:
		if x {
			return 1
		}
		return 0
	case []byte:
		n, _ := strconv.Atoi(string(x))
		return n
	case string:
		n, _ := strconv.Atoi(x)
		return n
	}
	return 0
}

func asString(v any) string {
	switch x := v.(type) {
	case []byte:
		return string(x)
	case string:
		return x
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// notReadOnlySQL is true for a user (alias u) who is not read-only by their own
// flag nor through a linked read-only type (SPEC §2.3).
const notReadOnlySQL = `(u.read_only = 0 AND NOT EXISTS (SELECT 1 FROM user_type_links rl
	JOIN user_types rt ON rt.id = rl.user_type_id WHERE rl.user_id = u.id AND rt.read_only = 1))`

// coversSQL is true for a grant row (alias %[1]s) whose data-set scope reaches the
// target: the target's data set (c.ds), and no node or a node whose path is a prefix
// of the target node's (tn, NULL when the target is the whole data set).
const coversSQL = `(%[1]s.data_set_id = c.ds AND (%[1]s.node_id IS NULL OR EXISTS (SELECT 1 FROM hierarchy_nodes gn
	WHERE gn.id = %[1]s.node_id AND SUBSTR(tn.path, 1, LENGTH(gn.path)) = gn.path)))`

// canSQL is SPEC §2.5 for user u, right r and target (c, tn): active; not read-only
// when r is WRITE; data-set access covering the target, directly or through a
// linked type; and the right as a direct application right (a row, or a role copy), a direct
// company-specific right for the target or ALL, a right of a role of a linked type,
// or a type's company-specific right for the target or ALL.
var canSQL = `u.active = 1 AND (r.kind = 'READ' OR ` + notReadOnlySQL + `)
	AND EXISTS (
		SELECT 1 FROM user_grants g WHERE g.user_id = u.id AND g.kind = 'DATA_SET' AND ` + fmt.Sprintf(coversSQL, "g") + `
		UNION ALL
		SELECT 1 FROM user_type_links l JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id
			WHERE l.user_id = u.id AND tg.kind = 'DATA_SET' AND ` + fmt.Sprintf(coversSQL, "tg") + `)
	AND EXISTS (
		SELECT 1 FROM user_grants g WHERE g.user_id = u.id AND +g.right_id = r.id
			AND (g.kind = 'APP_RIGHT' OR (g.kind = 'COMPANY_RIGHT' AND (g.all_data_sets = 1 OR ` + fmt.Sprintf(coversSQL, "g") + `)))
		UNION ALL
		SELECT 1 FROM user_role_copies uc JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.user_id = u.id AND +cr.right_id = r.id
		UNION ALL
		SELECT 1 FROM user_type_links l JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
			JOIN role_rights rr ON rr.role_id = tr.role_id WHERE l.user_id = u.id AND +rr.right_id = r.id
		UNION ALL
		SELECT 1 FROM user_type_links l JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id
			WHERE l.user_id = u.id AND +tg.right_id = r.id AND tg.kind = 'COMPANY_RIGHT'
				AND (tg.all_data_sets = 1 OR ` + fmt.Sprintf(coversSQL, "tg") + `))`

// checksSQL is a derived table c(idx, rid, ds, node) of n checks; the right is
// looked up by key in the account (node 0: the whole data set).
func checksSQL(n int) string {
	var b strings.Builder
	for i := range n {
		if i == 0 {
			b.WriteString("SELECT ? AS idx, (SELECT id FROM rights WHERE account_id = ? AND `key` = ?) AS rid, ? AS ds, ? AS node")
		} else {
			b.WriteString(" UNION ALL SELECT ?, (SELECT id FROM rights WHERE account_id = ? AND `key` = ?), ?, ?")
		}
	}
	return b.String()
}

// can answers can (one check) and canBatch (many) for a user in one statement.
func (q *rawDB) can(ctx context.Context, userID int, checks []check) ([]bool, error) {
	stmt := `SELECT c.idx, CASE WHEN ` + canSQL + ` THEN 1 ELSE 0 END
FROM (` + checksSQL(len(checks)) + `) c
JOIN users u ON u.id = ?
JOIN rights r ON r.id = c.rid
LEFT JOIN hierarchy_nodes tn ON tn.id = c.node AND tn.data_set_id = c.ds
ORDER BY c.idx`
	args := make([]any, 0, 5*len(checks)+1)
	for i, k := range checks {
		args = append(args, i, q.accountID, k.Right, k.ds, k.node)
	}
	args = append(args, userID)
	rows, err := q.query(ctx, stmt, args...)
	if err != nil {
		return nil, err
	}
	out := make([]bool, len(checks))
	for _, row := range rows {
		if i := asInt(row[0]); i >= 0 && i < len(out) {
			out[i] = asInt(row[1]) == 1
		}
	}
	return out, nil
}

// rawRight is one row of a user's effective rights: the right in one scope
// (ds and node 0: every data set the user can reach), and whether no mask
// suppresses it.
type rawRight struct {
	Key       string
	DS, Node  int
	Effective bool
}

// effectiveRights lists the (right, scope) rows of effectiveRights, without
// provenance: direct application and company-specific grants (a company-specific
// right on ALL has an application right's scope), the rights of the roles of linked
// types, and the types' company-specific grants.
func (q *rawDB) effectiveRights(ctx context.Context, userID int) ([]rawRight, error) {
	const stmt = "SELECT r.`key`, x.ds, x.node, CASE WHEN u.active = 1 AND (r.kind = 'READ' OR " + notReadOnlySQL + `) THEN 1 ELSE 0 END
FROM (
	SELECT DISTINCT y.right_id, y.ds, y.node FROM (
		SELECT g.right_id,
			CASE WHEN g.kind = 'COMPANY_RIGHT' AND g.all_data_sets = 0 THEN g.data_set_id ELSE 0 END AS ds,
			CASE WHEN g.kind = 'COMPANY_RIGHT' AND g.all_data_sets = 0 THEN COALESCE(g.node_id, 0) ELSE 0 END AS node
		FROM user_grants g WHERE g.user_id = ? AND g.kind IN ('APP_RIGHT', 'COMPANY_RIGHT')
		UNION ALL
		SELECT cr.right_id, 0, 0 FROM user_role_copies uc JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.user_id = ?
		UNION ALL
		SELECT rr.right_id, 0, 0 FROM user_type_links l JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
			JOIN role_rights rr ON rr.role_id = tr.role_id WHERE l.user_id = ?
		UNION ALL
		SELECT tg.right_id,
			CASE WHEN tg.all_data_sets = 0 THEN tg.data_set_id ELSE 0 END,
			CASE WHEN tg.all_data_sets = 0 THEN COALESCE(tg.node_id, 0) ELSE 0 END
		FROM user_type_links l JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id
			WHERE l.user_id = ? AND tg.kind = 'COMPANY_RIGHT'
	) y
) x
JOIN rights r ON r.id = x.right_id
JOIN users u ON u.id = ?
ORDER BY r.` + "`key`" + `, x.ds, x.node`
	rows, err := q.query(ctx, stmt, userID, userID, userID, userID, userID)
	if err != nil {
		return nil, err
	}
	out := make([]rawRight, len(rows))
	for i, row := range rows {
		out[i] = rawRight{Key: asString(row[0]), DS: asInt(row[1]), Node: asInt(row[2]), Effective: asInt(row[3]) == 1}
	}
	return out, nil
}

// page is the first page of a user connection (by id) and its total count.
type page struct {
	IDs   []int
	Total int
}

func readPage(rows [][]any) page {
	var p page
	for _, row := range rows {
		p.IDs = append(p.IDs, asInt(row[0]))
		p.Total = asInt(row[len(row)-1])
	}
	return p
}

// usersWithRole is users(first: 50, where: {withRole}): the account's users holding
// the role directly or through a linked type (SPEC §2.7), by id, with the count.
func (q *rawDB) usersWithRole(ctx context.Context, roleID int) (page, error) {
	const stmt = `SELECT u.id, u.user_name, COUNT(*) OVER () FROM users u
WHERE u.account_id = ? AND (
	EXISTS (SELECT 1 FROM user_roles ur WHERE ur.user_id = u.id AND ur.role_id = ?)
	OR EXISTS (SELECT 1 FROM user_type_links l JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
		WHERE l.user_id = u.id AND tr.role_id = ?))
ORDER BY u.id LIMIT 50`
	rows, err := q.query(ctx, stmt, q.accountID, roleID, roleID)
	return readPage(rows), err
}

// whoCan is whoCan(right, dataSet[, node], first: 50): the account's users for
// whom can holds, by id, with the count.
func (q *rawDB) whoCan(ctx context.Context, k check) (page, error) {
	stmt := `SELECT u.id, COUNT(*) OVER () FROM (` + checksSQL(1) + `) c
JOIN rights r ON r.id = c.rid
JOIN users u ON u.account_id = r.account_id
LEFT JOIN hierarchy_nodes tn ON tn.id = c.node AND tn.data_set_id = c.ds
WHERE ` + canSQL + `
ORDER BY u.id LIMIT 50`
	rows, err := q.query(ctx, stmt, 0, q.accountID, k.Right, k.ds, k.node)
	return readPage(rows), err
}

// summary is bulkSummary's answer: the selected users, and per right (by id) how
// many hold it directly and effectively, per role and per type how many hold it.
// Rights, roles and types nobody selected holds are absent.
type summary struct {
	Count             int
	Direct, Effective map[int]int
	Roles, Types      map[int]int
}

// bulkSummary counts, for the users of a department, in one statement: the users;
// per right the users with a direct application or company-specific grant, and the
// users holding it effectively (any path, active, not read-only for WRITE); per role
// the users holding it directly or through a type; per type the users linked to it.
func (q *rawDB) bulkSummary(ctx context.Context, department string) (summary, error) {
	const stmt = `WITH sel AS (SELECT u.id, u.active, u.read_only FROM users u WHERE u.account_id = ? AND u.department = ?)
SELECT 'users', 0, COUNT(*) FROM sel
UNION ALL
SELECT 'direct', d.right_id, COUNT(DISTINCT d.user_id) FROM (
	SELECT g.user_id, g.right_id FROM sel JOIN user_grants g ON g.user_id = sel.id
		WHERE g.kind IN ('APP_RIGHT', 'COMPANY_RIGHT')
	UNION ALL
	SELECT uc.user_id, cr.right_id FROM sel JOIN user_role_copies uc ON uc.user_id = sel.id
		JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
) d GROUP BY d.right_id
UNION ALL
SELECT 'effective', e.right_id, COUNT(*) FROM (
	SELECT DISTINCT x.user_id, x.right_id FROM (
		SELECT g.user_id, g.right_id FROM sel JOIN user_grants g ON g.user_id = sel.id
			WHERE g.kind IN ('APP_RIGHT', 'COMPANY_RIGHT')
		UNION ALL
		SELECT uc.user_id, cr.right_id FROM sel JOIN user_role_copies uc ON uc.user_id = sel.id
			JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
		UNION ALL
		SELECT l.user_id, rr.right_id FROM sel JOIN user_type_links l ON l.user_id = sel.id
			JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id JOIN role_rights rr ON rr.role_id = tr.role_id
		UNION ALL
		SELECT l.user_id, tg.right_id FROM sel JOIN user_type_links l ON l.user_id = sel.id
			JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id WHERE tg.kind = 'COMPANY_RIGHT'
	) x JOIN sel u ON u.id = x.user_id JOIN rights r ON r.id = x.right_id
	WHERE u.active = 1 AND (r.kind = 'READ' OR ` + notReadOnlySQL + `)
) e GROUP BY e.right_id
UNION ALL
SELECT 'role', x.role_id, COUNT(DISTINCT x.user_id) FROM (
	SELECT ur.user_id, ur.role_id FROM sel JOIN user_roles ur ON ur.user_id = sel.id
	UNION ALL
	SELECT l.user_id, tr.role_id FROM sel JOIN user_type_links l ON l.user_id = sel.id
		JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
) x GROUP BY x.role_id
UNION ALL
SELECT 'type', l.user_type_id, COUNT(*) FROM sel JOIN user_type_links l ON l.user_id = sel.id GROUP BY l.user_type_id`
	rows, err := q.query(ctx, stmt, q.accountID, department)
	if err != nil {
		return summary{}, err
	}
	s := summary{Direct: map[int]int{}, Effective: map[int]int{}, Roles: map[int]int{}, Types: map[int]int{}}
	for _, row := range rows {
		id, n := asInt(row[1]), asInt(row[2])
		switch asString(row[0]) {
		case "users":
			s.Count = n
		case "direct":
			s.Direct[id] = n
		case "effective":
			s.Effective[id] = n
		case "role":
			s.Roles[id] = n
		case "type":
			s.Types[id] = n
		}
	}
	return s, nil
}

// scimUser is what GET /Users?filter=userName eq "…" reads: the user whose
// case-folded userName matches, with the groups it belongs to (one row per group).
func (q *rawDB) scimUser(ctx context.Context, userName string) ([]int, error) {
	const stmt = `SELECT u.id, u.user_name, u.email, u.given_name, u.family_name, u.display_name, u.title,
	u.department, u.location, u.employee_number, u.phone, u.locale, u.external_id, u.active, u.manager_id,
	u.created_at, u.updated_at, grp.id, grp.name
FROM users u
LEFT JOIN group_users gu ON gu.user_id = u.id
LEFT JOIN ` + "`groups`" + ` grp ON grp.id = gu.group_id
WHERE u.account_id = ? AND u.user_name_key = ?`
	rows, err := q.query(ctx, stmt, q.accountID, strings.ToLower(userName))
	if err != nil {
		return nil, err
	}
	var ids []int
	for _, row := range rows {
		if id := asInt(row[0]); len(ids) == 0 || ids[len(ids)-1] != id {
			ids = append(ids, id)
		}
	}
	return ids, nil
}
