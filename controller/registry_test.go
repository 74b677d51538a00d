package controller

import (
	"encoding/json"
	"log/slog"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

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

// heartbeatMsg is a heartbeat of kind from instance inst (started at
// started) with sequence seq, as the registry receives it.
func heartbeatMsg(t *testing.T, host, kind, inst string, started int64, seq uint64) *nats.Msg {
	t.Helper()
	subj, _ := messages.HeartbeatSubject(host)
	b, _ := json.Marshal(messages.Heartbeat{V: messages.Version, Kind: kind, Instance: inst, Started: started, Seq: seq,
		IntervalMs: 10_000, Time: time.Now().UnixMilli()})
	return &nats.Msg{Subject: subj, Data: b}
}

// A partition delivered the old agent process's goodbye 53 s late, after
// the new process had registered, and the host showed offline while its
// new agent was connected. What an earlier instance said is ignored once
// a later one has been heard, and so is an older heartbeat of the same
// instance.
func TestRegistryIgnoresWhatAnEarlierInstanceSaid(t *testing.T) {
	var events []messages.Event
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(e messages.Event) { events = append(events, e) })
	r.observe(heartbeatMsg(t, "h1", messages.KindRegister, "00aa", 1_000, 1))
	r.observe(heartbeatMsg(t, "h1", messages.KindRegister, "00bb", 2_000, 1)) // the agent restarted
	r.observe(heartbeatMsg(t, "h1", messages.KindGoodbye, "00aa", 1_000, 40)) // the old one's goodbye, late
	h, _ := r.get("h1")
	if st := HostState(h, time.Now()); st != messages.StateOnline || h.Instance != "00bb" {
		t.Fatalf("after a late goodbye from the earlier instance: %s, instance %s", st, h.Instance)
	}
	r.observe(heartbeatMsg(t, "h1", messages.KindHeartbeat, "00bb", 2_000, 5))
	r.observe(heartbeatMsg(t, "h1", messages.KindGoodbye, "00bb", 2_000, 4)) // a late copy from before seq 5
	if h, _ = r.get("h1"); HostState(h, time.Now()) != messages.StateOnline || h.Seq != 5 {
		t.Fatalf("after an older heartbeat of the same instance: %s, seq %d", HostState(h, time.Now()), h.Seq)
	}
	for _, e := range events {
		if e.Type != messages.EventHostOnline {
			t.Errorf("event %s: %s", e.Type, e.Message)
		}
	}
	// The instance's own goodbye, in order, still takes the host offline.
	r.observe(heartbeatMsg(t, "h1", messages.KindGoodbye, "00bb", 2_000, 6))
	if h, _ = r.get("h1"); HostState(h, time.Now()) != messages.StateOffline {
		t.Fatalf("own goodbye: %s", HostState(h, time.Now()))
	}
}
