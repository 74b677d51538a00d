package controller_test

import (
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/controller"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// These tests hold one agent's stolen credentials (its NKey seed and the
// CA, what an owned host gives away) and forge what that agent says about
// itself. The controller and CLI must believe the subject, the operator's
// assignment and their own records over the agent's word.

// stolen connects with web-1's credentials; the real agent is not running
// (the host is dead or the attacker keeps it off the bus).
func stolen(t *testing.T, c *controller.Controller, cl *client.Client) *nats.Conn {
	t.Helper()
	cfg := ct.EnrollConfigWith(t, cl, c, messages.EnrollRequest{Host: "web-1", Role: "web"}, t.TempDir())
	nc, err := connectAs(t, c, cfg.NKeyFile)
	if err != nil {
		t.Fatal(err)
	}
	return nc
}

func forgeHeartbeat(t *testing.T, nc *nats.Conn, hb messages.Heartbeat) {
	t.Helper()
	hb.V, hb.Time = messages.Version, time.Now().UnixMilli()
	hb.Facts = ct.Facts("web-1")(context.Background())
	b, _ := json.Marshal(hb)
	subj, _ := messages.HeartbeatSubject("web-1")
	if err := nc.Publish(subj, b); err != nil {
		t.Fatal(err)
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
}

func hostRecord(t *testing.T, cl *client.Client, id string) (messages.HostRecord, bool) {
	t.Helper()
	hl, err := cl.HostList(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, h := range hl.Hosts {
		if h.ID == id {
			return h, true
		}
	}
	return messages.HostRecord{}, false
}

// One heartbeat with a huge interval must not keep a dead host online for
// longer than the liveness policy's longest interval allows.
func TestForgedHeartbeatIntervalCannotKeepDeadHostOnline(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	nc := stolen(t, c, cl)
	forgeHeartbeat(t, nc, messages.Heartbeat{Kind: messages.KindRegister, IntervalMs: 365 * 24 * 3600 * 1000})

	var rec messages.HostRecord
	ct.CheckFor(t, 5*time.Second, 20*time.Millisecond, func() error {
		var ok bool
		if rec, ok = hostRecord(t, cl, "web-1"); !ok || rec.LastSeen == 0 {
			return fmt.Errorf("forged heartbeat not seen yet: %+v", rec)
		}
		return nil
	})
	if rec.IntervalMs > controller.HeartbeatMax.Milliseconds() {
		t.Errorf("advertised interval %d ms taken as is; the policy's longest is %s", rec.IntervalMs, controller.HeartbeatMax)
	}
	silentUntil := time.UnixMilli(rec.LastSeen).Add(controller.OfflineFactor*controller.HeartbeatMax + time.Second)
	if st := controller.HostState(rec, silentUntil); st != messages.StateOffline {
		t.Fatalf("host silent for %d policy intervals is %s, want offline", controller.OfflineFactor, st)
	}
}

// A host that claims a role it was not assigned is not selected by it:
// --where uses the operator's assignment, and the claim is shown apart.
func TestForgedRoleIsNotUsedForTargeting(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ct.RunAgent(t, ct.EnrollConfigWith(t, cl, c, messages.EnrollRequest{Host: "bao-1", Role: "openbao"}, t.TempDir()))
	nc := stolen(t, c, cl)
	forgeHeartbeat(t, nc, messages.Heartbeat{Kind: messages.KindRegister, IntervalMs: 1000,
		Role: "openbao", Labels: map[string]string{"tier": "secrets"}})
	ct.WaitOnline(t, cl, 2)

	res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Where: "role=openbao", TimeoutMs: 3000})
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, h := range res.Responded {
		got = append(got, h.Host)
	}
	for _, h := range res.Missing {
		got = append(got, h.Host)
	}
	if res.Expected != 1 || len(got) != 1 || got[0] != "bao-1" {
		t.Fatalf("role=openbao selected %v (expected %d), want only bao-1", got, res.Expected)
	}
	if res, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Where: "label.tier=secrets", TimeoutMs: 3000}); err == nil && res.Expected != 0 {
		t.Fatalf("a self-reported label selected %d hosts", res.Expected)
	}
	rec, _ := hostRecord(t, cl, "web-1")
	if rec.Role != "web" || rec.ReportedRole != "openbao" || rec.Labels != nil {
		t.Fatalf("host list: role %q labels %v (reported %q), want the assigned role web and the claim apart", rec.Role, rec.Labels, rec.ReportedRole)
	}
}

