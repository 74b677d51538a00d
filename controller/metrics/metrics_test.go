package metrics_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/foundry-fleet/foundry/controller/metrics"
	"github.com/foundry-fleet/foundry/messages"
)

// scrape fetches h's text exposition and parses it.
func scrape(t *testing.T, h http.Handler) (map[string]*dto.MetricFamily, []byte) {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
	req.Header.Set("Accept", "text/plain") // the text format, whatever promhttp prefers
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return mfs, body
}

// value is the value of the series of family name whose labels include
// want (name=value pairs); ok is false when there is none.
func value(mfs map[string]*dto.MetricFamily, name string, want ...string) (float64, bool) {
	mf, found := mfs[name]
	if !found {
		return 0, false
	}
	for _, m := range mf.GetMetric() {
		if !hasLabels(m, want) {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return m.GetCounter().GetValue(), true
		case dto.MetricType_GAUGE:
			return m.GetGauge().GetValue(), true
		case dto.MetricType_HISTOGRAM:
			return float64(m.GetHistogram().GetSampleCount()), true
		}
	}
	return 0, false
}

func hasLabels(m *dto.Metric, want []string) bool {
	for i := 0; i+1 < len(want); i += 2 {
		found := false
		for _, l := range m.GetLabel() {
			if l.GetName() == want[i] && l.GetValue() == want[i+1] {
				found = true
			}
		}
		if !found {
			return false
		}
	}
	return true
}

func lint(t *testing.T, body []byte) {
	t.Helper()
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
}

func fixedSources() metrics.Sources {
	return metrics.Sources{
		HostStates: func() map[string]int {
			return map[string]int{messages.StateOnline: 7, messages.StateOffline: 1, messages.StateEnrolled: 2}
		},
		Streams: func(context.Context) ([]metrics.Stream, error) {
			return []metrics.Stream{{Name: "FOUNDRY_EVENTS", Messages: 12, Bytes: 3400}, {Name: "KV_foundry_registry", Messages: 8, Bytes: 900}}, nil
		},
		NATS: func() (metrics.NATS, error) {
			return metrics.NATS{Connections: 9, TotalConnections: 20, InMsgs: 100, OutMsgs: 90, InBytes: 5000, OutBytes: 4000}, nil
		},
	}
}

