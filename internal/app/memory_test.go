package app

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestTuneMemory: serve sets the Go runtime's soft memory limit and GC percentage
// from its flags, leaves each alone when GOMEMLIMIT or GOGC is set (the runtime
// applied those), and sets neither for 0.
func TestTuneMemory(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	initialLimit := debug.SetMemoryLimit(-1)
	initialGC := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetMemoryLimit(initialLimit); debug.SetGCPercent(initialGC) })
	for _, tt := range []struct {
		name              string
		gomemlimit, gogc  string
		mib, percent      int64
		wantLimit, wantGC int64
	}{
		{name: "flags", mib: 64, percent: 400, wantLimit: 64 << 20, wantGC: 400},
		{name: "GOMEMLIMIT wins", gomemlimit: "1GiB", mib: 64, percent: 400, wantLimit: initialLimit, wantGC: 400},
		{name: "GOGC wins", gogc: "50", mib: 64, percent: 400, wantLimit: 64 << 20, wantGC: 100},
		{name: "none", wantLimit: initialLimit, wantGC: 100},
	} {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(initialLimit)
			debug.SetGCPercent(100)
			t.Setenv("GOMEMLIMIT", tt.gomemlimit)
			t.Setenv("GOGC", tt.gogc)
			tuneMemory(tt.mib, tt.percent, log)
			if got := debug.SetMemoryLimit(-1); got != tt.wantLimit {
				t.Errorf("memory limit %d, want %d", got, tt.wantLimit)
			}
			if got := debug.SetGCPercent(100); int64(got) != tt.wantGC {
				t.Errorf("GC percent %d, want %d", got, tt.wantGC)
			}
		})
	}
}
