package access

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"

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
	root    *gen.Client
	entries *lru.Cache[cacheKey, any]
}

type cacheKey struct {
	account int
	rev     int64
	caller  string // whose visibility filtered the entry ("" when it depends on none)
	kind    string
	id      int
}

// NewCache returns a cache of size entries over root, the non-transactional client
// requests read with.
func NewCache(root *gen.Client, size int) (*Cache, error) {
	entries, err := lru.New[cacheKey, any](size)
	if err != nil {
		return nil, err
	}
	return &Cache{root: root, entries: entries}, nil
}

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
	rc.once.Do(func() {
		rows, err := rc.c.root.QueryContext(ctx, `SELECT revision FROM account_revisions WHERE account_id = ?`, accountID)
		if err != nil {
			rc.err = err
			return
		}
		defer rows.Close()
		if rows.Next() {
			rc.err = rows.Scan(&rc.rev)
		} else {
			rc.err = rows.Err()
		}
	})
	return rc.rev, rc.err
}

// callerScope names the caller whose privacy rules a read is filtered by.
func callerScope(ctx context.Context) string {
	v := viewer.FromContext(ctx)
	if v == nil {
		return ""
	}
	return fmt.Sprintf("%s:%d", v.Kind, v.ActorID)
}

// cached returns load's value for (kind, id) in accountID, from the cache when the
// read is cacheable: the request carries a cache, c is the cache's own client (not a
// transaction), and the revision could be read. perCaller keys the entry by the
// caller as well.
func cached[T any](ctx context.Context, c *gen.Client, accountID int, perCaller bool, kind string, id int,
	load func() (T, error)) (T, error) {
	rc, _ := ctx.Value(cacheCtxKey{}).(*requestCache)
	if rc == nil || c != rc.c.root || accountID == 0 {
		return load()
	}
	rev, err := rc.revision(ctx, accountID)
	if err != nil {
		var zero T
		if errors.Is(err, sql.ErrNoRows) {
			return load()
		}
		return zero, err
	}
	k := cacheKey{account: accountID, rev: rev, kind: kind, id: id}
	if perCaller {
		k.caller = callerScope(ctx)
	}
	if v, ok := rc.c.entries.Get(k); ok {
		return v.(T), nil
	}
	v, err := load()
	if err == nil {
		rc.c.entries.Add(k, v)
	}
	return v, err
}

// Cached is cached for other packages (the caller's own state in internal/auth):
// entries keyed by account, revision, kind and id, not by caller.
func Cached[T any](ctx context.Context, c *gen.Client, accountID int, kind string, id int, load func() (T, error)) (T, error) {
	return cached(ctx, c, accountID, false, kind, id, load)
}
