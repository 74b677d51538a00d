package messages

import (
	"fmt"
	"strconv"
)

// An agent instance is one run of the agent process. Its id is random,
// made at start, and its start time (agent clock, made monotonic per host
// by the agent's state directory) orders instances of the same host. A
// partition can deliver what an old instance said after what the new one
// said (a goodbye held in a dead TCP connection arrived 53 s late, after
// the new process had registered), so the registry orders by instance
// first and by sequence within an instance, never by arrival.

// MaxInstanceLen bounds an instance id, which travels in every heartbeat
// and event and is kept per host.
const MaxInstanceLen = 32

// ValidInstance accepts an empty instance (an agent older than instances)
// or up to MaxInstanceLen lowercase hex digits.
func ValidInstance(s string) error {
	if len(s) > MaxInstanceLen {
		return &Error{Code: CodeBadRequest, Message: fmt.Sprintf("instance id is %d characters, more than %d", len(s), MaxInstanceLen)}
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return &Error{Code: CodeBadRequest, Message: "instance id must be lowercase hex"}
		}
	}
	return nil
}

// Position is where a message stands in what a host said: which instance
// said it, when that instance started, and its sequence in it.
type Position struct {
	Instance string
	Started  int64
	Seq      uint64
}

// Before reports whether p was said before q by the same host: by an
// instance that started earlier (ties broken by id), or earlier in the
// same instance. A position without an instance (an agent older than
// instances) is never before anything, nor anything before it, so such
// hosts keep the arrival order they always had.
func (p Position) Before(q Position) bool {
	if p.Instance == "" || q.Instance == "" {
		return false
	}
	if p.Instance == q.Instance {
		return p.Seq < q.Seq
	}
	if p.Started != q.Started {
		return p.Started < q.Started
	}
	return p.Instance < q.Instance
}

// Position of a heartbeat.
func (h Heartbeat) Position() Position {
	return Position{Instance: h.Instance, Started: h.Started, Seq: h.Seq}
}

// EventMsgID is the JetStream de-duplication id (header Nats-Msg-Id) of
// an agent's event: a re-send of the same event within the events
// stream's duplicate window is stored once.
func EventMsgID(host, instance string, seq uint64) string {
	return host + "." + instance + "." + strconv.FormatUint(seq, 10)
}
