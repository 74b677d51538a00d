package controller_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"slices"
	"sort"
	"sync/atomic"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
	"github.com/nats-io/nats-server/v2/server"
)

// TestFiftyAgents is the foundation's acceptance test: a controller and 50
// agents in one process, registry, fan-out accounting, early return on
// dead hosts, and refusal of forged, expired and replayed commands.
func TestFiftyAgents(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ctx := context.Background()
	agents := ct.StartAgents(t, c, cl, "node", 50)

	ct.CheckFor(t, 20*time.Second, 50*time.Millisecond, func() error {
		hl, err := cl.HostList(ctx)
		if err != nil {
			return err
		}
		online := 0
		for _, h := range hl.Hosts {
			if h.State == messages.StateOnline {
				online++
			}
		}
		if online != 50 {
			seen := map[string]string{}
			for _, h := range hl.Hosts {
				seen[h.ID] = h.State
			}
			var absent []string
			for _, a := range agents {
				if seen[a.ID] != messages.StateOnline {
					cz, _ := c.Server().Connz(&server.ConnzOptions{Limit: 1000, Subscriptions: true})
					conn := "no connection"
					for _, ci := range cz.Conns {
						if ci.Name == "foundry-agent:"+a.ID {
							conn = fmt.Sprintf("conn user=%s subs=%v in_msgs=%d", ci.AuthorizedUser, ci.Subs, ci.InMsgs)
						}
					}
					absent = append(absent, a.ID+"="+seen[a.ID]+" "+conn)
				}
			}
			return fmt.Errorf("%d of %d hosts online; not online: %v", online, len(hl.Hosts), absent)
		}
		return nil
	})

	res, err := cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	if res.Expected != 50 || len(res.Responded) != 50 || len(res.Missing) != 0 || res.TimedOut {
		t.Fatalf("status: expected=%d responded=%d missing=%v timedOut=%v", res.Expected, len(res.Responded), res.Missing, res.TimedOut)
	}
	for _, r := range res.Responded {
		if r.Error != nil || r.Status == nil || r.Status.Hostname != r.Host {
			t.Fatalf("bad reply from %s: %+v", r.Host, r)
		}
	}

	// Kill three agents the way a crash would: no goodbye.
	before := c.Server().NumClients()
	killed := []string{agents[4].ID, agents[17].ID, agents[41].ID}
	for _, i := range []int{4, 17, 41} {
		if err := agents[i].Kill(); err != nil {
			t.Fatal(err)
		}
	}
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := c.Server().NumClients(); n != before-3 {
			return fmt.Errorf("server still has %d clients, want %d", n, before-3)
		}
		return nil
	})
	// The killed hosts are still online by heartbeat age, so they are
	// expected; the fan-out must name them and return long before 20s.
	start := time.Now()
	res, err = cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 20_000})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); res.TimedOut || took > 10*time.Second {
		t.Fatalf("status waited for the timeout (%s, timedOut=%v)", took, res.TimedOut)
	}
	var missing []string
	for _, m := range res.Missing {
		missing = append(missing, m.Host)
		if m.Reason != messages.ReasonNotConnected {
			t.Errorf("%s missing for %q, want %q", m.Host, m.Reason, messages.ReasonNotConnected)
		}
	}
	sort.Strings(missing)
	sort.Strings(killed)
	if !slices.Equal(missing, killed) || len(res.Responded) != 47 || res.Expected != 50 {
		t.Fatalf("missing=%v want %v; responded=%d expected=%d", missing, killed, len(res.Responded), res.Expected)
	}

	// The summary asks for brief replies: the same accounting, no status.
	res, err = cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 20_000, Summary: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Responded) != 47 || len(res.Missing) != 3 || res.TimedOut {
		t.Fatalf("summary: responded=%d missing=%v timedOut=%v", len(res.Responded), res.Missing, res.TimedOut)
	}
	for _, r := range res.Responded {
		if r.Error != nil || r.Status != nil {
			t.Fatalf("summary reply from %s: %+v", r.Host, r)
		}
	}
	// A selection is sent per host: one killed, one alive.
	res, err = cl.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 20_000, Hosts: []string{killed[0], agents[0].ID}})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Responded) != 1 || res.Responded[0].Host != agents[0].ID || res.Responded[0].Status == nil ||
		len(res.Missing) != 1 || res.Missing[0].Reason != messages.ReasonNotConnected {
		t.Fatalf("named hosts: responded=%+v missing=%v", res.Responded, res.Missing)
	}

	t.Run("refuses forged, expired and replayed commands", func(t *testing.T) {
		target := agents[0].ID
		nc := c.InternalConn()
		send := func(env *messages.Envelope) messages.Reply {
			t.Helper()
			b, _ := json.Marshal(env)
			subj, _ := messages.CommandSubject(target)
			m, err := nc.Request(subj, b, 5*time.Second)
			if err != nil {
				t.Fatalf("request: %v", err)
			}
			r, err := messages.DecodeReply(m.Data)
			if err != nil {
				t.Fatal(err)
			}
			return r
		}
		_, rogue, _ := ed25519.GenerateKey(rand.Reader)
		forged, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{target}, nil)
		messages.NewSigner(rogue).Sign(forged)

		expired, _ := messages.NewEnvelope(time.Now().Add(-2*time.Minute), time.Minute, "controller", messages.VerbStatus, []string{target}, nil)
		c.Signer().Sign(expired)

		valid, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{target}, nil)
		c.Signer().Sign(valid)
		if r := send(valid); r.Error != nil || len(r.Payload) == 0 {
			t.Fatalf("valid command refused: %+v", r.Error)
		}
		for _, tc := range []struct {
			name string
			env  *messages.Envelope
			code string
		}{
			{"forged", forged, messages.CodeUnknownKey},
			{"expired", expired, messages.CodeExpired},
			{"replayed", valid, messages.CodeReplayed},
		} {
			r := send(tc.env)
			if r.Error == nil || r.Error.Code != tc.code || len(r.Payload) != 0 {
				t.Errorf("%s: got error %+v payload %d bytes, want code %s and no payload", tc.name, r.Error, len(r.Payload), tc.code)
			}
		}
		// Each refusal leaves an event in the stream.
		ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
			codes := map[string]bool{}
			err := cl.Events(ctx, client.EventQuery{Host: target, Type: messages.EventCmdRefused, Since: time.Hour},
				func(ev messages.Event) error { codes[ev.Fields["code"]] = true; return nil })
			if err != nil {
				return err
			}
			for _, c := range []string{messages.CodeUnknownKey, messages.CodeExpired, messages.CodeReplayed} {
				if !codes[c] {
					return fmt.Errorf("no cmd_refused event with code %s yet (have %v)", c, codes)
				}
			}
			return nil
		})
	})
}

