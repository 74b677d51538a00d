package agent

import (
	"encoding/json"
	"log/slog"
	"sync"
)

// Outbox bounds: at most maxOutboxEvents events wait for the stream (the
// oldest are dropped beyond, with a warning), and the file is rewritten
// with only the waiting ones once it grows past maxOutboxFileBytes. An
// event is at most messages.MaxEventBytes, so the file stays a few MiB.
const (
	maxOutboxEvents    = 256
	maxOutboxFileBytes = 1 << 20
)

// outboxEntry is one event waiting for the events stream's
// acknowledgement: its de-duplication id, subject and encoded event.
type outboxEntry struct {
	ID      string          `json:"id"`
	Subject string          `json:"subject"`
	Event   json.RawMessage `json:"event"`
}

// outboxLine is one line of the outbox file: an event added, or the id
// of one the stream acknowledged.
type outboxLine struct {
	Add *outboxEntry `json:"add,omitempty"`
	Ack string       `json:"ack,omitempty"`
}

// outbox keeps the agent's events until the stream has them, so events
// survive a lost connection and a restart of the agent (a partition ate
// agent_stopping, or delivered it after the next process's
// agent_started). They leave in the order they were made. With a journal
// the outbox is on disk; without (simulations, tests) in memory.
type outbox struct {
	logger *slog.Logger
	// wake tells the sender there is something to send.
	wake chan struct{}

	mu      sync.Mutex
	pending []outboxEntry
	j       *journal
	dropped int
}

// newOutbox returns an outbox on j (nil: in memory) holding the events
// its lines say are still waiting.
func newOutbox(j *journal, lines [][]byte, logger *slog.Logger) *outbox {
	o := &outbox{logger: logger, wake: make(chan struct{}, 1), j: j}
	for _, l := range lines {
		var ol outboxLine
		if json.Unmarshal(l, &ol) != nil {
			continue
		}
		switch {
		case ol.Add != nil && ol.Add.ID != "":
			o.pending = append(o.pending, *ol.Add)
		case ol.Ack != "":
			o.removeLocked(ol.Ack)
		}
	}
	if n := len(o.pending) - maxOutboxEvents; n > 0 {
		o.pending = o.pending[n:]
	}
	if len(o.pending) > 0 {
		o.signal()
	}
	return o
}

func (o *outbox) signal() {
	select {
	case o.wake <- struct{}{}:
	default:
	}
}

// add queues e, on disk first when there is a journal. A full outbox
// drops its oldest event: the newest say most about the host now.
func (o *outbox) add(e outboxEntry) {
	o.mu.Lock()
	if len(o.pending) >= maxOutboxEvents {
		old := o.pending[0]
		o.pending = o.pending[1:]
		o.dropped++
		o.logger.Warn("event outbox full; dropping the oldest event", "id", old.ID, "dropped", o.dropped)
		o.writeLocked(outboxLine{Ack: old.ID})
	}
	o.pending = append(o.pending, e)
	o.writeLocked(outboxLine{Add: &e})
	o.mu.Unlock()
	o.signal()
}

// head is the oldest waiting event.
func (o *outbox) head() (outboxEntry, bool) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) == 0 {
		return outboxEntry{}, false
	}
	return o.pending[0], true
}

// ack forgets the event the stream acknowledged.
func (o *outbox) ack(id string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.removeLocked(id) {
		return
	}
	o.writeLocked(outboxLine{Ack: id})
}

// len is how many events wait.
func (o *outbox) len() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

func (o *outbox) removeLocked(id string) bool {
	for i, e := range o.pending {
		if e.ID == id {
			o.pending = append(o.pending[:i], o.pending[i+1:]...)
			return true
		}
	}
	return false
}

// writeLocked records l in the journal, and rewrites the journal with
// only the waiting events when it is empty (nothing to keep) or large.
func (o *outbox) writeLocked(l outboxLine) {
	if o.j == nil {
		return
	}
	var err error
	if len(o.pending) == 0 || o.j.size >= maxOutboxFileBytes {
		lines := make([]any, len(o.pending))
		for i := range o.pending {
			lines[i] = outboxLine{Add: &o.pending[i]}
		}
		err = o.j.rewrite(lines)
	} else {
		err = o.j.append(l)
	}
	if err != nil {
		// The event still leaves from memory; only a restart before
		// then loses it.
		o.logger.Warn("event outbox not written to disk", "err", err)
	}
}
