package auth

import (
	"container/list"
	"encoding/json"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Limiter limits attempts per key — an identity (an email, a client_id) or a
// client address — with a token bucket per key and a growing penalty for keys
// that keep hitting the limit. It is safe for concurrent use and its memory is
// bounded: keys idle long enough to have fully recovered are dropped (losing
// nothing), and past WithMaxKeys the least recently used key is dropped.
//
// Limits are per process: with several replicas an attacker gets one budget per
// replica, which still caps guessing at a small multiple of the configured rate.
type Limiter struct {
	every      time.Duration // one attempt is regained every this long
	burst      int           // attempts allowed at once, and the most a key saves up
	maxKeys    int
	maxBackoff time.Duration
	idle       time.Duration // after this long unused, a key is as good as new
	now        func() time.Time
	logger     *slog.Logger

	mu      sync.Mutex
	entries map[string]*list.Element // of *limitEntry
	lru     *list.List               // most recently used first
}

type limitEntry struct {
	key          string
	tokens       *rate.Limiter
	last         time.Time
	strikes      int // refusals in a row, without a quiet spell between them
	blockedUntil time.Time
}

// LimiterOption configures a Limiter.
type LimiterOption func(*Limiter)

// WithMaxKeys bounds how many keys are tracked (default 100,000).
func WithMaxKeys(n int) LimiterOption { return func(l *Limiter) { l.maxKeys = n } }

// WithMaxBackoff caps the penalty for a key that keeps hitting its limit
// (default 15 minutes).
func WithMaxBackoff(d time.Duration) LimiterOption { return func(l *Limiter) { l.maxBackoff = d } }

// WithLimiterLogger sets where refusals by Middleware are logged.
func WithLimiterLogger(lg *slog.Logger) LimiterOption { return func(l *Limiter) { l.logger = lg } }

// NewLimiter allows each key burst attempts at once and one more every `every`.
// A key refused again and again waits longer each time: every, 2×every, 4×every…
// up to the maximum backoff; the count starts again once a key has stayed out of
// trouble, after its last wait, for as long as regaining its whole burst takes.
func NewLimiter(every time.Duration, burst int, opts ...LimiterOption) *Limiter {
	if every <= 0 {
		every = time.Second
	}
	if burst < 1 {
		burst = 1
	}
	l := &Limiter{
		every:      every,
		burst:      burst,
		maxKeys:    100_000,
		maxBackoff: 15 * time.Minute,
		now:        time.Now,
		entries:    map[string]*list.Element{},
		lru:        list.New(),
	}
	for _, o := range opts {
		o(l)
	}
	if l.maxKeys < 1 {
		l.maxKeys = 1
	}
	if l.maxBackoff < every {
		l.maxBackoff = every
	}
	// A key unused this long has a full bucket and no penalty left (its last
	// block ended at most maxBackoff after its last use).
	l.idle = l.refill() + l.maxBackoff
	return l
}

// refill is how long an empty bucket takes to fill.
func (l *Limiter) refill() time.Duration { return time.Duration(l.burst) * l.every }

// Allow records an attempt for key and reports whether it may go ahead; when it
// may not, retryAfter says how long to wait. Call it before checking the
// credential, so that guesses are limited whether or not they are right.
func (l *Limiter) Allow(key string) (ok bool, retryAfter time.Duration) {
	now := l.now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.evictIdle(now)

	var e *limitEntry
	if el, found := l.entries[key]; found {
		e = el.Value.(*limitEntry)
		l.lru.MoveToFront(el)
	} else {
		e = &limitEntry{key: key, tokens: rate.NewLimiter(rate.Every(l.every), l.burst)}
		l.entries[key] = l.lru.PushFront(e)
		for l.lru.Len() > l.maxKeys {
			l.remove(l.lru.Back())
		}
	}
	e.last = now

	if now.Before(e.blockedUntil) {
		return false, e.blockedUntil.Sub(now)
	}
	if e.strikes > 0 && !now.Before(e.blockedUntil.Add(l.refill())) {
		// Out of trouble since its last block for as long as a full refill takes:
		// forget the earlier refusals.
		e.strikes = 0
	}
	if e.tokens.AllowN(now, 1) {
		return true, 0
	}
	e.strikes++
	wait := time.Duration(math.Ceil((1 - e.tokens.TokensAt(now)) * float64(l.every)))
	backoff := l.maxBackoff
	if e.strikes <= 30 {
		if b := l.every << (e.strikes - 1); b > 0 && b < backoff {
			backoff = b
		}
	}
	wait = max(wait, backoff)
	e.blockedUntil = now.Add(wait)
	return false, wait
}

// Reset forgets key, e.g. an identity's failures after it signs in successfully.
func (l *Limiter) Reset(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if el, ok := l.entries[key]; ok {
		l.remove(el)
	}
}

// Len is how many keys are tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lru.Len()
}

// evictIdle drops keys unused for long enough to have recovered fully. The list
// is in order of last use, so they are all at the back. Callers hold mu.
func (l *Limiter) evictIdle(now time.Time) {
	for el := l.lru.Back(); el != nil; el = l.lru.Back() {
		e := el.Value.(*limitEntry)
		if now.Sub(e.last) < l.idle || now.Before(e.blockedUntil) {
			return
		}
		l.remove(el)
	}
}

func (l *Limiter) remove(el *list.Element) {
	delete(l.entries, el.Value.(*limitEntry).key)
	l.lru.Remove(el)
}

// Middleware refuses a request with 429 Too Many Requests and a Retry-After
// header (whole seconds) when key's limit is reached. key names what the request
// is limited by, such as RemoteIPKey or OAuthClientKey; a request for which it
// returns "" is not limited. Chain one Middleware per limit.
func (l *Limiter) Middleware(key func(*http.Request) string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			k := key(r)
			if k == "" {
				next.ServeHTTP(w, r)
				return
			}
			ok, wait := l.Allow(k)
			if ok {
				next.ServeHTTP(w, r)
				return
			}
			l.log().InfoContext(r.Context(), "rate limit reached", "method", r.Method, "path", r.URL.Path,
				"remote", r.RemoteAddr, "retry_after", wait.String())
			WriteTooManyRequests(w, wait)
		})
	}
}

func (l *Limiter) log() *slog.Logger {
	if l.logger != nil {
		return l.logger
	}
	return slog.Default()
}

// WriteTooManyRequests answers 429 with Retry-After (rounded up to whole seconds,
// at least 1) and a JSON body shaped like an OAuth error, for callers (a login
// handler) that use Allow directly.
func WriteTooManyRequests(w http.ResponseWriter, retryAfter time.Duration) {
	secs := int(math.Ceil(retryAfter.Seconds()))
	if secs < 1 {
		secs = 1
	}
	body, _ := json.Marshal(map[string]string{
		"error":             "too_many_requests",
		"error_description": "too many attempts; retry after " + strconv.Itoa(secs) + " seconds",
	})
	w.Header().Set("Retry-After", strconv.Itoa(secs))
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusTooManyRequests)
	_, _ = w.Write(body)
}

// ClientIP is the address r came from, as a rate-limit key: an IPv4 address, or
// an IPv6 /64 (one host usually holds a whole /64, so single addresses would be
// free to rotate). It reads r.RemoteAddr only: behind a reverse proxy, have a
// trusted middleware set RemoteAddr from the proxy's header first.
func ClientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	addr, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.String()
	}
	return addr.String()
}

// RemoteIPKey limits requests by ClientIP.
func RemoteIPKey(r *http.Request) string { return "ip:" + ClientIP(r) }
