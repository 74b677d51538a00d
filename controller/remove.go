package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/foundry-fleet/foundry/messages"
)

// uninstallTimeout bounds how long remove waits for the agent's answer.
const uninstallTimeout = 10 * time.Second

// RemoveHost asks the host's agent to uninstall itself (a signed command),
// then revokes the host's identities, so its credentials stop working even
// if the agent did not answer, and forgets it in the registry. The result
// says whether the agent confirmed, so the CLI can fall back to SSH.
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
	} else {
		_, fr, err := c.runCommand(ctx, command{verb: messages.VerbUninstall, targets: []string{req.Host}, hosts: []string{req.Host}, ttl: uninstallTimeout})
		if err != nil {
			return res, err
		}
		if r, ok := fr.replies[req.Host]; ok && r.reply.Error == nil {
			res.AgentUninstalled = true
		} else if ok {
			res.AgentError = r.reply.Error.Message
		} else {
			res.AgentError = fr.missing[req.Host]
		}
	}
	for _, pub := range ids {
		if err := c.revoke(ctx, pub); err != nil {
			return res, err
		}
		res.Revoked++
	}
	if err := c.reg.forget(ctx, req.Host); err != nil {
		return res, err
	}
	c.publishEvent(messages.Event{Host: req.Host, Type: messages.EventHostRemoved, Severity: messages.SeverityInfo,
		Message: fmt.Sprintf("host removed (agent uninstalled: %v)", res.AgentUninstalled)})
	return res, nil
}
