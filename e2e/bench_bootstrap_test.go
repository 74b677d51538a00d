package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/e2e/procstat"
	"github.com/foundry-fleet/foundry/installer/ssh"
)

// TestBenchBootstrap times `foundry host add` of N bare hosts (N from
// FOUNDRY_BENCH_HOSTS, default 20) against a baseline in the same run: a
// plain parallel SSH session per host that uploads and starts a trivial
// unit. It is a benchmark, so it never fails on time; it logs the figures.
// Run it with `make bench-bootstrap`.
func TestBenchBootstrap(t *testing.T) {
	if os.Getenv("FOUNDRY_BENCH_BOOTSTRAP") != "1" {
		t.Skip("benchmark: run with FOUNDRY_BENCH_BOOTSTRAP=1 (make bench-bootstrap)")
	}
	n := 20
	if v := os.Getenv("FOUNDRY_BENCH_HOSTS"); v != "" {
		fmt.Sscan(v, &n)
	}
	hosts := harness.Hosts(t, n)
	ctx := context.Background()
	resetAll := func() {
		var wg sync.WaitGroup
		for _, h := range hosts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if err := harness.Reset(ctx, h); err != nil {
					t.Error(err)
				}
			}()
		}
		wg.Wait()
	}
	resetAll()

	// Baseline: what a plain parallel ssh+scp script does for a trivial unit.
	kh := filepath.Join(t.TempDir(), "known_hosts")
	unit := "[Unit]\nDescription=trivial\n[Service]\nExecStart=/bin/sleep infinity\n[Install]\nWantedBy=multi-user.target\n"
	start, cpu0 := time.Now(), busyCPU(t)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := ssh.Dial(ctx, ssh.Options{Host: h.IP, User: h.User, Password: []byte(h.Password),
				KnownHostsFile: kh, TrustPrompt: ssh.AcceptNewHostKeys})
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			if err := ssh.Upload(ctx, c, "/etc/systemd/system/trivial.service", 0o644, "root:root", strings.NewReader(unit), true); err != nil {
				t.Error(err)
				return
			}
			if _, err := c.Run(ctx, ssh.Command{Line: "systemctl daemon-reload && systemctl enable --now trivial.service", Sudo: true}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	baseline, baselineCPU := time.Since(start), busyCPU(t)-cpu0
	resetAll()

	f := newFleet(t)
	agentBinary(t)
	path := hostsFile(t, hosts)
	start, cpu0 = time.Now(), busyCPU(t)
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", path, "--password-stdin", "--yes",
		"--parallel", fmt.Sprint(n), "--agent-binary", f.agent)
	took, tookCPU := time.Since(start), busyCPU(t)-cpu0
	if code != 0 {
		t.Fatalf("host add failed: %s\n%s", out, errOut)
	}
	t.Logf("bootstrap %d hosts bare->registered: %.2fs; baseline plain ssh trivial unit: %.2fs; ratio %.2f",
		n, took.Seconds(), baseline.Seconds(), took.Seconds()/baseline.Seconds())
	fmt.Printf("BENCH bootstrap hosts=%d foundry=%.2fs baseline=%.2fs ratio=%.2f cpu: foundry=%.2fs baseline=%.2fs ratio=%.2f\n",
		n, took.Seconds(), baseline.Seconds(), took.Seconds()/baseline.Seconds(),
		tookCPU.Seconds(), baselineCPU.Seconds(), tookCPU.Seconds()/baselineCPU.Seconds())
}

// busyCPU is the CPU time the whole machine has spent so far (every
// process, hosts included): wall time on two shared cores is noisy, the
// CPU a bootstrap costs is steadier.
func busyCPU(t *testing.T) time.Duration {
	d, err := procstat.BusyCPU()
	if err != nil {
		t.Fatal(err)
	}
	return d
}
