// Package metrics is the controller's Prometheus instrumentation: the
// fleet as the registry sees it, heartbeats, commands and their fan-outs,
// jobs, JetStream and the embedded NATS server, and what the agents count
// themselves, carried in their heartbeats so no host needs a metrics port.
//
// Whatever can be read when Prometheus scrapes (hosts by state, stream
// sizes, connections) is read then, by a collector; only events that
// leave no state behind (a heartbeat, a command sent, a job finished) are
// counted as they happen, through the Metrics methods the controller
// calls. Every Metrics has its own registry: nothing registers with
// Prometheus's global default, so two controllers in one process (tests,
// clusters on one machine) do not collide.
//
// Every controller of a cluster sees every heartbeat, so each one reports
// the whole fleet's host and agent figures; sum those across controllers
// and the fleet counts several times (take max, or scrape one). Commands,
// fan-outs, jobs and API refusals are each controller's own.
package metrics

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/foundry-fleet/foundry/messages"
)

// Metrics holds the controller's metrics and the registry that serves
// them. A nil *Metrics is valid and counts nothing, so code paths that run
// without a controller (unit tests of the registry) need no setup.
type Metrics struct {
	reg    *prometheus.Registry
	logger *slog.Logger

	heartbeats      *prometheus.CounterVec
	heartbeatKinds  map[string]prometheus.Counter // resolved once: every heartbeat counts
	commandsSent    *prometheus.CounterVec
	commandsRefused *prometheus.CounterVec
	commandHosts    *prometheus.CounterVec
	fanout          *prometheus.HistogramVec
	jobs            *prometheus.CounterVec
	apiRefused      *prometheus.CounterVec
	agents          *agentTotals
}

// Refusals are told apart by who refused: the controller, before it
// signed anything (the operator's role does not allow the verb), or an
// agent, in its reply.
const (
	ByController = "controller"
	ByAgent      = "agent"
)

// New creates the metrics and registers them, with collectors that read
// src at scrape time, the Go runtime's and the process's.
func New(logger *slog.Logger, src Sources) *Metrics {
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	m := &Metrics{reg: prometheus.NewRegistry(), logger: logger}
	m.heartbeats = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_heartbeats_received_total",
		Help: "Heartbeats received from agents, by kind (register, heartbeat, goodbye).",
	}, []string{"kind"})
	m.commandsSent = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_commands_sent_total",
		Help: "Signed commands this controller sent, one per command however many hosts it targets, by verb.",
	}, []string{"verb"})
	m.commandsRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_commands_refused_total",
		Help: "Commands refused, by who refused (controller: never signed; agent: one per refusing host) and the error code.",
	}, []string{"by", "reason"})
	m.commandHosts = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_command_hosts_total",
		Help: "Hosts targeted by this controller's commands, by verb and what became of each (succeeded, failed, refused, missing).",
	}, []string{"verb", "outcome"})
	m.fanout = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "foundry_fanout_duration_seconds",
		Help: "Time from sending a command until every targeted host answered or the command timed out, by verb.",
		// 5ms (a status to a few hosts) to about 12 minutes (service
		// applies and agent upgrades wait for artifacts and health, up
		// to 5 minutes a step by default).
		Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 14),
	}, []string{"verb"})
	m.jobs = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_jobs_finished_total",
		Help: "Rolling jobs this controller ran to their end, by outcome (succeeded, failed, stopped).",
	}, []string{"outcome"})
	m.apiRefused = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "foundry_api_requests_refused_total",
		Help: "Operator API requests refused before they ran, by error code (unauthenticated, forbidden, replayed, ...).",
	}, []string{"reason"})
	m.agents = newAgentTotals()

	m.reg.MustRegister(m.heartbeats, m.commandsSent, m.commandsRefused, m.commandHosts, m.fanout, m.jobs, m.apiRefused,
		m.agents, newStateCollector(src),
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	// Series that exist from the start, so a rate or an alert on them has
	// a zero to start from rather than no data.
	m.heartbeatKinds = map[string]prometheus.Counter{}
	for _, k := range []string{messages.KindRegister, messages.KindHeartbeat, messages.KindGoodbye} {
		m.heartbeatKinds[k] = m.heartbeats.WithLabelValues(k)
	}
	for _, o := range []string{messages.JobSucceeded, messages.JobFailed, messages.JobStopped} {
		m.jobs.WithLabelValues(o)
	}
	return m
}

