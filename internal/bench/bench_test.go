package bench_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/bench"
	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
)

func TestPercentile(t *testing.T) {
	var samples []time.Duration
	for i := 100; i >= 1; i-- { // unsorted on purpose
		samples = append(samples, time.Duration(i)*time.Millisecond)
	}
	before := slices.Clone(samples)
	for _, c := range []struct {
		p    float64
		want time.Duration
	}{{50, 50 * time.Millisecond}, {95, 95 * time.Millisecond}, {99, 99 * time.Millisecond},
		{100, 100 * time.Millisecond}, {0.5, time.Millisecond}, {99.5, 100 * time.Millisecond}} {
		if got := bench.Percentile(samples, c.p); got != c.want {
			t.Errorf("p%v = %v, want %v", c.p, got, c.want)
		}
	}
	if !slices.Equal(samples, before) {
		t.Error("Percentile reordered its input")
	}
	if got := bench.Percentile(nil, 50); got != 0 {
		t.Errorf("p50 of nothing = %v", got)
	}
	one := []time.Duration{7 * time.Millisecond}
	if bench.Percentile(one, 50) != one[0] || bench.Percentile(one, 99) != one[0] {
		t.Error("a single sample is every percentile")
	}
	// Nearest rank: p50 of four samples is the second, p99 the fourth.
	four := []time.Duration{4, 1, 3, 2}
	if got := bench.Percentile(four, 50); got != 2 {
		t.Errorf("p50 of 1..4 = %v, want 2", got)
	}
	if got := bench.Percentile(four, 99); got != 4 {
		t.Errorf("p99 of 1..4 = %v, want 4", got)
	}
}

var readOps = []string{bench.OpCan, bench.OpCanPaced, bench.OpCanBatch, bench.OpEffectiveRights, bench.OpEffectiveRightsFresh, bench.OpUsersWithRole,
	bench.OpWhoCan, bench.OpBulkSummary, bench.OpSCIMUserNameEq}

// timedOps are the reads run by many clients for the duration (bulkSummary repeats
// one request after another).
var timedOps = []string{bench.OpCan, bench.OpCanPaced, bench.OpHealthz, bench.OpTypename, bench.OpCanBatch, bench.OpEffectiveRights, bench.OpEffectiveRightsFresh, bench.OpUsersWithRole,
	bench.OpWhoCan, bench.OpSCIMUserNameEq}

var allOps = append(slices.Clone(readOps), bench.OpHealthz, bench.OpTypename, bench.OpBulkApplyRole, bench.OpBulkLinkUserType, bench.OpSCIMCreate)

