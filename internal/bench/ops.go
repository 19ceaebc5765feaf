package bench

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"latchkey/graph/relayid"
)

// operation is one line of the report.
type operation struct {
	name, target string
	run          func(ctx context.Context) OpResult
	met          func(OpResult) *bool
	// raw times the hand-written SQL (nil: no comparison); it also checks, once,
	// that the SQL and the server agree, and notes it when they do not.
	raw func(ctx context.Context) (time.Duration, error)
}

// Queries, as a frontend or service would send them.
const (
	qCanBatch      = `query($u: ID!, $c: [CheckInput!]!) { canBatch(userId: $u, checks: $c) }`
	qUsersWithRole = `query($role: ID!) { users(first: 50, where: {withRole: $role}) { totalCount edges { node { id userName } } } }`
	qWhoCan        = `query($r: String!, $d: ID!, $n: ID) { whoCan(right: $r, dataSetId: $d, nodeId: $n, first: 50) { totalCount edges { node { id } } } }`
	qTypename      = `query { __typename }`
	qBulkSummary   = `query($d: String!) { bulkSummary(selection: {where: {department: $d}}) {
  count
  rights { right { id key } direct effective }
  roles { role { id name } count }
  userTypes { userType { id name } count } } }`
)

// QueryCan asks whether user $u may use right $r on data set $d (at node $n): the
// can operations.
const QueryCan = `query($u: ID!, $r: String!, $d: ID!, $n: ID) { can(userId: $u, right: $r, dataSetId: $d, nodeId: $n) }`

// QueryEffectiveRights asks for the effective rights of user $u with their sources,
// as an admin frontend shows them (the effectiveRights operations).
const QueryEffectiveRights = `query($u: ID!) { node(id: $u) { ... on User { effectiveRights {
  right { key } dataSet { id } node { id }
  sources { kind role { name } userType { name } group { name } grantedAt }
  masks effective } } } }`

// batchSize is the number of checks in one canBatch request.
const batchSize = 100

func (r *runner) operations() []operation {
	le := func(stat func(OpResult) time.Duration, limit time.Duration) func(OpResult) *bool {
		return func(res OpResult) *bool { return met(res, stat(res) <= limit) }
	}
	p95 := func(res OpResult) time.Duration { return res.P95 }
	p99 := func(res OpResult) time.Duration { return res.P99 }
	bulkLimit := time.Second
	if r.o.Dialect == "mysql" {
		bulkLimit = 2 * time.Second
	}
	ops := []operation{
		{name: OpCan, target: "p99 ≤ 5 ms, ≥ 3000/s", run: r.opCan, raw: r.rawCan,
			met: func(res OpResult) *bool { return met(res, res.P99 <= 5*time.Millisecond && res.PerSecond >= 3000) }},
		{name: OpCanPaced, target: "p99 ≤ 5 ms at ≥ 3000/s sent", run: r.opCanPaced, raw: r.rawCan,
			met: func(res OpResult) *bool { return met(res, res.P99 <= 5*time.Millisecond && r.o.CanRate >= 3000) }},
		{name: OpHealthz, target: "none: the machine's floor", run: r.opHealthz, met: func(OpResult) *bool { return nil }},
		{name: OpTypename, target: "none: a GraphQL answer's floor", run: r.opTypename, met: func(OpResult) *bool { return nil }},
		{name: OpCanBatch, target: "p99 ≤ 20 ms", run: r.opCanBatch, raw: r.rawCanBatch, met: le(p99, 20*time.Millisecond)},
		{name: OpEffectiveRights, target: "p95 ≤ 10 ms", run: r.opEffectiveRights, raw: r.rawEffectiveRights, met: le(p95, 10*time.Millisecond)},
		{name: OpEffectiveRightsFresh, target: "p95 ≤ 10 ms", run: r.opEffectiveRightsFresh, raw: r.rawEffectiveRightsTime, met: le(p95, 10*time.Millisecond)},
		{name: OpUsersWithRole, target: "p95 ≤ 50 ms", run: r.opUsersWithRole, raw: r.rawUsersWithRole, met: le(p95, 50*time.Millisecond)},
		{name: OpWhoCan, target: "p95 ≤ 50 ms", run: r.opWhoCan, raw: r.rawWhoCan, met: le(p95, 50*time.Millisecond)},
		{name: OpBulkSummary, target: "p95 ≤ 500 ms", run: r.opBulkSummary, raw: r.rawBulkSummary, met: le(p95, 500*time.Millisecond)},
		{name: OpBulkApplyRole, target: "≤ 1 s SQLite, ≤ 2 s MySQL", run: r.opBulkApplyRole, met: le(p95, bulkLimit)},
		{name: OpBulkLinkUserType, target: "≤ 1 s SQLite, ≤ 2 s MySQL", run: r.opBulkLinkUserType, met: le(p95, bulkLimit)},
		{name: OpSCIMCreate, target: "≥ 300/s", run: r.opSCIMCreate,
			met: func(res OpResult) *bool { return met(res, res.PerSecond >= 300) }},
		{name: OpSCIMUserNameEq, target: "p95 ≤ 5 ms", run: r.opSCIMUserNameEq, raw: r.rawSCIMUserNameEq, met: le(p95, 5*time.Millisecond)},
	}
	return ops
}

