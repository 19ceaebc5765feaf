package bench

import "testing"

func TestStealPercent(t *testing.T) {
	tests := []struct {
		name          string
		before, after cpuTimes
		ok            bool
		want          *float64
	}{
		{"a quarter stolen", cpuTimes{100, 10}, cpuTimes{140, 20}, true, ptr(25.0)},
		{"none stolen", cpuTimes{100, 10}, cpuTimes{200, 10}, true, ptr(0.0)},
		{"no time passed", cpuTimes{100, 10}, cpuTimes{100, 10}, true, nil},
		{"a reading failed", cpuTimes{100, 10}, cpuTimes{140, 20}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := stealPercent(tt.before, tt.after, tt.ok)
			if (got == nil) != (tt.want == nil) || got != nil && *got != *tt.want {
				t.Errorf("got %v, want %v", deref(got), deref(tt.want))
			}
		})
	}
	if _, ok := readCPUTimes(); !ok {
		t.Log("no /proc/stat here: steal is not reported")
	}
}

func ptr(v float64) *float64 { return &v }

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}
