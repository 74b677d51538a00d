package host

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// RemoveOptions are the flags of `host remove`.
type RemoveOptions struct {
	IO            *cmdutil.IOStreams
	Connect       func(context.Context) (*client.Client, error)
	Home          func() (string, error)
	Keys          func() (*secrets.SSHKeyStore, error)
	Hosts         []string
	Yes           bool
	DryRun        bool
	PasswordStdin bool
	JSON          bool
}

// NewCmdRemove is `foundry host remove`.
func NewCmdRemove(f *cmdutil.Factory, runF func(context.Context, *RemoveOptions) error) *cobra.Command {
	opts := &RemoveOptions{IO: f.IO, Connect: f.Connect, Home: f.Home, Keys: keyStore(f)}
	cmd := &cobra.Command{
		Use:   "remove <host-id>...",
		Short: "Uninstall the agent, remove Foundry's SSH key and revoke the host's NATS identity",
		Long: `Remove hosts from the fleet. The agent is told over NATS to uninstall itself
(unit, binary, config, identity, state) and to take Foundry's SSH key out of
the SSH user's authorized_keys; it reports what it removed and is stopped,
and only then are its NATS credentials revoked (they are revoked either
way). When the agent cannot be reached, the same removal runs over SSH
with the host's stored key. The host's private key then leaves the key
store. Each step is printed once it is done.`,
		Args: cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Hosts = args
			for _, h := range args {
				if err := messages.ValidHostID(h); err != nil {
					return &cmdutil.FlagError{Err: err}
				}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return removeRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be removed and change nothing")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "sudo password for the SSH fallback, from stdin")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print results as JSON")
	return cmd
}

type removeResult struct {
	Host   string   `json:"host"`
	Via    string   `json:"via,omitempty"` // nats or ssh
	Steps  []string `json:"steps"`         // what was done, in order
	Result string   `json:"result"`
	Error  string   `json:"error,omitempty"`
	// Revoked is set once the controller took the removal, which
	// revokes the host's NATS identity whatever happens next.
	Revoked bool `json:"revoked"`
}

func (r *removeResult) step(format string, a ...any) {
	r.Steps = append(r.Steps, fmt.Sprintf(format, a...))
}

func (r *removeResult) fail(err string) removeResult {
	r.Error = err
	r.Result = "failed"
	return *r
}

func removeRun(ctx context.Context, o *RemoveOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	hl, err := cl.HostList(ctx)
	if err != nil {
		return err
	}
	known := map[string]messages.HostRecord{}
	for _, h := range hl.Hosts {
		known[h.ID] = h
	}
	for _, h := range o.Hosts {
		if _, ok := known[h]; !ok {
			return fmt.Errorf("host %s is not in the fleet; see foundry host list", h)
		}
	}
	if o.DryRun {
		for _, h := range o.Hosts {
			fmt.Fprintf(o.IO.Out, "would remove %s (%s): agent unit, binary, /etc/foundry, state, Foundry's SSH key on the host and in the key store, NATS identity\n", h, known[h].State)
		}
		return nil
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Remove %d host(s) from the fleet and uninstall their agents?", len(o.Hosts))); err != nil {
		return err
	}
	var password []byte
	if o.PasswordStdin {
		if password, err = o.IO.ReadSecret("sudo password: "); err != nil {
			return err
		}
		defer clear(password)
	}
	home, err := o.Home()
	if err != nil {
		return err
	}
	var results []removeResult
	failed, kept := 0, 0
	for _, h := range o.Hosts {
		r := removeOne(ctx, cl, o.Keys, home, h, password)
		if r.Error != "" {
			failed++
		}
		if !r.Revoked {
			kept++
		}
		results = append(results, r)
		if !o.JSON {
			printRemoval(o.IO, r)
		}
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, results); err != nil {
			return err
		}
	}
	switch {
	case kept > 0:
		// Refused (a read-only operator) or failed before the controller
		// acted: nothing was revoked, and saying otherwise would leave a
		// compromised host's credentials live under a false belief.
		return &cmdutil.ExitCodeError{Code: 1, Err: fmt.Errorf("%d of %d host(s) were not removed (see above) and keep their NATS credentials", kept, len(o.Hosts))}
	case failed > 0:
		return &cmdutil.ExitCodeError{Code: 1, Err: errors.New("some hosts were not fully cleaned up (see above); their NATS credentials are revoked either way")}
	}
	return nil
}

