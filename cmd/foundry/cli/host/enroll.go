package host

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/nats-io/nkeys"
	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/agent"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/messages"
)

// EnrollOptions are the flags of `host enroll`.
type EnrollOptions struct {
	IO        *cmdutil.IOStreams
	Connect   func(context.Context) (*client.Client, error)
	Host      string
	PublicKey string
	Dir       string
	Heartbeat time.Duration
	JSON      bool
}

// NewCmdEnroll is `foundry host enroll`: register an agent identity
// without SSH, for agents installed by other means (images, config
// management) and for the local demo. `host add` does the same over SSH.
func NewCmdEnroll(f *cmdutil.Factory, runF func(context.Context, *EnrollOptions) error) *cobra.Command {
	opts := &EnrollOptions{IO: f.IO, Connect: f.Connect}
	cmd := &cobra.Command{
		Use:   "enroll <host-id> (--public-key KEY | --dir DIR)",
		Short: "Register an agent's NATS identity and write its config",
		Long: `Register an agent's NATS identity with the controller.

With --public-key, only the key is registered (the seed stays where
'foundry-agent keygen' created it). With --dir, a new key is created in
DIR/agent.nk (0600) and DIR/agent.yaml and DIR/ca.pem are written, ready for
'foundry-agent run --config DIR/agent.yaml'.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Host = args[0]
			if err := messages.ValidHostID(opts.Host); err != nil {
				return &cmdutil.FlagError{Err: err}
			}
			if (opts.PublicKey == "") == (opts.Dir == "") {
				return cmdutil.FlagErrorf("give exactly one of --public-key or --dir")
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return enrollRun(cmd.Context(), opts)
		},
	}
	cmd.Flags().StringVar(&opts.PublicKey, "public-key", "", "agent NKey public key (from foundry-agent keygen)")
	cmd.Flags().StringVar(&opts.Dir, "dir", "", "create key, agent.yaml and ca.pem in this directory")
	cmd.Flags().DurationVar(&opts.Heartbeat, "heartbeat", 0, "agent heartbeat interval written to agent.yaml (default 10s)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the enrollment as JSON")
	return cmd
}

func enrollRun(ctx context.Context, o *EnrollOptions) error {
	pub := o.PublicKey
	var seedPath string
	if o.Dir != "" {
		if err := os.MkdirAll(o.Dir, 0o700); err != nil {
			return err
		}
		seedPath = filepath.Join(o.Dir, "agent.nk")
		var err error
		if pub, err = ensureSeed(seedPath); err != nil {
			return err
		}
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	res, err := cl.Enroll(ctx, messages.EnrollRequest{Host: o.Host, PublicKey: pub})
	if err != nil {
		return fmt.Errorf("enroll %s: %w", o.Host, err)
	}
	if o.Dir != "" {
		if err := writeAgentFiles(o, res, seedPath); err != nil {
			return err
		}
	}
	if o.JSON {
		res.CAPEM = ""
		return cmdutil.WriteJSON(o.IO.Out, res)
	}
	verb := "enrolled"
	if !res.Created {
		verb = "already enrolled with this key"
	}
	fmt.Fprintf(o.IO.Out, "%s %s\n", o.Host, verb)
	if o.Dir != "" {
		fmt.Fprintf(o.IO.Out, "start it with: foundry-agent run --config %s\n", filepath.Join(o.Dir, "agent.yaml"))
	}
	return nil
}

func writeAgentFiles(o *EnrollOptions, res messages.EnrollResult, seedPath string) error {
	cfg := agent.Config{ID: o.Host, URLs: res.URLs, NKeyFile: seedPath, TrustedKeys: res.TrustedKeys, Heartbeat: o.Heartbeat}
	if res.CAPEM != "" {
		cfg.CAFile = filepath.Join(o.Dir, "ca.pem")
		if err := os.WriteFile(cfg.CAFile, []byte(res.CAPEM), 0o644); err != nil {
			return err
		}
	}
	b, err := agent.RenderConfig(cfg)
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(o.Dir, "agent.yaml"), b, 0o644)
}

// ensureSeed creates an agent seed file once and returns its public key.
func ensureSeed(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		kp, err := nkeys.FromSeed([]byte(strings.TrimSpace(string(b))))
		if err != nil {
			return "", fmt.Errorf("%s is not an NKey seed; remove it to create a new one", path)
		}
		return kp.PublicKey()
	}
	kp, err := nkeys.CreateUser()
	if err != nil {
		return "", err
	}
	seed, _ := kp.Seed()
	if err := os.WriteFile(path, append(seed, '\n'), 0o600); err != nil {
		return "", err
	}
	return kp.PublicKey()
}
