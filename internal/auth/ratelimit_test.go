package auth

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
	"time"

	"latchkey/internal/store"
	"latchkey/internal/store/storetest"
	"latchkey/internal/viewer"
)

func newTestLimiter(clk *clock, every time.Duration, burst int, opts ...LimiterOption) *Limiter {
	l := NewLimiter(every, burst, append(opts, WithLimiterLogger(slog.New(slog.DiscardHandler)))...)
	l.now = clk.Now
	return l
}

func TestLimiterBackoff(t *testing.T) {
	clk := newClock()
	l := newTestLimiter(clk, time.Second, 3, WithMaxBackoff(8*time.Second))
	type step struct {
		advance time.Duration
		key     string
		ok      bool
		retry   time.Duration // when refused
	}
	steps := []step{
		{key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", retry: time.Second}, // the N+1th: wait for the next attempt
		{key: "b", ok: true},           // other keys are not affected
		{advance: 500 * time.Millisecond, key: "a", retry: 500 * time.Millisecond}, // still waiting
		{advance: 500 * time.Millisecond, key: "a", ok: true},                      // one attempt regained
		{key: "a", retry: 2 * time.Second},                                         // refused again: twice as long
		{advance: 2 * time.Second, key: "a", ok: true},                             // two regained
		{key: "a", ok: true},
		{key: "a", retry: 4 * time.Second},
		{advance: 4 * time.Second, key: "a", ok: true}, // the whole burst regained, but not forgiven
		{key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", retry: 8 * time.Second},
		{advance: 8 * time.Second, key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", retry: 8 * time.Second}, // capped at the maximum backoff
		// Quiet, after the wait, for as long as a full refill takes: forgiven.
		{advance: 8*time.Second + 3*time.Second, key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", ok: true},
		{key: "a", retry: time.Second},
	}
	for i, s := range steps {
		clk.Add(s.advance)
		ok, retry := l.Allow(s.key)
		if ok != s.ok || (!ok && retry != s.retry) {
			t.Fatalf("step %d (%s): Allow = %v, %v; want %v, %v", i, s.key, ok, retry, s.ok, s.retry)
		}
	}

	l.Reset("a")
	if ok, _ := l.Allow("a"); !ok {
		t.Error("refused after Reset")
	}
}

func TestLimiterMemory(t *testing.T) {
	clk := newClock()
	l := newTestLimiter(clk, time.Second, 2, WithMaxKeys(100), WithMaxBackoff(time.Second))
	for i := range 1000 {
		l.Allow(strconv.Itoa(i))
	}
	if n := l.Len(); n != 100 {
		t.Errorf("%d keys tracked, want at most 100", n)
	}
	// Keys idle long enough to have recovered are dropped.
	clk.Add(time.Minute)
	l.Allow("fresh")
	if n := l.Len(); n != 1 {
		t.Errorf("%d keys tracked after they went idle, want 1", n)
	}
	// A blocked key is kept until its block ends.
	for range 3 {
		l.Allow("blocked")
	}
	if n := l.Len(); n != 2 {
		t.Errorf("%d keys, want 2", n)
	}
}

func TestClientIP(t *testing.T) {
	tests := []struct{ remote, want string }{
		{"192.0.2.7:1234", "192.0.2.7"},
		{"[2001:db8:1:2:3:4:5:6]:443", "2001:db8:1:2::/64"},
		{"[2001:db8:1:2:ffff::1]:443", "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:80", "192.0.2.7"},
		{"[fe80::1%eth0]:80", "fe80::/64"},
		{"192.0.2.7", "192.0.2.7"},
		{"garbage", "garbage"},
	}
	for _, tt := range tests {
		r := httptest.NewRequest(http.MethodGet, "/", nil)
		r.RemoteAddr = tt.remote
		if got := ClientIP(r); got != tt.want {
			t.Errorf("ClientIP(%q) = %q, want %q", tt.remote, got, tt.want)
		}
	}
}

func TestLimiterMiddleware(t *testing.T) {
	clk := newClock()
	l := newTestLimiter(clk, time.Minute, 2)
	h := l.Middleware(RemoteIPKey)(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusNoContent)
	}))
	do := func(remote string) *httptest.ResponseRecorder {
		r := httptest.NewRequest(http.MethodPost, "/login", nil)
		r.RemoteAddr = remote
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, r)
		return rec
	}
	for i := range 2 {
		if rec := do("192.0.2.1:1000"); rec.Code != http.StatusNoContent {
			t.Fatalf("attempt %d: status %d", i+1, rec.Code)
		}
	}
	rec := do("192.0.2.1:2000") // another port, the same address
	if rec.Code != http.StatusTooManyRequests || rec.Header().Get("Retry-After") != "60" {
		t.Fatalf("3rd attempt: status %d, Retry-After %q; want 429 and 60", rec.Code, rec.Header().Get("Retry-After"))
	}
	var body map[string]string
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil || body["error"] != "too_many_requests" {
		t.Errorf("body %s", rec.Body)
	}
	if rec := do("192.0.2.2:1000"); rec.Code != http.StatusNoContent {
		t.Errorf("another address: status %d", rec.Code)
	}
}

