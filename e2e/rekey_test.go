package e2e

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// `host rekey` on a real host, both paths. Through the agent: the seed on
// the host changes, the agent keeps running (no restart) and stays online,
// and a copy of the old seed is refused. With a squatter holding the
// identity's free slots from off the host with a stolen seed: the NATS
// path refuses and names --ssh; `host rekey --ssh` makes the key on the
// host, restarts the agent with it, closes the squatter's connections and
// the stolen seed is refused from then on.
func TestHostRekey(t *testing.T) {
	if skipReason != "" {
		t.Skip(skipReason)
	}
	hosts := harness.Hosts(t, numHosts)
	h := hosts[numHosts-1]
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := harness.Reset(ctx, h); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", h.IP, "--id", h.Name, "--password-stdin", "--yes", "--agent-binary", f.agent)
	if code != 0 {
		t.Fatalf("add: exit %d\n%s\n%s", code, out, errOut)
	}
	since := inside(t, h, "date +%s")
	defer func() {
		if t.Failed() {
			t.Logf("on %s:\n%s", h.Name, inside(t, h, "systemctl status foundry-agent.service --no-pager 2>&1; journalctl --since @"+since+" --no-pager -o short-precise 2>&1 | tail -60 || true"))
		}
	}()
	seedCmd := "cat /etc/foundry/agent.nk"
	online := func() {
		t.Helper()
		ct.CheckFor(t, 30*time.Second, 200*time.Millisecond, func() error {
			hl, err := f.client().HostList(context.Background())
			if err != nil || len(hl.Hosts) != 1 || hl.Hosts[0].State != messages.StateOnline {
				return fmt.Errorf("host list: %+v %v", hl, err)
			}
			return nil
		})
		status(t, f.client(), h.Name)
	}
	refused := func(what, seed string) {
		t.Helper()
		if nc, err := tryConnect(f, seed); err == nil {
			nc.Close()
			t.Fatalf("%s still authenticates", what)
		}
	}

	// Through the agent.
	stolen := inside(t, h, seedCmd)
	trace := agentTrace(t, h)
	code, out, errOut = f.cli("", "host", "rekey", h.Name, "--yes")
	t.Logf("host rekey:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, h.Name+": agent connected with the new key") || !strings.Contains(out, "via nats") {
		t.Fatalf("rekey through the agent: exit %d", code)
	}
	if now := inside(t, h, seedCmd); now == stolen {
		t.Fatal("the seed on the host did not change")
	}
	if mode := inside(t, h, "stat -c %a /etc/foundry/agent.nk; ls /etc/foundry/agent.nk.next 2>/dev/null | wc -l"); mode != "600\n0" {
		t.Fatalf("seed mode and staged files: %q", mode)
	}
	if now := agentTrace(t, h); now != trace {
		t.Errorf("the agent restarted during a rekey through NATS: %s -> %s", trace, now)
	}
	refused("the seed copied before the rekey", stolen)
	online()

	// A squatter with the current seed, off the host, on both free slots.
	stolen = inside(t, h, seedCmd)
	var squat []*nats.Conn
	for range 2 {
		nc, err := tryConnect(f, stolen, nats.Name("foundry-agent:"+h.Name))
		if err != nil {
			t.Fatalf("squatter: %v", err)
		}
		defer nc.Close()
		squat = append(squat, nc)
	}
	code, out, errOut = f.cli("", "host", "rekey", h.Name, "--yes")
	if code == 0 || !strings.Contains(errOut, "--ssh") {
		t.Fatalf("rekey through the agent with a squatter: exit %d\n%s%s", code, out, errOut)
	}
	if now := inside(t, h, seedCmd); now != stolen {
		t.Fatal("a refused rekey changed the seed on the host")
	}
	code, out, errOut = f.cli(harness.Password+"\n", "host", "rekey", h.Name, "--ssh", "--yes", "--password-stdin")
	t.Logf("host rekey --ssh:\n%s%s", out, errOut)
	if code != 0 || !strings.Contains(out, "via ssh") || !strings.Contains(out, h.Name+": agent connected with the new key") {
		t.Fatalf("rekey --ssh: exit %d", code)
	}
	ct.CheckFor(t, 10*time.Second, 100*time.Millisecond, func() error {
		for i, nc := range squat {
			if !nc.IsClosed() {
				return fmt.Errorf("squatter connection %d still %s", i, nc.Status())
			}
		}
		return nil
	})
	refused("the seed the squatter used", stolen)
	if now := inside(t, h, seedCmd); now == stolen {
		t.Fatal("the seed on the host did not change over SSH")
	}
	online()
}
