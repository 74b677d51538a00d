package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// buildAgentVersion builds foundry-agent with version baked in the way
// the Makefile does (-X main.version), named like a release file.
func buildAgentVersion(t *testing.T, dir, version string) string {
	t.Helper()
	out := filepath.Join(dir, "foundry-agent_"+version+"_linux_amd64")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w -X main.version="+version, "-o", out, "../cmd/foundry-agent")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build agent %s: %v\n%s", version, err, b)
	}
	if v, err := exec.Command(out, "version").Output(); err != nil || strings.TrimSpace(string(v)) != version {
		t.Fatalf("foundry-agent version of the %s build: %q %v", version, v, err)
	}
	return out
}

// hostVersions is every host's agent version as `host list` shows it.
func hostVersions(t *testing.T, f *fleet, hs []harness.Host) map[string]string {
	t.Helper()
	code, out, errOut := f.cli("", "host", "list")
	if code != 0 {
		t.Fatalf("host list: %d %s", code, errOut)
	}
	got := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		fields := strings.Split(line, "\t")
		for _, h := range hs {
			if len(fields) > 2 && fields[0] == h.Name {
				got[h.Name] = fields[len(fields)-1] + " " + fields[1] // version, state
			}
		}
	}
	return got
}

// allReport waits until host list shows every host online on version.
func allReport(t *testing.T, f *fleet, hs []harness.Host, version string) {
	t.Helper()
	eventually(t, 90*time.Second, 300*time.Millisecond, func() error {
		got := hostVersions(t, f, hs)
		for _, h := range hs {
			if got[h.Name] != version+" online" {
				return fmt.Errorf("host list: %v, want every host on %s and online", got, version)
			}
		}
		return nil
	})
}

