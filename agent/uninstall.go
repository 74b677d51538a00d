package agent

import (
	"context"
	"errors"
	"fmt"
	"os/exec"

	"github.com/foundry-fleet/foundry/messages"
)

// errNoUninstall is returned when the agent runs somewhere it cannot remove
// itself (tests, a foreground run outside systemd).
var errNoUninstall = errors.New("this agent was not installed by foundry and cannot uninstall itself; remove it by hand")

// handleUninstall schedules the removal and replies at once. The removal
// runs as a transient unit two seconds later, started by systemd rather
// than by the agent, so stopping the agent does not stop the removal.
func (a *Agent) handleUninstall(ctx context.Context, _ *messages.Envelope) (any, error) {
	if a.opts.Uninstall == nil {
		return nil, errNoUninstall
	}
	if err := a.opts.Uninstall(ctx); err != nil {
		return nil, fmt.Errorf("schedule uninstall: %w", err)
	}
	a.logger.Warn("uninstall scheduled by controller")
	return struct{}{}, nil
}

// SystemdUninstall returns an Uninstall function that runs script as a
// transient systemd unit after a short delay.
func SystemdUninstall(script string) func(context.Context) error {
	return func(ctx context.Context) error {
		out, err := exec.CommandContext(ctx, "systemd-run", "--unit=foundry-agent-uninstall", "--collect",
			"--on-active=2", "/bin/sh", "-c", script).CombinedOutput()
		if err != nil {
			return fmt.Errorf("systemd-run: %v: %s", err, out)
		}
		return nil
	}
}
