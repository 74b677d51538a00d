package controller

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/foundry-fleet/foundry/controller/metrics"
	"github.com/foundry-fleet/foundry/messages"
)

// MetricsHandler serves this controller's Prometheus metrics. The
// controller opens no listener for it: the web listener mounts it at
// /metrics.
func (c *Controller) MetricsHandler() http.Handler { return c.metrics.Handler() }

// newMetrics creates the controller's metrics. What the controller
// already knows (the registry, JetStream, the NATS server) is read when
// Prometheus scrapes rather than counted as it changes.
func (c *Controller) newMetrics() *metrics.Metrics {
	return metrics.New(c.logger.With("component", "metrics"), metrics.Sources{
		HostStates: c.hostStates,
		Streams:    c.streamSizes,
		NATS:       c.natsFigures,
	})
}

// hostStates counts the hosts as host list shows them: the registry's,
// by state, and the enrolled hosts no heartbeat has come from yet. It
// copies no records: a scrape of 10,000 hosts costs a scan of the
// registry's cache and a list of the enrolled host names.
func (c *Controller) hostStates() map[string]int {
	out := map[string]int{}
	if c.reg == nil {
		return out
	}
	c.reg.scan(time.Now(), func(_ *messages.HostRecord, state string) { out[state]++ })
	if n := c.reg.unknown(c.auth.agentHosts()); n > 0 {
		out[messages.StateEnrolled] = n
	}
	return out
}

// agentHosts are the hosts with an enrolled agent identity.
func (a *authenticator) agentHosts() []string {
	a.mu.RLock()
	defer a.mu.RUnlock()
	out := make([]string, 0, len(a.hosts))
	for h := range a.hosts {
		out = append(out, h)
	}
	return out
}

// unknown counts the hosts the registry has no record of.
func (r *registry) unknown(hosts []string) int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	n := 0
	for _, h := range hosts {
		if _, ok := r.hosts[h]; !ok {
			n++
		}
	}
	return n
}

// streamSizes lists every stream of the controller's account: events,
// audit, and the streams behind the KV buckets and the artifact store.
func (c *Controller) streamSizes(ctx context.Context) ([]metrics.Stream, error) {
	if c.js == nil {
		return nil, nil
	}
	var out []metrics.Stream
	l := c.js.ListStreams(ctx)
	for info := range l.Info() {
		out = append(out, metrics.Stream{Name: info.Config.Name, Messages: info.State.Msgs, Bytes: info.State.Bytes})
	}
	if err := l.Err(); err != nil {
		return out, fmt.Errorf("list JetStream streams: %w", err)
	}
	return out, nil
}

// natsFigures reads the embedded server's varz.
func (c *Controller) natsFigures() (metrics.NATS, error) {
	if c.srv == nil {
		return metrics.NATS{}, nil
	}
	v, err := c.srv.Varz(nil)
	if err != nil {
		return metrics.NATS{}, fmt.Errorf("read NATS server statistics: %w", err)
	}
	return metrics.NATS{Connections: v.Connections, TotalConnections: v.TotalConnections, Routes: v.Routes,
		SlowConsumers: v.SlowConsumers, InMsgs: v.InMsgs, OutMsgs: v.OutMsgs, InBytes: v.InBytes, OutBytes: v.OutBytes}, nil
}
