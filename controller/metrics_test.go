package controller_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil/promlint"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// scrapeMetrics GETs the controller's metrics handler over HTTP, as
// Prometheus would, checks the text with promlint and parses it.
func scrapeMetrics(t *testing.T, c *controller.Controller) metricFamilies {
	t.Helper()
	srv := httptest.NewServer(c.MetricsHandler())
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", "text/plain")
	resp, err := srv.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", resp.Status, body)
	}
	problems, err := promlint.New(bytes.NewReader(body)).Lint()
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("promlint: %s: %s", p.Metric, p.Text)
	}
	var p expfmt.TextParser
	mfs, err := p.TextToMetricFamilies(bytes.NewReader(body))
	if err != nil {
		t.Fatalf("parse scrape: %v\n%s", err, body)
	}
	return mfs
}

type metricFamilies map[string]*dto.MetricFamily

// get is the value of family name's series with labels (name, value
// pairs; a histogram's value is its count), 0 when there is none.
func (m metricFamilies) get(name string, labels ...string) float64 {
	mf := m[name]
	for _, s := range mf.GetMetric() {
		match := true
		for i := 0; i+1 < len(labels); i += 2 {
			found := false
			for _, l := range s.GetLabel() {
				found = found || (l.GetName() == labels[i] && l.GetValue() == labels[i+1])
			}
			match = match && found
		}
		if !match {
			continue
		}
		switch mf.GetType() {
		case dto.MetricType_COUNTER:
			return s.GetCounter().GetValue()
		case dto.MetricType_GAUGE:
			return s.GetGauge().GetValue()
		case dto.MetricType_HISTOGRAM:
			return float64(s.GetHistogram().GetSampleCount())
		}
	}
	return 0
}

// grew checks that each series grew by exactly its delta between two
// scrapes.
func grew(t *testing.T, step string, before, after metricFamilies, want map[string]float64, labels map[string][]string) {
	t.Helper()
	for key, d := range want {
		name := key
		if l, ok := labels[key]; ok {
			name = l[0]
			if got := after.get(name, l[1:]...) - before.get(name, l[1:]...); got != d {
				t.Errorf("%s: %s%v grew by %v, want %v", step, name, l[1:], got, d)
			}
			continue
		}
		if got := after.get(name) - before.get(name); got != d {
			t.Errorf("%s: %s grew by %v, want %v", step, name, got, d)
		}
	}
}

