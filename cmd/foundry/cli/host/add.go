package host

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	secretcmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/secret"
	"github.com/foundry-fleet/foundry/controller/client"
	"github.com/foundry-fleet/foundry/controller/secrets"
	"github.com/foundry-fleet/foundry/installer/bootstrap"
	"github.com/foundry-fleet/foundry/installer/ssh"
	"github.com/foundry-fleet/foundry/messages"
)

// AddOptions are the flags of `host add` (and `host configure`).
type AddOptions struct {
	IO      *cmdutil.IOStreams
	Connect func(context.Context) (*client.Client, error)
	Home    func() (string, error)
	// Keys is where per-host SSH keys are kept (OpenBAO or files).
	Keys func() (*secrets.SSHKeyStore, error)

	Hosts         []string
	FromFile      string
	ID            string
	User          string
	Port          int
	PasswordStdin bool
	KeyFile       string
	Yes           bool
	Parallel      int
	AgentBinary   string
	Heartbeat     time.Duration
	Timeout       time.Duration
	Role          string
	Labels        map[string]string
	JSON          bool
	// Configure is set by `host configure`: hosts must already be known,
	// and their stored key is used.
	Configure bool
}

// NewCmdAdd is `foundry host add`.
func NewCmdAdd(f *cmdutil.Factory, runF func(context.Context, *AddOptions) error) *cobra.Command {
	opts := &AddOptions{IO: f.IO, Connect: f.Connect, Home: f.Home, Keys: keyStore(f)}
	cmd := &cobra.Command{
		Use:   "add <host>... [--user U] [--password-stdin | --key FILE]",
		Short: "Install the agent on hosts over SSH (once) and wait until they register",
		Long: `Connect to each host over SSH (verifying its host key), give it its own SSH
key and NATS identity, install the agent as a systemd service and wait until
it registers with the controller. Re-running on a healthy host changes
nothing; a broken agent is repaired. A failure on a host removes what the
run put there and names the step, command, stderr and exit code.

Hosts come from arguments or --from-file (one "address [id]" per line).`,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Hosts = args
			if err := validateAdd(opts); err != nil {
				return err
			}
			if runF != nil {
				return runF(cmd.Context(), opts)
			}
			return addRun(cmd.Context(), opts)
		},
	}
	addFlags(cmd, opts)
	cmd.Flags().StringVar(&opts.FromFile, "from-file", "", "read hosts from a file, one \"address [id]\" per line")
	cmd.Flags().StringVar(&opts.ID, "id", "", "host id in the fleet (default: derived from the address; one host only)")
	return cmd
}

func addFlags(cmd *cobra.Command, opts *AddOptions) {
	cmd.Flags().StringVar(&opts.User, "user", "admin", "SSH user with sudo rights")
	cmd.Flags().IntVar(&opts.Port, "port", 22, "SSH port")
	cmd.Flags().BoolVar(&opts.PasswordStdin, "password-stdin", false, "read the SSH/sudo password from the first line of stdin")
	cmd.Flags().StringVar(&opts.KeyFile, "key", "", "existing SSH private key for the first connection")
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "trust unknown host keys without asking (they are still pinned)")
	cmd.Flags().IntVar(&opts.Parallel, "parallel", 10, "hosts worked on at once")
	cmd.Flags().StringVar(&opts.AgentBinary, "agent-binary", "", "foundry-agent executable to install, as the foundry-agent package (default: next to foundry)")
	cmd.Flags().DurationVar(&opts.Heartbeat, "heartbeat", 0, "agent heartbeat interval (default 10s)")
	cmd.Flags().DurationVar(&opts.Timeout, "timeout", 5*time.Minute, "upper bound for the whole run")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the per-host results as JSON")
	cmd.Flags().StringVar(&opts.Role, "role", "", "host role for --where (e.g. worker), kept by the controller; configure without it clears it")
	cmd.Flags().StringToStringVar(&opts.Labels, "label", nil, "host label key=value for --where (repeatable), kept by the controller")
}

