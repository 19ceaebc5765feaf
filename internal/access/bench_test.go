package access_test

// Benchmarks of the rights engine over an account of 20,000 users, on SQLite and
// (when LATCHKEY_TEST_MYSQL_DSN is set) on MySQL:
//
//	go test ./internal/access/ -run '^$' -bench . -benchtime=3x
//
// CI runs them once (-benchtime=1x) so they cannot rot. Each benchmark seeds its own
// store once (a few seconds per store); seeding is set-based SQL and is not timed.
// The fixture is shared with bulk_test.go.

import (
	"context"
	"fmt"
	"os"
	"slices"
	"testing"
	"time"

	gen "latchkey/ent"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

// Sizes of the seeded account.
const (
	benchUsers      = 20000
	fxCustomRights  = 60 // custom.r00 … custom.r59
	fxDataSets      = 5  // ds0 … ds4, each Region › Branch › Team
	fxTypes         = 4  // type0 … type3 (type3 is read-only), linked to some users
	fxGroups        = 10 // group0 … group9
	fxHeavyGrants   = 200
	fxBenchRoleSize = 10
)

// fixture is a seeded account: rights, data sets with levels, roles, user types
// with roles and company-specific grants, groups, and users holding a few direct
// grants each, some of them linked to types. See seedAccount for who holds what.
type fixture struct {
	st        *store.Store
	ctx       context.Context // the system, inside the account
	accountID int
	users     []int // every seeded user, ascending
	rights    map[string]int
	dataSets  []int
	leaves    []int // per data set: its deepest level (Team)
	types     []int // type0 … type3
	groups    []int
	viewer    int // the built-in Viewer role (applied to a quarter of the users)
	// benchRole has fxBenchRoleSize rights and is applied to nobody.
	benchRole int
	// benchType has two roles, company-specific rights and data-set access and is
	// linked to nobody.
	benchType int
	// heavy is linked to type0, type1 and type2 and holds fxHeavyGrants direct grants
	// besides what every user gets.
	heavy int
}

func (fx *fixture) right(key string) int {
	id, ok := fx.rights[key]
	if !ok {
		panic("fixture has no right " + key)
	}
	return id
}

func customKey(i int) string { return fmt.Sprintf("custom.r%02d", i) }

// allUsers selects every seeded user through a filter, as "select all N users" does.
func allUsers() access.UserSelection {
	prefix := "u"
	return access.UserSelection{Where: &gen.UserWhereInput{UserNameHasPrefix: &prefix}}
}

// seedAccount creates an account with n users in one transaction, mostly with
// set-based SQL, and returns it. Who holds what (by user id, so the data is mixed):
//
//   - everyone: reports.view by hand; data-set access to ds(id%5);
//     a custom application right custom.r0(id%7);
//   - id%10 < 5: assignments.edit on ds(id%10) only (company-specific);
//   - id%4 = 0: the built-in Viewer role applied (copied grants and the role);
//   - id%4 = 1: linked to type0; id%4 = 2: type1; id%8 = 3: type2; id%20 = 7: type3
//     (read-only);
//   - member of group(id%10);
//   - every 50th user inactive, every 25th read-only (by position);
//   - heavy: one user linked to three types with fxHeavyGrants more direct grants.
func seedAccount(ctx context.Context, st *store.Store, name string, n int) (fx *fixture, err error) {
	tx, err := st.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	c := tx.Client()
	acct, sys, err := access.CreateAccount(ctx, c, name)
	if err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	fx = &fixture{st: st, ctx: sys, accountID: acct.ID, rights: map[string]int{}}
	// Seeding is not what is measured or audited: one quiet context for all of it.
	q := audit.WithoutHook(sys)

	// The catalogue: the built-ins and fxCustomRights custom rights.
	creates := make([]*gen.RightCreate, fxCustomRights)
	for i := range creates {
		kind := right.KindREAD
		if i%3 == 0 {
			kind = right.KindWRITE
		}
		creates[i] = c.Right.Create().SetKey(customKey(i)).SetName(fmt.Sprintf("Custom %d", i)).
			SetApplication("Claims").SetKind(kind)
	}
	if err := c.Right.CreateBulk(creates...).Exec(q); err != nil {
		return nil, fmt.Errorf("create rights: %w", err)
	}
	rights, err := c.Right.Query().All(q)
	if err != nil {
		return nil, err
	}
	var custom []int
	for _, r := range rights {
		fx.rights[r.Key] = r.ID
		if !r.BuiltIn {
			custom = append(custom, r.ID)
		}
	}
	// As access.CreateRight does: the Admin role holds every right.
	if err := c.Role.Update().Where(role.BuiltIn(true), role.Name(access.AdminRole)).AddRightIDs(custom...).Exec(q); err != nil {
		return nil, err
	}

	// Data sets, each with a Region › Branch › Team hierarchy (and a second region).
	for i := range fxDataSets {
		ds, err := c.DataSet.Create().SetName(fmt.Sprintf("ds%d", i)).Save(q)
		if err != nil {
			return nil, fmt.Errorf("create data set: %w", err)
		}
		fx.dataSets = append(fx.dataSets, ds.ID)
		parent, path := 0, "/"
		for depth, level := range []string{"Region", "Branch", "Team"} {
			b := c.HierarchyNode.Create().SetDataSetID(ds.ID).SetName(level).SetDepth(depth)
			if parent != 0 {
				b.SetParentID(parent)
			}
			node, err := b.Save(q)
			if err != nil {
				return nil, fmt.Errorf("create node: %w", err)
			}
			path = fmt.Sprintf("%s%d/", path, node.ID)
			if err := c.HierarchyNode.UpdateOne(node).SetPath(path).Exec(q); err != nil {
				return nil, err
			}
			parent = node.ID
		}
		fx.leaves = append(fx.leaves, parent)
		other, err := c.HierarchyNode.Create().SetDataSetID(ds.ID).SetName("Region 2").Save(q)
		if err != nil {
			return nil, err
		}
		if err := c.HierarchyNode.UpdateOne(other).SetPath(fmt.Sprintf("/%d/", other.ID)).Exec(q); err != nil {
			return nil, err
		}
	}

	// Roles: the bench role (applied to nobody) and two roles for each type.
	benchRights := make([]string, 0, fxBenchRoleSize)
	for i := range fxBenchRoleSize - 2 {
		benchRights = append(benchRights, customKey(20+i))
	}
	benchRights = append(benchRights, "reports.view", "reports.custom")
	br, err := access.CreateRole(q, c, access.CreateRoleInput{Name: "Bench Role", Rights: benchRights})
	if err != nil {
		return nil, fmt.Errorf("create role: %w", err)
	}
	fx.benchRole = br.ID
	if fx.viewer, err = c.Role.Query().Where(role.Name("Viewer")).OnlyID(q); err != nil {
		return nil, err
	}
	typeRoles := make([]int, 0, 2*(fxTypes+1))
	for i := range 2 * (fxTypes + 1) {
		keys := []string{customKey(30 + 2*i), customKey(31 + 2*i), "assignments.view"}
		if i%2 == 1 {
			keys = append(keys, "assignments.edit")
		}
		r, err := access.CreateRole(q, c, access.CreateRoleInput{Name: fmt.Sprintf("Type Role %d", i), Rights: keys})
		if err != nil {
			return nil, fmt.Errorf("create role: %w", err)
		}
		typeRoles = append(typeRoles, r.ID)
	}

	// Types: two roles, data-set access to one data set (a level of it for some),
	// company-specific rights on it and on ALL.
	yes := true
	for i := range fxTypes + 1 {
		ds := fx.dataSets[i%fxDataSets]
		grants := []access.GrantInput{
			{DataSetID: &ds},
			{Right: fxRef(customKey(50 + i)), DataSetID: &ds},
			{Right: fxRef("assignments.edit"), DataSetID: &ds},
			{Right: fxRef(customKey(56)), AllDataSets: &yes},
		}
		if i%2 == 1 {
			leaf := fx.leaves[(i+1)%fxDataSets]
			other := fx.dataSets[(i+1)%fxDataSets]
			grants = append(grants, accessGrant(other, leaf))
		}
		in := typeInput(fmt.Sprintf("type%d", i), i == 3, typeRoles[2*i:2*i+2], grants)
		if i == fxTypes {
			in.Name = "Bench Type"
		}
		t, err := createType(q, c, in)
		if err != nil {
			return nil, fmt.Errorf("create type: %w", err)
		}
		if i == fxTypes {
			fx.benchType = t
		} else {
			fx.types = append(fx.types, t)
		}
	}

	for i := range fxGroups {
		g, err := c.Group.Create().SetName(fmt.Sprintf("group%d", i)).Save(q)
		if err != nil {
			return nil, err
		}
		fx.groups = append(fx.groups, g.ID)
	}

	// Users, a thousand per statement.
	for start := 0; start < n; start += 1000 {
		batch := make([]*gen.UserCreate, 0, 1000)
		for i := start; i < min(n, start+1000); i++ {
			batch = append(batch, c.User.Create().SetUserName(fmt.Sprintf("u%05d", i)).
				SetEmail(fmt.Sprintf("u%05d@acme.test", i)).SetGivenName("User").SetFamilyName(fmt.Sprintf("N%05d", i)).
				SetLocation(fmt.Sprintf("Site %d", i%12)).SetDepartment(fmt.Sprintf("Dept %d", i%7)).
				SetActive(i%50 != 49).SetReadOnly(i%25 == 24))
		}
		if err := c.User.CreateBulk(batch...).Exec(q); err != nil {
			return nil, fmt.Errorf("create users: %w", err)
		}
	}
	if fx.users, err = c.User.Query().Order(user.ByID()).IDs(q); err != nil {
		return nil, err
	}
	if len(fx.users) != n {
		return nil, fmt.Errorf("seeded %d users, want %d", len(fx.users), n)
	}

	// Grants, links and memberships, set-wise.
	s := seeder{ctx: q, c: c, account: acct.ID, at: time.Now()}
	s.grant("1 = 1", enums.GrantAppRight, fx.right("reports.view"), 0, 0)
	for i, ds := range fx.dataSets {
		s.grant(fmt.Sprintf("u.id %% 5 = %d", i), enums.GrantDataSet, 0, ds, 0)
		s.grant(fmt.Sprintf("u.id %% 10 = %d", i), enums.GrantCompanyRight, fx.right("assignments.edit"), ds, 0)
	}
	for k := range 7 {
		s.grant(fmt.Sprintf("u.id %% 7 = %d", k), enums.GrantAppRight, fx.right(customKey(k)), 0, 0)
	}
	for _, key := range []string{"reports.view", "assignments.view"} {
		s.roleGrant("u.id % 4 = 0", fx.right(key), fx.viewer, "Viewer")
	}
	s.exec(`INSERT INTO user_roles (user_id, role_id) SELECT u.id, ? FROM users u WHERE u.account_id = ? AND u.id % 4 = 0`, fx.viewer, acct.ID)
	for i, cond := range []string{"u.id % 4 = 1", "u.id % 4 = 2", "u.id % 8 = 3", "u.id % 20 = 7"} {
		s.exec(`INSERT INTO user_type_links (user_id, user_type_id) SELECT u.id, ? FROM users u WHERE u.account_id = ? AND `+cond, fx.types[i], acct.ID)
	}
	for i, g := range fx.groups {
		s.exec(fmt.Sprintf(`INSERT INTO group_users (group_id, user_id) SELECT ?, u.id FROM users u WHERE u.account_id = ? AND u.id %% 10 = %d`, i), g, acct.ID)
	}

	// The heavy user: active, not read-only, not linked by the rules above (id%4 = 0),
	// then linked to three types and given fxHeavyGrants more grants.
	for i, id := range fx.users {
		if id%4 == 0 && i%25 != 24 && i%50 != 49 {
			fx.heavy = id
			break
		}
	}
	if fx.heavy == 0 {
		return nil, fmt.Errorf("no user fits the heavy user")
	}
	for _, t := range fx.types[:3] {
		s.exec(`INSERT INTO user_type_links (user_id, user_type_id) VALUES (?, ?)`, fx.heavy, t)
	}
	heavy := fmt.Sprintf("u.id = %d", fx.heavy)
	for i := range fxHeavyGrants / 4 {
		r := fx.right(customKey(10 + i))
		s.grant(heavy, enums.GrantAppRight, r, 0, 0)
		for _, ds := range fx.dataSets[:3] {
			s.grant(heavy, enums.GrantCompanyRight, r, ds, 0)
		}
	}
	if s.err != nil {
		return nil, s.err
	}
	if err := tx.Commit(); err != nil {
		return nil, err
	}
	return fx, nil
}

func fxRef[T any](v T) *T { return &v }

func accessGrant(ds, node int) access.GrantInput {
	return access.GrantInput{DataSetID: &ds, NodeID: &node}
}

func typeInput(name string, readOnly bool, roles []int, grants []access.GrantInput) access.CreateUserTypeInput {
	return access.CreateUserTypeInput{Name: name, ReadOnly: &readOnly, RoleIDs: roles, Grants: grants}
}

func createType(ctx context.Context, c *gen.Client, in access.CreateUserTypeInput) (int, error) {
	t, err := access.CreateUserType(ctx, c, in)
	if err != nil {
		return 0, err
	}
	return t.ID, nil
}

// seeder writes rows set-wise on a transaction; the first error sticks.
type seeder struct {
	ctx     context.Context
	c       *gen.Client
	account int
	at      time.Time
	err     error
}

func (s *seeder) exec(query string, args ...any) {
	if s.err != nil {
		return
	}
	if _, err := s.c.ExecContext(s.ctx, query, args...); err != nil {
		s.err = fmt.Errorf("seed: %w\n%s", err, query)
	}
}

const seedGrantColumns = `account_id, user_id, kind, right_id, data_set_id, node_id, all_data_sets, grant_key, source,
	source_role_id, source_role_name, source_key, granted_at`

// grant gives the users matching cond (on users u) one direct grant by hand.
func (s *seeder) grant(cond string, kind enums.GrantKind, rightID, dataSetID, nodeID int) {
	g := access.Grant{Kind: kind, RightID: rightID, DataSetID: dataSetID, NodeID: nodeID}
	s.exec(`INSERT INTO user_grants (`+seedGrantColumns+`)
		SELECT ?, u.id, ?, ?, ?, ?, ?, ?, 'MANUAL', NULL, NULL, 'MANUAL', ? FROM users u WHERE u.account_id = ? AND `+cond,
		s.account, string(kind), fxNull(rightID), fxNull(dataSetID), fxNull(nodeID), false, g.Key(), s.at, s.account)
}

// roleGrant gives the users matching cond a right copied from a role.
func (s *seeder) roleGrant(cond string, rightID, roleID int, roleName string) {
	g := access.Grant{Kind: enums.GrantAppRight, RightID: rightID}
	s.exec(`INSERT INTO user_grants (`+seedGrantColumns+`)
		SELECT ?, u.id, 'APP_RIGHT', ?, NULL, NULL, ?, ?, 'ROLE', ?, ?, ?, ? FROM users u WHERE u.account_id = ? AND `+cond,
		s.account, rightID, false, g.Key(), roleID, roleName, fmt.Sprintf("ROLE:%d", roleID), s.at, s.account)
}

func fxNull(id int) any {
	if id == 0 {
		return nil
	}
	return id
}

// benchStores runs fn as sub-benchmarks "sqlite" and "mysql" (skipped unless
// LATCHKEY_TEST_MYSQL_DSN is set), each on its own store seeded once with
// benchUsers users. The stores belong to the parent benchmark, so they outlive the
// sub-benchmark's runs (the framework runs a sub-benchmark once with b.N = 1 and
// again with the final b.N).
func benchStores(b *testing.B, fn func(b *testing.B, fx *fixture)) {
	b.Helper()
	defer access.CheckDerivedSnapshots(false)()
	for _, kind := range []string{"sqlite", "mysql"} {
		var st *store.Store
		switch {
		case kind == "sqlite":
			st = storetest.SQLite(b)
		case os.Getenv(storetest.MySQLEnv) != "":
			st = storetest.MySQL(b)
		}
		var fx *fixture
		b.Run(kind, func(b *testing.B) {
			if st == nil {
				b.Skipf("%s is not set", storetest.MySQLEnv)
			}
			if fx == nil {
				b.StopTimer()
				var err error
				start := time.Now()
				if fx, err = seedAccount(context.Background(), st, "bench", benchUsers); err != nil {
					b.Fatalf("seeding: %v", err)
				}
				// As the server does at start and hourly: the planner needs statistics.
				if err := st.Optimize(context.Background()); err != nil {
					b.Fatal(err)
				}
				b.Logf("%s: seeded %d users in %v", kind, benchUsers, time.Since(start).Round(time.Millisecond))
				b.StartTimer()
			}
			b.ResetTimer()
			fn(b, fx)
			b.StopTimer()
			b.ReportMetric(float64(b.Elapsed().Microseconds())/1000/float64(b.N), "ms/op")
		})
	}
}

// benchInTx runs op b.N times, each in a fresh transaction rolled back afterwards
// (outside the timer), so that every iteration does the whole work.
func benchInTx(b *testing.B, fx *fixture, op func(ctx context.Context, c *gen.Client) (*access.Result, error), check func(*access.Result) error) {
	b.Helper()
	for range b.N {
		b.StopTimer()
		tx, err := fx.st.Client.Tx(fx.ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		res, err := op(fx.ctx, tx.Client())
		b.StopTimer()
		if err == nil {
			err = check(res)
		}
		if rbErr := tx.Rollback(); rbErr != nil && err == nil {
			err = rbErr
		}
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// wantAffected checks a result against the number of users it must have changed.
func wantAffected(n int, impact bool) func(*access.Result) error {
	return func(res *access.Result) error {
		if res.AffectedCount != n {
			return fmt.Errorf("affected %d users, want %d", res.AffectedCount, n)
		}
		if impact && (res.Impact == nil || res.Impact.AffectedCount == 0 || len(res.Impact.Rights) == 0) {
			return fmt.Errorf("no impact measured: %+v", res.Impact)
		}
		return nil
	}
}

// BenchmarkBulkSummary20k reads as the server does: from the pool, with a request's
// cache, so chunks are read side by side.
func BenchmarkBulkSummary20k(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		cache, err := access.NewCache(fx.ctx, fx.st.Client, fx.st.DB, 1024)
		if err != nil {
			b.Fatal(err)
		}
		defer cache.Close()
		for range b.N {
			s, err := access.Summarize(access.WithCache(fx.ctx, cache), fx.st.Client, allUsers())
			if err != nil {
				b.Fatal(err)
			}
			if s.Count != benchUsers || len(s.Rights) != len(fx.rights) {
				b.Fatalf("summary of %d users, %d rights", s.Count, len(s.Rights))
			}
			for _, r := range s.Rights {
				if r.Right.Key == "reports.view" && (r.Direct != benchUsers || r.Effective == 0) {
					b.Fatalf("reports.view: direct %d, effective %d", r.Direct, r.Effective)
				}
			}
		}
	})
}

func BenchmarkBulkApplyRole20k(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		benchInTx(b, fx, func(ctx context.Context, c *gen.Client) (*access.Result, error) {
			return access.ApplyRoleTo(ctx, c, allUsers(), fx.benchRole, false)
		}, wantAffected(benchUsers, true))
	})
}

