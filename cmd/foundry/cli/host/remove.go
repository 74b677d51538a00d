package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/agentunit"
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
		Short: "Uninstall the agent and revoke the host's NATS identity",
		Long: `Remove hosts from the fleet. The agent is told over NATS to uninstall itself
(unit, binary, config, identity); its NATS credentials are revoked either way.
When the agent cannot be reached, the same removal runs over SSH with the
host's stored key.`,
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
	Host   string `json:"host"`
	Via    string `json:"via,omitempty"` // nats or ssh
	Result string `json:"result"`
	Error  string `json:"error,omitempty"`
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
			fmt.Fprintf(o.IO.Out, "would remove %s (%s): agent unit, binary, /etc/foundry, NATS identity\n", h, known[h].State)
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
	failed := 0
	for _, h := range o.Hosts {
		r := removeOne(ctx, cl, o.Keys, home, h, password)
		if r.Error != "" {
			failed++
		}
		results = append(results, r)
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, results); err != nil {
			return err
		}
	} else {
		t := cmdutil.NewTable(o.IO, "HOST", "VIA", "RESULT")
		for _, r := range results {
			res := r.Result
			if r.Error != "" {
				res = "failed: " + r.Error
			}
			t.Row(r.Host, r.Via, res)
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	if failed > 0 {
		return &cmdutil.ExitCodeError{Code: 1, Err: errors.New("some hosts were not cleaned up; their credentials are revoked, remove the agent by hand")}
	}
	return nil
}

func removeOne(ctx context.Context, cl *client.Client, keyStore func() (*secrets.SSHKeyStore, error), home, host string, password []byte) removeResult {
	res, err := cl.RemoveHost(ctx, messages.HostRemoveRequest{Host: host})
	if err != nil {
		return removeResult{Host: host, Error: err.Error()}
	}
	if res.AgentUninstalled {
		return removeResult{Host: host, Via: "nats", Result: "removed"}
	}
	if res.Address == "" {
		return removeResult{Host: host, Via: "-", Error: fmt.Sprintf("agent unreachable (%s) and no SSH address known", res.AgentError)}
	}
	keys, err := keyStore()
	if err != nil {
		return removeResult{Host: host, Via: "ssh", Error: err.Error()}
	}
	pem, err := keys.LoadSSHKey(ctx, host)
	if err != nil {
		return removeResult{Host: host, Via: "ssh", Error: fmt.Sprintf("agent unreachable (%s) and no stored SSH key: %v", res.AgentError, err)}
	}
	sctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	c, err := ssh.Dial(sctx, ssh.Options{Host: res.Address, Port: res.SSHPort, User: res.SSHUser, PrivateKey: pem,
		SudoPassword: password, KnownHostsFile: filepath.Join(home, "known_hosts")})
	if err != nil {
		return removeResult{Host: host, Via: "ssh", Error: err.Error()}
	}
	defer c.Close()
	if _, err := c.Run(sctx, ssh.Command{Line: agentunit.UninstallScript(), Sudo: true}); err != nil {
		return removeResult{Host: host, Via: "ssh", Error: err.Error()}
	}
	return removeResult{Host: host, Via: "ssh", Result: "removed"}
}
