package host

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/agentunit"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// RekeyOptions are the flags of `host rekey`.
type RekeyOptions struct {
	IO            *cmdutil.IOStreams
	Connect       func(context.Context) (*client.Client, error)
	Home          func() (string, error)
	Keys          func() (*secrets.SSHKeyStore, error)
	Host          string
	SSH           bool
	Yes           bool
	DryRun        bool
	PasswordStdin bool
	JSON          bool
}

// NewCmdRekey is `foundry host rekey`.
func NewCmdRekey(f *cmdutil.Factory, runF func(context.Context, *RekeyOptions) error) *cobra.Command {
	opts := &RekeyOptions{IO: f.IO, Connect: f.Connect, Home: f.Home, Keys: keyStore(f)}
	cmd := &cobra.Command{
		Use:   "rekey <host-id>",
		Short: "Replace a host's NATS key with a new one made on the host and revoke the old one",
		Long: `Rotate a host's NATS identity, for example when its key may have been copied.
The new key is made on the host; only its public key reaches the controller,
which enrols it and, once the host uses it, revokes the old key and closes
every connection made with it (anyone else's too).

By default this goes through the agent's connection with signed commands,
without taking the agent offline. The controller refuses that path when the
key's connections do not look like the agent alone (a second connection
with the key, a connection from another address, or a recent refusal for
the connection limit): whoever answers could choose the new key. Then, or
when the agent cannot be reached, use --ssh: the key is made over SSH with
the host's stored key and verified host key, and the agent is restarted
with it. See docs/compromised-host.md.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := messages.ValidHostID(args[0]); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			opts.Host = args[0]
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return rekeyRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().BoolVar(&opts.SSH, "ssh", false, "make the new key over SSH and restart the agent with it (when the agent is unreachable or its key is in use by someone else)")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&opts.DryRun, "dry-run", false, "say what would be done and change nothing")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "sudo password for --ssh, from stdin")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the result as JSON")
	return cmd
}

type rekeyResult struct {
	messages.HostRekeyResult
	Via string `json:"via"` // nats or ssh
}

func rekeyRun(ctx context.Context, o *RekeyOptions) error {
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	hl, err := cl.HostList(ctx)
	if err != nil {
		return err
	}
	var rec *messages.HostRecord
	for i := range hl.Hosts {
		if hl.Hosts[i].ID == o.Host {
			rec = &hl.Hosts[i]
		}
	}
	if rec == nil {
		return fmt.Errorf("host %s is not in the fleet; see foundry host list", o.Host)
	}
	if o.SSH && rec.Address == "" {
		return fmt.Errorf("no SSH address is known for %s (it was enrolled, not added over SSH); rekey it through its agent, or add it with foundry host add ADDRESS --id %s", o.Host, o.Host)
	}
	if o.DryRun {
		if o.SSH {
			fmt.Fprintf(o.IO.Out, "would make a new NATS key on %s over SSH (%s@%s), enrol it, restart the agent with it, then revoke the old key and close every connection made with it\n", o.Host, orDash(rec.SSHUser), rec.Address)
		} else {
			fmt.Fprintf(o.IO.Out, "would ask the agent of %s (%s) to make a new NATS key, enrol it, switch the agent to it, then revoke the old key and close every connection made with it\n", o.Host, rec.State)
		}
		return nil
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Replace the NATS key of %s and revoke the old one?", o.Host)); err != nil {
		return err
	}
	r := rekeyResult{Via: "nats"}
	if o.SSH {
		r.Via = "ssh"
		r.HostRekeyResult, err = rekeyOverSSH(ctx, o, cl, *rec)
	} else {
		r.HostRekeyResult, err = cl.RekeyHost(ctx, messages.HostRekeyRequest{Host: o.Host})
	}
	if err != nil {
		return fmt.Errorf("rekey %s: %w", o.Host, err)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, r)
	}
	fmt.Fprintf(o.IO.Out, "%s: new key %s enrolled (made on the host, via %s)\n", o.Host, r.PublicKey, r.Via)
	fmt.Fprintf(o.IO.Out, "%s: %d old key(s) revoked, %d connection(s) with them closed\n", o.Host, len(r.Revoked), r.Disconnected)
	if !r.AgentOnline {
		fmt.Fprintf(o.IO.Out, "%s: the agent was not seen connected with the new key yet; check foundry host list and `systemctl status foundry-agent` on the host\n", o.Host)
		return &cmdutil.ExitCodeError{Code: 1, Err: errors.New("the agent has not come back with its new key yet")}
	}
	fmt.Fprintf(o.IO.Out, "%s: agent connected with the new key\n", o.Host)
	return nil
}

// rekeyOverSSH makes the new key on the host over SSH, enrols it beside
// the old one, installs it and restarts the agent, and only then has the
// controller revoke the old key: at every step the host's seed file holds
// a key the controller accepts (see agentunit.RekeySwitchScript).
func rekeyOverSSH(ctx context.Context, o *RekeyOptions, cl *client.Client, rec messages.HostRecord) (messages.HostRekeyResult, error) {
	var res messages.HostRekeyResult
	keys, err := o.Keys()
	if err != nil {
		return res, err
	}
	pem, err := keys.LoadSSHKey(ctx, o.Host)
	if err != nil {
		return res, fmt.Errorf("no SSH key for %s in the key store (%w); rekey it through its agent, or re-add it with foundry host add", o.Host, err)
	}
	home, err := o.Home()
	if err != nil {
		return res, err
	}
	var password []byte
	if o.PasswordStdin {
		if password, err = o.IO.ReadSecret("sudo password: "); err != nil {
			return res, err
		}
		defer clear(password)
	}
	sctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	c, err := ssh.Dial(sctx, ssh.Options{Host: rec.Address, Port: rec.SSHPort, User: rec.SSHUser, PrivateKey: pem,
		SudoPassword: password, KnownHostsFile: filepath.Join(home, "known_hosts")})
	if err != nil {
		return res, err
	}
	defer c.Close()
	out, err := c.Run(sctx, ssh.Command{Line: agentunit.RekeyStageScript(), Sudo: true})
	if err != nil {
		return res, fmt.Errorf("make the new key on the host: %w", err)
	}
	pub := lastLine(out.Stdout)
	if !nkeys.IsValidPublicUserKey(pub) {
		return res, fmt.Errorf("the host's foundry-agent keygen printed %q, not a public key; check the agent binary on the host", pub)
	}
	if _, err := cl.RekeyHost(ctx, messages.HostRekeyRequest{Host: o.Host, Step: messages.HostRekeyAdd, PublicKey: pub}); err != nil {
		return res, fmt.Errorf("enrol the new key: %w", err)
	}
	script, err := agentunit.RekeySwitchScript(pub)
	if err != nil {
		return res, err
	}
	if _, err := c.Run(sctx, ssh.Command{Line: script, Sudo: true}); err != nil {
		return res, fmt.Errorf("install the new key on the host: %w (the old key stays valid; run foundry host rekey %s --ssh again)", err, o.Host)
	}
	return cl.RekeyHost(ctx, messages.HostRekeyRequest{Host: o.Host, Step: messages.HostRekeyFinish, PublicKey: pub})
}

func lastLine(s string) string {
	lines := strings.Split(strings.TrimSpace(s), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
