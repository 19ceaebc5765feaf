package access_test

// Bulk operations (SPEC §3) as transactions: a failure part-way leaves nothing
// changed once the caller rolls back; a dry run changes nothing and predicts the real
// run exactly; two operations on overlapping selections at once lose no update; and
// one user's effective rights cost a fixed, small number of statements.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"entgo.io/ent/dialect"
	"github.com/go-sql-driver/mysql"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/internal/access"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

// bulkUsers is more than one chunk of ids (the operations work in chunks of 5,000),
// so that failures can strike between two chunks.
const bulkUsers = 5200

// ---------------------------------------------------------------------------
// Fault injection and statement counting, through the driver.

// fault makes the nth statement matching match fail: just before the statement runs,
// its context is cancelled, so database/sql refuses to run it. The transaction (begun
// with another context) stays usable unless cancel belongs to it.
type fault struct {
	match  string // lower case, quotes removed: "insert into user_grants"
	nth    int
	cancel context.CancelFunc

	mu    sync.Mutex
	seen  int
	fired bool
}

type faultKey struct{}

// statementLog is a driver wrapper: it fires the fault in a statement's context
// and counts statements while counting is on.
type statementLog struct {
	mu       sync.Mutex
	counting bool
	count    int
	log      []string
}

func (l *statementLog) driver(d dialect.Driver) dialect.Driver {
	return dialect.DebugWithContext(d, func(ctx context.Context, v ...any) {
		msg := fmt.Sprint(v...)
		if !strings.Contains(msg, "Query: ") && !strings.Contains(msg, "Exec: ") &&
			!strings.Contains(msg, "QueryContext: ") && !strings.Contains(msg, "ExecContext: ") {
			return
		}
		if f, ok := ctx.Value(faultKey{}).(*fault); ok {
			norm := strings.ToLower(strings.NewReplacer("`", "", `"`, "").Replace(msg))
			f.mu.Lock()
			if !f.fired && strings.Contains(norm, f.match) {
				if f.seen++; f.seen == f.nth {
					f.fired = true
					f.cancel()
				}
			}
			f.mu.Unlock()
		}
		l.mu.Lock()
		defer l.mu.Unlock()
		if l.counting {
			l.count++
			l.log = append(l.log, msg)
		}
	})
}

// measure counts the statements f runs.
func (l *statementLog) measure(f func()) (int, []string) {
	l.mu.Lock()
	l.counting, l.count, l.log = true, 0, nil
	l.mu.Unlock()
	f()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.counting = false
	return l.count, l.log
}

// ---------------------------------------------------------------------------
// The state of the database that bulk operations may touch.

// dbState is every row a bulk operation can change, one string per row, sorted.
type dbState map[string][]string

var stateQueries = map[string]string{
	"users":            `SELECT id, read_only, active, status, updated_at FROM users`,
	"user_grants":      `SELECT id, user_id, grant_key, source_key, granted_at FROM user_grants`,
	"user_roles":       `SELECT user_id, role_id FROM user_roles`,
	"user_role_copies": `SELECT user_id, role_copy_id FROM user_role_copies`,
	"role_copies":      `SELECT id, role_id, granted_at FROM role_copies`,
	"role_copy_rights": `SELECT role_copy_id, right_id FROM role_copy_rights`,
	"user_type_links":  `SELECT user_id, user_type_id FROM user_type_links`,
	"group_users":      `SELECT group_id, user_id FROM group_users`,
	"audit_events":     `SELECT id, action FROM audit_events`,
}

func stateOf(t *testing.T, ctx context.Context, c *gen.Client) dbState {
	t.Helper()
	out := dbState{}
	for table, query := range stateQueries {
		rows, err := c.QueryContext(ctx, query)
		if err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		for rows.Next() {
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("reading %s: %v", table, err)
			}
			parts := make([]string, len(vals))
			for i, v := range vals {
				if b, ok := v.([]byte); ok {
					v = string(b)
				}
				parts[i] = fmt.Sprint(v)
			}
			out[table] = append(out[table], strings.Join(parts, "|"))
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("reading %s: %v", table, err)
		}
		rows.Close()
		slices.Sort(out[table])
	}
	return out
}

// without is the state without one table.
func (a dbState) without(table string) dbState {
	out := dbState{}
	for t, rows := range a {
		if t != table {
			out[t] = rows
		}
	}
	return out
}

