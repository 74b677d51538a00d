package controller

import (
	"context"
	"encoding/json"
	"errors"
	"hash/fnv"
	"log/slog"
	"sort"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/foundry-fleet/foundry/controller/metrics"
	"github.com/foundry-fleet/foundry/messages"
)

// Liveness thresholds as multiples of a host's own heartbeat interval: a
// host is online while its last heartbeat is younger than OnlineFactor
// intervals, stale until OfflineFactor intervals, then offline. Using the
// host's advertised interval keeps the rule right when intervals grow with
// fleet size.
const (
	OnlineFactor  = 3
	OfflineFactor = 10
	minIntervalMs = 500
)

// HostState derives a host's state from its record at time now. It is a
// pure function so the rule is tested once and applied everywhere.
func HostState(r messages.HostRecord, now time.Time) string {
	if r.Goodbye {
		return messages.StateOffline
	}
	if r.Disconnected {
		return messages.StateDisconnected
	}
	iv := max(r.IntervalMs, minIntervalMs)
	age := now.UnixMilli() - r.LastSeen
	switch {
	case age <= OnlineFactor*iv:
		return messages.StateOnline
	case age <= OfflineFactor*iv:
		return messages.StateStale
	default:
		return messages.StateOffline
	}
}

// registry is the fleet as learned from heartbeats. The KV bucket is the
// durable copy (it survives controller restarts and is shared by clustered
// controllers); the map is a read cache so listing 10,000 hosts costs no
// round trips.
type registry struct {
	kv     jetstream.KeyValue
	logger *slog.Logger
	events func(messages.Event)
	// onRegister, when set, sees every register heartbeat's trusted key
	// ids, so hosts that missed a key rotation are brought forward.
	onRegister func(host string, trust []string)
	// onRegistered, when set, sees every register heartbeat this
	// controller takes (not only those it persists): job steps re-send
	// to hosts that come back.
	onRegistered func(host string)
	// metrics counts heartbeats and sums the agents' counters; nil
	// counts nothing.
	metrics *metrics.Metrics

	mu    sync.RWMutex
	hosts map[string]*messages.HostRecord
	last  map[string]string // last state an event was published for
	// written is what the bucket last got for each host, from whichever
	// controller wrote it (its own writes and the bucket's watch): the
	// queue group hands a host's heartbeats to any controller, and one
	// that judged only its own writes found nearly every heartbeat due.
	written map[string]writeMark
	// gone holds hosts removed (here or, through the bucket, by another
	// controller) until when a heartbeat other than a register may not
	// bring them back: one already on its way when the host was removed
	// or revoked would otherwise put a record back that no agent keeps
	// current, a host "offline" forever.
	gone map[string]time.Time
	// shadows are instances heard after another took over (sharedkey.go).
	shadows map[string]shadow
	// clock is time.Now; tests move it.
	clock func() time.Time
}

// goneFor is how long a removed host's late heartbeats are ignored.
const goneFor = time.Minute

func newRegistry(kv jetstream.KeyValue, logger *slog.Logger, events func(messages.Event)) *registry {
	return &registry{kv: kv, logger: logger, events: events,
		hosts: map[string]*messages.HostRecord{}, last: map[string]string{}, written: map[string]writeMark{},
		gone: map[string]time.Time{}, shadows: map[string]shadow{}, clock: time.Now}
}

// removedLocked says a heartbeat of kind for host comes after its
// removal and must not bring it back. r.mu must be held.
func (r *registry) removedLocked(host, kind string, now time.Time) bool {
	until, ok := r.gone[host]
	switch {
	case !ok:
		return false
	case now.After(until) || kind == messages.KindRegister:
		delete(r.gone, host)
		return false
	}
	return true
}

// dropLocked forgets host in the cache. r.mu must be held.
func (r *registry) dropLocked(host string, now time.Time) {
	delete(r.hosts, host)
	delete(r.last, host)
	delete(r.written, host)
	delete(r.shadows, host)
	r.gone[host] = now.Add(goneFor)
	r.metrics.ForgetHost(host)
}

