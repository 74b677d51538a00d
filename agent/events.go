package agent

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/messages"
)

// Event delivery bounds: how long one publish waits for the stream's
// acknowledgement, and how long the agent waits before it tries again
// after a failure (doubling from the first to the last).
const (
	ackWait        = 5 * time.Second
	eventRetryMin  = time.Second
	eventRetryMax  = 30 * time.Second
	stopDeliveryBy = 2 * time.Second
)

// publishEvent puts an event in the outbox; the sender delivers it.
func (a *Agent) publishEvent(typ, sev, msg, reqID string, fields map[string]string) {
	subj, err := messages.EventSubject(a.cfg.ID, typ)
	if err != nil {
		return
	}
	seq := a.seq.Add(1)
	b, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Host: a.cfg.ID,
		Type: typ, Severity: sev, Message: msg, RequestID: reqID, Source: "agent", Fields: fields,
		Instance: a.instance, Seq: seq})
	a.outbox.add(outboxEntry{ID: messages.EventMsgID(a.cfg.ID, a.instance, seq), Subject: subj, Event: b})
}

// sendEvents delivers the outbox over nc until stop is closed: whenever
// an event is added or the connection comes back, and after a failure
// with a growing delay.
func (a *Agent) sendEvents(nc *nats.Conn, stop <-chan struct{}) {
	d := &eventDelivery{a: a, nc: nc}
	defer d.close()
	retry := time.NewTimer(time.Hour)
	retry.Stop()
	backoff := eventRetryMin
	for {
		select {
		case <-stop:
			return
		case <-a.outbox.wake:
		case <-retry.C:
		}
		retry.Stop()
		if err := d.drain(stop, time.Time{}); err != nil {
			a.logger.Debug("events not delivered yet; retrying", "waiting", a.outbox.len(), "in", backoff, "err", err)
			retry.Reset(backoff)
			backoff = min(2*backoff, eventRetryMax)
			continue
		}
		backoff = eventRetryMin
	}
}

// eventDelivery publishes outbox events to the events stream one at a
// time, each after the previous one was acknowledged, so they are stored
// in the order they were made; a re-send carries the same Nats-Msg-Id and
// the stream stores it once. It subscribes to the acknowledgement subject
// only while it has something to deliver.
type eventDelivery struct {
	a   *Agent
	nc  *nats.Conn
	sub *nats.Subscription
}

// drain delivers until the outbox is empty (nil) or a publish fails;
// until, when set, bounds the whole drain.
func (d *eventDelivery) drain(stop <-chan struct{}, until time.Time) error {
	for {
		e, ok := d.a.outbox.head()
		if !ok {
			d.close()
			return nil
		}
		if !d.nc.IsConnected() {
			return errors.New("not connected")
		}
		select {
		case <-stop:
			return errors.New("stopping")
		default:
		}
		wait := ackWait
		if !until.IsZero() {
			wait = min(wait, time.Until(until))
			if wait <= 0 {
				return errors.New("out of time")
			}
		}
		if err := d.publish(e, wait); err != nil {
			return err
		}
		d.a.outbox.ack(e.ID)
	}
}

func (d *eventDelivery) publish(e outboxEntry, wait time.Duration) error {
	prefix := messages.AgentAckSubject(d.a.cfg.ID)
	if d.sub == nil {
		sub, err := d.nc.SubscribeSync(prefix + ".*")
		if err != nil {
			return fmt.Errorf("subscribe to acknowledgements: %w", err)
		}
		d.sub = sub
	}
	// Each publish has its own reply subject, so a late answer to an
	// earlier attempt, or to an earlier process of this agent whose
	// publishes a partition delivered late, is never taken for this one.
	reply := prefix + "." + d.a.instance + "-" + strconv.FormatUint(d.a.ackNonce.Add(1), 10)
	m := &nats.Msg{Subject: e.Subject, Reply: reply, Data: e.Event, Header: nats.Header{}}
	m.Header.Set(nats.MsgIdHdr, e.ID)
	if err := d.nc.PublishMsg(m); err != nil {
		return fmt.Errorf("publish event: %w", err)
	}
	deadline := time.Now().Add(wait)
	for {
		ack, err := d.sub.NextMsg(time.Until(deadline))
		if err != nil {
			return fmt.Errorf("no acknowledgement for event %s: %w", e.ID, err)
		}
		if ack.Subject != reply {
			continue
		}
		return checkPubAck(ack)
	}
}

// checkPubAck reads the stream's answer to a publish.
func checkPubAck(m *nats.Msg) error {
	if len(m.Data) == 0 && m.Header.Get("Status") != "" {
		return fmt.Errorf("events stream not reachable (status %s)", m.Header.Get("Status"))
	}
	var ack struct {
		Stream string `json:"stream"`
		Error  *struct {
			Description string `json:"description"`
		} `json:"error"`
	}
	if err := json.Unmarshal(m.Data, &ack); err != nil {
		return fmt.Errorf("unreadable acknowledgement: %w", err)
	}
	if ack.Error != nil {
		return fmt.Errorf("events stream refused the event: %s", ack.Error.Description)
	}
	if ack.Stream == "" {
		return errors.New("acknowledgement names no stream")
	}
	return nil
}

func (d *eventDelivery) close() {
	if d.sub != nil {
		_ = d.sub.Unsubscribe()
		d.sub = nil
	}
}

// flushEvents delivers what it can of the outbox before the agent stops,
// within stopDeliveryBy; what is left waits on disk for the next start.
func (a *Agent) flushEvents(nc *nats.Conn) {
	d := &eventDelivery{a: a, nc: nc}
	defer d.close()
	if err := d.drain(nil, time.Now().Add(stopDeliveryBy)); err != nil {
		a.logger.Warn("events kept for the next start", "waiting", a.outbox.len(), "err", err)
	}
}