// differences describes how b differs from a (empty when equal).
func (a dbState) differences(b dbState) string {
	var out []string
	for table := range stateQueries {
		x, y := a[table], b[table]
		if slices.Equal(x, y) {
			continue
		}
		gone, added := setMinus(x, y), setMinus(y, x)
		out = append(out, fmt.Sprintf("%s: %d rows → %d; %d gone (e.g. %v), %d new (e.g. %v)",
			table, len(x), len(y), len(gone), firstN(gone, 3), len(added), firstN(added, 3)))
	}
	slices.Sort(out)
	return strings.Join(out, "\n")
}

func setMinus(a, b []string) []string {
	in := make(map[string]bool, len(b))
	for _, s := range b {
		in[s] = true
	}
	var out []string
	for _, s := range a {
		if !in[s] {
			out = append(out, s)
		}
	}
	return out
}

func firstN[T any](s []T, n int) []T { return s[:min(n, len(s))] }

func seedFixture(t *testing.T, st *store.Store, n int) *fixture {
	t.Helper()
	fx, err := seedAccount(context.Background(), st, "acme", n)
	if err != nil {
		t.Fatalf("seeding: %v", err)
	}
	return fx
}

func byIDs(users []int) access.UserSelection { return access.UserSelection{UserIDs: users} }

type bulkOp func(ctx context.Context, c *gen.Client, dryRun bool) (*access.Result, error)

// ---------------------------------------------------------------------------
// (a) All or nothing.