// met is ok for an operation that answered every request.
func met(res OpResult, ok bool) *bool {
	v := ok && res.Count > 0 && res.Errors == 0
	return &v
}

// timed runs call from clients goroutines for the run's duration, each calling
// again as soon as its call returns (measure with a rate is the other way).
func (r *runner) timed(ctx context.Context, name string, clients int, call func(ctx context.Context, i int) (time.Duration, error)) OpResult {
	return r.measure(ctx, name, clients, 0, call)
}

// measure runs call from clients goroutines for the run's duration, after one
// unmeasured warm-up call per client (whose failures still count). i numbers the
// calls, for rotating over inputs. With rate 0 each client calls again as soon as
// its call returns; otherwise the clients together start rate calls a second on a
// fixed schedule, and a call that starts late because its client was still in the
// previous one counts its latency from when it was due (no coordinated omission).
// The server's latency histogram, read before and after, gives the p99 of its own
// handling of the measured requests.
func (r *runner) measure(ctx context.Context, name string, clients int, rate float64, call func(ctx context.Context, i int) (time.Duration, error)) OpResult {
	s := &sampler{}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			if _, err := call(ctx, int(next.Add(1)-1)); err != nil && ctx.Err() == nil {
				s.fail(err)
			}
		})
	}
	wg.Wait()
	before, serverErr := r.serverLatencies(ctx)
	start := time.Now()
	deadline := start.Add(r.o.Duration)
	var due func() (time.Time, bool) // when the next call is due; false: none is
	if rate > 0 {
		var tickets atomic.Int64
		interval := float64(time.Second) / rate
		due = func() (time.Time, bool) {
			at := start.Add(time.Duration(float64(tickets.Add(1)-1) * interval))
			return at, at.Before(deadline)
		}
	}
	for range clients {
		wg.Go(func() {
			for ctx.Err() == nil {
				var late time.Duration
				if due != nil {
					at, ok := due()
					if !ok {
						return
					}
					// Late because this client's previous call was still running:
					// that wait is the server's and counts. Timers wake up to a
					// millisecond late when a machine idles; that wait is this
					// client's, and does not.
					if late = time.Since(at); late <= 0 && !sleepUntil(ctx, at) {
						return
					}
					late = max(late, 0)
				}
				d, err := call(ctx, int(next.Add(1)-1))
				if ctx.Err() != nil {
					return
				}
				s.record(late+d, err)
				if due == nil && !time.Now().Before(deadline) {
					return
				}
			}
		})
	}
	wg.Wait()
	res := s.result(name, time.Since(start))
	r.noteErrors(name, s)
	if serverErr == nil {
		var after serverHistogram
		if after, serverErr = r.serverLatencies(ctx); serverErr == nil {
			res.ServerP99 = quantileBound(before, after, 0.99)
		}
	}
	if serverErr != nil && ctx.Err() == nil && !errors.Is(serverErr, errBare) {
		r.serverLatencyFailed.Do(func() { r.note("the server's own latencies: %v", serverErr) })
	}
	return res
}

// sleepUntil waits until t; false when ctx ended first.
func sleepUntil(ctx context.Context, t time.Time) bool {
	wait := time.Until(t)
	if wait <= 0 {
		return ctx.Err() == nil
	}
	timer := time.NewTimer(wait)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	}
}

func (r *runner) noteErrors(name string, s *sampler) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range s.errSamples {
		r.note("%s: error: %s", name, e)
	}
}

// --- can ---

func (r *runner) opCan(ctx context.Context) OpResult {
	return r.timed(ctx, OpCan, r.o.Concurrency, r.canCall())
}

// opCanPaced is can at the rate of Options.CanRate: the latency of a given load,
// where can measures the most the clients get out of the server (on a shared
// machine: the queue of 16 closed-loop clients at saturation).
func (r *runner) opCanPaced(ctx context.Context) OpResult {
	return r.measure(ctx, OpCanPaced, r.o.Concurrency, r.o.CanRate, r.canCall())
}

// opHealthz is GET /healthz from as many clients as can, as fast as they go: the
// least work an answer takes (no database, no GraphQL), so its p99 at saturation is
// what any request gets on this machine with that many clients sharing its cores.
func (r *runner) opHealthz(ctx context.Context) OpResult {
	return r.timed(ctx, OpHealthz, r.o.Concurrency, func(ctx context.Context, _ int) (time.Duration, error) {
		status, raw, d, err := r.c.roundTrip(ctx, http.MethodGet, "/healthz", "", "", nil)
		if err == nil && (status != http.StatusOK || string(raw) != "ok\n") {
			err = &HTTPError{Method: http.MethodGet, Path: "/healthz", Status: status, Body: clip(string(raw), 100)}
		}
		return d, err
	})
}

