package host

import (
	"context"
	"path/filepath"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/bootstrap"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// removeOverSSH runs the uninstall over SSH with the host's stored key,
// then takes that key out of authorized_keys, last, over the same
// connection. It returns what went wrong, or "".
func removeOverSSH(ctx context.Context, r *removeResult, res messages.HostRemoveResult, pem []byte, keyLine, home string, password []byte) string {
	if res.Address == "" {
		return "agent unreachable and no SSH address known; remove the agent by hand"
	}
	if pem == nil {
		return "agent unreachable and no stored SSH key; remove the agent by hand"
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := ssh.Dial(sctx, ssh.Options{Host: res.Address, Port: res.SSHPort, User: res.SSHUser, PrivateKey: pem,
		SudoPassword: password, KnownHostsFile: filepath.Join(home, "known_hosts")})
	if err != nil {
		return err.Error()
	}
	defer c.Close()
	if _, err := c.Run(sctx, ssh.Command{Line: agentunit.UninstallScript(), Sudo: true}); err != nil {
		return err.Error()
	}
	r.step("agent unit, binary, config and state removed over SSH")
	if keyLine == "" {
		return ""
	}
	if _, err := c.Run(sctx, ssh.Command{Line: bootstrap.UnauthorizeKeyScript(), Stdin: strings.NewReader(keyLine)}); err != nil {
		return "Foundry's SSH key not removed from authorized_keys: " + err.Error()
	}
	r.step("Foundry's SSH key removed from %s's authorized_keys", res.SSHUser)
	return ""
}
