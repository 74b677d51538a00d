package client

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// AuditQuery selects audit records. The operator filter is applied by the
// server through the consumer's subject filter.
type AuditQuery struct {
	Operator string
	Since    time.Duration // 0 with Follow: only new records
	Follow   bool
}

// Audit calls fn for each matching audit record in order. Without Follow
// it returns once the records up to now have been delivered; with Follow
// it runs until ctx ends.
func (c *Client) Audit(ctx context.Context, q AuditQuery, fn func(messages.AuditRecord) error) error {
	filter, err := messages.AuditFilter(q.Operator)
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
	cons, err := js.OrderedConsumer(ctx, messages.AuditStream, cfg)
	if err != nil {
		return fmt.Errorf("open audit stream: %w", err)
	}
	decode := func(m jetstream.Msg) (messages.AuditRecord, bool) {
		r, err := messages.DecodeAuditRecord(m.Data())
		return r, err == nil // only the controller writes here; skip damage
	}
	if !q.Follow {
		pending := cons.CachedInfo().NumPending
		for pending > 0 {
			batch, err := cons.Fetch(int(min(pending, 500)), jetstream.FetchMaxWait(2*time.Second))
			if err != nil {
				return fmt.Errorf("read audit records: %w", err)
			}
			got := uint64(0)
			for m := range batch.Messages() {
				got++
				if r, ok := decode(m); ok {
					if err := fn(r); err != nil {
						return err
					}
				}
			}
			if err := batch.Error(); err != nil && !errors.Is(err, jetstream.ErrNoMessages) {
				return fmt.Errorf("read audit records: %w", err)
			}
			if got == 0 || ctx.Err() != nil {
				return ctx.Err()
			}
			pending -= min(got, pending)
		}
		return nil
	}
	errc := make(chan error, 1)
	cc, err := cons.Consume(func(m jetstream.Msg) {
		r, ok := decode(m)
		if !ok {
			return
		}
		if err := fn(r); err != nil {
			select {
			case errc <- err:
			default:
			}
		}
	})
	if err != nil {
		return fmt.Errorf("follow audit records: %w", err)
	}
	defer cc.Stop()
	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return err
	}
}