// opTypename asks `{ __typename }` from the can clients as fast as they go: all a
// GraphQL request costs (the token, the account's revision read, gqlgen's handler)
// but the resolver and the rights engine, so set beside can and healthz it shows
// where the time of a check goes at saturation.
func (r *runner) opTypename(ctx context.Context) OpResult {
	return r.timed(ctx, OpTypename, r.o.Concurrency, func(ctx context.Context, _ int) (time.Duration, error) {
		var out struct {
			Typename string `json:"__typename"`
		}
		d, err := r.c.gqlFresh(ctx, qTypename, nil, &out)
		if err == nil && out.Typename != "Query" {
			err = fmt.Errorf("__typename answered %q, not Query", out.Typename)
		}
		return d, err
	})
}

// canCall asks one of r.checks per call and keeps the answers for rawCan.
func (r *runner) canCall() func(ctx context.Context, i int) (time.Duration, error) {
	answers := make([]atomic.Int32, len(r.checks)) // 0 unknown, 1 no, 2 yes
	r.canAnswers = answers
	return func(ctx context.Context, i int) (time.Duration, error) {
		k := r.checks[i%len(r.checks)]
		vars := map[string]any{"u": r.subject, "r": k.Right, "d": k.DataSet, "n": nil}
		if k.Node != "" {
			vars["n"] = k.Node
		}
		var out struct {
			Can *bool `json:"can"`
		}
		d, err := r.c.gqlFresh(ctx, QueryCan, vars, &out)
		if err == nil && out.Can == nil {
			err = errors.New("can answered null")
		}
		if err == nil {
			v := int32(1)
			if *out.Can {
				v = 2
			}
			answers[i%len(r.checks)].Store(v)
		}
		return d, err
	}
}

func (r *runner) rawCan(ctx context.Context) (time.Duration, error) {
	got, err := r.raw.can(ctx, r.subjectID, r.checks)
	if err != nil {
		return 0, err
	}
	var differ []string
	for i, k := range r.checks {
		if v := r.canAnswers[i].Load(); v != 0 && (v == 2) != got[i] {
			differ = append(differ, fmt.Sprintf("%s: server %v, SQL %v", k, v == 2, got[i]))
		}
	}
	r.disagree(OpCan, differ)
	return r.rawTime(ctx, func(i int) error {
		j := i % len(r.checks)
		_, err := r.raw.can(ctx, r.subjectID, r.checks[j:j+1])
		return err
	})
}

// --- canBatch ---

// batch returns the batchSize checks starting at offset, rotating over r.checks.
func (r *runner) batch(offset int) []check {
	out := make([]check, batchSize)
	for j := range out {
		out[j] = r.checks[(offset+j)%len(r.checks)]
	}
	return out
}

func (r *runner) opCanBatch(ctx context.Context) OpResult {
	var once sync.Once
	return r.timed(ctx, OpCanBatch, r.readClients(), func(ctx context.Context, i int) (time.Duration, error) {
		checks := r.batch(i)
		in := make([]map[string]any, len(checks))
		for j, k := range checks {
			in[j] = k.vars()
		}
		var out struct {
			CanBatch []bool `json:"canBatch"`
		}
		d, err := r.c.gqlFresh(ctx, qCanBatch, map[string]any{"u": r.subject, "c": in}, &out)
		if err == nil && len(out.CanBatch) != len(checks) {
			err = fmt.Errorf("canBatch answered %d results for %d checks", len(out.CanBatch), len(checks))
		}
		if err == nil {
			once.Do(func() { r.batchSample = batchAnswer{offset: i, answers: out.CanBatch} })
		}
		return d, err
	})
}

type batchAnswer struct {
	offset  int
	answers []bool
}

func (r *runner) rawCanBatch(ctx context.Context) (time.Duration, error) {
	if s := r.batchSample; s.answers != nil {
		checks := r.batch(s.offset)
		got, err := r.raw.can(ctx, r.subjectID, checks)
		if err != nil {
			return 0, err
		}
		var differ []string
		for j := range checks {
			if got[j] != s.answers[j] {
				differ = append(differ, fmt.Sprintf("check %d (%s): server %v, SQL %v", j, checks[j], s.answers[j], got[j]))
			}
		}
		r.disagree(OpCanBatch, differ)
	}
	return r.rawTime(ctx, func(i int) error {
		_, err := r.raw.can(ctx, r.subjectID, r.batch(i))
		return err
	})
}

// --- effectiveRights ---

type effectiveRightsData struct {
	Node *struct {
		EffectiveRights *[]struct {
			Right     struct{ Key string } `json:"right"`
			DataSet   *idNode              `json:"dataSet"`
			Node      *idNode              `json:"node"`
			Sources   []json.RawMessage    `json:"sources"`
			Effective bool                 `json:"effective"`
		} `json:"effectiveRights"`
	} `json:"node"`
}

// opEffectiveRights reads the subject's rights again and again, as a frontend
// showing them would: from the second request on, the server answers from its
// response cache until the account changes. opEffectiveRightsFresh times the
// engine making the answer each time. Either decodes one whole answer and then
// checks that every other is the same, byte for byte (postKnown says why).
func (r *runner) opEffectiveRights(ctx context.Context) OpResult {
	return r.effectiveRights(ctx, OpEffectiveRights)
}

