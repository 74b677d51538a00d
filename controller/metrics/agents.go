package metrics

import (
	"maps"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foundry-fleet/foundry/messages"
)

// agentTotals turns the running totals agents send in their heartbeats
// into fleet-wide counters. An agent's totals restart from zero with each
// process, and a sum of what the hosts said last would fall when a host
// restarts or is removed, which a Prometheus counter must never do; so
// each heartbeat adds only what grew since the same host's last one.
//
// What a process counted before this controller first heard from it is
// taken as the starting point, not added: after a controller restart the
// fleet's whole history would otherwise arrive as one spike. What a
// process counted between its last heartbeat and its end is not seen.
type agentTotals struct {
	run, refused, fetched *prometheus.Desc

	mu   sync.Mutex
	last map[string]agentLast // host -> what its last heartbeat said
	sum  messages.AgentCounters
}

type agentLast struct {
	instance string
	c        messages.AgentCounters
}

func newAgentTotals() *agentTotals {
	return &agentTotals{
		run: prometheus.NewDesc("foundry_agent_commands_run_total",
			"Verified commands the fleet's agents ran, by outcome, summed from their heartbeats.", []string{"outcome"}, nil),
		refused: prometheus.NewDesc("foundry_agent_commands_refused_total",
			"Commands the fleet's agents refused to run (forged, expired, replayed, not allowed, busy...), by error code, summed from their heartbeats.",
			[]string{"reason"}, nil),
		fetched: prometheus.NewDesc("foundry_agent_artifact_fetched_bytes_total",
			"Bytes the fleet's agents received on their artifact fetch connections, summed from their heartbeats.", nil, nil),
		last: map[string]agentLast{},
		sum:  messages.AgentCounters{CommandsRefused: map[string]uint64{}},
	}
}

// observe takes the totals (nil: all zero) from a heartbeat of host's
// process instance, which the registry accepted as newer than the last.
func (a *agentTotals) observe(host, instance string, c *messages.AgentCounters) {
	var cur messages.AgentCounters
	if c != nil {
		cur = *c
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	prev, known := a.last[host]
	a.last[host] = agentLast{instance: instance, c: cur}
	if !known {
		return
	}
	if prev.instance != instance {
		prev.c = messages.AgentCounters{} // a new process counts from zero
	}
	a.sum.CommandsSucceeded += grown(prev.c.CommandsSucceeded, cur.CommandsSucceeded)
	a.sum.CommandsFailed += grown(prev.c.CommandsFailed, cur.CommandsFailed)
	a.sum.ArtifactBytes += grown(prev.c.ArtifactBytes, cur.ArtifactBytes)
	for code, n := range cur.CommandsRefused {
		if d := grown(prev.c.CommandsRefused[code], n); d > 0 {
			a.sum.CommandsRefused[reason(code)] += d
		}
	}
}

// grown is how much a running total grew; one that went down started
// again (it cannot within one process, but it is the agent's word).
func grown(prev, cur uint64) uint64 {
	if cur < prev {
		return cur
	}
	return cur - prev
}

func (a *agentTotals) forget(host string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.last, host)
}

// Describe implements prometheus.Collector.
func (a *agentTotals) Describe(ch chan<- *prometheus.Desc) {
	ch <- a.run
	ch <- a.refused
	ch <- a.fetched
}

// Collect implements prometheus.Collector.
func (a *agentTotals) Collect(ch chan<- prometheus.Metric) {
	a.mu.Lock()
	s := a.sum
	refused := maps.Clone(s.CommandsRefused)
	a.mu.Unlock()
	ch <- prometheus.MustNewConstMetric(a.run, prometheus.CounterValue, float64(s.CommandsSucceeded), messages.OutcomeSucceeded)
	ch <- prometheus.MustNewConstMetric(a.run, prometheus.CounterValue, float64(s.CommandsFailed), messages.OutcomeFailed)
	for code, n := range refused {
		ch <- prometheus.MustNewConstMetric(a.refused, prometheus.CounterValue, float64(n), code)
	}
	ch <- prometheus.MustNewConstMetric(a.fetched, prometheus.CounterValue, float64(s.ArtifactBytes))
}
