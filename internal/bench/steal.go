package bench

import "github.com/prometheus/procfs"

// cpuTimes is the machine's CPU time so far, in seconds over all cores: all of it,
// and the part a hypervisor gave to other machines instead (steal). On a shared
// host a run can lose a third of its cores that way, and its numbers with them;
// each operation reports the share it lost.
type cpuTimes struct{ total, steal float64 }

// readCPUTimes reads /proc/stat; ok is false where there is none (not Linux).
func readCPUTimes() (t cpuTimes, ok bool) {
	fs, err := procfs.NewDefaultFS()
	if err != nil {
		return t, false
	}
	st, err := fs.Stat()
	if err != nil {
		return t, false
	}
	c := st.CPUTotal // guest time is counted in user time already
	return cpuTimes{total: c.User + c.Nice + c.System + c.Idle + c.Iowait + c.IRQ + c.SoftIRQ + c.Steal, steal: c.Steal}, true
}

// stealPercent is the share of the CPU time between before and after that was
// stolen, in percent (nil when either reading failed or no time passed).
func stealPercent(before, after cpuTimes, ok bool) *float64 {
	total := after.total - before.total
	if !ok || total <= 0 {
		return nil
	}
	p := 100 * (after.steal - before.steal) / total
	return &p
}
