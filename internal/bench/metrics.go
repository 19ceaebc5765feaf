package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// serverLatencyMetric is the server's own histogram of the time its handlers
// take (internal/app, by route). Beside the bench's latencies it shows how much of
// a request's time is the server's: the rest is the network and, with client and
// server on one machine, waiting for a core.
const serverLatencyMetric = "latchkey_http_request_duration_seconds"

// metricsRoute is the route of the scrapes themselves, left out of the counts.
const metricsRoute = "GET /metrics"

// serverHistogram is the server's latency histogram summed over its routes: the
// cumulative count of requests at or under each bucket's upper bound (seconds).
type serverHistogram map[float64]uint64

// scrape reads the server's /metrics.
func (r *runner) scrape(ctx context.Context) (map[string]*dto.MetricFamily, error) {
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	status, raw, _, err := r.c.roundTrip(ctx, http.MethodGet, "/metrics", "", "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Method: http.MethodGet, Path: "/metrics", Status: status, Body: clip(string(raw), 200)}
	}
	return parseMetrics(raw)
}

func parseMetrics(raw []byte) (map[string]*dto.MetricFamily, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
	return families, nil
}

// Metrics the peak memory is read from, the first one present.
var rssMetrics = []string{"latchkey_process_peak_rss_bytes", "process_resident_memory_bytes"}

// peakRSS reads the server's peak resident memory from /metrics.
func (r *runner) peakRSS(ctx context.Context) (int64, error) {
	families, err := r.scrape(ctx)
	if err != nil {
		return 0, err
	}
	for i, name := range rssMetrics {
		if f := families[name]; f != nil && len(f.GetMetric()) > 0 && f.GetMetric()[0].GetGauge().GetValue() > 0 {
			if i > 0 {
				r.note("peak memory: %s is not exported; %s is the current RSS, not the peak", rssMetrics[0], name)
			}
			return int64(f.GetMetric()[0].GetGauge().GetValue()), nil
		}
	}
	return 0, fmt.Errorf("/metrics has none of %s", strings.Join(rssMetrics, ", "))
}

// errBare is the bare stack's answer to every question about its metrics: it has none.
var errBare = errors.New("the bare stack serves no metrics")

// serverLatencies reads the server's latency histogram from /metrics.
func (r *runner) serverLatencies(ctx context.Context) (serverHistogram, error) {
	if r.o.Bare {
		return nil, errBare
	}
	families, err := r.scrape(ctx)
	if err != nil {
		return nil, err
	}
	return latencyHistogram(families)
}

func latencyHistogram(families map[string]*dto.MetricFamily) (serverHistogram, error) {
	family := families[serverLatencyMetric]
	if family == nil {
		return nil, errors.New("/metrics has no " + serverLatencyMetric)
	}
	h := serverHistogram{}
	for _, m := range family.GetMetric() {
		if routeOf(m.GetLabel()) == metricsRoute {
			continue
		}
		for _, b := range m.GetHistogram().GetBucket() {
			if le := b.GetUpperBound(); !math.IsInf(le, 1) { // +Inf is the sample count
				h[le] += b.GetCumulativeCount()
			}
		}
		h[math.Inf(1)] += m.GetHistogram().GetSampleCount()
	}
	return h, nil
}

func routeOf(labels []*dto.LabelPair) string {
	for _, l := range labels {
		if l.GetName() == "route" {
			return l.GetValue()
		}
	}
	return ""
}

// quantileBound is the upper bound of the bucket holding the q-quantile (0 < q ≤ 1)
// of the requests the server handled between two readings: at least that fraction
// took no longer. It is 0 when no request was counted or the quantile lies past
// the last finite bound.
func quantileBound(before, after serverHistogram, q float64) time.Duration {
	total := after[math.Inf(1)] - before[math.Inf(1)]
	if total == 0 {
		return 0
	}
	bound := math.Inf(1)
	for le, n := range after {
		if !math.IsInf(le, 1) && le < bound && float64(n-before[le]) >= q*float64(total) {
			bound = le
		}
	}
	if math.IsInf(bound, 1) {
		return 0
	}
	return time.Duration(math.Round(bound * float64(time.Second)))
}
