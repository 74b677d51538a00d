package controller_test

import (
	"testing"

	"github.com/nats-io/nkeys"

	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// TestUnchangedEnrollIsNotAuditedAndRollbackRevokesOnly: every re-run of
// host add enrolls the host's key again, and each wrote a host.enroll
// audit record although nothing changed. A failed add whose rollback
// removed the agent over SSH then asked the (gone) agent to uninstall,
// which was audited as a failed uninstall; it now only revokes.
func TestUnchangedEnrollIsNotAuditedAndRollbackRevokesOnly(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	ctx := t.Context()
	kp, _ := nkeys.CreateUser()
	pub, _ := kp.PublicKey()
	req := messages.EnrollRequest{Host: "h1", PublicKey: pub, Address: "10.77.0.9", SSHUser: "admin", SSHPort: 22}
	for range 3 {
		if _, err := cl.Enroll(ctx, req); err != nil {
			t.Fatal(err)
		}
	}
	req.SSHPort = 2222 // a real change is recorded
	if _, err := cl.Enroll(ctx, req); err != nil {
		t.Fatal(err)
	}
	res, err := cl.RemoveHost(ctx, messages.HostRemoveRequest{Host: "h1", RevokeOnly: true})
	if err != nil || res.Revoked != 1 || res.AgentUninstalled {
		t.Fatalf("revoke only: %+v %v", res, err)
	}
	waitAudit(t, cl, "the rollback's host.remove", func(r messages.AuditRecord) bool {
		return r.Action == "host.remove" && r.Source == messages.AuditSourceAPI && r.Outcome == messages.OutcomeSucceeded
	})
	enrolls := 0
	for _, r := range auditRecords(t, cl, "admin") {
		if r.Action == "host.enroll" {
			enrolls++
		}
		if r.Verb == messages.VerbUninstall {
			t.Errorf("the rollback sent an uninstall command: %+v", r)
		}
	}
	if enrolls != 2 {
		t.Fatalf("%d host.enroll records, want 2 (the first enrolment and the port change)", enrolls)
	}
	hl, err := cl.HostList(ctx)
	if err != nil || len(hl.Hosts) != 0 {
		t.Fatalf("host left after the rollback: %+v %v", hl.Hosts, err)
	}
}
