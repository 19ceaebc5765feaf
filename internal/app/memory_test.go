package app

import (
	"io"
	"log/slog"
	"runtime/debug"
	"testing"
)

// TestLimitMemory: serve sets the Go runtime's soft memory limit from its flag,
// leaves it alone when GOMEMLIMIT is set (the runtime applied that one), and sets
// none for 0.
func TestLimitMemory(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	initial := debug.SetMemoryLimit(-1)
	t.Cleanup(func() { debug.SetMemoryLimit(initial) })
	for _, tt := range []struct {
		name      string
		gomemlim  string
		mib, want int64
	}{
		{name: "flag", mib: 64, want: 64 << 20},
		{name: "GOMEMLIMIT wins", gomemlim: "1GiB", mib: 64, want: initial},
		{name: "none", mib: 0, want: initial},
	} {
		t.Run(tt.name, func(t *testing.T) {
			debug.SetMemoryLimit(initial)
			t.Setenv("GOMEMLIMIT", tt.gomemlim)
			limitMemory(tt.mib, log)
			if got := debug.SetMemoryLimit(-1); got != tt.want {
				t.Errorf("memory limit %d, want %d", got, tt.want)
			}
		})
	}
}