// An event's host and source are read from the subject: a stolen agent
// can speak only about itself, only as an agent, whatever its body says.
func TestForgedEventHostAndSourceAreTakenFromSubject(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	nc := stolen(t, c, cl)
	body, _ := json.Marshal(messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Host: "db-1", Type: messages.EventHostOnline,
		Severity: messages.SeverityInfo, Message: "forged", Source: messages.EventSourceController})
	// A controller event type is not the agent's to publish at all.
	controllerType, _ := messages.EventSubject("web-1", messages.EventHostOnline)
	agentType, _ := messages.EventSubject("web-1", messages.EventAgentStarted)
	for _, s := range []string{controllerType, agentType} {
		if err := nc.Publish(s, body); err != nil {
			t.Fatal(err)
		}
	}
	if err := nc.Flush(); err != nil {
		t.Fatal(err)
	}
	var forged []messages.Event
	ct.CheckFor(t, 5*time.Second, 50*time.Millisecond, func() error {
		forged = nil
		err := cl.Events(context.Background(), client.EventQuery{Host: "web-1", Since: time.Hour}, func(e messages.Event) error {
			if e.Message == "forged" {
				forged = append(forged, e)
			}
			return nil
		})
		if err != nil || len(forged) == 0 {
			return fmt.Errorf("forged events: %v %v", forged, err)
		}
		return nil
	})
	for _, e := range forged {
		if e.Host != "web-1" || e.Source != messages.EventSourceAgent || e.Type == messages.EventHostOnline {
			t.Errorf("event shown as host %q source %q type %q; want web-1, agent, and no controller type", e.Host, e.Source, e.Type)
		}
	}
	if len(forged) != 1 {
		t.Errorf("%d forged events stored, want only the agent-typed one", len(forged))
	}
}

// A forged refusal of a command the controller issued is recorded under
// the operator the controller signed it for; the agent's claim is kept
// apart.
func TestForgedRefusalCannotBlameAnotherOperator(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ct.RunAgent(t, ct.EnrollConfig(t, cl, c, "bao-1", t.TempDir()))
	nc := stolen(t, c, cl)
	ct.WaitOnline(t, cl, 1)
	st, err := cl.FleetStatus(context.Background(), messages.FleetStatusRequest{Hosts: []string{"bao-1"}, TimeoutMs: 3000})
	if err != nil {
		t.Fatal(err)
	}
	ev := messages.Event{V: messages.Version, Time: time.Now().UnixMilli(), Host: "web-1", Type: messages.EventCmdRefused,
		Severity: messages.SeverityWarning, Message: "forged refusal", RequestID: st.RequestID, Source: messages.EventSourceAgent,
		Fields: map[string]string{"operator": "viewer", "verb": messages.VerbUninstall, "code": messages.CodeForbidden}}
	b, _ := json.Marshal(ev)
	subj, _ := messages.EventSubject("web-1", messages.EventCmdRefused)
	if err := nc.Publish(subj, b); err != nil {
		t.Fatal(err)
	}
	rec := waitAudit(t, cl, "forged refusal", func(a messages.AuditRecord) bool {
		return a.Source == messages.AuditSourceAgent && a.Host == "web-1" && a.RequestID == st.RequestID
	})
	if rec.Operator != "admin" || rec.OperatorClaimed != "viewer" || rec.Verb != messages.VerbStatus {
		t.Fatalf("refusal recorded as operator %q (claimed %q) verb %q; want admin, the claim viewer apart, and the issued verb status",
			rec.Operator, rec.OperatorClaimed, rec.Verb)
	}
}
