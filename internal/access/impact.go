package access

import (
	"context"
	"database/sql"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"entgo.io/ent/dialect"
	entsql "entgo.io/ent/dialect/sql"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/user"
)

// MaxImpactUsers is how many users an impact details; the counts cover all of them.
const MaxImpactUsers = 100

// chunkSize bounds the ids in one IN list (SQLite allows 32766 variables); a
// variable so that tests can read a few users in many chunks.
var chunkSize = 5000

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
// listed rights (all of them when allRights; every WRITE right too when writes), and
// data-set access when access is set.
type reach struct {
	allRights bool
	rights    []int
	writes    bool
	access    bool
	// keepsGrants: the change writes no user grant, so what the users hold directly
	// afterwards is what they held before, and is not read again. gives: the change
	// gives every user these grants and takes none, so what they hold directly
	// afterwards is what they held before and these (a role's copies are hundreds of
	// thousands of rows at 20k users; reading them back cost a second).
	keepsGrants bool
	gives       []Grant
	// keepsFlags: the change sets no user's active or read-only flag, so those are
	// not read again either.
	keepsFlags bool
	// relinks: the change links every user to this type (or, with unlinks, unlinks
	// it) and writes nothing else a snapshot reads (with keepsGrants and
	// keepsFlags), so what the users hold afterwards is settled from the links they
	// had before, with the type or without it.
	relinks int
	unlinks bool
	// keepsLinks: the change writes no type link and no type, so with keepsFlags
	// and the direct grants known (keepsGrants, gives) nothing is read again.
	keepsLinks bool
	// deletes: the change deletes the users, so their names are read before it
	// (any other impact names its users from the rows it loads afterwards).
	deletes bool
}

var everything = reach{allRights: true, access: true}

// and is what r or o can alter.
func (r reach) and(o reach) reach {
	return reach{allRights: r.allRights || o.allRights, rights: Unique(append(slices.Clone(r.rights), o.rights...)),
		writes: r.writes || o.writes, access: r.access || o.access, deletes: r.deletes || o.deletes}
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
func diff(ctx context.Context, c *gen.Client, users []int, before, after *holdings, names map[int]string) (*Impact, error) {
	imp := &Impact{}
	gained, lost := map[int]int{}, map[int]int{}
	var detailed []UserImpact
	for i, id := range users {
		var ui UserImpact
		// Only the detailed users get their rights listed; the rest are counted.
		detail := len(detailed) < MaxImpactUsers
		changed := false
		before.changes(after, i, func(rightID int, gain bool) {
			changed = true
			counts := lost
			if gain {
				counts = gained
			}
			counts[rightID]++
			switch {
			case !detail:
			case gain:
				ui.Gained = append(ui.Gained, &gen.Right{ID: rightID})
			default:
				ui.Lost = append(ui.Lost, &gen.Right{ID: rightID})
			}
		})
		if before.scopes != nil {
			ui.AccessGained = scopesMissing(after.scopes[i], before.scopes[i])
			ui.AccessLost = scopesMissing(before.scopes[i], after.scopes[i])
		}
		if !changed && len(ui.AccessGained)+len(ui.AccessLost) == 0 {
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
	var rightIDs []int
	for id := range gained {
		rightIDs = append(rightIDs, id)
	}
	for id := range lost {
		rightIDs = append(rightIDs, id)
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
		if d.User != nil {
			d.UserName = d.User.UserName
		}
		d.resolve(rights)
	}
	imp.Users = detailed
	return imp, nil
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
	slices.SortFunc(ui.AccessGained, compareScopes)
	slices.SortFunc(ui.AccessLost, compareScopes)
}

// measure runs change and reports its impact on users. With dryRun the change is
// undone (to a savepoint of the caller's transaction) and only the impact remains:
// a preview computed by the same code as the real change, so it cannot disagree.
func measure(ctx context.Context, c *gen.Client, users []int, r reach, dryRun bool, change func() error) (*Impact, error) {
	before, err := snapshot(ctx, c, users, r)
	if err != nil {
		return nil, err
	}
	// A deleted user's impact still says who it was: names are read first. (A dry
	// run's users are back by the time diff loads them.)
	names := map[int]string{}
	if r.deletes && !dryRun {
		for chunk := range slices.Chunk(users, chunkSize) {
			var rows []struct {
				ID       int    `json:"id"`
				UserName string `json:"user_name"`
			}
			if err := c.User.Query().Where(idsIn(user.FieldID, chunk)).Select(user.FieldID, user.FieldUserName).Scan(ctx, &rows); err != nil {
				return nil, err
			}
			for _, row := range rows {
				names[row.ID] = row.UserName
			}
		}
	}
	if dryRun {
		if _, err := c.ExecContext(ctx, "SAVEPOINT latchkey_dry_run"); err != nil {
			return nil, fmt.Errorf("dry run needs a transaction: %w", err)
		}
	}
	var after *holdings
	err = change()
	if err == nil {
		var unchanged *holdings
		if r.keepsGrants || len(r.gives) > 0 || r.keepsFlags {
			unchanged = before
		}
		after, err = snapshotAfter(ctx, c, users, r, unchanged)
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

// idList is inList for lists of thousands of ids (a chunk of users). On SQLite
// the ids are one JSON array argument read by json_each: a placeholder per id cost
// SQLite more to parse, plan (an estimate per value) and index than the statement's
// reads (at 20,000 users, the reads of a summary took 390 ms with placeholders
// and 270 ms with json_each). MySQL plans a long IN list cheaply.
func idList(d string, ids []int) (string, []any) {
	if d != dialect.SQLite {
		return inList(ids)
	}
	b := make([]byte, 0, 8*len(ids)+2)
	b = append(b, '[')
	for i, id := range ids {
		if i > 0 {
			b = append(b, ',')
		}
		b = strconv.AppendInt(b, int64(id), 10)
	}
	return "(SELECT value FROM json_each(?))", []any{string(append(b, ']'))}
}

// idsIn is the predicate "column IN ids" for a chunk of ids, the list made by idList.
func idsIn(column string, ids []int) func(*entsql.Selector) {
	return func(s *entsql.Selector) {
		list, args := idList(s.Dialect(), ids)
		s.Where(entsql.ExprP(s.C(column)+" IN "+list, args...))
	}
}

// inList returns "(?, ?, …)" and the ids as arguments.
func inList(ids []int) (string, []any) {
	args := make([]any, len(ids))
	for i, id := range ids {
		args[i] = id
	}
	return "(" + placeholders(len(ids)) + ")", args
}
