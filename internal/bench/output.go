package bench

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"strconv"
	"text/tabwriter"
	"time"
)

// ms prints a duration in milliseconds with two decimals.
func ms(d time.Duration) string {
	return strconv.FormatFloat(msFloat(d), 'f', 2, 64)
}

func msFloat(d time.Duration) float64 {
	return math.Round(float64(d)/float64(time.Millisecond)*1000) / 1000
}

func metString(m *bool) string {
	switch {
	case m == nil:
		return "-"
	case *m:
		return "yes"
	default:
		return "NO"
	}
}

// PeakRSSMet reports whether the peak memory is within PeakRSSTarget (nil when the
// server did not report it).
func (rep *Report) PeakRSSMet() *bool {
	if rep.PeakRSSBytes <= 0 {
		return nil
	}
	v := rep.PeakRSSBytes <= peakRSSLimit
	return &v
}

// Print writes the report as a table, or as one JSON object.
func (rep *Report) Print(w io.Writer, asJSON bool) error {
	if asJSON {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(rep)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "op\tcount\terrors\tp50 ms\tp95 ms\tp99 ms\tserver p99 ≤ ms\tper second\traw SQL p50 ms\tratio\tsteal %\ttarget\tmet\t")
	for _, op := range rep.Ops {
		raw, ratio, server, steal := "-", "-", "-", "-"
		if op.StealPercent != nil {
			steal = strconv.FormatFloat(*op.StealPercent, 'f', 0, 64)
		}
		if op.RawSQLP50 > 0 {
			raw, ratio = ms(op.RawSQLP50), strconv.FormatFloat(op.Ratio, 'f', 1, 64)+"x"
		}
		if op.ServerP99 > 0 {
			server = ms(op.ServerP99)
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%s\t%s\t%s\t%.1f\t%s\t%s\t%s\t%s\t%s\t\n", op.Name, op.Count, op.Errors,
			ms(op.P50), ms(op.P95), ms(op.P99), server, op.PerSecond, raw, ratio, steal, op.Target, metString(op.Met))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	rss := "not reported"
	if rep.PeakRSSBytes > 0 {
		rss = fmt.Sprintf("%.1f MB", float64(rep.PeakRSSBytes)/(1<<20))
	}
	fmt.Fprintf(w, "\npeak RSS (server): %s   target %s   met: %s\n", rss, PeakRSSTarget, metString(rep.PeakRSSMet()))
	fmt.Fprintf(w, "run took %s\n", rep.Duration.Round(time.Millisecond))
	if len(rep.Notes) > 0 {
		fmt.Fprintln(w, "\nnotes:")
		for _, n := range rep.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

// jsonOp is OpResult as JSON: durations in milliseconds.
type jsonOp struct {
	Name        string  `json:"name"`
	Count       int     `json:"count"`
	Errors      int     `json:"errors"`
	P50Ms       float64 `json:"p50Ms"`
	P95Ms       float64 `json:"p95Ms"`
	P99Ms       float64 `json:"p99Ms"`
	MaxMs       float64 `json:"maxMs"`
	PerSecond   float64 `json:"perSecond"`
	Target      string  `json:"target,omitempty"`
	Met         *bool   `json:"met"`
	RawSQLP50Ms float64 `json:"rawSqlP50Ms,omitempty"`
	Ratio       float64 `json:"ratio,omitempty"`
	ServerP99Ms float64 `json:"serverP99Ms,omitempty"`
	// StealPercent is omitted when not known.
	StealPercent *float64 `json:"stealPercent,omitempty"`
}

// MarshalJSON writes the result with durations in milliseconds (p50Ms, …).
func (op OpResult) MarshalJSON() ([]byte, error) {
	return json.Marshal(jsonOp{Name: op.Name, Count: op.Count, Errors: op.Errors,
		P50Ms: msFloat(op.P50), P95Ms: msFloat(op.P95), P99Ms: msFloat(op.P99), MaxMs: msFloat(op.Max),
		PerSecond: math.Round(op.PerSecond*10) / 10, Target: op.Target, Met: op.Met,
		RawSQLP50Ms: msFloat(op.RawSQLP50), Ratio: math.Round(op.Ratio*100) / 100, ServerP99Ms: msFloat(op.ServerP99),
		StealPercent: roundedPercent(op.StealPercent)})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (op *OpResult) UnmarshalJSON(b []byte) error {
	var j jsonOp
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	fromMs := func(v float64) time.Duration { return time.Duration(math.Round(v * float64(time.Millisecond))) }
	*op = OpResult{Name: j.Name, Count: j.Count, Errors: j.Errors, P50: fromMs(j.P50Ms), P95: fromMs(j.P95Ms),
		P99: fromMs(j.P99Ms), Max: fromMs(j.MaxMs), PerSecond: j.PerSecond, Target: j.Target, Met: j.Met,
		RawSQLP50: fromMs(j.RawSQLP50Ms), Ratio: j.Ratio, ServerP99: fromMs(j.ServerP99Ms), StealPercent: j.StealPercent}
	return nil
}

// roundedPercent rounds a percentage to one decimal.
func roundedPercent(p *float64) *float64 {
	if p == nil {
		return nil
	}
	v := math.Round(*p*10) / 10
	return &v
}

type jsonReport struct {
	DurationMs    float64    `json:"durationMs"`
	Ops           []OpResult `json:"ops"`
	PeakRSSBytes  int64      `json:"peakRssBytes"`
	PeakRSSTarget string     `json:"peakRssTarget"`
	PeakRSSMet    *bool      `json:"peakRssMet"`
	Notes         []string   `json:"notes"`
}

// MarshalJSON writes the report with durations in milliseconds.
func (rep Report) MarshalJSON() ([]byte, error) {
	notes := rep.Notes
	if notes == nil {
		notes = []string{}
	}
	return json.Marshal(jsonReport{DurationMs: msFloat(rep.Duration), Ops: rep.Ops, PeakRSSBytes: rep.PeakRSSBytes,
		PeakRSSTarget: PeakRSSTarget, PeakRSSMet: rep.PeakRSSMet(), Notes: notes})
}

// UnmarshalJSON reads what MarshalJSON writes.
func (rep *Report) UnmarshalJSON(b []byte) error {
	var j jsonReport
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	*rep = Report{Ops: j.Ops, PeakRSSBytes: j.PeakRSSBytes, Notes: j.Notes,
		Duration: time.Duration(math.Round(j.DurationMs * float64(time.Millisecond)))}
	return nil
}