func TestRun(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		env := apptest.New(t, st, app.Config{})
		c, boot := env.Bootstrap("acme", "admin@acme.test")
		seed(t, c)

		var out, progress bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		rep, err := bench.Run(ctx, bench.Options{
			URL: env.Server.URL, Token: boot.AccessToken, Duration: 200 * time.Millisecond, Concurrency: 4,
			DB: st.DB, Dialect: st.Dialect, Out: &out, Progress: &progress,
		})
		if err != nil {
			t.Fatalf("Run: %v\n%s", err, out.String())
		}
		t.Logf("\n%s", out.String())

		byName := map[string]bench.OpResult{}
		for _, op := range rep.Ops {
			byName[op.Name] = op
		}
		for _, name := range allOps {
			op, ok := byName[name]
			switch {
			case !ok:
				t.Errorf("%s: not in the report", name)
			case op.Count == 0 || op.Errors != 0:
				t.Errorf("%s: count %d, errors %d", name, op.Count, op.Errors)
			case op.P50 <= 0 || op.P50 > op.P95 || op.P95 > op.P99 || op.P99 > op.Max:
				t.Errorf("%s: percentiles out of order: %v %v %v %v", name, op.P50, op.P95, op.P99, op.Max)
			case op.Target == "" || (op.Met == nil) != (name == bench.OpHealthz || name == bench.OpTypename): // floors have no target
				t.Errorf("%s: no target or verdict (%s, %v)", name, op.Target, op.Met)
			}
		}
		for _, name := range readOps {
			if op := byName[name]; op.RawSQLP50 <= 0 || op.Ratio <= 0 {
				t.Errorf("%s: raw SQL p50 %v, ratio %v", name, op.RawSQLP50, op.Ratio)
			}
		}
		// The server's own p99 is read for the reads timed by many clients; it
		// bounds at least the fastest 99% of them (a bucket's bound is at most
		// twice the one before).
		for _, name := range timedOps {
			if op := byName[name]; op.ServerP99 <= 0 || op.ServerP99 > 2*op.Max {
				t.Errorf("%s: server p99 %v (max at the client %v)", name, op.ServerP99, op.Max)
			}
		}
		for _, n := range rep.Notes {
			// The raw SQL must compute what the server computes, and the run must
			// leave nothing behind.
			if strings.Contains(n, "disagrees") || strings.Contains(n, "cleanup") || strings.Contains(n, "error") {
				t.Errorf("note: %s", n)
			}
		}
		if rep.PeakRSSBytes <= 0 {
			t.Errorf("peak RSS %d", rep.PeakRSSBytes)
		}
		if runtime.GOOS == "linux" { // where /proc/stat tells the CPU time stolen
			for _, op := range rep.Ops {
				if op.StealPercent == nil || *op.StealPercent < 0 || *op.StealPercent > 100 {
					t.Errorf("%s: steal %v", op.Name, op.StealPercent)
				}
			}
		}
		for _, name := range allOps {
			if !strings.Contains(out.String(), name) || !strings.Contains(progress.String(), name) {
				t.Errorf("%s missing from the table or the progress lines", name)
			}
		}

		// The JSON form parses, with durations in milliseconds.
		var js bytes.Buffer
		if err := rep.Print(&js, true); err != nil {
			t.Fatal(err)
		}
		var generic map[string]any
		if err := json.Unmarshal(js.Bytes(), &generic); err != nil {
			t.Fatalf("JSON report: %v\n%s", err, js.String())
		}
		ops, _ := generic["ops"].([]any)
		if len(ops) != len(rep.Ops) || generic["peakRssBytes"] == nil || generic["durationMs"] == nil {
			t.Fatalf("JSON report: %s", js.String())
		}
		first, _ := ops[0].(map[string]any)
		if p50, _ := first["p50Ms"].(float64); first["name"] != bench.OpCan || p50 <= 0 || first["serverP99Ms"] == nil {
			t.Errorf("JSON op: %v", first)
		}
		var back bench.Report
		if err := json.Unmarshal(js.Bytes(), &back); err != nil || len(back.Ops) != len(rep.Ops) || back.Ops[0].Count != rep.Ops[0].Count || back.Ops[0].ServerP99 != rep.Ops[0].ServerP99 ||
			(back.Ops[0].StealPercent == nil) != (rep.Ops[0].StealPercent == nil) {
			t.Errorf("JSON report does not read back: %v", err)
		}

		// The run removed what it made: no bench users, roles, types or rights, and
		// the subject holds what it held.
		left := c.Must(`query {
			users(where: {userNameHasPrefix: "bench-"}) { totalCount }
			roles(where: {nameHasPrefix: "bench-"}) { totalCount }
			userTypes(where: {nameHasPrefix: "bench-"}) { totalCount }
			rights(where: {keyHasPrefix: "bench."}) { totalCount }
			scimTokens(where: {revokedAtIsNil: true}) { totalCount }
		}`, nil)
		for _, what := range []string{"users", "roles", "userTypes", "rights"} {
			if n := left.Int(what + ".totalCount"); n != 0 {
				t.Errorf("%d bench %s left behind", n, what)
			}
		}
		if n := left.Int("scimTokens.totalCount"); n != 1 { // the bootstrap's own token
			t.Errorf("%d SCIM tokens unrevoked, want the bootstrap's one", n)
		}
	})
}

func TestRunRefusesAWrongToken(t *testing.T) {
	env := apptest.New(t, storetest.SQLite(t), app.Config{})
	env.Bootstrap("acme", "admin@acme.test")
	var out bytes.Buffer
	_, err := bench.Run(context.Background(), bench.Options{URL: env.Server.URL, Token: "not-a-token",
		Duration: 50 * time.Millisecond, Out: &out})
	if !errors.Is(err, bench.ErrUnauthorized) {
		t.Fatalf("Run with a wrong token: %v", err)
	}
	t.Logf("error: %v", err)
	if !strings.Contains(err.Error(), "401") {
		t.Errorf("the error does not say what the server answered: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed a report: %s", out.String())
	}
}

func TestRunNeedsTheSubject(t *testing.T) {
	env := apptest.New(t, storetest.SQLite(t), app.Config{})
	_, boot := env.Bootstrap("acme", "admin@acme.test")
	_, err := bench.Run(context.Background(), bench.Options{URL: env.Server.URL, Token: boot.AccessToken,
		Duration: 50 * time.Millisecond, Subject: "nobody@acme.test"})
	if err == nil || !strings.Contains(err.Error(), "nobody@acme.test") {
		t.Fatalf("Run without the subject: %v", err)
	}
}

