package e2e

import (
	"context"
	"fmt"
	"log/slog"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/root"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// cli runs one foundry command line against the process controller,
// with the Foundry home of FOUNDRY_HOME.
func (p *procController) cli(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	ios, in, out, errOut := cmdutil.Test()
	in.WriteString(stdin)
	fac := root.NewFactory(ios, slog.New(slog.DiscardHandler), "e2e")
	args = append([]string{"--controller", "tls://" + p.listen, "--creds", filepath.Join(p.dataDir, "admin.nk"),
		"--ca", filepath.Join(p.dataDir, "ca.pem")}, args...)
	code := root.Run(context.Background(), fac, args)
	return code, out.String(), errOut.String()
}

// resetAgents takes the agent off every host that has one, in parallel.
func resetAgents(t *testing.T, hs []harness.Host) {
	t.Helper()
	var wg sync.WaitGroup
	for _, h := range hs {
		if inside(t, h, "ls -d /etc/foundry /opt/foundry "+agentunit.DefaultBinary+" 2>/dev/null | wc -l") == "0" {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
			defer cancel()
			if err := harness.Reset(ctx, h); err != nil {
				t.Errorf("reset %s: %v", h.Name, err)
			}
		}()
	}
	wg.Wait()
	if t.Failed() {
		t.FailNow()
	}
}

// procHostVersions is every host's "version state" from host list.
func procHostVersions(t *testing.T, p *procController, hs []harness.Host) (map[string]string, error) {
	t.Helper()
	code, out, errOut := p.cli(t, "", "host", "list")
	if code != 0 {
		return nil, fmt.Errorf("host list: exit %d %s", code, errOut)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, "\t")
		for _, h := range hs {
			if len(fields) > 2 && fields[0] == h.Name {
				got[h.Name] = fields[len(fields)-1] + " " + fields[1]
			}
		}
	}
	return got, nil
}

func procAllReport(t *testing.T, p *procController, hs []harness.Host, version string) {
	t.Helper()
	eventually(t, 90*time.Second, 300*time.Millisecond, func() error {
		got, err := procHostVersions(t, p, hs)
		if err != nil {
			return err
		}
		for _, h := range hs {
			if got[h.Name] != version+" online" {
				return fmt.Errorf("host list: %v, want every host on %s and online", got, version)
			}
		}
		return nil
	})
}

// agentRunning is `systemctl is-active` of the agent and the version of
// the binary in place, on every host.
func agentRunning(t *testing.T, hs []harness.Host) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, h := range hs {
		out[h.Name] = inside(t, h, "systemctl is-active "+agentunit.UnitName+" || true; "+agentunit.DefaultBinary+" version")
	}
	return out
}

