// Package stack is `foundry stack`: validate, install, status and upgrade
// every configured component in dependency order.
package stack

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	clustercmd "github.com/foundry-fleet/foundry/cmd/foundry/cli/cluster"
	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	"github.com/foundry-fleet/foundry/controller/client"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

// Options are the inputs of every stack verb.
type Options struct {
	clicomp.Env
	DryRun bool
	Yes    bool
	JSON   bool
	// Cluster is K3s's part: it is installed per node by cluster init,
	// not as one host service.
	Cluster clustercmd.Env
}

// NewCmdStack is the `stack` noun.
func NewCmdStack(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "stack", Short: "Install, check and upgrade the whole configured stack"}
	cmd.AddCommand(NewCmdValidate(f, nil), NewCmdInstall(f, nil), NewCmdStatus(f, nil), NewCmdUpgrade(f, nil), NewCmdImages(f, nil))
	return cmd
}

func verb(f *cmdutil.Factory, use, short string, run, runF func(context.Context, *Options) error) (*cobra.Command, *Options) {
	o := &Options{Env: clicomp.NewEnv(f).Wired(), Cluster: clustercmd.NewEnv(f)}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		}}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd, o
}

// NewCmdValidate is `foundry stack validate`.
func NewCmdValidate(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, _ := verb(f, "validate", "Check the config and the component graph, and print the install order", validateRun, runF)
	return cmd
}

// NewCmdInstall is `foundry stack install`.
func NewCmdInstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "install", "Install every configured component in dependency order (re-running converges)", installRun, runF)
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan per component, host and step; change nothing")
	return cmd
}

// NewCmdStatus is `foundry stack status`.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, _ := verb(f, "status", "Ask every component's hosts for version, unit state and health", statusRun, runF)
	return cmd
}

// NewCmdUpgrade is `foundry stack upgrade`.
func NewCmdUpgrade(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "upgrade", "Move every component to the version in the config, asking before each", upgradeRun, runF)
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan; change nothing")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask before each component")
	return cmd
}

// planned is the stack's configured components in install order.
func planned(cfg *stackconfig.Config) ([]comp.Component, error) {
	cs := comp.Catalog()
	var configured []string
	for _, c := range cs {
		if _, ok := c.Desired(cfg); ok {
			// MinIO is deployed only when no TrueNAS S3 takes its place.
			if c.Name == "minio" && !cfg.MinIOWanted() {
				continue
			}
			configured = append(configured, c.Name)
		}
	}
	if len(configured) == 0 {
		return nil, errors.New("the stack config configures no component; add one under components")
	}
	ordered, err := comp.Order(cs, configured)
	if err != nil {
		return nil, err
	}
	for _, c := range ordered {
		if m := comp.Missing(c, configured); len(m) > 0 {
			return nil, fmt.Errorf("component %s requires %s, which the stack config does not configure; add components.%s", c.Name, strings.Join(m, ", "), m[0])
		}
		// A host service with nowhere to run would pass here and fail
		// only when install reaches it, after the components before it.
		if d, _ := c.Desired(cfg); c.Placement == comp.Host && c.Installable() && len(d.Hosts) == 0 {
			return nil, fmt.Errorf("component %s has no hosts, so stack install cannot place it; list them under components.%s.hosts", c.Name, c.Name)
		}
	}
	return ordered, nil
}

type validation struct {
	Config string       `json:"config"`
	Order  []orderEntry `json:"order"`
}

type orderEntry struct {
	Component   string   `json:"component"`
	Installable bool     `json:"installable"`
	Version     string   `json:"version,omitempty"`
	Hosts       []string `json:"hosts,omitempty"`
}

