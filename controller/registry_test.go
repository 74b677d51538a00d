package controller

import (
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

func TestHostStateFollowsHeartbeatAge(t *testing.T) {
	now := time.UnixMilli(1_000_000_000)
	rec := func(ageMs, ivMs int64, bye bool) messages.HostRecord {
		return messages.HostRecord{LastSeen: now.UnixMilli() - ageMs, IntervalMs: ivMs, Goodbye: bye}
	}
	cases := []struct {
		name string
		r    messages.HostRecord
		want string
	}{
		{"fresh", rec(0, 10_000, false), messages.StateOnline},
		{"three intervals", rec(30_000, 10_000, false), messages.StateOnline},
		{"just past three", rec(30_001, 10_000, false), messages.StateStale},
		{"ten intervals", rec(100_000, 10_000, false), messages.StateStale},
		{"past ten", rec(100_001, 10_000, false), messages.StateOffline},
		{"goodbye is offline at once", rec(0, 10_000, true), messages.StateOffline},
		{"tiny interval is floored", rec(1_400, 1, false), messages.StateOnline},
		{"long interval scales thresholds", rec(120_000, 60_000, false), messages.StateOnline},
		{"a closed connection is disconnected at once", disconnected(rec(0, 10_000, false)), messages.StateDisconnected},
		{"and stays so, not offline", disconnected(rec(1_000_000, 10_000, false)), messages.StateDisconnected},
		{"a goodbye before the close stays offline", disconnected(rec(0, 10_000, true)), messages.StateOffline},
	}
	for _, tc := range cases {
		if got := HostState(tc.r, now); got != tc.want {
			t.Errorf("%s: %s, want %s", tc.name, got, tc.want)
		}
	}
}

func disconnected(r messages.HostRecord) messages.HostRecord {
	r.Disconnected = true
	return r
}