// TestBulkFailureLeavesNothingChanged makes bulk operations fail at every kind of
// step — before any change, between two chunks, between two statements of one
// change, on the audit event, by a row the database refuses, by a cancelled request —
// and checks that once the transaction is rolled back the database is exactly as it
// was: grants, roles, links, memberships, flags and the audit log.
func TestBulkFailureLeavesNothingChanged(t *testing.T) {
	var stmts statementLog
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		fx := seedFixture(t, st, bulkUsers)
		all := allUsers()
		missingDataSet := fx.dataSets[len(fx.dataSets)-1] + 1000
		grants := []access.GrantInput{
			{Right: fxRef(customKey(7))},
			{Right: fxRef(customKey(8)), DataSetID: &fx.dataSets[1]},
			accessGrant(fx.dataSets[2], fx.leaves[2]),
		}
		for _, tc := range []struct {
			name string
			// failAt and nth name the injected failure; none: the operation must fail
			// by itself.
			failAt string
			nth    int
			// partial: the operation has changed rows in the transaction when it fails.
			partial bool
			// trigger installs a database trigger that refuses rows, for the case.
			trigger bool
			op      func(ctx context.Context, c *gen.Client) (*access.Result, error)
		}{
			{name: "grant naming a missing data set", op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
				return access.GrantRights(ctx, c, all, []access.GrantInput{grants[0], {Right: fxRef("reports.custom"), DataSetID: &missingDataSet}}, false)
			}},
			{name: "grant naming a missing user", op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
				return access.GrantRights(ctx, c, byIDs([]int{fx.users[0], fx.users[len(fx.users)-1] + 1000}), grants, false)
			}},
			{name: "grant fails on the second chunk of its second grant", failAt: "insert into user_grants", nth: 4, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.GrantRights(ctx, c, all, grants, false)
				}},
			{name: "apply role fails recording the role after copying its rights", failAt: "insert into user_roles", nth: 1, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.ApplyRoleTo(ctx, c, all, fx.benchRole, false)
				}},
			{name: "apply role refused by the database", trigger: true, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.ApplyRoleTo(ctx, c, all, fx.benchRole, false)
				}},
			{name: "revoke fails on the second chunk", failAt: "delete from user_grants", nth: 2, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.RevokeRights(ctx, c, all, []access.GrantInput{{Right: fxRef("reports.view")}}, false)
				}},
			{name: "link type fails on its audit event", failAt: "insert into audit_events", nth: 1, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.LinkUserType(ctx, c, all, fx.benchType, false)
				}},
			{name: "unlink type fails on its audit event", failAt: "insert into audit_events", nth: 1, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.UnlinkUserType(ctx, c, all, fx.types[0], false)
				}},
			{name: "set read-only fails on the second chunk", failAt: "update users set", nth: 2, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.SetReadOnly(ctx, c, all, true, false)
				}},
			{name: "set active fails on its audit event", failAt: "insert into audit_events", nth: 1, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.SetActive(ctx, c, all, false, false)
				}},
			{name: "add to groups fails on the second group", failAt: "insert into group_users", nth: 3, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.AddToGroups(ctx, c, all, fx.groups[:2], false)
				}},
			{name: "remove from groups fails on the second chunk", failAt: "delete from group_users", nth: 2, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.RemoveFromGroups(ctx, c, all, fx.groups[:3], false)
				}},
			{name: "delete users fails on the second chunk", failAt: "delete from users", nth: 2, partial: true,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.DeleteUsers(ctx, c, all, false)
				}},
			{name: "dry run fails part-way", failAt: "insert into user_roles", nth: 1,
				op: func(ctx context.Context, c *gen.Client) (*access.Result, error) {
					return access.ApplyRoleTo(ctx, c, all, fx.benchRole, true)
				}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				if tc.trigger {
					dropTrigger := refuseRole(t, st, fx.benchRole)
					defer dropTrigger()
				}
				before := stateOf(t, fx.ctx, st.Client)
				tx, err := st.Client.Tx(fx.ctx)
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithCancel(fx.ctx)
				defer cancel()
				f := &fault{match: tc.failAt, nth: tc.nth, cancel: cancel}
				if tc.failAt != "" {
					ctx = context.WithValue(ctx, faultKey{}, f)
				}
				res, err := tc.op(ctx, tx.Client())
				switch {
				case err == nil:
					t.Errorf("the operation succeeded: %+v", res)
				case tc.failAt != "" && !f.fired:
					t.Errorf("the operation failed before the injected failure (%s #%d): %v", tc.failAt, tc.nth, err)
				case tc.trigger && !strings.Contains(err.Error(), "refused by test trigger"):
					t.Errorf("the operation failed, but not by the trigger: %v", err)
				}
				if tc.partial && !t.Failed() {
					// The failure struck part-way: the transaction holds changes.
					if d := before.differences(stateOf(t, fx.ctx, tx.Client())); d == "" {
						t.Errorf("nothing had changed when the operation failed (%v), so the case shows nothing", err)
					}
				}
				if err := tx.Rollback(); err != nil {
					t.Fatalf("rollback: %v", err)
				}
				if d := before.differences(stateOf(t, fx.ctx, st.Client)); d != "" {
					t.Errorf("after the failed operation (%v) and a rollback the database changed:\n%s", err, d)
				}
			})
		}

		// A request cancelled part-way: the transaction itself is cancelled, and
		// database/sql rolls it back.
		t.Run("request cancelled part-way", func(t *testing.T) {
			before := stateOf(t, fx.ctx, st.Client)
			ctx, cancel := context.WithCancel(fx.ctx)
			defer cancel()
			tx, err := st.Client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			f := &fault{match: "insert into user_grants", nth: 2, cancel: cancel}
			_, err = access.GrantRights(context.WithValue(ctx, faultKey{}, f), tx.Client(), all, grants, false)
			if err == nil || !f.fired {
				t.Fatalf("cancelled grant: err %v, cancelled %v", err, f.fired)
			}
			if err := tx.Rollback(); err != nil && !errors.Is(err, sql.ErrTxDone) {
				t.Fatalf("rollback: %v", err)
			}
			if d := before.differences(stateOf(t, fx.ctx, st.Client)); d != "" {
				t.Errorf("after the cancelled operation the database changed:\n%s", d)
			}
		})
	})
}

// refuseRole installs a trigger that refuses recording that a user has role, and
// returns a function removing it.
func refuseRole(t *testing.T, st *store.Store, roleID int) func() {
	t.Helper()
	var stmt string
	if st.Dialect == dialect.MySQL {
		stmt = fmt.Sprintf(`CREATE TRIGGER lk_refuse_role BEFORE INSERT ON user_roles FOR EACH ROW BEGIN
			IF NEW.role_id = %d THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by test trigger'; END IF; END`, roleID)
	} else {
		stmt = fmt.Sprintf(`CREATE TRIGGER lk_refuse_role BEFORE INSERT ON user_roles WHEN NEW.role_id = %d
			BEGIN SELECT RAISE(ABORT, 'refused by test trigger'); END`, roleID)
	}
	if _, err := st.DB.Exec(stmt); err != nil {
		t.Fatalf("creating trigger: %v", err)
	}
	return func() {
		if _, err := st.DB.Exec(`DROP TRIGGER lk_refuse_role`); err != nil {
			t.Errorf("dropping trigger: %v", err)
		}
	}
}

