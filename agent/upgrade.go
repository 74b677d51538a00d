package agent

import (
	"context"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"

	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/messages"
)

// SelfUpdater replaces the agent's own binary (agent/selfupdate).
type SelfUpdater interface {
	Upgrade(ctx context.Context, current, id string, req messages.AgentUpgrade) (messages.AgentUpgradeReply, error)
	// Confirm clears a pending upgrade to version; it returns the marker
	// it cleared, nil when there was none.
	Confirm(version string) (*agentunit.Marker, error)
	// LastFailure is the upgrade this host last rolled back from.
	LastFailure() *messages.AgentUpgradeAttempt
}

func (a *Agent) handleAgentUpgrade(ctx context.Context, env *messages.Envelope) (any, error) {
	req, err := messages.DecodeAgentUpgrade(env.Payload)
	if err != nil {
		return nil, err
	}
	rep, err := a.selfUpdate.Upgrade(ctx, a.opts.Version, env.ID, req)
	if err != nil {
		return rep, err
	}
	if rep.Changed {
		a.logger.Warn("agent upgrade staged, restarting onto it", "from", rep.From, "to", rep.To, "id", env.ID)
	}
	return rep, nil
}

// settleUpgrade is the new agent's part of an upgrade: once its heartbeat
// with the new version has reached the server, it clears the pending
// marker (so the rollback step and the guard leave it be), and it says
// in an event what happened, as does an agent that was rolled back to.
func (a *Agent) settleUpgrade(ctx context.Context, nc *nats.Conn) {
	if f := a.lastUpgradeFailed.Load(); f != nil && time.Since(time.Unix(f.Time, 0)) < time.Hour {
		a.publishEvent(messages.EventAgentRolledBack, messages.SeverityWarning,
			fmt.Sprintf("agent upgrade %s → %s rolled back: %s", f.From, f.To, f.Reason), f.ID,
			map[string]string{"from": f.From, "to": f.To})
	}
	t := time.NewTicker(200 * time.Millisecond)
	defer t.Stop()
	for {
		if nc.IsConnected() {
			a.heartbeat(nc, messages.KindHeartbeat)
			if err := nc.FlushTimeout(5 * time.Second); err == nil {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-a.abort:
			return
		case <-t.C:
		}
	}
	m, err := a.selfUpdate.Confirm(a.opts.Version)
	if err != nil {
		a.logger.Error("agent upgrade not confirmed; the host will roll back at the deadline", "err", err)
		return
	}
	if m == nil {
		return
	}
	a.lastUpgradeFailed.Store(nil)
	a.heartbeat(nc, messages.KindHeartbeat) // the failure no longer stands
	a.logger.Info("agent upgrade confirmed", "from", m.From, "to", m.To, "id", m.ID)
	a.publishEvent(messages.EventAgentUpgraded, messages.SeverityInfo,
		fmt.Sprintf("agent upgraded %s → %s", m.From, m.To), m.ID, map[string]string{"from": m.From, "to": m.To})
}
