package e2e

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// fleet is a controller on the hosts' bridge plus a Foundry home for the
// CLI, shared by the steps of one scenario.
type fleet struct {
	t     *testing.T
	c     *controller.Controller
	home  string
	ca    string
	agent string // path of the foundry-agent binary to install
	cl    *client.Client
}

func newFleet(t *testing.T) *fleet {
	t.Helper()
	c := ct.StartController(t, func(o *controller.Options) {
		o.Listen = harness.ControllerIP + ":0"
		o.Advertise = []string{harness.ControllerIP}
	})
	return &fleet{t: t, c: c, home: t.TempDir(), ca: ct.WriteCA(t, c), agent: agentBinary(t)}
}

// agentBinary builds a static foundry-agent once per test process.
var builtAgent string

func agentBinary(t *testing.T) string {
	t.Helper()
	if builtAgent != "" {
		return builtAgent
	}
	dir, err := os.MkdirTemp("", "foundry-e2e-bin-")
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "foundry-agent")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version=e2e", "-o", out, "../cmd/foundry-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent: %v\n%s", err, b)
	}
	builtAgent = out
	return out
}

// cli runs one foundry command line with stdin and returns exit code,
// stdout and stderr.
func (f *fleet) cli(stdin string, args ...string) (int, string, string) {
	f.t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	f.t.Setenv("FOUNDRY_HOME", f.home)
	fac := root.NewFactory(ios, slog.New(slog.DiscardHandler), "e2e")
	// Global flags go first so they never land after a "--".
	args = append([]string{"--controller", f.c.URLs()[0], "--creds", f.c.AdminCredsPath(), "--ca", f.ca}, args...)
	code := root.Run(context.Background(), fac, args)
	return code, out.String(), errOut.String()
}

// client is one admin connection for the whole scenario (operators have a
// connection limit).
func (f *fleet) client() *client.Client {
	if f.cl == nil {
		f.cl = ct.Client(f.t, f.c)
	}
	return f.cl
}

// hostsFile writes "ip id" lines for --from-file.
func hostsFile(t *testing.T, hosts []harness.Host) string {
	t.Helper()
	var b bytes.Buffer
	for _, h := range hosts {
		fmt.Fprintf(&b, "%s %s\n", h.IP, h.Name)
	}
	p := filepath.Join(t.TempDir(), "hosts.txt")
	if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func inside(t *testing.T, h harness.Host, cmd string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	return strings.TrimSpace(harness.MustExec(t, ctx, h, cmd))
}

// agentTrace is what would change if the agent were restarted.
func agentTrace(t *testing.T, h harness.Host) string {
	return inside(t, h, "systemctl show -p NRestarts -p ExecMainPID -p ActiveEnterTimestampMonotonic foundry-agent")
}

// bare asserts that nothing of Foundry is on the host.
func bare(t *testing.T, h harness.Host, user string) {
	t.Helper()
	out := inside(t, h, "ls /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service /etc/foundry /usr/local/bin/foundry-agent /etc/systemd/system/foundry-agent.service 2>&1; "+
		"grep -c foundry /home/"+user+"/.ssh/authorized_keys 2>/dev/null || true; dpkg-query -W -f='package ${Status}' foundry-agent 2>/dev/null || true")
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "No such file") && line != "0" && line != "" {
			t.Errorf("%s is not bare: %q", h.Name, line)
		}
	}
}

