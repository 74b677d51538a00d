package controller

import (
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// A heartbeat from an instance that started before the host's current one
// is ignored as older (a partition's late copies of a dead process's
// words). Two cases look like that and are not:
//   - the host's key in use by two processes (a copied key: the squatter
//     of docs/compromised-host.md, or a cloned machine): both keep
//     heartbeating, and one of them is ignored once per interval for as
//     long as both run;
//   - an agent restarted after its host's clock went back: the new
//     process looks older than the one it replaced, and all it says
//     would be ignored while the host shows offline.
//
// Late copies arrive as one burst, so an ignored instance counts only when
// its heartbeats span more than sharedKeySpan intervals. Then, if the
// current instance is still heartbeating, the key is shared (an event
// says to rekey); if it has fallen silent, the ignored instance is the
// host's agent and is taken.
const sharedKeySpan = 2

// shadow is the last instance of a host whose heartbeats were ignored
// because another instance is current.
type shadow struct {
	instance string
	first    time.Time
	told     bool
}

// shadowVerdict is what an ignored heartbeat means.
type shadowVerdict int

const (
	shadowIgnore shadowVerdict = iota // a late copy, or not yet known
	shadowShared                      // two live processes: report, once
	shadowTake                        // the current instance is silent: take this one
)

// noteShadowLocked records heartbeat hb of host, which is older than the
// current record cur, and says what it means. r.mu must be held.
func (r *registry) noteShadowLocked(host string, hb messages.Heartbeat, cur messages.HostRecord, now time.Time) (shadowVerdict, messages.Event) {
	if hb.Kind == messages.KindGoodbye || hb.Instance == "" || hb.Instance == cur.Instance {
		return shadowIgnore, messages.Event{}
	}
	s, ok := r.shadows[host]
	if !ok || s.instance != hb.Instance {
		r.shadows[host] = shadow{instance: hb.Instance, first: now}
		return shadowIgnore, messages.Event{}
	}
	interval := time.Duration(max(hb.IntervalMs, cur.IntervalMs, minIntervalMs)) * time.Millisecond
	span := now.Sub(s.first)
	if span <= sharedKeySpan*interval {
		return shadowIgnore, messages.Event{}
	}
	if HostState(cur, now) != messages.StateOnline {
		delete(r.shadows, host)
		return shadowTake, messages.Event{}
	}
	if s.told {
		return shadowIgnore, messages.Event{}
	}
	s.told = true
	r.shadows[host] = s
	return shadowShared, messages.Event{Host: host, Type: messages.EventHostKeyShared, Severity: messages.SeverityWarning,
		Message: fmt.Sprintf("two agent processes use this host's key: instance %s has kept heartbeating for %s while instance %s is current; "+
			"if the host runs one agent, its key was copied: run foundry host rekey %s (see docs/compromised-host.md)",
			hb.Instance, span.Round(time.Second), cur.Instance, host),
		Fields: map[string]string{"ignored_instance": hb.Instance, "current_instance": cur.Instance}}
}
