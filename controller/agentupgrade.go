package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// agentUpgradeMargin is how long past an upgrade's deadline a job waits
// for the host to say how it ended: the guard restarts a new agent that
// has not confirmed a few seconds after the deadline, and the previous
// agent then has to start, connect and heartbeat.
const agentUpgradeMargin = 45 * time.Second

// awaitAgentUpgrades turns the agents' "switched, restarting" replies
// into outcomes. An agent's reply only says the new binary is in place;
// the host is upgraded when the registry sees a heartbeat with the new
// version, and rolled back when the previous agent's heartbeat reports
// this step's attempt as failed (its facts carry the command id). A host
// that says neither within the deadline is failed.
func (c *Controller) awaitAgentUpgrades(ctx context.Context, payload any, out map[string]stepResult) {
	raw, _ := payload.(json.RawMessage)
	req, err := messages.DecodeAgentUpgrade(raw)
	if err != nil {
		return // checked before the job started
	}
	pending := map[string]messages.AgentUpgradeReply{}
	for h, r := range out {
		if r.state != messages.HostOK {
			continue
		}
		var rep messages.AgentUpgradeReply
		if json.Unmarshal(r.result, &rep) != nil || !rep.Changed {
			continue
		}
		pending[h] = rep
	}
	if len(pending) == 0 {
		return
	}
	wait := time.Duration(req.Deadline())*time.Millisecond + agentUpgradeMargin
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		for h, rep := range pending {
			r := out[h]
			state, msg, done := agentUpgradeOutcome(c.reg, h, r.stepID, rep, time.Now())
			if !done {
				continue
			}
			r.state, r.msg = state, msg
			out[h] = r
			delete(pending, h)
		}
		if len(pending) == 0 {
			return
		}
		select {
		case <-ctx.Done():
			for h := range pending {
				r := out[h]
				r.state, r.msg = messages.HostFailed, "the job was stopped before the host reported its new agent: "+ctx.Err().Error()
				out[h] = r
			}
			return
		case <-deadline.C:
			for h, rep := range pending {
				r := out[h]
				r.state, r.msg = messages.HostFailed, fmt.Sprintf(
					"neither agent %s nor %s reported within %s of switching; check the host with journalctl -u foundry-agent", rep.To, rep.From, wait)
				out[h] = r
			}
			return
		case <-tick.C:
		}
	}
}

// agentUpgradeOutcome reads one host's registry record: upgraded (its
// heartbeat carries the new version), rolled back (the previous agent
// reports this command's attempt as failed), or not yet known.
func agentUpgradeOutcome(reg *registry, host, stepID string, rep messages.AgentUpgradeReply, now time.Time) (state, msg string, done bool) {
	rec, ok := reg.get(host)
	if !ok || rec.Goodbye || HostState(rec, now) != messages.StateOnline {
		return "", "", false
	}
	if f := rec.Facts.LastUpgradeFailed; f != nil && f.ID == stepID {
		return messages.HostRolledBack, fmt.Sprintf("rolled back to %s by itself: %s", f.From, f.Reason), true
	}
	if rec.Facts.AgentVersion == rep.To && rec.Facts.LastUpgradeFailed == nil {
		return messages.HostOK, "", true
	}
	return "", "", false
}