func TestBootstrap(t *testing.T) {
	hosts := harness.Hosts(t, 12)
	f := newFleet(t)
	ten := hosts[:10]

	t.Run("add ten hosts with a password", func(t *testing.T) {
		code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, ten),
			"--password-stdin", "--yes", "--agent-binary", f.agent)
		if code != 0 || !strings.Contains(errOut, "10 added, 0 updated, 0 repaired, 0 unchanged, 0 failed") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		res, err := f.client().FleetStatus(context.Background(), messages.FleetStatusRequest{TimeoutMs: 20_000})
		if err != nil {
			t.Fatal(err)
		}
		if len(res.Responded) != 10 || len(res.Missing) != 0 {
			t.Fatalf("status: %d responded, missing %v", len(res.Responded), res.Missing)
		}
		byHost := map[string]messages.HostStatus{}
		for _, r := range res.Responded {
			byHost[r.Host] = r
		}
		for _, h := range ten {
			r, ok := byHost[h.Name]
			if !ok || r.Status == nil {
				t.Fatalf("%s did not answer", h.Name)
			}
			if mid := inside(t, h, "cat /etc/machine-id"); r.Status.Hostname != h.Name || r.Status.MachineID != mid {
				t.Errorf("%s reported hostname %q machine-id %q, host has %q", h.Name, r.Status.Hostname, r.Status.MachineID, mid)
			}
		}
		// Secrets: the seed is root-only and the per-host SSH key is 0600 locally.
		if m := inside(t, ten[0], "stat -c %a /etc/foundry/agent.nk"); m != "600" {
			t.Errorf("agent seed mode %s", m)
		}
		st, err := os.Stat(filepath.Join(f.home, "ssh-keys", ten[0].Name))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("stored host key: %v %v", st, err)
		}
	})

	t.Run("re-run changes nothing and restarts nothing", func(t *testing.T) {
		before := map[string]string{}
		for _, h := range ten {
			before[h.Name] = agentTrace(t, h)
		}
		since := time.Now().UnixMilli()
		code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, ten),
			"--password-stdin", "--agent-binary", f.agent)
		if code != 0 || !strings.Contains(errOut, "0 added, 0 updated, 0 repaired, 10 unchanged, 0 failed") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		// Nothing changed, so nothing is audited as an enrolment.
		err := f.client().Audit(context.Background(), client.AuditQuery{Since: time.Hour}, func(r messages.AuditRecord) error {
			if r.Action == "host.enroll" && r.Time >= since {
				return fmt.Errorf("an unchanged host add was audited as an enrolment: %+v", r)
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		for _, h := range ten {
			if after := agentTrace(t, h); after != before[h.Name] {
				t.Errorf("%s agent restarted: %s -> %s", h.Name, before[h.Name], after)
			}
		}
	})

	t.Run("host ssh runs a command with the stored key", func(t *testing.T) {
		code, out, errOut := f.cli("", "host", "ssh", ten[0].Name, "--", "hostname")
		if code != 0 || strings.TrimSpace(out) != ten[0].Name {
			t.Fatalf("exit %d, out %q, err %q", code, out, errOut)
		}
		code, _, _ = f.cli("", "host", "ssh", ten[0].Name, "--", "sh", "-c", "exit 7")
		if code != 7 {
			t.Fatalf("remote exit status not passed through: %d", code)
		}
	})

	t.Run("the agent notified READY and pings the systemd watchdog", func(t *testing.T) {
		h := ten[0]
		if v := inside(t, h, "systemctl show -p Type -p WatchdogUSec foundry-agent"); !strings.Contains(v, "Type=notify") || !strings.Contains(v, "WatchdogUSec=30s") {
			t.Fatalf("unit Type/WatchdogSec: %q", v)
		}
		// systemd stamps WatchdogTimestamp on every WATCHDOG=1; the agent
		// pings every WatchdogSec/2.
		ct.CheckFor(t, 40*time.Second, time.Second, func() error {
			// systemctl show prints properties in its own order, so read
			// them by name.
			out := inside(t, h, "systemctl show -p ActiveEnterTimestampMonotonic -p WatchdogTimestampMonotonic foundry-agent")
			props := map[string]uint64{}
			for _, line := range strings.Split(out, "\n") {
				k, v, _ := strings.Cut(line, "=")
				n, err := strconv.ParseUint(strings.TrimSpace(v), 10, 64)
				if err != nil {
					return fmt.Errorf("systemctl show: %q: %v", out, err)
				}
				props[k] = n
			}
			started, pinged := props["ActiveEnterTimestampMonotonic"], props["WatchdogTimestampMonotonic"]
			if started == 0 {
				return fmt.Errorf("systemctl show: %q", out)
			}
			// systemd also stamps the watchdog when it arms it at READY, so
			// only a stamp well after start proves a ping from the agent.
			if pinged < started+10_000_000 {
				return fmt.Errorf("no watchdog ping 10s after start yet: %q", out)
			}
			return nil
		})
	})

	t.Run("a broken agent is repaired", func(t *testing.T) {
		h := ten[1]
		inside(t, h, "systemctl stop foundry-agent && rm -f /etc/foundry/agent.yaml")
		code, out, errOut := f.cli(harness.Password+"\n", "host", "configure", h.Name, "--password-stdin", "--agent-binary", f.agent)
		if code != 0 || !strings.Contains(errOut, "1 repaired") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if s := inside(t, h, "systemctl is-active foundry-agent"); s != "active" {
			t.Fatalf("agent %s after repair", s)
		}
	})

	t.Run("a new role alone is an update, not a repair", func(t *testing.T) {
		h := ten[6]
		code, out, errOut := f.cli(harness.Password+"\n", "host", "configure", h.Name, "--password-stdin", "--agent-binary", f.agent, "--role", "edge")
		if code != 0 || !strings.Contains(errOut, "0 added, 1 updated, 0 repaired") || !strings.Contains(out, "updated") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
	})

	t.Run("wrong password, unreachable, no sudo: clear error, host left bare", func(t *testing.T) {
		spare := hosts[10]
		code, _, errOut := f.cli("not-the-password\n", "host", "add", spare.IP, "--id", spare.Name, "--password-stdin", "--yes", "--agent-binary", f.agent)
		if code == 0 || !strings.Contains(errOut, "password") || !strings.Contains(errOut, `step "connect"`) {
			t.Errorf("wrong password: exit %d\n%s", code, errOut)
		}
		bare(t, spare, harness.User)

		start := time.Now()
		code, _, errOut = f.cli(harness.Password+"\n", "host", "add", "10.77.0.250", "--password-stdin", "--yes", "--agent-binary", f.agent)
		if code == 0 || !strings.Contains(errOut, "10.77.0.250") || time.Since(start) > 30*time.Second {
			t.Errorf("unreachable: exit %d after %s\n%s", code, time.Since(start), errOut)
		}

		code, _, errOut = f.cli(harness.Password+"\n", "host", "add", spare.IP, "--id", spare.Name, "--user", harness.NoSudoUser,
			"--password-stdin", "--yes", "--agent-binary", f.agent)
		if code == 0 || !strings.Contains(errOut, "sudo") {
			t.Errorf("no sudo: exit %d\n%s", code, errOut)
		}
		bare(t, spare, harness.NoSudoUser)
	})

	t.Run("a failure mid-way rolls the host back", func(t *testing.T) {
		spare := hosts[11]
		junk := filepath.Join(t.TempDir(), "foundry-agent")
		os.WriteFile(junk, []byte("#!/bin/sh\nexit 3\n"), 0o755)
		code, _, errOut := f.cli(harness.Password+"\n", "host", "add", spare.IP, "--id", spare.Name, "--password-stdin", "--yes", "--agent-binary", junk)
		if code == 0 || !strings.Contains(errOut, `step "install agent"`) || !strings.Contains(errOut, "exited 3") ||
			!strings.Contains(errOut, "failed at step: create NATS identity") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		bare(t, spare, harness.User)
		hl, _ := f.client().HostList(context.Background())
		for _, h := range hl.Hosts {
			if h.ID == spare.Name {
				t.Errorf("identity of the failed host left in the fleet: %+v", h)
			}
		}

		// A failure after enrolment (an agent that makes its key but
		// will not start): the rollback uninstalls over SSH and then
		// only revokes the identity. It used to also send the gone agent
		// an uninstall command, audited as "host.remove uninstall failed".
		kp, err := nkeys.CreateUser()
		if err != nil {
			t.Fatal(err)
		}
		seed, _ := kp.Seed()
		pub, _ := kp.PublicKey()
		wontStart := filepath.Join(t.TempDir(), "foundry-agent")
		os.WriteFile(wontStart, []byte("#!/bin/sh\nif [ \"$1\" = keygen ]; then umask 077; echo '"+string(seed)+
			"' > \"$3\"; echo "+pub+"; exit 0; fi\nexit 3\n"), 0o755)
		since := time.Now().UnixMilli()
		code, _, errOut = f.cli(harness.Password+"\n", "host", "add", spare.IP, "--id", spare.Name, "--password-stdin", "--yes",
			"--agent-binary", wontStart)
		if code == 0 || !strings.Contains(errOut, `step "start agent"`) {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
		bare(t, spare, harness.User)
		revoked := false
		err = f.client().Audit(context.Background(), client.AuditQuery{Since: time.Hour}, func(r messages.AuditRecord) error {
			if r.Time < since {
				return nil
			}
			if r.Verb == messages.VerbUninstall {
				return fmt.Errorf("the rollback sent an uninstall command: %+v", r)
			}
			revoked = revoked || (r.Action == "host.remove" && r.Source == messages.AuditSourceAPI && r.Outcome == messages.OutcomeSucceeded)
			return nil
		})
		if err != nil || !revoked {
			t.Fatalf("rollback audit: %v; identity revoked as a plain API call: %v", err, revoked)
		}
	})

	t.Run("agent identity is confined to its own subjects", func(t *testing.T) {
		seed := inside(t, ten[0], "cat /etc/foundry/agent.nk")
		nc, errs := connectSeed(t, f, seed)
		defer nc.Close()
		other, _ := messages.HeartbeatSubject(ten[1].Name)
		nc.Publish(other, []byte(`{}`))
		expectViolation(t, errs, "publish a heartbeat as "+ten[1].Name)
		cmd, _ := messages.CommandSubject(ten[1].Name)
		nc.Subscribe(cmd, func(*nats.Msg) {})
		expectViolation(t, errs, "subscribe to "+ten[1].Name+"'s commands")
	})

	t.Run("reboot: the agent comes back by itself", func(t *testing.T) {
		h := ten[2]
		cl := f.client()
		first := status(t, cl, h.Name)
		// PID 1's start time (field 22 of /proc/1/stat) changes only when
		// the host really boots again.
		initStart := inside(t, h, "cut -d' ' -f22 /proc/1/stat")
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		harness.Exec(ctx, h, "systemctl reboot")
		cancel()
		ct.CheckFor(t, 3*time.Minute, 500*time.Millisecond, func() error {
			res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{h.Name}, TimeoutMs: 2000})
			if err != nil {
				return err
			}
			if len(res.Responded) != 1 || res.Responded[0].Status == nil {
				return fmt.Errorf("not back yet: %+v", res.Missing)
			}
			if res.Responded[0].Status.StartedAt <= first.StartedAt {
				return fmt.Errorf("same agent process as before the reboot")
			}
			return nil
		})
		if now := inside(t, h, "cut -d' ' -f22 /proc/1/stat"); now == initStart {
			t.Fatalf("%s did not reboot (PID 1 start time unchanged)", h.Name)
		}
	})

	t.Run("remove: agent gone and its credentials refused", func(t *testing.T) {
		h := ten[3]
		seed := inside(t, h, "cat /etc/foundry/agent.nk")
		code, out, errOut := f.cli("", "host", "remove", h.Name, "--yes")
		if code != 0 || !strings.Contains(out, "nats") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		ct.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			out := inside(t, h, "ls /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service /etc/foundry /usr/local/bin/foundry-agent /etc/systemd/system/foundry-agent.service 2>&1 | grep -vc 'No such file' || true")
			if out != "0" {
				return fmt.Errorf("still on host: %s files", out)
			}
			return nil
		})
		if _, err := tryConnect(f, seed); err == nil {
			t.Fatal("removed host's credentials still connect")
		}
	})

	t.Run("remove falls back to SSH when the agent is down", func(t *testing.T) {
		h := ten[5]
		inside(t, h, "systemctl stop foundry-agent")
		code, out, errOut := f.cli(harness.Password+"\n", "host", "remove", h.Name, "--yes", "--password-stdin")
		if code != 0 || !strings.Contains(out, "ssh") || !strings.Contains(out, "removed") {
			t.Fatalf("exit %d\n%s\n%s", code, out, errOut)
		}
		if left := inside(t, h, "ls /usr/bin/foundry-agent /lib/systemd/system/foundry-agent.service /etc/foundry /usr/local/bin/foundry-agent /etc/systemd/system/foundry-agent.service 2>/dev/null | wc -l"); left != "0" {
			t.Fatalf("%s files left on the host", left)
		}
		if n := inside(t, h, "grep -c ' foundry$' /home/"+h.User+"/.ssh/authorized_keys || true"); n != "0" {
			t.Errorf("%s Foundry key(s) left in authorized_keys", n)
		}
		if _, err := os.Stat(filepath.Join(f.home, "ssh-keys", h.Name)); !os.IsNotExist(err) {
			t.Errorf("key still in the local store: %v", err)
		}
	})

	t.Run("changed host key is refused", func(t *testing.T) {
		h := ten[4]
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		if _, err := harness.Rekey(ctx, h); err != nil {
			t.Fatal(err)
		}
		code, _, errOut := f.cli(harness.Password+"\n", "host", "configure", h.Name, "--password-stdin", "--yes", "--agent-binary", f.agent)
		if code == 0 || !strings.Contains(strings.ToLower(errOut), "host key") || !strings.Contains(errOut, "SHA256:") {
			t.Fatalf("exit %d\n%s", code, errOut)
		}
	})
}