// TestMetricsFollowTheFleet: a controller with real embedded NATS and
// three real agents serves metrics that parse, pass promlint, and move
// with what happens: heartbeats, a fan-out, jobs that succeed and fail,
// commands refused by the controller and by the agents, a replayed API
// request, and the agents' own counters from their heartbeats.
func TestMetricsFollowTheFleet(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ctx := context.Background()
	ct.StartAgents(t, c, admin, "m", 3)
	ct.EnrollConfig(t, admin, c, "never-up", t.TempDir()) // enrolled, no agent runs
	ct.WaitOnline(t, admin, 3)

	m := scrapeMetrics(t, c)
	for name, typ := range map[string]dto.MetricType{
		"foundry_hosts":                     dto.MetricType_GAUGE,
		"foundry_heartbeats_received_total": dto.MetricType_COUNTER,
		"foundry_jobs_finished_total":       dto.MetricType_COUNTER,
		"foundry_jetstream_stream_messages": dto.MetricType_GAUGE,
		"foundry_jetstream_stream_bytes":    dto.MetricType_GAUGE,
		"foundry_nats_connections":          dto.MetricType_GAUGE,
		"foundry_agent_commands_run_total":  dto.MetricType_COUNTER,
	} {
		if mf, ok := m[name]; !ok || mf.GetType() != typ {
			t.Errorf("family %s: present %v, type %v, want %v", name, ok, mf.GetType(), typ)
		}
	}
	if got := m.get("foundry_hosts", "state", messages.StateOnline); got != 3 {
		t.Errorf("online hosts: %v, want 3", got)
	}
	if got := m.get("foundry_hosts", "state", messages.StateOffline); got != 0 {
		t.Errorf("offline hosts: %v, want 0", got)
	}
	if got := m.get("foundry_hosts", "state", messages.StateEnrolled); got != 1 {
		t.Errorf("enrolled hosts never heard from: %v, want 1", got)
	}
	if got := m.get("foundry_heartbeats_received_total", "kind", messages.KindRegister); got < 3 {
		t.Errorf("register heartbeats: %v, want at least 3", got)
	}
	// 3 agents, the admin client, the controller's own connection.
	if got := m.get("foundry_nats_connections"); got < 5 {
		t.Errorf("NATS connections: %v, want at least 5", got)
	}
	if got := m.get("foundry_jetstream_stream_messages", "stream", messages.AuditStream); got == 0 {
		t.Error("the audit stream has no messages after an enrolment")
	}

	// Heartbeats keep coming (every 200ms here).
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		now := scrapeMetrics(t, c)
		if n, b := now.get("foundry_heartbeats_received_total", "kind", messages.KindHeartbeat), m.get("foundry_heartbeats_received_total", "kind", messages.KindHeartbeat); n < b+3 {
			return fmt.Errorf("heartbeats received %v, was %v", n, b)
		}
		return nil
	})

	labels := map[string][]string{
		"sent":          {"foundry_commands_sent_total", "verb", messages.VerbStatus},
		"fanouts":       {"foundry_fanout_duration_seconds", "verb", messages.VerbStatus},
		"hosts ok":      {"foundry_command_hosts_total", "verb", messages.VerbStatus, "outcome", messages.OutcomeSucceeded},
		"hosts refused": {"foundry_command_hosts_total", "verb", messages.VerbServiceStatus, "outcome", messages.OutcomeRefused},
		"jobs ok":       {"foundry_jobs_finished_total", "outcome", messages.JobSucceeded},
		"jobs stopped":  {"foundry_jobs_finished_total", "outcome", messages.JobStopped},
		"by agent":      {"foundry_commands_refused_total", "by", "agent", "reason", messages.CodeUnknownVerb},
		"by controller": {"foundry_commands_refused_total", "by", "controller", "reason", messages.CodeForbidden},
		"api replayed":  {"foundry_api_requests_refused_total", "reason", messages.CodeReplayed},
	}

	// A fan-out: one command, one duration, three hosts that succeeded.
	before := scrapeMetrics(t, c)
	res, err := admin.FleetStatus(ctx, messages.FleetStatusRequest{TimeoutMs: 5000})
	if err != nil || len(res.Responded) != 3 {
		t.Fatalf("fleet status: %v, %d hosts answered", err, len(res.Responded))
	}
	after := scrapeMetrics(t, c)
	grew(t, "fleet status", before, after, map[string]float64{"sent": 1, "fanouts": 1, "hosts ok": 3, "hosts refused": 0}, labels)
	if typ := after["foundry_fanout_duration_seconds"].GetType(); typ != dto.MetricType_HISTOGRAM {
		t.Errorf("fan-out duration is a %v, want a histogram", typ)
	}

	// A job that succeeds.
	before = after
	j, err := admin.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbStatus, TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitJob(t, admin, j.ID); j.State != messages.JobSucceeded {
		t.Fatalf("status job: %s", j.State)
	}
	after = scrapeMetrics(t, c)
	grew(t, "status job", before, after, map[string]float64{"sent": 1, "fanouts": 1, "hosts ok": 3, "jobs ok": 1, "jobs stopped": 0}, labels)

	// A job the agents refuse: these agents run no services, so they
	// answer service_status unknown_verb, and the first failure stops
	// the job (no failure budget).
	before = after
	j, err = admin.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceStatus, Payload: []byte(`{"component":"zot"}`), TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	if j = waitJob(t, admin, j.ID); j.State != messages.JobStopped {
		t.Fatalf("service_status job on agents without services: %s", j.State)
	}
	after = scrapeMetrics(t, c)
	grew(t, "refused job", before, after, map[string]float64{"hosts refused": 3, "by agent": 3, "jobs stopped": 1, "jobs ok": 0}, labels)

	// A command the controller will not sign: a read-only operator may
	// not run service_apply, even as a job.
	before = after
	viewer, err := ct.ClientAs(t, c, ct.CreateOperator(t, admin, "viewer", controller.RoleReadOnly))
	if err != nil {
		t.Fatal(err)
	}
	spec := []byte(`{"component":"zot","artifact":"zot","version":"1.0.0"}`)
	if _, err := viewer.RunJob(ctx, messages.JobRunRequest{Verb: messages.VerbServiceApply, Payload: spec}); messages.CodeOf(err) != messages.CodeForbidden {
		t.Fatalf("read-only service_apply job: %v, want forbidden", err)
	}
	// An API request sent twice: the second is a replay.
	kp := keyPair(t, c.AdminCredsPath())
	replayed := signedMsg(t, kp, messages.APIOperatorList, []byte(`{}`))
	if e := apiError(t, c.InternalConn(), replayed); e != nil {
		t.Fatalf("first delivery refused: %v", e)
	}
	if e := apiError(t, c.InternalConn(), replayed); e == nil || e.Code != messages.CodeReplayed {
		t.Fatalf("second delivery: %+v, want replayed", e)
	}
	after = scrapeMetrics(t, c)
	grew(t, "refusals", before, after, map[string]float64{"by controller": 1, "api replayed": 1, "sent": 0}, labels)

	// What the agents counted themselves reaches the controller with
	// their next heartbeats: each ran two status commands (fleet status,
	// job) and refused one service_status since the controller first
	// heard from it.
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() error {
		now := scrapeMetrics(t, c)
		ran := now.get("foundry_agent_commands_run_total", "outcome", messages.OutcomeSucceeded)
		refused := now.get("foundry_agent_commands_refused_total", "reason", messages.CodeUnknownVerb)
		if ran < 6 || refused != 3 {
			return fmt.Errorf("agents report %v commands run and %v refused as unknown_verb, want at least 6 and 3", ran, refused)
		}
		return nil
	})
}
