package agent_test

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestHeartbeatsCarryTheAgentsCounters: what the agent ran, refused and
// fetched reaches the controller in its heartbeats, which is how the
// controller's metrics cover the fleet without a port on every host; an
// agent that did nothing yet sends no counters at all.
func TestHeartbeatsCarryTheAgentsCounters(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	cfg, signer := plainAgent(t, "web-1", srv.ClientURL())
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	var mu sync.Mutex
	var first, last *messages.Heartbeat
	sub, err := nc.Subscribe(messages.HeartbeatWildcard, func(m *nats.Msg) {
		hb, err := messages.DecodeHeartbeat(m.Data)
		if err != nil {
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			first = &hb
		}
		last = &hb
	})
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Unsubscribe()
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	a := ct.RunAgent(t, cfg)

	// The register heartbeat comes once the agent listens for commands.
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		if first == nil {
			return fmt.Errorf("no heartbeat yet")
		}
		return nil
	})
	mu.Lock()
	if first.Counters != nil {
		t.Errorf("the first heartbeat, before any command, has counters: %+v", first.Counters)
	}
	mu.Unlock()
	subj, _ := messages.CommandSubject("web-1")
	if r := request(t, nc, subj, []byte("garbage")); r.Error == nil || r.Error.Code != messages.CodeBadRequest {
		t.Fatalf("garbage: %+v", r.Error)
	}
	env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"web-1"}, nil)
	signer.Sign(env)
	b, _ := json.Marshal(env)
	if r := request(t, nc, subj, b); r.Error != nil {
		t.Fatalf("status: %v", r.Error)
	}
	env, _ = messages.NewEnvelope(time.Now(), time.Minute, "controller", "reformat-disk", []string{"web-1"}, nil)
	signer.Sign(env)
	b, _ = json.Marshal(env)
	if r := request(t, nc, subj, b); r.Error == nil || r.Error.Code != messages.CodeUnknownVerb {
		t.Fatalf("unknown verb: %+v", r.Error)
	}

	// An artifact fetch connection that receives 64 KiB.
	fetch, err := a.Agent.DialFetch(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	chunks, err := fetch.SubscribeSync("test.chunks")
	if err != nil {
		t.Fatal(err)
	}
	if err := fetch.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := nc.Publish("test.chunks", make([]byte, 64<<10)); err != nil {
		t.Fatal(err)
	}
	if _, err := chunks.NextMsg(5 * time.Second); err != nil {
		t.Fatal(err)
	}
	fetch.Close()

	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		mu.Lock()
		defer mu.Unlock()
		c := last.Counters
		switch {
		case c == nil:
			return fmt.Errorf("no counters in the last heartbeat")
		case c.CommandsSucceeded != 1 || c.CommandsFailed != 0:
			return fmt.Errorf("commands run: %d succeeded, %d failed; want 1 and 0", c.CommandsSucceeded, c.CommandsFailed)
		case c.CommandsRefused[messages.CodeBadRequest] != 1 || c.CommandsRefused[messages.CodeUnknownVerb] != 1:
			return fmt.Errorf("commands refused: %v", c.CommandsRefused)
		case c.ArtifactBytes < 64<<10:
			return fmt.Errorf("artifact bytes %d, want at least %d", c.ArtifactBytes, 64<<10)
		}
		return nil
	})
}
