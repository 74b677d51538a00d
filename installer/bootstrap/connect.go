package bootstrap

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

func (rn *run) dialOpts() ssh.Options {
	return ssh.Options{Host: rn.o.Address, Port: rn.o.Port, User: rn.o.User, KnownHostsFile: rn.o.KnownHostsFile,
		TrustPrompt: rn.o.TrustPrompt, Logger: rn.log, SudoPassword: rn.o.Password}
}

// connect prefers the host's own stored key (a re-run needs no password),
// then falls back to the password or key the user gave.
func (rn *run) connect(ctx context.Context) error {
	if rn.o.Keys != nil {
		if pem, err := rn.o.Keys.LoadSSHKey(ctx, rn.o.ID); err == nil && len(pem) > 0 {
			o := rn.dialOpts()
			o.PrivateKey = pem
			c, err := ssh.Dial(ctx, o)
			if err == nil {
				rn.r, rn.viaStoredKey = c, true
				return nil
			}
			if !errors.Is(err, ssh.ErrAuth) {
				return rn.fail("connect", err)
			}
			rn.log.Info("stored host key no longer accepted, using the given credentials")
		}
	}
	if len(rn.o.Password) == 0 && rn.o.KeyFile == "" {
		return rn.fail("connect", fmt.Errorf("no stored key for %s and no credentials given; pass --password-stdin or --key", rn.o.ID))
	}
	o := rn.dialOpts()
	o.Password, o.PrivateKeyFile = rn.o.Password, rn.o.KeyFile
	c, err := ssh.Dial(ctx, o)
	if err != nil {
		return rn.fail("connect", err)
	}
	rn.r = c
	return nil
}

// ensureHostKey gives the host its own SSH key and authorizes it for the
// admin user. Proving that the key logs in (and only then storing it) runs
// in the background while the install goes on over the first connection,
// so the extra handshake is off the critical path; add waits for it
// before declaring success. A host reached with its stored key needs
// nothing.
func (rn *run) ensureHostKey(ctx context.Context) error {
	if rn.o.Keys == nil || rn.viaStoredKey {
		return nil
	}
	rn.step("host key")
	priv, line, err := ssh.GenerateHostKey()
	if err != nil {
		return rn.fail("host key", err)
	}
	if _, err := rn.r.Run(ctx, ssh.Command{Line: authorizeKeyScript(), Stdin: strings.NewReader(line)}); err != nil {
		return rn.fail("authorize host key", err)
	}
	rn.keyLine = line
	rn.changes = append(rn.changes, "ssh key")
	rn.keyCheck = make(chan error, 1)
	o := rn.dialOpts()
	o.PrivateKey, o.SudoPassword = priv, nil
	go func() {
		// A finished handshake is the proof: the server accepted the key.
		c, err := ssh.Dial(ctx, o)
		if err == nil {
			c.Close()
		}
		if err != nil {
			rn.keyCheck <- fmt.Errorf("the new host key does not log in: %w", err)
			return
		}
		rn.keyCheck <- rn.o.Keys.StoreSSHKey(ctx, rn.o.ID, priv)
	}()
	return nil
}

// hostKeyProven waits for ensureHostKey's background login, if any.
func (rn *run) hostKeyProven(ctx context.Context) error {
	if rn.keyCheck == nil {
		return nil
	}
	select {
	case err := <-rn.keyCheck:
		rn.keyCheck = nil
		if err != nil {
			return rn.fail("log in with host key", err)
		}
		return nil
	case <-ctx.Done():
		return rn.fail("log in with host key", ctx.Err())
	}
}

// waitRegistered polls the registry until the host heartbeats after since
// (or, when nothing was restarted, until it is online at all).
func (rn *run) waitRegistered(ctx context.Context, since time.Time, restarted bool) error {
	deadline := time.Now().Add(rn.o.RegisterTimeout)
	for {
		hl, err := rn.o.Controller.HostList(ctx)
		if err == nil {
			for _, h := range hl.Hosts {
				if h.ID != rn.o.ID || h.State != messages.StateOnline {
					continue
				}
				if !restarted || h.LastSeen >= since.UnixMilli()-1000 {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			out, _ := rn.sh(ctx, "journal", journalTail())
			return rn.fail("wait for registration", fmt.Errorf(
				"the agent did not register within %s; check that the host can reach the controller's advertised URLs. Agent log:\n%s",
				rn.o.RegisterTimeout, out))
		}
		select {
		case <-ctx.Done():
			return rn.fail("wait for registration", ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// undo removes what this run put on the host: everything for a fresh
// install, or the previous files for a repair.
func (rn *run) undo(ctx context.Context) {
	if rn.r == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	rn.step("roll back")
	if rn.backedUp {
		script := ""
		if rn.installedPkg && rn.before.pkgStatus != pkgInstalled {
			// The host ran the old layout: take the package away again,
			// keeping the identity and config the old agent uses.
			script += purgeScript(true)
		}
		script += restoreScript(managedFiles)
		// What this run created where nothing was (a package installed
		// with dpkg -i, then adopted) goes again.
		for _, f := range []string{agentunit.DefaultConfig, agentunit.CAPath, agentunit.SeedPath} {
			if rn.before.sums[f] == "" {
				script += "rm -f " + ssh.Quote(f) + "\n"
			}
		}
		script += "systemctl daemon-reload\n"
		if rn.before.enabled {
			script += "systemctl enable " + agentunit.UnitName + " >/dev/null 2>&1 || true\n"
		}
		if rn.before.active {
			script += "systemctl restart " + agentunit.UnitName + " || true\n"
		}
		if _, err := rn.sh(ctx, "roll back", script); err != nil {
			rn.log.Warn("roll back failed", "err", err)
		}
	}
	uninstalled := false
	if !rn.backedUp && !rn.before.installed() {
		if _, err := rn.sh(ctx, "roll back", agentunit.UninstallScript()); err != nil {
			rn.log.Warn("roll back failed", "err", err)
		} else {
			uninstalled = true
		}
	}
	if rn.keyLine != "" {
		if _, err := rn.r.Run(ctx, ssh.Command{Line: UnauthorizeKeyScript(), Stdin: strings.NewReader(rn.keyLine)}); err != nil {
			rn.log.Warn("host key not removed", "err", err)
		}
	}
	if rn.enrolled {
		// The agent is gone already when SSH removed it, or it is a
		// package an operator installed that this run only failed to
		// adopt: only the identity is left to revoke, and no uninstall
		// command is sent (it could only fail, and be audited as a
		// failed uninstall).
		if _, err := rn.o.Controller.RemoveHost(ctx, messages.HostRemoveRequest{Host: rn.o.ID, RevokeOnly: uninstalled || rn.before.installed()}); err != nil {
			rn.log.Warn("identity not revoked", "err", err)
		}
	}
}