// printRemoval says what was done on one host, step by step, once it is
// done: nothing is reported as removed before it was.
func printRemoval(io *cmdutil.IOStreams, r removeResult) {
	for _, s := range r.Steps {
		fmt.Fprintf(io.Out, "%s: %s\n", r.Host, s)
	}
	if r.Error != "" {
		fmt.Fprintf(io.Out, "%s: failed: %s\n", r.Host, r.Error)
		return
	}
	fmt.Fprintf(io.Out, "%s: %s (via %s)\n", r.Host, r.Result, r.Via)
}

// removeOne removes one host: over NATS when its agent answers (the agent
// takes Foundry's SSH key out of authorized_keys too), else over SSH with
// the stored key; then the private key leaves the key store.
func removeOne(ctx context.Context, cl *client.Client, keyStore func() (*secrets.SSHKeyStore, error), home, host string, password []byte) removeResult {
	r := removeResult{Host: host, Steps: []string{}}
	keys, keysErr := keyStore()
	var pem []byte
	var keyLine string
	if keysErr == nil {
		var err error
		if pem, err = keys.LoadSSHKey(ctx, host); err == nil {
			if keyLine, err = ssh.AuthorizedKeyLine(pem); err != nil {
				r.step("stored SSH key unreadable (%v); it is not taken out of authorized_keys", err)
			}
		} else if !errors.Is(err, secrets.ErrNotFound) {
			keysErr = err
		}
	}
	res, err := cl.RemoveHost(ctx, messages.HostRemoveRequest{Host: host, AuthorizedKey: keyLine})
	if err != nil {
		return r.fail(err.Error())
	}
	r.Revoked = true
	user := orDash(res.SSHUser)
	keyGone := keyLine == "" // nothing of ours known to be there
	var problem string
	if res.AgentUninstalled {
		r.Via = "nats"
		switch {
		case !res.AgentReported:
			r.step("agent accepted the uninstall (an older agent: it does not say what it removed)")
		case len(res.AgentRemoved) > 0:
			r.step("agent removed %s", strings.Join(res.AgentRemoved, ", "))
		default:
			r.step("agent found none of its files left to remove")
		}
		switch {
		case keyLine == "":
		case !res.AgentReported:
			problem = fmt.Sprintf("this agent is too old to remove Foundry's SSH key; delete the line ending in \" foundry\" from %s's authorized_keys on the host", user)
		case res.KeyRemoved:
			r.step("Foundry's SSH key removed from %s's authorized_keys", user)
			keyGone = true
		case res.SSHUser == "":
			problem = "no SSH user on record, so Foundry's SSH key could not be taken out of authorized_keys"
		default:
			r.step("Foundry's SSH key was not in %s's authorized_keys", user)
			keyGone = true
		}
		if res.AgentStopped {
			r.step("agent stopped (its connection closed)")
		} else {
			problem = "the agent removed its files but its process did not stop within 10s; check `systemctl status foundry-agent` on the host"
		}
	} else {
		r.Via = "ssh"
		r.step("agent did not confirm over NATS (%s)", res.AgentError)
		sshErr := removeOverSSH(ctx, &r, res, pem, keyLine, home, password)
		if sshErr != "" {
			problem = sshErr
		} else {
			keyGone = true
		}
	}
	r.step("NATS identity revoked (%d key(s))", res.Revoked)
	switch {
	case keysErr != nil:
		problem = join(problem, fmt.Sprintf("key store not reachable (%v): Foundry's SSH key for %s may be left in it and on the host", keysErr, host))
	case pem == nil:
		r.step("no SSH key for %s in the key store", host)
	case !keyGone:
		problem = join(problem, fmt.Sprintf("Foundry's SSH key is kept in the %s key store because the host may still accept it", keys.Backend()))
	default:
		if had, err := keys.DeleteSSHKey(ctx, host); err != nil {
			problem = join(problem, err.Error())
		} else if had {
			r.step("SSH private key deleted from the %s key store", keys.Backend())
		}
	}
	if problem != "" {
		return r.fail(problem)
	}
	r.Result = "removed"
	return r
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func join(a, b string) string {
	if a == "" {
		return b
	}
	return a + "; " + b
}
