package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// uninstallTimeout bounds how long remove waits for the agent's answer,
// which comes after the removal ran on the host.
const uninstallTimeout = 10 * time.Second

// stopTimeout bounds how long remove waits, after the agent confirmed,
// for its connection to close (systemd stops it agentunit.StopDelay
// later).
const stopTimeout = 10 * time.Second

// RemoveHost asks the host's agent to uninstall itself (a signed command),
// waits for its report and for its connection to close, then revokes the
// host's identities, so its credentials stop working even if the agent
// did not answer, and forgets it in the registry. Revoking only after the
// agent stopped keeps it from spending its last seconds retrying with
// refused credentials. The result says what the agent confirmed, so the
// CLI can fall back to SSH.
func (c *Controller) RemoveHost(ctx context.Context, req messages.HostRemoveRequest) (messages.HostRemoveResult, error) {
	res := messages.HostRemoveResult{Host: req.Host}
	if err := messages.ValidHostID(req.Host); err != nil {
		return res, err
	}
	ids := c.agentIdentities(req.Host)
	if _, known := c.reg.get(req.Host); !known && len(ids) == 0 {
		return res, &messages.Error{Code: messages.CodeNotFound, Message: fmt.Sprintf("host %s is not in the fleet; see foundry host list", req.Host)}
	}
	for _, id := range c.agents() {
		if id.Name == req.Host && id.Address != "" {
			res.Address, res.SSHUser, res.SSHPort = id.Address, id.SSHUser, id.SSHPort
		}
	}
	if req.RevokeOnly {
		res.AgentError = "not asked: the agent was removed over SSH"
	} else if err := c.uninstallAgent(ctx, req, &res); err != nil {
		return res, err
	}
	// Revoked whatever the agent said: credentials of a removed host
	// must stop working.
	for _, pub := range ids {
		if err := c.revoke(context.WithoutCancel(ctx), pub); err != nil {
			return res, err
		}
		res.Revoked++
	}
	if err := c.reg.forget(context.WithoutCancel(ctx), req.Host); err != nil {
		return res, err
	}
	c.publishEvent(messages.Event{Host: req.Host, Type: messages.EventHostRemoved, Severity: messages.SeverityInfo,
		Message: fmt.Sprintf("host removed (agent uninstalled: %v, stopped: %v, ssh key removed: %v)", res.AgentUninstalled, res.AgentStopped, res.KeyRemoved)})
	return res, nil
}

// waitDisconnected polls until no agent of host is subscribed anywhere in
// the cluster, or within elapses; it reports whether it saw that.
func (c *Controller) waitDisconnected(ctx context.Context, host string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		if !c.agentConnected(host) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		select {
		case <-ctx.Done():
			return !c.agentConnected(host)
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// uninstallAgent asks the host's agent to uninstall itself (and take
// Foundry's SSH key out of authorized_keys when the CLI names it), and
// records what it confirmed.
func (c *Controller) uninstallAgent(ctx context.Context, req messages.HostRemoveRequest, res *messages.HostRemoveResult) error {
	cmd := command{verb: messages.VerbUninstall, targets: []string{req.Host}, hosts: []string{req.Host}, ttl: uninstallTimeout}
	if req.AuthorizedKey != "" && res.SSHUser != "" {
		a := messages.UninstallArgs{SSHUser: res.SSHUser, AuthorizedKey: req.AuthorizedKey}
		if err := a.Validate(); err != nil {
			return err
		}
		cmd.payload = &a
	}
	_, fr, err := c.runCommand(ctx, cmd)
	if err != nil {
		return err
	}
	r, ok := fr.replies[req.Host]
	switch {
	case ok && r.reply.Error == nil:
		res.AgentUninstalled = true
		var rep messages.UninstallReply
		if len(r.reply.Payload) > 0 && json.Unmarshal(r.reply.Payload, &rep) == nil && rep.Removed != nil {
			res.AgentRemoved, res.KeyRemoved, res.AgentReported = rep.Removed, rep.KeyRemoved, true
		}
		res.AgentStopped = c.waitDisconnected(ctx, req.Host, stopTimeout)
	case ok:
		res.AgentError = r.reply.Error.Message
	default:
		res.AgentError = fr.missing[req.Host]
	}
	return nil
}
