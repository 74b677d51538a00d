package agent

import (
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

func TestFirstSpreadOnlyDelaysTheFirstAttempt(t *testing.T) {
	if d := firstSpread(2, time.Minute); d != 0 {
		t.Fatalf("second attempt delayed by %s", d)
	}
	if d := firstSpread(1, 0); d != 0 {
		t.Fatalf("no spread configured, delayed by %s", d)
	}
	seen := map[time.Duration]bool{}
	for range 50 {
		d := firstSpread(1, 10*time.Second)
		if d < 0 || d >= 10*time.Second {
			t.Fatalf("delay %s outside [0,10s)", d)
		}
		seen[d/time.Second] = true
	}
	if len(seen) < 4 {
		t.Fatalf("first delays are not spread: %v", seen)
	}
}

func TestLivenessBounds(t *testing.T) {
	for _, bad := range []messages.Liveness{{HeartbeatMs: 0}, {HeartbeatMs: 50}, {HeartbeatMs: 1000, ReconnectSpreadMs: -1},
		{HeartbeatMs: 11 * 60 * 1000}, {HeartbeatMs: 1000, ReconnectSpreadMs: 6 * 60 * 1000}} {
		if bad.Validate() == nil {
			t.Errorf("accepted %+v", bad)
		}
	}
}
