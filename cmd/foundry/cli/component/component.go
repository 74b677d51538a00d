// Package component is `foundry component`: list, install, status,
// upgrade and uninstall one stack component through the agents.
package component

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/messages"
)

// Options are the inputs of every component verb.
type Options struct {
	Env
	Name    string
	Version string
	Hosts   []string
	ApplyOptions
	Purge bool
	// Force uninstalls a cluster component other installed ones need.
	Force bool
	JSON  bool
}

// NewCmdComponent is the `component` noun.
func NewCmdComponent(f *cmdutil.Factory) *cobra.Command {
	cmd := &cobra.Command{Use: "component", Short: "Install and inspect single stack components"}
	cmd.AddCommand(NewCmdList(f, nil), NewCmdInstall(f, nil), NewCmdStatus(f, nil), NewCmdUpgrade(f, nil), NewCmdUninstall(f, nil))
	return cmd
}

func verb(f *cmdutil.Factory, use, short string, args cobra.PositionalArgs, run, runF func(context.Context, *Options) error) (*cobra.Command, *Options) {
	o := &Options{Env: NewEnv(f).Wired()}
	cmd := &cobra.Command{Use: use, Short: short, Args: args,
		RunE: func(cmd *cobra.Command, a []string) error {
			if len(a) > 0 {
				o.Name = a[0]
			}
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		}}
	return cmd, o
}

// NewCmdList is `foundry component list`.
func NewCmdList(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "list", "List the stack's components, their dependencies and what Foundry can install", cobra.NoArgs, listRun, runF)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// NewCmdInstall is `foundry component install <name>`.
func NewCmdInstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "install <name>", "Install a component on its hosts (a no-op where it is already as configured)", cobra.ExactArgs(1), installRun, runF)
	cmd.Flags().StringVar(&o.Version, "version", "", "version to install (default: the config's, else the newest imported)")
	cmd.Flags().StringSliceVar(&o.Hosts, "host", nil, "install on these hosts instead of the config's")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan per host and step; change nothing")
	cmd.Flags().BoolVar(&o.ShowUnsealKeys, "show-unseal-keys", false, "print OpenBAO's unseal keys when it is initialised")
	cmd.Flags().DurationVar(&o.Cluster.Timeout, "timeout", 0, "cluster components: how long to wait for the release's workloads to be ready (default 5m)")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	return cmd
}

// NewCmdUpgrade is `foundry component upgrade <name>`.
func NewCmdUpgrade(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "upgrade <name>", "Move a component to the version in the config (asks first)", cobra.ExactArgs(1), upgradeRun, runF)
	cmd.Flags().StringVar(&o.Version, "version", "", "target version instead of the config's")
	cmd.Flags().DurationVar(&o.Cluster.Timeout, "timeout", 0, "cluster components: how long to wait for the workloads to be ready before rolling back (default 5m)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print the plan per host and step; change nothing")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	return cmd
}

// NewCmdStatus is `foundry component status <name>`.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "status <name>", "Ask the hosts for a component's version, unit state and health", cobra.ExactArgs(1), statusRun, runF)
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// NewCmdUninstall is `foundry component uninstall <name>`.
func NewCmdUninstall(f *cmdutil.Factory, runF func(context.Context, *Options) error) *cobra.Command {
	cmd, o := verb(f, "uninstall <name>", "Stop and remove a component from its hosts (data kept unless --purge)", cobra.ExactArgs(1), uninstallRun, runF)
	cmd.Flags().BoolVar(&o.Purge, "purge", false, "also delete the component's data directory")
	cmd.Flags().BoolVar(&o.Force, "force", false, "uninstall a cluster component even while installed components need it")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "say what would be removed; change nothing")
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the outcome as JSON")
	return cmd
}

func listRun(_ context.Context, o *Options) error {
	cs := comp.Catalog()
	ordered, err := comp.Order(cs, names(cs))
	if err != nil {
		return err
	}
	cfg, cfgErr := o.Stack()
	type row struct {
		Name        string   `json:"name"`
		Placement   string   `json:"placement"`
		Requires    []string `json:"requires"`
		After       []string `json:"after"`
		Installable bool     `json:"installable"`
		Configured  *bool    `json:"configured,omitempty"`
		Description string   `json:"description"`
	}
	var rows []row
	for _, c := range ordered {
		r := row{Name: c.Name, Placement: string(c.Placement), Requires: nonNil(c.Requires), After: nonNil(c.After), Installable: c.Installable(), Description: c.Description}
		if cfgErr == nil {
			_, ok := c.Desired(cfg)
			r.Configured = &ok
		}
		rows = append(rows, r)
	}
	if o.JSON {
		return cmdutil.WriteJSON(o.IO.Out, rows)
	}
	t := cmdutil.NewTable(o.IO, "NAME", "RUNS ON", "REQUIRES", "AFTER", "INSTALLABLE", "CONFIGURED", "DESCRIPTION")
	for _, r := range rows {
		conf := "-"
		if r.Configured != nil {
			conf = map[bool]string{true: "yes", false: "no"}[*r.Configured]
		}
		t.Row(r.Name, r.Placement, orDash(strings.Join(r.Requires, ",")), orDash(strings.Join(r.After, ",")),
			map[bool]string{true: "yes", false: "not yet"}[r.Installable], conf, r.Description)
	}
	if cfgErr != nil {
		fmt.Fprintf(o.IO.ErrOut, "note: no stack config read (%v), so CONFIGURED is unknown\n", cfgErr)
	}
	return t.Render()
}

