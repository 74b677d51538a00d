package web

import (
	"context"
	"encoding/json"
	"log/slog"
	"maps"
	"sync"
	"time"

	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/target"
	"github.com/foundry-fleet/foundry/messages"
)

// HostView is the part of a host record the fleet page shows. It leaves
// out what changes with every heartbeat (load, memory used, uptime, the
// heartbeat time itself) and the heartbeat interval (which the controller
// changes for every host at once as the fleet grows), so a delta is sent when something a person
// would notice changed, not once per heartbeat per host.
type HostView struct {
	ID       string            `json:"id"`
	State    string            `json:"state"`
	LastSeen int64             `json:"last_seen,omitempty"`
	Version  string            `json:"version,omitempty"`
	Role     string            `json:"role,omitempty"`
	Labels   map[string]string `json:"labels,omitempty"`
	Hostname string            `json:"hostname,omitempty"`
	OS       string            `json:"os,omitempty"`
	Arch     string            `json:"arch,omitempty"`
	Kernel   string            `json:"kernel,omitempty"`
	CPUs     int               `json:"cpus,omitempty"`
	MemTotal uint64            `json:"mem_total,omitempty"`

	match target.Host // what --where is evaluated against
}

// ViewOf is the page's view of a host record.
func ViewOf(h messages.HostRecord) HostView {
	return HostView{ID: h.ID, State: h.State, LastSeen: h.LastSeen,
		Version: h.Facts.AgentVersion, Role: h.Role, Labels: h.Labels, Hostname: h.Facts.Hostname,
		OS: joinNonEmpty(h.Facts.OS, h.Facts.OSVersion), Arch: h.Facts.Arch, Kernel: h.Facts.Kernel,
		CPUs: h.Facts.CPUs, MemTotal: h.Facts.MemTotal,
		match: target.Host{ID: h.ID, State: h.State, Role: h.Role, Labels: h.Labels, Facts: h.Facts}}
}

func joinNonEmpty(a, b string) string {
	if b == "" {
		return a
	}
	return a + " " + b
}

// same says nothing shown changed between a and b (the heartbeat time
// aside).
func same(a, b HostView) bool {
	return a.State == b.State && a.Version == b.Version && a.Role == b.Role && maps.Equal(a.Labels, b.Labels) &&
		a.Hostname == b.Hostname && a.OS == b.OS && a.Arch == b.Arch && a.Kernel == b.Kernel &&
		a.CPUs == b.CPUs && a.MemTotal == b.MemTotal
}

// Diff is what changed between two fleets: hosts new or changed, and
// hosts gone. It is a pure function so the delta rule is tested once.
func Diff(prev, cur map[string]HostView) (upserts []HostView, removed []string) {
	for id, h := range cur {
		if p, ok := prev[id]; !ok || !same(p, h) {
			upserts = append(upserts, h)
		}
	}
	for id := range prev {
		if _, ok := cur[id]; !ok {
			removed = append(removed, id)
		}
	}
	return upserts, removed
}

// Message is one Server-Sent Event's data on /api/stream.
type Message struct {
	// Snapshot is the whole (filtered) fleet, sent once when a stream
	// starts; every later message is a delta.
	Snapshot []HostView      `json:"snapshot,omitempty"`
	Upserts  []HostView      `json:"upserts,omitempty"`
	Removed  []string        `json:"removed,omitempty"`
	Event    *messages.Event `json:"event,omitempty"`
}

// change is one comparison's result, shared by every subscriber.
type change struct {
	upserts []HostView
	removed []string
	event   *messages.Event
}

// subscriber is one open stream with its filter and what it was sent.
type subscriber struct {
	expr    target.Expr // nil: every host
	visible map[string]bool
	out     chan []byte
	gone    chan struct{}
}

// hub follows the fleet (comparing it every tick and after every event)
// and the event stream, and fans deltas out to subscribers.
type hub struct {
	src    Source
	tick   time.Duration
	now    func() time.Time
	logger *slog.Logger
	poke   chan struct{}

	// refreshing serializes comparisons, so an older read of the fleet
	// is never compared after a newer one.
	refreshing sync.Mutex

	mu    sync.Mutex
	fleet map[string]HostView
	subs  map[*subscriber]bool
	ready chan struct{}
}

func newHub(src Source, tick time.Duration, now func() time.Time, logger *slog.Logger) *hub {
	return &hub{src: src, tick: tick, now: now, logger: logger, poke: make(chan struct{}, 1),
		subs: map[*subscriber]bool{}, ready: make(chan struct{})}
}