func status(t *testing.T, cl *client.Client, host string) messages.StatusReply {
	t.Helper()
	res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{host}, TimeoutMs: 5000})
	if err != nil || len(res.Responded) != 1 || res.Responded[0].Status == nil {
		t.Fatalf("status of %s: %+v %v", host, res, err)
	}
	return *res.Responded[0].Status
}

func tryConnect(f *fleet, seed string, opts ...nats.Option) (*nats.Conn, error) {
	kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(seed)))
	if err != nil {
		return nil, err
	}
	pub, _ := kp.PublicKey()
	opts = append(opts, nats.Nkey(pub, kp.Sign), nats.RootCAs(f.ca), nats.NoReconnect(), nats.Timeout(5*time.Second))
	return nats.Connect(f.c.URLs()[0], opts...)
}

func connectSeed(t *testing.T, f *fleet, seed string) (*nats.Conn, chan error) {
	t.Helper()
	errs := make(chan error, 8)
	nc, err := tryConnect(f, seed, nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) { errs <- err }))
	if err != nil {
		t.Fatalf("agent seed refused: %v", err)
	}
	return nc, errs
}

func expectViolation(t *testing.T, errs chan error, what string) {
	t.Helper()
	select {
	case err := <-errs:
		if !strings.Contains(err.Error(), "Permissions Violation") {
			t.Fatalf("%s: unexpected error %v", what, err)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s: allowed", what)
	}
}
