package agent

import (
	"maps"
	"sync"
	"sync/atomic"

	"github.com/foundry-fleet/foundry/messages"
)

// counters are this process's totals, sent with every heartbeat
// (messages.AgentCounters): the controller publishes them as fleet-wide
// metrics, so no host opens a metrics port of its own.
type counters struct {
	succeeded, failed atomic.Uint64
	fetched           atomic.Uint64 // bytes received on artifact fetch connections

	mu      sync.Mutex
	refused map[string]uint64 // by error code, one of the agent's own
}

// ran counts a command the agent ran, by whether it failed.
func (c *counters) ran(failure *messages.Error) {
	if failure != nil {
		c.failed.Add(1)
		return
	}
	c.succeeded.Add(1)
}

// refusedWith counts a command the agent answered with code without
// running it.
func (c *counters) refusedWith(code string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.refused == nil {
		c.refused = map[string]uint64{}
	}
	c.refused[code]++
}

// snapshot is what a heartbeat carries: nil while nothing happened, so
// an idle host's heartbeat stays as small as before.
func (c *counters) snapshot() *messages.AgentCounters {
	s := &messages.AgentCounters{CommandsSucceeded: c.succeeded.Load(), CommandsFailed: c.failed.Load(), ArtifactBytes: c.fetched.Load()}
	c.mu.Lock()
	if len(c.refused) > 0 {
		s.CommandsRefused = maps.Clone(c.refused)
	}
	c.mu.Unlock()
	if s.CommandsSucceeded == 0 && s.CommandsFailed == 0 && s.ArtifactBytes == 0 && s.CommandsRefused == nil {
		return nil
	}
	return s
}
