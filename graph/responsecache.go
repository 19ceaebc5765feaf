package graph

import (
	"context"
	"crypto/sha256"
	"encoding/binary"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/99designs/gqlgen/graphql"
	"github.com/hashicorp/golang-lru/v2/simplelru"
	"github.com/vektah/gqlparser/v2/ast"

	"latchkey/internal/access"
	"latchkey/internal/viewer"
)

// responseCache answers a query again with the bytes it sent the same caller for
// the same request (document, operation, variables and Accept header) at the same
// account revision. gqlgen spends about 1.3 µs of CPU per field it writes, and encoding
// the answer again costs as much, so a large answer (a user's effective rights
// with provenance: some 4,500 fields, 6 ms of CPU) costs far more to make than to
// look up; the rights engine's own caches already make reading its data cheap.
//
// It is correct for the same reason as those caches (see access.Cache): every
// change to an account's data is audited and bumps its revision in the same
// transaction, and the request reads the revision before anything else, so an
// answer is never served under a revision older than its data. The key holds the
// caller, whose privacy rules and authority shaped the answer. Only answers made
// wholly of account data are kept: the operation must be a query that selects only
// the root fields and types listed in cacheableRootFields and cacheableTypes, which
// hold no field that changes without a revision (a token's last use) or with the
// clock. Answers with errors are not kept.
//
// A request with "Cache-Control: no-cache" is answered afresh (and its answer
// kept); with "no-store", neither read nor kept.
type responseCache struct {
	minBytes, maxEntryBytes, maxBytes int

	mu    sync.Mutex
	lru   *simplelru.LRU[[sha256.Size]byte, cachedResponse]
	bytes int // the sum of the kept answers' sizes
}

type cachedResponse struct {
	contentType string
	body        []byte
}

// Small answers are cheaper to make again than to keep; the total bound keeps the
// server within its memory budget under any mix of queries.
const (
	responseCacheMinBytes   = 8 << 10
	responseCacheEntryBytes = 2 << 20
	responseCacheBytes      = 16 << 20
)

func newResponseCache(minBytes, maxEntryBytes, maxBytes int) *responseCache {
	rc := &responseCache{minBytes: minBytes, maxEntryBytes: maxEntryBytes, maxBytes: maxBytes}
	rc.lru, _ = simplelru.NewLRU(1<<16, func(_ [sha256.Size]byte, e cachedResponse) { rc.bytes -= len(e.body) })
	return rc
}

func (rc *responseCache) get(k [sha256.Size]byte) (cachedResponse, bool) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.lru.Get(k)
}

func (rc *responseCache) add(k [sha256.Size]byte, e cachedResponse) {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if old, ok := rc.lru.Peek(k); ok {
		rc.bytes -= len(old.body)
	}
	rc.lru.Add(k, e)
	rc.bytes += len(e.body)
	for rc.bytes > rc.maxBytes {
		rc.lru.RemoveOldest()
	}
}

// wrap serves next's repeated answers from the cache. The extension
// (InterceptResponse), which sees the operation, decides: a query made wholly of
// account data is looked up, and on a miss its answer, if it had no errors, is
// recorded and kept. Other requests (mutations above all) pass untouched.
func (rc *responseCache) wrap(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		verdict := &cacheVerdict{cache: rc}
		rec := &recordingWriter{ResponseWriter: w, verdict: verdict, limit: rc.maxEntryBytes}
		next.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), cacheVerdictKey{}, verdict)))
		if verdict.keep && rec.status == http.StatusOK && !rec.overflow && len(rec.body) >= rc.minBytes {
			rc.add(verdict.key, cachedResponse{contentType: w.Header().Get("Content-Type"), body: rec.body})
		}
	})
}

// cacheVerdict carries one request's outcome from the extension to wrap.
type cacheVerdict struct {
	cache *responseCache
	key   [sha256.Size]byte
	hit   *cachedResponse // the kept answer to send instead of gqlgen's
	keep  bool            // gqlgen's answer may be kept under key
}

type cacheVerdictKey struct{}

// recordingWriter passes an answer on, keeping a copy of up to limit bytes when it
// may be kept; on a hit it sends the kept answer instead of what gqlgen writes.
type recordingWriter struct {
	http.ResponseWriter
	verdict  *cacheVerdict
	limit    int
	status   int
	body     []byte
	overflow bool
	sentHit  bool
}

