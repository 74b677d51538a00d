package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"

	"github.com/foundry-fleet/foundry/messages"
)

// A disconnect is seen when the server sees it, not when heartbeats stop.
// Every nats-server publishes a client_disconnect advisory in its system
// account when a client connection closes, and system account subjects
// cross routes, so each controller hears the disconnects of every member
// of a cluster. The controller listens on a connection of its own in the
// system account (KindSystem, in-process, allowed to subscribe to these
// advisories and nothing else).
//
// An advisory names the connection that closed, not the host's state: an
// agent that reconnected before the server noticed its old socket was dead
// (the overlap the connection limit allows for), or an artifact fetch
// connection closing, leaves the host connected. So a host is marked
// disconnected only once no server of the cluster still holds a
// subscription on its command subject, the same interest that makes a
// command to it end at once with "no responders". The advisory can arrive
// before the closed connection's subscriptions are gone (locally they are
// removed after it is sent; over a route the unsubscribe may come later),
// so the check is repeated for up to disconnectSettle.
const (
	disconnectSubject = "$SYS.ACCOUNT." + server.DEFAULT_GLOBAL_ACCOUNT + ".DISCONNECT"
	disconnectSettle  = 2 * time.Second
	disconnectPoll    = 20 * time.Millisecond
)

// KindSystem is the controller's own connection in the NATS system
// account, which receives the servers' connection advisories.
const KindSystem = "system"

// systemPermissions let the system connection hear client disconnect
// advisories and do nothing else.
func systemPermissions() *server.Permissions {
	return &server.Permissions{
		Publish:   &server.SubjectPermission{Deny: []string{">"}},
		Subscribe: &server.SubjectPermission{Allow: []string{disconnectSubject}},
	}
}

// disconnectWatch turns advisories into registry state.
type disconnectWatch struct {
	// hostOf maps a closed connection's NKey and name to the host whose
	// command connection it was, or "" for anything else.
	hostOf func(nkey, name string) string
	// connected reports whether host's agent still holds its command
	// subscription anywhere in the cluster.
	connected func(host string) bool
	mark      func(host string, now time.Time)

	mu      sync.Mutex
	pending map[string]time.Time // host -> give up after
	wake    chan struct{}
}

func newDisconnectWatch(hostOf func(nkey, name string) string, connected func(string) bool, mark func(string, time.Time)) *disconnectWatch {
	return &disconnectWatch{hostOf: hostOf, connected: connected, mark: mark,
		pending: map[string]time.Time{}, wake: make(chan struct{}, 1)}
}

// advisory handles one client_disconnect advisory.
func (w *disconnectWatch) advisory(data []byte) {
	var ev server.DisconnectEventMsg
	if json.Unmarshal(data, &ev) != nil {
		return
	}
	host := w.hostOf(ev.Client.User, ev.Client.Name)
	if host == "" {
		return
	}
	w.mu.Lock()
	w.pending[host] = time.Now().Add(disconnectSettle)
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run checks the pending hosts until ctx ends.
func (w *disconnectWatch) run(ctx context.Context) {
	t := time.NewTicker(disconnectPoll)
	defer t.Stop()
	for {
		w.check(time.Now())
		w.mu.Lock()
		idle := len(w.pending) == 0
		w.mu.Unlock()
		if idle {
			select {
			case <-ctx.Done():
				return
			case <-w.wake:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// check marks the pending hosts that hold no command subscription any
// more, and forgets those still connected after disconnectSettle.
func (w *disconnectWatch) check(now time.Time) {
	w.mu.Lock()
	hosts := make(map[string]time.Time, len(w.pending))
	for h, until := range w.pending {
		hosts[h] = until
	}
	w.mu.Unlock()
	for h, until := range hosts {
		gone := !w.connected(h)
		if gone {
			w.mark(h, now)
		}
		if gone || now.After(until) {
			w.mu.Lock()
			if w.pending[h] == until { // not renewed by a newer advisory meanwhile
				delete(w.pending, h)
			}
			w.mu.Unlock()
		}
	}
}

// watchDisconnects opens the system account connection and starts the
// watch; it runs until runCtx ends.
func (c *Controller) watchDisconnects(runCtx context.Context) error {
	kp, err := nkeys.CreateUser()
	if err != nil {
		return err
	}
	pub, _ := kp.PublicKey()
	c.auth.set(Identity{PublicKey: pub, Kind: KindSystem, Name: "controller-system"})
	nc, err := nats.Connect("", nats.InProcessServer(c.srv), nats.Name("foundry-controller-system"),
		nats.Nkey(pub, kp.Sign), nats.MaxReconnects(-1))
	if err != nil {
		return fmt.Errorf("controller cannot open its system connection: %w", err)
	}
	w := newDisconnectWatch(c.commandConnHost, c.agentConnected, c.reg.markDisconnected)
	sub, err := nc.Subscribe(disconnectSubject, func(m *nats.Msg) { w.advisory(m.Data) })
	if err != nil {
		nc.Close()
		return fmt.Errorf("subscribe to disconnect advisories: %w", err)
	}
	_ = sub.SetPendingLimits(-1, -1)
	go func() {
		w.run(runCtx)
		nc.Close()
	}()
	return nil
}

// commandConnHost is the host whose command connection a closed
// connection was: an agent identity's connection not named as its
// artifact fetch connection.
func (c *Controller) commandConnHost(nkey, name string) string {
	id, ok := c.auth.get(nkey)
	if !ok || id.Kind != KindAgent || name == messages.AgentFetchConnName(id.Name) {
		return ""
	}
	return id.Name
}

// markUnconnectedAtStart runs once when a single controller starts. Its
// server is a new process, so no agent connection survived from the last
// one; but a controller that was killed (kill -9, a crash) sent no
// disconnects, and the registry it loads says online for every host that
// heartbeated in the last few intervals. Until those agents reconnect,
// host list would show them online while every command to them ends
// "not connected". A host whose agent does not hold its command
// subscription here yet is marked disconnected; its register heartbeat
// clears that. A cluster is left alone: there the agents may be
// connected to another member, and their interest may not have crossed
// the routes yet.
func (c *Controller) markUnconnectedAtStart(now time.Time) int {
	if c.plan != nil {
		return 0
	}
	seen := map[string]int64{}
	c.reg.scan(now, func(h *messages.HostRecord, state string) {
		if state == messages.StateOnline || state == messages.StateStale {
			seen[h.ID] = h.LastSeen
		}
	})
	n := 0
	for h, at := range seen {
		if !c.agentConnected(h) {
			c.reg.markDisconnectedUnlessSeen(h, at, now)
			n++
		}
	}
	if n > 0 {
		c.logger.Info("hosts not connected to this controller yet are disconnected until they register", "hosts", n)
	}
	return n
}
