package messages

import (
	"encoding/json"
	"strings"
	"testing"
)

// A goodbye from an instance that started before the one the registry
// knows is older, whatever its sequence number and whenever it arrives.
func TestPositionOrdersInstancesThenSequence(t *testing.T) {
	old := Position{Instance: "aa", Started: 1000, Seq: 900}
	cur := Position{Instance: "bb", Started: 2000, Seq: 3}
	for _, c := range []struct {
		p, q Position
		want bool
	}{
		{old, cur, true},
		{cur, old, false},
		{Position{Instance: "bb", Started: 2000, Seq: 2}, cur, true},
		{cur, cur, false},
		{Position{Instance: "cc", Started: 2000, Seq: 1}, cur, false}, // same start: the id decides
		{Position{Seq: 1}, cur, false},                                // an agent without instances
		{cur, Position{Seq: 1}, false},
	} {
		if got := c.p.Before(c.q); got != c.want {
			t.Errorf("%+v before %+v = %v, want %v", c.p, c.q, got, c.want)
		}
	}
}

func TestDecodersBoundTheInstance(t *testing.T) {
	for _, inst := range []string{strings.Repeat("a", MaxInstanceLen+1), "ABCD", "a.b", "a>"} {
		hb, _ := json.Marshal(Heartbeat{V: Version, Kind: KindHeartbeat, Instance: inst})
		if _, err := DecodeHeartbeat(hb); CodeOf(err) != CodeBadRequest {
			t.Errorf("heartbeat with instance %q: %v", inst, err)
		}
		ev, _ := json.Marshal(Event{V: Version, Instance: inst})
		if _, err := DecodeEvent(ev); CodeOf(err) != CodeBadRequest {
			t.Errorf("event with instance %q: %v", inst, err)
		}
	}
	hb, _ := json.Marshal(Heartbeat{V: Version, Kind: KindGoodbye, Instance: "0123456789abcdef", Started: 5, Seq: 9})
	got, err := DecodeHeartbeat(hb)
	if err != nil || got.Position() != (Position{Instance: "0123456789abcdef", Started: 5, Seq: 9}) {
		t.Fatalf("%+v %v", got, err)
	}
}