// TestOAuthTokenRateLimit: the token endpoint is limited per client address and
// per client_id, right or wrong secret alike.
func TestOAuthTokenRateLimit(t *testing.T) {
	storetest.Each(t, func(t *testing.T, st *store.Store) {
		ctx := context.Background()
		client := st.Client
		acct := newAccount(t, client, "acme")
		c, secret, err := CreateAPIClient(viewer.System(ctx, acct.ID, "test"), client, "sync", nil)
		if err != nil {
			t.Fatal(err)
		}
		clk := newClock()
		s := newService(t, client, clk, nil, WithLogger(slog.New(slog.DiscardHandler)))
		const perIP, perClient = 5, 3
		h := s.OAuthTokenEndpoint(newTestLimiter(clk, time.Minute, perIP), newTestLimiter(clk, time.Minute, perClient))
		grant := url.Values{"grant_type": {"client_credentials"}}

		// One address guessing secrets of many clients: limited by address.
		for i := range perIP + 1 {
			rec := tokenRequest{basic: []string{fmt.Sprintf("lkc_guess%d", i), "lk_cs_wrong"}, form: grant, remote: "198.51.100.1:5000"}.do(h)
			want := http.StatusUnauthorized
			if i == perIP {
				want = http.StatusTooManyRequests
			}
			if rec.Code != want {
				t.Fatalf("attempt %d: status %d, want %d", i+1, rec.Code, want)
			}
			if want == http.StatusTooManyRequests && rec.Header().Get("Retry-After") == "" {
				t.Error("no Retry-After")
			}
		}

		// Many addresses guessing one client's secret: limited by client_id, in
		// the form as in Basic authentication.
		for i := range perClient + 1 {
			req := tokenRequest{form: url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ClientID}, "client_secret": {"lk_cs_wrong"}},
				remote: fmt.Sprintf("203.0.113.%d:5000", i+1)}
			if i%2 == 1 {
				req = tokenRequest{basic: []string{c.ClientID, "lk_cs_wrong"}, form: grant, remote: req.remote}
			}
			rec := req.do(h)
			want := http.StatusUnauthorized
			if i == perClient {
				want = http.StatusTooManyRequests
			}
			if rec.Code != want {
				t.Fatalf("attempt %d: status %d, want %d", i+1, rec.Code, want)
			}
		}
		// The right secret waits too, then works.
		if rec := (tokenRequest{basic: []string{c.ClientID, secret}, form: grant, remote: "203.0.113.99:1"}).do(h); rec.Code != http.StatusTooManyRequests {
			t.Fatalf("status %d, want 429", rec.Code)
		}
		clk.Add(2 * time.Minute)
		if rec := (tokenRequest{basic: []string{c.ClientID, secret}, form: grant, remote: "203.0.113.99:1"}).do(h); rec.Code != http.StatusOK {
			t.Fatalf("status %d, body %s; want 200", rec.Code, rec.Body)
		}
	})
}
