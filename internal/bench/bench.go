// Package bench drives a running Latchkey over HTTP — GraphQL at /query and SCIM at
// /scim/v2 — and reports, per operation, latency percentiles and throughput against
// the product's targets; given the same database, it also times one hand-written
// SQL query per read operation that computes the same answer, to show what the
// server adds on top of the database.
//
// Reads only ask questions. The write operations (bulkApplyRole, bulkLinkUserType,
// scimCreate) create their own records — rights, roles, a user type and users whose
// names start with "bench-" — and remove them again, so a run leaves the account's
// rights as it found them (the audit log keeps the traces).
package bench

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// Options configure a run.
type Options struct {
	URL         string        // base URL of the server, e.g. http://127.0.0.1:8080
	Token       string        // bearer token of an Admin of the account (GraphQL)
	SCIMToken   string        // SCIM bearer token; empty: create one with createScimToken at start and revoke it at the end
	Duration    time.Duration // how long each timed operation runs (default 10s)
	Concurrency int           // clients for the concurrent `can` operations (default 16); the other read ops use min(4, Concurrency) clients; SCIM create is sequential
	CanRate     float64       // checks a second the clients of canPaced send together (default 3000, the target's rate)
	Subject     string        // userName of the user the per-user reads ask about (default "bench.subject@seed.example")
	Selection   string        // department whose users the bulk operations select (default "Claims")
	Ops         []string      // run only these operations (by name, see Op*); empty: all of them
	DB          *sql.DB       // optional: the same database, for the raw-SQL comparison
	Dialect     string        // the server's store, "sqlite3" or "mysql": required with DB; without it the bulk operations are judged by SQLite's target
	Out         io.Writer     // where the table (or JSON) is printed (nil: nowhere)
	JSON        bool          // print one JSON object instead of a table
	Progress    io.Writer     // one line per operation as it starts and ends (nil: silent)
	// Bare says the server at URL is not Latchkey but the bare stack under it, as
	// `latchkey bench --bare` serves it: gqlgen's handler over the generated schema,
	// whose can answers true without authentication or a database. Only BareOps
	// run, asking about made-up ids, with no setup, raw SQL or server metrics.
	Bare bool
}

// Defaults of Options.
const (
	DefaultDuration    = 10 * time.Second
	DefaultConcurrency = 16
	DefaultCanRate     = 3000
	DefaultSubject     = "bench.subject@seed.example"
	DefaultSelection   = "Claims"
)

// OpResult is one operation's outcome. Count is the number of successful requests,
// whose latencies give the percentiles; Errors the failed ones. PerSecond is Count
// over the time the operation ran (for the bulk operations: over the time of the
// measured requests alone). Met is nil when the operation has no target; an
// operation with errors never meets its target. RawSQLP50 and Ratio (P50 /
// RawSQLP50) are set when Options.DB is. ServerP99 bounds the p99 of the time the
// server's handlers took for the same requests, from its /metrics histogram: at
// least 99% of them took no longer (0: not read, or not a timed read operation).
type OpResult struct {
	Name               string
	Count, Errors      int
	P50, P95, P99, Max time.Duration
	PerSecond          float64
	Target             string
	Met                *bool
	RawSQLP50          time.Duration
	Ratio              float64
	ServerP99          time.Duration
	// StealPercent is the share of this machine's CPU time that its hypervisor gave
	// to other machines while the operation ran (nil: not known, not Linux).
	StealPercent *float64
}

// Report is a whole run.
type Report struct {
	Ops          []OpResult
	PeakRSSBytes int64         // the server's peak resident memory after the run (0: not reported)
	Duration     time.Duration // wall time of the run
	Notes        []string      // error samples, skipped comparisons, disagreements, cleanup failures
}

// Operation names, in the order they run.
const (
	OpCan = "can"
	// OpCanPaced is can with the clients sending Options.CanRate checks a second.
	OpCanPaced = "canPaced"
	// OpHealthz is the floor: the least an answer takes, at saturation.
	OpHealthz = "healthz"
	// OpTypename is the least a GraphQL answer takes, at saturation.
	OpTypename        = "typename"
	OpCanBatch        = "canBatch"
	OpEffectiveRights = "effectiveRights"
	// OpEffectiveRightsFresh is effectiveRights asking for a fresh answer each time.
	OpEffectiveRightsFresh = "effectiveRightsFresh"
	OpUsersWithRole        = "usersWithRole"
	OpWhoCan               = "whoCan"
	OpBulkSummary          = "bulkSummary"
	OpBulkApplyRole        = "bulkApplyRole"
	OpBulkLinkUserType     = "bulkLinkUserType"
	OpSCIMCreate           = "scimCreate"
	OpSCIMUserNameEq       = "scimUserNameEq"
)

// BareOps are the operations a run with Options.Bare may ask for.
var BareOps = []string{OpCan, OpCanPaced, OpHealthz, OpTypename}

// PeakRSSTarget is the memory target printed with Report.PeakRSSBytes.
const (
	PeakRSSTarget       = "≤ 200 MB"
	peakRSSLimit  int64 = 200 << 20
)

