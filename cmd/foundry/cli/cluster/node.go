package cluster

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	comp "github.com/foundry-fleet/foundry/controller/component"
	stackconfig "github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/installer/k3s"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// NodeOptions are the inputs of node add and node remove.
type NodeOptions struct {
	Env
	Host    string
	Role    string
	Yes     bool
	DryRun  bool
	Timeout time.Duration
}

// NewCmdNodeAdd is `foundry cluster node add <host>`.
func NewCmdNodeAdd(f *cmdutil.Factory, runF func(context.Context, *NodeOptions) error) *cobra.Command {
	o := &NodeOptions{Env: NewEnv(f)}
	cmd := &cobra.Command{
		Use:   "add <host>",
		Short: "Install K3s on a Foundry host and join it to the cluster",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Host = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return NodeAddRun(cmd.Context(), o)
		},
	}
	cmd.Flags().StringVar(&o.Role, "role", "", "control-plane or worker (default: the host's role in cluster.nodes, else worker)")
	cmd.Flags().BoolVar(&o.DryRun, "dry-run", false, "print what the host would change; change nothing")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long to wait for the node to be Ready")
	return cmd
}

// NodeAddRun joins one host. The host must already run an agent; the
// cluster must exist (its token and kubeconfig are in the store).
func NodeAddRun(ctx context.Context, o *NodeOptions) error {
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	id, err := messages.HostIDFromName(o.Host)
	if err != nil {
		return err
	}
	rec, ok := s.hosts[id]
	if !ok {
		return fmt.Errorf("%s is not a Foundry host; run foundry host add %s first", o.Host, o.Host)
	}
	p, err := s.plan(false)
	if err != nil {
		return err
	}
	n, known := p.Find(id)
	switch {
	case o.Role != "" && o.Role != stackconfig.RoleControlPlane && o.Role != stackconfig.RoleWorker:
		return cmdutil.FlagErrorf("--role %q: use control-plane or worker", o.Role)
	case known && o.Role != "" && o.Role != n.Role():
		return fmt.Errorf("%s is a %s in cluster.nodes; change its role there, or leave --role out", id, n.Role())
	case !known:
		n = k3s.Node{Host: id, Address: rec.Address, Server: o.Role == stackconfig.RoleControlPlane, Join: p.APIURL()}
		if n.Address == "" {
			return fmt.Errorf("host %s has no known address; re-add it with foundry host add", id)
		}
		if n.Server && !p.HA {
			return fmt.Errorf("a second control-plane node needs components.k3s.ha: true (the first server must run embedded etcd from the start)")
		}
	}
	if n.Join == "" {
		return fmt.Errorf("%s is the cluster's first server; run foundry cluster init instead", id)
	}
	token, err := s.store.LoadToken(ctx, p.Name)
	if err != nil {
		return fmt.Errorf("the cluster has no join token yet (%w); run foundry cluster init first", err)
	}
	version, art, err := s.artifact(ctx)
	if err != nil {
		return err
	}
	r, err := applyNode(ctx, o.Env, s, p, n, version, art, token, o.DryRun)
	printHosts(o.IO, []comp.HostResult{r}, o.DryRun)
	if err != nil || o.DryRun {
		return err
	}
	kcl, err := s.kubeClient(ctx, p.Name)
	if err != nil {
		return err
	}
	wctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := kcl.WaitNodesReady(wctx, []string{id}, nil); err != nil {
		return fmt.Errorf("k3s runs on %s but its node is not Ready (%w); see foundry cluster node list", id, err)
	}
	if !known {
		fmt.Fprintf(o.IO.ErrOut, "note: %s is not in cluster.nodes; add it there (role: %s) so the config says what the cluster is\n", id, n.Role())
	}
	fmt.Fprintf(o.IO.Out, "%s joined cluster %s as %s and is Ready\n", id, p.Name, n.Role())
	return nil
}