func (r *runner) opEffectiveRightsFresh(ctx context.Context) OpResult {
	return r.effectiveRights(ctx, OpEffectiveRightsFresh, fresh...)
}

func (r *runner) effectiveRights(ctx context.Context, name string, header ...string) OpResult {
	var once sync.Once
	var known knownAnswer
	return r.timed(ctx, name, r.readClients(), func(ctx context.Context, _ int) (time.Duration, error) {
		var out effectiveRightsData
		check := func() error {
			if out.Node == nil || out.Node.EffectiveRights == nil {
				return errors.New("effectiveRights: the user or its rights are null")
			}
			return nil
		}
		d, decoded, err := r.c.postKnown(ctx, &known, check, QueryEffectiveRights, map[string]any{"u": r.subject}, &out, header...)
		if err == nil && decoded && name == OpEffectiveRights { // the sample checked against raw SQL
			once.Do(func() {
				for _, er := range *out.Node.EffectiveRights {
					rr := rawRight{Key: er.Right.Key, Effective: er.Effective}
					if er.DataSet != nil {
						rr.DS, _ = relayid.Decode(er.DataSet.ID)
					}
					if er.Node != nil {
						rr.Node, _ = relayid.Decode(er.Node.ID)
					}
					r.rightsSample = append(r.rightsSample, rr)
				}
			})
		}
		return d, err
	})
}

func (r *runner) rawEffectiveRights(ctx context.Context) (time.Duration, error) {
	got, err := r.raw.effectiveRights(ctx, r.subjectID)
	if err != nil {
		return 0, err
	}
	key := func(x rawRight) string { return fmt.Sprintf("%s@%d/%d effective=%v", x.Key, x.DS, x.Node, x.Effective) }
	r.disagree(OpEffectiveRights, diffSets(mapKeys(r.rightsSample, key), mapKeys(got, key)))
	return r.rawEffectiveRightsTime(ctx)
}

func (r *runner) rawEffectiveRightsTime(ctx context.Context) (time.Duration, error) {
	return r.rawTime(ctx, func(int) error {
		_, err := r.raw.effectiveRights(ctx, r.subjectID)
		return err
	})
}

// --- usersWithRole and whoCan ---

type connection struct {
	TotalCount *int `json:"totalCount"`
	Edges      []struct {
		Node *idNode `json:"node"`
	} `json:"edges"`
}

func (cn connection) page() (page, error) {
	if cn.TotalCount == nil {
		return page{}, errors.New("the connection has no totalCount")
	}
	p := page{Total: *cn.TotalCount}
	for _, e := range cn.Edges {
		if e.Node == nil {
			return p, errors.New("the connection has a null node")
		}
		id, err := relayid.Decode(e.Node.ID)
		if err != nil {
			return p, fmt.Errorf("node id %q: %w", e.Node.ID, err)
		}
		p.IDs = append(p.IDs, id)
	}
	if len(p.IDs) > p.Total || len(p.IDs) > 50 {
		return p, fmt.Errorf("%d nodes on the page but totalCount %d", len(p.IDs), p.Total)
	}
	return p, nil
}

func (r *runner) opUsersWithRole(ctx context.Context) OpResult {
	var once sync.Once
	return r.timed(ctx, OpUsersWithRole, r.readClients(), func(ctx context.Context, _ int) (time.Duration, error) {
		var out struct{ Users connection }
		d, err := r.c.gqlFresh(ctx, qUsersWithRole, map[string]any{"role": r.role.ID}, &out)
		if err != nil {
			return d, err
		}
		p, err := out.Users.page()
		if err == nil {
			once.Do(func() { r.roleSample = p })
		}
		return d, err
	})
}

func (r *runner) rawUsersWithRole(ctx context.Context) (time.Duration, error) {
	roleID, err := relayid.Decode(r.role.ID)
	if err != nil {
		return 0, fmt.Errorf("role id %q: %w", r.role.ID, err)
	}
	got, err := r.raw.usersWithRole(ctx, roleID)
	if err != nil {
		return 0, err
	}
	r.disagree(OpUsersWithRole, diffPages(r.roleSample, got))
	return r.rawTime(ctx, func(int) error {
		_, err := r.raw.usersWithRole(ctx, roleID)
		return err
	})
}

func (r *runner) opWhoCan(ctx context.Context) OpResult {
	var once sync.Once
	k := r.whoCan
	vars := map[string]any{"r": k.Right, "d": k.DataSet, "n": nil}
	if k.Node != "" {
		vars["n"] = k.Node
	}
	return r.timed(ctx, OpWhoCan, r.readClients(), func(ctx context.Context, _ int) (time.Duration, error) {
		var out struct{ WhoCan connection }
		d, err := r.c.gqlFresh(ctx, qWhoCan, vars, &out)
		if err != nil {
			return d, err
		}
		p, err := out.WhoCan.page()
		if err == nil {
			once.Do(func() { r.whoCanSample = p })
		}
		return d, err
	})
}