// TestAgentUpgradeSurvivesControllerKill: kill -9 of the controller while
// a batch of an agent upgrade is in flight leaves every host with a
// running agent (the host mid-switch goes back to its previous agent by
// itself, with no controller to talk to); the restarted controller marks
// the job interrupted, and the same command run again converges,
// skipping the hosts already upgraded. Then a real agent build that
// starts, tells systemd it is ready and stays up, but never connects,
// is replaced by the previous agent at the upgrade's deadline.
func TestAgentUpgradeSurvivesControllerKill(t *testing.T) {
	hs := hosts(t)
	resetAgents(t, hs)
	bin := t.TempDir()
	const A, B, Silent = "1.0.0", "1.1.0", "1.1.1"
	foundry := goBuild(t, filepath.Join(bin, "foundry"), "../cmd/foundry", "")
	agentA, agentB := buildAgentVersion(t, bin, A), buildAgentVersion(t, bin, B)
	// B″: the real agent, pointed at a URL where nothing listens.
	silent := goBuild(t, filepath.Join(bin, "foundry-agent_"+Silent+"_linux_amd64"), "./doubles/agent-noconnect", "-X main.version="+Silent)

	home := t.TempDir()
	t.Setenv("FOUNDRY_HOME", home)
	ctl := &procController{t: t, bin: foundry, dataDir: filepath.Join(home, "controller"), listen: freePort(t, harness.ControllerIP)}
	ctl.start()
	t.Cleanup(func() { ctl.stop() })
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("controller log tail:\n%s", tail(ctl.log.String(), 40))
			for _, h := range hs {
				t.Logf("%s agent log:\n%s", h.Name, inside(t, h, "journalctl -u foundry-agent --no-pager -o cat -n 60 || true"))
			}
		}
	})
	if code, out, errOut := ctl.cli(t, harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, hs),
		"--password-stdin", "--yes", "--agent-binary", agentA); code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	procAllReport(t, ctl, hs, A)
	for v, p := range map[string]string{B: agentB, Silent: silent} {
		if code, out, errOut := ctl.cli(t, "", "artifact", "import", messages.AgentComponent, v, p); code != 0 {
			t.Fatalf("import %s: %d %s %s", v, code, out, errOut)
		}
	}
	upgrade := []string{"agent", "upgrade", "--version", B, "--batch", "1", "--deadline", "10s", "--yes"}

	t.Run("kill -9 mid-rollout: every host keeps a running agent, the job is interrupted, the re-run converges", func(t *testing.T) {
		// Batch 1 is hs[0], batch 2 hs[1]: kill as soon as hs[1] has
		// staged the new agent (the marker is written before the switch
		// and removed only when the new agent confirmed to the server).
		inflight := hs[1]
		watch := make(chan error, 1)
		go func() {
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			_, stderr, code, err := harness.Exec(ctx, inflight, "timeout 150 sh -c 'until [ -f "+agentunit.UpgradeMarker+" ]; do sleep 0.02; done'")
			if err == nil && code != 0 {
				err = fmt.Errorf("exit %d: %s", code, stderr)
			}
			watch <- err
		}()
		done := make(chan string, 1)
		go func() {
			code, out, errOut := ctl.cli(t, "", upgrade...)
			done <- fmt.Sprintf("exit %d\n%s\n%s", code, out, errOut)
		}()
		if err := <-watch; err != nil {
			t.Fatalf("%s never staged the new agent: %v\n%s", inflight.Name, err, <-done)
		}
		ctl.kill()

		// With no controller, the host mid-switch ends on a running agent
		// by itself: here its new agent cannot confirm, so at the
		// deadline the guard and the rollback step put A back.
		eventually(t, 60*time.Second, 500*time.Millisecond, func() error {
			if v := inside(t, inflight, "cat "+agentunit.UpgradeFailedRecord+" 2>/dev/null; ls "+agentunit.UpgradeMarker+" 2>/dev/null || true"); !strings.Contains(v, "to="+B) || strings.Contains(v, agentunit.UpgradeMarker) {
				return fmt.Errorf("%s has not rolled back yet: %q", inflight.Name, v)
			}
			return nil
		})
		eventually(t, 30*time.Second, 500*time.Millisecond, func() error {
			got := agentRunning(t, hs)
			want := map[string]string{hs[0].Name: "active\n" + B, hs[1].Name: "active\n" + A, hs[2].Name: "active\n" + A, hs[3].Name: "active\n" + A}
			for h, w := range want {
				if got[h] != w {
					return fmt.Errorf("with the controller down: %q, want %q", got, want)
				}
			}
			return nil
		})
		if rec := inside(t, inflight, "cat "+agentunit.UpgradeFailedRecord); !strings.Contains(rec, "before the deadline") {
			t.Errorf("%s rolled back for another reason: %q", inflight.Name, rec)
		}

		// The CLI gives up on the dead controller and says what to do.
		first := <-done
		t.Logf("the rollout when the controller was killed: %s", first)
		m := regexp.MustCompile(`job ([0-9a-f]+):`).FindStringSubmatch(first)
		if m == nil {
			t.Fatalf("no job id in the interrupted run's output")
		}
		if strings.HasPrefix(first, "exit 0") || !strings.Contains(first, "run the same command again") {
			t.Errorf("the interrupted CLI does not say what to do:\n%s", first)
		}

		ctl.start()
		procAllReport(t, ctl, hs[1:], A)
		procAllReport(t, ctl, hs[:1], B)
		code, out, errOut := ctl.cli(t, "", "job", "show", m[1])
		t.Logf("the interrupted job after the restart: exit %d\n%s%s", code, out, errOut)
		if code == 0 || !strings.Contains(out+errOut, "interrupted") {
			t.Errorf("job %s after the restart: exit %d\n%s%s", m[1], code, out, errOut)
		}
		cl := ctl.client(t)
		j, err := cl.Job(context.Background(), m[1])
		if err != nil {
			t.Fatal(err)
		}
		if st := states(j); j.State != messages.JobInterrupted || st[hs[0].Name] != messages.HostOK || st[hs[1].Name] != messages.HostInterrupted ||
			st[hs[2].Name] != messages.HostNotStarted || st[hs[3].Name] != messages.HostNotStarted {
			t.Errorf("job %s: %s %v", j.ID, j.State, st)
		}

		code, out, errOut = ctl.cli(t, "", upgrade...)
		t.Logf("the re-run: exit %d\n%s%s", code, out, errOut)
		if code != 0 {
			t.Fatalf("re-run: exit %d", code)
		}
		if !strings.Contains(errOut, ": 3 hosts in 3 batches") || strings.Contains(out, "  "+hs[0].Name+" ") {
			t.Errorf("the re-run did not skip %s, already on %s:\n%s%s", hs[0].Name, B, out, errOut)
		}
		for _, h := range hs[1:] {
			if !strings.Contains(out, "  "+h.Name+" upgraded "+A+" → "+B) {
				t.Errorf("%s not upgraded by the re-run", h.Name)
			}
		}
		procAllReport(t, ctl, hs, B)
		for h, v := range agentRunning(t, hs) {
			if v != "active\n"+B {
				t.Errorf("%s: %q", h, v)
			}
		}
		if code, _, errOut := ctl.cli(t, "", upgrade...); code != 0 || !strings.Contains(errOut, "nothing to do") {
			t.Errorf("third run: exit %d %s", code, errOut)
		}
	})

	t.Run("a stand-in broken build (the real agent, never connecting): its host is back on the previous agent at the deadline", func(t *testing.T) {
		h := hs[3]
		since := inside(t, h, "date +%s")
		code, out, errOut := ctl.cli(t, "", "agent", "upgrade", "--version", Silent, "--host", h.Name, "--deadline", "10s", "--yes")
		t.Logf("exit %d\n%s%s", code, out, errOut)
		if code == 0 || !strings.Contains(out, "  "+h.Name+" rolled_back: rolled back to "+B+" by itself: agent "+Silent+" did not connect and report its version before the deadline") {
			t.Fatalf("exit %d, output:\n%s", code, out)
		}
		if !strings.Contains(errOut, "rolled back by themselves to their previous agent: "+h.Name) {
			t.Errorf("the job does not name %s rolled back:\n%s", h.Name, errOut)
		}
		// B″ really ran, once, as a started service: it is the deadline,
		// not a crash, that sent the host back.
		journal := inside(t, h, "journalctl -u "+agentunit.UnitName+" --since @"+since+" --no-pager -o cat")
		if !strings.Contains(journal, "a deliberately broken build") || !strings.Contains(journal, "starting "+Silent+", attempt 1 of") ||
			strings.Contains(journal, "starting "+Silent+", attempt 2 of") {
			t.Errorf("the silent build did not run exactly once:\n%s", journal)
		}
		procAllReport(t, ctl, hs, B)
		if v := agentRunning(t, hs[3:])[h.Name]; v != "active\n"+B {
			t.Errorf("%s after the rollback: %q", h.Name, v)
		}
	})
}

// client is an admin connection to the process controller.
func (p *procController) client(t *testing.T) *client.Client {
	t.Helper()
	cl, err := client.Connect(context.Background(), client.Options{URL: "tls://" + p.listen,
		CredsFile: filepath.Join(p.dataDir, "admin.nk"), CAFile: filepath.Join(p.dataDir, "ca.pem")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

func states(j messages.JobRecord) map[string]string {
	out := map[string]string{}
	for _, h := range j.Hosts {
		out[h.Host] = h.State
	}
	return out
}
