package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/foundry-fleet/foundry/messages"
)

// Sources are what the scrape-time collector reads. Each may be nil
// (that part is left out), and each is called once per scrape, so it
// must be cheap at fleet size: a count over the registry's cache, one
// JetStream listing, the server's own statistics.
type Sources struct {
	// HostStates counts the known hosts by state (messages.StateOnline,
	// ...; enrolled hosts that never came up as messages.StateEnrolled).
	HostStates func() map[string]int
	// Streams lists the JetStream streams (KV buckets and object stores
	// included) with their sizes.
	Streams func(ctx context.Context) ([]Stream, error)
	// NATS reads the embedded server's statistics.
	NATS func() (NATS, error)
}

// Stream is one JetStream stream's size.
type Stream struct {
	Name     string
	Messages uint64
	Bytes    uint64
}

// NATS are the embedded server's figures (its varz).
type NATS struct {
	Connections      int    // client connections open now
	TotalConnections uint64 // client connections accepted since start
	Routes           int    // routes to other controllers of the cluster
	SlowConsumers    int64
	InMsgs, OutMsgs  int64
	InBytes          int64
	OutBytes         int64
}

// scrapeTimeout bounds the JetStream listing of one scrape, well inside
// Prometheus's default scrape timeout of 10s.
const scrapeTimeout = 5 * time.Second

// stateCollector reads the Sources when Prometheus scrapes.
type stateCollector struct {
	src Sources

	hosts, streamMsgs, streamBytes                                      *prometheus.Desc
	conns, connsTotal, routes, slow, inMsgs, outMsgs, inBytes, outBytes *prometheus.Desc
}

func newStateCollector(src Sources) *stateCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(name, help, labels, nil)
	}
	return &stateCollector{src: src,
		hosts:       d("foundry_hosts", "Hosts known to the controller, by state (online, stale, disconnected, offline, enrolled).", "state"),
		streamMsgs:  d("foundry_jetstream_stream_messages", "Messages in each JetStream stream (KV buckets and object stores included).", "stream"),
		streamBytes: d("foundry_jetstream_stream_bytes", "Bytes in each JetStream stream (KV buckets and object stores included).", "stream"),
		conns:       d("foundry_nats_connections", "Client connections to this controller's NATS server: agents (one each, two while fetching an artifact), operators and the controller itself."),
		connsTotal:  d("foundry_nats_connections_accepted_total", "Client connections this controller's NATS server accepted since it started."),
		routes:      d("foundry_nats_routes", "Routes from this controller's NATS server to the other controllers of its cluster."),
		slow:        d("foundry_nats_slow_consumers_total", "Times this controller's NATS server found a client too slow to take its messages."),
		inMsgs:      d("foundry_nats_received_messages_total", "Messages this controller's NATS server received from clients and routes."),
		outMsgs:     d("foundry_nats_sent_messages_total", "Messages this controller's NATS server sent to clients and routes."),
		inBytes:     d("foundry_nats_received_bytes_total", "Payload bytes this controller's NATS server received from clients and routes."),
		outBytes:    d("foundry_nats_sent_bytes_total", "Payload bytes this controller's NATS server sent to clients and routes."),
	}
}

// Describe implements prometheus.Collector.
func (s *stateCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{s.hosts, s.streamMsgs, s.streamBytes, s.conns, s.connsTotal, s.routes, s.slow,
		s.inMsgs, s.outMsgs, s.inBytes, s.outBytes} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (s *stateCollector) Collect(ch chan<- prometheus.Metric) {
	if s.src.HostStates != nil {
		s.collectHosts(ch, s.src.HostStates())
	}
	if s.src.Streams != nil {
		ctx, cancel := context.WithTimeout(context.Background(), scrapeTimeout)
		streams, err := s.src.Streams(ctx)
		cancel()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(s.streamMsgs, err)
		}
		for _, st := range streams {
			ch <- prometheus.MustNewConstMetric(s.streamMsgs, prometheus.GaugeValue, float64(st.Messages), st.Name)
			ch <- prometheus.MustNewConstMetric(s.streamBytes, prometheus.GaugeValue, float64(st.Bytes), st.Name)
		}
	}
	if s.src.NATS != nil {
		n, err := s.src.NATS()
		if err != nil {
			ch <- prometheus.NewInvalidMetric(s.conns, err)
			return
		}
		gauge := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
		counter := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v)
		}
		gauge(s.conns, float64(n.Connections))
		gauge(s.routes, float64(n.Routes))
		counter(s.connsTotal, float64(n.TotalConnections))
		counter(s.slow, float64(n.SlowConsumers))
		counter(s.inMsgs, float64(n.InMsgs))
		counter(s.outMsgs, float64(n.OutMsgs))
		counter(s.inBytes, float64(n.InBytes))
		counter(s.outBytes, float64(n.OutBytes))
	}
}

// collectHosts always reports the four liveness states, zero or not, so
// "no host offline" is a zero and not a missing series.
func (s *stateCollector) collectHosts(ch chan<- prometheus.Metric, counts map[string]int) {
	for _, st := range []string{messages.StateOnline, messages.StateStale, messages.StateDisconnected, messages.StateOffline} {
		if _, ok := counts[st]; !ok {
			ch <- prometheus.MustNewConstMetric(s.hosts, prometheus.GaugeValue, 0, st)
		}
	}
	for st, n := range counts {
		ch <- prometheus.MustNewConstMetric(s.hosts, prometheus.GaugeValue, float64(n), st)
	}
}
