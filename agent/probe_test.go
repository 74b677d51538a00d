package agent_test

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// blackhole forwards TCP connections to upstream until freeze; from then
// on the connections it already holds drop every byte both ways and stay
// open, like a peer that lost power or a partition with no RST. New
// connections are forwarded normally.
type blackhole struct {
	l        net.Listener
	upstream string
	accepted atomic.Int32
	mu       sync.Mutex
	frozen   []*atomic.Bool
	conns    []net.Conn
}

func newBlackhole(t *testing.T, upstream string) *blackhole {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	b := &blackhole{l: l, upstream: upstream}
	t.Cleanup(func() {
		l.Close()
		b.mu.Lock()
		defer b.mu.Unlock()
		for _, c := range b.conns {
			c.Close()
		}
	})
	go b.serve()
	return b
}

func (b *blackhole) url() string { return "nats://" + b.l.Addr().String() }

func (b *blackhole) serve() {
	for {
		down, err := b.l.Accept()
		if err != nil {
			return
		}
		up, err := net.Dial("tcp", b.upstream)
		if err != nil {
			down.Close()
			continue
		}
		frozen := new(atomic.Bool)
		b.mu.Lock()
		b.frozen = append(b.frozen, frozen)
		b.conns = append(b.conns, down, up)
		b.mu.Unlock()
		b.accepted.Add(1)
		go pipe(up, down, frozen)
		go pipe(down, up, frozen)
	}
}

func pipe(dst io.Writer, src io.Reader, frozen *atomic.Bool) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		if frozen.Load() {
			continue
		}
		if _, err := dst.Write(buf[:n]); err != nil {
			return
		}
	}
}

func (b *blackhole) freeze() {
	b.mu.Lock()
	defer b.mu.Unlock()
	for _, f := range b.frozen {
		f.Store(true)
	}
}

// An agent whose connection goes silent without closing notices through
// its heartbeats' pings and reconnects within a few heartbeats, long
// before nats.go's own ping (minutes) would.
func TestAgentReconnectsWhenTheServerStopsAnswering(t *testing.T) {
	srv := ct.StartNATS(t, func(o *server.Options) { o.AlwaysEnableNonce = true })
	hole := newBlackhole(t, srv.Addr().String())
	cfg, _ := plainAgent(t, "silent-1", hole.url())
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

	hole.freeze()
	start := time.Now()
	deadline := start.Add(20 * time.Second)
	ct.CheckFor(t, time.Until(deadline), 20*time.Millisecond, func() error {
		if hole.accepted.Load() < 2 {
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