func (r *runner) rawWhoCan(ctx context.Context) (time.Duration, error) {
	got, err := r.raw.whoCan(ctx, r.whoCan)
	if err != nil {
		return 0, err
	}
	r.disagree(OpWhoCan, diffPages(r.whoCanSample, got))
	return r.rawTime(ctx, func(int) error {
		_, err := r.raw.whoCan(ctx, r.whoCan)
		return err
	})
}

// --- bulkSummary ---

type bulkSummaryData struct {
	BulkSummary *struct {
		Count  *int `json:"count"`
		Rights []struct {
			Right     idNode `json:"right"`
			Direct    int    `json:"direct"`
			Effective int    `json:"effective"`
		} `json:"rights"`
		Roles []struct {
			Role  idNode `json:"role"`
			Count int    `json:"count"`
		} `json:"roles"`
		UserTypes []struct {
			UserType idNode `json:"userType"`
			Count    int    `json:"count"`
		} `json:"userTypes"`
	} `json:"bulkSummary"`
}

func (b bulkSummaryData) summary() (summary, error) {
	s := summary{Direct: map[int]int{}, Effective: map[int]int{}, Roles: map[int]int{}, Types: map[int]int{}}
	if b.BulkSummary == nil || b.BulkSummary.Count == nil {
		return s, errors.New("bulkSummary answered no count")
	}
	s.Count = *b.BulkSummary.Count
	put := func(into map[int]int, id string, n int) {
		if n != 0 {
			i, _ := relayid.Decode(id)
			into[i] = n
		}
	}
	for _, rc := range b.BulkSummary.Rights {
		put(s.Direct, rc.Right.ID, rc.Direct)
		put(s.Effective, rc.Right.ID, rc.Effective)
	}
	for _, rc := range b.BulkSummary.Roles {
		put(s.Roles, rc.Role.ID, rc.Count)
	}
	for _, tc := range b.BulkSummary.UserTypes {
		put(s.Types, tc.UserType.ID, tc.Count)
	}
	return s, nil
}

func (r *runner) opBulkSummary(ctx context.Context) OpResult {
	s := &sampler{}
	start := time.Now()
	for i := 0; (i < 3 || time.Since(start) < r.o.Duration) && ctx.Err() == nil; i++ {
		var out bulkSummaryData
		d, err := r.c.gqlFresh(ctx, qBulkSummary, map[string]any{"d": r.o.Selection}, &out)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			var sum summary
			if sum, err = out.summary(); err == nil && i == 0 {
				r.summarySample = &sum
			}
		}
		s.record(d, err)
	}
	r.noteErrors(OpBulkSummary, s)
	return s.result(OpBulkSummary, time.Since(start))
}

func (r *runner) rawBulkSummary(ctx context.Context) (time.Duration, error) {
	got, err := r.raw.bulkSummary(ctx, r.o.Selection)
	if err != nil {
		return 0, err
	}
	if want := r.summarySample; want != nil {
		var differ []string
		if want.Count != got.Count {
			differ = append(differ, fmt.Sprintf("count: server %d, SQL %d", want.Count, got.Count))
		}
		for _, m := range []struct {
			what      string
			want, got map[int]int
		}{{"direct", want.Direct, got.Direct}, {"effective", want.Effective, got.Effective},
			{"role", want.Roles, got.Roles}, {"type", want.Types, got.Types}} {
			for _, id := range unionKeys(m.want, m.got) {
				if m.want[id] != m.got[id] {
					differ = append(differ, fmt.Sprintf("%s %s: server %d, SQL %d", m.what, relayid.Encode(id), m.want[id], m.got[id]))
				}
			}
		}
		r.disagree(OpBulkSummary, differ)
	}
	return r.rawTime(ctx, func(int) error {
		_, err := r.raw.bulkSummary(ctx, r.o.Selection)
		return err
	})
}

// --- bulk changes ---

const (
	mCreateRight = `mutation($k: String!, $n: String!) { createRight(input: {key: $k, name: $n, application: "Bench", kind: READ}) { right { id key } } }`
	mDeleteRight = `mutation($id: ID!) { deleteRight(input: {id: $id}) { deletedId } }`
	mCreateRole  = `mutation($n: String!, $rights: [String!]) { createRole(input: {name: $n, rights: $rights}) { role { id name } } }`
	mDeleteRole  = `mutation($id: ID!) { deleteRole(input: {id: $id}) { deletedId } }`
	mCreateType  = `mutation($n: String!, $roles: [ID!]) { createUserType(input: {name: $n, roleIds: $roles}) { userType { id name } } }`
	mDeleteType  = `mutation($id: ID!) { deleteUserType(input: {id: $id}) { deletedId } }`
	mApplyRole   = `mutation($d: String!, $role: ID!) { bulkApplyRole(input: {selection: {where: {department: $d}}, roleId: $role}) { affectedCount } }`
	mRevoke      = `mutation($d: String!, $g: [GrantInput!]!) { bulkRevokeRights(input: {selection: {where: {department: $d}}, grants: $g}) { affectedCount } }`
	mLinkType    = `mutation($d: String!, $t: ID!) { bulkLinkUserType(input: {selection: {where: {department: $d}}, userTypeId: $t}) { affectedCount } }`
	mUnlinkType  = `mutation($d: String!, $t: ID!) { bulkUnlinkUserType(input: {selection: {where: {department: $d}}, userTypeId: $t}) { affectedCount } }`
)

