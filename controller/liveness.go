package controller

import (
	"context"
	"math"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// Liveness scaling. The controller should see at most HeartbeatRate
// heartbeats per second and at most ReconnectRate new connections per
// second however large the fleet:
//
//	heartbeat(n)        = min(HeartbeatBase * max(1, ceil(n / (HeartbeatRate * HeartbeatBase))), HeartbeatMax)
//	reconnect_spread(n) = clamp(ceil(n / ReconnectRate) seconds, SpreadMin, SpreadMax)
//
// The interval moves in whole steps of HeartbeatBase, so a growing fleet
// changes it a few times, not at every new host.
//
// With the defaults (10 s base, 200/s, 1,000/s) a fleet of up to 2,000
// hosts heartbeats every 10 s; 10,000 hosts every 50 s, and after a
// controller restart they reconnect spread over 10 s. Each heartbeat is
// jittered by ±10% on the agent, and the stale/offline thresholds are
// multiples (3x, 10x) of each host's own advertised interval, so they
// grow with it.
//
// A longer interval is sent at once, because the controller's load grows
// with the fleet. A shorter one waits until the policy's interval has not
// grown for LivenessHold (5 minutes): while a large fleet is still coming
// up, or right after a controller restart, the online count is briefly
// small, and telling every agent to heartbeat faster then would bring the
// heartbeat storm the policy exists to prevent.
const (
	DefaultHeartbeatBase = 10 * time.Second
	DefaultHeartbeatRate = 200.0
	HeartbeatMax         = 2 * time.Minute
	ReconnectRate        = 1000.0
	SpreadMin            = 2 * time.Second
	SpreadMax            = time.Minute
	// livenessResend is how long the controller waits before telling the
	// same host again, so an agent that cannot apply it is not flooded.
	livenessResend = 30 * time.Second
	// DefaultLivenessHold is Options.LivenessHold's default.
	DefaultLivenessHold = 5 * time.Minute

	// ServerPingInterval is how long the server lets a client stay
	// silent before it pings it. An agent's heartbeat is its ping (it
	// waits for the server's PONG after each, agent/liveness.go), so a
	// healthy agent is never silent longer than HeartbeatMax plus its
	// 10% jitter, and nats-server skips the ping of a client it heard
	// from within the interval: the server pings only dead or wedged
	// clients. At 50,000 hosts the fixed 20 s ping both ways was 2,500
	// TLS round trips a second. Host liveness stays the heartbeat's job
	// (stale at 3, offline at 10 intervals); this interval only bounds
	// how long a connection that died silently holds its subscriptions:
	// 3 to 4 intervals (the first check finds it recently active, two
	// pings go unanswered, the next check drops it), 7.5 to 10 minutes.
	ServerPingInterval = HeartbeatMax + HeartbeatMax/4
	routePingInterval  = 20 * time.Second
)

// boundInterval caps a heartbeat's advertised interval at the longest the
// liveness policy ever asks for. The interval is the agent's word, and
// the stale and offline thresholds are multiples of it: uncapped, a
// stolen credential could keep a dead host "online" for as long as it
// liked with one heartbeat. An agent configured above the cap (its config
// allows up to 10 minutes) looks stale between heartbeats until the
// liveness command brings it down to the policy's interval.
func boundInterval(ms int64) int64 { return min(ms, HeartbeatMax.Milliseconds()) }

// Liveness is the interval and spread for a fleet of n hosts.
func Liveness(n int, base time.Duration, rate float64) messages.Liveness {
	steps := math.Ceil(float64(n) / (rate * base.Seconds()))
	hb := min(base*time.Duration(max(1, steps)), HeartbeatMax)
	spread := time.Duration(math.Ceil(float64(n)/ReconnectRate)) * time.Second
	spread = min(max(spread, SpreadMin), SpreadMax)
	return messages.Liveness{HeartbeatMs: hb.Milliseconds(), ReconnectSpreadMs: spread.Milliseconds()}
}

// enforceLiveness sends the liveness command to every online host whose
// advertised interval differs from the one the fleet size calls for. It
// runs with the sweep, from one goroutine.
func (c *Controller) enforceLiveness(now time.Time, online int) {
	want := Liveness(online, c.opts.HeartbeatBase, c.opts.HeartbeatRate)
	lower := c.livenessHist.settled(want, now, c.opts.LivenessHold)
	var behind []string
	held := 0 // online hosts above the interval that keep theirs for now
	c.reg.scan(now, func(h *messages.HostRecord, state string) {
		if state != messages.StateOnline || h.IntervalMs == want.HeartbeatMs {
			return
		}
		if h.IntervalMs > want.HeartbeatMs && !lower {
			held++
			return
		}
		if sent, ok := c.livenessSent[h.ID]; ok && sent.value == want && now.Sub(sent.at) < livenessResend {
			return
		}
		c.livenessSent[h.ID] = livenessMark{at: now, value: want}
		behind = append(behind, h.ID)
	})
	if len(behind) == 0 {
		return
	}
	ctx := withCall(context.Background(), &apiCall{op: SystemOperator, action: "liveness"})
	go func() {
		// When most of the fleet must change, one broadcast is cheaper
		// than a message per host; the others apply the same value
		// again, so not while some keep a longer interval on hold.
		_, fr, err := c.runCommand(ctx, command{verb: messages.VerbLiveness, targets: []string{messages.TargetAll},
			hosts: behind, payload: want, ttl: 10 * time.Second, broadcast: len(behind) > online/2 && held == 0})
		if err != nil {
			c.logger.Warn("liveness command failed", "err", err)
			return
		}
		c.logger.Info("liveness sent", "hosts", len(behind), "answered", len(fr.replies),
			"heartbeat_ms", want.HeartbeatMs, "spread_ms", want.ReconnectSpreadMs)
	}()
}

// livenessMark remembers what was last sent to a host and when: a host is
// told again at once when the wanted value changed, and otherwise only
// after livenessResend.
type livenessMark struct {
	at    time.Time
	value messages.Liveness
}

// livenessTrend remembers when the policy's interval last grew.
type livenessTrend struct {
	last   int64
	grewAt time.Time
}

// settled records want and reports whether the interval has not grown for
// hold, so agents may be told a shorter one. The first call counts as
// growth: a controller that just started has not seen its fleet yet.
func (t *livenessTrend) settled(want messages.Liveness, now time.Time, hold time.Duration) bool {
	if t.grewAt.IsZero() || want.HeartbeatMs > t.last {
		t.grewAt = now
	}
	t.last = want.HeartbeatMs
	return now.Sub(t.grewAt) >= hold
}
