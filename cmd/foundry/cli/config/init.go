package config

import (
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
)

// InitOptions are the inputs of `config init`.
type InitOptions struct {
	IO *cmdutil.IOStreams
	selector

	Interactive    bool
	Name           string
	Domain         string
	Hosts          []string // HOST[,ROLE]
	Components     []string
	DNSProvider    string
	OpenBAOAddress string
	Force          bool
}

// NewCmdInit is `foundry config init`: write a new, valid stack config
// (mode 0600) from flags or a short wizard.
func NewCmdInit(f *cmdutil.Factory, runF func(*InitOptions) error) *cobra.Command {
	opts := &InitOptions{IO: f.IO, selector: newSelector(f)}
	cmd := &cobra.Command{
		Use:   "init [--interactive] [--name N --domain D --host H[,ROLE]... --component C...] [--force]",
		Short: "Create a new stack config",
		Long: `Create ~/.foundry/<name>.yaml (or the --config path), mode 0600.

Without --name on a terminal, or with --interactive, a wizard asks for the
cluster name, domain, hosts and components. Components default to
` + strings.Join(stackconfig.DefaultComponents(), ", ") + `; missing
dependencies are added. Secrets are written as ${secret:...} references;
store their values with 'foundry secret set'. An existing file is never
replaced without --force.`,
		Example: `  foundry config init --name prod --domain example.com \
    --host node1.example.com,control-plane --host node2.example.com,worker
  foundry config init --interactive`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			if !opts.Interactive && opts.Name == "" && !opts.IO.IsStdinTTY() {
				if opts.Domain != "" || len(opts.Hosts) > 0 {
					return cmdutil.FlagErrorf("--name is required")
				}
				return cmdutil.FlagErrorf("--name, --domain and at least one --host are required when not running interactively (or pass --interactive)")
			}
			if opts.Name != "" && !opts.Interactive && (opts.Domain == "" || len(opts.Hosts) == 0) {
				return cmdutil.FlagErrorf("--domain and at least one --host are required with --name (or pass --interactive)")
			}
			if runF != nil {
				return runF(opts)
			}
			return initRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVarP(&opts.Interactive, "interactive", "i", false, "ask for every setting")
	fl.StringVar(&opts.Name, "name", "", "cluster name (lower case, e.g. production)")
	fl.StringVar(&opts.Domain, "domain", "", "cluster DNS domain (e.g. example.com)")
	fl.StringArrayVar(&opts.Hosts, "host", nil, "host as HOSTNAME[,ROLE] (repeat; ROLE is control-plane or worker, first host defaults to control-plane)")
	fl.StringSliceVar(&opts.Components, "component", nil, "component to enable (repeat or comma-separate; default: the standard stack)")
	fl.StringVar(&opts.DNSProvider, "dns-provider", "", "DNS provider for external-dns (e.g. cloudflare)")
	fl.StringVar(&opts.OpenBAOAddress, "openbao-address", "", "OpenBAO URL (default https://<first control-plane>:8200)")
	fl.BoolVar(&opts.Force, "force", false, "replace an existing config file")
	return cmd
}

func initRun(o *InitOptions) error {
	if o.Interactive || o.Name == "" {
		if err := runWizard(o); err != nil {
			return err
		}
	}
	spec, err := buildInitOptions(o)
	if err != nil {
		return err
	}
	path, err := o.target(spec.Name)
	if err != nil {
		return err
	}
	res, err := stackconfig.Init(path, spec, o.Force)
	if err != nil {
		return err
	}
	fmt.Fprintf(o.IO.Out, "Wrote %s (mode 0600)\n", res.Path)
	if len(res.Added) > 0 {
		fmt.Fprintf(o.IO.Out, "Added %s to meet dependencies.\n", strings.Join(res.Added, ", "))
	}
	fmt.Fprintf(o.IO.ErrOut, "Next: store the secrets it references with `foundry secret set`, then run `foundry config validate`.\n")
	return nil
}

// target is where the new file goes: --config, else FOUNDRY_CONFIG, else
// <home>/<name>.yaml.
func (o *InitOptions) target(name string) (string, error) {
	home, err := o.Home()
	if err != nil {
		return "", err
	}
	if o.ConfigPath() != "" || o.Getenv(stackconfig.EnvConfig) != "" {
		return stackconfig.Select(o.ConfigPath(), o.Getenv(stackconfig.EnvConfig), home)
	}
	return filepath.Join(home, name+".yaml"), nil
}

func buildInitOptions(o *InitOptions) (stackconfig.InitOptions, error) {
	spec := stackconfig.InitOptions{
		Name: o.Name, Domain: o.Domain, Components: o.Components,
		DNSProvider: o.DNSProvider, OpenBAOAddress: o.OpenBAOAddress,
	}
	for _, h := range o.Hosts {
		hs, err := parseHost(h)
		if err != nil {
			return spec, err
		}
		spec.Hosts = append(spec.Hosts, hs)
	}
	return spec, nil
}

// parseHost reads HOSTNAME[,ROLE].
func parseHost(s string) (stackconfig.HostSpec, error) {
	parts := strings.Split(s, ",")
	if len(parts) > 2 || strings.TrimSpace(parts[0]) == "" {
		return stackconfig.HostSpec{}, cmdutil.FlagErrorf("--host %q: write HOSTNAME or HOSTNAME,ROLE (ROLE is control-plane or worker)", s)
	}
	h := stackconfig.HostSpec{Hostname: strings.TrimSpace(parts[0])}
	if len(parts) == 2 {
		h.Role = strings.TrimSpace(parts[1])
		if h.Role != stackconfig.RoleControlPlane && h.Role != stackconfig.RoleWorker {
			return h, cmdutil.FlagErrorf("--host %q: role %q is not control-plane or worker", s, h.Role)
		}
	}
	return h, nil
}

// errWizardEOF means the input ended before the wizard finished.
var errWizardEOF = errors.New("input ended before the wizard finished; answer every question, or use --name, --domain and --host")