func (h *hub) run(ctx context.Context) {
	go h.followEvents(ctx)
	t := time.NewTicker(h.tick)
	defer t.Stop()
	h.refresh(ctx)
	close(h.ready)
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case <-h.poke:
		}
		// Nobody watching: no need to read 10,000 hosts a second.
		// subscribe and /api/hosts compare first themselves.
		if h.watched() {
			h.refresh(ctx)
		}
	}
}

func (h *hub) watched() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.subs) > 0
}

// followEvents forwards new events to subscribers and compares the fleet
// at once after each (a host going offline is an event), reconnecting
// its reader if it ends.
func (h *hub) followEvents(ctx context.Context) {
	for ctx.Err() == nil {
		err := h.src.Events(ctx, client.EventQuery{Follow: true}, func(ev messages.Event) error {
			h.publish(change{event: &ev})
			select {
			case h.poke <- struct{}{}:
			default:
			}
			return nil
		})
		if ctx.Err() != nil {
			return
		}
		h.logger.Warn("web view: event stream ended; following again", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
}

// refresh compares the fleet with the last one and sends the difference.
func (h *hub) refresh(ctx context.Context) {
	h.refreshing.Lock()
	defer h.refreshing.Unlock()
	hosts, err := h.src.Hosts(ctx)
	if err != nil {
		h.logger.Warn("web view: cannot read the fleet", "err", err)
		return
	}
	cur := make(map[string]HostView, len(hosts))
	for _, r := range hosts {
		cur[r.ID] = ViewOf(r)
	}
	h.mu.Lock()
	up, rm := Diff(h.fleet, cur)
	h.fleet = cur
	h.mu.Unlock()
	if len(up) > 0 || len(rm) > 0 {
		h.publish(change{upserts: up, removed: rm})
	}
}

// publish sends c to every subscriber, each narrowed to its filter. A
// subscriber that cannot keep up is dropped; its browser reconnects and
// starts again from a snapshot.
func (h *hub) publish(c change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		b := s.delta(c)
		if b == nil {
			continue
		}
		select {
		case s.out <- b:
		default:
			delete(h.subs, s)
			close(s.gone)
		}
	}
}

// delta is c as subscriber s sees it, encoded; nil when it has nothing
// for s.
func (s *subscriber) delta(c change) []byte {
	var m Message
	m.Event = c.event
	for _, v := range c.upserts {
		if s.expr == nil || s.expr.Match(v.match) {
			s.visible[v.ID] = true
			m.Upserts = append(m.Upserts, v)
		} else if s.visible[v.ID] {
			delete(s.visible, v.ID)
			m.Removed = append(m.Removed, v.ID)
		}
	}
	for _, id := range c.removed {
		if s.visible[id] {
			delete(s.visible, id)
			m.Removed = append(m.Removed, id)
		}
	}
	if m.Event == nil && len(m.Upserts) == 0 && len(m.Removed) == 0 {
		return nil
	}
	b, _ := json.Marshal(m)
	return b
}

// subscribe registers a stream and returns its snapshot, taken under the
// same lock as publishing, so no delta is missed or applied twice.
func (h *hub) subscribe(ctx context.Context, expr target.Expr) (*subscriber, []byte) {
	select {
	case <-h.ready:
	case <-ctx.Done():
		return nil, nil
	}
	h.refresh(ctx)
	s := &subscriber{expr: expr, visible: map[string]bool{}, out: make(chan []byte, 256), gone: make(chan struct{})}
	h.mu.Lock()
	defer h.mu.Unlock()
	snap := make([]HostView, 0, len(h.fleet))
	for _, v := range h.fleet {
		if expr == nil || expr.Match(v.match) {
			snap = append(snap, v)
			s.visible[v.ID] = true
		}
	}
	h.subs[s] = true
	b, _ := json.Marshal(Message{Snapshot: snap})
	if len(snap) == 0 {
		b = []byte(`{"snapshot":[]}`)
	}
	return s, b
}

func (h *hub) unsubscribe(s *subscriber) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs[s] {
		delete(h.subs, s)
		close(s.gone)
	}
}

// snapshot is the current fleet narrowed by expr, for /api/hosts.
func (h *hub) snapshot(ctx context.Context, expr target.Expr) []HostView {
	h.refresh(ctx)
	h.mu.Lock()
	defer h.mu.Unlock()
	out := make([]HostView, 0, len(h.fleet))
	for _, v := range h.fleet {
		if expr == nil || expr.Match(v.match) {
			out = append(out, v)
		}
	}
	return out
}