func validateRun(_ context.Context, o *Options) error {
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	cs, err := planned(cfg)
	if err != nil {
		return err
	}
	var v validation
	v.Config = "valid"
	for _, c := range cs {
		d, _ := c.Desired(cfg)
		v.Order = append(v.Order, orderEntry{Component: c.Name, Installable: c.Installable(), Version: d.Version, Hosts: d.Hosts})
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, v)
	}
	fmt.Fprintln(o.IO.Out, "stack config is valid; install order:")
	for i, e := range v.Order {
		ver := e.Version
		if ver == "" {
			ver = "newest imported"
		}
		how := "by agents on " + strings.Join(e.Hosts, ", ")
		if e.Component == comp.K3sName {
			how = "by agents on the cluster nodes " + strings.Join(e.Hosts, ", ") + " (foundry cluster init)"
		}
		if clicomp.IsCluster(e.Component) {
			how = "a Helm release on the cluster"
		}
		if !e.Installable {
			how = "not installable by Foundry yet"
		}
		fmt.Fprintf(o.IO.Out, "  %d. %s %s, %s\n", i+1, e.Component, ver, how)
	}
	return nil
}

// open loads the stack config, orders its components and connects: the
// start of every verb that talks to the hosts.
func (o *Options) open(ctx context.Context) (*stackconfig.Config, []comp.Component, *client.Client, error) {
	cfg, err := o.Stack()
	if err != nil {
		return nil, nil, nil, err
	}
	cs, err := planned(cfg)
	if err != nil {
		return nil, nil, nil, err
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return nil, nil, nil, err
	}
	return cfg, cs, cl, nil
}

// each runs fn for every installable configured component in order,
// independent cluster components at once (waves), and stops after the
// first wave with a failure: what comes later may depend on it.
func each(ctx context.Context, o *Options, fn func(*client.Client, comp.Target) (clicomp.Outcome, error)) error {
	cfg, cs, cl, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	arts, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{})
	if err != nil {
		return err
	}
	var outs []clicomp.Outcome
	var runErr error
	step := func(e clicomp.Env, c comp.Component) (out clicomp.Outcome, err error) {
		began := time.Now()
		defer func() { out.Seconds = time.Since(began).Seconds() }()
		switch c.Placement {
		case comp.Nodes:
			return nodes(ctx, o)
		case comp.Cluster:
			return clicomp.ClusterStep(ctx, e, c.Name, o.DryRun)
		}
		t, err := comp.Resolve(cfg, c, comp.Overrides{}, arts.Artifacts)
		if err != nil {
			return clicomp.Outcome{Component: c.Name}, err
		}
		return fn(cl, t)
	}
	for _, wave := range waves(cs) {
		res := make([]clicomp.Outcome, len(wave))
		errs := make([]error, len(wave))
		if len(wave) == 1 {
			res[0], errs[0] = step(o.Env, wave[0])
		} else {
			// Independent Helm releases install at once; their lines
			// interleave, so each write is whole.
			shared := o.Env
			ios := *o.IO
			ios.Out, ios.ErrOut = &lockedWriter{w: o.IO.Out}, &lockedWriter{w: o.IO.ErrOut}
			shared.IO = &ios
			var wg sync.WaitGroup
			for i, c := range wave {
				wg.Add(1)
				go func() {
					defer wg.Done()
					res[i], errs[i] = step(shared, c)
				}()
			}
			wg.Wait()
		}
		for i := range wave {
			outs = append(outs, res[i])
			if !o.JSON {
				clicomp.PrintOutcome(o.IO, res[i])
			}
			if errs[i] != nil && runErr == nil {
				runErr = errs[i]
			}
		}
		if runErr != nil {
			break
		}
	}
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, outs); err != nil {
			return err
		}
	}
	changed := 0
	for _, out := range outs {
		if out.Changed {
			changed++
		}
	}
	if runErr == nil {
		fmt.Fprintf(o.IO.ErrOut, "stack: %d component(s), %d changed\n", len(outs), changed)
		for _, out := range outs {
			fmt.Fprintf(o.IO.ErrOut, "  %-13s %6.1fs %s\n", out.Component, out.Seconds, map[bool]string{true: "changed", false: "unchanged"}[out.Changed])
		}
	}
	var ec *cmdutil.ExitCodeError
	if runErr != nil && !errors.As(runErr, &ec) && strings.Contains(runErr.Error(), "failed on") {
		return &cmdutil.ExitCodeError{Code: 3, Err: runErr}
	}
	return runErr
}

