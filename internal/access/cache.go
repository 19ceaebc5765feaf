package access

import (
	"context"
	"database/sql"
	"errors"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"

	gen "latchkey/ent"
	"latchkey/internal/viewer"
)

// Reads that every request repeats — who the caller is and may do, a user's holder
// for checks, the rights catalogue — are cached per account revision. Every audited
// change bumps the revision in its own transaction (audit.BumpRevision), and each
// request reads the revision once, before anything it caches; so an entry is never
// older than the revision it is filed under, a change is seen by the next request on
// every replica, and nothing is ever invalidated by hand: old revisions age out of the
// LRU. Entries loaded in a transaction are never cached (the transaction may roll
// back), nor anything loaded on behalf of one caller for another: an entry's key
// includes the caller whose privacy rules filtered it.

// Cache holds the entries; one per server, shared by its requests.
type Cache struct {
	root     *gen.Client
	revision *sql.Stmt
	reads    sync.Map     // account id → *revisionReads
	queries  atomic.Int64 // revision reads sent to the database (for tests)
	entries  *lru.Cache[cacheKey, any]
}

type cacheKey struct {
	account int
	rev     int64
	caller  string // whose visibility filtered the entry ("" when it depends on none)
	kind    string
	id      int
}

// NewCache returns a cache of size entries over root, the non-transactional client
// requests read with, and db, the pool under root. The revision every request reads
// is a statement prepared once per connection: preparing it per request was a
// sixth of a cached check's CPU on SQLite. Concurrent requests share reads (see
// revisionReads), on SQLite too: there a read is in-process, yet still 16% of a
// check's CPU under 16 clients, and sharing took 8–11% off the server's CPU per
// check (five alternating pairs of runs). Close releases the statement.
func NewCache(ctx context.Context, root *gen.Client, db *sql.DB, size int) (*Cache, error) {
	entries, err := lru.New[cacheKey, any](size)
	if err != nil {
		return nil, err
	}
	stmt, err := db.PrepareContext(ctx, `SELECT revision FROM account_revisions WHERE account_id = ?`)
	if err != nil {
		return nil, err
	}
	return &Cache{root: root, revision: stmt, entries: entries}, nil
}

// Close releases the prepared statement.
func (c *Cache) Close() error { return c.revision.Close() }

// requestCache is one request's view of the cache: the revision, read once.
type requestCache struct {
	c    *Cache
	once sync.Once
	rev  int64
	err  error
}

type cacheCtxKey struct{}

// WithCache returns ctx for one request that reads through c.
func WithCache(ctx context.Context, c *Cache) context.Context {
	if c == nil {
		return ctx
	}
	return context.WithValue(ctx, cacheCtxKey{}, &requestCache{c: c})
}

// revision reads the account's revision once per request.
func (rc *requestCache) revision(ctx context.Context, accountID int) (int64, error) {
	rc.once.Do(func() { rc.rev, rc.err = rc.c.readRevision(ctx, accountID) })
	return rc.rev, rc.err
}

// RequestRevision returns the revision of accountID that ctx's request reads with
// (read once per request, see Cache); ok is false when the request has no cache.
func RequestRevision(ctx context.Context, accountID int) (rev int64, ok bool, err error) {
	rc, _ := ctx.Value(cacheCtxKey{}).(*requestCache)
	if rc == nil || accountID == 0 {
		return 0, false, nil
	}
	rev, err = rc.revision(ctx, accountID)
	return rev, err == nil, err
}

// revisionReads coalesces the revision reads of one account's concurrent requests.
// A request never takes the result of a read already running (it may have started
// before a change the request must see); it joins the next read, which starts when
// the running one ends. So every request still sees each change committed before it
// began, and under load the database answers about one read per round trip instead
// of one per request (under 16 clients, MariaDB's share of the two cores fell
// from 0.46 to 0.14).
type revisionReads struct {
	mu      sync.Mutex
	running *revisionRead // started: too early for a request arriving now
	next    *revisionRead // not yet started: requests arriving now join it
}

type revisionRead struct {
	done chan struct{}
	rev  int64
	err  error
}

