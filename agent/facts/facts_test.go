package facts

import (
	"context"
	"os"
	"strings"
	"testing"
)

// TestCollectReadsThisHost runs the real probes on the test machine.
func TestCollectReadsThisHost(t *testing.T) {
	f := New(context.Background(), "v9").Collect(context.Background())
	hn, _ := os.Hostname()
	if f.Hostname != hn || f.AgentVersion != "v9" || f.CPUs < 1 || f.MemTotal == 0 || f.MemUsed == 0 || f.Arch == "" || f.Kernel == "" {
		t.Fatalf("facts incomplete: %+v", f)
	}
	if b, err := os.ReadFile("/etc/machine-id"); err == nil && strings.TrimSpace(string(b)) != f.MachineID {
		t.Fatalf("machine id %q, file says %q", f.MachineID, b)
	}
	if f.DiskTotal == 0 || f.Uptime == 0 {
		t.Fatalf("disk or uptime missing: %+v", f)
	}
}
