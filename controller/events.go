package controller

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// JetStream names. The controller's only durable state lives in these.
const (
	EventsStream   = "FOUNDRY_EVENTS"
	RegistryBucket = "foundry_registry"
	IdentityBucket = "foundry_identities"

	eventsMaxAge   = 7 * 24 * time.Hour
	eventsMaxBytes = 512 << 20
	// eventsPerSubject keeps the newest events of each host and type
	// (subjects are foundry.evt.<host>.<type>, and an agent may publish
	// only the agent types, AgentEventTypes), so one host, however much
	// it says, holds at most len(AgentEventTypes) * eventsPerSubject *
	// MaxEventBytes (24 MiB) of the stream and cannot evict the others'
	// history. Real events are a few hundred bytes.
	eventsPerSubject = 256
	// eventsDuplicates is how long the stream remembers an event's
	// Nats-Msg-Id. An agent re-sends an event until it is acknowledged,
	// and a re-send is stored twice only when the first copy was stored,
	// its acknowledgement lost, and the agent stayed away longer than
	// this; both copies then carry the same instance and sequence. The
	// server keeps each id for the window (about 100 bytes), and agents
	// say little: starts, stops, refusals.
	eventsDuplicates = time.Hour
)

// ensureStreams creates or updates the events and audit streams and the
// KV buckets with the configured replica count, all at once. In a cluster
// each is retried on its own (see retry): every member runs this at start,
// and until enough members are up, or while another member's identical
// request is being applied, a request fails or goes unanswered.
func (c *Controller) ensureStreams(ctx context.Context) (reg, ids jetstream.KeyValue, err error) {
	replicas := c.opts.Replicas
	if c.plan != nil {
		if err := c.waitJetStream(ctx); err != nil {
			return nil, nil, err
		}
	}
	steps := []struct {
		what string
		fn   func(context.Context) error
	}{
		{"create stream " + EventsStream, func(ctx context.Context) error {
			_, err := c.js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
				Name:      EventsStream,
				Subjects:  []string{messages.EventWildcard},
				Retention: jetstream.LimitsPolicy,
				MaxAge:    eventsMaxAge,
				MaxBytes:  cmp.Or(c.opts.EventsMaxBytes, eventsMaxBytes),
				// An event is small (MaxEventBytes); anything larger is
				// refused by the stream whoever sent it.
				MaxMsgSize:        messages.MaxEventBytes + 1<<10, // room for subject and headers
				MaxMsgsPerSubject: eventsPerSubject,
				Duplicates:        eventsDuplicates,
				Discard:           jetstream.DiscardOld,
				Storage:           jetstream.FileStorage,
				Replicas:          replicas,
				MaxConsumers:      readerMaxConsumers,
				ConsumerLimits:    readerConsumerLimits,
			})
			return err
		}},
		{"create stream " + messages.AuditStream, func(ctx context.Context) error {
			return ensureAuditStream(ctx, c.js, replicas)
		}},
		{"create bucket " + RegistryBucket, func(ctx context.Context) error {
			var err error
			reg, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: RegistryBucket, Description: "fleet registry, rebuilt from heartbeats",
				History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
			})
			return err
		}},
		{"create bucket " + IdentityBucket, func(ctx context.Context) error {
			var err error
			ids, err = c.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
				Bucket: IdentityBucket, Description: "NATS identities of agents and operators",
				History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
			})
			return err
		}},
	}
	errs := make([]error, len(steps))
	var wg sync.WaitGroup
	for i, s := range steps {
		wg.Go(func() { errs[i] = c.retry(ctx, s.what, s.fn) })
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, nil, err
	}
	return reg, ids, nil
}

// publishEvent sends a controller-origin event into the events stream.
func (c *Controller) publishEvent(ev messages.Event) {
	ev.V = messages.Version
	if ev.Time == 0 {
		ev.Time = time.Now().UnixMilli()
	}
	ev.Source = "controller"
	subj, err := messages.EventSubject(ev.Host, ev.Type)
	if err != nil {
		c.logger.Warn("not publishing event with bad subject", "err", err)
		return
	}
	b, _ := json.Marshal(ev)
	if err := c.nc.Publish(subj, b); err != nil {
		c.logger.Warn("event publish failed", "type", ev.Type, "err", err)
	}
}
