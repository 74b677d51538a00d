package controller

import (
	"encoding/json"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go/jetstream"

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

// A heartbeat is persisted when it registers, says goodbye or changes
// something worth keeping; liveness and usage alone are written only once
// the stored copy is persistAfter intervals old.
func TestRegistryPersistsOnlyWhatIsNewOrOld(t *testing.T) {
	t0 := time.Date(2026, 11, 22, 12, 0, 0, 0, time.UTC)
	rec := messages.HostRecord{ID: "web-1", IntervalMs: 10_000, Role: "worker",
		Facts: messages.Facts{Hostname: "web-1", OS: "debian", MemTotal: 8 << 30, MemUsed: 1 << 30, Load1: 0.5}}
	mark := writeMark{at: t0, key: persistentKey(rec)}
	busier := rec
	busier.Facts.MemUsed, busier.Facts.Load1, busier.Facts.Uptime = 3<<30, 2.5, 999
	relabelled := rec
	relabelled.Labels = map[string]string{"zone": "b"}
	slower := rec
	slower.IntervalMs = 50_000
	for _, tc := range []struct {
		name    string
		written bool
		rec     messages.HostRecord
		kind    string
		after   time.Duration
		due     bool
	}{
		{"first heartbeat seen", false, rec, messages.KindHeartbeat, time.Second, true},
		{"register", true, rec, messages.KindRegister, time.Second, true},
		{"goodbye", true, rec, messages.KindGoodbye, time.Second, true},
		{"usage changed only", true, busier, messages.KindHeartbeat, 10 * time.Second, false},
		{"labels changed", true, relabelled, messages.KindHeartbeat, 10 * time.Second, true},
		{"interval changed", true, slower, messages.KindHeartbeat, 10 * time.Second, true},
		{"copy almost old", true, busier, messages.KindHeartbeat, persistAfter*10*time.Second - time.Millisecond, false},
		{"copy old", true, busier, messages.KindHeartbeat, persistAfter * 10 * time.Second, true},
	} {
		if got := persistDue(mark, tc.written, tc.rec, tc.kind, t0.Add(tc.after)); got != tc.due {
			t.Errorf("%s: due %v, want %v", tc.name, got, tc.due)
		}
	}
}

// The sweep slows down as the heartbeat interval grows with the online
// fleet, by the same factor, and never runs more often than SweepInterval.
func TestSweepPeriodFollowsTheInterval(t *testing.T) {
	c := &Controller{opts: Options{SweepInterval: time.Second, HeartbeatBase: DefaultHeartbeatBase, HeartbeatRate: DefaultHeartbeatRate}}
	for _, step := range []struct {
		online int
		want   time.Duration
	}{{0, time.Second}, {2_000, time.Second}, {2_001, 2 * time.Second}, {10_000, 5 * time.Second}, {50_000, 12 * time.Second}} {
		if got := c.sweepPeriod(step.online); got != step.want {
			t.Errorf("%d online: sweep every %s, want %s", step.online, got, step.want)
		}
	}
}

// The sweep counts what the liveness policy counts: online and stale
// hosts, not offline ones.
func TestSweepCountsOnlineAndStaleHosts(t *testing.T) {
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(messages.Event) {})
	now := time.Now()
	for i, age := range []time.Duration{0, 0, time.Minute, time.Hour} { // online, online, stale, offline
		id := fmt.Sprintf("h%d", i)
		r.hosts[id] = &messages.HostRecord{ID: id, IntervalMs: 10_000, LastSeen: now.Add(-age).UnixMilli()}
	}
	if got := r.sweep(now); got != 3 {
		t.Errorf("sweep counted %d online or stale hosts, want 3", got)
	}
}

// A write another controller made (seen through the bucket's watch)
// counts as much as one's own: the queue group hands a host's heartbeats
// to any controller, and each must not write again what is fresh.
func TestRegistryCountsOtherControllersWrites(t *testing.T) {
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(messages.Event) {})
	now := time.Now()
	rec := messages.HostRecord{ID: "web-1", IntervalMs: 10_000, LastSeen: now.UnixMilli(), Facts: messages.Facts{Hostname: "web-1"}}
	b, _ := json.Marshal(rec)
	r.apply(kvChange{key: "web-1", op: jetstream.KeyValuePut, value: b}, false, now)
	mark, ok := r.written["web-1"]
	if !ok {
		t.Fatal("a write seen on the bucket left no mark")
	}
	if persistDue(mark, ok, rec, messages.KindHeartbeat, now.Add(10*time.Second)) {
		t.Error("the next heartbeat would write the host again although the bucket's copy is one interval old")
	}
	if !persistDue(mark, ok, rec, messages.KindHeartbeat, now.Add(persistAfter*10*time.Second)) {
		t.Error("the copy is persistAfter intervals old and still not due")
	}
	r.apply(kvChange{key: "web-1", op: jetstream.KeyValueDelete}, false, now)
	if _, ok := r.written["web-1"]; ok {
		t.Error("a removed host keeps its write mark")
	}
}
