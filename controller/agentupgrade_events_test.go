package controller_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/agent/service"
	"github.com/foundry-fleet/foundry/controller/client"
	ct "github.com/foundry-fleet/foundry/controller/controllertest"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// settledUpdater is the self-updater of an agent that has just come up
// after an upgrade: there is a marker to confirm, and an older attempt
// that rolled back.
type settledUpdater struct {
	marker  *agentunit.Marker
	failure *messages.AgentUpgradeAttempt
}

func (u *settledUpdater) Upgrade(context.Context, string, string, messages.AgentUpgrade) (messages.AgentUpgradeReply, error) {
	return messages.AgentUpgradeReply{}, fmt.Errorf("not in this test")
}

func (u *settledUpdater) Confirm(string) (*agentunit.Marker, error) {
	m := u.marker
	u.marker = nil
	return m, nil
}

func (u *settledUpdater) LastFailure() *messages.AgentUpgradeAttempt { return u.failure }

// TestAgentSaysItsUpgradeAndRollbackInEvents: the events an agent
// publishes about its own upgrade (confirmed; an earlier attempt rolled
// back by itself) are agent event types, which its permissions allow,
// and reach the events stream as the agent's word.
func TestAgentSaysItsUpgradeAndRollbackInEvents(t *testing.T) {
	c := ct.StartController(t)
	cl := ct.Client(t, c)
	cfg := ct.EnrollConfig(t, cl, c, "up-1", t.TempDir())
	u := &settledUpdater{
		marker:  &agentunit.Marker{ID: "cmd-2", From: "1.0.0", To: "test", Deadline: time.Now().Add(time.Minute).Unix()},
		failure: &messages.AgentUpgradeAttempt{ID: "cmd-1", From: "1.0.0", To: "1.2.0", Reason: "did not stay up", Time: time.Now().Unix()},
	}
	ct.RunAgentWith(t, cfg, ct.AgentOptions{SelfUpdate: func(service.Dialer, *messages.Verifier) agent.SelfUpdater { return u }})
	want := map[string]string{messages.EventAgentRolledBack: "cmd-1", messages.EventAgentUpgraded: "cmd-2"}
	ct.CheckFor(t, 20*time.Second, 100*time.Millisecond, func() error {
		got := map[string]string{}
		err := cl.Events(context.Background(), client.EventQuery{Host: "up-1", Since: time.Hour}, func(e messages.Event) error {
			if e.Source == messages.EventSourceAgent {
				got[e.Type] = e.RequestID
			}
			return nil
		})
		if err != nil {
			return err
		}
		for typ, id := range want {
			if got[typ] != id {
				return fmt.Errorf("agent events %v, want %v among them", got, want)
			}
		}
		return nil
	})
}
