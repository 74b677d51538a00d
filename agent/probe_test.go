package agent_test

import (
	"errors"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// An agent whose connection goes silent without closing notices through
// its heartbeats' pings and reconnects within a few heartbeats, long
// before nats.go's own ping (minutes) would.
func TestAgentReconnectsWhenTheServerStopsAnswering(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	hole := ct.StartPartition(t, srv.Addr().String())
	cfg, _ := plainAgent(t, "silent-1", "nats://"+hole.Addr())
	ct.RunAgent(t, cfg)

	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	hbs, err := nc.SubscribeSync(messages.HeartbeatWildcard)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := hbs.NextMsg(10 * time.Second); err != nil {
		t.Fatalf("no heartbeat through the proxy: %v", err)
	}

	// The connection the agent has goes silent; new ones go through.
	hole.Cut()
	hole.Heal()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	ct.CheckFor(t, time.Until(deadline), 20*time.Millisecond, func() error {
		if hole.Accepted() < 2 {
			return errors.New("agent still on the silent connection")
		}
		return nil
	})
	t.Logf("reconnected %s after the connection went silent", time.Since(start).Round(time.Millisecond))
	// Heartbeats flow again, over the new connection: the silent one
	// drops everything sent after the freeze.
	back := time.Now()
	for {
		m, err := hbs.NextMsg(time.Until(deadline))
		if err != nil {
			t.Fatalf("no heartbeat after the reconnect: %v", err)
		}
		hb, err := messages.DecodeHeartbeat(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		if hb.Time >= start.UnixMilli() {
			t.Logf("heartbeat %s after the reconnect", time.Since(back).Round(time.Millisecond))
			return
		}
	}
}