// seed builds a small account: a data set with a three-level hierarchy and another
// the subject cannot reach, custom rights, a role, a user type with the role,
// data-set access and a company-specific right, a read-only type, users in Claims
// (one read-only, one linked to the read-only type, one inactive, some linked to the
// type, some in a group), and the subject, linked to the type and holding direct
// grants.
func seed(t *testing.T, c *apptest.Client) {
	t.Helper()
	ds := c.Must(`mutation { createDataSet(input: {name: "Carrier West"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
	other := c.Must(`mutation { createDataSet(input: {name: "Carrier East"}) { dataSet { id } } }`, nil).String("createDataSet.dataSet.id")
	node := func(parent, name string) string {
		vars := map[string]any{"ds": ds, "p": nil, "n": name}
		if parent != "" {
			vars["p"] = parent
		}
		return c.Must(`mutation($ds: ID!, $p: ID, $n: String!) { createHierarchyNode(input: {dataSetId: $ds, parentId: $p, name: $n}) { node { id } } }`,
			vars).String("createHierarchyNode.node.id")
	}
	region := node("", "Region 1")
	branch := node(region, "Branch A")
	node(branch, "Team 1")
	node(region, "Branch B")
	for _, r := range []struct{ key, kind string }{{"claims.view", "READ"}, {"claims.approve", "WRITE"}, {"claims.export", "READ"}, {"claims.audit", "WRITE"}} {
		c.Must(`mutation($k: String!, $kind: RightKind!) { createRight(input: {key: $k, name: $k, application: "Claims", kind: $kind}) { right { id } } }`,
			map[string]any{"k": r.key, "kind": r.kind})
	}
	role := c.Must(`mutation { createRole(input: {name: "Adjuster", rights: ["claims.view", "claims.approve"]}) { role { id } } }`, nil).String("createRole.role.id")
	typ := c.Must(`mutation($role: ID!, $ds: ID!, $region: ID!, $branch: ID!) { createUserType(input: {name: "Field Adjuster", roleIds: [$role], grants: [
		{dataSetId: $ds, nodeId: $region}, {right: "claims.export", dataSetId: $ds, nodeId: $branch}]}) { userType { id } } }`,
		map[string]any{"role": role, "ds": ds, "region": region, "branch": branch}).String("createUserType.userType.id")

	auditor := c.Must(`mutation { createUserType(input: {name: "Auditor", readOnly: true}) { userType { id } } }`, nil).String("createUserType.userType.id")

	newUser := func(name, dept string, readOnly, active bool) string {
		return c.Must(`mutation($n: String!, $d: String, $ro: Boolean, $a: Boolean) { createUser(input: {userName: $n, email: $n, department: $d, readOnly: $ro, active: $a}) { user { id } } }`,
			map[string]any{"n": name, "d": dept, "ro": readOnly, "a": active}).String("createUser.user.id")
	}
	link := func(user string) {
		c.Must(`mutation($u: ID!, $t: ID!) { linkUserType(input: {userId: $u, userTypeId: $t}) { user { id } } }`, map[string]any{"u": user, "t": typ})
	}
	grant := func(user string, grants []map[string]any) {
		c.Must(`mutation($u: ID!, $g: [GrantInput!]!) { grantRights(input: {userId: $u, grants: $g}) { user { id } } }`, map[string]any{"u": user, "g": grants})
	}

	subject := newUser(bench.DefaultSubject, "Claims", false, true)
	link(subject)
	grant(subject, []map[string]any{{"right": "reports.view"}, {"dataSetId": ds}, {"right": "claims.audit", "dataSetId": ds, "nodeId": branch},
		{"right": "claims.export", "allDataSets": true}})

	var members []string
	for i := range 8 {
		u := newUser(fmt.Sprintf("claims%d@acme.test", i), "Claims", i == 1, i != 2)
		if i%2 == 0 {
			link(u)
		} else {
			grant(u, []map[string]any{{"right": "claims.view"}, {"right": "claims.approve"}, {"dataSetId": ds, "nodeId": branch}})
		}
		if i == 3 {
			c.Must(`mutation($u: ID!, $t: ID!) { linkUserType(input: {userId: $u, userTypeId: $t}) { user { id } } }`,
				map[string]any{"u": u, "t": auditor})
		}
		if i < 4 {
			members = append(members, u)
		}
	}
	c.Must(`mutation($r: ID!, $u: ID!) { applyRole(input: {userId: $u, roleId: $r}) { user { id } } }`, map[string]any{"r": role, "u": members[1]})
	c.Must(`mutation($u: [ID!]) { createGroup(input: {name: "Adjusters", userIds: $u}) { group { id } } }`, map[string]any{"u": members})
	newUser("sales0@acme.test", "Sales", false, true)
	grant(newUser("sales1@acme.test", "Sales", false, true), []map[string]any{{"dataSetId": other}, {"right": "claims.view"}})
}