// TestScrapeHasEveryFamilyWithItsTypeAndLintsClean: the exposition parses,
// names every family the docs list with its type, reports the sources'
// figures, and promlint finds nothing in it.
func TestScrapeHasEveryFamilyWithItsTypeAndLintsClean(t *testing.T) {
	m := metrics.New(nil, fixedSources())
	m.HeartbeatReceived(messages.KindRegister)
	m.CommandSent(messages.VerbStatus)
	m.CommandRefused(messages.CodeForbidden)
	m.CommandDone(messages.VerbStatus, 30*time.Millisecond, []messages.AuditHost{
		{Host: "a", Outcome: messages.OutcomeSucceeded}, {Host: "b", Outcome: messages.OutcomeRefused, Code: messages.CodeExpired},
		{Host: "c", Outcome: messages.OutcomeMissing}})
	m.JobFinished(messages.JobSucceeded)
	m.APIRefused(messages.CodeUnauthenticated)
	m.AgentCounters("a", "i1", nil)
	m.AgentCounters("a", "i1", &messages.AgentCounters{CommandsSucceeded: 1, CommandsRefused: map[string]uint64{messages.CodeReplayed: 1}})

	mfs, body := scrape(t, m.Handler())
	for name, typ := range map[string]dto.MetricType{
		"foundry_hosts":                              dto.MetricType_GAUGE,
		"foundry_heartbeats_received_total":          dto.MetricType_COUNTER,
		"foundry_commands_sent_total":                dto.MetricType_COUNTER,
		"foundry_commands_refused_total":             dto.MetricType_COUNTER,
		"foundry_command_hosts_total":                dto.MetricType_COUNTER,
		"foundry_fanout_duration_seconds":            dto.MetricType_HISTOGRAM,
		"foundry_jobs_finished_total":                dto.MetricType_COUNTER,
		"foundry_api_requests_refused_total":         dto.MetricType_COUNTER,
		"foundry_jetstream_stream_messages":          dto.MetricType_GAUGE,
		"foundry_jetstream_stream_bytes":             dto.MetricType_GAUGE,
		"foundry_nats_connections":                   dto.MetricType_GAUGE,
		"foundry_nats_connections_accepted_total":    dto.MetricType_COUNTER,
		"foundry_nats_routes":                        dto.MetricType_GAUGE,
		"foundry_nats_slow_consumers_total":          dto.MetricType_COUNTER,
		"foundry_nats_received_messages_total":       dto.MetricType_COUNTER,
		"foundry_nats_sent_messages_total":           dto.MetricType_COUNTER,
		"foundry_nats_received_bytes_total":          dto.MetricType_COUNTER,
		"foundry_nats_sent_bytes_total":              dto.MetricType_COUNTER,
		"foundry_agent_commands_run_total":           dto.MetricType_COUNTER,
		"foundry_agent_commands_refused_total":       dto.MetricType_COUNTER,
		"foundry_agent_artifact_fetched_bytes_total": dto.MetricType_COUNTER,
	} {
		mf, ok := mfs[name]
		if !ok {
			t.Errorf("no family %s", name)
			continue
		}
		if mf.GetType() != typ {
			t.Errorf("%s is a %s, want %s", name, mf.GetType(), typ)
		}
	}
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"foundry_hosts", []string{"state", "online"}, 7},
		{"foundry_hosts", []string{"state", "stale"}, 0}, // reported although the source left it out
		{"foundry_hosts", []string{"state", "disconnected"}, 0},
		{"foundry_hosts", []string{"state", "enrolled"}, 2},
		{"foundry_heartbeats_received_total", []string{"kind", "register"}, 1},
		{"foundry_heartbeats_received_total", []string{"kind", "goodbye"}, 0},
		{"foundry_commands_refused_total", []string{"by", "controller", "reason", "forbidden"}, 1},
		{"foundry_commands_refused_total", []string{"by", "agent", "reason", "expired"}, 1},
		{"foundry_command_hosts_total", []string{"outcome", "missing"}, 1},
		{"foundry_command_hosts_total", []string{"outcome", "refused"}, 1},
		{"foundry_fanout_duration_seconds", []string{"verb", "status"}, 1},
		{"foundry_jobs_finished_total", []string{"outcome", "stopped"}, 0},
		{"foundry_jetstream_stream_bytes", []string{"stream", "FOUNDRY_EVENTS"}, 3400},
		{"foundry_nats_connections", nil, 9},
		{"foundry_agent_commands_run_total", []string{"outcome", "succeeded"}, 1},
		{"foundry_agent_commands_refused_total", []string{"reason", "replayed"}, 1},
	} {
		if got, ok := value(mfs, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	lint(t, body)
}

// TestAgentTotalsAddOnlyWhatGrew: the fleet's agent counters add each
// host's growth between heartbeats; the first heartbeat a controller sees
// is a starting point, a new process counts from zero, and a removed
// host that comes back starts again from what it then says.
func TestAgentTotalsAddOnlyWhatGrew(t *testing.T) {
	m := metrics.New(nil, metrics.Sources{})
	c := func(ok, fetched uint64, refused map[string]uint64) *messages.AgentCounters {
		return &messages.AgentCounters{CommandsSucceeded: ok, ArtifactBytes: fetched, CommandsRefused: refused}
	}
	m.AgentCounters("a", "i1", c(50, 1000, nil))                                        // first sight: baseline
	m.AgentCounters("a", "i1", c(53, 1500, map[string]uint64{messages.CodeExpired: 2})) // +3, +500, expired +2
	m.AgentCounters("b", "j1", nil)
	m.AgentCounters("b", "j1", c(1, 0, map[string]uint64{"made-up code": 4})) // an unknown code is "other"
	m.AgentCounters("a", "i2", c(2, 100, nil))                                // restarted: all of it is new
	m.AgentCounters("a", "i2", c(2, 100, nil))                                // nothing grew
	m.ForgetHost("b")
	m.AgentCounters("b", "j1", c(9, 0, nil)) // back after removal: baseline again

	mfs, _ := scrape(t, m.Handler())
	for _, c := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"foundry_agent_commands_run_total", []string{"outcome", "succeeded"}, 3 + 1 + 2},
		{"foundry_agent_commands_run_total", []string{"outcome", "failed"}, 0},
		{"foundry_agent_artifact_fetched_bytes_total", nil, 500 + 100},
		{"foundry_agent_commands_refused_total", []string{"reason", "expired"}, 2},
		{"foundry_agent_commands_refused_total", []string{"reason", "other"}, 4},
	} {
		if got, ok := value(mfs, c.name, c.labels...); !ok || got != c.want {
			t.Errorf("%s%v = %v (present %v), want %v", c.name, c.labels, got, ok, c.want)
		}
	}
	if len(mfs["foundry_agent_commands_refused_total"].GetMetric()) != 2 {
		t.Errorf("refusal series: %v", mfs["foundry_agent_commands_refused_total"])
	}
}

