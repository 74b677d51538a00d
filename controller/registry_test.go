package controller

import (
	"encoding/json"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

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

// A heartbeat already on its way when a host was removed (seen across a
// cluster: the revoked host came back "offline" on another controller)
// must not put the host back; a register, a new enrolment's, does.
func TestRegistryIgnoresLateHeartbeatsOfARemovedHost(t *testing.T) {
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(messages.Event) {})
	r.observe(heartbeatMsg(t, "h1", messages.KindRegister, "00aa", 1_000, 1))
	r.apply(kvChange{key: "h1", op: jetstream.KeyValueDelete}, false, time.Now())
	r.observe(heartbeatMsg(t, "h1", messages.KindHeartbeat, "00aa", 1_000, 2))
	r.observe(heartbeatMsg(t, "h1", messages.KindGoodbye, "00aa", 1_000, 3))
	if h, ok := r.get("h1"); ok {
		t.Fatalf("a late heartbeat brought a removed host back: %+v", h)
	}
	r.observe(heartbeatMsg(t, "h1", messages.KindRegister, "00bb", 2_000, 1))
	if h, ok := r.get("h1"); !ok || h.Instance != "00bb" {
		t.Fatalf("a re-enrolled host's register was not taken: %+v %v", h, ok)
	}
}

// heartbeatAt is heartbeatMsg with the registry's clock set to at.
func heartbeatAt(t *testing.T, r *registry, at time.Time, host, kind, inst string, started int64, seq uint64) {
	t.Helper()
	r.clock = func() time.Time { return at }
	r.observe(heartbeatMsg(t, host, kind, inst, started, seq))
}

// A copied agent key: two processes heartbeat as one host. The registry
// keeps the later-started one and ignored the other without a word; it
// now says so once, as an event naming both instances and the rekey.
func TestRegistryReportsTwoProcessesHeartbeatingWithOneKey(t *testing.T) {
	var events []messages.Event
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(e messages.Event) { events = append(events, e) })
	t0 := time.Now()
	heartbeatAt(t, r, t0, "h1", messages.KindRegister, "00aa", 1_000, 1)
	heartbeatAt(t, r, t0.Add(time.Second), "h1", messages.KindRegister, "00bb", 2_000, 1) // the copy starts
	iv := 10 * time.Second                                                                // heartbeatMsg's interval
	for i := 1; i <= 6; i++ {
		at := t0.Add(time.Second + time.Duration(i)*iv)
		heartbeatAt(t, r, at, "h1", messages.KindHeartbeat, "00bb", 2_000, uint64(1+i))
		heartbeatAt(t, r, at.Add(time.Second), "h1", messages.KindHeartbeat, "00aa", 1_000, uint64(1+i))
	}
	var shared []messages.Event
	for _, e := range events {
		if e.Type == messages.EventHostKeyShared {
			shared = append(shared, e)
		}
	}
	if len(shared) != 1 {
		t.Fatalf("%d host_key_shared events, want 1: %+v", len(shared), events)
	}
	e := shared[0]
	if e.Host != "h1" || e.Severity != messages.SeverityWarning || e.Fields["ignored_instance"] != "00aa" ||
		e.Fields["current_instance"] != "00bb" || !strings.Contains(e.Message, "foundry host rekey h1") {
		t.Fatalf("event %+v", e)
	}
	if h, _ := r.get("h1"); h.Instance != "00bb" {
		t.Fatalf("current instance %s, want the later-started 00bb kept", h.Instance)
	}
}

// A partition's late copies of a dead process's heartbeats come as one
// burst: ignored, and no warning of a shared key.
func TestRegistryTakesALateBurstAsLateNotAsASharedKey(t *testing.T) {
	var events []messages.Event
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(e messages.Event) { events = append(events, e) })
	t0 := time.Now()
	heartbeatAt(t, r, t0, "h1", messages.KindRegister, "00bb", 2_000, 1)
	for i := range 5 {
		heartbeatAt(t, r, t0.Add(time.Duration(i)*time.Millisecond), "h1", messages.KindHeartbeat, "00aa", 1_000, uint64(10+i))
	}
	for i := 1; i <= 4; i++ { // the current one goes on; the old one is gone
		heartbeatAt(t, r, t0.Add(time.Duration(i)*10*time.Second), "h1", messages.KindHeartbeat, "00bb", 2_000, uint64(1+i))
	}
	for _, e := range events {
		if e.Type != messages.EventHostOnline {
			t.Errorf("event %s: %s", e.Type, e.Message)
		}
	}
	if h, _ := r.get("h1"); h.Instance != "00bb" {
		t.Fatalf("instance %s, want 00bb", h.Instance)
	}
}

// An agent restarted after its host's clock went back looks older than
// the process it replaced, so all it said was ignored and the host stayed
// offline with its agent connected. Once it has kept heartbeating while
// the recorded instance is silent, it is taken.
func TestRegistryTakesAnInstanceThatLooksOlderWhenTheCurrentIsSilent(t *testing.T) {
	r := newRegistry(nil, slog.New(slog.DiscardHandler), func(messages.Event) {})
	t0 := time.Now()
	heartbeatAt(t, r, t0, "h1", messages.KindRegister, "00bb", 2_000, 1)
	heartbeatAt(t, r, t0.Add(time.Second), "h1", messages.KindGoodbye, "00bb", 2_000, 2) // restarted...
	// ...with a clock an hour behind.
	heartbeatAt(t, r, t0.Add(2*time.Second), "h1", messages.KindRegister, "00cc", 2_000-3_600_000, 1)
	if h, _ := r.get("h1"); h.Instance != "00bb" || HostState(h, t0.Add(2*time.Second)) != messages.StateOffline {
		t.Fatalf("a register that looks older is not taken at once: %+v", h)
	}
	var at time.Time
	for i := 1; i <= 3; i++ {
		at = t0.Add(2*time.Second + time.Duration(i)*10*time.Second)
		heartbeatAt(t, r, at, "h1", messages.KindHeartbeat, "00cc", 2_000-3_600_000, uint64(1+i))
	}
	h, _ := r.get("h1")
	if h.Instance != "00cc" || HostState(h, at) != messages.StateOnline {
		t.Fatalf("after 30 s of heartbeats from the agent that looks older: instance %s, %s; want 00cc online", h.Instance, HostState(h, at))
	}
}