// TestBulkDryRunChangesNothing runs each bulk operation dry and then for real in one
// transaction: the dry run leaves every row (the audit log included) as it was and
// answers exactly what the real run then answers.
func TestBulkDryRunChangesNothing(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		fx := seedFixture(t, st, bulkUsers)
		all := allUsers()
		// Some of every kind of user: with and without types, roles, flags.
		some := byIDs(fx.users[100:700])
		grants := []access.GrantInput{
			{Right: fxRef(customKey(7))},
			{Right: fxRef("settings.configure")},
			{Right: fxRef(customKey(8)), DataSetID: &fx.dataSets[1]},
			accessGrant(fx.dataSets[2], fx.leaves[2]),
		}
		for _, tc := range []struct {
			name string
			op   bulkOp
			// audited is how many audit events the real run writes.
			audited int
			// prepare runs first, in the same transaction.
			prepare func(ctx context.Context, c *gen.Client) error
		}{
			{"grant rights", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.GrantRights(ctx, c, some, grants, dry)
			}, 1, nil},
			{"revoke rights", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.RevokeRights(ctx, c, some, []access.GrantInput{{Right: fxRef("reports.view")}, {Right: fxRef(customKey(3))}}, dry)
			}, 1, nil},
			{"apply role to all", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.ApplyRoleTo(ctx, c, all, fx.benchRole, dry)
			}, 1, nil},
			{"reapply an edited role", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.ReapplyRole(ctx, c, fx.benchRole, dry)
			}, 1, func(ctx context.Context, c *gen.Client) error {
				if _, err := access.ApplyRoleTo(ctx, c, some, fx.benchRole, false); err != nil {
					return err
				}
				_, _, err := access.UpdateRole(ctx, c, access.UpdateRoleInput{ID: fx.benchRole,
					Rights: []string{customKey(20), "settings.configure", "audit.view", customKey(9)}})
				return err
			}},
			{"link type", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.LinkUserType(ctx, c, some, fx.benchType, dry)
			}, 1, nil},
			{"unlink type", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.UnlinkUserType(ctx, c, some, fx.types[1], dry)
			}, 1, nil},
			{"set read-only on all", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.SetReadOnly(ctx, c, all, true, dry)
			}, 1, nil},
			{"set inactive", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.SetActive(ctx, c, some, false, dry)
			}, 1, nil},
			{"add to groups", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.AddToGroups(ctx, c, some, fx.groups[:2], dry)
			}, 1, nil},
			{"remove from groups", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.RemoveFromGroups(ctx, c, some, fx.groups[:3], dry)
			}, 1, nil},
			{"delete some users", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.DeleteUsers(ctx, c, some, dry)
			}, 600 + 1, nil},
			{"delete all users", func(ctx context.Context, c *gen.Client, dry bool) (*access.Result, error) {
				return access.DeleteUsers(ctx, c, all, dry)
			}, bulkUsers + 1, nil},
		} {
			t.Run(tc.name, func(t *testing.T) {
				tx, err := st.Client.Tx(fx.ctx)
				if err != nil {
					t.Fatal(err)
				}
				defer func() { _ = tx.Rollback() }()
				c := tx.Client()
				if tc.prepare != nil {
					if err := tc.prepare(fx.ctx, c); err != nil {
						t.Fatalf("prepare: %v", err)
					}
				}
				before := stateOf(t, fx.ctx, c)
				dry, err := tc.op(fx.ctx, c, true)
				if err != nil {
					t.Fatalf("dry run: %v", err)
				}
				if d := before.differences(stateOf(t, fx.ctx, c)); d != "" {
					t.Fatalf("the dry run changed the database:\n%s", d)
				}
				real, err := tc.op(fx.ctx, c, false)
				if err != nil {
					t.Fatalf("real run: %v", err)
				}
				after := stateOf(t, fx.ctx, c)
				if d := before.without("audit_events").differences(after.without("audit_events")); d == "" {
					t.Fatalf("the real run changed nothing, so the case shows nothing")
				}
				if got := len(after["audit_events"]) - len(before["audit_events"]); got != tc.audited {
					t.Errorf("the real run wrote %d audit events, want %d", got, tc.audited)
				}
				if !dry.DryRun || real.DryRun {
					t.Errorf("DryRun flags: dry %v, real %v", dry.DryRun, real.DryRun)
				}
				if dry.AffectedCount != real.AffectedCount || real.AffectedCount == 0 {
					t.Errorf("affected: dry %d, real %d", dry.AffectedCount, real.AffectedCount)
				}
				if d, r := impactText(dry.Impact), impactText(real.Impact); d != r {
					t.Errorf("the dry run's impact differs from the real run's:\n%s", lineDiff(d, r))
				}
			})
		}
	})
}

