package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// eventsStream is the controller's events stream name.
const eventsStream = "FOUNDRY_EVENTS"

// EventQuery selects events. Filtering happens on the server through the
// consumer's subject filter, so a client never downloads what it skips.
type EventQuery struct {
	Host   string
	Type   string
	Since  time.Duration // 0 with Follow: only new events
	Follow bool
}

// Events calls fn for each matching event in order. Without Follow it
// returns once history up to now has been delivered; with Follow it runs
// until ctx ends.
func (c *Client) Events(ctx context.Context, q EventQuery, fn func(messages.Event) error) error {
	filter, err := messages.EventFilter(q.Host, q.Type)
	if err != nil {
		return err
	}
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{filter}, DeliverPolicy: jetstream.DeliverNewPolicy}
	if q.Since > 0 {
		start := time.Now().Add(-q.Since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, eventsStream, cfg)
	if err != nil {
		return fmt.Errorf("open events stream: %w", err)
	}
	if !q.Follow {
		return drain(ctx, cons, fn)
	}
	errc := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		ev, err := messages.DecodeEvent(m.Data())
		if err != nil {
			return // the stream only holds what passed permissions; skip damage
		}
		if err := fn(ev); err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	})
	if err != nil {
		return fmt.Errorf("follow events: %w", err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// drain delivers the events pending when the consumer was created.
func drain(ctx context.Context, cons jetstream.Consumer, fn func(messages.Event) error) error {
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read events: %w", err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if ev, err := messages.DecodeEvent(m.Data()); err == nil {
				if err := fn(ev); err != nil {
					return err
				}
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("read events: %w", err)
		}
		if got == 0 || ctx.Err() != nil {
			return ctx.Err()
		}
		pending -= min(got, pending)
	}
	return nil
}