// TestReasonLabelsAreBoundedToKnownCodes: codes in agents' replies are
// their word; one that Foundry does not define is "other", so a host
// cannot add series at will.
func TestReasonLabelsAreBoundedToKnownCodes(t *testing.T) {
	m := metrics.New(nil, metrics.Sources{})
	var hosts []messages.AuditHost
	for i := range 50 {
		hosts = append(hosts, messages.AuditHost{Host: "h", Outcome: messages.OutcomeRefused, Code: strings.Repeat("x", i+1)})
	}
	m.CommandDone(messages.VerbStatus, time.Millisecond, hosts)
	m.APIRefused("nonsense")
	mfs, _ := scrape(t, m.Handler())
	if got, _ := value(mfs, "foundry_commands_refused_total", "by", "agent", "reason", "other"); got != 50 {
		t.Errorf("refusals with made-up codes: %v, want 50 under other", got)
	}
	if n := len(mfs["foundry_commands_refused_total"].GetMetric()); n != 1 {
		t.Errorf("%d refusal series, want 1", n)
	}
	if got, _ := value(mfs, "foundry_api_requests_refused_total", "reason", "other"); got != 1 {
		t.Errorf("API refusal with a made-up code: %v", got)
	}
}

// TestFailingSourceLeavesTheRestOfTheScrape: JetStream that cannot list
// its streams (no quorum) costs those series only; the scrape still
// answers with everything else, and the failure is logged.
func TestFailingSourceLeavesTheRestOfTheScrape(t *testing.T) {
	var logs bytes.Buffer
	src := fixedSources()
	src.Streams = func(context.Context) ([]metrics.Stream, error) { return nil, errors.New("no JetStream quorum") }
	m := metrics.New(slog.New(slog.NewTextHandler(&logs, nil)), src)
	mfs, _ := scrape(t, m.Handler())
	if _, ok := mfs["foundry_jetstream_stream_messages"]; ok {
		t.Error("stream series despite the failure")
	}
	if v, ok := value(mfs, "foundry_hosts", "state", "online"); !ok || v != 7 {
		t.Errorf("hosts online: %v %v", v, ok)
	}
	if !strings.Contains(logs.String(), "no JetStream quorum") {
		t.Errorf("failure not logged: %s", logs.String())
	}
}

// TestNilMetricsCountsNothing: code that runs without a controller (unit
// tests of the registry) may call a nil *Metrics.
func TestNilMetricsCountsNothing(t *testing.T) {
	var m *metrics.Metrics
	m.HeartbeatReceived(messages.KindHeartbeat)
	m.AgentCounters("a", "i", &messages.AgentCounters{CommandsSucceeded: 1})
	m.ForgetHost("a")
	m.CommandSent(messages.VerbStatus)
	m.CommandRefused(messages.CodeForbidden)
	m.CommandDone(messages.VerbStatus, time.Second, []messages.AuditHost{{Host: "a", Outcome: messages.OutcomeSucceeded}})
	m.JobFinished(messages.JobFailed)
	m.APIRefused(messages.CodeForbidden)
	if m != nil {
		t.Fatal("m changed")
	}
}

// TestDocsListEveryFamily: docs/metrics.md names every foundry_ family
// the handler serves, and nothing it does not.
func TestDocsListEveryFamily(t *testing.T) {
	doc, err := os.ReadFile(filepath.Join("..", "..", "docs", "metrics.md"))
	if err != nil {
		t.Fatal(err)
	}
	documented := map[string]bool{}
	for _, name := range regexp.MustCompile("`(foundry_[a-z_]+)`").FindAllStringSubmatch(string(doc), -1) {
		documented[name[1]] = true
	}
	m := metrics.New(nil, fixedSources())
	m.CommandSent(messages.VerbStatus) // the vectors' families appear with their first series
	m.CommandRefused(messages.CodeForbidden)
	m.CommandDone(messages.VerbStatus, time.Millisecond, []messages.AuditHost{{Host: "a", Outcome: messages.OutcomeSucceeded}})
	m.APIRefused(messages.CodeForbidden)
	m.AgentCounters("a", "i", nil)
	m.AgentCounters("a", "i", &messages.AgentCounters{CommandsRefused: map[string]uint64{messages.CodeExpired: 1}})
	mfs, _ := scrape(t, m.Handler())
	for name := range mfs {
		if strings.HasPrefix(name, "foundry_") && !documented[name] {
			t.Errorf("%s is served but not in docs/metrics.md", name)
		}
	}
	for name := range documented {
		if _, ok := mfs[name]; !ok {
			t.Errorf("docs/metrics.md lists %s, which is not served", name)
		}
	}
}
