// Package facts collects what an agent reports about its host, through
// gopsutil so the same code works on every Linux the agent runs on.
package facts

import (
	"context"
	"os"
	"runtime"
	"strings"

	"github.com/shirou/gopsutil/v4/cpu"
	"github.com/shirou/gopsutil/v4/disk"
	"github.com/shirou/gopsutil/v4/host"
	"github.com/shirou/gopsutil/v4/load"
	"github.com/shirou/gopsutil/v4/mem"

	"github.com/foundry-fleet/foundry/messages"
)

// Collector returns the host's facts. Static facts are read once; usage
// figures are read on every call.
type Collector struct {
	static messages.Facts
}

// New reads the static facts.
func New(ctx context.Context, agentVersion string) *Collector {
	f := messages.Facts{Arch: runtime.GOARCH, AgentVersion: agentVersion}
	if info, err := host.InfoWithContext(ctx); err == nil {
		f.Hostname = info.Hostname
		f.OS = info.Platform
		f.OSVersion = info.PlatformVersion
		f.Kernel = info.KernelVersion
		if info.KernelArch != "" {
			f.Arch = info.KernelArch
		}
	}
	if f.Hostname == "" {
		f.Hostname, _ = os.Hostname()
	}
	f.MachineID = machineID()
	if n, err := cpu.CountsWithContext(ctx, true); err == nil {
		f.CPUs = n
	}
	return &Collector{static: f}
}

// Collect returns the static facts with fresh usage figures. Failures of
// individual probes leave their fields zero rather than failing the
// heartbeat: liveness matters more than a load average.
func (c *Collector) Collect(ctx context.Context) messages.Facts {
	f := c.static
	if vm, err := mem.VirtualMemoryWithContext(ctx); err == nil {
		f.MemTotal, f.MemUsed = vm.Total, vm.Used
	}
	if du, err := disk.UsageWithContext(ctx, "/"); err == nil {
		f.DiskTotal, f.DiskUsed = du.Total, du.Used
	}
	if la, err := load.AvgWithContext(ctx); err == nil {
		f.Load1, f.Load5, f.Load15 = la.Load1, la.Load5, la.Load15
	}
	if up, err := host.UptimeWithContext(ctx); err == nil {
		f.Uptime = up
	}
	return f
}

// machineID is /etc/machine-id, the identity systemd gives a host.
func machineID() string {
	for _, p := range []string{"/etc/machine-id", "/var/lib/dbus/machine-id"} {
		if b, err := os.ReadFile(p); err == nil {
			if id := strings.TrimSpace(string(b)); id != "" {
				return id
			}
		}
	}
	return ""
}
