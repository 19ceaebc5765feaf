package access

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/user"
)

// MaxImpactUsers is how many users an impact details; the counts cover all of them.
const MaxImpactUsers = 100

// chunkSize bounds the ids in one IN list (SQLite allows 32766 variables).
const chunkSize = 5000

// Impact is what a change does, or would do, to users' effective rights and data
// access: an admin sees it before committing an edit (SPEC §6 impact).
type Impact struct {
	// AffectedCount counts users whose effective rights or data access change.
	AffectedCount int
	// Users details the first MaxImpactUsers affected users, by id.
	Users []UserImpact
	// Rights counts, per right, the users who gain and who lose it.
	Rights    []RightImpact
	Truncated bool
}

// UserImpact is one user's gains and losses.
type UserImpact struct {
	UserID       int
	UserName     string
	User         *gen.User // nil once deleted
	Gained, Lost []*gen.Right
	AccessGained []Scope
	AccessLost   []Scope
}

// Scope is a data set, optionally limited to a node.
type Scope struct {
	DataSetID int
	NodeID    int
}

// RightImpact counts the users who gain and who lose one right.
type RightImpact struct {
	Right        *gen.Right
	Gained, Lost int
}

// reach is what a change can alter, so its impact is measured on that alone: the
// listed rights (all of them when allRights), and data-set access when access is set.
type reach struct {
	allRights bool
	rights    []int
	access    bool
}

var everything = reach{allRights: true, access: true}

// holdings is, per user, the keys of what they hold effectively: "R<right id>" for a
// right in some scope, "D<data set>:<node>" for data-set access.
type holdings map[int]map[string]bool

