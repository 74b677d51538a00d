package agent

import (
	"context"
	"encoding/json"
	"math/rand/v2"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

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
