package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// SSHOptions are the flags of `host ssh`.
type SSHOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Home    func() (string, error)
	Keys    func() (*secrets.SSHKeyStore, error)
	Host    string
	Command []string
}

// NewCmdSSH is `foundry host ssh`: a shell (or one command) on a host with
// its stored key, the host key checked against the pinned one.
func NewCmdSSH(f *cmdutil.Factory, runF func(context.Context, *SSHOptions) error) *cobra.Command {
	opts := &SSHOptions{IO: f.IO, Connect: f.Connect, Home: f.Home, Keys: keyStore(f)}
	cmd := &cobra.Command{
		Use:   "ssh <host-id> [-- command...]",
		Short: "Open a shell on a host with its stored key (or run one command)",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host, opts.Command = args[0], args[1:]
			if err := messages.ValidHostID(opts.Host); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return sshRun(cmd.Context(), opts)
		},
	}
	return cmd
}

func sshRun(ctx context.Context, o *SSHOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	hl, err := cl.HostList(ctx)
	cl.Close()
	if err != nil {
		return err
	}
	var rec *messages.HostRecord
	for i := range hl.Hosts {
		if hl.Hosts[i].ID == o.Host {
			rec = &hl.Hosts[i]
		}
	}
	if rec == nil || rec.Address == "" {
		return fmt.Errorf("host %s has no recorded SSH address; add it with foundry host add <address> --id %s", o.Host, o.Host)
	}
	keys, err := o.Keys()
	if err != nil {
		return err
	}
	pem, err := keys.LoadSSHKey(ctx, o.Host)
	if err != nil {
		return fmt.Errorf("no stored SSH key for %s (%v); run foundry host configure %s", o.Host, err, o.Host)
	}
	home, err := o.Home()
	if err != nil {
		return err
	}
	c, err := ssh.Dial(ctx, ssh.Options{Host: rec.Address, Port: rec.SSHPort, User: rec.SSHUser, PrivateKey: pem,
		KnownHostsFile: filepath.Join(home, "known_hosts")})
	clear(pem)
	if err != nil {
		return err
	}
	defer c.Close()
	if len(o.Command) > 0 {
		res, err := c.Run(ctx, ssh.Command{Line: ssh.QuoteArgs(o.Command...)})
		fmt.Fprint(o.IO.Out, res.Stdout)
		fmt.Fprint(o.IO.ErrOut, res.Stderr)
		return exitStatus(err)
	}
	return exitStatus(c.Shell(ctx, ssh.ShellIO{In: o.IO.In, Out: o.IO.Out, ErrOut: o.IO.ErrOut, FD: o.IO.StdinFD()}))
}

// exitStatus passes the remote exit code through, like ssh(1) does.
func exitStatus(err error) error {
	var ee *ssh.ExitError
	if errors.As(err, &ee) && ee.ExitCode > 0 {
		return &cmdutil.ExitCodeError{Code: ee.ExitCode, Err: cmdutil.ErrSilent}
	}
	return err
}
