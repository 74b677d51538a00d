package controller

import (
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// A shorter interval is allowed only once the policy's interval has not
// grown for the hold time; growth (a fleet still coming up) restarts the
// wait, and so does the controller's start.
func TestLivenessLowersOnlyAfterTheHold(t *testing.T) {
	const hold = 5 * time.Minute
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	lv := func(ms int64) messages.Liveness { return messages.Liveness{HeartbeatMs: ms} }
	var tr livenessTrend
	for _, step := range []struct {
		at    time.Duration
		ms    int64
		lower bool
	}{
		{0, 10_000, false},                // just started
		{time.Minute, 20_000, false},      // grew
		{4 * time.Minute, 120_000, false}, // still growing
		{8 * time.Minute, 120_000, false}, // 4 min without growth
		{9 * time.Minute, 120_000, true},  // 5 min without growth
		{10 * time.Minute, 50_000, true},  // shrinking does not restart the wait
		{11 * time.Minute, 60_000, false}, // growing again does
		{16*time.Minute + time.Second, 10_000, true},
	} {
		if got := tr.settled(lv(step.ms), t0.Add(step.at), hold); got != step.lower {
			t.Errorf("at %s with %d ms: lower %v, want %v", step.at, step.ms, got, step.lower)
		}
	}
}