func (c *Cache) readRevision(ctx context.Context, accountID int) (int64, error) {
	v, ok := c.reads.Load(accountID)
	if !ok {
		v, _ = c.reads.LoadOrStore(accountID, &revisionReads{})
	}
	rr := v.(*revisionReads)
	rr.mu.Lock()
	switch {
	case rr.next != nil:
		r := rr.next
		rr.mu.Unlock()
		select {
		case <-r.done:
			return r.rev, r.err
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	case rr.running == nil:
		r := &revisionRead{done: make(chan struct{})}
		rr.running = r
		rr.mu.Unlock()
		return c.runRevisionRead(ctx, rr, r, accountID)
	default:
		// Lead the next read: start it once the running one has ended. The leader
		// waits whatever its context, since the requests that joined depend on it.
		r := &revisionRead{done: make(chan struct{})}
		rr.next = r
		running := rr.running.done
		rr.mu.Unlock()
		<-running
		rr.mu.Lock()
		rr.running, rr.next = r, nil
		rr.mu.Unlock()
		return c.runRevisionRead(ctx, rr, r, accountID)
	}
}

func (c *Cache) runRevisionRead(ctx context.Context, rr *revisionReads, r *revisionRead, accountID int) (int64, error) {
	// Not cancelled with the leading request: others wait for this answer.
	r.rev, r.err = c.queryRevision(context.WithoutCancel(ctx), accountID)
	rr.mu.Lock()
	if rr.running == r {
		rr.running = nil
	}
	rr.mu.Unlock()
	close(r.done)
	return r.rev, r.err
}

func (c *Cache) queryRevision(ctx context.Context, accountID int) (int64, error) {
	c.queries.Add(1)
	var rev int64
	err := c.revision.QueryRowContext(ctx, accountID).Scan(&rev)
	if errors.Is(err, sql.ErrNoRows) {
		err = nil // an account that never changed has no row: revision 0
	}
	return rev, err
}

// readers is how many connections a read of many users may use side by side: one
// per processor when c is the pool the server reads with, one in a transaction
// (its one connection) or outside a request.
func readers(ctx context.Context, c *gen.Client) int {
	if rc, _ := ctx.Value(cacheCtxKey{}).(*requestCache); rc != nil && c == rc.c.root {
		return runtime.GOMAXPROCS(0)
	}
	return 1
}

// callerScope names the caller whose privacy rules a read is filtered by.
func callerScope(ctx context.Context) string {
	v := viewer.FromContext(ctx)
	if v == nil {
		return ""
	}
	return string(v.Kind) + ":" + strconv.Itoa(v.ActorID)
}

// scope is where one read may be cached: the cache and the key prefix; the zero
// scope when the read is not cacheable (no cache in the request, c is a
// transaction, no account). A value, not a pointer: a check takes several scopes,
// and each was an allocation.
type scope struct {
	c    *Cache
	base cacheKey
}

func cacheScope(ctx context.Context, c *gen.Client, accountID int, perCaller bool) (scope, error) {
	rc, _ := ctx.Value(cacheCtxKey{}).(*requestCache)
	if rc == nil || c != rc.c.root || accountID == 0 {
		return scope{}, nil
	}
	rev, err := rc.revision(ctx, accountID)
	if err != nil {
		return scope{}, err
	}
	s := scope{c: rc.c, base: cacheKey{account: accountID, rev: rev}}
	if perCaller {
		s.base.caller = callerScope(ctx)
	}
	return s, nil
}

func (s scope) get(kind string, id int) (any, bool) {
	if s.c == nil {
		return nil, false
	}
	k := s.base
	k.kind, k.id = kind, id
	return s.c.entries.Get(k)
}

func (s scope) add(kind string, id int, v any) {
	if s.c != nil {
		k := s.base
		k.kind, k.id = kind, id
		s.c.entries.Add(k, v)
	}
}

// cached returns load's value for (kind, id) in accountID, from the cache when the
// read is cacheable; perCaller keys the entry by the caller as well.
func cached[T any](ctx context.Context, c *gen.Client, accountID int, perCaller bool, kind string, id int,
	load func() (T, error)) (T, error) {
	s, err := cacheScope(ctx, c, accountID, perCaller)
	if err != nil {
		var zero T
		return zero, err
	}
	if v, ok := s.get(kind, id); ok {
		return v.(T), nil
	}
	v, err := load()
	if err == nil {
		s.add(kind, id, v)
	}
	return v, err
}

// Cached is cached for other packages (the caller's own state in internal/auth):
// entries keyed by account, revision, kind and id, not by caller.
func Cached[T any](ctx context.Context, c *gen.Client, accountID int, kind string, id int, load func() (T, error)) (T, error) {
	return cached(ctx, c, accountID, false, kind, id, load)
}