// waves groups the ordered components for stack install: a wave's
// members need nothing in the same wave, and only cluster components
// share one (host services and K3s go one at a time, as their jobs and
// prompts expect). Within the order, a component's dependencies are all
// in earlier waves.
func waves(cs []comp.Component) [][]comp.Component {
	var out [][]comp.Component
	for _, c := range cs {
		if !c.Installable() {
			continue
		}
		if n := len(out); n > 0 && c.Placement == comp.Cluster && joins(out[n-1], c) {
			out[n-1] = append(out[n-1], c)
			continue
		}
		out = append(out, []comp.Component{c})
	}
	return out
}

func joins(wave []comp.Component, c comp.Component) bool {
	for _, w := range wave {
		if w.Placement != comp.Cluster || slices.Contains(c.Requires, w.Name) || slices.Contains(c.After, w.Name) {
			return false
		}
	}
	return true
}

// lockedWriter makes concurrent steps' writes whole lines in one stream.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// nodes is K3s's step: cluster init for install (and for upgrade, which
// moves every node to the configured version the same way).
func nodes(ctx context.Context, o *Options) (clicomp.Outcome, error) {
	return clustercmd.StackInstall(ctx, o.Cluster, o.DryRun)
}

func installRun(ctx context.Context, o *Options) error {
	return each(ctx, o, func(cl *client.Client, t comp.Target) (clicomp.Outcome, error) {
		return clicomp.Apply(ctx, o.Env, cl, t, clicomp.ApplyOptions{DryRun: o.DryRun, Yes: o.Yes})
	})
}

func upgradeRun(ctx context.Context, o *Options) error {
	return each(ctx, o, func(cl *client.Client, t comp.Target) (clicomp.Outcome, error) {
		return clicomp.Apply(ctx, o.Env, cl, t, clicomp.ApplyOptions{DryRun: o.DryRun, Yes: o.Yes, Upgrade: true})
	})
}

func statusRun(ctx context.Context, o *Options) error {
	cfg, cs, cl, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	var rs []clicomp.StatusResult
	for _, c := range cs {
		if !c.Installable() {
			continue
		}
		d, _ := c.Desired(cfg)
		var st clicomp.StatusResult
		switch c.Placement {
		case comp.Nodes:
			st, err = clustercmd.StackStatus(ctx, o.Cluster)
		case comp.Cluster:
			st, err = clicomp.ClusterStatus(ctx, o.Env, c.Name)
		default:
			st, err = clicomp.Status(ctx, o.Env, cl, c, d)
		}
		if err != nil {
			return err
		}
		rs = append(rs, st)
	}
	return statusDone(ctx, o, cl, cfg.Cluster.Name, rs, time.Now())
}

// statusDone reports what the status run saw of the cluster to the
// controller (it cannot read the cluster; the web view shows this run's
// word, checked at checked), then prints every result and exits 3 when
// one is not healthy. Reporting never fails the status.
func statusDone(ctx context.Context, o *Options, cl *client.Client, cluster string, rs []clicomp.StatusResult, checked time.Time) error {
	clicomp.ReportCluster(ctx, o.Env, cl, clicomp.ClusterReport(cluster, rs, checked))
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, rs); err != nil {
			return err
		}
	} else if err := clicomp.PrintStatus(o.IO, rs); err != nil {
		return err
	}
	for _, r := range rs {
		if !r.Healthy() {
			return &cmdutil.ExitCodeError{Code: 3, Err: fmt.Errorf("%s is not healthy on every host", r.Component)}
		}
	}
	return nil
}