// benchRightCount is the number of rights of the bench roles.
const benchRightCount = 10

// benchRights creates, once per run, the rights the bench roles hold: rights of
// their own, so that revoking them afterwards takes nothing a user held before.
func (r *runner) benchRights(ctx context.Context) ([]string, error) {
	if len(r.benchRight) == benchRightCount {
		return refNames(r.benchRight), nil
	}
	for i := len(r.benchRight); i < benchRightCount; i++ {
		key := fmt.Sprintf("bench.%s.r%02d", r.run, i)
		var out struct {
			CreateRight struct{ Right ref } `json:"createRight"`
		}
		if _, err := r.c.gql(ctx, mCreateRight, map[string]any{"k": key, "n": "Bench " + key}, &out); err != nil {
			return nil, fmt.Errorf("creating right %s: %w", key, err)
		}
		id := out.CreateRight.Right.ID
		r.benchRight = append(r.benchRight, ref{ID: id, Name: key})
		r.onCleanup("deleting right "+key, func(ctx context.Context) error {
			_, err := r.c.gql(ctx, mDeleteRight, map[string]any{"id": id}, nil)
			return err
		})
	}
	return refNames(r.benchRight), nil
}

func refNames(refs []ref) []string {
	out := make([]string, len(refs))
	for i, x := range refs {
		out[i] = x.Name
	}
	return out
}

func (r *runner) createRole(ctx context.Context, name string, rights []string) (string, error) {
	var out struct {
		CreateRole struct{ Role ref } `json:"createRole"`
	}
	if _, err := r.c.gql(ctx, mCreateRole, map[string]any{"n": name, "rights": rights}, &out); err != nil {
		return "", fmt.Errorf("creating role %s: %w", name, err)
	}
	return out.CreateRole.Role.ID, nil
}

// affected runs a bulk mutation and checks its affectedCount.
func (r *runner) affected(ctx context.Context, mutation, field string, vars map[string]any) (time.Duration, int, error) {
	var out map[string]struct {
		AffectedCount *int `json:"affectedCount"`
	}
	d, err := r.c.gql(ctx, mutation, vars, &out)
	if err != nil {
		return d, 0, err
	}
	res, ok := out[field]
	if !ok || res.AffectedCount == nil {
		return d, 0, fmt.Errorf("%s answered no affectedCount", field)
	}
	if *res.AffectedCount == 0 && r.selCount > 0 {
		return d, 0, fmt.Errorf("%s changed none of the %d selected users", field, r.selCount)
	}
	return d, *res.AffectedCount, nil
}

// bulkStep is one round of a bulk operation: the latency and error of its one
// measured request (none when measured is false), and a failure of its unmeasured
// setup or cleanup, which ends the operation.
type bulkStep struct {
	measured bool
	d        time.Duration
	err      error
	fatal    error
}

// repeatBulk runs step at least three times and for the run's duration.
func (r *runner) repeatBulk(ctx context.Context, name string, step func(i int) bulkStep) OpResult {
	s := &sampler{}
	var busy time.Duration
	start := time.Now()
	for i := 0; (i < 3 || time.Since(start) < r.o.Duration) && ctx.Err() == nil; i++ {
		st := step(i)
		if st.measured {
			s.record(st.d, st.err)
			if st.err == nil {
				busy += st.d
			}
		}
		if st.fatal != nil {
			s.fail(st.fatal)
			break
		}
	}
	r.noteErrors(name, s)
	return s.result(name, busy)
}

func (r *runner) opBulkApplyRole(ctx context.Context) OpResult {
	keys, err := r.benchRights(ctx)
	if err != nil {
		return r.failed(OpBulkApplyRole, err)
	}
	grants := make([]map[string]any, len(keys))
	for i, k := range keys {
		grants[i] = map[string]any{"right": k}
	}
	warned := false
	return r.repeatBulk(ctx, OpBulkApplyRole, func(i int) bulkStep {
		roleID, err := r.createRole(ctx, fmt.Sprintf("bench-%s-apply-%d", r.run, i), keys)
		if err != nil {
			return bulkStep{fatal: err}
		}
		d, n, err := r.affected(ctx, mApplyRole, "bulkApplyRole", map[string]any{"d": r.o.Selection, "role": roleID})
		if err == nil && n != r.selCount && !warned {
			warned = true
			r.note("bulkApplyRole: changed %d users of the %d selected", n, r.selCount)
		}
		// Unmeasured: take the copied rights back and drop the role.
		cleanup := context.WithoutCancel(ctx)
		var fatal error
		if _, _, cerr := r.affected(cleanup, mRevoke, "bulkRevokeRights", map[string]any{"d": r.o.Selection, "g": grants}); cerr != nil && err == nil {
			fatal = fmt.Errorf("cleanup: revoking the copied rights: %w", cerr)
		}
		if _, cerr := r.c.gql(cleanup, mDeleteRole, map[string]any{"id": roleID}, nil); cerr != nil {
			fatal = errors.Join(fatal, fmt.Errorf("cleanup: deleting the bench role: %w", cerr))
		}
		return bulkStep{measured: true, d: d, err: err, fatal: fatal}
	})
}