// ErrUnauthorized is returned (wrapped) when the server refuses Options.Token.
var ErrUnauthorized = errors.New("the server refused the GraphQL token")

// Run benchmarks the server at o.URL and prints the report to o.Out. It fails when
// the server cannot be reached, refuses the token, or the account lacks what the
// operations need (the subject user, a data set); failures of single requests are
// counted per operation and sampled into Report.Notes instead.
func Run(ctx context.Context, o Options) (*Report, error) {
	o = withDefaults(o)
	if o.URL == "" {
		return nil, errors.New("bench: no server URL")
	}
	if o.Token == "" {
		return nil, errors.New("bench: no GraphQL token (an Admin's bearer token)")
	}
	if o.DB != nil && o.Dialect != "sqlite3" && o.Dialect != "mysql" {
		return nil, fmt.Errorf("bench: dialect %q: want sqlite3 or mysql with a database", o.Dialect)
	}
	start := time.Now()
	r := &runner{o: o, c: newClient(o.URL, o.Token, o.Concurrency), run: runID()}
	defer r.c.close()
	// Whatever happens, remove what the run created (cleanup is idempotent and
	// has time of its own when ctx has ended).
	defer r.cleanup(ctx)

	ops, err := r.selected()
	if err != nil {
		return nil, err
	}
	if o.Bare {
		r.setupBare()
	} else if err := r.setup(ctx); err != nil {
		return nil, err
	}
	rep := &Report{}
	for _, op := range ops {
		if err := ctx.Err(); err != nil {
			break
		}
		r.progress("%-17s running…", op.name)
		before, ok1 := readCPUTimes()
		res := op.run(ctx)
		after, ok2 := readCPUTimes()
		res.StealPercent = stealPercent(before, after, ok1 && ok2)
		res.Name = op.name
		res.Target = op.target
		res.Met = op.met(res)
		if op.raw != nil && r.raw != nil && res.Count > 0 && ctx.Err() == nil {
			if p50, err := op.raw(ctx); err != nil {
				r.note("%s: raw SQL: %v", op.name, err)
			} else if p50 > 0 {
				res.RawSQLP50 = p50
				res.Ratio = float64(res.P50) / float64(p50)
			}
		}
		rep.Ops = append(rep.Ops, res)
		r.progress("%-17s %d ok, %d errors, p50 %s, p99 %s", op.name, res.Count, res.Errors, ms(res.P50), ms(res.P99))
	}
	if r.raw == nil && !o.Bare {
		r.note("raw SQL comparison skipped: no database given")
	}
	if o.Dialect == "" && !o.Bare {
		r.note("the server's store is unknown (no --database): the bulk operations are judged by SQLite's target")
	}
	if !o.Bare {
		r.progress("cleaning up and reading the server's peak memory")
		r.cleanup(ctx)
		rss, err := r.peakRSS(context.WithoutCancel(ctx))
		if err != nil {
			r.note("peak memory: %v", err)
		}
		rep.PeakRSSBytes = rss
	}
	rep.Duration = time.Since(start)
	r.mu.Lock()
	rep.Notes = slices.Clone(r.notes)
	r.mu.Unlock()
	if o.Out != nil {
		if err := rep.Print(o.Out, o.JSON); err != nil {
			return rep, err
		}
	}
	return rep, ctx.Err()
}

// selected is the operations Options.Ops names, in the order they run; all when it
// names none.
func (r *runner) selected() ([]operation, error) {
	all := r.operations()
	if r.o.Bare {
		all = slices.DeleteFunc(all, func(op operation) bool { return !slices.Contains(BareOps, op.name) })
	}
	if len(r.o.Ops) == 0 {
		return all, nil
	}
	var names []string
	for _, op := range all {
		names = append(names, op.name)
	}
	for _, name := range r.o.Ops {
		if !slices.Contains(names, name) {
			return nil, fmt.Errorf("bench: no operation %q (operations: %s)", name, strings.Join(names, ", "))
		}
	}
	return slices.DeleteFunc(all, func(op operation) bool { return !slices.Contains(r.o.Ops, op.name) }), nil
}

func withDefaults(o Options) Options {
	if o.Duration <= 0 {
		o.Duration = DefaultDuration
	}
	if o.Concurrency <= 0 {
		o.Concurrency = DefaultConcurrency
	}
	if o.CanRate <= 0 {
		o.CanRate = DefaultCanRate
	}
	if o.Subject == "" {
		o.Subject = DefaultSubject
	}
	if o.Selection == "" {
		o.Selection = DefaultSelection
	}
	if o.Dialect == "sqlite" {
		o.Dialect = "sqlite3"
	}
	return o
}

func runID() string {
	b := make([]byte, 4)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// readClients is how many clients the read operations other than can use.
func (r *runner) readClients() int { return min(4, r.o.Concurrency) }

func (r *runner) note(format string, args ...any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.notes = append(r.notes, fmt.Sprintf(format, args...))
}

func (r *runner) progress(format string, args ...any) {
	if r.o.Progress != nil {
		fmt.Fprintf(r.o.Progress, "bench: "+format+"\n", args...)
	}
}
