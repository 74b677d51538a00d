package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// streamQuery is one read of a controller stream through an ordered
// consumer; the filter is applied by the server.
type streamQuery struct {
	stream string
	filter string
	since  time.Duration // 0 with follow: only new messages
	follow bool
	what   string // for errors, e.g. "events"
}

// readStream calls fn for each message of the stream that decode accepts,
// in order. Without follow it returns once what was pending when it
// started has been delivered; with follow it runs until ctx ends.
// Messages decode refuses are skipped: only the controller and
// permission-confined agents write these streams.
func readStream[T any](ctx context.Context, c *Client, q streamQuery, decode func(subject string, data []byte) (T, error), fn func(T) error) error {
	js, err := jetstream.New(c.nc)
	if err != nil {
		return err
	}
	cfg := jetstream.OrderedConsumerConfig{FilterSubjects: []string{q.filter}, DeliverPolicy: jetstream.DeliverNewPolicy}
	if q.since > 0 {
		start := time.Now().Add(-q.since)
		cfg.DeliverPolicy, cfg.OptStartTime = jetstream.DeliverByStartTimePolicy, &start
	}
	cons, err := js.OrderedConsumer(ctx, q.stream, cfg)
	if err != nil {
		return fmt.Errorf("open %s stream: %w", q.what, err)
	}
	if !q.follow {
		return drain(ctx, cons, q.what, decode, fn)
	}
	errc := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		v, err := decode(m.Subject(), m.Data())
		if err != nil {
			return
		}
		if err := fn(v); err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	})
	if err != nil {
		return fmt.Errorf("follow %s: %w", q.what, err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}

// drain delivers the messages pending when the consumer was created.
func drain[T any](ctx context.Context, cons jetstream.Consumer, what string, decode func(subject string, data []byte) (T, error), fn func(T) error) error {
	pending := cons.CachedInfo().NumPending
	for pending > 0 {
		batch, err := cons.Fetch(int(min(pending, 500)), jetstream.FetchMaxWait(2*time.Second))
		if err != nil {
			return fmt.Errorf("read %s: %w", what, err)
		}
		got := uint64(0)
		for m := range batch.Messages() {
			got++
			if v, err := decode(m.Subject(), m.Data()); err == nil {
				if err := fn(v); err != nil {
					return err
				}
			}
		}
		if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
			return fmt.Errorf("read %s: %w", what, err)
		}
		if got == 0 || ctx.Err() != nil {
			return ctx.Err()
		}
		pending -= min(got, pending)
	}
	return nil
}
