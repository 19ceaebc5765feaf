package bench

import (
	"math"
	"slices"
	"sync"
	"time"
)

// Percentile returns the nearest-rank p-th percentile (0 < p ≤ 100) of samples:
// the smallest sample at or above which p percent of the samples lie. samples need
// not be sorted and are not modified; no samples give 0.
func Percentile(samples []time.Duration, p float64) time.Duration {
	if len(samples) == 0 {
		return 0
	}
	sorted := slices.Clone(samples)
	slices.Sort(sorted)
	return percentileSorted(sorted, p)
}

func percentileSorted(sorted []time.Duration, p float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(p / 100 * float64(n)))
	rank = min(max(rank, 1), n)
	return sorted[rank-1]
}

// maxErrorSamples bounds the distinct error messages kept per operation.
const maxErrorSamples = 3

// sampler collects the latencies of one operation's successful requests and its
// failures, from any number of goroutines.
type sampler struct {
	mu         sync.Mutex
	lat        []time.Duration
	errors     int
	errSamples []string
}

func (s *sampler) ok(d time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.mu.Unlock()
}

func (s *sampler) fail(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.errors++
	msg := err.Error()
	if len(s.errSamples) < maxErrorSamples && !slices.Contains(s.errSamples, msg) {
		s.errSamples = append(s.errSamples, msg)
	}
}

// record adds one request's outcome: its latency when err is nil, a failure otherwise.
func (s *sampler) record(d time.Duration, err error) {
	if err != nil {
		s.fail(err)
		return
	}
	s.ok(d)
}

// result summarises the samples. busy is the time the operation ran (for the rate).
func (s *sampler) result(name string, busy time.Duration) OpResult {
	s.mu.Lock()
	defer s.mu.Unlock()
	sorted := slices.Clone(s.lat)
	slices.Sort(sorted)
	r := OpResult{Name: name, Count: len(sorted), Errors: s.errors}
	if len(sorted) > 0 {
		r.P50 = percentileSorted(sorted, 50)
		r.P95 = percentileSorted(sorted, 95)
		r.P99 = percentileSorted(sorted, 99)
		r.Max = sorted[len(sorted)-1]
	}
	if busy > 0 {
		r.PerSecond = float64(len(sorted)) / busy.Seconds()
	}
	return r
}