func (r *runner) opBulkLinkUserType(ctx context.Context) OpResult {
	keys, err := r.benchRights(ctx)
	if err != nil {
		return r.failed(OpBulkLinkUserType, err)
	}
	roleID, err := r.createRole(ctx, fmt.Sprintf("bench-%s-type-role", r.run), keys)
	if err != nil {
		return r.failed(OpBulkLinkUserType, err)
	}
	r.onCleanup("deleting the bench type's role", func(ctx context.Context) error {
		_, err := r.c.gql(ctx, mDeleteRole, map[string]any{"id": roleID}, nil)
		return err
	})
	var out struct {
		CreateUserType struct{ UserType ref } `json:"createUserType"`
	}
	name := fmt.Sprintf("bench-%s-type", r.run)
	if _, err := r.c.gql(ctx, mCreateType, map[string]any{"n": name, "roles": []string{roleID}}, &out); err != nil {
		return r.failed(OpBulkLinkUserType, fmt.Errorf("creating user type %s: %w", name, err))
	}
	typeID := out.CreateUserType.UserType.ID
	r.onCleanup("deleting the bench type", func(ctx context.Context) error {
		_, err := r.c.gql(ctx, mDeleteType, map[string]any{"id": typeID}, nil)
		return err
	})
	vars := map[string]any{"d": r.o.Selection, "t": typeID}
	warned := false
	return r.repeatBulk(ctx, OpBulkLinkUserType, func(int) bulkStep {
		d, n, err := r.affected(ctx, mLinkType, "bulkLinkUserType", vars)
		if err == nil && n != r.selCount && !warned {
			warned = true
			r.note("bulkLinkUserType: changed %d users of the %d selected", n, r.selCount)
		}
		var fatal error
		if _, _, cerr := r.affected(context.WithoutCancel(ctx), mUnlinkType, "bulkUnlinkUserType", vars); cerr != nil && err == nil {
			fatal = fmt.Errorf("cleanup: unlinking the bench type: %w", cerr)
		}
		return bulkStep{measured: true, d: d, err: err, fatal: fatal}
	})
}

// failed is the result of an operation whose unmeasured setup failed.
func (r *runner) failed(name string, err error) OpResult {
	r.note("%s: error: %v", name, err)
	return OpResult{Name: name, Errors: 1}
}

// --- SCIM ---

const scimUserSchema = "urn:ietf:params:scim:schemas:core:2.0:User"

func (r *runner) opSCIMCreate(ctx context.Context) OpResult {
	s := &sampler{}
	var created []string
	start := time.Now()
	deadline := start.Add(r.o.Duration)
	for i := 0; ctx.Err() == nil && (i == 0 || time.Now().Before(deadline)); i++ {
		name := fmt.Sprintf("bench-%s-%d@bench.example", r.run, i)
		body, _ := json.Marshal(map[string]any{
			"schemas":  []string{scimUserSchema},
			"userName": name,
			"name":     map[string]any{"givenName": "Bench", "familyName": fmt.Sprint(i)},
			"emails":   []any{map[string]any{"value": name, "type": "work", "primary": true}},
			"active":   true,
		})
		raw, d, err := r.c.scim(ctx, http.MethodPost, "/Users", body, http.StatusCreated)
		if ctx.Err() != nil {
			break
		}
		if err == nil {
			var out struct {
				ID       string `json:"id"`
				UserName string `json:"userName"`
			}
			if jerr := json.Unmarshal(raw, &out); jerr != nil || out.ID == "" {
				err = fmt.Errorf("POST /scim/v2/Users: the answer has no id: %s", clip(string(raw), 200))
			} else {
				created = append(created, out.ID)
				if !strings.EqualFold(out.UserName, name) {
					err = fmt.Errorf("POST /scim/v2/Users: created %q, asked for %q", out.UserName, name)
				}
			}
		}
		s.record(d, err)
	}
	res := s.result(OpSCIMCreate, time.Since(start))
	r.noteErrors(OpSCIMCreate, s)
	r.deleteSCIMUsers(context.WithoutCancel(ctx), created)
	return res
}

// deleteSCIMUsers removes the users scimCreate made, unmeasured, a few at a time.
func (r *runner) deleteSCIMUsers(ctx context.Context, ids []string) {
	var next atomic.Int64
	var failures atomic.Int64
	var first sync.Once
	var wg sync.WaitGroup
	for range r.readClients() {
		wg.Go(func() {
			for {
				i := int(next.Add(1) - 1)
				if i >= len(ids) {
					return
				}
				if _, _, err := r.c.scim(ctx, http.MethodDelete, "/Users/"+url.PathEscape(ids[i]), nil, http.StatusNoContent); err != nil {
					failures.Add(1)
					first.Do(func() { r.note("scimCreate: cleanup: %v", err) })
				}
			}
		})
	}
	wg.Wait()
	if n := failures.Load(); n > 0 {
		r.note("scimCreate: cleanup: %d of %d created users could not be deleted", n, len(ids))
	}
}

