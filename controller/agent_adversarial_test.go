package controller_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/controller"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/messages"
)

// An agent enforces the role named in the signed envelope itself, so a
// write verb signed for a read-only operator is refused even though the
// signature is the controller's own, and the refusal is an event that the
// controller links into the audit trail.
func TestAgentRefusesWriteVerbForReadOnlyOperator(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	logs := &ct.LogBuffer{}
	ct.RunAgentWith(t, ct.EnrollConfig(t, admin, c, "web-1", t.TempDir()), ct.AgentOptions{Logger: logs.Logger()})
	ct.WaitOnline(t, admin, 1)

	for _, tc := range []struct {
		verb, role string
		code       string
	}{
		{messages.VerbUninstall, controller.RoleReadOnly, messages.CodeForbidden},
		{messages.VerbTrustUpdate, controller.RoleReadOnly, messages.CodeForbidden},
		{messages.VerbUninstall, "", messages.CodeForbidden}, // no role at all fails closed
		{messages.VerbStatus, controller.RoleReadOnly, ""},
	} {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", tc.verb, []string{"web-1"},
			messages.TrustUpdate{Keys: c.TrustedKeys()})
		env.Operator, env.Role = "viewer", tc.role
		c.Signer().Sign(env)
		r := commandTo(t, c.InternalConn(), "web-1", env)
		if tc.code == "" {
			if r.Error != nil {
				t.Errorf("%s as %q refused: %v", tc.verb, tc.role, r.Error)
			}
			continue
		}
		if r.Error == nil || r.Error.Code != tc.code || len(r.Payload) != 0 {
			t.Errorf("%s as %q: got %+v, want %s", tc.verb, tc.role, r.Error, tc.code)
		}
		if tc.role == controller.RoleReadOnly && tc.verb == messages.VerbUninstall {
			waitAudit(t, admin, "agent refusal of viewer's uninstall", func(a messages.AuditRecord) bool {
				// The test signed this command itself, so the controller
				// has no record of it: the agent's operator is its claim.
				return a.Source == messages.AuditSourceAgent && a.Host == "web-1" &&
					a.Operator == messages.UnknownOperator && a.OperatorClaimed == "viewer" &&
					a.RequestID == env.ID && a.Verb == messages.VerbUninstall && a.Code == messages.CodeForbidden
			})
		}
	}
	// The journal has the refusal with the same fields.
	if !strings.Contains(logs.String(), `"msg":"command refused"`) || !strings.Contains(logs.String(), `"operator":"viewer"`) {
		t.Fatalf("agent log lacks the refusal:\n%s", logs.String())
	}
	// And the agent is still there: uninstall never ran.
	st, err := admin.FleetStatus(t.Context(), messages.FleetStatusRequest{Hosts: []string{"web-1"}, TimeoutMs: 5000})
	if err != nil || len(st.Responded) != 1 {
		t.Fatalf("agent gone after refused writes: %+v %v", st, err)
	}
}

// A command with a valid signature whose fields were changed afterwards
// is refused by the agent, whatever field changed.
func TestAgentRefusesSignedCommandAlteredInTransit(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	ct.StartAgents(t, c, admin, "web", 2)
	ct.WaitOnline(t, admin, 2)

	signed := func() *messages.Envelope {
		env, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"web-1"}, messages.StatusRequest{})
		env.Operator, env.Role = "viewer", controller.RoleReadOnly
		c.Signer().Sign(env)
		return env
	}
	for name, alter := range map[string]func(*messages.Envelope){
		"targets widened":   func(e *messages.Envelope) { e.Targets = []string{messages.TargetAll} },
		"payload replaced":  func(e *messages.Envelope) { e.Payload = json.RawMessage(`{"keys":["x"]}`) },
		"verb replaced":     func(e *messages.Envelope) { e.Verb = messages.VerbUninstall },
		"role raised":       func(e *messages.Envelope) { e.Role = controller.RoleAdmin },
		"operator replaced": func(e *messages.Envelope) { e.Operator = "admin" },
		"expiry extended":   func(e *messages.Envelope) { e.ExpiresAt += 60_000 },
		"key id swapped":    func(e *messages.Envelope) { e.KeyID = strings.Repeat("0", 16) },
	} {
		env := signed()
		alter(env)
		host := "web-1"
		if name == "targets widened" {
			host = "web-2" // the attacker aims it at a host it was not for
		}
		r := commandTo(t, c.InternalConn(), host, env)
		if r.Error == nil || (r.Error.Code != messages.CodeBadSignature && r.Error.Code != messages.CodeUnknownKey) {
			t.Errorf("%s: got %+v, want a signature refusal", name, r.Error)
		}
	}
	if r := commandTo(t, c.InternalConn(), "web-1", signed()); r.Error != nil {
		t.Fatalf("the unaltered command was refused: %v", r.Error)
	}
	// Each refusal is linked into the audit trail with its host.
	waitAudit(t, admin, "bad_signature refusal", func(a messages.AuditRecord) bool {
		return a.Source == messages.AuditSourceAgent && a.Code == messages.CodeBadSignature && a.Host != ""
	})
}

// A captured broadcast command that a host already ran is refused as a
// replay after the agent restarts, before the command expires: the replay
// cache lives in the agent's state directory, not only in memory.
func TestBroadcastReplayedToRestartedAgentIsRefused(t *testing.T) {
	c := ct.StartController(t)
	admin := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, admin, c, "web-1", t.TempDir())
	state := t.TempDir()
	first := ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	ct.WaitOnline(t, admin, 1)

	env, _ := messages.NewEnvelope(time.Now(), 10*time.Minute, "controller", messages.VerbStatus,
		[]string{messages.TargetAll}, messages.StatusRequest{})
	env.Operator, env.Role = "admin", controller.RoleAdmin
	c.Signer().Sign(env)
	captured, _ := json.Marshal(env)
	broadcast := func() (messages.Reply, error) {
		nc := c.InternalConn()
		reply := messages.ReplyPrefix + "." + messages.NewID()
		sub, err := nc.SubscribeSync(reply + ".*")
		if err != nil {
			return messages.Reply{}, err
		}
		defer func() { _ = sub.Unsubscribe() }()
		if err := nc.PublishRequest(messages.BroadcastSubject(), reply, captured); err != nil {
			return messages.Reply{}, err
		}
		m, err := sub.NextMsg(time.Second)
		if err != nil {
			return messages.Reply{}, err
		}
		return messages.DecodeReply(m.Data)
	}
	if r, err := broadcast(); err != nil || r.Error != nil {
		t.Fatalf("first delivery: %+v %v", r.Error, err)
	}
	if err := first.Stop(); err != nil {
		t.Fatal(err)
	}

	ct.RunAgentWith(t, cfg, ct.AgentOptions{StateDir: state})
	var r messages.Reply
	ct.CheckFor(t, 10*time.Second, 50*time.Millisecond, func() (err error) {
		r, err = broadcast() // no answer until the restarted agent subscribed
		return err
	})
	if r.Error == nil || r.Error.Code != messages.CodeReplayed {
		t.Fatalf("replay after restart: got %+v, want %s", r.Error, messages.CodeReplayed)
	}
	// A fresh command still runs.
	fresh, _ := messages.NewEnvelope(time.Now(), time.Minute, "controller", messages.VerbStatus, []string{"web-1"}, messages.StatusRequest{})
	fresh.Operator, fresh.Role = "admin", controller.RoleAdmin
	c.Signer().Sign(fresh)
	if r := commandTo(t, c.InternalConn(), "web-1", fresh); r.Error != nil {
		t.Fatalf("fresh command after restart refused: %v", r.Error)
	}
}