// Heartbeats reach the registry twice. Every controller observes every
// heartbeat (a plain subscription) and keeps its own cache current from
// it, and one controller (a queue group) persists it to the bucket, the
// copy a restarted or new controller starts from. The bucket is written
// only when a heartbeat says something new (register, goodbye, another
// interval, role, labels, trusted keys or static facts) or its copy is
// persistAfter intervals old: liveness alone no longer costs a replicated
// write per heartbeat, which at 50,000 hosts was more than a three-node
// cluster on two cores could store.
const persistAfter = OnlineFactor - 1

// observe is every controller's heartbeat subscription: it updates the
// cache and announces state changes. The host id comes from the subject,
// which NATS permissions tie to the publisher's identity.
func (r *registry) observe(msg *nats.Msg) {
	host, hb, ok := r.decodeHeartbeat(msg)
	if !ok {
		return
	}
	r.metrics.HeartbeatReceived(hb.Kind)
	now := r.clock()
	r.mu.Lock()
	if r.removedLocked(host, hb.Kind, now) {
		r.mu.Unlock()
		return
	}
	rec, ok := r.hosts[host]
	if ok && hb.Position().Before(rec.Position()) {
		verdict, ev := r.noteShadowLocked(host, hb, *rec, now)
		if verdict != shadowTake {
			cur := rec.Instance
			r.mu.Unlock()
			r.ignored(host, hb, cur)
			if verdict == shadowShared {
				r.logger.Warn("two agent processes use one host's key", "host", host, "ignored_instance", hb.Instance, "current_instance", cur)
				r.events(ev)
			}
			return
		}
		r.logger.Info("taking a host's agent instance that looked older: it kept heartbeating while the current one fell silent (a clock that went back?)",
			"host", host, "instance", hb.Instance, "previous_instance", rec.Instance)
	}
	if !ok {
		rec = &messages.HostRecord{ID: host, FirstSeen: now.UnixMilli()}
		r.hosts[host] = rec
	}
	mergeHeartbeat(rec, hb, now)
	snapshot := *rec
	r.mu.Unlock()
	r.metrics.AgentCounters(host, hb.Instance, hb.Counters)
	r.transition(snapshot, now)
	if hb.Kind == messages.KindRegister && r.onRegistered != nil {
		r.onRegistered(host)
	}
}

// persist is the queue group's heartbeat subscription: it writes the
// bucket when due and brings registering hosts' trust up to date.
func (r *registry) persist(msg *nats.Msg) {
	host, hb, ok := r.decodeHeartbeat(msg)
	if !ok {
		return
	}
	now := time.Now()
	r.mu.Lock()
	if r.removedLocked(host, hb.Kind, now) {
		r.mu.Unlock()
		return
	}
	rec := messages.HostRecord{ID: host, FirstSeen: now.UnixMilli()}
	if cur, ok := r.hosts[host]; ok {
		if hb.Position().Before(cur.Position()) {
			r.mu.Unlock()
			return // observe says so
		}
		rec = *cur
		rec.FirstSeen = min(rec.FirstSeen, now.UnixMilli())
	}
	mergeHeartbeat(&rec, hb, now)
	prev, written := r.written[host]
	due := persistDue(prev, written, rec, hb.Kind, now)
	if due {
		r.written[host] = writeMark{at: now, key: persistentKey(rec)}
	}
	r.mu.Unlock()

	if due {
		if b, err := json.Marshal(rec); err == nil {
			if _, err := r.kv.Put(context.Background(), host, b); err != nil {
				r.logger.Warn("registry write failed", "host", host, "err", err)
				r.mu.Lock()
				delete(r.written, host) // try again with the next heartbeat
				r.mu.Unlock()
			}
		}
	}
	if hb.Kind == messages.KindRegister && r.onRegister != nil {
		r.onRegister(host, rec.TrustedKeyIDs)
	}
}

