package controller_test

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// behindPartition enrolls host id and returns its config pointed at the
// controller through a proxy that can cut the network silently.
func behindPartition(t *testing.T, c *controller.Controller, cl *client.Client, id string) (agent.Config, *ct.Partition) {
	t.Helper()
	u, err := url.Parse(c.URLs()[0])
	if err != nil {
		t.Fatal(err)
	}
	p := ct.StartPartition(t, u.Host)
	cfg := ct.EnrollConfig(t, cl, c, id, t.TempDir())
	cfg.URLs = []string{p.URL(c.URLs()[0])}
	return cfg, p
}

// agentEvents reads host's events from the stream and keeps those the
// agent published, in stream order.
func agentEvents(t *testing.T, cl *client.Client, host string) []messages.Event {
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

func describe(evs []messages.Event) string {
	var b strings.Builder
	for _, e := range evs {
		fmt.Fprintf(&b, "\n  %s %s seq %d at %s", e.Type, e.Instance, e.Seq, time.UnixMilli(e.Time).Format("15:04:05.000"))
	}
	return b.String()
}

// hostView polls host list until stopped and records every state it
// showed for host.
type hostView struct {
	mu     sync.Mutex
	states map[string]int
	stop   chan struct{}
	done   chan struct{}
}

func watchHost(t *testing.T, cl *client.Client, host string) *hostView {
	v := &hostView{states: map[string]int{}, stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(v.done)
		for {
			select {
			case <-v.stop:
				return
			case <-time.After(10 * time.Millisecond):
			}
			hl, err := cl.HostList(context.Background())
			if err != nil {
				continue
			}
			for _, h := range hl.Hosts {
				if h.ID == host {
					v.mu.Lock()
					v.states[h.State]++
					v.mu.Unlock()
				}
			}
		}
	}()
	t.Cleanup(v.end)
	return v
}

func (v *hostView) end() {
	select {
	case <-v.stop:
	default:
		close(v.stop)
	}
	<-v.done
}

// An agent restarted during a silent partition: the old process's
// agent_stopping and goodbye sit in its dead connection and reach the
// server only after the new process registered (53 s late in the field),
// and the new process starts while the network is still cut. Afterwards
// every event is in the stream once and in the order it was said, and the
// host never shows offline while its new agent is connected.
//
// Twice: stopped while the agent still thought it was connected (its last
// words are held in the dead connection), and once it knew it was cut
// off (they were lost with nats.go's reconnect buffer).
func TestAgentRestartedDuringPartitionTellsEverythingOnceInOrder(t *testing.T) {
	for _, knew := range []bool{false, true} {
		t.Run(fmt.Sprintf("knew_it_was_cut_off=%v", knew), func(t *testing.T) { restartInsidePartition(t, knew) })
	}
}

func restartInsidePartition(t *testing.T, knew bool) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg, cut := behindPartition(t, c, cl, "cut-1")
	state := t.TempDir()
	first := ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	ct.WaitOnline(t, cl, 1)
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if evs := agentEvents(t, cl, "cut-1"); len(evs) != 1 {
			return fmt.Errorf("want agent_started, have %s", describe(evs))
		}
		return nil
	})

	cut.Cut()
	if knew { // its pings went unanswered and it is trying to reconnect
		before := cut.Accepted()
		ct.CheckFor(t, 20*time.Second, 20*time.Millisecond, func() error {
			if cut.Accepted() == before {
				return fmt.Errorf("the agent has not noticed the cut yet")
			}
			return nil
		})
	}
	if err := first.Stop(); err != nil { // its goodbye goes into the dead connection, or nowhere
		t.Fatal(err)
	}
	before := cut.Accepted()
	second := ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if cut.Accepted() == before {
			return fmt.Errorf("the new agent has not tried to connect yet")
		}
		return nil
	})
	cut.Heal() // new connections go through; the old one stays silent
	ct.CheckFor(t, 30*time.Second, 20*time.Millisecond, func() error {
		h, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		if len(h.Hosts) != 1 || h.Hosts[0].Instance != second.Agent.Instance() || h.Hosts[0].State != messages.StateOnline {
			return fmt.Errorf("new agent not registered yet: %+v", h.Hosts)
		}
		return nil
	})
	registered := time.Now()
	view := watchHost(t, cl, "cut-1")

	// Now the old process's last words arrive, and its connection closes.
	hbs, err := c.InternalConn().SubscribeSync("foundry.hb.cut-1")
	if err != nil {
		t.Fatal(err)
	}
	cut.Release()
	lateGoodbye, after := false, 0
	// Bounded: when the old process's goodbye never left it (timing: its
	// write can die with nats.go's buffer), heartbeats keep coming and
	// nothing else would end the loop; the checks below hold either way.
	deadline := time.Now().Add(40 * time.Second)
	for after < 3 && time.Now().Before(deadline) { // the registry has had three heartbeats' time for it
		m, err := hbs.NextMsg(10 * time.Second)
		if err != nil {
			t.Fatalf("late goodbye seen: %v, heartbeats after it: %d: %v", lateGoodbye, after, err)
		}
		hb, err := messages.DecodeHeartbeat(m.Data)
		switch {
		case err != nil:
			t.Fatal(err)
		case hb.Kind == messages.KindGoodbye && hb.Instance == first.Agent.Instance():
			lateGoodbye = true
		case (lateGoodbye || knew) && hb.Instance == second.Agent.Instance():
			after++
		}
	}
	if after < 3 {
		t.Logf("after 40 s: late goodbye seen %v, %d heartbeats of the new agent after it; going on with the checks", lateGoodbye, after)
	}
	view.end()
	if view.states[messages.StateOnline] == 0 || len(view.states) != 1 {
		t.Errorf("host list showed the new agent's host as %v", view.states)
	}
	var hostEvents []messages.Event
	_ = cl.Events(context.Background(), client.EventQuery{Host: "cut-1", Since: time.Hour}, func(e messages.Event) error {
		hostEvents = append(hostEvents, e)
		return nil
	})
	for _, e := range hostEvents {
		if e.Source == "controller" && e.Type == messages.EventHostOffline && time.UnixMilli(e.Time).After(registered) {
			t.Errorf("host announced offline after its new agent registered: %s", e.Message)
		}
	}

	var evs []messages.Event
	ct.CheckFor(t, 15*time.Second, 50*time.Millisecond, func() error {
		evs = agentEvents(t, cl, "cut-1")
		if len(evs) < 3 {
			return fmt.Errorf("events so far: %s", describe(evs))
		}
		return nil
	})
	want := []struct{ typ, inst string }{
		{messages.EventAgentStarted, first.Agent.Instance()},
		{messages.EventAgentStopping, first.Agent.Instance()},
		{messages.EventAgentStarted, second.Agent.Instance()},
	}
	if len(evs) != len(want) {
		t.Fatalf("want agent_started, agent_stopping, agent_started once each, got %s", describe(evs))
	}
	for i, w := range want {
		if evs[i].Type != w.typ || evs[i].Instance != w.inst {
			t.Fatalf("event %d is %s from %q, want %s from %q; all: %s", i, evs[i].Type, evs[i].Instance, w.typ, w.inst, describe(evs))
		}
	}
}

// A job step sent while the host's connection is silently dead is sent
// again when the host registers on a new connection before the step's
// deadline, and records ok (it used to be not_reached although the host
// was back for the step's last seconds).
func TestJobStepIsSentAgainToAHostThatComesBack(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg, cut := behindPartition(t, c, cl, "back-1")
	ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: t.TempDir()})
	ct.WaitOnline(t, cl, 1)

	// The server still holds the host's subscription: the step goes into
	// the dead connection and nothing answers "no responders".
	cut.Cut()
	j, err := cl.RunJob(context.Background(), messages.JobRunRequest{Verb: messages.VerbStatus, Hosts: []string{"back-1"}, TimeoutMs: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	cut.Heal() // the agent's pings go unanswered; it reconnects and registers
	j = waitJob(t, cl, j.ID)
	if st := states(j); j.State != messages.JobSucceeded || st["back-1"] != messages.HostOK {
		t.Fatalf("job %s: %v (%s)", j.State, st, j.Hosts[0].Error)
	}
	if took := time.UnixMilli(j.Finished).Sub(time.UnixMilli(j.Created)); took > 15*time.Second {
		t.Errorf("job took %s: the step waited for its timeout", took)
	}
}
