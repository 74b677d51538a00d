package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// buildAgentDeb builds foundry-agent_<version>_amd64.deb the way `make
// package` does (packaging/build.sh, then packaging/deb's mkrelease).
func buildAgentDeb(t *testing.T, version string) string {
	t.Helper()
	dist := t.TempDir()
	run := func(dir string, name string, args ...string) {
		cmd := exec.Command(name, args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "SOURCE_DATE_EPOCH=1764700000", "FOUNDRY_RELEASE_KEY=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
	}
	run("..", "./packaging/build.sh", version, dist, "foundry-agent/linux/amd64")
	run("..", "go", "run", "./packaging/deb/cmd/mkrelease", "--version", version, "--dist", dist)
	return filepath.Join(dist, "foundry-agent_"+version+"_amd64.deb")
}

// hostRoot is host h's root file system as this machine sees it (the
// overlay hosts.sh mounts); files written there appear inside the host.
func hostRoot(h harness.Host) string {
	top := os.Getenv("FOUNDRY_E2E_DIR")
	if top == "" {
		top = "/var/tmp/foundry-e2e"
	}
	return filepath.Join(top, "run", strconv.Itoa(h.Index), "root")
}

func copyIn(t *testing.T, h harness.Host, src, dst string, mode os.FileMode) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(hostRoot(h), dst)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b, mode); err != nil {
		t.Fatal(err)
	}
}

// fileList is every path on the host's root file system except those that
// change by themselves (logs, caches, dpkg's and systemd's own records).
func fileList(t *testing.T, h harness.Host) map[string]bool {
	out := inside(t, h, `find / -xdev \( -path /proc -o -path /sys -o -path /dev -o -path /run -o -path /tmp -o -path /var/tmp `+
		`-o -path /var/log -o -path /var/cache -o -path /var/lib/dpkg -o -path /var/lib/systemd -o -path /var/lib/apt `+
		`-o -path /etc/ld.so.cache \) -prune -o -print`)
	m := map[string]bool{}
	for _, l := range strings.Split(out, "\n") {
		m[l] = true
	}
	return m
}

func added(before, after map[string]bool) []string {
	var out []string
	for p := range after {
		if !before[p] {
			out = append(out, p)
		}
	}
	return out
}