// Handler serves the metrics in Prometheus's exposition formats. A
// source that fails (JetStream without quorum) is logged and left out;
// the rest of the scrape is still served, since that is when the other
// figures matter most. Scrapes beyond a few at once, or slower than
// Prometheus's default timeout, are answered 503 rather than piling up
// work on the controller.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{
		ErrorLog:            errorLog{m.logger},
		ErrorHandling:       promhttp.ContinueOnError,
		Registry:            m.reg, // counts its own errors (promhttp_metric_handler_errors_total)
		MaxRequestsInFlight: maxScrapesInFlight,
		Timeout:             2 * scrapeTimeout,
	})
}

// maxScrapesInFlight is how many scrapes may run at once: one Prometheus
// per controller is the usual, a pair for redundancy, and a person with
// curl.
const maxScrapesInFlight = 4

// HeartbeatReceived counts one decoded heartbeat of kind (the decoder
// admits only the three kinds).
func (m *Metrics) HeartbeatReceived(kind string) {
	if m == nil {
		return
	}
	if c, ok := m.heartbeatKinds[kind]; ok {
		c.Inc()
	}
}

// AgentCounters takes the totals a heartbeat of host's agent process
// instance carried (nil: all zero); see agentTotals.
func (m *Metrics) AgentCounters(host, instance string, c *messages.AgentCounters) {
	if m == nil {
		return
	}
	m.agents.observe(host, instance, c)
}

// ForgetHost drops what is remembered of a removed host.
func (m *Metrics) ForgetHost(host string) {
	if m == nil {
		return
	}
	m.agents.forget(host)
}

// CommandSent counts a signed command on its way to the hosts.
func (m *Metrics) CommandSent(verb string) {
	if m == nil {
		return
	}
	m.commandsSent.WithLabelValues(verb).Inc()
}

// CommandRefused counts a command the controller would not sign, with
// the error code it answered.
func (m *Metrics) CommandRefused(code string) {
	if m == nil {
		return
	}
	m.commandsRefused.WithLabelValues(ByController, reason(code)).Inc()
}

// CommandDone records a finished fan-out of verb: how long it took, and
// each targeted host's outcome as the audit trail has it; hosts that
// refused count as refusals by agent, by their code. Hosts are counted
// first and added once per outcome: a broadcast may name 10,000.
func (m *Metrics) CommandDone(verb string, elapsed time.Duration, hosts []messages.AuditHost) {
	if m == nil {
		return
	}
	m.fanout.WithLabelValues(verb).Observe(elapsed.Seconds())
	outcomes := map[string]int{}
	refusals := map[string]int{}
	for _, h := range hosts {
		switch h.Outcome {
		case messages.OutcomeSucceeded, messages.OutcomeFailed, messages.OutcomeMissing:
		case messages.OutcomeRefused:
			refusals[reason(h.Code)]++
		default:
			continue
		}
		outcomes[h.Outcome]++
	}
	for o, n := range outcomes {
		m.commandHosts.WithLabelValues(verb, o).Add(float64(n))
	}
	for r, n := range refusals {
		m.commandsRefused.WithLabelValues(ByAgent, r).Add(float64(n))
	}
}

// JobFinished counts a job that ended in state (messages.JobSucceeded,
// JobFailed or JobStopped).
func (m *Metrics) JobFinished(state string) {
	if m == nil {
		return
	}
	m.jobs.WithLabelValues(state).Inc()
}

// APIRefused counts an operator API request refused with code.
func (m *Metrics) APIRefused(code string) {
	if m == nil {
		return
	}
	m.apiRefused.WithLabelValues(reason(code)).Inc()
}

// reason keeps label values to the error codes Foundry defines: codes in
// agents' replies and heartbeats are the agents' word, and a label value
// per distinct string would let one host grow every scrape without bound.
func reason(code string) string {
	switch code {
	case messages.CodeBadRequest, messages.CodeTooLarge, messages.CodeUnsupported, messages.CodeUnsigned,
		messages.CodeBadSignature, messages.CodeUnknownKey, messages.CodeExpired, messages.CodeNotYetValid,
		messages.CodeReplayed, messages.CodeNotTarget, messages.CodeUnknownVerb, messages.CodeForbidden,
		messages.CodeUnauthenticated, messages.CodeConflict, messages.CodeNotFound, messages.CodeUnavailable,
		messages.CodeInternal:
		return code
	}
	return "other"
}

// errorLog is promhttp's error log on slog.
type errorLog struct{ l *slog.Logger }

func (e errorLog) Println(v ...any) {
	e.l.Warn("metrics scrape incomplete", "err", slogValue(v))
}

func slogValue(v []any) any {
	if len(v) == 1 {
		return v[0]
	}
	return v
}
