package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

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
// and restarts its agent (systemctl) inside the cut. Afterwards every
// agent event is in the stream once and in order, and from the moment
// the new agent process registered the host is never shown anything but
// online, although the old process's last words reach the controller only
// when its kernel's retransmission gets through, long after the heal.
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
				newInst = r.Instance
			}
			if newInst != "" {
				seen = append(seen, time.Now().Format("15:04:05.0")+" "+r.State+" "+r.Instance)
			}
			mu.Unlock()
		}
	}()

	clients := f.c.Server().NumClients()
	cutAt := time.Now()
	link(t, h, "down")
	// Restarted before its pings tell it the connection is dead: its
	// agent_stopping and goodbye go into the dead connection.
	inside(t, h, "sleep 1; systemctl restart foundry-agent")
	time.Sleep(time.Until(cutAt.Add(60 * time.Second))) // the scenario: a 60 s cut
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
	// The old connection's bytes arrive when the old socket's
	// retransmission gets through (53 s late in the field), and then the
	// server closes it; keep watching until then, or for 150 s.
	for time.Since(healed) < 150*time.Second && f.c.Server().NumClients() >= clients+1 {
		time.Sleep(time.Second)
	}
	close(stop)
	<-watched
	t.Logf("old connection closed: %v, %s after the heal", f.c.Server().NumClients() < clients+1, time.Since(healed).Round(time.Second))
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