// TestAgentDebInstallsDisabledAndRemovesCleanly: dpkg -i of the agent
// package on a bare host installs the agent without starting it; once the
// host is enrolled a reinstall starts it and it joins the fleet; dpkg -r
// leaves nothing but the identity and state the package description says
// it keeps, and dpkg --purge leaves the host as it was.
func TestAgentDebInstallsDisabledAndRemovesCleanly(t *testing.T) {
	hs := hosts(t)
	h := hs[len(hs)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := harness.Reset(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		harness.Reset(ctx, h)
	})
	f := newFleet(t)
	deb := buildAgentDeb(t, "0.1.0")
	before := fileList(t, h)
	copyIn(t, h, deb, "/var/tmp/foundry-agent.deb", 0o644)

	t.Run("dpkg -i on a bare host installs it disabled", func(t *testing.T) {
		out := inside(t, h, "dpkg -i /var/tmp/foundry-agent.deb 2>&1")
		if !strings.Contains(out, "not enrolled") {
			t.Errorf("dpkg -i did not say the agent waits for enrollment:\n%s", out)
		}
		if st := inside(t, h, "dpkg-query -W -f '${Status} ${Version}' foundry-agent"); st != "install ok installed 0.1.0" {
			t.Fatalf("package status %q", st)
		}
		if v := inside(t, h, "/usr/bin/foundry-agent version"); v != "0.1.0" {
			t.Errorf("agent version %q", v)
		}
		if s := inside(t, h, "systemctl is-enabled foundry-agent.service || true"); s != "disabled" {
			t.Errorf("is-enabled %q", s)
		}
		if s := inside(t, h, "systemctl is-active foundry-agent.service || true"); s != "inactive" {
			t.Errorf("is-active %q", s)
		}
		// Starting it by hand before enrollment is a no-op, not a crash loop.
		inside(t, h, "systemctl start foundry-agent.service")
		if s := inside(t, h, "systemctl show -p ConditionResult -p NRestarts foundry-agent.service"); !strings.Contains(s, "NRestarts=0") || !strings.Contains(s, "ConditionResult=no") {
			t.Errorf("unenrolled start: %q", s)
		}
		// A second install of the same package is harmless.
		inside(t, h, "dpkg -i /var/tmp/foundry-agent.deb >/dev/null 2>&1")
	})

	t.Run("once enrolled, reinstalling starts it and it joins the fleet", func(t *testing.T) {
		dir := t.TempDir()
		if code, out, errOut := f.cli("", "host", "enroll", h.Name, "--dir", dir); code != 0 {
			t.Fatalf("enroll: %d %s %s", code, out, errOut)
		}
		cfg, err := os.ReadFile(filepath.Join(dir, "agent.yaml"))
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(dir, "agent.yaml"), []byte(strings.ReplaceAll(string(cfg), dir, "/etc/foundry")), 0o644)
		inside(t, h, "install -d -m 0700 /etc/foundry")
		copyIn(t, h, filepath.Join(dir, "agent.nk"), "/etc/foundry/agent.nk", 0o600)
		copyIn(t, h, filepath.Join(dir, "ca.pem"), "/etc/foundry/ca.pem", 0o644)
		copyIn(t, h, filepath.Join(dir, "agent.yaml"), "/etc/foundry/agent.yaml", 0o644)
		inside(t, h, "dpkg -i /var/tmp/foundry-agent.deb >/dev/null 2>&1")
		if s := inside(t, h, "systemctl is-enabled foundry-agent.service"); s != "enabled" {
			t.Errorf("is-enabled %q", s)
		}
		eventually(t, time.Minute, 200*time.Millisecond, func() error {
			res, err := f.client().FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{h.Name}, TimeoutMs: 5_000})
			if err != nil {
				return err
			}
			if len(res.Responded) != 1 || res.Responded[0].Status == nil || res.Responded[0].Status.AgentVersion != "0.1.0" {
				return fmt.Errorf("status of %s: %+v", h.Name, res)
			}
			return nil
		})
	})

	t.Run("dpkg -r keeps only the identity and state, purge removes them", func(t *testing.T) {
		inside(t, h, "dpkg -r foundry-agent >/dev/null 2>&1")
		if s := inside(t, h, "systemctl is-active foundry-agent.service || true"); s != "inactive" {
			t.Errorf("still running after remove: %q", s)
		}
		if s := inside(t, h, "systemctl list-unit-files 'foundry*' --no-legend | wc -l"); s != "0" {
			t.Errorf("unit files left: %s", inside(t, h, "systemctl list-unit-files 'foundry*'"))
		}
		if s := inside(t, h, "getent passwd foundry foundry-agent || true"); s != "" {
			t.Errorf("user left: %q", s)
		}
		// What the package says it keeps is really there (the agent ran,
		// so systemd made its state directory).
		inside(t, h, "test -f /etc/foundry/agent.nk && test -f /etc/foundry/agent.yaml && test -d /var/lib/foundry")
		kept := map[string]bool{"/etc/foundry": true, "/etc/foundry/agent.yaml": true, "/etc/foundry/agent.nk": true,
			"/etc/foundry/ca.pem": true, "/var/lib/foundry": true}
		for _, p := range added(before, fileList(t, h)) {
			if !kept[p] && !strings.HasPrefix(p, "/var/lib/foundry/") {
				t.Errorf("dpkg -r left %s", p)
			}
		}
		inside(t, h, "dpkg --purge foundry-agent >/dev/null 2>&1")
		if left := added(before, fileList(t, h)); len(left) > 0 {
			t.Errorf("dpkg --purge left %v", left)
		}
		if s := inside(t, h, "dpkg-query -W -f '${Status}' foundry-agent 2>/dev/null || true"); s != "" && !strings.Contains(s, "not-installed") {
			t.Errorf("package still known to dpkg: %q", s)
		}
	})
}