// TestAgentUpgradeRollsForwardAndBackByItself: agents installed as A
// upgrade to B batch by batch; a downgrade needs --allow-downgrade; a
// broken build B' (exits at start) puts every host it reaches back on A
// without the controller, the rollout stops at --max-failures and the
// job names the rolled-back hosts; a tampered build is refused and
// nothing changes.
func TestAgentUpgradeRollsForwardAndBackByItself(t *testing.T) {
	hs := hosts(t)
	resetAgents(t, hs)
	t.Cleanup(func() {
		if t.Failed() {
			for _, h := range hs {
				t.Logf("%s agent log:\n%s", h.Name, inside(t, h, "journalctl -u foundry-agent --no-pager -o cat -n 60 || true"))
			}
		}
	})
	bin := t.TempDir()
	const A, B, Broken, Hangs = "1.0.0", "1.1.0", "1.2.0", "1.2.1"
	began := time.Now()
	agentA, agentB := buildAgentVersion(t, bin, A), buildAgentVersion(t, bin, B)
	// B' passes the self-check (it says its version) and exits at start.
	broken := filepath.Join(bin, "foundry-agent_"+Broken+"_linux_amd64")
	if err := os.WriteFile(broken, []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo "+Broken+"; exit 0; fi\necho 'broken build' >&2\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	// B'' passes the self-check and then hangs: it never connects.
	hangs := filepath.Join(bin, "foundry-agent_"+Hangs+"_linux_amd64")
	if err := os.WriteFile(hangs, []byte("#!/bin/sh\nif [ \"$1\" = version ]; then echo "+Hangs+"; exit 0; fi\n"+
		"echo \"started $(date +%s)\" >> /var/lib/foundry/hang.log\nsleep 600\necho \"sleep ended $?\" >> /var/lib/foundry/hang.log\nexit 1\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("agents %s and %s built in %s", A, B, time.Since(began).Round(time.Millisecond))

	f := newFleet(t)
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", "--from-file", hostsFile(t, hs),
		"--password-stdin", "--yes", "--agent-binary", agentA)
	if code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	allReport(t, f, hs, A)
	for v, p := range map[string]string{A: agentA, B: agentB, Broken: broken, Hangs: hangs} {
		if code, out, errOut := f.cli("", "artifact", "import", messages.AgentComponent, v, p); code != 0 {
			t.Fatalf("import %s: %d %s %s", v, code, out, errOut)
		}
	}

	t.Run("upgrade A to B in batches of 2: every host reports B", func(t *testing.T) {
		began := time.Now()
		code, out, errOut := f.cli("", "agent", "upgrade", "--version", B, "--batch", "2", "--yes")
		if code != 0 {
			t.Fatalf("agent upgrade: exit %d\n%s\n%s", code, out, errOut)
		}
		t.Logf("upgraded %d hosts in %s:\n%s%s", len(hs), time.Since(began).Round(time.Millisecond), out, errOut)
		if !strings.Contains(out, "batch 1/2:") || !strings.Contains(out, "batch 2/2:") || strings.Count(out, "upgraded "+A+" → "+B) != len(hs) {
			t.Errorf("output does not show two batches with every host upgraded:\n%s", out)
		}
		allReport(t, f, hs, B)
		for _, h := range hs {
			if v := inside(t, h, "/usr/bin/foundry-agent version"); v != B {
				t.Errorf("%s runs %q", h.Name, v)
			}
			if left := inside(t, h, "ls "+agentunit.UpgradeMarker+" /usr/bin/foundry-agent.new 2>/dev/null | wc -l"); left != "0" {
				t.Errorf("%s: the marker or the staged binary is left", h.Name)
			}
		}
		// Again: nothing to do.
		if code, _, errOut := f.cli("", "agent", "upgrade", "--version", B, "--yes"); code != 0 || !strings.Contains(errOut, "nothing to do") {
			t.Errorf("second upgrade: %d %s", code, errOut)
		}
	})

	t.Run("going back to A needs --allow-downgrade", func(t *testing.T) {
		code, _, errOut := f.cli("", "agent", "upgrade", "--version", A, "--yes")
		if code == 0 || !strings.Contains(errOut, "--allow-downgrade") {
			t.Fatalf("downgrade without the flag: exit %d %s", code, errOut)
		}
		code, out, errOut := f.cli("", "agent", "upgrade", "--version", A, "--allow-downgrade", "--yes")
		if code != 0 {
			t.Fatalf("downgrade: exit %d\n%s\n%s", code, out, errOut)
		}
		allReport(t, f, hs, A)
	})

	t.Run("a build that exits at start: hosts return to A by themselves and the rollout stops", func(t *testing.T) {
		began := time.Now()
		code, out, errOut := f.cli("", "agent", "upgrade", "--version", Broken, "--batch", "2", "--max-failures", "1", "--yes")
		t.Logf("broken rollout in %s: exit %d\n%s%s", time.Since(began).Round(time.Millisecond), code, out, errOut)
		if code == 0 {
			t.Fatal("a rollout where every host rolled back succeeded")
		}
		reached := []string{hs[0].Name, hs[1].Name}
		for _, h := range reached {
			if !strings.Contains(out, "  "+h+" rolled_back: rolled back to "+A+" by itself") {
				t.Errorf("%s is not reported rolled back:\n%s", h, out)
			}
		}
		if !strings.Contains(errOut, "2 rolled back") || !strings.Contains(errOut, "2 not started") ||
			!strings.Contains(errOut, "stopped: 2 hosts failed, more than the 1 allowed") ||
			!strings.Contains(errOut, "rolled back by themselves to their previous agent: "+strings.Join(reached, ", ")) {
			t.Errorf("summary:\n%s", errOut)
		}
		if strings.Contains(out, "batch 2/2") {
			t.Errorf("the second batch ran:\n%s", out)
		}
		allReport(t, f, hs, A)
		for _, h := range hs[:2] {
			if v := inside(t, h, "/usr/bin/foundry-agent version"); v != A {
				t.Errorf("%s runs %q after the rollback", h.Name, v)
			}
			if rec := inside(t, h, "cat "+agentunit.UpgradeFailedRecord); !strings.Contains(rec, "to="+Broken) || !strings.Contains(rec, "did not stay up") {
				t.Errorf("%s: failure record %q", h.Name, rec)
			}
		}
		// The hosts say so themselves, in their facts.
		cl := f.client()
		hl, err := cl.HostList(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range hl.Hosts {
			if (r.ID == hs[0].Name || r.ID == hs[1].Name) && (r.Facts.LastUpgradeFailed == nil || r.Facts.LastUpgradeFailed.To != Broken) {
				t.Errorf("%s facts: %+v", r.ID, r.Facts.LastUpgradeFailed)
			}
		}
	})

	t.Run("a build that never connects: its host returns to A at the deadline", func(t *testing.T) {
		h := hs[3]
		began := time.Now()
		code, out, errOut := f.cli("", "agent", "upgrade", "--version", Hangs, "--host", h.Name, "--deadline", "5s", "--yes")
		t.Logf("rollout of a hanging build in %s: exit %d\n%s%s", time.Since(began).Round(time.Millisecond), code, out, errOut)
		if code == 0 || !strings.Contains(out, "  "+h.Name+" rolled_back: rolled back to "+A+" by itself: agent "+Hangs+" did not connect and report its version before the deadline") {
			t.Fatalf("exit %d, output:\n%s", code, out)
		}
		allReport(t, f, hs, A)
		if v := inside(t, h, "/usr/bin/foundry-agent version; pgrep -c -f '[s]leep 600' || true"); v != A+"\n0" {
			t.Errorf("%s after the rollback: %q", h.Name, v)
		}
		// Started once and never crashed: what replaced it is the deadline.
		starts := inside(t, h, "cat /var/lib/foundry/hang.log; systemctl show -p TimeoutStartUSec foundry-agent")
		t.Logf("the hanging build on %s:\n%s", h.Name, starts)
		// It must have run: a restart onto it that came after the
		// deadline (a slow stop of the old agent) rolls back before it
		// starts, which would prove nothing here.
		if !strings.Contains(starts, "started ") || strings.Contains(starts, "sleep ended") {
			t.Errorf("the hanging build did not start and hang:\n%s", starts)
		}
	})

	t.Run("a tampered build is refused and nothing changes", func(t *testing.T) {
		cl := f.client()
		ctx := context.Background()
		list, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: messages.AgentComponent, Version: B})
		if err != nil || len(list.Artifacts) != 1 || !list.Artifacts[0].Verified {
			t.Fatalf("%s: %+v %v", B, list, err)
		}
		signed := list.Artifacts[0].ArtifactRef
		// Operators have no JetStream access: tamper as someone with the
		// controller's storage would.
		obs, err := f.c.JetStream().ObjectStore(ctx, messages.ArtifactBucket)
		if err != nil {
			t.Fatal(err)
		}
		info, err := obs.GetInfo(ctx, signed.ObjectName())
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(agentB)
		if err != nil {
			t.Fatal(err)
		}
		b[len(b)/2] ^= 0xff
		if _, err := obs.Put(ctx, jetstream.ObjectMeta{Name: info.Name, Metadata: info.Metadata}, bytes.NewReader(b)); err != nil {
			t.Fatal(err)
		}
		before := map[string]string{}
		for _, h := range hs {
			before[h.Name] = agentTrace(t, h)
		}
		code, _, errOut := f.cli("", "agent", "upgrade", "--version", B, "--yes")
		if code == 0 || !strings.Contains(errOut, "re-import") {
			t.Fatalf("the CLI accepted a tampered build: exit %d %s", code, errOut)
		}
		// An agent refuses it too, even in a signed command.
		payload, _ := json.Marshal(messages.AgentUpgrade{Version: B, Artifacts: []messages.ArtifactRef{signed}})
		rec := runJob(t, cl, messages.VerbAgentUpgrade, []string{hs[2].Name}, json.RawMessage(payload))
		if rec.Hosts[0].State != messages.HostFailed || !strings.Contains(rec.Hosts[0].Error, "sha256") {
			t.Fatalf("agent outcome: %+v", rec.Hosts[0])
		}
		for _, h := range hs {
			if got := agentTrace(t, h); got != before[h.Name] {
				t.Errorf("%s: agent restarted by a refused upgrade: %s -> %s", h.Name, before[h.Name], got)
			}
			if v := inside(t, h, "/usr/bin/foundry-agent version; ls /usr/bin/foundry-agent.new "+agentunit.UpgradeMarker+" 2>/dev/null | wc -l"); v != A+"\n0" {
				t.Errorf("%s after a refused upgrade: %q", h.Name, v)
			}
		}
		allReport(t, f, hs, A)
	})
}
