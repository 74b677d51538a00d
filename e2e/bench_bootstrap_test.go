package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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

	// The reference: the same trivial unit by a plain parallel
	// script of OpenSSH's scp and ssh, the password given by an askpass
	// helper (as sshpass would), then sudo -S.
	script, scriptCPU := plainSSHScript(t, hosts, unit)
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
	t.Logf("bootstrap %d hosts bare->registered: %.2fs; baseline Go ssh trivial unit: %.2fs (ratio %.2f); plain ssh/scp script: %.2fs (ratio %.2f)",
		n, took.Seconds(), baseline.Seconds(), took.Seconds()/baseline.Seconds(), script.Seconds(), took.Seconds()/script.Seconds())
	fmt.Printf("BENCH bootstrap hosts=%d foundry=%.2fs baseline=%.2fs ratio=%.2f script=%.2fs ratio=%.2f cpu: foundry=%.2fs baseline=%.2fs script=%.2fs\n",
		n, took.Seconds(), baseline.Seconds(), took.Seconds()/baseline.Seconds(), script.Seconds(), took.Seconds()/script.Seconds(),
		tookCPU.Seconds(), baselineCPU.Seconds(), scriptCPU.Seconds())
}

// plainSSHScript installs and starts unit on every host at once the way a
// shell script would: scp to /tmp, then ssh running sudo -S (the password
// on stdin) to move it into place, reload systemd and enable --now. It
// returns the wall and machine CPU time of the whole fan-out.
func plainSSHScript(t *testing.T, hosts []harness.Host, unit string) (time.Duration, time.Duration) {
	dir := t.TempDir()
	askpass := filepath.Join(dir, "askpass")
	if err := os.WriteFile(askpass, []byte("#!/bin/sh\necho '"+harness.Password+"'\n"), 0o700); err != nil {
		t.Fatal(err)
	}
	unitFile := filepath.Join(dir, "trivial.service")
	if err := os.WriteFile(unitFile, []byte(unit), 0o644); err != nil {
		t.Fatal(err)
	}
	opts := []string{"-o", "UserKnownHostsFile=" + filepath.Join(dir, "known_hosts"), "-o", "StrictHostKeyChecking=accept-new",
		"-o", "PubkeyAuthentication=no", "-o", "PreferredAuthentications=password,keyboard-interactive", "-o", "ConnectTimeout=10"}
	env := append(os.Environ(), "SSH_ASKPASS="+askpass, "SSH_ASKPASS_REQUIRE=force", "DISPLAY=none")
	run := func(stdin string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Env, cmd.Stdin = env, strings.NewReader(stdin)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %s: %w\n%s", name, strings.Join(args, " "), err, out)
		}
		return nil
	}
	start, cpu0 := time.Now(), busyCPU(t)
	var wg sync.WaitGroup
	for _, h := range hosts {
		wg.Add(1)
		go func() {
			defer wg.Done()
			dest := h.User + "@" + h.IP
			if err := run("", "scp", append(slices.Clone(opts), unitFile, dest+":/tmp/trivial.service")...); err != nil {
				t.Error(err)
				return
			}
			remote := `sudo -S -p '' sh -c 'install -m 0644 /tmp/trivial.service /etc/systemd/system/trivial.service && rm /tmp/trivial.service && systemctl daemon-reload && systemctl enable --now trivial.service'`
			if err := run(harness.Password+"\n", "ssh", append(slices.Clone(opts), dest, remote)...); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	return time.Since(start), busyCPU(t) - cpu0
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