// snapshot reads what users hold effectively, set-wise: two statements per chunk.
func snapshot(ctx context.Context, c *gen.Client, users []int, r reach) (holdings, error) {
	out := holdings{}
	for _, id := range users {
		out[id] = map[string]bool{}
	}
	for chunk := range slices.Chunk(users, chunkSize) {
		in, args := inList(chunk)
		if !r.allRights && len(r.rights) == 0 && !r.access {
			break
		}
		var only []int
		if !r.allRights {
			only = Unique(r.rights)
			if len(only) == 0 {
				only = []int{0} // no right: matches nothing
			}
		}
		rightsSQL, rargs := effectiveRightsSQL(in, args, only)
		if err := scanPairs(ctx, c, rightsSQL, rargs, func(u, v int64, _ sql.NullInt64) {
			out[int(u)]["R"+strconv.FormatInt(v, 10)] = true
		}); err != nil {
			return nil, err
		}
		if !r.access {
			continue
		}
		accessSQL := `SELECT g.user_id, g.data_set_id, g.node_id FROM user_grants g WHERE g.user_id IN ` + in + ` AND g.kind = 'DATA_SET'
			UNION ALL
			SELECT l.user_id, tg.data_set_id, tg.node_id FROM user_type_links l JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id
				WHERE l.user_id IN ` + in + ` AND tg.kind = 'DATA_SET'`
		if err := scanPairs(ctx, c, accessSQL, append(slices.Clone(args), args...), func(u, ds int64, node sql.NullInt64) {
			out[int(u)][fmt.Sprintf("D%d:%d", ds, node.Int64)] = true
		}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// effectiveRightsSQL selects the distinct (user_id, right_id) pairs of the users in
// the IN list `in` that are effective in some scope: held by any path (direct grant of
// an application or company-specific right, a type's role, a type's company-specific
// right), the user active, and not read-only for a WRITE right. With only, just those
// rights are considered, in every branch, so a change that touches a few rights does
// not read everything its users hold.
func effectiveRightsSQL(in string, ids []any, only []int) (string, []any) {
	filter := func(col string) (string, []any) {
		if len(only) == 0 {
			return "", nil
		}
		rin, rargs := inList(only)
		return " AND " + col + " IN " + rin, rargs
	}
	gf, gargs := filter("g.right_id")
	rf, rargs := filter("rr.right_id")
	tf, targs := filter("tg.right_id")
	q := `SELECT DISTINCT x.user_id, x.right_id FROM (
			SELECT g.user_id, g.right_id FROM user_grants g WHERE g.user_id IN ` + in + ` AND g.kind IN ('APP_RIGHT', 'COMPANY_RIGHT')` + gf + `
			UNION ALL
			SELECT l.user_id, rr.right_id FROM user_type_links l JOIN user_type_roles tr ON tr.user_type_id = l.user_type_id
				JOIN role_rights rr ON rr.role_id = tr.role_id WHERE l.user_id IN ` + in + rf + `
			UNION ALL
			SELECT l.user_id, tg.right_id FROM user_type_links l JOIN user_type_grants tg ON tg.user_type_id = l.user_type_id
				WHERE l.user_id IN ` + in + ` AND tg.kind = 'COMPANY_RIGHT'` + tf + `
		) x JOIN users u ON u.id = x.user_id JOIN rights r ON r.id = x.right_id
		WHERE u.active = ? AND (r.kind = 'READ' OR NOT (u.read_only = ? OR EXISTS (
			SELECT 1 FROM user_type_links l2 JOIN user_types t ON t.id = l2.user_type_id WHERE l2.user_id = u.id AND t.read_only = ?)))`
	var args []any
	args = append(append(args, ids...), gargs...)
	args = append(append(args, ids...), rargs...)
	args = append(append(args, ids...), targs...)
	return q, append(args, true, true, true)
}

func scanPairs(ctx context.Context, c *gen.Client, query string, args []any, row func(a, b int64, extra sql.NullInt64)) error {
	rows, err := c.QueryContext(ctx, query, args...)
	if err != nil {
		return err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return err
	}
	for rows.Next() {
		var a, b int64
		var extra sql.NullInt64
		dest := []any{&a, &b}
		if len(cols) > 2 {
			dest = append(dest, &extra)
		}
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		row(a, b, extra)
	}
	return rows.Err()
}

// diff compares two snapshots of the same users.
func diff(ctx context.Context, c *gen.Client, users []int, before, after holdings, names map[int]string) (*Impact, error) {
	imp := &Impact{}
	gained, lost := map[int]int{}, map[int]int{}
	var detailed []UserImpact
	var rightIDs []int
	for _, id := range users {
		var ui UserImpact
		for k := range after[id] {
			if !before[id][k] {
				ui.add(k, true, gained, &rightIDs)
			}
		}
		for k := range before[id] {
			if !after[id][k] {
				ui.add(k, false, lost, &rightIDs)
			}
		}
		if len(ui.Gained)+len(ui.Lost)+len(ui.AccessGained)+len(ui.AccessLost) == 0 {
			continue
		}
		imp.AffectedCount++
		if len(detailed) < MaxImpactUsers {
			ui.UserID = id
			detailed = append(detailed, ui)
		} else {
			imp.Truncated = true
		}
	}
	rights := map[int]*gen.Right{}
	if len(rightIDs) > 0 {
		rs, err := c.Right.Query().Where(right.IDIn(Unique(rightIDs)...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, r := range rs {
			rights[r.ID] = r
		}
	}
	for _, id := range Unique(rightIDs) {
		if r := rights[id]; r != nil {
			imp.Rights = append(imp.Rights, RightImpact{Right: r, Gained: gained[id], Lost: lost[id]})
		}
	}
	slices.SortFunc(imp.Rights, func(a, b RightImpact) int { return strings.Compare(a.Right.Key, b.Right.Key) })
	ids := make([]int, len(detailed))
	for i := range detailed {
		ids[i] = detailed[i].UserID
	}
	live := map[int]*gen.User{} // nil for users the change deleted
	if len(ids) > 0 {
		us, err := c.User.Query().Where(user.IDIn(ids...)).All(ctx)
		if err != nil {
			return nil, err
		}
		for _, u := range us {
			live[u.ID] = u
		}
	}
	for i := range detailed {
		d := &detailed[i]
		d.User = live[d.UserID]
		d.UserName = names[d.UserID]
		d.resolve(rights)
	}
	imp.Users = detailed
	return imp, nil
}

func (ui *UserImpact) add(key string, gain bool, counts map[int]int, rightIDs *[]int) {
	switch key[0] {
	case 'R':
		id, _ := strconv.Atoi(key[1:])
		counts[id]++
		*rightIDs = append(*rightIDs, id)
		r := &gen.Right{ID: id}
		if gain {
			ui.Gained = append(ui.Gained, r)
		} else {
			ui.Lost = append(ui.Lost, r)
		}
	case 'D':
		var s Scope
		fmt.Sscanf(key[1:], "%d:%d", &s.DataSetID, &s.NodeID)
		if gain {
			ui.AccessGained = append(ui.AccessGained, s)
		} else {
			ui.AccessLost = append(ui.AccessLost, s)
		}
	}
}

// resolve replaces the placeholder rights with the loaded ones, in key order.
func (ui *UserImpact) resolve(rights map[int]*gen.Right) {
	fill := func(list []*gen.Right) []*gen.Right {
		out := make([]*gen.Right, 0, len(list))
		for _, r := range list {
			if full := rights[r.ID]; full != nil {
				out = append(out, full)
			}
		}
		slices.SortFunc(out, func(a, b *gen.Right) int { return strings.Compare(a.Key, b.Key) })
		return out
	}
	ui.Gained, ui.Lost = fill(ui.Gained), fill(ui.Lost)
	order := func(a, b Scope) int {
		if a.DataSetID != b.DataSetID {
			return a.DataSetID - b.DataSetID
		}
		return a.NodeID - b.NodeID
	}
	slices.SortFunc(ui.AccessGained, order)
	slices.SortFunc(ui.AccessLost, order)
}

// measure runs change and reports its impact on users. With dryRun the change is
// undone (to a savepoint of the caller's transaction) and only the impact remains:
// a preview computed by the same code as the real change, so it cannot disagree.
func measure(ctx context.Context, c *gen.Client, users []int, r reach, dryRun bool, change func() error) (*Impact, error) {
	before, err := snapshot(ctx, c, users, r)
	if err != nil {
		return nil, err
	}
	// Names are read first: a deleted user's impact still says who it was.
	names := map[int]string{}
	for chunk := range slices.Chunk(users, chunkSize) {
		var rows []struct {
			ID       int    `json:"id"`
			UserName string `json:"user_name"`
		}
		if err := c.User.Query().Where(user.IDIn(chunk...)).Select(user.FieldID, user.FieldUserName).Scan(ctx, &rows); err != nil {
			return nil, err
		}
		for _, row := range rows {
			names[row.ID] = row.UserName
		}
	}
	if dryRun {
		if _, err := c.ExecContext(ctx, "SAVEPOINT latchkey_dry_run"); err != nil {
			return nil, fmt.Errorf("dry run needs a transaction: %w", err)
		}
	}
	var after holdings
	err = change()
	if err == nil {
		after, err = snapshot(ctx, c, users, r)
	}
	if dryRun {
		if _, rbErr := c.ExecContext(ctx, "ROLLBACK TO SAVEPOINT latchkey_dry_run"); rbErr != nil && err == nil {
			err = rbErr
		}
	}
	if err != nil {
		return nil, err
	}
	return diff(ctx, c, users, before, after, names)
}

// inList returns "(?, ?, …)" and the ids as arguments.
func inList(ids []int) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + placeholders(len(ids)) + ")", args
}
