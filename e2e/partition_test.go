package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/e2e/harness"
	"github.com/foundry-fleet/foundry/messages"
)

// link sets the host's port on the bridge up or down: down, the host's
// packets are dropped silently, both ways, like a pulled cable.
func link(t *testing.T, h harness.Host, state string) {
	t.Helper()
	if out, err := exec.Command("ip", "link", "set", fmt.Sprintf("fe-v%d", h.Index), state).CombinedOutput(); err != nil {
		t.Fatalf("ip link set fe-v%d %s: %v: %s", h.Index, state, err, out)
	}
}

// TestPartitionWithAgentRestart cuts a real host off the network for 60 s
// (its bridge port down) and restarts its agent (systemctl) inside the
// cut. The old process's last words, in its dead TCP connection, are kept
// from the controller until the new process has registered (a tc filter
// on that one connection), as a partition did in the field (53 s late).
// Afterwards every agent event is in the stream once and in order, and
// from the moment the new agent process registered the host is never
// shown anything but online.
func TestPartitionWithAgentRestart(t *testing.T) {
	h := hosts(t)[0]
	ctx := context.Background()
	if err := harness.Reset(ctx, h); err != nil {
		t.Fatal(err)
	}
	f := newFleet(t)
	code, out, errOut := f.cli(harness.Password+"\n", "host", "add", h.IP, "--id", h.Name, "--password-stdin", "--yes", "--agent-binary", f.agent)
	if code != 0 {
		t.Fatalf("host add: exit %d\n%s\n%s", code, out, errOut)
	}
	cl := f.client()
	var firstInst string
	eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		evs := agentEventsOf(t, cl, h.Name)
		if len(evs) != 1 || evs[0].Type != messages.EventAgentStarted {
			return fmt.Errorf("want agent_started, have %v", evs)
		}
		firstInst = evs[0].Instance
		return nil
	})
	t.Cleanup(func() { link(t, h, "up") })

	// Watch host list all along; note every state once the new process
	// is the registry's instance.
	var mu sync.Mutex
	var seen []string
	var newInst string
	var registered time.Time
	stop := make(chan struct{})
	watched := make(chan struct{})
	go func() {
		defer close(watched)
		for {
			select {
			case <-stop:
				return
			case <-time.After(100 * time.Millisecond):
			}
			hl, err := cl.HostList(ctx)
			if err != nil || len(hl.Hosts) != 1 {
				continue
			}
			r := hl.Hosts[0]
			mu.Lock()
			if newInst == "" && r.Instance != "" && r.Instance != firstInst && r.State == messages.StateOnline {
				newInst, registered = r.Instance, time.Now()
			}
			if newInst != "" {
				seen = append(seen, time.Now().Format("15:04:05.0")+" "+r.State+" "+r.Instance)
			}
			mu.Unlock()
		}
	}()

	clients := f.c.Server().NumClients()
	oldPort := agentPort(t, f, h.Name)
	// The old process's socket must outlive the cut so that its last
	// bytes can arrive late, as they did in the field (the kernel gives
	// up on an orphaned socket after 8 retransmissions by default).
	runCmd(t, "ip", "netns", "exec", h.Name, "sysctl", "-qw", "net.ipv4.tcp_orphan_retries=15")
	cutAt := time.Now()
	link(t, h, "down")
	// Restarted at once, before its pings tell it the connection is
	// dead: its agent_stopping and goodbye go into the dead connection.
	inside(t, h, "systemctl restart foundry-agent")
	time.Sleep(time.Until(cutAt.Add(60 * time.Second))) // the scenario: a 60 s cut
	// The network comes back for new connections; the old one's
	// retransmissions stay dropped until the new process registered.
	holdPort(t, h, oldPort)
	link(t, h, "up")
	healed := time.Now()

	eventually(t, 2*time.Minute, 200*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if newInst == "" {
			return fmt.Errorf("the new agent process has not registered")
		}
		return nil
	})
	t.Logf("new agent registered %s after the heal", time.Since(healed).Round(100*time.Millisecond))
	releasePort(t, h)
	released := time.Now()
	// The old connection's bytes arrive with its next retransmission (at
	// most 2 minutes apart), and then the server closes it.
	eventually(t, 3*time.Minute, 500*time.Millisecond, func() error {
		if n := f.c.Server().NumClients(); n > clients {
			return fmt.Errorf("%d clients: the old connection is still open", n)
		}
		return nil
	})
	t.Logf("old connection closed %s after its bytes were let through", time.Since(released).Round(100*time.Millisecond))
	// The registry has acted on what arrived once it has taken three
	// more heartbeats of the new process.
	var seq uint64
	if hl, err := cl.HostList(ctx); err == nil && len(hl.Hosts) == 1 {
		seq = hl.Hosts[0].Seq
	}
	eventually(t, 30*time.Second, 100*time.Millisecond, func() error {
		hl, err := cl.HostList(ctx)
		if err != nil || len(hl.Hosts) != 1 {
			return fmt.Errorf("host list: %v", err)
		}
		if r := hl.Hosts[0]; r.Instance != newInst || r.Seq < seq+3 {
			return fmt.Errorf("registry at %s seq %d", r.Instance, r.Seq)
		}
		return nil
	})
	close(stop)
	<-watched
	err := cl.Events(ctx, client.EventQuery{Host: h.Name, Since: time.Hour}, func(e messages.Event) error {
		if e.Source == "controller" && e.Type == messages.EventHostOffline && time.UnixMilli(e.Time).After(registered) {
			t.Errorf("host announced offline after its new agent registered: %s", e.Message)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range seen {
		if !strings.Contains(s, " "+messages.StateOnline+" ") {
			t.Errorf("while the new agent was connected, host list said %s", s)
		}
	}
	var evs []messages.Event
	eventually(t, 30*time.Second, 200*time.Millisecond, func() error {
		evs = agentEventsOf(t, cl, h.Name)
		if len(evs) < 3 {
			return fmt.Errorf("events so far: %v", evs)
		}
		return nil
	})
	want := []string{messages.EventAgentStarted + " " + firstInst, messages.EventAgentStopping + " " + firstInst, messages.EventAgentStarted + " " + newInst}
	var got []string
	for _, e := range evs {
		got = append(got, e.Type+" "+e.Instance)
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("agent events %v, want %v", got, want)
	}
}

func runCmd(t *testing.T, name string, args ...string) {
	t.Helper()
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		t.Fatalf("%s %v: %v: %s", name, args, err, out)
	}
}

// agentPort is the client port of host's agent connection, as the
// controller sees it.
func agentPort(t *testing.T, f *fleet, host string) int {
	t.Helper()
	cz, err := f.c.Server().Connz(&server.ConnzOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range cz.Conns {
		if c.Name == "foundry-agent:"+host {
			return c.Port
		}
	}
	t.Fatalf("no connection of %s's agent", host)
	return 0
}

// holdPort drops every packet the host sends from port (one TCP
// connection) at its bridge port, until releasePort.
func holdPort(t *testing.T, h harness.Host, port int) {
	t.Helper()
	dev := fmt.Sprintf("fe-v%d", h.Index)
	runCmd(t, "tc", "qdisc", "add", "dev", dev, "ingress")
	t.Cleanup(func() { _ = exec.Command("tc", "qdisc", "del", "dev", dev, "ingress").Run() })
	runCmd(t, "tc", "filter", "add", "dev", dev, "parent", "ffff:", "protocol", "ip", "u32",
		"match", "ip", "protocol", "6", "0xff", "match", "ip", "sport", fmt.Sprint(port), "0xffff", "action", "drop")
}

func releasePort(t *testing.T, h harness.Host) {
	t.Helper()
	runCmd(t, "tc", "qdisc", "del", "dev", fmt.Sprintf("fe-v%d", h.Index), "ingress")
}

// agentEventsOf is the host's agent events of the last hour, in stream
// order.
func agentEventsOf(t *testing.T, cl *client.Client, host string) []messages.Event {
	t.Helper()
	var out []messages.Event
	err := cl.Events(context.Background(), client.EventQuery{Host: host, Since: time.Hour}, func(e messages.Event) error {
		if e.Source == "agent" {
			out = append(out, e)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("read events: %v", err)
	}
	return out
}
