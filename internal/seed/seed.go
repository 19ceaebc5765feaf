// Package seed fills an account with a realistic organisation of the size SPEC §5
// designs for — by default 100,000 users, 5,000 groups of skewed sizes, 500 rights,
// 100 roles, 50 user types, 50 data sets with 10,000 hierarchy nodes and millions
// of grants — so that the bench command (internal/bench) has something to measure.
//
// The catalogue (rights, roles, types, data sets) goes through the rights engine's
// own functions; the mass rows (users, memberships, grants, links) are written
// set-wise, many rows per statement, in the same shapes the engine writes them, so
// the result is indistinguishable from an account built through the API. It all
// happens in one transaction: a failed seed leaves nothing behind.
package seed

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"entgo.io/ent/dialect"
	"entgo.io/ent/privacy"

	gen "latchkey/ent"
	"latchkey/ent/account"
	"latchkey/ent/right"
	"latchkey/ent/role"
	"latchkey/ent/schema/enums"
	"latchkey/ent/user"
	"latchkey/internal/access"
	"latchkey/internal/audit"
	"latchkey/internal/store"
	"latchkey/internal/viewer"
)

// Conventions the bench command relies on (internal/bench uses the same defaults).
const (
	// DefaultAccount is the account seeded when none is named.
	DefaultAccount = "seed"
	// Subject is the user the per-user reads ask about: three user types and 200
	// direct grants.
	Subject = "bench.subject@seed.example"
	// Operator holds the Admin role; the bench command acts as them.
	Operator = "operator@seed.example"
	// Selection is the department of exactly a fifth of the users: the bulk
	// operations' selection.
	Selection = "Claims"
	// MaxExistingUsers is how many users an account may already have to be seeded:
	// seed fills a new (or freshly bootstrapped) account, never a working one.
	MaxExistingUsers = 10
)

// Shape of the catalogue, whatever the number of users (SPEC §5).
const (
	totalRights    = 500
	totalRoles     = 100
	userTypes      = 50
	dataSets       = 50
	regionsPerSet  = 4 // each data set: 4 regions › 7 branches › 6 teams = 200 nodes
	branchesPer    = 7
	teamsPer       = 6
	subjectGrants  = 200
	usersPerGroup  = 20 // groups = users / 20 (5,000 at 100k)
	subjectTypes   = 3
	adjusterGroup  = "Claims Adjusters"
	adjusterType   = "Adjuster"
	seedDomain     = "@seed.example"
	rightsPerRoleL = 4
	rightsPerRoleH = 12
)

var (
	applications = []string{"Claims", "Policies", "Billing", "Underwriting", "Fleet", "Payroll", "Procurement", "Reports", "Scheduling", "Compliance"}
	departments  = []string{"Underwriting", "Billing", "Sales", "Operations", "Finance", "IT", "Legal", "Customer Service", "Risk", "HR", "Procurement", "Fleet"}
	titles       = []string{"Analyst", "Senior Analyst", "Specialist", "Team Lead", "Manager", "Associate", "Coordinator", "Director", "Officer", "Consultant"}
	givenNames   = []string{"Ada", "Ben", "Chloé", "Dev", "Eun-ji", "Femi", "Gustav", "Hana", "Ivan", "Jun", "Kofi", "Lena", "Mateo", "Nia", "Omar", "Priya", "Quinn", "Rosa", "Sven", "Tariq", "Uma", "Viktor", "Wen", "Ximena", "Yusuf", "Zoë"}
	familyNames  = []string{"Adeyemi", "Bauer", "Costa", "Dubois", "Eriksen", "Fischer", "García", "Haddad", "Ivanova", "Jensen", "Kowalski", "López", "Müller", "Nakamura", "O'Brien", "Patel", "Quispe", "Rossi", "Smith", "Tanaka", "Ueda", "Varga", "Wójcik", "Xu", "Yilmaz", "Zhang"}
)

// Options configure a seed.
type Options struct {
	Account string    // name of the account; created if missing (default DefaultAccount)
	Users   int       // how many users (default 100,000)
	Seed    uint64    // random seed: the same seed gives the same account (default 1)
	Log     io.Writer // one line per phase (nil: silent)
}

// Report says what was written.
type Report struct {
	AccountID       int           `json:"accountId"`
	Account         string        `json:"account"`
	Users           int           `json:"users"`
	Groups          int           `json:"groups"`
	Memberships     int           `json:"memberships"`
	Rights          int           `json:"rights"`
	Roles           int           `json:"roles"`
	UserTypes       int           `json:"userTypes"`
	DataSets        int           `json:"dataSets"`
	HierarchyNodes  int           `json:"hierarchyNodes"`
	UserGrants      int           `json:"userGrants"`
	CopiedGrants    int           `json:"copiedGrants"` // rights held through role copies
	RoleAssignments int           `json:"roleAssignments"`
	TypeLinks       int           `json:"typeLinks"`
	Subject         string        `json:"subject"`
	Operator        string        `json:"operator"`
	Selection       string        `json:"selection"`
	SelectionUsers  int           `json:"selectionUsers"`
	Duration        time.Duration `json:"-"`
	Seconds         float64       `json:"seconds"` // Duration, for the JSON report
}

