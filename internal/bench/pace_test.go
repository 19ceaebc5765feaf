package bench

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

// TestMeasureAtARate checks the paced load: the clients together start rate calls a
// second for the duration, and a call that starts late because its client was
// still in the previous one counts the wait in its latency.
func TestMeasureAtARate(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler()) // no /metrics: noted, not failed
	defer srv.Close()
	for _, c := range []struct {
		name    string
		clients int
		stall   time.Duration // how long the first call takes
	}{
		{"on time", 2, 0},
		{"behind", 1, 50 * time.Millisecond},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := &runner{o: Options{Duration: 200 * time.Millisecond}, c: newClient(srv.URL, "t", 1)}
			defer r.c.close()
			var calls atomic.Int64
			res := r.measure(context.Background(), "paced", c.clients, 1000, func(_ context.Context, i int) (time.Duration, error) {
				calls.Add(1)
				if i == c.clients && c.stall > 0 { // the first measured call (the warm-up calls come first)
					time.Sleep(c.stall)
					return c.stall, nil
				}
				return time.Microsecond, nil
			})
			// 1000/s for 200 ms: calls 0 to 199 are due before the deadline.
			if res.Count != 200 || res.Errors != 0 || calls.Load() != int64(200+c.clients) {
				t.Fatalf("count %d, errors %d, calls %d; want 200 measured after %d warm-ups", res.Count, res.Errors, calls.Load(), c.clients)
			}
			if c.stall == 0 {
				return
			}
			// The one client was stalled for 50 ms from the first call's due time:
			// the ~49 calls due meanwhile each waited, up to about 49 ms.
			if res.Max < c.stall {
				t.Errorf("max %v: the stalled call itself took %v", res.Max, c.stall)
			}
			if res.P95 < 5*time.Millisecond {
				t.Errorf("p95 %v: the calls due while the client was stalled did not count their wait", res.P95)
			}
		})
	}
}
