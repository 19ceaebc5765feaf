package bench

import (
	"bytes"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// serverMetrics is a server's /metrics as client_golang writes it, with the
// latency histogram (bounds 1, 2, 4 ms) and a gauge beside it.
type serverMetrics struct {
	reg     *prometheus.Registry
	latency *prometheus.HistogramVec
}

func newServerMetrics(t *testing.T) *serverMetrics {
	m := &serverMetrics{reg: prometheus.NewRegistry(), latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: serverLatencyMetric, Help: "HTTP request latency by route.", Buckets: []float64{.001, .002, .004},
	}, []string{"route"})}
	m.reg.MustRegister(m.latency, prometheus.NewGoCollector())
	return m
}

// observe records n requests of route taking d each.
func (m *serverMetrics) observe(route string, n int, d time.Duration) {
	for range n {
		m.latency.WithLabelValues(route).Observe(d.Seconds())
	}
}

func (m *serverMetrics) read(t *testing.T) serverHistogram {
	t.Helper()
	gathered, err := m.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	for _, f := range gathered {
		if _, err := expfmt.MetricFamilyToText(&text, f); err != nil {
			t.Fatal(err)
		}
	}
	families, err := parseMetrics(text.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	h, err := latencyHistogram(families)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestQuantileBound(t *testing.T) {
	for _, tc := range []struct {
		name string
		// Requests between the readings: how many took 0.5, 1.5, 3 and 10 ms.
		fast, mid, slow, beyond int
		q                       float64
		want                    time.Duration
	}{
		{name: "p99 in the second bucket", fast: 90, mid: 9, slow: 1, q: 0.99, want: 2 * time.Millisecond},
		{name: "p90 in the first", fast: 90, mid: 9, slow: 1, q: 0.90, want: time.Millisecond},
		{name: "p100 in the third", fast: 90, mid: 9, slow: 1, q: 1, want: 4 * time.Millisecond},
		{name: "p99 one past the second", fast: 90, mid: 8, slow: 2, q: 0.99, want: 4 * time.Millisecond},
		// Past the last finite bound: unknown, not the largest bound.
		{name: "beyond the buckets", fast: 90, beyond: 10, q: 0.99, want: 0},
		{name: "no requests", q: 0.99, want: 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newServerMetrics(t)
			// Earlier requests, slow ones among them, do not count; nor do scrapes.
			m.observe("/query", 50, 10*time.Millisecond)
			m.observe(metricsRoute, 3, 500*time.Microsecond)
			before := m.read(t)
			m.observe("/query", tc.fast, 500*time.Microsecond)
			m.observe("/scim/v2/Users", tc.mid, 1500*time.Microsecond)
			m.observe("/query", tc.slow, 3*time.Millisecond)
			m.observe("/query", tc.beyond, 10*time.Millisecond)
			m.observe(metricsRoute, 40, 10*time.Millisecond)
			if got := quantileBound(before, m.read(t), tc.q); got != tc.want {
				t.Errorf("quantileBound = %v, want %v", got, tc.want)
			}
		})
	}
	families, err := parseMetrics([]byte("# TYPE go_goroutines gauge\ngo_goroutines 7\n"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := latencyHistogram(families); err == nil {
		t.Error("a /metrics without the histogram was read")
	}
}
