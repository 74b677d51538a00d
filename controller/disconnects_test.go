package controller_test

import (
	"context"
	"fmt"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestMain(m *testing.M) {
	ct.RunAgentProcessIfAsked()
	os.Exit(m.Run())
}

// TestKilledAgentIsDisconnectedAtOnce kills a real agent process and
// expects the registry to say "disconnected" within a second, with a
// host_disconnected event, where before it said "online" for three
// heartbeat intervals and recorded nothing. Connections of the same
// identity that close while the command connection stays (an artifact
// fetch connection, a reconnect overlap) must not mark the host, and a
// restarted agent brings it back online.
func TestKilledAgentIsDisconnectedAtOnce(t *testing.T) {
	// Heartbeats every 10 s: stale would take 30 s, so only the
	// disconnect can explain a state change within the test's bounds.
	c := ct.StartController(t, func(o *controller.Options) { o.HeartbeatBase = 10 * time.Second })
	cl := ct.Client(t, c)
	dir := t.TempDir()
	cfg := ct.EnrollConfig(t, cl, c, "victim", dir)
	cfg.Heartbeat = 10 * time.Second
	proc := ct.StartAgentProcess(t, cfg, dir)
	ct.WaitOnline(t, cl, 1)

	// Same identity, other connections: an artifact fetch connection and
	// a second command connection (as when an agent reconnects before the
	// server noticed its old socket died). Both close; the agent's own
	// connection stays, so the host stays online.
	for _, name := range []string{messages.AgentFetchConnName("victim"), "foundry-agent:victim"} {
		nc := agentConn(t, c, cfg, name)
		if name == "foundry-agent:victim" {
			subj, _ := messages.CommandSubject("victim")
			if _, err := nc.SubscribeSync(subj); err != nil {
				t.Fatal(err)
			}
			if err := nc.Flush(); err != nil {
				t.Fatal(err)
			}
		}
		nc.Close()
	}
	// A wrong mark would come within the watch's settling time (2 s).
	for end := time.Now().Add(2500 * time.Millisecond); time.Now().Before(end); time.Sleep(50 * time.Millisecond) {
		if err := hostState(cl, "victim", messages.StateOnline); err != nil {
			t.Fatalf("after other connections of the identity closed: %v", err)
		}
	}

	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ct.CheckFor(t, time.Second, 10*time.Millisecond, func() error { return hostState(cl, "victim", messages.StateDisconnected) })
	t.Logf("disconnected %s after SIGKILL", time.Since(killed).Round(time.Millisecond))

	// One event for one disconnect.
	ct.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		n, err := countEvents(cl, "victim", messages.EventHostDisconnected)
		if err == nil && n != 1 {
			err = fmt.Errorf("%d host_disconnected events, want 1", n)
		}
		return err
	})

	// The agent comes back: online again, without waiting for anything.
	ct.StartAgentProcess(t, cfg, dir)
	ct.CheckFor(t, 10*time.Second, 10*time.Millisecond, func() error { return hostState(cl, "victim", messages.StateOnline) })
}

// agentConn connects to c as cfg's agent under the connection name name.
func agentConn(t *testing.T, c *controller.Controller, cfg agent.Config, name string) *nats.Conn {
	t.Helper()
	opt, err := nats.NkeyOptionFromSeed(cfg.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	nc, err := nats.Connect(c.URLs()[0], opt, nats.Name(name), nats.RootCAs(cfg.CAFile))
	if err != nil {
		t.Fatalf("connect as %s: %v", name, err)
	}
	t.Cleanup(nc.Close)
	return nc
}

func hostState(cl *client.Client, host, want string) error {
	hl, err := cl.HostList(context.Background())
	if err != nil {
		return err
	}
	for _, h := range hl.Hosts {
		if h.ID == host {
			if h.State != want {
				return fmt.Errorf("%s is %s, want %s", host, h.State, want)
			}
			return nil
		}
	}
	return fmt.Errorf("%s not listed", host)
}

func countEvents(cl *client.Client, host, typ string) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	n := 0
	err := cl.Events(ctx, client.EventQuery{Host: host, Type: typ, Since: time.Hour}, func(messages.Event) error {
		n++
		return nil
	})
	return n, err
}

// TestDisconnectSeenAcrossTheCluster kills an agent process connected to
// one controller of two and expects the other controller, which never had
// the connection, to list the host as disconnected within a second too:
// the server's advisory crosses the route.
func TestDisconnectSeenAcrossTheCluster(t *testing.T) {
	ctls := ct.StartCluster(t, 2)
	a, b := ctls[0], ctls[1]
	clA, clB := ct.Client(t, a), ct.Client(t, b)
	dir := t.TempDir()
	cfg := ct.EnrollConfig(t, clA, a, "roamer", dir)
	cfg.URLs = b.URLs() // its connection is on b only
	cfg.Heartbeat = 10 * time.Second
	proc := ct.StartAgentProcess(t, cfg, dir)
	for _, cl := range []*client.Client{clA, clB} {
		ct.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error { return hostState(cl, "roamer", messages.StateOnline) })
	}
	if err := proc.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	killed := time.Now()
	ct.CheckFor(t, time.Second, 10*time.Millisecond, func() error { return hostState(clA, "roamer", messages.StateDisconnected) })
	t.Logf("the other controller had roamer disconnected %s after SIGKILL", time.Since(killed).Round(time.Millisecond))
	ct.CheckFor(t, time.Second, 10*time.Millisecond, func() error { return hostState(clB, "roamer", messages.StateDisconnected) })
	ct.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		n, err := countEvents(clA, "roamer", messages.EventHostDisconnected)
		if err == nil && n != 1 {
			err = fmt.Errorf("%d host_disconnected events, want 1 (announced by the leader only)", n)
		}
		return err
	})
}