func (r *registry) decodeHeartbeat(msg *nats.Msg) (string, messages.Heartbeat, bool) {
	host, err := messages.HostFromSubject(messages.HeartbeatPrefix, msg.Subject)
	if err != nil {
		r.logger.Warn("dropping heartbeat on bad subject", "subject", msg.Subject, "err", err)
		return "", messages.Heartbeat{}, false
	}
	hb, err := messages.DecodeHeartbeat(msg.Data)
	if err != nil {
		r.logger.Warn("dropping bad heartbeat", "host", host, "err", err)
		return "", messages.Heartbeat{}, false
	}
	hb.IntervalMs = boundInterval(hb.IntervalMs)
	return host, hb, true
}

// ignored logs a heartbeat said before the one the registry has: what an
// earlier agent process said, held up by a partition until after its
// successor registered (a goodbye that would mark a connected host
// offline), or a late copy.
func (r *registry) ignored(host string, hb messages.Heartbeat, current string) {
	lvl := slog.LevelDebug
	if hb.Kind == messages.KindGoodbye {
		lvl = slog.LevelInfo
	}
	r.logger.Log(context.Background(), lvl, "ignoring a heartbeat older than the host's last", "host", host,
		"kind", hb.Kind, "instance", hb.Instance, "seq", hb.Seq, "current_instance", current)
}

// mergeHeartbeat applies a heartbeat received at now to rec; the caller
// has checked that it is not older than rec (messages.Position).
func mergeHeartbeat(rec *messages.HostRecord, hb messages.Heartbeat, now time.Time) {
	rec.Instance, rec.Started, rec.Seq = hb.Instance, hb.Started, hb.Seq
	rec.LastSeen = now.UnixMilli()
	rec.IntervalMs = hb.IntervalMs
	rec.Goodbye = hb.Kind == messages.KindGoodbye
	rec.Disconnected = false
	rec.Facts = hb.Facts
	rec.Role, rec.Labels = hb.Role, hb.Labels
	if len(hb.Trust) > 0 {
		rec.TrustedKeyIDs = boundedIDs(hb.Trust)
	}
}

// writeMark is what was last persisted for a host (persistentKey), and
// when.
type writeMark struct {
	at  time.Time
	key uint64
}

// persistDue decides whether rec, just merged from a heartbeat of kind,
// must be written: a register or goodbye always, anything that changed
// what persistentKey covers, and otherwise once the written copy is
// persistAfter intervals old (so a restarted controller's copy shows the
// host online until its next heartbeat).
func persistDue(prev writeMark, written bool, rec messages.HostRecord, kind string, now time.Time) bool {
	if !written || kind != messages.KindHeartbeat {
		return true
	}
	if persistentKey(rec) != prev.key {
		return true
	}
	iv := time.Duration(max(rec.IntervalMs, minIntervalMs)) * time.Millisecond
	return now.Sub(prev.at) >= persistAfter*iv
}

// persistentKey is what of a record is worth a write when it changes: not
// liveness, not usage figures (memory and disk used, load, uptime), which
// change with every heartbeat.
// It is a 64-bit hash, kept for every host on every controller; a
// collision would only delay a write until the copy is due anyway.
func persistentKey(rec messages.HostRecord) uint64 {
	f := rec.Facts
	b, _ := json.Marshal([]any{rec.IntervalMs, rec.Role, rec.Labels, rec.TrustedKeyIDs,
		f.Hostname, f.MachineID, f.OS, f.OSVersion, f.Kernel, f.Arch, f.CPUs, f.MemTotal, f.DiskTotal, f.AgentVersion, f.LastUpgradeFailed})
	h := fnv.New64a()
	h.Write(b)
	return h.Sum64()
}

// boundedIDs keeps at most MaxTrustedKeys short ids from a heartbeat, which
// is the agent's word and must not grow the registry without bound.
func boundedIDs(ids []string) []string {
	out := make([]string, 0, min(len(ids), messages.MaxTrustedKeys))
	for _, id := range ids {
		if len(out) == messages.MaxTrustedKeys {
			break
		}
		if len(id) <= 64 {
			out = append(out, id)
		}
	}
	return out
}