// NewCmdNodeRemove is `foundry cluster node remove <host>`.
func NewCmdNodeRemove(f *cmdutil.Factory, runF func(context.Context, *NodeOptions) error) *cobra.Command {
	o := &NodeOptions{Env: NewEnv(f)}
	cmd := &cobra.Command{
		Use:   "remove <host>",
		Short: "Drain a node, delete it and uninstall K3s from its host (the host stays a Foundry host)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Host = args[0]
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return NodeRemoveRun(cmd.Context(), o)
		},
	}
	cmd.Flags().BoolVarP(&o.Yes, "yes", "y", false, "do not ask for confirmation")
	cmd.Flags().DurationVar(&o.Timeout, "timeout", 5*time.Minute, "how long the drain may take")
	return cmd
}

// NodeRemoveRun cordons and drains the node (evictions respect
// PodDisruptionBudgets), has the agent stop and remove k3s with its data,
// then deletes the Node. It refuses to remove the last control-plane node.
func NodeRemoveRun(ctx context.Context, o *NodeOptions) error {
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	id, err := messages.HostIDFromName(o.Host)
	if err != nil {
		return err
	}
	name := clusterName(s.cfg)
	kcl, err := s.kubeClient(ctx, name)
	if err != nil {
		return err
	}
	nodes, err := kcl.Nodes(ctx)
	if err != nil {
		return err
	}
	var found, server bool
	servers := 0
	for _, n := range nodes {
		cp := slices.Contains(n.Roles, "control-plane")
		if cp {
			servers++
		}
		if n.Name == id {
			found, server = true, cp
		}
	}
	if !found {
		return fmt.Errorf("%s is not a node of cluster %s; see foundry cluster node list", id, name)
	}
	if server && servers <= 1 {
		return fmt.Errorf("%s is the cluster's last control-plane node; removing it would end the cluster (add another control-plane node first)", id)
	}
	if err := cmdutil.Confirm(o.IO, o.Yes, fmt.Sprintf("Drain %s, delete its node and uninstall k3s from it?", id)); err != nil {
		return err
	}
	errOut := o.IO.ErrOut
	fmt.Fprintf(errOut, "cordoning and draining %s\n", id)
	dctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := kcl.Cordon(ctx, id); err != nil {
		return err
	}
	if err := kcl.Drain(dctx, id, o.Timeout, func(p kube.DrainProgress) {
		fmt.Fprintf(errOut, "  %d/%d pods evicted and gone%s\n", p.Gone, p.Total, blocked(p))
	}); err != nil {
		return fmt.Errorf("drain %s: %w; the node stays cordoned: fix what blocks it and run the command again", id, err)
	}
	// k3s goes before the Node object: a kubelet that still runs would
	// register its node again.
	fmt.Fprintf(errOut, "uninstalling k3s from %s\n", id)
	rec, err := comp.RunJob(ctx, s.cl, messages.VerbServiceRemove, []string{id}, messages.ServiceQuery{Component: messages.K3sComponent, Purge: true}, nil)
	if err != nil {
		return err
	}
	rs := comp.Results(rec)
	if len(rs) != 1 || rs[0].State != messages.HostOK {
		msg := "no answer"
		if len(rs) == 1 {
			msg = orState(rs[0])
		}
		return fmt.Errorf("k3s could not be removed from %s: %s (job %s); the node stays drained and cordoned: run the command again once the agent answers", id, msg, rec.ID)
	}
	if err := kcl.DeleteNode(ctx, id); err != nil {
		return fmt.Errorf("k3s is removed from %s but its node could not be deleted (%w); run the command again", id, err)
	}
	fmt.Fprintf(o.IO.Out, "%s removed from cluster %s: drained, node deleted, k3s and its data removed; it is still a Foundry host\n", id, name)
	return nil
}

func blocked(p kube.DrainProgress) string {
	if len(p.Blocked) == 0 {
		return ""
	}
	var out []string
	for pod, why := range p.Blocked {
		out = append(out, pod+": "+why)
	}
	sort.Strings(out)
	return "; blocked: " + strings.Join(out, ", ")
}