// impactText is an impact as comparable text.
func impactText(imp *access.Impact) string {
	if imp == nil {
		return "<nil>"
	}
	keys := func(rs []*gen.Right) []string {
		out := make([]string, len(rs))
		for i, r := range rs {
			out[i] = r.Key
		}
		return out
	}
	var b strings.Builder
	fmt.Fprintf(&b, "affected %d, truncated %v\n", imp.AffectedCount, imp.Truncated)
	for _, u := range imp.Users {
		fmt.Fprintf(&b, "user %d %q: +%v -%v access +%v -%v\n", u.UserID, u.UserName, keys(u.Gained), keys(u.Lost), u.AccessGained, u.AccessLost)
	}
	for _, r := range imp.Rights {
		fmt.Fprintf(&b, "right %s: +%d -%d\n", r.Right.Key, r.Gained, r.Lost)
	}
	return b.String()
}

// lineDiff shows the first lines where a (dry) and b (real) differ.
func lineDiff(a, b string) string {
	x, y := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for i := 0; i < max(len(x), len(y)) && len(out) < 8; i++ {
		var l, r string
		if i < len(x) {
			l = x[i]
		}
		if i < len(y) {
			r = y[i]
		}
		if l != r {
			out = append(out, fmt.Sprintf("  dry:  %s\n  real: %s", l, r))
		}
	}
	return strings.Join(out, "\n")
}

// ---------------------------------------------------------------------------
// (b) Concurrent operations on overlapping selections.

// retryable reports whether err is the store's way of saying "run the transaction
// again": a deadlock or lock wait timeout on MySQL, a busy database on SQLite.
func retryable(err error) bool {
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1213 || me.Number == 1205
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked")
}

// inRetriedTx runs op in its own transaction and commits, running the whole transaction
// again (a few times) when the store asks for it. It returns the result and how
// many attempts were retried.
func inRetriedTx(ctx context.Context, st *store.Store, op func(c *gen.Client) (*access.Result, error)) (*access.Result, int, error) {
	var lastErr error
	for attempt := range 8 {
		tx, err := st.Client.Tx(ctx)
		if err != nil {
			if retryable(err) {
				lastErr = err
				continue
			}
			return nil, attempt, err
		}
		res, err := op(tx.Client())
		if err == nil {
			err = tx.Commit()
		} else {
			_ = tx.Rollback()
		}
		if err == nil {
			return res, attempt, nil
		}
		if !retryable(err) {
			return nil, attempt, err
		}
		lastErr = err
		time.Sleep(time.Duration(10*(attempt+1)) * time.Millisecond)
	}
	return nil, 8, fmt.Errorf("still failing after 8 attempts: %w", lastErr)
}