// transition publishes an event when a host's state changed since the last
// event for it.
func (r *registry) transition(rec messages.HostRecord, now time.Time) {
	state := HostState(rec, now)
	r.mu.Lock()
	prev, seen := r.last[rec.ID]
	r.last[rec.ID] = state
	r.mu.Unlock()
	if seen && prev == state {
		return
	}
	typ, sev := messages.EventHostOnline, messages.SeverityInfo
	switch state {
	case messages.StateStale:
		typ, sev = messages.EventHostStale, messages.SeverityWarning
	case messages.StateOffline:
		typ, sev = messages.EventHostOffline, messages.SeverityWarning
		if rec.Goodbye {
			sev = messages.SeverityInfo
		}
	case messages.StateDisconnected:
		typ, sev = messages.EventHostDisconnected, messages.SeverityWarning
	}
	msg := "host is " + state
	switch {
	case rec.Goodbye:
		msg = "agent stopped cleanly"
	case state == messages.StateDisconnected:
		msg = "the agent's connection closed without a goodbye"
	}
	r.events(messages.Event{Host: rec.ID, Type: typ, Severity: sev, Message: msg,
		Fields: map[string]string{"previous": prev}})
}

// sweep re-derives every host's state so hosts that fell silent become
// stale and then offline, with an event each time, and returns how many
// are online or stale (what the liveness policy counts). It runs often,
// so it copies only the hosts whose state changed.
func (r *registry) sweep(now time.Time) (online int) {
	var changed []messages.HostRecord
	r.mu.RLock()
	for id, h := range r.hosts {
		state := HostState(*h, now)
		if state == messages.StateOnline || state == messages.StateStale {
			online++
		}
		if prev, seen := r.last[id]; !seen || prev != state {
			changed = append(changed, *h)
		}
	}
	r.mu.RUnlock()
	for _, rec := range changed {
		r.transition(rec, now)
	}
	return online
}

// markDisconnected records that the server saw host's command connection
// close (disconnects.go) and announces it. A host that said goodbye stays
// offline, and one the registry does not know is left alone: it will
// register when it connects.
func (r *registry) markDisconnected(host string, now time.Time) {
	r.markDisconnectedUnlessSeen(host, -1, now)
}

// markDisconnectedUnlessSeen is markDisconnected for a host last seen at
// seen (unix ms) when it was found without a connection: a heartbeat
// that arrived since proves it connected after all. seen < 0 skips that
// check.
func (r *registry) markDisconnectedUnlessSeen(host string, seen int64, now time.Time) {
	r.mu.Lock()
	rec, ok := r.hosts[host]
	if !ok || rec.Goodbye || rec.Disconnected || (seen >= 0 && rec.LastSeen != seen) {
		r.mu.Unlock()
		return
	}
	rec.Disconnected = true
	snapshot := *rec
	r.mu.Unlock()
	r.transition(snapshot, now)
}

// scan calls fn for every host with its derived state, without copying
// or sorting (list does both). fn runs under the registry's read lock: it
// must not keep h or call back into the registry.
func (r *registry) scan(now time.Time, fn func(h *messages.HostRecord, state string)) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, h := range r.hosts {
		fn(h, HostState(*h, now))
	}
}

// list returns every host with its derived state, sorted by id.
func (r *registry) list(now time.Time) []messages.HostRecord {
	r.mu.RLock()
	out := make([]messages.HostRecord, 0, len(r.hosts))
	for _, h := range r.hosts {
		rec := *h
		rec.State = HostState(rec, now)
		out = append(out, rec)
	}
	r.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// size is how many hosts the registry knows.
func (r *registry) size() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.hosts)
}

// get returns one host.
func (r *registry) get(id string) (messages.HostRecord, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	h, ok := r.hosts[id]
	if !ok {
		return messages.HostRecord{}, false
	}
	return *h, true
}

// forget removes a host from the registry (host remove).
func (r *registry) forget(ctx context.Context, id string) error {
	r.mu.Lock()
	r.dropLocked(id, time.Now())
	r.mu.Unlock()
	if err := r.kv.Delete(ctx, id); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return err
	}
	return nil
}
