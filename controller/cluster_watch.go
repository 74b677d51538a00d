package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/messages"
)

// Every controller keeps two caches of replicated state: the
// authenticator's identities and the registry's hosts. Each follows its
// KV bucket with a watcher, so whatever one controller writes (an
// enrolment, a revocation, a heartbeat) every other controller applies
// within a round trip. A single controller runs the same code and simply
// sees its own writes come back.

// kvChange is one bucket entry as a watcher sees it.
type kvChange struct {
	key   string
	op    jetstream.KeyValueOp
	value []byte
}

// Watcher timing: an idle pull request is renewed every watchExpiry and
// the server sends a heartbeat every watchHeartbeat, so a watcher whose
// consumer lived on a member that went away notices within about two
// heartbeats and nats.go recreates the consumer on a member that is up,
// from where it left off. (nats.go's KV watcher uses a push consumer with
// 5 s heartbeats and takes 10-20 s to recover in the same situation.)
const (
	watchExpiry    = 10 * time.Second
	watchHeartbeat = time.Second
)

// follow applies the bucket's current content (initial=true) and returns
// once it has all been applied, so the caller starts from complete state;
// then it keeps applying changes (initial=false) in order until runCtx
// ends. It reads the bucket's stream with an ordered consumer, which is
// what a KV watcher is, with a short heartbeat.
func (c *Controller) follow(ctx, runCtx context.Context, kv jetstream.KeyValue, apply func(ch kvChange, initial bool)) error {
	bucket := kv.Bucket()
	prefix := "$KV." + bucket + "."
	var cons jetstream.Consumer
	err := c.retry(ctx, "watch "+bucket, func(ctx context.Context) error {
		var err error
		cons, err = c.js.OrderedConsumer(ctx, "KV_"+bucket, jetstream.OrderedConsumerConfig{
			FilterSubjects: []string{prefix + ">"}, DeliverPolicy: jetstream.DeliverLastPerSubjectPolicy})
		return err
	})
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucket, err)
	}
	caughtUp := make(chan struct{})
	var once sync.Once
	markCaughtUp := func() { once.Do(func() { close(caughtUp) }) }
	var initial atomic.Bool
	var received atomic.Uint64
	pending := cons.CachedInfo().NumPending
	if pending == 0 {
		markCaughtUp()
	} else {
		initial.Store(true)
	}
	done := func() {
		initial.Store(false)
		markCaughtUp()
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		first := initial.Load()
		apply(kvChange{key: strings.TrimPrefix(m.Subject(), prefix), op: kvOp(m.Headers()), value: m.Data()}, first)
		n := received.Add(1)
		if first {
			if md, err := m.Metadata(); n >= pending || (err == nil && md.NumPending == 0) {
				done()
			}
		}
	}, jetstream.PullExpiry(watchExpiry), jetstream.PullHeartbeat(watchHeartbeat),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			// Missed heartbeats and recreated consumers are expected
			// while a member goes away; nats.go recovers by itself.
			c.logger.Debug("bucket watcher", "bucket", bucket, "err", err)
		}))
	if err != nil {
		return fmt.Errorf("watch %s: %w", bucket, err)
	}
	go func() {
		<-runCtx.Done()
		cc.Stop()
	}()
	// Should an entry counted at creation vanish before delivery (deleted
	// with its history, expired), no message would say "caught up"; the
	// consumer's own state does.
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-caughtUp:
			return nil
		case <-tick.C:
			ictx, cancel := context.WithTimeout(ctx, time.Second)
			info, err := cons.Info(ictx)
			cancel()
			if err == nil && info.NumPending == 0 && received.Load() >= info.Delivered.Consumer {
				done()
			}
		case <-ctx.Done():
			cc.Stop()
			return fmt.Errorf("read %s: %w", bucket, ctx.Err())
		}
	}
}

// kvOp reads the operation a KV message stands for from its headers.
func kvOp(h nats.Header) jetstream.KeyValueOp {
	switch h.Get("KV-Operation") {
	case "DEL":
		return jetstream.KeyValueDelete
	case "PURGE":
		return jetstream.KeyValuePurge
	}
	switch h.Get(jetstream.MarkerReasonHeader) {
	case "MaxAge", "Purge":
		return jetstream.KeyValuePurge
	case "Remove":
		return jetstream.KeyValueDelete
	}
	return jetstream.KeyValuePut
}

// applyRegistry merges one registry entry into the registry cache. Initial
// entries only set the last known state (as a restart should not announce
// every host again); later ones go through the usual transition, whose
// events only the leading controller publishes (registryEvent).
func (c *Controller) applyRegistry(ch kvChange, initial bool) {
	c.reg.apply(ch, initial, time.Now())
}

func (r *registry) apply(ch kvChange, initial bool, now time.Time) {
	switch ch.op {
	case jetstream.KeyValueDelete, jetstream.KeyValuePurge:
		r.mu.Lock()
		r.dropLocked(ch.key, now)
		r.mu.Unlock()
		return
	}
	var rec messages.HostRecord
	if json.Unmarshal(ch.value, &rec) != nil || rec.ID != ch.key || messages.ValidHostID(rec.ID) != nil {
		r.logger.Warn("skipping damaged registry entry", "key", ch.key)
		return
	}
	r.mu.Lock()
	if at := time.UnixMilli(rec.LastSeen); !at.Before(r.written[rec.ID].at) {
		r.written[rec.ID] = writeMark{at: at, key: persistentKey(rec)}
	}
	// A record older than what this controller already has is an echo of
	// a heartbeat it has since handled itself (or a late delivery), or
	// comes from an earlier instance of the host's agent.
	cur, ok := r.hosts[rec.ID]
	if ok && (cur.LastSeen > rec.LastSeen || rec.Position().Before(cur.Position())) {
		r.mu.Unlock()
		return
	}
	if ok && cur.LastSeen == rec.LastSeen {
		// The bucket's copy of the same heartbeat does not know of a
		// disconnect seen since (it is never written).
		rec.Disconnected = cur.Disconnected
	}
	// The map gets a copy of its own: rec is read below, after the lock,
	// while a heartbeat may already update the stored record.
	stored := rec
	r.hosts[rec.ID] = &stored
	if initial {
		r.last[rec.ID] = HostState(rec, now)
		r.mu.Unlock()
		return
	}
	r.mu.Unlock()
	r.transition(rec, now)
}

// registryEvent publishes a host state change. In a cluster every
// controller derives every host's state from the same bucket, so each
// would announce the same change; only the leading controller does. The
// others still track the state, so a new leader does not repeat old news.
func (c *Controller) registryEvent(ev messages.Event) {
	if !c.leads() {
		return
	}
	c.publishEvent(ev)
}

// liveClients returns the ids of pub's connections that are still up on
// this server.
func (a *authenticator) liveClients(pub string) []uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.pruneLocked(pub)
	out := make([]uint64, 0, len(a.conns[pub]))
	for cid := range a.conns[pub] {
		out = append(out, cid)
	}
	return out
}
