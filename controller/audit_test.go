package controller_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// Every command leaves two records before and after it runs, with the
// operator, verb, targets, request id and each host's outcome.
func TestEveryCommandIsAuditedWithItsOutcome(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	agents := ct.StartAgents(t, c, admin, "web", 2)
	ct.WaitOnline(t, admin, 2)
	before := c.Server().NumClients()
	if err := agents[1].Kill(); err != nil {
		t.Fatal(err)
	}
	// Until the server has dropped the connection, a command to web-2 is
	// still delivered (and then unanswered) rather than "not connected".
	ct.CheckFor(t, 10*time.Second, 20*time.Millisecond, func() error {
		if n := c.Server().NumClients(); n != before-1 {
			return fmt.Errorf("server still has %d clients, want %d", n, before-1)
		}
		return nil
	})
	ctx := t.Context()
	hosts := []string{"web-1", "web-2"}
	st, err := admin.FleetStatus(ctx, messages.FleetStatusRequest{Hosts: hosts, TimeoutMs: 5000})
	if err != nil {
		t.Fatal(err)
	}
	var issued, done *messages.AuditRecord
	for _, r := range auditRecords(t, admin, "admin") {
		if r.RequestID != st.RequestID {
			continue
		}
		switch r.Outcome {
		case messages.OutcomeIssued:
			issued = &r
		case messages.OutcomePartial:
			done = &r
		}
	}
	if issued == nil || done == nil {
		t.Fatalf("want an issued and a partial record for %s", st.RequestID)
	}
	for _, r := range []*messages.AuditRecord{issued, done} {
		if r.Source != messages.AuditSourceCommand || r.Operator != "admin" || r.Role != controller.RoleAdmin ||
			r.Verb != messages.VerbStatus || r.Action != "fleet.status" || !slices.Equal(r.Targets, hosts) ||
			r.APIRequestID == "" || r.OperatorKey == "" || r.Time == 0 {
			t.Fatalf("incomplete record: %+v", r)
		}
	}
	if issued.Time > done.Time {
		t.Fatal("issued recorded after completion")
	}
	want := []messages.AuditHost{
		{Host: "web-1", Outcome: messages.OutcomeSucceeded},
		{Host: "web-2", Outcome: messages.OutcomeMissing, Message: messages.ReasonNotConnected},
	}
	if !slices.Equal(done.Hosts, want) {
		t.Fatalf("per-host outcomes %+v, want %+v", done.Hosts, want)
	}

	// host remove of the dead host: the uninstall command is audited, and
	// so is the enrolment before it, as an API write.
	if _, err := admin.RemoveHost(ctx, messages.HostRemoveRequest{Host: "web-2"}); err != nil {
		t.Fatal(err)
	}
	waitAudit(t, admin, "uninstall of web-2", func(r messages.AuditRecord) bool {
		return r.Verb == messages.VerbUninstall && r.Outcome == messages.OutcomeFailed && slices.Equal(r.Targets, []string{"web-2"})
	})
	waitAudit(t, admin, "enrolment", func(r messages.AuditRecord) bool {
		return r.Source == messages.AuditSourceAPI && r.Action == "host.enroll" && r.Outcome == messages.OutcomeSucceeded
	})
}
