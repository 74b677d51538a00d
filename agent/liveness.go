package agent

import (
	"context"
	"encoding/json"
	"errors"
	"math/rand/v2"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

const (
	// maxMissedPongs heartbeats in a row without the server's PONG and
	// the agent drops the connection and reconnects, to another
	// controller in a cluster.
	maxMissedPongs = 2
	// pingBackstop is nats.go's own ping interval. Any PONG resets its
	// count, so while heartbeats are answered it never fires; it is there
	// for a connection with heartbeats stopped.
	pingBackstop = 5 * time.Minute
)

// pongWait is how long a heartbeat's ping waits for its PONG: the
// heartbeat interval, kept between 1 s (a loaded server or a test's
// 100 ms heartbeat must not look dead) and 10 s.
func pongWait(heartbeat time.Duration) time.Duration {
	return min(max(heartbeat, time.Second), 10*time.Second)
}

// probe makes the heartbeat just sent a ping: it waits for the server's
// PONG in the background and reconnects after maxMissedPongs heartbeats
// in a row without one. So the agent notices a connection that died
// without closing (a controller host that lost power, a partition) within
// a few heartbeats, and pings cost one round trip per heartbeat, which
// the liveness policy already spaces out with fleet size, instead of one
// per fixed interval per host. One probe runs at a time.
func (a *Agent) probe(nc *nats.Conn) {
	if !a.probing.CompareAndSwap(false, true) {
		return
	}
	wait := pongWait(a.heartbeatInterval())
	go func() {
		defer a.probing.Store(false)
		err := nc.FlushTimeout(wait)
		switch {
		case err == nil:
			a.missed.Store(0)
		case errors.Is(err, nats.ErrTimeout) && nc.IsConnected():
			if a.missed.Add(1) < maxMissedPongs {
				return
			}
			a.missed.Store(0)
			a.logger.Warn("controller stopped answering pings; reconnecting", "url", nc.ConnectedUrl(), "missed", maxMissedPongs, "wait", wait)
			if err := nc.ForceReconnect(); err != nil {
				a.logger.Warn("reconnect not started", "err", err)
			}
		}
	}()
}

// heartbeatInterval is the current interval: the config's until the
// controller sends a liveness command.
func (a *Agent) heartbeatInterval() time.Duration { return time.Duration(a.interval.Load()) }

// handleLiveness adopts the controller's heartbeat interval and reconnect
// spread. The next heartbeat already uses the new interval.
func (a *Agent) handleLiveness(_ context.Context, env *messages.Envelope) (any, error) {
	var l messages.Liveness
	if err := json.Unmarshal(env.Payload, &l); err != nil {
		return nil, &messages.Error{Code: messages.CodeBadRequest, Message: "liveness payload is not valid: " + err.Error()}
	}
	if err := l.Validate(); err != nil {
		return nil, err
	}
	a.interval.Store(int64(time.Duration(l.HeartbeatMs) * time.Millisecond))
	a.spread.Store(int64(time.Duration(l.ReconnectSpreadMs) * time.Millisecond))
	a.logger.Info("liveness updated", "heartbeat", time.Duration(l.HeartbeatMs)*time.Millisecond,
		"reconnect_spread", time.Duration(l.ReconnectSpreadMs)*time.Millisecond)
	return l, nil
}

// firstSpread delays only the first reconnect attempt by a random share of
// spread, so after a controller restart a large fleet comes back over
// spread rather than in the same second; later attempts use the normal
// backoff alone.
func firstSpread(attempt int, spread time.Duration) time.Duration {
	if attempt > 1 || spread <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(spread)))
}
