package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"

	"github.com/foundry-fleet/foundry/messages"
)

// errNoUninstall is returned when the agent runs somewhere it cannot remove
// itself (tests, a foreground run outside systemd).
var errNoUninstall = errors.New("this agent was not installed by foundry and cannot uninstall itself; remove it by hand")

// handleUninstall removes the agent from its host and replies with what
// went; the agent process itself is stopped by systemd shortly after the
// reply, which is when the controller revokes its credentials.
func (a *Agent) handleUninstall(ctx context.Context, env *messages.Envelope) (any, error) {
	if a.opts.Uninstall == nil {
		return nil, errNoUninstall
	}
	args, err := messages.DecodeUninstallArgs(env.Payload)
	if err != nil {
		return nil, err
	}
	a.logger.Warn("uninstall requested by controller", "id", env.ID, "operator", env.Operator)
	rep, err := a.opts.Uninstall(ctx, args)
	if err != nil {
		return nil, fmt.Errorf("uninstall: %w", err)
	}
	a.logger.Warn("uninstalled; systemd stops this agent next", "removed", len(rep.Removed), "ssh_key_removed", rep.KeyRemoved)
	return rep, nil
}

// Removal says how an agent run by systemd removes itself: the script
// for the arguments, the systemd-run arguments that run it (script on
// stdin, waited for) and that stop the agent afterwards, and the prefixes
// of the script's report lines. installer/agentunit renders all of it.
type Removal struct {
	Script        func(user, keyLine string) string
	RunArgs       []string
	StopArgs      []string
	RemovedPrefix string
	KeyPrefix     string
}

// SystemdUninstall returns an Uninstall function: the removal script runs
// as a transient unit (outside the agent's sandbox) while the agent waits
// for it, then a second transient unit is scheduled to stop the agent.
func SystemdUninstall(r Removal) func(context.Context, messages.UninstallArgs) (messages.UninstallReply, error) {
	return func(ctx context.Context, args messages.UninstallArgs) (messages.UninstallReply, error) {
		cmd := exec.CommandContext(ctx, "systemd-run", r.RunArgs...)
		cmd.Stdin = strings.NewReader(r.Script(args.SSHUser, args.AuthorizedKey))
		var out, errOut bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errOut
		runErr := cmd.Run()
		rep := parseRemoval(out.String(), r.RemovedPrefix, r.KeyPrefix)
		if runErr != nil {
			return rep, fmt.Errorf("removal failed (%v): %s", runErr, strings.TrimSpace(errOut.String()))
		}
		if b, err := exec.CommandContext(ctx, "systemd-run", r.StopArgs...).CombinedOutput(); err != nil {
			return rep, fmt.Errorf("files removed, but stopping the agent could not be scheduled: %v: %s", err, b)
		}
		return rep, nil
	}
}

// parseRemoval reads the removal script's report lines.
func parseRemoval(out, removedPrefix, keyPrefix string) messages.UninstallReply {
	rep := messages.UninstallReply{Removed: []string{}}
	for _, line := range strings.Split(out, "\n") {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, keyPrefix) {
			rep.KeyRemoved = true
			continue
		}
		if item, ok := strings.CutPrefix(line, removedPrefix); ok && item != "" {
			rep.Removed = append(rep.Removed, item)
		}
	}
	return rep
}
