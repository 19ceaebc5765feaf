package app_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"latchkey/internal/app"
	"latchkey/internal/app/apptest"
	"latchkey/internal/bench"
	"latchkey/internal/seed"
	"latchkey/internal/store"
)

// TestSeedAndBench drives the seed and bench commands through app.Main, as the
// README's "Performance" section does: seed an account, serve it, bench it with the
// default token (the seed's operator) and the raw-SQL comparison.
func TestSeedAndBench(t *testing.T) { eachDatabaseURL(t, testSeedAndBench) }

func testSeedAndBench(t *testing.T, dbURL string) {
	ctx := t.Context()
	db := []string{"--database", dbURL, "--log-level", "error"}
	cmd := func(name string, args ...string) []string { return append(append([]string{name}, db...), args...) }

	r := latchkey(t, ctx, cmd("seed", "--users", "500")...)
	if r.code != 0 {
		t.Fatalf("seed: exit %d, stderr %q", r.code, r.stderr)
	}
	var rep seed.Report
	if err := json.Unmarshal([]byte(r.stdout), &rep); err != nil {
		t.Fatalf("seed did not print its report as JSON (%v): %q", err, r.stdout)
	}
	if rep.Account != seed.DefaultAccount || rep.Users != 502 || rep.SelectionUsers != 100 || rep.HierarchyNodes != 10_000 || rep.Seconds <= 0 {
		t.Errorf("seed report: %+v", rep)
	}
	if !strings.Contains(r.stderr, "direct grants") {
		t.Errorf("seed printed no progress on stderr: %q", r.stderr)
	}
	// Seeding the same account again is refused, and says why.
	if r := latchkey(t, ctx, cmd("seed", "--users", "500")...); r.code == 0 || !strings.Contains(r.stderr, "already has users") {
		t.Errorf("seed of a seeded account: exit %d, stderr %q", r.code, r.stderr)
	}

	st, err := store.Open(ctx, dbURL)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	env := apptest.New(t, st, app.Config{})

	r = latchkey(t, ctx, cmd("bench", "--url", env.Server.URL, "--duration", "100ms", "--concurrency", "4", "--json")...)
	if r.code != 0 {
		t.Fatalf("bench: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var out bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("bench --json did not print one JSON object (%v): %q", err, r.stdout)
	}
	ran := map[string]bench.OpResult{}
	for _, op := range out.Ops {
		ran[op.Name] = op
	}
	for _, name := range []string{bench.OpCan, bench.OpCanBatch, bench.OpEffectiveRights, bench.OpUsersWithRole, bench.OpWhoCan,
		bench.OpBulkSummary, bench.OpBulkApplyRole, bench.OpBulkLinkUserType, bench.OpSCIMCreate, bench.OpSCIMUserNameEq} {
		op, ok := ran[name]
		if !ok || op.Count == 0 || op.Errors != 0 {
			t.Errorf("%s: %+v (ran: %v)", name, op, ok)
		}
	}
	if ran[bench.OpEffectiveRights].RawSQLP50 <= 0 {
		t.Errorf("no raw-SQL comparison with the server's database: %+v", ran[bench.OpEffectiveRights])
	}
	for _, n := range out.Notes {
		if strings.Contains(n, "disagrees") || strings.Contains(n, "cleanup") || strings.Contains(n, "no user") {
			t.Errorf("note: %s", n)
		}
	}

	// --ops runs only the operations named; an unknown name is refused with the list.
	r = latchkey(t, ctx, cmd("bench", "--url", env.Server.URL, "--duration", "100ms", "--json", "--ops", "whoCan,can")...)
	if r.code != 0 {
		t.Fatalf("bench --ops: exit %d, stderr %q", r.code, r.stderr)
	}
	out = bench.Report{}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, op := range out.Ops {
		names = append(names, op.Name)
	}
	if strings.Join(names, ",") != "can,whoCan" {
		t.Errorf("bench --ops whoCan,can ran %v, want can then whoCan", names)
	}
	if r := latchkey(t, ctx, cmd("bench", "--url", env.Server.URL, "--ops", "nope")...); r.code == 0 || !strings.Contains(r.stderr, "bulkApplyRole") {
		t.Errorf("bench --ops nope: exit %d, stderr %q", r.code, r.stderr)
	}

	// Without a seeded account there is no default token, and the error says what
	// to do.
	if r := latchkey(t, ctx, cmd("bench", "--url", env.Server.URL, "--account", "nope")...); r.code == 0 || !strings.Contains(r.stderr, "--token") {
		t.Errorf("bench without a seeded account: exit %d, stderr %q", r.code, r.stderr)
	}
}

// TestBenchBare runs bench --bare as the README does: it serves the bare stack in a
// process of its own and drives the bare operations against it, with no database
// and no token.
func TestBenchBare(t *testing.T) {
	t.Setenv(asLatchkey, "1")
	ctx := t.Context()
	r := latchkey(t, ctx, "bench", "--bare", "--duration", "100ms", "--concurrency", "4", "--can-rate", "400", "--json")
	if r.code != 0 {
		t.Fatalf("bench --bare: exit %d, stdout %q, stderr %q", r.code, r.stdout, r.stderr)
	}
	var out bench.Report
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil {
		t.Fatalf("bench --bare --json did not print one JSON object (%v): %q", err, r.stdout)
	}
	var names []string
	for _, op := range out.Ops {
		names = append(names, op.Name)
		if op.Count == 0 || op.Errors != 0 || op.P99 <= 0 {
			t.Errorf("%s: %+v", op.Name, op)
		}
		// can's targets are judged as against Latchkey; the floors have none.
		if hasTarget := op.Name == bench.OpCan || op.Name == bench.OpCanPaced; (op.Met != nil) != hasTarget {
			t.Errorf("%s: verdict %v", op.Name, op.Met)
		}
	}
	if !slices.Equal(names, bench.BareOps) {
		t.Errorf("bench --bare ran %v, want %v", names, bench.BareOps)
	}
	if len(out.Notes) > 0 || out.PeakRSSBytes != 0 {
		t.Errorf("notes %q, peak RSS %d: the bare stack has no database or metrics to speak of", out.Notes, out.PeakRSSBytes)
	}

	// Only the bare operations run against the bare stack.
	if r := latchkey(t, ctx, "bench", "--bare", "--ops", bench.OpWhoCan); r.code == 0 || !strings.Contains(r.stderr, bench.OpTypename) {
		t.Errorf("bench --bare --ops whoCan: exit %d, stderr %q", r.code, r.stderr)
	}
}