func BenchmarkBulkDryRunApplyRole20k(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		benchInTx(b, fx, func(ctx context.Context, c *gen.Client) (*access.Result, error) {
			return access.ApplyRoleTo(ctx, c, allUsers(), fx.benchRole, true)
		}, wantAffected(benchUsers, true))
	})
}

func BenchmarkBulkLinkUserType20k(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		benchInTx(b, fx, func(ctx context.Context, c *gen.Client) (*access.Result, error) {
			return access.LinkUserType(ctx, c, allUsers(), fx.benchType, false)
		}, wantAffected(benchUsers, true))
	})
}

func BenchmarkBulkGrantRights20k(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		grants := []access.GrantInput{
			{Right: fxRef(customKey(7))},
			{Right: fxRef(customKey(8))},
			{Right: fxRef(customKey(9)), DataSetID: &fx.dataSets[1]},
			accessGrant(fx.dataSets[4], fx.leaves[4]),
		}
		benchInTx(b, fx, func(ctx context.Context, c *gen.Client) (*access.Result, error) {
			return access.GrantRights(ctx, c, allUsers(), grants, false)
		}, wantAffected(benchUsers, true))
	})
}

func BenchmarkEffectiveRights(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		for range b.N {
			h, err := access.LoadHolder(fx.ctx, fx.st.Client, fx.heavy, true)
			if err != nil {
				b.Fatal(err)
			}
			// 50 application rights and 150 company-specific ones by hand, plus what
			// every user and the three types give.
			if er := h.EffectiveRights(); len(er) < fxHeavyGrants {
				b.Fatalf("%d effective rights, want at least %d", len(er), fxHeavyGrants)
			}
		}
	})
}