// TestBulkConcurrentOverlappingSelections runs pairs of bulk operations at the same
// time, each in its own transaction, on selections that overlap (users 0–599 and
// 300–899), and checks that every selected user has exactly what each operation
// gives: neither operation loses the other's update.
func TestBulkConcurrentOverlappingSelections(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		const n = 900
		fx := seedFixture(t, st, n)
		first, second := fx.users[:600], fx.users[300:]
		ctx := fx.ctx
		query := func(q string, args ...any) map[int]bool {
			t.Helper()
			rows, err := st.Client.QueryContext(ctx, q, args...)
			if err != nil {
				t.Fatal(err)
			}
			defer rows.Close()
			out := map[int]bool{}
			for rows.Next() {
				var id int
				if err := rows.Scan(&id); err != nil {
					t.Fatal(err)
				}
				out[id] = true
			}
			if err := rows.Err(); err != nil {
				t.Fatal(err)
			}
			return out
		}
		// exactly checks that got holds exactly the users in want.
		exactly := func(what string, got map[int]bool, want []int) {
			t.Helper()
			var missing, extra []int
			for _, id := range want {
				if !got[id] {
					missing = append(missing, id)
				}
			}
			in := map[int]bool{}
			for _, id := range want {
				in[id] = true
			}
			for id := range got {
				if !in[id] {
					extra = append(extra, id)
				}
			}
			if len(missing)+len(extra) > 0 {
				t.Errorf("%s: %d users missing (e.g. %v), %d unexpected (e.g. %v)", what, len(missing), firstN(missing, 5), len(extra), firstN(extra, 5))
			}
		}
		// together runs a and b at once and checks their affected counts.
		retries := 0
		together := func(name string, a, b func(c *gen.Client) (*access.Result, error), wantA, wantB int) {
			t.Helper()
			var wg sync.WaitGroup
			start := make(chan struct{})
			results := make([]*access.Result, 2)
			errs := make([]error, 2)
			again := make([]int, 2)
			for i, op := range []func(c *gen.Client) (*access.Result, error){a, b} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					<-start
					results[i], again[i], errs[i] = inRetriedTx(ctx, st, op)
				}()
			}
			close(start)
			wg.Wait()
			retries += again[0] + again[1]
			for i, want := range []int{wantA, wantB} {
				if errs[i] != nil {
					t.Fatalf("%s: operation %d: %v", name, i+1, errs[i])
				}
				if results[i].AffectedCount != want {
					t.Errorf("%s: operation %d affected %d users, want %d", name, i+1, results[i].AffectedCount, want)
				}
			}
		}
		for round := range 3 {
			// What this round's operations give, new so that nobody has it yet.
			setup, err := st.Client.Tx(ctx)
			if err != nil {
				t.Fatal(err)
			}
			c := setup.Client()
			x, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: fmt.Sprintf("race.x%d", round), Name: "X", Kind: right.KindWRITE})
			if err != nil {
				t.Fatal(err)
			}
			y, err := access.CreateRight(ctx, c, access.CreateRightInput{Key: fmt.Sprintf("race.y%d", round), Name: "Y", Kind: right.KindREAD})
			if err != nil {
				t.Fatal(err)
			}
			// Role A holds X too: users in both selections hold X by two paths.
			roleRights := []string{x.Key, customKey(40 + round), customKey(43 + round), "reports.view", "audit.view"}
			roleA, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: fmt.Sprintf("Race %d", round), Rights: roleRights})
			if err != nil {
				t.Fatal(err)
			}
			typeT, err := access.CreateUserType(ctx, c, access.CreateUserTypeInput{Name: fmt.Sprintf("race%d", round), RoleIDs: []int{roleA.ID}})
			if err != nil {
				t.Fatal(err)
			}
			group, err := c.Group.Create().SetName(fmt.Sprintf("race%d", round)).Save(ctx)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := access.GrantRights(ctx, c, byIDs(fx.users), []access.GrantInput{{Right: &y.Key}}, false); err != nil {
				t.Fatal(err)
			}
			readOnly := round%2 == 0
			wasReadOnly := query(`SELECT id FROM users WHERE read_only = ?`, true)
			changing := 0
			for _, id := range second {
				if wasReadOnly[id] != readOnly {
					changing++
				}
			}
			if err := setup.Commit(); err != nil {
				t.Fatal(err)
			}

			together(fmt.Sprintf("round %d: apply role / grant right", round),
				func(c *gen.Client) (*access.Result, error) {
					return access.ApplyRoleTo(ctx, c, byIDs(first), roleA.ID, false)
				},
				func(c *gen.Client) (*access.Result, error) {
					return access.GrantRights(ctx, c, byIDs(second), []access.GrantInput{{Right: &x.Key}}, false)
				}, len(first), len(second))
			exactly("role recorded", query(`SELECT user_id FROM user_roles WHERE role_id = ?`, roleA.ID), first)
			roleKey := fmt.Sprintf("ROLE:%d", roleA.ID)
			for _, key := range roleRights {
				exactly(key+" copied from the role", query(`SELECT g.user_id FROM user_grants g JOIN rights r ON r.id = g.right_id
					WHERE r.key = ? AND g.kind = 'APP_RIGHT' AND g.source_key = ?
					UNION SELECT uc.user_id FROM user_role_copies uc JOIN role_copies rc ON rc.id = uc.role_copy_id
						JOIN role_copy_rights cr ON cr.role_copy_id = rc.id JOIN rights r ON r.id = cr.right_id
					WHERE r.key = ? AND rc.role_id = ?`, key, roleKey, key, roleA.ID), first)
			}
			exactly("X by hand", query(`SELECT user_id FROM user_grants WHERE right_id = ? AND source_key = 'MANUAL'`, x.ID), second)

			together(fmt.Sprintf("round %d: link type / set read-only", round),
				func(c *gen.Client) (*access.Result, error) {
					return access.LinkUserType(ctx, c, byIDs(first), typeT.ID, false)
				},
				func(c *gen.Client) (*access.Result, error) {
					return access.SetReadOnly(ctx, c, byIDs(second), readOnly, false)
				},
				len(first), changing)
			exactly("type linked", query(`SELECT user_id FROM user_type_links WHERE user_type_id = ?`, typeT.ID), first)
			wantReadOnly := slices.Clone(second)
			if !readOnly {
				wantReadOnly = nil
			}
			for _, id := range fx.users[:300] {
				if wasReadOnly[id] {
					wantReadOnly = append(wantReadOnly, id)
				}
			}
			exactly("read-only", query(`SELECT id FROM users WHERE read_only = ?`, true), wantReadOnly)

			together(fmt.Sprintf("round %d: add to group / revoke right", round),
				func(c *gen.Client) (*access.Result, error) {
					return access.AddToGroups(ctx, c, byIDs(first), []int{group.ID}, false)
				},
				func(c *gen.Client) (*access.Result, error) {
					return access.RevokeRights(ctx, c, byIDs(second), []access.GrantInput{{Right: &y.Key}}, false)
				}, len(first), len(second))
			exactly("group members", query(`SELECT user_id FROM group_users WHERE group_id = ?`, group.ID), first)
			exactly("Y kept", query(`SELECT user_id FROM user_grants WHERE right_id = ?`, y.ID), fx.users[:300])
		}
		if retries > 0 {
			t.Logf("%s: %d transactions were run again after a deadlock or busy database", st.Dialect, retries)
		}
	})
}