// TestReplayedStepIsNeverRunTwice: a command delivered twice runs once;
// the second delivery is refused as a replay and carries the first
// outcome, which is what lets a job re-send a step safely.
func TestReplayedStepIsNeverRunTwice(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "once-1", t.TempDir())
	// Heartbeats read facts with context.Background (no Done channel); the
	// status handler reads them with the agent's run context. Count only
	// the handler's calls.
	var calls atomic.Int32
	ct.RunAgentWith(t, cfg, ct.AgentOptions{Facts: func(ctx context.Context) messages.Facts {
		if ctx.Done() != nil {
			calls.Add(1)
		}
		return ct.Facts("once-1")(ctx)
	}})
	ct.WaitOnline(t, cl, 1)
	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"once-1"}, nil)
	env.Operator, env.Role = "admin", messages.RoleAdmin
	c.Signer().Sign(env)
	b, _ := json.Marshal(env)
	subj, _ := messages.CommandSubject("once-1")
	send := func() messages.Reply {
		m, err := c.InternalConn().Request(subj, b, 5*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		r, err := messages.DecodeReply(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	first := send()
	n := calls.Load()
	second := send()
	if first.Error != nil || second.Error == nil || second.Error.Code != messages.CodeReplayed {
		t.Fatalf("first %+v, second %+v", first.Error, second.Error)
	}
	if second.Previous == nil || string(second.Previous.Payload) != string(first.Payload) {
		t.Fatalf("replay does not carry the first outcome: %+v", second.Previous)
	}
	if n != 1 || calls.Load() != n {
		t.Fatalf("the status handler ran %d times, then %d", n, calls.Load())
	}
}