func BenchmarkCheck(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		// custom.r10 on ds0 by hand; access to ds0 through type0.
		key := customKey(10)
		for range b.N {
			d, err := access.Check(fx.ctx, fx.st.Client, fx.heavy, key, fx.dataSets[0], fx.leaves[0], false)
			if err != nil {
				b.Fatal(err)
			}
			if !d.Allowed {
				b.Fatalf("heavy user may not use %s: %+v", key, d)
			}
		}
	})
}

// BenchmarkCheckCached is a check as a request after the first asks it: the holder,
// rights and target come from the cache at the account's revision.
func BenchmarkCheckCached(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		cache, err := access.NewCache(fx.ctx, fx.st.Client, fx.st.DB, 1024)
		if err != nil {
			b.Fatal(err)
		}
		key := customKey(10)
		for range b.N {
			ctx := access.WithCache(fx.ctx, cache)
			d, err := access.Check(ctx, fx.st.Client, fx.heavy, key, fx.dataSets[0], fx.leaves[0], false)
			if err != nil || !d.Allowed {
				b.Fatalf("check: %v %+v", err, d)
			}
		}
	})
}

// BenchmarkCheckBatch100 is canBatch: 100 checks about one user, uncached.
func BenchmarkCheckBatch100(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		checks := make([]*access.CheckQuery, 100)
		for i := range checks {
			node := fx.leaves[i%len(fx.leaves)]
			checks[i] = &access.CheckQuery{Right: customKey(10 + i%5), DataSetID: fx.dataSets[i%len(fx.dataSets)], NodeID: &node}
		}
		for range b.N {
			out, err := access.CheckMany(fx.ctx, fx.st.Client, fx.heavy, checks)
			if err != nil || len(out) != len(checks) || !out[0] {
				b.Fatalf("batch: %v %v", err, out)
			}
		}
	})
}

func BenchmarkWhoCan(b *testing.B) {
	benchStores(b, func(b *testing.B, fx *fixture) {
		r, err := access.RightByKey(fx.ctx, fx.st.Client, "assignments.edit")
		if err != nil {
			b.Fatal(err)
		}
		t, err := access.ResolveTarget(fx.ctx, fx.st.Client, fx.dataSets[0], fx.leaves[0])
		if err != nil {
			b.Fatal(err)
		}
		b.ResetTimer()
		for range b.N {
			page, err := fx.st.Client.User.Query().Where(access.CanAt(r, t)).Order(user.ByID()).Limit(50).All(fx.ctx)
			if err != nil {
				b.Fatal(err)
			}
			if len(page) != 50 || !slices.IsSortedFunc(page, func(a, b *gen.User) int { return a.ID - b.ID }) {
				b.Fatalf("whoCan page of %d users", len(page))
			}
		}
	})
}
