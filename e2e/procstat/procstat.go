// Package procstat reads machine-wide CPU time for benchmarks that run
// many processes on shared cores, where wall time is noisy and summing
// per-process counters can miss or double count threads.
package procstat

import (
	"fmt"
	"os"
	"strings"
	"time"
)

// BusyCPU is the CPU time the whole machine has spent so far (every
// process), from the first line of /proc/stat: everything but idle and
// iowait, in USER_HZ (100 per second on Linux) ticks.
func BusyCPU() (time.Duration, error) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, err
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 5 || f[0] != "cpu" {
		return 0, fmt.Errorf("/proc/stat starts with %q, not the cpu line", line)
	}
	var ticks int64
	for i, v := range f[1:] {
		if i == 3 || i == 4 { // idle, iowait
			continue
		}
		var n int64
		if _, err := fmt.Sscan(v, &n); err != nil {
			return 0, fmt.Errorf("/proc/stat field %q: %w", v, err)
		}
		ticks += n
	}
	return time.Duration(ticks) * 10 * time.Millisecond, nil
}
