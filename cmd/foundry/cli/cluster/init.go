package cluster

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/installer/k3s"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// InitOptions are `cluster init`'s inputs.
type InitOptions struct {
	Env
	SingleNode bool
	DryRun     bool
	JSON       bool
	// Timeout bounds the wait for every node to be Ready.
	Timeout time.Duration
}

// NewCmdInit is `foundry cluster init`.
func NewCmdInit(f *cmdutil.Factory, runF func(context.Context, *InitOptions) error) *cobra.Command {
	o := &InitOptions{Env: NewEnv(f)}
	cmd := &cobra.Command{
		Use:   "init",
		Short: "Install K3s on the config's nodes (servers first, then workers) and wait until every node is Ready",
		Long: `Installs K3s through each host's agent: the first control-plane node
initialises the cluster (--cluster-init when components.k3s.ha is true),
the other servers and the workers join it. The join token is made by
Foundry and kept with the operator's secrets (OpenBAO, else a 0600 file),
as is the admin kubeconfig fetched from the first server. Re-running it
changes nothing on a cluster that is as configured.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return InitRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVar(&o.SingleNode, "single-node", false, "install only the first control-plane node")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what each host would change; change nothing")
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print the result as JSON")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", defaultWait, "how long to wait for every node to be Ready")
	return cmd
}

// InitResult is what init did, for --json.
type InitResult struct {
	Cluster    string            `json:"cluster"`
	API        string            `json:"api"`
	DryRun     bool              `json:"dry_run,omitempty"`
	Changed    bool              `json:"changed"`
	Hosts      []comp.HostResult `json:"hosts"`
	Kubeconfig string            `json:"kubeconfig_stored_in,omitempty"`
	Nodes      []NodeRow         `json:"nodes,omitempty"`
	Notes      []string          `json:"notes,omitempty"`
	// Steps is where the time went, in order (the benchmark's breakdown).
	Steps []Step `json:"steps,omitempty"`
}

// Step is one timed part of init.
type Step struct {
	Name    string  `json:"name"`
	Seconds float64 `json:"seconds"`
}

func (r *InitResult) timed(name string, since time.Time) {
	r.Steps = append(r.Steps, Step{Name: name, Seconds: time.Since(since).Seconds()})
}

// defaultWait bounds the wait for Ready nodes.
const defaultWait = 5 * time.Minute

// InitRun installs the cluster and prints what it did.
func InitRun(ctx context.Context, o *InitOptions) error {
	res, err := initCluster(ctx, o)
	return o.finish(res, err)
}

// initCluster installs the cluster; InitRun and stack install print its
// result their own way.
func initCluster(ctx context.Context, o *InitOptions) (InitResult, error) {
	var res InitResult
	s, err := o.open(ctx)
	if err != nil {
		return res, err
	}
	defer s.close()
	p, err := s.plan(o.SingleNode)
	if err != nil {
		return res, err
	}
	version, art, err := s.artifact(ctx)
	if err != nil {
		return res, err
	}
	res = InitResult{Cluster: p.Name, API: p.APIURL(), DryRun: o.DryRun}
	if p.VIP != "" {
		res.Notes = append(res.Notes, fmt.Sprintf("the API address is the VIP %s; Foundry does not hold it (run keepalived or kube-vip on the servers)", p.VIP))
	}
	token, err := o.token(ctx, s, p)
	if err != nil {
		return res, err
	}
	errOut := o.IO.ErrOut
	for _, line := range p.Describe() {
		fmt.Fprintln(errOut, "  "+line)
	}
	// Servers one at a time (each joins the etcd the others form), then
	// every worker at once.
	servers, agents := p.Servers(), p.Agents()
	for _, n := range servers {
		t0 := time.Now()
		r, err := applyNode(ctx, o.Env, s, p, n, version, art, token, o.DryRun)
		res.timed("k3s server on "+n.Host, t0)
		res.Hosts = append(res.Hosts, r)
		res.Changed = res.Changed || changed(r)
		if err != nil {
			return res, err
		}
	}
	t0 := time.Now()
	rs, err := applyAll(ctx, o.Env, s, p, agents, version, art, token, o.DryRun)
	if len(agents) > 0 {
		res.timed(fmt.Sprintf("k3s agents on %d host(s)", len(agents)), t0)
	}
	res.Hosts = append(res.Hosts, rs...)
	for _, r := range rs {
		res.Changed = res.Changed || changed(r)
	}
	if err != nil {
		return res, err
	}
	if o.DryRun {
		return res, nil
	}
	t0 = time.Now()
	kc, where, err := fetchKubeconfig(ctx, s, p)
	res.timed("kubeconfig fetched and stored", t0)
	if err != nil {
		return res, err
	}
	res.Kubeconfig = where
	kcl, err := kube.New(kc)
	if err != nil {
		return res, err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	names := make([]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		names = append(names, n.Host)
	}
	fmt.Fprintf(errOut, "waiting for %d node(s) to be Ready\n", len(names))
	t0 = time.Now()
	err = kcl.WaitNodesReady(wctx, names, func(ready, total int, notReady []string) {
		fmt.Fprintf(errOut, "  %d/%d nodes Ready\n", ready, total)
	})
	res.timed("every node Ready", t0)
	if err != nil {
		return res, fmt.Errorf("the cluster is installed but not every node is Ready (%w); see foundry cluster node list", err)
	}
	nodes, err := kcl.Nodes(ctx)
	res.Nodes = nodeRows(nodes, s.hosts, nil)
	return res, err
}

// token is the cluster's join token: the stored one, or a new one kept
// before any host sees it, so a failed init re-runs with the same token.
// A dry run neither makes nor stores one.
func (o *InitOptions) token(ctx context.Context, s *session, p k3s.Plan) (string, error) {
	t, err := s.store.LoadToken(ctx, p.Name)
	switch {
	case err == nil:
		return t, nil
	case !notFound(err):
		return "", err
	}
	t, err = k3s.NewToken()
	if err != nil || o.DryRun {
		return t, err
	}
	if _, err := s.store.SaveToken(ctx, p.Name, t); err != nil {
		return "", fmt.Errorf("keep the new k3s join token: %w", err)
	}
	return t, nil
}

func (o *InitOptions) finish(res InitResult, err error) error {
	if o.JSON {
		if jerr := cmdutil.WriteJSON(o.IO.Out, res); jerr != nil && err == nil {
			err = jerr
		}
		return err
	}
	printHosts(o.IO, res.Hosts, res.DryRun)
	for _, n := range res.Notes {
		fmt.Fprintln(o.IO.ErrOut, "note: "+n)
	}
	if err != nil {
		return err
	}
	if res.DryRun {
		fmt.Fprintf(o.IO.Out, "dry run: nothing was changed; the API would be %s\n", res.API)
		return nil
	}
	if len(res.Nodes) > 0 {
		if err := printRows(o.IO, res.Nodes); err != nil {
			return err
		}
	}
	for _, st := range res.Steps {
		fmt.Fprintf(o.IO.ErrOut, "  %-40s %6.1fs\n", st.Name, st.Seconds)
	}
	verdict := "unchanged"
	if res.Changed {
		verdict = "installed"
	}
	fmt.Fprintf(o.IO.Out, "cluster %s %s; API %s; kubeconfig in %s\n", res.Cluster, verdict, res.API, res.Kubeconfig)
	return nil
}

func changed(r comp.HostResult) bool { return r.Apply != nil && r.Apply.Changed }

// applyNode runs service_apply (or service_plan) of k3s on one host as a
// job and fails with the host's own error.
func applyNode(ctx context.Context, e Env, s *session, p k3s.Plan, n k3s.Node, version string, art messages.ArtifactRef, token string, dry bool) (comp.HostResult, error) {
	verb := messages.VerbServiceApply
	if dry {
		verb = messages.VerbServicePlan
	}
	spec := k3s.Spec(p, n, version, art, token)
	fmt.Fprintf(e.IO.ErrOut, "%s k3s %s on %s (%s)\n", map[bool]string{true: "planning", false: "installing"}[dry], version, n.Host, n.Role())
	rec, err := comp.RunJob(ctx, s.cl, verb, []string{n.Host}, spec, nil)
	if err != nil {
		return comp.HostResult{Host: n.Host, State: messages.HostNotReached, Error: err.Error()}, err
	}
	rs := comp.Results(rec)
	if len(rs) != 1 {
		return comp.HostResult{Host: n.Host, State: messages.HostNotReached}, fmt.Errorf("job %s did not account for host %s", rec.ID, n.Host)
	}
	r := rs[0]
	if r.State != messages.HostOK {
		return r, fmt.Errorf("k3s on %s: %s (job %s); fix the cause and run the command again: every step checks first", n.Host, orState(r), rec.ID)
	}
	return r, nil
}

// applyAll installs several nodes at once and reports every one.
func applyAll(ctx context.Context, e Env, s *session, p k3s.Plan, nodes []k3s.Node, version string, art messages.ArtifactRef, token string, dry bool) ([]comp.HostResult, error) {
	out := make([]comp.HostResult, len(nodes))
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	for i, n := range nodes {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = applyNode(ctx, e, s, p, n, version, art, token, dry)
		}()
	}
	wg.Wait()
	return out, errors.Join(errs...)
}

func orState(r comp.HostResult) string {
	if r.Error != "" {
		return r.Error
	}
	return r.State
}

// printHosts is the per-host, per-step table shared with component verbs.
func printHosts(io *cmdutil.IOStreams, hosts []comp.HostResult, dry bool) {
	clicomp.PrintOutcome(io, clicomp.Outcome{Component: messages.K3sComponent, DryRun: dry, Hosts: hosts})
}