func (w *recordingWriter) WriteHeader(status int) {
	if w.status == 0 {
		w.status = status
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *recordingWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	if hit := w.verdict.hit; hit != nil {
		if !w.sentHit {
			w.sentHit = true
			w.Header().Set("Content-Type", hit.contentType)
			if _, err := w.ResponseWriter.Write(hit.body); err != nil {
				return 0, err
			}
		}
		return len(p), nil
	}
	if w.verdict.keep && !w.overflow {
		if len(w.body)+len(p) > w.limit {
			w.overflow, w.body = true, nil
		} else {
			w.body = append(w.body, p...)
		}
	}
	return w.ResponseWriter.Write(p)
}

var _ interface {
	graphql.HandlerExtension
	graphql.ResponseInterceptor
} = (*responseCache)(nil)

func (*responseCache) ExtensionName() string                   { return "ResponseCache" }
func (*responseCache) Validate(graphql.ExecutableSchema) error { return nil }

// InterceptResponse answers a query made wholly of account data from the cache, or
// lets wrap keep its answer when it had no errors.
func (rc *responseCache) InterceptResponse(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
	verdict, _ := ctx.Value(cacheVerdictKey{}).(*cacheVerdict)
	if verdict == nil || verdict.cache != rc || !graphql.HasOperationContext(ctx) {
		return next(ctx)
	}
	oc := graphql.GetOperationContext(ctx)
	v := viewer.FromContext(ctx)
	read, store := cacheDirectives(oc.Headers)
	if v == nil || !store || oc.Operation == nil || oc.Operation.Operation != ast.Query ||
		!cacheableSelection(oc.Operation.SelectionSet, true) {
		return next(ctx)
	}
	rev, ok, err := access.RequestRevision(ctx, v.AccountID)
	if err != nil || !ok {
		return next(ctx) // the engine reports a failed revision read
	}
	vars, err := json.Marshal(oc.Variables) // map keys sorted: equal variables, equal bytes
	if err != nil {
		return next(ctx)
	}
	verdict.key = responseKey(v, rev, oc.RawQuery, oc.OperationName, string(vars), oc.Headers.Get("Accept"))
	if read {
		if e, ok := rc.get(verdict.key); ok {
			verdict.hit = &e
			return &graphql.Response{Data: []byte("null")} // not sent: the writer sends e
		}
	}
	resp := next(ctx)
	verdict.keep = resp != nil && len(resp.Errors) == 0 && len(resp.Extensions) == 0
	return resp
}

// cacheDirectives reads a request's Cache-Control: may a kept answer be served, and
// may this one be kept?
func cacheDirectives(h http.Header) (read, store bool) {
	read, store = true, true
	for _, line := range h.Values("Cache-Control") {
		for d := range strings.SplitSeq(line, ",") {
			switch strings.ToLower(strings.TrimSpace(d)) {
			case "no-cache", "max-age=0":
				read = false
			case "no-store":
				read, store = false, false
			}
		}
	}
	return read, store
}

// responseKey names an answer: the caller, the account's revision and the request.
func responseKey(v *viewer.Viewer, rev int64, parts ...string) [sha256.Size]byte {
	h := sha256.New()
	var n [8]byte
	for _, x := range []int64{int64(v.AccountID), rev, int64(v.ActorID)} {
		binary.BigEndian.PutUint64(n[:], uint64(x))
		h.Write(n[:])
	}
	for _, p := range append([]string{string(v.Kind)}, parts...) {
		binary.BigEndian.PutUint64(n[:], uint64(len(p)))
		h.Write(n[:])
		_, _ = io.WriteString(h, p)
	}
	var k [sha256.Size]byte
	h.Sum(k[:0])
	return k
}

// cacheableRootFields are the root fields whose answers are account data alone.
var cacheableRootFields = nameSet("node", "nodes", "viewer", "users", "groups", "roles", "rights",
	"dataSets", "userTypes", "can", "canBatch", "explain", "whoCan", "bulkSummary", "__typename")

// cacheableTypes are the types whose every field is account data that changes only
// with a revision: no clock, no bookkeeping written outside the audit log.
var cacheableTypes = nameSet("Node",
	"User", "UserConnection", "UserEdge", "PageInfo",
	"Group", "GroupConnection", "GroupEdge",
	"Role", "RoleConnection", "RoleEdge",
	"Right", "RightConnection", "RightEdge",
	"DataSet", "DataSetConnection", "DataSetEdge",
	"HierarchyNode", "HierarchyNodeConnection", "HierarchyNodeEdge",
	"UserType", "UserTypeConnection", "UserTypeEdge", "UserTypeGrant",
	"UserGrant", "EffectiveRight", "RightPath", "Explanation",
	"BulkSummary", "RightCount", "RoleCount", "UserTypeCount")

func nameSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

// cacheableSelection reports whether every field of sel (root: the operation's)
// is one whose answer may be kept.
func cacheableSelection(sel ast.SelectionSet, root bool) bool {
	for _, s := range sel {
		switch s := s.(type) {
		case *ast.Field:
			if s.Definition == nil || root && !cacheableRootFields[s.Name] {
				return false
			}
			if len(s.SelectionSet) > 0 && (!cacheableTypes[s.Definition.Type.Name()] || !cacheableSelection(s.SelectionSet, false)) {
				return false
			}
		case *ast.InlineFragment:
			if s.TypeCondition != "" && !cacheableFragment(s.TypeCondition, root) || !cacheableSelection(s.SelectionSet, root) {
				return false
			}
		case *ast.FragmentSpread:
			if s.Definition == nil || !cacheableFragment(s.Definition.TypeCondition, root) || !cacheableSelection(s.Definition.SelectionSet, root) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// cacheableFragment reports whether a fragment on typeCondition may be kept; at the
// root its fields are checked as root fields.
func cacheableFragment(typeCondition string, root bool) bool {
	return cacheableTypes[typeCondition] || root && typeCondition == "Query"
}
