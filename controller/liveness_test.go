package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

func TestLivenessFormula(t *testing.T) {
	for _, tc := range []struct {
		n              int
		hbMs, spreadMs int64
	}{
		{1, 10_000, 2_000},
		{2_000, 10_000, 2_000},
		{10_000, 50_000, 10_000},
		{50_000, 120_000, 50_000},
		{1_000_000, 120_000, 60_000},
	} {
		got := controller.Liveness(tc.n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate)
		if got.HeartbeatMs != tc.hbMs || got.ReconnectSpreadMs != tc.spreadMs {
			t.Errorf("n=%d: %+v, want heartbeat %d spread %d", tc.n, got, tc.hbMs, tc.spreadMs)
		}
		if err := got.Validate(); err != nil {
			t.Errorf("n=%d: controller's own value refused by agents: %v", tc.n, err)
		}
	}
}

// TestHeartbeatIntervalFollowsFleetSize: with a rate of 10 heartbeats/s,
// 20 agents must slow from their configured 200ms to 2s, told by the
// controller through the signed liveness command.
func TestHeartbeatIntervalFollowsFleetSize(t *testing.T) {
	c := ct.StartController(t, func(o *controller.Options) { o.HeartbeatRate = 10 })
	cl := ct.Client(t, c)
	ct.StartAgents(t, c, cl, "lv", 20)
	waitInterval(t, cl, 20, 2000)
}

// waitInterval waits until n hosts are online and heartbeat every ms.
func waitInterval(t *testing.T, cl *client.Client, n int, ms int64) {
	t.Helper()
	ct.CheckFor(t, 30*time.Second, 50*time.Millisecond, func() error {
		hl, err := cl.HostList(context.Background())
		if err != nil {
			return err
		}
		at := 0
		for _, h := range hl.Hosts {
			if h.IntervalMs == ms && h.State == messages.StateOnline {
				at++
			}
		}
		if at != n {
			return fmt.Errorf("%d of %d hosts heartbeat every %dms", at, n, ms)
		}
		return nil
	})
}

func TestLivenessMovesInWholeSteps(t *testing.T) {
	changes := 0
	prev := controller.Liveness(0, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate)
	for n := 1; n <= 10_000; n++ {
		l := controller.Liveness(n, controller.DefaultHeartbeatBase, controller.DefaultHeartbeatRate)
		if l.HeartbeatMs != prev.HeartbeatMs {
			changes++
		}
		prev = l
	}
	if changes > 5 {
		t.Fatalf("interval changed %d times while the fleet grew to 10,000", changes)
	}
}

// TestLongerIntervalsAreLoweredAfterTheHold: agents that heartbeat slower
// than the policy wants are told the shorter interval only after the hold,
// and then all at once with one broadcast (every online host is behind).
func TestLongerIntervalsAreLoweredAfterTheHold(t *testing.T) {
	const hold = 1500 * time.Millisecond
	start := time.Now()
	c := ct.StartController(t, func(o *controller.Options) { o.LivenessHold = hold })
	cl := ct.Client(t, c)
	dir := t.TempDir()
	for i := range 5 {
		cfg := ct.EnrollConfig(t, cl, c, fmt.Sprintf("slow-%d", i+1), dir)
		cfg.Heartbeat = time.Second // policy for 5 hosts: 200ms
		ct.RunAgent(t, cfg)
	}
	waitInterval(t, cl, 5, 200)
	if took := time.Since(start); took < hold {
		t.Fatalf("hosts were lowered after %s, before the %s hold", took, hold)
	}
}