// target resolves the named component against the config and the store.
func (o *Options) target(ctx context.Context, cl interface {
	ListArtifacts(context.Context, messages.ArtifactListRequest) (messages.ArtifactListResult, error)
}) (comp.Target, error) {
	c, err := comp.Find(comp.Catalog(), o.Name)
	if err != nil {
		return comp.Target{}, err
	}
	cfg, err := o.Stack()
	if err != nil {
		return comp.Target{}, err
	}
	arts, err := cl.ListArtifacts(ctx, messages.ArtifactListRequest{Component: c.Name})
	if err != nil {
		return comp.Target{}, err
	}
	return comp.Resolve(cfg, c, comp.Overrides{Version: o.Version, Hosts: o.Hosts}, arts.Artifacts)
}

func installRun(ctx context.Context, o *Options) error { return applyRun(ctx, o, false) }
func upgradeRun(ctx context.Context, o *Options) error { return applyRun(ctx, o, true) }

func applyRun(ctx context.Context, o *Options, upgrade bool) error {
	if c, ok := clusterComponent(o.Name); ok {
		return clusterApply(ctx, o, c, upgrade)
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	t, err := o.target(ctx, cl)
	if err != nil {
		return err
	}
	ao := o.ApplyOptions
	ao.Upgrade = upgrade
	out, err := Apply(ctx, o.Env, cl, t, ao)
	return report(o, out, err)
}

// report prints an outcome and maps a host failure to exit code 3.
func report(o *Options, out Outcome, err error) error {
	if o.JSON {
		if werr := cmdutil.WriteJSON(o.IO.Out, out); werr != nil {
			return werr
		}
	} else {
		PrintOutcome(o.IO, out)
	}
	if errors.Is(err, errFailed) {
		return &cmdutil.ExitCodeError{Code: 3, Err: err}
	}
	return err
}

func statusRun(ctx context.Context, o *Options) error {
	if c, ok := clusterComponent(o.Name); ok {
		return clusterStatus(ctx, o, c)
	}
	c, err := comp.Find(comp.Catalog(), o.Name)
	if err != nil {
		return err
	}
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	d, ok := c.Desired(cfg)
	if !ok || len(d.Hosts) == 0 {
		return comp.NoHosts(c, ok)
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	st, err := Status(ctx, o.Env, cl, c, d)
	if err != nil {
		return err
	}
	if c.Name == "openbao" {
		st.Raft = openbaoRaft(ctx, o.Env, cfg, d.Hosts)
	}
	if o.JSON {
		err = cmdutil.WriteJSON(o.IO.Out, st)
	} else if err = PrintStatus(o.IO, []StatusResult{st}); err == nil {
		err = printRaft(o.Env, st.Raft)
	}
	if err != nil {
		return err
	}
	// As stack status: every host asked is in the answer, and one that is
	// not healthy (not reached included) makes the exit code 3.
	if !st.Healthy() {
		return &cmdutil.ExitCodeError{Code: 3, Err: fmt.Errorf("%s is not healthy on every host", st.Component)}
	}
	return nil
}

func uninstallRun(ctx context.Context, o *Options) error {
	if c, ok := clusterComponent(o.Name); ok {
		return clusterUninstall(ctx, o, c)
	}
	c, err := comp.Find(comp.Catalog(), o.Name)
	if err != nil {
		return err
	}
	cfg, err := o.Stack()
	if err != nil {
		return err
	}
	d, ok := c.Desired(cfg)
	if len(d.Hosts) == 0 {
		return comp.NoHosts(c, ok)
	}
	what := "stop and remove " + c.Name + " (unit, binary, config) on " + strings.Join(d.Hosts, ", ")
	if o.Purge {
		what += ", and DELETE its data"
	}
	if o.DryRun {
		fmt.Fprintln(o.IO.Out, "would "+what)
		return nil
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, strings.ToUpper(what[:1])+what[1:]+"?"); err != nil {
		return err
	}
	cl, err := o.Connect(ctx)
	if err != nil {
		return err
	}
	defer cl.Close()
	rec, err := comp.RunJob(ctx, cl, messages.VerbServiceRemove, d.Hosts, messages.ServiceQuery{Component: c.Name, Purge: o.Purge}, progress(o.IO))
	if err != nil {
		return err
	}
	res := comp.Results(rec)
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else {
		for _, h := range res {
			switch {
			case h.Remove != nil && h.Remove.Changed:
				fmt.Fprintf(o.IO.Out, "%s %s: removed %s\n", c.Name, h.Host, strings.Join(h.Remove.Removed, ", "))
			case h.Remove != nil:
				fmt.Fprintf(o.IO.Out, "%s %s: not installed, nothing to do\n", c.Name, h.Host)
			default:
				fmt.Fprintf(o.IO.Out, "%s %s: %s %s\n", c.Name, h.Host, h.State, h.Error)
			}
		}
	}
	if rec.State != messages.JobSucceeded {
		return &cmdutil.ExitCodeError{Code: 3, Err: fmt.Errorf("uninstall of %s failed on some hosts (job %s)", c.Name, rec.ID)}
	}
	return nil
}

func names(cs []comp.Component) []string {
	out := make([]string, len(cs))
	for i, c := range cs {
		out[i] = c.Name
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