// ---------------------------------------------------------------------------
// (c) Statements per question.

// TestEffectiveRightsQueryCount checks that one user's effective rights (with every
// record their paths name) cost the same, small number of statements whether the user
// has one type, role and grant or fifty of each; likewise a check and an explain; and
// that a bulk operation's statements do not grow with the selection.
func TestEffectiveRightsQueryCount(t *testing.T) {
	var stmts statementLog
	storetest.EachWith(t, []store.Option{store.WithDriver(stmts.driver)}, func(t *testing.T, st *store.Store) {
		fx := seedFixture(t, st, 300)
		ctx := fx.ctx
		const many = 50
		tx, err := st.Client.Tx(ctx)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = tx.Rollback() }()
		c := tx.Client()
		must := func(err error) {
			t.Helper()
			if err != nil {
				t.Fatal(err)
			}
		}
		// Grants are given by several Admins, so that paths name who granted them.
		admins := fx.users[200:205]
		adminRole, err := c.Role.Query().Where(role.Name(access.AdminRole)).OnlyID(ctx)
		must(err)
		must(access.ApplyRole(ctx, c, adminRole, admins...))
		callers := map[int]context.Context{}
		for _, admin := range admins {
			v := &viewer.Viewer{AccountID: fx.accountID, Kind: viewer.KindUser, ActorID: admin,
				Actor: fmt.Sprintf("user:%d", admin), AllData: true}
			v.SetAuthorityLoader(func(ctx context.Context) (*viewer.Authority, error) { return access.LoadAuthority(ctx, c, v) })
			callers[admin] = viewer.NewContext(ctx, v)
		}
		roles := make([]int, many)
		types := make([]int, many)
		for i := range many {
			r, err := access.CreateRole(ctx, c, access.CreateRoleInput{Name: fmt.Sprintf("Count Role %d", i),
				Rights: []string{customKey(i), customKey((i + 7) % fxCustomRights)}})
			must(err)
			roles[i] = r.ID
			ds := fx.dataSets[i%len(fx.dataSets)]
			leaf := fx.leaves[i%len(fx.leaves)]
			typ, err := access.CreateUserType(ctx, c, access.CreateUserTypeInput{Name: fmt.Sprintf("Count Type %d", i),
				RoleIDs: []int{r.ID}, Grants: []access.GrantInput{
					accessGrant(ds, leaf),
					{Right: fxRef(customKey((i + 11) % fxCustomRights)), DataSetID: &ds, NodeID: &leaf},
				}})
			must(err)
			types[i] = typ.ID
		}
		// Users with nothing of their own yet (not linked, no role, not in the heavy mix).
		small, big := fx.users[250], fx.users[251]
		for _, u := range []int{small, big} {
			_, err := c.ExecContext(ctx, `DELETE FROM user_grants WHERE user_id = ?`, u)
			must(err)
			_, err = c.ExecContext(ctx, `DELETE FROM user_type_links WHERE user_id = ?`, u)
			must(err)
			_, err = c.ExecContext(ctx, `DELETE FROM user_roles WHERE user_id = ?`, u)
			must(err)
		}
		give := func(u, i int) {
			t.Helper()
			admin := callers[admins[i%len(admins)]]
			_, err := access.LinkUserType(admin, c, access.One(u), types[i], false)
			must(err)
			_, err = access.ApplyRoleTo(admin, c, access.One(u), roles[i], false)
			must(err)
			ds := fx.dataSets[(i+1)%len(fx.dataSets)]
			leaf := fx.leaves[(i+1)%len(fx.leaves)]
			_, err = access.GrantRights(admin, c, access.One(u), []access.GrantInput{
				{Right: fxRef(customKey((i + 23) % fxCustomRights)), DataSetID: &ds, NodeID: &leaf},
			}, false)
			must(err)
		}
		give(small, 0)
		for i := range many {
			give(big, i)
		}
		must(tx.Commit())

		type question struct {
			name string
			// most is the bound: ~16 for the holder (one for its role copies), and 3
			// more for a check, which resolves the right and the target first.
			most int
			ask  func(userID int) (int, error) // returns the size of the answer
		}
		// The question's target: a level of ds1.
		ds, node := fx.dataSets[1], fx.leaves[1]
		for _, q := range []question{
			{"effective rights with details", 16, func(u int) (int, error) {
				h, err := access.LoadHolder(ctx, st.Client, u, true)
				if err != nil {
					return 0, err
				}
				return len(h.EffectiveRights()), nil
			}},
			{"check", 19, func(u int) (int, error) {
				d, err := access.Check(ctx, st.Client, u, customKey(24), ds, node, false)
				return len(d.RightPaths) + len(d.AccessPaths), err
			}},
			{"explain", 19, func(u int) (int, error) {
				d, err := access.Check(ctx, st.Client, u, customKey(24), ds, node, true)
				return len(d.RightPaths) + len(d.AccessPaths), err
			}},
		} {
			counts := map[int]int{}
			sizes := map[int]int{}
			var logs [][]string
			for _, u := range []int{small, big} {
				var err error
				n, log := stmts.measure(func() { sizes[u], err = q.ask(u) })
				if err != nil {
					t.Fatalf("%s: %v", q.name, err)
				}
				counts[u] = n
				logs = append(logs, log)
			}
			if q.name == "effective rights with details" && sizes[big] < many*2 {
				t.Errorf("%s: the user with %d of everything has only %d effective rights", q.name, many, sizes[big])
			}
			if counts[small] != counts[big] || counts[big] > q.most {
				t.Errorf("%s: %d statements for one type, role and grant, %d for %d of each (want the same, at most %d):\n%s",
					q.name, counts[small], counts[big], many, q.most, strings.Join(logs[1], "\n"))
			} else {
				t.Logf("%s: %s: %d statements", st.Dialect, q.name, counts[big])
			}
		}

		// Set-based bulk operations: the statements do not depend on how many users
		// are selected (within one chunk).
		grantX := []access.GrantInput{{Right: fxRef(customKey(5))}, {Right: fxRef(customKey(6)), DataSetID: &fx.dataSets[0]}}
		for _, op := range []struct {
			name string
			run  func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error)
		}{
			{"grant rights", func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error) {
				return access.GrantRights(ctx, c, sel, grantX, false)
			}},
			{"apply role", func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error) {
				return access.ApplyRoleTo(ctx, c, sel, fx.benchRole, false)
			}},
			{"link type", func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error) {
				return access.LinkUserType(ctx, c, sel, fx.benchType, false)
			}},
			{"set read-only", func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error) {
				return access.SetReadOnly(ctx, c, sel, true, false)
			}},
			{"delete users", func(ctx context.Context, c *gen.Client, sel access.UserSelection) (*access.Result, error) {
				return access.DeleteUsers(ctx, c, sel, false)
			}},
		} {
			counts := []int{}
			for _, sel := range [][]int{fx.users[:3], fx.users[:200]} {
				tx, err := st.Client.Tx(ctx)
				must(err)
				n, _ := stmts.measure(func() {
					_, err = op.run(ctx, tx.Client(), byIDs(sel))
				})
				must(err)
				must(tx.Rollback())
				counts = append(counts, n)
			}
			if counts[0] != counts[1] {
				t.Errorf("%s: %d statements for 3 users, %d for 200", op.name, counts[0], counts[1])
			}
		}
	})
}
