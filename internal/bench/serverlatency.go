package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
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

// serverLatencies reads the server's latency histogram from /metrics.
func (r *runner) serverLatencies(ctx context.Context) (serverHistogram, error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	status, raw, _, err := r.c.roundTrip(ctx, http.MethodGet, "/metrics", "", "", nil)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &HTTPError{Method: http.MethodGet, Path: "/metrics", Status: status, Body: clip(string(raw), 200)}
	}
	return parseServerHistogram(raw)
}

func parseServerHistogram(raw []byte) (serverHistogram, error) {
	p := expfmt.NewTextParser(model.UTF8Validation)
	families, err := p.TextToMetricFamilies(bytes.NewReader(raw))
	if err != nil {
		return nil, fmt.Errorf("reading /metrics: %w", err)
	}
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