// ErrAccountInUse is returned for an account that already has more than
// MaxExistingUsers users.
var ErrAccountInUse = errors.New("seed: the account already has users")

// Run seeds the account named in o on st.
func Run(ctx context.Context, st *store.Store, o Options) (*Report, error) {
	if o.Account == "" {
		o.Account = DefaultAccount
	}
	if o.Users == 0 {
		o.Users = 100_000
	}
	if o.Users < 100 {
		return nil, fmt.Errorf("seed: --users must be at least 100 (got %d)", o.Users)
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	start := time.Now()
	tx, err := st.Client.Tx(ctx)
	if err != nil {
		return nil, err
	}
	s := &seeder{c: tx.Client(), dialect: st.Dialect, o: o, rnd: rand.New(rand.NewPCG(o.Seed, o.Seed^0x5eed)), start: start}
	checks, err := s.withoutChecks(ctx)
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	err = s.run(ctx)
	// The session settings belong to the pooled connection: restore them on it
	// whatever happened, before the transaction ends.
	if rerr := checks(); err == nil {
		err = rerr
	}
	if err != nil {
		_ = tx.Rollback()
		return nil, err
	}
	s.logf("committing")
	if err := tx.Commit(); err != nil {
		return nil, fmt.Errorf("seed: commit: %w", err)
	}
	s.logf("refreshing the planner's statistics")
	if err := analyze(ctx, st); err != nil {
		return nil, err
	}
	// Counted after the statistics are fresh: inside the loading transaction the
	// planner (MariaDB's in particular) still sees empty tables.
	s.c = st.Client
	rep, err := s.report()
	if err != nil {
		return nil, err
	}
	rep.Duration = time.Since(start)
	rep.Seconds = rep.Duration.Round(time.Millisecond).Seconds()
	s.logf("done: %d users, %d user grants and %d rights copied from roles", rep.Users, rep.UserGrants, rep.CopiedGrants)
	return rep, nil
}

// withoutChecks turns off MySQL's per-row foreign-key checks on the transaction's
// connection for the bulk load (every row is built consistent, and TestSeed checks
// it), and returns the function that turns them back on. Uniqueness stays checked:
// an account being seeded may already hold a few users. SQLite cannot switch
// foreign keys off inside a transaction; its checks stay.
func (s *seeder) withoutChecks(ctx context.Context) (func() error, error) {
	if s.dialect != dialect.MySQL {
		return func() error { return nil }, nil
	}
	if _, err := s.c.ExecContext(ctx, "SET SESSION foreign_key_checks = 0"); err != nil {
		return nil, err
	}
	return func() error {
		_, err := s.c.ExecContext(ctx, "SET SESSION foreign_key_checks = 1")
		return err
	}, nil
}

// analyze gives the planner statistics of the new rows: SQLite keeps none by itself,
// and InnoDB's are sampled lazily after a bulk load.
func analyze(ctx context.Context, st *store.Store) error {
	if st.Dialect != dialect.MySQL {
		return st.Optimize(ctx)
	}
	for _, t := range []string{"users", "groups", "group_users", "user_grants", "user_roles", "user_type_links",
		"type_link_sources", "user_type_grants", "hierarchy_nodes", "rights", "roles", "role_rights"} {
		rows, err := st.DB.QueryContext(ctx, "ANALYZE TABLE `"+t+"`")
		if err != nil {
			return fmt.Errorf("seed: analyze %s: %w", t, err)
		}
		rows.Close()
	}
	return nil
}

// seeder holds one seed's transaction and what it created so far.
type seeder struct {
	c       *gen.Client
	dialect string
	o       Options
	rnd     *rand.Rand
	start   time.Time
	sys     context.Context // the system inside the account, audit hook off
	at      time.Time

	account int
	rights  []*gen.Right // custom rights
	byApp   map[string][]int
	admin   int
	roles   []*gen.Role // custom roles
	types   []int
	sets    []int
	nodes   [][]int // per data set: regions then branches (the levels grants name)
	users   []int   // seeded users, ascending, without subject and operator
	groups  []int
	subject int
	oper    int
}

func (s *seeder) logf(format string, args ...any) {
	if s.o.Log != nil {
		fmt.Fprintf(s.o.Log, "%6.1fs  %s\n", time.Since(s.start).Seconds(), fmt.Sprintf(format, args...))
	}
}

func (s *seeder) run(ctx context.Context) error {
	s.at = time.Now().UTC().Truncate(time.Microsecond)
	if err := s.openAccount(ctx); err != nil {
		return err
	}
	steps := []struct {
		what string
		do   func() error
	}{
		{"catalogue: rights, data sets and hierarchies, roles, user types", s.catalogue},
		{"the operator (Admin)", s.operator},
		{fmt.Sprintf("%d users", s.o.Users), s.createUsers},
		{"groups and memberships", s.createGroups},
		{"roles applied (copied grants)", s.applyRoles},
		{"user types linked", s.linkTypes},
		{"direct grants", s.directGrants},
		{"the bench subject", s.subjectUser},
	}
	for _, st := range steps {
		s.logf("%s", st.what)
		if err := st.do(); err != nil {
			return fmt.Errorf("seed: %s: %w", st.what, err)
		}
	}
	// One event for the whole seed; recording it bumps the account's revision, so
	// every replica's caches see the new rows.
	return audit.Record(s.sys, s.c, audit.Event{Action: "account.seed", TargetType: "Account", TargetID: s.account,
		After: map[string]any{"users": s.o.Users, "seed": s.o.Seed}})
}

// openAccount finds or creates the account and refuses one that is in use.
func (s *seeder) openAccount(ctx context.Context) error {
	allow := privacy.DecisionContext(ctx, privacy.Allow)
	acct, err := s.c.Account.Query().Where(account.Name(s.o.Account)).Only(allow)
	var sys context.Context
	switch {
	case gen.IsNotFound(err):
		if acct, sys, err = access.CreateAccount(ctx, s.c, s.o.Account); err != nil {
			return fmt.Errorf("seed: creating account %q: %w", s.o.Account, err)
		}
		s.logf("created account %q", s.o.Account)
	case err != nil:
		return err
	default:
		sys = viewer.System(ctx, acct.ID, "seed")
		n, err := s.c.User.Query().Count(sys)
		if err != nil {
			return err
		}
		if n > MaxExistingUsers {
			return fmt.Errorf("%w: account %q has %d users; seed fills a new or freshly bootstrapped account (name another with --account)",
				ErrAccountInUse, s.o.Account, n)
		}
		s.logf("seeding existing account %q (%d users)", s.o.Account, n)
	}
	s.account = acct.ID
	s.sys = audit.WithoutHook(sys)
	return nil
}

// catalogue creates the custom rights (the Admin role holds them all, as
// access.CreateRight does), data sets with their hierarchies, custom roles and user
// types.
func (s *seeder) catalogue() error {
	c, ctx := s.c, s.sys
	builtIn, err := c.Right.Query().Count(ctx)
	if err != nil {
		return err
	}
	creates := make([]*gen.RightCreate, 0, totalRights-builtIn)
	for i := range totalRights - builtIn {
		app := applications[i%len(applications)]
		kind, verb := right.KindREAD, "view"
		if i%3 != 0 {
			kind, verb = right.KindWRITE, "edit"
		}
		key := fmt.Sprintf("%s.%s%03d", strings.ToLower(app), verb, i/len(applications))
		creates = append(creates, c.Right.Create().SetKey(key).SetApplication(app).SetKind(kind).
			SetName(fmt.Sprintf("%s %s %d", app, verb, i/len(applications))))
	}
	for chunk := range slices.Chunk(creates, 200) {
		rs, err := c.Right.CreateBulk(chunk...).Save(ctx)
		if err != nil {
			return err
		}
		s.rights = append(s.rights, rs...)
	}
	s.byApp = map[string][]int{}
	ids := make([]int, len(s.rights))
	for i, r := range s.rights {
		ids[i] = r.ID
		s.byApp[r.Application] = append(s.byApp[r.Application], r.ID)
	}
	if s.admin, err = c.Role.Query().Where(role.BuiltIn(true), role.Name(access.AdminRole)).OnlyID(ctx); err != nil {
		return err
	}
	if err := c.Role.UpdateOneID(s.admin).AddRightIDs(ids...).Exec(ctx); err != nil {
		return err
	}
	if err := s.createDataSets(); err != nil {
		return err
	}

	// Roles: each bundles rights of one or two applications; one in ten sees all data.
	builtInRoles, err := c.Role.Query().Count(ctx)
	if err != nil {
		return err
	}
	for i := range totalRoles - builtInRoles {
		app := applications[i%len(applications)]
		keys := s.pickRights(app, rightsPerRoleL+s.rnd.IntN(rightsPerRoleH-rightsPerRoleL+1))
		if i%4 == 3 {
			keys = append(keys, s.pickRights(applications[(i+3)%len(applications)], 2)...)
		}
		allData := i%10 == 9
		r, err := access.CreateRole(ctx, c, access.CreateRoleInput{
			Name: fmt.Sprintf("%s %s", app, roleNames[(i/len(applications))%len(roleNames)]), Rights: s.keys(keys), AllData: &allData})
		if err != nil {
			return fmt.Errorf("role: %w", err)
		}
		s.roles = append(s.roles, r)
	}

	// User types: one to three roles, data-set access to one or two data sets (some
	// to a region), company-specific rights there, and now and then one on all data
	// sets.
	yes := true
	for i := range userTypes {
		name := fmt.Sprintf("Type %02d", i)
		if i == 0 {
			name = adjusterType
		}
		var roleIDs []int
		for range 1 + s.rnd.IntN(3) {
			roleIDs = append(roleIDs, s.roles[s.rnd.IntN(len(s.roles))].ID)
		}
		ds := s.rnd.IntN(dataSets)
		grants := []access.GrantInput{{DataSetID: &s.sets[ds]}}
		if i%2 == 1 {
			other := (ds + 1 + s.rnd.IntN(dataSets-1)) % dataSets
			grants = append(grants, access.GrantInput{DataSetID: &s.sets[other], NodeID: &s.nodes[other][s.rnd.IntN(regionsPerSet)]})
		}
		for _, r := range s.pickRights(applications[i%len(applications)], 2+s.rnd.IntN(3)) {
			grants = append(grants, access.GrantInput{Right: &s.rightByID(r).Key, DataSetID: &s.sets[ds]})
		}
		if i%7 == 0 {
			grants = append(grants, access.GrantInput{Right: &s.rights[s.rnd.IntN(len(s.rights))].Key, AllDataSets: &yes})
		}
		readOnly := i%10 == 9
		t, err := access.CreateUserType(ctx, c, access.CreateUserTypeInput{Name: name, ReadOnly: &readOnly,
			RoleIDs: access.Unique(roleIDs), Grants: dedupeGrants(grants)})
		if err != nil {
			return fmt.Errorf("user type: %w", err)
		}
		s.types = append(s.types, t.ID)
	}
	return nil
}

var roleNames = []string{"Viewer", "Editor", "Lead", "Approver", "Auditor", "Planner", "Clerk", "Supervisor", "Analyst", "Owner"}

// createDataSets makes the data sets and their region › branch › team hierarchies.
// A node's path lists its ancestors' ids, so paths are written once ids are known.
func (s *seeder) createDataSets() error {
	c, ctx := s.c, s.sys
	creates := make([]*gen.DataSetCreate, dataSets)
	for i := range creates {
		creates[i] = c.DataSet.Create().SetName(fmt.Sprintf("Company %02d", i)).
			SetDescription(fmt.Sprintf("Operating company %d", i))
	}
	sets, err := c.DataSet.CreateBulk(creates...).Save(ctx)
	if err != nil {
		return err
	}
	s.nodes = make([][]int, dataSets)
	type parent struct{ ds, id int }
	paths := map[int]string{}
	level := make([]parent, 0, dataSets)
	for i, d := range sets {
		s.sets = append(s.sets, d.ID)
		level = append(level, parent{ds: i})
	}
	for depth, l := range []struct {
		name string
		n    int
	}{{"Region", regionsPerSet}, {"Branch", branchesPer}, {"Team", teamsPer}} {
		var creates []*gen.HierarchyNodeCreate
		var owners []parent
		for _, p := range level {
			for k := range l.n {
				b := c.HierarchyNode.Create().SetDataSetID(s.sets[p.ds]).SetDepth(depth).
					SetName(fmt.Sprintf("%s %d", l.name, k+1))
				if p.id != 0 {
					b.SetParentID(p.id)
				}
				creates = append(creates, b)
				owners = append(owners, p)
			}
		}
		next := make([]parent, 0, len(creates))
		for i, chunk := 0, 0; i < len(creates); i += chunk {
			chunk = min(1000, len(creates)-i)
			nodes, err := c.HierarchyNode.CreateBulk(creates[i : i+chunk]...).Save(ctx)
			if err != nil {
				return err
			}
			for j, n := range nodes {
				p := owners[i+j]
				base := "/"
				if p.id != 0 {
					base = paths[p.id]
				}
				paths[n.ID] = fmt.Sprintf("%s%d/", base, n.ID)
				next = append(next, parent{ds: p.ds, id: n.ID})
				if depth < 2 {
					s.nodes[p.ds] = append(s.nodes[p.ds], n.ID)
				}
			}
		}
		level = next
	}
	// Paths, a thousand nodes per statement.
	ids := make([]int, 0, len(paths))
	for id := range paths {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for chunk := range slices.Chunk(ids, 1000) {
		var b strings.Builder
		args := make([]any, 0, 3*len(chunk)+1)
		b.WriteString("UPDATE hierarchy_nodes SET path = CASE id")
		for _, id := range chunk {
			b.WriteString(" WHEN ? THEN ?")
			args = append(args, id, paths[id])
		}
		b.WriteString(" END WHERE account_id = ? AND id IN (" + placeholders(len(chunk)) + ")")
		args = append(args, s.account)
		for _, id := range chunk {
			args = append(args, id)
		}
		if _, err := c.ExecContext(ctx, b.String(), args...); err != nil {
			return err
		}
	}
	return nil
}

// pickRights returns n distinct custom rights of an application.
func (s *seeder) pickRights(app string, n int) []int {
	pool := s.byApp[app]
	out := make([]int, 0, n)
	for _, i := range s.rnd.Perm(len(pool))[:min(n, len(pool))] {
		out = append(out, pool[i])
	}
	return out
}

func (s *seeder) rightByID(id int) *gen.Right {
	for _, r := range s.rights {
		if r.ID == id {
			return r
		}
	}
	panic(fmt.Sprintf("seed: no right %d", id))
}

func (s *seeder) keys(ids []int) []string {
	out := make([]string, 0, len(ids))
	for _, id := range access.Unique(ids) {
		out = append(out, s.rightByID(id).Key)
	}
	return out
}

func dedupeGrants(gs []access.GrantInput) []access.GrantInput {
	seen := map[string]bool{}
	out := gs[:0]
	for _, g := range gs {
		k := fmt.Sprintf("%v|%v|%v|%v", deref(g.Right), derefInt(g.DataSetID), derefInt(g.NodeID), g.AllDataSets != nil)
		if !seen[k] {
			seen[k] = true
			out = append(out, g)
		}
	}
	return out
}

func deref(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

func derefInt(p *int) int {
	if p == nil {
		return 0
	}
	return *p
}

// userColumns are the columns of a seeded user.
var userColumns = []string{"created_at", "updated_at", "user_name", "user_name_key", "email", "given_name", "family_name",
	"display_name", "title", "department", "location", "employee_number", "external_id", "read_only", "active", "status",
	"source", "account_id"}

// userRow is one user: every fifth is in the selection's department; most are
// active; about half came from SCIM (with an externalId).
func (s *seeder) userRow(i int, userName, dept string) []any {
	given, family := givenNames[s.rnd.IntN(len(givenNames))], familyNames[s.rnd.IntN(len(familyNames))]
	status, active := user.StatusACTIVE.String(), true
	switch r := s.rnd.IntN(100); {
	case r < 2:
		status, active = user.StatusSUSPENDED.String(), false
	case r < 5:
		status = user.StatusINVITED.String()
	}
	source, external := user.SourceMANUAL.String(), any(nil)
	if i%2 == 0 {
		source, external = user.SourceSCIM.String(), fmt.Sprintf("00u%08x", i)
	}
	return []any{s.at, s.at, userName, strings.ToLower(userName), userName, given, family,
		given + " " + family, titles[s.rnd.IntN(len(titles))], dept, fmt.Sprintf("Site %02d", s.rnd.IntN(24)),
		fmt.Sprintf("E%06d", i), external, i%40 == 39, active, status, source, s.account}
}

// createUsers writes the users, a thousand per statement.
func (s *seeder) createUsers() error {
	rows := make([][]any, 0, s.o.Users)
	for i := range s.o.Users {
		dept := Selection
		if i%5 != 0 {
			dept = departments[s.rnd.IntN(len(departments))]
		}
		rows = append(rows, s.userRow(i, fmt.Sprintf("user%06d%s", i+1, seedDomain), dept))
	}
	if err := s.insert("users", userColumns, rows); err != nil {
		return err
	}
	var err error
	s.users, err = s.ints(`SELECT id FROM users WHERE account_id = ? AND user_name LIKE 'user%' ORDER BY id`, s.account)
	if err != nil {
		return err
	}
	if len(s.users) != s.o.Users {
		return fmt.Errorf("wrote %d users, read back %d", s.o.Users, len(s.users))
	}
	return nil
}

// createGroups makes users/20 groups and gives every user one to three of them,
// chosen with a Zipf law: a few groups hold thousands, most a handful.
func (s *seeder) createGroups() error {
	n := max(10, s.o.Users/usersPerGroup)
	rows := make([][]any, n)
	for i := range n {
		name, source, external := fmt.Sprintf("%s Team %04d", departments[i%len(departments)], i), string(enums.SourceManual), any(nil)
		if i == 1 {
			name = adjusterGroup
		}
		if i%3 != 2 {
			source, external = string(enums.SourceSCIM), fmt.Sprintf("00g%08x", i)
		}
		rows[i] = []any{s.at, s.at, name, source, external, s.account}
	}
	if err := s.insert("groups", []string{"created_at", "updated_at", "name", "source", "external_id", "account_id"}, rows); err != nil {
		return err
	}
	var err error
	if s.groups, err = s.ints(`SELECT id FROM `+s.quote("groups")+` WHERE account_id = ? ORDER BY id`, s.account); err != nil {
		return err
	}
	// Zipf ranks map onto a shuffled order, so the big groups are spread out.
	order := s.rnd.Perm(len(s.groups))
	zipf := rand.NewZipf(s.rnd, 1.07, 2, uint64(len(s.groups)-1))
	var members [][]any
	for _, u := range s.users {
		seen := [3]int{-1, -1, -1}
		for k := range 1 + s.rnd.IntN(3) {
			g := order[zipf.Uint64()]
			if g == seen[0] || g == seen[1] {
				continue
			}
			seen[k] = g
			members = append(members, []any{s.groups[g], u})
		}
	}
	return s.insert("group_users", []string{"group_id", "user_id"}, members)
}

// applyRoles applies one or two custom roles to nine users in ten, as applyRole
// does: the user holds the role, and its rights are copied to them as ROLE grants
// (one set-based statement per slice of users).
func (s *seeder) applyRoles() error {
	var held [][]any
	for _, u := range s.users {
		if s.rnd.IntN(10) == 0 {
			continue
		}
		a := s.rnd.IntN(len(s.roles))
		held = append(held, []any{u, s.roles[a].ID})
		if s.rnd.IntN(10) < 3 {
			if b := s.rnd.IntN(len(s.roles)); b != a {
				held = append(held, []any{u, s.roles[b].ID})
			}
		}
	}
	if err := s.insert("user_roles", []string{"user_id", "role_id"}, held); err != nil {
		return err
	}
	return s.copyRoleGrants(s.users[0], s.users[len(s.users)-1])
}

// copyRoleGrants copies the rights of the roles held by users with ids in [from,
// to] to them, as the engine's copyRoleRights does: one role copy per custom role
// (as if each had been applied to its holders at once), and a row per holder
// pointing at it, in slices of users so no single statement grows too large.
func (s *seeder) copyRoleGrants(from, to int) error {
	copies := make([]string, len(s.roles))
	for i, r := range s.roles {
		res, err := s.c.ExecContext(s.sys, `INSERT INTO role_copies (account_id, role_id, role_name, granted_at) VALUES (?, ?, ?, ?)`,
			s.account, r.ID, r.Name, s.at)
		if err != nil {
			return err
		}
		id, err := res.LastInsertId()
		if err != nil {
			return err
		}
		if _, err := s.c.ExecContext(s.sys, `INSERT INTO role_copy_rights (role_copy_id, right_id) SELECT ?, rr.right_id FROM role_rights rr WHERE rr.role_id = ?`,
			id, r.ID); err != nil {
			return err
		}
		copies[i] = strconv.FormatInt(id, 10)
	}
	stmt := `INSERT INTO user_role_copies (account_id, user_id, role_copy_id)
		SELECT u.account_id, u.id, c.id FROM users u JOIN user_roles ur ON ur.user_id = u.id JOIN role_copies c ON c.role_id = ur.role_id
		WHERE u.account_id = ? AND u.id BETWEEN ? AND ? AND c.id IN (` + strings.Join(copies, ", ") + `)`
	const slice = 20_000
	for lo := from; lo <= to; lo += slice {
		if _, err := s.c.ExecContext(s.sys, stmt, s.account, lo, min(to, lo+slice-1)); err != nil {
			return err
		}
	}
	return nil
}

// linkTypes links most users to one user type by hand (a few to two), and the
// members of the "Claims Adjusters" group to the Adjuster type through a SCIM
// mapping rule, recording each link's source as the engine does.
func (s *seeder) linkTypes() error {
	byHand := map[[2]int]bool{}
	var links, sources [][]any
	add := func(u, t int) {
		k := [2]int{u, t}
		if byHand[k] {
			return
		}
		byHand[k] = true
		links = append(links, []any{u, t})
		sources = append(sources, []any{s.account, u, t, nil})
	}
	for _, u := range s.users {
		if s.rnd.IntN(100) < 20 {
			continue
		}
		add(u, s.types[1+s.rnd.IntN(len(s.types)-1)])
		if s.rnd.IntN(100) < 8 {
			add(u, s.types[1+s.rnd.IntN(len(s.types)-1)])
		}
	}
	if err := s.insert("user_type_links", []string{"user_id", "user_type_id"}, links); err != nil {
		return err
	}
	if err := s.insert("type_link_sources", []string{"account_id", "user_id", "user_type_id", "group_id"}, sources); err != nil {
		return err
	}
	// The mapping rule and what it implies for the group's current members.
	adjuster, group := s.types[0], s.groups[1]
	if err := s.c.ScimMappingRule.Create().SetGroupName(adjusterGroup).SetUserTypeID(adjuster).Exec(s.sys); err != nil {
		return err
	}
	if _, err := s.c.ExecContext(s.sys, `INSERT INTO user_type_links (user_id, user_type_id) SELECT gu.user_id, ? FROM group_users gu WHERE gu.group_id = ?`,
		adjuster, group); err != nil {
		return err
	}
	_, err := s.c.ExecContext(s.sys, `INSERT INTO type_link_sources (account_id, user_id, user_type_id, group_id) SELECT ?, gu.user_id, ?, gu.group_id FROM group_users gu WHERE gu.group_id = ?`,
		s.account, adjuster, group)
	return err
}

// grantColumns are the columns of a direct grant.
var grantColumns = []string{"account_id", "user_id", "kind", "right_id", "data_set_id", "node_id", "all_data_sets",
	"grant_key", "source", "source_key", "granted_at"}

func (s *seeder) grantRow(u int, g access.Grant) []any {
	return []any{s.account, u, string(g.Kind), nullID(g.RightID), nullID(g.DataSetID), nullID(g.NodeID), g.AllDataSets,
		g.Key(), string(enums.SourceManual), string(enums.SourceManual), s.at}
}

// directGrants gives every user grants by hand: access to one or two data sets (or
// a region or branch of one), company-specific rights there, and a few application
// rights.
func (s *seeder) directGrants() error {
	var rows [][]any
	for _, u := range s.users {
		rows = append(rows, s.userGrants(u, 1+s.rnd.IntN(2), 1+s.rnd.IntN(4), s.rnd.IntN(4))...)
		if len(rows) >= 50_000 {
			if err := s.insert("user_grants", grantColumns, rows); err != nil {
				return err
			}
			rows = rows[:0]
		}
	}
	return s.insert("user_grants", grantColumns, rows)
}

// userGrants returns distinct direct grants for one user: nAccess data-set access
// grants, nCompany company-specific rights on those scopes and nApp application
// rights.
func (s *seeder) userGrants(u, nAccess, nCompany, nApp int) [][]any {
	seen := map[string]bool{}
	var rows [][]any
	add := func(g access.Grant) {
		if k := g.Key(); !seen[k] {
			seen[k] = true
			rows = append(rows, s.grantRow(u, g))
		}
	}
	type scope struct{ ds, node int }
	scopes := make([]scope, 0, nAccess)
	for range nAccess {
		d := s.rnd.IntN(dataSets)
		sc := scope{ds: s.sets[d]}
		if s.rnd.IntN(2) == 0 {
			sc.node = s.nodes[d][s.rnd.IntN(len(s.nodes[d]))]
		}
		scopes = append(scopes, sc)
		add(access.Grant{Kind: enums.GrantDataSet, DataSetID: sc.ds, NodeID: sc.node})
	}
	app := applications[s.rnd.IntN(len(applications))]
	for range nCompany {
		sc := scopes[s.rnd.IntN(len(scopes))]
		pool := s.byApp[app]
		add(access.Grant{Kind: enums.GrantCompanyRight, RightID: pool[s.rnd.IntN(len(pool))], DataSetID: sc.ds, NodeID: sc.node})
	}
	for range nApp {
		add(access.Grant{Kind: enums.GrantAppRight, RightID: s.rights[s.rnd.IntN(len(s.rights))].ID})
	}
	return rows
}

// operator adds the user the bench acts as: the Admin role, applied through the
// engine, and access to every data set (an all-data role governs which users one
// sees, not which data sets: SPEC §2 rule 4). It runs before the mass rows, while
// the planner's statistics still describe the tables.
func (s *seeder) operator() error {
	var err error
	if s.oper, err = s.specialUser(-2, Operator, "IT"); err != nil {
		return err
	}
	var reach [][]any
	for _, ds := range s.sets {
		reach = append(reach, s.grantRow(s.oper, access.Grant{Kind: enums.GrantDataSet, DataSetID: ds}))
	}
	if err := s.insert("user_grants", grantColumns, reach); err != nil {
		return err
	}
	return access.ApplyRole(s.sys, s.c, s.admin, s.oper)
}

// specialUser adds an active, writable, hand-made user and returns their id.
func (s *seeder) specialUser(i int, userName, dept string) (int, error) {
	row := s.userRow(i, userName, dept)
	for column, v := range map[string]any{"external_id": nil, "read_only": false, "active": true, "status": user.StatusACTIVE.String()} {
		row[slices.Index(userColumns, column)] = v
	}
	if err := s.insert("users", userColumns, [][]any{row}); err != nil {
		return 0, err
	}
	ids, err := s.ints(`SELECT id FROM users WHERE account_id = ? AND user_name = ?`, s.account, userName)
	if err != nil {
		return 0, err
	}
	if len(ids) != 1 {
		return 0, fmt.Errorf("read back %d users named %s", len(ids), userName)
	}
	return ids[0], nil
}

// subjectUser adds the bench subject: three user types linked by hand, 200 direct
// grants, and two groups.
func (s *seeder) subjectUser() error {
	var err error
	if s.subject, err = s.specialUser(-1, Subject, "Operations"); err != nil {
		return err
	}

	var links, sources [][]any
	for _, i := range s.rnd.Perm(len(s.types) - 1)[:subjectTypes] {
		links = append(links, []any{s.subject, s.types[1+i]})
		sources = append(sources, []any{s.account, s.subject, s.types[1+i], nil})
	}
	if err := s.insert("user_type_links", []string{"user_id", "user_type_id"}, links); err != nil {
		return err
	}
	if err := s.insert("type_link_sources", []string{"account_id", "user_id", "user_type_id", "group_id"}, sources); err != nil {
		return err
	}
	// 200 grants: access to 20 scopes, company-specific rights there, application
	// rights.
	var grants [][]any
	for len(grants) < subjectGrants {
		more := s.userGrants(s.subject, 20, 140, 70)
		grants = more[:min(len(more), subjectGrants)]
	}
	if err := s.insert("user_grants", grantColumns, grants); err != nil {
		return err
	}
	return s.insert("group_users", []string{"group_id", "user_id"}, [][]any{{s.groups[0], s.subject}, {s.groups[2], s.subject}})
}

// report counts what the account now holds.
func (s *seeder) report() (*Report, error) {
	r := &Report{AccountID: s.account, Account: s.o.Account, Subject: Subject, Operator: Operator, Selection: Selection}
	counts := []struct {
		into  *int
		query string
	}{
		{&r.Users, `SELECT COUNT(*) FROM users WHERE account_id = ?`},
		{&r.Groups, `SELECT COUNT(*) FROM ` + s.quote("groups") + ` WHERE account_id = ?`},
		{&r.Memberships, `SELECT COUNT(*) FROM group_users gu JOIN users u ON u.id = gu.user_id WHERE u.account_id = ?`},
		{&r.Rights, `SELECT COUNT(*) FROM rights WHERE account_id = ?`},
		{&r.Roles, `SELECT COUNT(*) FROM roles WHERE account_id = ?`},
		{&r.UserTypes, `SELECT COUNT(*) FROM user_types WHERE account_id = ?`},
		{&r.DataSets, `SELECT COUNT(*) FROM data_sets WHERE account_id = ?`},
		{&r.HierarchyNodes, `SELECT COUNT(*) FROM hierarchy_nodes WHERE account_id = ?`},
		{&r.UserGrants, `SELECT COUNT(*) FROM user_grants WHERE account_id = ?`},
		{&r.CopiedGrants, `SELECT COUNT(*) FROM user_role_copies uc JOIN role_copy_rights cr ON cr.role_copy_id = uc.role_copy_id
			WHERE uc.account_id = ?`},
		{&r.RoleAssignments, `SELECT COUNT(*) FROM user_roles ur JOIN users u ON u.id = ur.user_id WHERE u.account_id = ?`},
		{&r.TypeLinks, `SELECT COUNT(*) FROM user_type_links l JOIN users u ON u.id = l.user_id WHERE u.account_id = ?`},
		{&r.SelectionUsers, `SELECT COUNT(*) FROM users WHERE account_id = ? AND department = '` + Selection + `'`},
	}
	for _, q := range counts {
		n, err := s.ints(q.query, s.account)
		if err != nil {
			return nil, err
		}
		*q.into = n[0]
	}
	return r, nil
}

// insert writes rows into table, as many per statement as the drivers' limits on
// bound values allow.
func (s *seeder) insert(table string, cols []string, rows [][]any) error {
	if len(rows) == 0 {
		return nil
	}
	per := max(1, 30_000/len(cols))
	row := "(" + placeholders(len(cols)) + ")"
	head := "INSERT INTO " + s.quote(table) + " (" + s.quoteAll(cols) + ") VALUES "
	for chunk := range slices.Chunk(rows, per) {
		var b strings.Builder
		b.Grow(len(head) + len(chunk)*(len(row)+1))
		b.WriteString(head)
		args := make([]any, 0, len(chunk)*len(cols))
		for i, r := range chunk {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(row)
			args = append(args, r...)
		}
		if _, err := s.c.ExecContext(s.sys, b.String(), args...); err != nil {
			return fmt.Errorf("insert into %s: %w", table, err)
		}
	}
	return nil
}

// ints runs a query whose rows are one integer each.
func (s *seeder) ints(query string, args ...any) ([]int, error) {
	rows, err := s.c.QueryContext(s.sys, query, args...)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var out []int
	for rows.Next() {
		var v int
		if err := rows.Scan(&v); err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}

// quote quotes an identifier ("groups" is reserved in MySQL 8).
func (s *seeder) quote(name string) string {
	if s.dialect == dialect.MySQL {
		return "`" + name + "`"
	}
	return `"` + name + `"`
}

func (s *seeder) quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = s.quote(n)
	}
	return strings.Join(q, ", ")
}

func (s *seeder) concat(parts ...string) string {
	if s.dialect == dialect.MySQL {
		return "CONCAT(" + strings.Join(parts, ", ") + ")"
	}
	return "(" + strings.Join(parts, " || ") + ")"
}

func placeholders(n int) string {
	return strings.TrimSuffix(strings.Repeat("?, ", n), ", ")
}

func nullID(id int) any {
	if id == 0 {
		return nil
	}
	return id
}
