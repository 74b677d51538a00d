package agentunit

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/e2e/harness"
	fssh "github.com/foundry-fleet/foundry/installer/ssh"
)

// maxExposure is the highest `systemd-analyze security` exposure accepted
// for the unit (0 = locked down, 10 = fully exposed; "OK" is below 4.5 in
// systemd 252's scale).
const maxExposure = 4.0

var exposureRE = regexp.MustCompile(`Overall exposure level for \S+: ([0-9.]+)`)

// realHost returns a test host, or skips: this test boots one, so it runs
// only when asked (make e2e sets FOUNDRY_E2E=1) and the machine can.
func realHost(t *testing.T) harness.Host {
	t.Helper()
	if os.Getenv("FOUNDRY_E2E") != "1" {
		t.Skip("boots a real test host: set FOUNDRY_E2E=1 (make e2e does)")
	}
	h := harness.Hosts(t, 1)[0]
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if err := harness.Down(ctx); err != nil {
			t.Errorf("taking the host down: %v", err)
		}
	})
	return h
}

// install writes content to path on h the way the bootstrap will: over SSH
// as the sudo user, streamed on stdin.
func install(t *testing.T, ctx context.Context, c fssh.Runner, path, content string, mode os.FileMode) {
	t.Helper()
	if err := fssh.Upload(ctx, c, path, mode, "root:root", strings.NewReader(content), true); err != nil {
		t.Fatalf("installing %s: %v", path, err)
	}
}

// TestUnitOnRealHostIsConfinedYetCanManageTheHost installs the unit on a
// real systemd host, records its systemd-analyze exposure, and runs a probe
// under exactly the same sandbox to prove the agent can still write /etc,
// /usr/local, /var/lib and /opt and drive systemd, but not /usr, the kernel
// or setuid files.
func TestUnitOnRealHostIsConfinedYetCanManageTheHost(t *testing.T) {
	h := realHost(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	c, err := fssh.Dial(ctx, fssh.Options{Host: h.IP, User: h.User, Password: []byte(h.Password),
		KnownHostsFile: filepath.Join(t.TempDir(), "known_hosts"), TrustPrompt: fssh.AcceptNewHostKeys})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	t.Cleanup(func() {
		_, _, _, _ = harness.Exec(context.Background(), h, "systemctl stop foundry-probe.service; rm -rf "+UnitPath+
			" /etc/systemd/system/foundry-probe*.service /etc/foundry-probe /usr/local/lib/foundry-probe /var/lib/foundry-probe /var/lib/foundry /opt/foundry-probe /var/lib/foundry-probe.sh; systemctl daemon-reload")
	})

	unit := Unit(Options{})
	install(t, ctx, c, UnitPath, unit, 0o644)
	out := harness.MustExec(t, ctx, h, "systemd-analyze security --offline=yes "+UnitPath+" 2>&1")
	m := exposureRE.FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no exposure level in:\n%s", out)
	}
	exposure, _ := strconv.ParseFloat(m[1], 64)
	t.Logf("systemd-analyze security exposure of %s: %.1f (max %.1f)", UnitName, exposure, maxExposure)
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "✗") {
			t.Logf("  %s", strings.Join(strings.Fields(line), " "))
		}
	}
	if exposure > maxExposure {
		t.Errorf("exposure %.1f > %.1f", exposure, maxExposure)
	}

	// The probe: the same unit, but a oneshot shell script instead of the agent.
	var probeUnit []string
	for _, line := range strings.Split(unit, "\n") {
		switch {
		case line == "Type=notify":
			line = "Type=oneshot"
		case strings.HasPrefix(line, "ExecStart="):
			line = "ExecStart=/bin/sh /var/lib/foundry-probe.sh"
		case strings.HasPrefix(line, "Restart"), strings.HasPrefix(line, "WatchdogSec="):
			continue
		}
		probeUnit = append(probeUnit, line)
	}
	install(t, ctx, c, "/var/lib/foundry-probe.sh", probeScript, 0o755)
	install(t, ctx, c, "/etc/systemd/system/foundry-probe.service", strings.Join(probeUnit, "\n"), 0o644)
	if _, err := c.Run(ctx, fssh.Command{Line: "systemctl daemon-reload && systemctl start foundry-probe.service", Sudo: true}); err != nil {
		t.Fatalf("running the probe: %v", err)
	}
	result := harness.MustExec(t, ctx, h, "cat /var/lib/foundry/probe.result")
	for _, line := range strings.Split(strings.TrimSpace(result), "\n") {
		if !strings.HasPrefix(line, "ok ") {
			t.Errorf("probe: %s", line)
		}
	}
	if n := strings.Count(result, "\n"); n != strings.Count(probeScript, "\nok ")+strings.Count(probeScript, "\nno ") {
		t.Errorf("probe ran %d checks:\n%s", n, result)
	}
	if testing.Verbose() {
		t.Logf("probe:\n%s", result)
	}
}

// probeScript runs under the agent's sandbox. "ok" checks must succeed,
// "no" checks must be refused.
const probeScript = `set -u
r=/var/lib/foundry/probe.result
: > $r
ok() { if "$@" >/dev/null 2>&1; then echo "ok   $*" >> $r; else echo "FAIL $*" >> $r; fi; }
no() { if "$@" >/dev/null 2>&1; then echo "FAIL (allowed) $*" >> $r; else echo "ok   (denied) $*" >> $r; fi; }
ok sh -c 'mkdir -p /etc/foundry-probe && echo x > /etc/foundry-probe/f'
ok sh -c 'mkdir -p /usr/local/lib/foundry-probe && echo x > /usr/local/lib/foundry-probe/f'
ok sh -c 'mkdir -p /var/lib/foundry-probe && echo x > /var/lib/foundry-probe/f'
ok sh -c 'echo x > /opt/foundry-probe'
ok chown nobody /var/lib/foundry-probe/f
ok chmod 0644 /var/lib/foundry-probe/f
write_child_unit() {
  printf "[Service]\nType=oneshot\nExecStart=/bin/sh -c \"id -u > /var/lib/foundry-probe/child\"\n" > /etc/systemd/system/foundry-probe-child.service
}
ok write_child_unit
ok systemctl daemon-reload
ok systemctl start foundry-probe-child.service
ok test -s /var/lib/foundry-probe/child
ok systemd-run --wait --quiet --collect /bin/sh -c 'touch /usr/bin/foundry-probe-step && rm /usr/bin/foundry-probe-step'
ok systemctl is-active systemd-journald.service dbus.service
ok cat /proc/meminfo /proc/stat
ok ip -o link
no touch /usr/bin/foundry-probe
no touch /boot/foundry-probe
no sh -c 'echo 1 > /proc/sys/net/ipv4/ip_forward'
no chmod u+s /var/lib/foundry-probe/f
no hostname foundry-probe
no mknod /var/lib/foundry-probe/null c 1 3
no unshare -n true
no mount -t tmpfs tmpfs /mnt
`