// TestHostAddAdoptsAnInstalledAgentDeb: an operator installs the agent
// package with dpkg -i; host add of the same build, from a controller of
// the same version, enrols it without installing it a second time and
// says what it did; a re-run changes nothing. dpkg -r then leaves only
// what the package says it keeps (and host add's SSH key), dpkg --purge
// only the SSH key.
func TestHostAddAdoptsAnInstalledAgentDeb(t *testing.T) {
	hs := hosts(t)
	h := hs[len(hs)-1]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := harness.Reset(ctx, h); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		harness.Reset(ctx, h)
	})
	const version = "0.2.0"
	c := ct.StartController(t, func(o *controller.Options) {
		o.Listen = harness.ControllerIP + ":0"
		o.Advertise = []string{harness.ControllerIP}
		o.Version = version
	})
	f := &fleet{t: t, c: c, home: t.TempDir(), ca: ct.WriteCA(t, c)}
	deb := buildAgentDeb(t, version)
	bin := filepath.Join(filepath.Dir(deb), "foundry-agent_"+version+"_linux_amd64")
	before := fileList(t, h)
	copyIn(t, h, deb, "/var/tmp/foundry-agent.deb", 0o644)
	inside(t, h, "dpkg -i /var/tmp/foundry-agent.deb >/dev/null 2>&1 && rm /var/tmp/foundry-agent.deb")
	installed := inside(t, h, "stat -c '%i %Y' /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service")

	t.Run("host add enrols the installed package without installing it again", func(t *testing.T) {
		code, out, errOut := f.cli(harness.Password+"\n", "host", "add", h.IP, "--id", h.Name, "--password-stdin", "--yes", "--agent-binary", bin)
		t.Logf("host add:\n%s%s", out, errOut)
		if code != 0 || !strings.Contains(errOut, "1 added, 0 updated, 0 repaired, 0 unchanged, 0 failed") {
			t.Fatalf("exit %d", code)
		}
		if !strings.Contains(out, "identity") || !strings.Contains(out, "/etc/foundry/agent.yaml") || strings.Contains(out, "agent package") {
			t.Errorf("host add does not say it only enrolled the package:\n%s", out)
		}
		if now := inside(t, h, "stat -c '%i %Y' /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service"); now != installed {
			t.Errorf("the package's files were replaced: %q, were %q", now, installed)
		}
		if st := inside(t, h, "dpkg-query -W -f '${Status} ${Version}' foundry-agent"); st != "install ok installed "+version {
			t.Errorf("package status %q", st)
		}
		eventually(t, time.Minute, 200*time.Millisecond, func() error {
			res, err := f.client().FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{h.Name}, TimeoutMs: 5_000})
			if err != nil {
				return err
			}
			if len(res.Responded) != 1 || res.Responded[0].Status == nil || res.Responded[0].Status.AgentVersion != version {
				return fmt.Errorf("status of %s: %+v", h.Name, res)
			}
			return nil
		})
		code, out, errOut = f.cli(harness.Password+"\n", "host", "add", h.IP, "--id", h.Name, "--password-stdin", "--yes", "--agent-binary", bin)
		if code != 0 || !strings.Contains(errOut, "0 added, 0 updated, 0 repaired, 1 unchanged, 0 failed") {
			t.Fatalf("re-run: exit %d\n%s%s", code, out, errOut)
		}
	})

	// host add's own traces in the login user's home: Foundry's SSH key
	// in authorized_keys (host remove takes it away, dpkg does not) and
	// sudo's first-use marker (.sudo_as_admin_successful).
	sshKey := func(p string) bool { return strings.HasPrefix(p, "/home/"+h.User+"/") }

	t.Run("dpkg -r keeps only the identity and state, purge removes them", func(t *testing.T) {
		inside(t, h, "dpkg -r foundry-agent >/dev/null 2>&1")
		if s := inside(t, h, "systemctl is-active foundry-agent.service || true"); s != "inactive" {
			t.Errorf("still running after remove: %q", s)
		}
		if s := inside(t, h, "systemctl list-unit-files 'foundry*' --no-legend | wc -l"); s != "0" {
			t.Errorf("unit files left: %s", inside(t, h, "systemctl list-unit-files 'foundry*'"))
		}
		kept := map[string]bool{"/etc/foundry": true, "/etc/foundry/agent.yaml": true, "/etc/foundry/agent.nk": true,
			"/etc/foundry/ca.pem": true, "/var/lib/foundry": true}
		for _, p := range added(before, fileList(t, h)) {
			if !kept[p] && !strings.HasPrefix(p, "/var/lib/foundry/") && !sshKey(p) {
				t.Errorf("dpkg -r left %s", p)
			}
		}
		inside(t, h, "dpkg --purge foundry-agent >/dev/null 2>&1")
		for _, p := range added(before, fileList(t, h)) {
			if !sshKey(p) {
				t.Errorf("dpkg --purge left %s", p)
			}
		}
		if s := inside(t, h, "dpkg-query -W -f '${Status}' foundry-agent 2>/dev/null || true"); s != "" && !strings.Contains(s, "not-installed") {
			t.Errorf("package still known to dpkg: %q", s)
		}
	})
}