func validateAdd(o *AddOptions) error {
	if len(o.Hosts) == 0 && o.FromFile == "" {
		return cmdutil.FlagErrorf("name at least one host, or use --from-file")
	}
	if o.PasswordStdin && o.KeyFile != "" {
		return cmdutil.FlagErrorf("--password-stdin and --key cannot be used together")
	}
	if o.ID != "" && (len(o.Hosts) != 1 || o.FromFile != "") {
		return cmdutil.FlagErrorf("--id works with exactly one host")
	}
	if o.Parallel < 1 || o.Parallel > 256 {
		return cmdutil.FlagErrorf("--parallel must be between 1 and 256")
	}
	if o.Port < 1 || o.Port > 65535 {
		return cmdutil.FlagErrorf("--port must be between 1 and 65535")
	}
	return nil
}

type target struct {
	address, id, user string
	port              int
}

func (o *AddOptions) targets() ([]target, error) {
	var out []target
	for _, h := range o.Hosts {
		out = append(out, target{address: h, id: o.ID})
	}
	if o.FromFile != "" {
		f, err := os.Open(o.FromFile)
		if err != nil {
			return nil, fmt.Errorf("read --from-file: %w", err)
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		for n := 1; sc.Scan(); n++ {
			fields := strings.Fields(strings.SplitN(sc.Text(), "#", 2)[0])
			switch len(fields) {
			case 0:
			case 1:
				out = append(out, target{address: fields[0]})
			case 2:
				out = append(out, target{address: fields[0], id: fields[1]})
			default:
				return nil, fmt.Errorf("%s:%d: want \"address [id]\", got %q", o.FromFile, n, sc.Text())
			}
		}
		if err := sc.Err(); err != nil {
			return nil, err
		}
	}
	seen := map[string]bool{}
	for i := range out {
		if out[i].id == "" {
			id, err := messages.HostIDFromName(out[i].address)
			if err != nil {
				return nil, fmt.Errorf("cannot derive a host id from %q (%v); pass --id", out[i].address, err)
			}
			out[i].id = id
		} else if err := messages.ValidHostID(out[i].id); err != nil {
			return nil, err
		}
		if seen[out[i].id] {
			return nil, fmt.Errorf("host id %s appears twice; give each host its own id", out[i].id)
		}
		seen[out[i].id] = true
	}
	return out, nil
}

func addRun(ctx context.Context, o *AddOptions) error {
	targets, err := o.targets()
	if err != nil {
		return err
	}
	return addTargets(ctx, o, targets)
}

func addTargets(ctx context.Context, o *AddOptions, targets []target) error {
	home, err := o.Home()
	if err != nil {
		return err
	}
	// Before anything touches a host: agents must be able to reach what
	// the controller hands them.
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	info, err := cl.Info(ctx)
	if err != nil {
		return fmt.Errorf("controller info: %w", err)
	}
	if loopbackOnly(info.URLs) {
		return errLoopbackController(info.URLs)
	}
	binary, err := readAgentBinary(o.AgentBinary)
	if err != nil {
		return err
	}
	var password []byte
	if o.PasswordStdin || (o.KeyFile == "" && !o.Configure && o.IO.IsStdinTTY()) {
		if password, err = o.IO.ReadSecret("SSH password: "); err != nil {
			return fmt.Errorf("read password: %w", err)
		}
		defer clear(password)
	}
	keys, err := o.Keys()
	if err != nil {
		return fmt.Errorf("open the SSH key store: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()

	prompt := trustPrompt(o.IO, o.Yes)
	progress := newProgress(o.IO, len(targets))
	hosts := make([]bootstrap.Options, len(targets))
	for i, t := range targets {
		user, port := o.User, o.Port
		if t.user != "" {
			user, port = t.user, t.port
		}
		hosts[i] = bootstrap.Options{
			ID: t.id, Address: t.address, Port: port, User: user, Password: password, KeyFile: o.KeyFile,
			KnownHostsFile: filepath.Join(home, "known_hosts"), TrustPrompt: prompt, Keys: keys, Controller: cl,
			AgentBinary: binary, AgentVersion: info.Version, Heartbeat: o.Heartbeat, Role: o.Role, Labels: o.Labels, Progress: progress.step,
		}
	}
	start := time.Now()
	results := bootstrap.AddMany(ctx, hosts, o.Parallel)
	progress.done()
	return printResults(o.IO, o.JSON, results, time.Since(start))
}

// readAgentBinary finds the agent to install: the flag, or foundry-agent
// next to this executable.
func readAgentBinary(path string) ([]byte, error) {
	if path == "" {
		exe, err := os.Executable()
		if err != nil {
			return nil, fmt.Errorf("find foundry-agent: %w; pass --agent-binary", err)
		}
		path = filepath.Join(filepath.Dir(exe), "foundry-agent")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent binary %s: %w; build it with `make build` or pass --agent-binary", path, err)
	}
	return b, nil
}

// trustPrompt asks about unknown host keys one host at a time on a TTY;
// --yes accepts (and pins); without a TTY unknown keys are refused.
func trustPrompt(io *cmdutil.IOStreams, yes bool) ssh.TrustPrompt {
	var mu sync.Mutex
	return func(host string, _ ssh.PublicKey, fp string) (bool, error) {
		if yes {
			return true, nil
		}
		if !io.IsStdinTTY() {
			return false, fmt.Errorf("host key of %s (%s) is not pinned yet; check the fingerprint and re-run with --yes", host, fp)
		}
		mu.Lock()
		defer mu.Unlock()
		err := cmdutil.Confirm(io, false, fmt.Sprintf("The host key of %s is %s. Trust and pin it?", host, fp))
		return err == nil, nil
	}
}

func printResults(io *cmdutil.IOStreams, asJSON bool, results []bootstrap.Result, took time.Duration) error {
	failed := 0
	count := map[string]int{}
	for _, r := range results {
		if r.Error != "" {
			failed++
		} else {
			count[r.Outcome]++
		}
	}
	if asJSON {
		if err := cmdutil.WriteJSON(io.Out, results); err != nil {
			return err
		}
	} else {
		t := cmdutil.NewTable(io, "HOST", "ADDRESS", "RESULT", "DETAILS")
		for _, r := range results {
			if r.Error != "" {
				t.Row(r.ID, r.Address, "failed", oneLine(r.Error))
			} else {
				t.Row(r.ID, r.Address, r.Outcome, strings.Join(r.Changes, ", "))
			}
		}
		if err := t.Render(); err != nil {
			return err
		}
	}
	fmt.Fprintf(io.ErrOut, "%d added, %d updated, %d repaired, %d unchanged, %d failed in %.1fs\n",
		count[bootstrap.Added], count[bootstrap.Updated], count[bootstrap.Repaired], count[bootstrap.Unchanged], failed, took.Seconds())
	if failed > 0 {
		for _, r := range results {
			if r.Error != "" {
				fmt.Fprintf(io.ErrOut, "\n%s failed:\n  %s\n", r.ID, strings.ReplaceAll(r.Error, "\n", "\n  "))
			}
		}
		return &cmdutil.ExitCodeError{Code: 1, Err: errors.New("some hosts failed; see above")}
	}
	return nil
}

func oneLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// progress shows "[done/total] host: step" on a TTY and nothing when piped.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	total int
	done_ map[string]bool
}

func newProgress(io *cmdutil.IOStreams, total int) *progress {
	return &progress{w: io.ErrOut, tty: io.IsStdoutTTY(), total: total, done_: map[string]bool{}}
}

func (p *progress) step(id, step string) {
	if !p.tty {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if step == "wait for registration" {
		p.done_[id] = true
	}
	fmt.Fprintf(p.w, "\r\033[K[%d/%d] %s: %s", len(p.done_), p.total, id, step)
}

func (p *progress) done() {
	if p.tty {
		fmt.Fprint(p.w, "\r\033[K")
	}
}

// keyStore is the lazy key-store lookup shared by the host verbs.
func keyStore(f *cmdutil.Factory) func() (*secrets.SSHKeyStore, error) {
	return func() (*secrets.SSHKeyStore, error) { return secretcmd.SSHKeyStore(f) }
}
