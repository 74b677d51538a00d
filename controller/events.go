package controller

import (
	"context"
	"encoding/json"
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
)

// ensureStreams creates or updates the events stream and the KV buckets.
func ensureStreams(ctx context.Context, js jetstream.JetStream, replicas int) (reg, ids jetstream.KeyValue, err error) {
	_, err = js.CreateOrUpdateStream(ctx, jetstream.StreamConfig{
		Name:      EventsStream,
		Subjects:  []string{messages.EventWildcard},
		Retention: jetstream.LimitsPolicy,
		MaxAge:    eventsMaxAge,
		MaxBytes:  eventsMaxBytes,
		Discard:   jetstream.DiscardOld,
		Storage:   jetstream.FileStorage,
		Replicas:  replicas,
	})
	if err != nil {
		return nil, nil, err
	}
	reg, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: RegistryBucket, Description: "fleet registry, rebuilt from heartbeats",
		History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
	})
	if err != nil {
		return nil, nil, err
	}
	ids, err = js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket: IdentityBucket, Description: "NATS identities of agents and operators",
		History: 1, Storage: jetstream.FileStorage, Replicas: replicas,
	})
	return reg, ids, err
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