func scimFilterPath(userName string) string {
	v := url.Values{"filter": {`userName eq "` + strings.ReplaceAll(strings.ReplaceAll(userName, `\`, `\\`), `"`, `\"`) + `"`}}
	return "/Users?" + v.Encode()
}

func (r *runner) opSCIMUserNameEq(ctx context.Context) OpResult {
	if len(r.userNames) == 0 {
		return r.failed(OpSCIMUserNameEq, errors.New("no user names to ask about"))
	}
	var mu sync.Mutex
	r.scimSample = map[string]string{}
	return r.timed(ctx, OpSCIMUserNameEq, r.readClients(), func(ctx context.Context, i int) (time.Duration, error) {
		name := r.userNames[i%len(r.userNames)]
		raw, d, err := r.c.scim(ctx, http.MethodGet, scimFilterPath(name), nil, http.StatusOK)
		if err != nil {
			return d, err
		}
		var out struct {
			TotalResults int `json:"totalResults"`
			Resources    []struct {
				ID       string `json:"id"`
				UserName string `json:"userName"`
			} `json:"Resources"`
		}
		if err := json.Unmarshal(raw, &out); err != nil {
			return d, fmt.Errorf("GET /scim/v2/Users: the answer is not a list: %v", err)
		}
		if out.TotalResults != 1 || len(out.Resources) != 1 || !strings.EqualFold(out.Resources[0].UserName, name) {
			return d, fmt.Errorf("GET /scim/v2/Users filter userName eq %q: %d results, want exactly that user", name, out.TotalResults)
		}
		mu.Lock()
		if len(r.scimSample) < 20 {
			r.scimSample[name] = out.Resources[0].ID
		}
		mu.Unlock()
		return d, nil
	})
}

func (r *runner) rawSCIMUserNameEq(ctx context.Context) (time.Duration, error) {
	var differ []string
	for name, id := range r.scimSample {
		got, err := r.raw.scimUser(ctx, name)
		if err != nil {
			return 0, err
		}
		if len(got) != 1 || relayid.Encode(got[0]) != id {
			differ = append(differ, fmt.Sprintf("%s: server %s, SQL %v", name, id, got))
		}
	}
	r.disagree(OpSCIMUserNameEq, differ)
	return r.rawTime(ctx, func(i int) error {
		_, err := r.raw.scimUser(ctx, r.userNames[i%len(r.userNames)])
		return err
	})
}

// --- raw SQL timing and comparison ---

// rawTime runs one raw statement sequentially, 200 times or for a tenth of the
// run's duration, whichever ends first (at least three times), and returns the
// median latency.
func (r *runner) rawTime(ctx context.Context, run func(i int) error) (time.Duration, error) {
	limit := r.o.Duration / 10
	var lat []time.Duration
	start := time.Now()
	for i := 0; i < 200 && (i < 3 || time.Since(start) < limit); i++ {
		if err := ctx.Err(); err != nil {
			return 0, err
		}
		t := time.Now()
		if err := run(i); err != nil {
			return 0, err
		}
		lat = append(lat, time.Since(t))
	}
	return Percentile(lat, 50), nil
}

// disagree notes where the raw SQL and the server answered differently.
func (r *runner) disagree(op string, differ []string) {
	if len(differ) == 0 {
		return
	}
	more := ""
	if len(differ) > 5 {
		more = fmt.Sprintf(" (and %d more)", len(differ)-5)
		differ = differ[:5]
	}
	r.note("%s: raw SQL disagrees with the server: %s%s", op, strings.Join(differ, "; "), more)
}

func diffPages(want, got page) []string {
	var out []string
	if want.Total != got.Total {
		out = append(out, fmt.Sprintf("totalCount: server %d, SQL %d", want.Total, got.Total))
	}
	if !slices.Equal(want.IDs, got.IDs) {
		out = append(out, fmt.Sprintf("first page: server %v, SQL %v", want.IDs, got.IDs))
	}
	return out
}

func mapKeys[T any](xs []T, key func(T) string) map[string]bool {
	out := make(map[string]bool, len(xs))
	for _, x := range xs {
		out[key(x)] = true
	}
	return out
}

func diffSets(want, got map[string]bool) []string {
	var out []string
	for k := range want {
		if !got[k] {
			out = append(out, "only the server: "+k)
		}
	}
	for k := range got {
		if !want[k] {
			out = append(out, "only SQL: "+k)
		}
	}
	slices.Sort(out)
	return out
}

func unionKeys(a, b map[int]int) []int {
	var out []int
	for k := range a {
		out = append(out, k)
	}
	for k := range b {
		if _, ok := a[k]; !ok {
			out = append(out, k)
		}
	}
	slices.Sort(out)
	return out
}
