package cluster

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/foundry-fleet/foundry/cmd/foundry/cli/cmdutil"
	clicomp "github.com/foundry-fleet/foundry/cmd/foundry/cli/component"
	comp "github.com/foundry-fleet/foundry/controller/component"
	"github.com/foundry-fleet/foundry/installer/k3s"
	"github.com/foundry-fleet/foundry/installer/kube"
	"github.com/foundry-fleet/foundry/messages"
)

// ReadOptions are the inputs of node list and status.
type ReadOptions struct {
	Env
	JSON bool
}

// errNotAllWell makes a view that had to name something missing, stale or
// not Ready exit non-zero, after printing everything it knows.
var errNotAllWell = errors.New("not every node is Ready and reachable")

// exitNotAllWell is the exit code of such a view (as fleet status uses
// for missing hosts).
const exitNotAllWell = 3

func readCmd(f *cmdutil.Factory, use, short string, run func(context.Context, *ReadOptions) error, runF func(context.Context, *ReadOptions) error) *cobra.Command {
	o := &ReadOptions{Env: NewEnv(f)}
	cmd := &cobra.Command{Use: use, Short: short, Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if runF != nil {
				return runF(cmd.Context(), o)
			}
			return run(cmd.Context(), o)
		}}
	cmd.Flags().BoolVar(&o.JSON, "json", false, "print as JSON")
	return cmd
}

// NewCmdNodeList is `foundry cluster node list`.
func NewCmdNodeList(f *cmdutil.Factory, runF func(context.Context, *ReadOptions) error) *cobra.Command {
	return readCmd(f, "list", "List the cluster's nodes from the API, joined with each host's Foundry state", NodeListRun, runF)
}

// NewCmdStatus is `foundry cluster status`.
func NewCmdStatus(f *cmdutil.Factory, runF func(context.Context, *ReadOptions) error) *cobra.Command {
	return readCmd(f, "status", "API health, version, nodes, system pods, etcd members and k3s on each host", StatusRun, runF)
}

// NodeRow is one node as the API and Foundry see it. A node the config
// lists that the API does not know is a row too.
type NodeRow struct {
	kube.Node
	Registered   bool   `json:"registered"`
	HostState    string `json:"host_state"`
	AgentVersion string `json:"agent_version,omitempty"`
	LastSeen     string `json:"last_seen,omitempty"`
	Problem      string `json:"problem,omitempty"`
}

// nodeRows joins the API's nodes with the registry and the config's
// nodes: every node either side knows is a row.
func nodeRows(nodes []kube.Node, hosts map[string]messages.HostRecord, configured []string) []NodeRow {
	seen := map[string]bool{}
	var rows []NodeRow
	for _, n := range nodes {
		seen[n.Name] = true
		r := NodeRow{Node: n, Registered: true}
		rows = append(rows, withHost(r, hosts))
	}
	for _, h := range configured {
		if !seen[h] {
			rows = append(rows, withHost(NodeRow{Node: kube.Node{Name: h}, Problem: "in cluster.nodes but not registered with the API"}, hosts))
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].Name < rows[j].Name })
	return rows
}

func withHost(r NodeRow, hosts map[string]messages.HostRecord) NodeRow {
	h, ok := hosts[r.Name]
	if !ok {
		r.HostState = "not a Foundry host"
		return r
	}
	r.HostState = h.State
	r.AgentVersion = h.Facts.AgentVersion
	if h.LastSeen > 0 {
		r.LastSeen = time.UnixMilli(h.LastSeen).UTC().Format(time.RFC3339)
	}
	if r.Problem == "" && r.Registered && !r.Ready {
		r.Problem = "not Ready"
	}
	if r.Problem == "" && h.State != messages.StateOnline {
		r.Problem = "host " + h.State
	}
	return r
}

// NodeListRun prints the nodes. It exits non-zero when a node is not
// Ready, not registered, or its host is not online.
func NodeListRun(ctx context.Context, o *ReadOptions) error {
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	kcl, err := s.kubeClient(ctx, clusterName(s.cfg))
	if err != nil {
		return err
	}
	nodes, err := kcl.Nodes(ctx)
	if err != nil {
		return fmt.Errorf("the cluster's API does not answer (%w); see foundry cluster status", err)
	}
	rows := nodeRows(nodes, s.hosts, configuredNodes(s))
	if o.JSON {
		err = cmdutil.WriteJSON(o.IO.Out, rows)
	} else {
		err = printRows(o.IO, rows)
	}
	if err != nil {
		return err
	}
	return verdict(rows)
}

func verdict(rows []NodeRow) error {
	var bad []string
	for _, r := range rows {
		if r.Problem != "" {
			bad = append(bad, r.Name+" ("+r.Problem+")")
		}
	}
	if len(bad) > 0 {
		return &cmdutil.ExitCodeError{Code: exitNotAllWell, Err: fmt.Errorf("%w: %s", errNotAllWell, strings.Join(bad, ", "))}
	}
	return nil
}

func configuredNodes(s *session) []string {
	var out []string
	for _, n := range s.cfg.Cluster.Nodes {
		if id, err := messages.HostIDFromName(n.Hostname); err == nil {
			out = append(out, id)
		}
	}
	return out
}

func printRows(io *cmdutil.IOStreams, rows []NodeRow) error {
	t := cmdutil.NewTable(io, "NAME", "ROLES", "READY", "VERSION", "INTERNAL-IP", "AGE", "HOST", "AGENT", "PROBLEM")
	now := time.Now()
	for _, r := range rows {
		age, ready := "-", "-"
		if r.Registered {
			age = cmdutil.Ago(now.Sub(r.Created))
			ready = fmt.Sprint(r.Ready)
		}
		t.Row(r.Name, dash(strings.Join(r.Roles, ",")), ready, dash(r.KubeletVersion), dash(r.InternalIP), age, r.HostState, dash(r.AgentVersion), dash(r.Problem))
	}
	return t.Render()
}

func dash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// StatusResult is `cluster status`: the API's view and each host's k3s
// service as its agent reports it.
type StatusResult struct {
	Cluster string               `json:"cluster"`
	API     string               `json:"api"`
	VIPNote string               `json:"vip_note,omitempty"`
	Kube    *kube.ClusterStatus  `json:"kubernetes,omitempty"`
	APIErr  string               `json:"api_error,omitempty"`
	K3s     clicomp.StatusResult `json:"k3s_service"`
	Nodes   []NodeRow            `json:"nodes,omitempty"`
}

// StatusRun reports the cluster. Every configured node is accounted for;
// anything not healthy makes the exit code non-zero.
func StatusRun(ctx context.Context, o *ReadOptions) error {
	s, err := o.open(ctx)
	if err != nil {
		return err
	}
	defer s.close()
	p, err := s.plan(false)
	if err != nil {
		return err
	}
	res := StatusResult{Cluster: p.Name, API: p.APIURL()}
	if p.VIP != "" {
		res.VIPNote = fmt.Sprintf("the API address is the VIP %s, which Foundry does not hold (keepalived or kube-vip must)", p.VIP)
	}
	var problems []string
	if kcl, err := s.kubeClient(ctx, p.Name); err != nil {
		res.APIErr = err.Error()
	} else if st, err := kcl.Status(ctx); err != nil {
		res.APIErr = err.Error()
	} else {
		res.Kube = &st
		if nodes, err := kcl.Nodes(ctx); err == nil {
			res.Nodes = nodeRows(nodes, s.hosts, configuredNodes(s))
		}
	}
	if res.APIErr != "" {
		problems = append(problems, "API: "+res.APIErr)
	} else if !res.Kube.Readyz.OK {
		problems = append(problems, fmt.Sprintf("API /readyz answers HTTP %d", res.Kube.Readyz.Code))
	}
	hosts := make([]string, 0, len(p.Nodes))
	for _, n := range p.Nodes {
		hosts = append(hosts, n.Host)
	}
	k := comp.Component{Name: messages.K3sComponent, Health: func(comp.Desired) messages.ServiceHealth { return messages.ServiceHealth{} }}
	res.K3s, err = statusOnHosts(ctx, o.Env, s, p, hosts, k)
	if err != nil {
		return err
	}
	for _, h := range res.K3s.Hosts {
		if !h.Healthy {
			problems = append(problems, "k3s on "+h.Host+": "+dash(orState(h.HostResult)))
		}
	}
	for _, r := range res.Nodes {
		if r.Problem != "" {
			problems = append(problems, r.Name+": "+r.Problem)
		}
	}
	// The controller cannot read the cluster; the web view shows what
	// this run saw of it. Reporting never fails the status.
	clicomp.ReportCluster(ctx, o.Env.Env, s.cl, []messages.ClusterComponentStatus{k3sReport(res, s.cfg.Components.K3s.Version, time.Now())})
	if o.JSON {
		if err := cmdutil.WriteJSON(o.IO.Out, res); err != nil {
			return err
		}
	} else if err := printStatus(o.IO, res); err != nil {
		return err
	}
	if len(problems) > 0 {
		return &cmdutil.ExitCodeError{Code: exitNotAllWell, Err: fmt.Errorf("cluster %s is not healthy: %s", p.Name, strings.Join(problems, "; "))}
	}
	return nil
}

// k3sReport is the cluster's part of cluster status, for the web view:
// the API's health and version and every node row (K3s's service on each
// node is in the controller's job records already). It is healthy when
// the API is ready and no node has a problem.
func k3sReport(res StatusResult, desired string, checked time.Time) messages.ClusterComponentStatus {
	s := messages.ClusterComponentStatus{Component: messages.K3sComponent, Cluster: res.Cluster, Desired: desired, CheckedAt: checked.UnixMilli()}
	switch k := res.Kube; {
	case k == nil:
		s.Status = "API not reachable: " + res.APIErr
	case !k.Readyz.OK:
		s.Status, s.AppVersion = fmt.Sprintf("API /readyz failing (HTTP %d)", k.Readyz.Code), k.Version
	default:
		s.Status, s.AppVersion, s.Healthy = fmt.Sprintf("API ready, %d/%d nodes Ready", k.NodesReady, k.NodesTotal), k.Version, true
	}
	for _, n := range res.Nodes {
		s.Nodes = append(s.Nodes, messages.ClusterNodeStatus{Name: n.Name, Ready: n.Ready, Roles: strings.Join(n.Roles, ","),
			Version: n.KubeletVersion, Problem: n.Problem})
		if n.Problem != "" {
			s.Healthy = false
		}
	}
	return clicomp.CleanReport(s)
}

// statusOnHosts asks each node's agent about its k3s service, with the
// health URL of the node's own role.
func statusOnHosts(ctx context.Context, e Env, s *session, p k3s.Plan, hosts []string, k comp.Component) (clicomp.StatusResult, error) {
	out := clicomp.StatusResult{Component: messages.K3sComponent}
	for _, servers := range []bool{true, false} {
		var group []string
		var probe k3s.Node
		for _, n := range p.Nodes {
			if n.Server == servers {
				group = append(group, n.Host)
				probe = n
			}
		}
		if len(group) == 0 {
			continue
		}
		spec := k3s.Spec(p, probe, "", messages.ArtifactRef{}, "")
		k.Health = func(comp.Desired) messages.ServiceHealth { return spec.Health }
		r, err := clicomp.Status(ctx, e.Env, s.cl, k, comp.Desired{Hosts: group})
		if err != nil {
			return out, err
		}
		out.Job = r.Job
		out.Hosts = append(out.Hosts, r.Hosts...)
	}
	return out, nil
}

func printStatus(io *cmdutil.IOStreams, r StatusResult) error {
	w := io.Out
	fmt.Fprintf(w, "cluster %s, API %s\n", r.Cluster, r.API)
	if r.VIPNote != "" {
		fmt.Fprintln(w, "note: "+r.VIPNote)
	}
	if r.Kube != nil {
		k := r.Kube
		readyz := "ok"
		if !k.Readyz.OK {
			readyz = fmt.Sprintf("failing (HTTP %d)", k.Readyz.Code)
		}
		fmt.Fprintf(w, "readyz: %s; version %s; nodes Ready %d/%d; system pods ready %d/%d\n", readyz, k.Version, k.NodesReady, k.NodesTotal, k.SystemPodsReady, len(k.SystemPods))
		if len(k.Etcd) > 0 {
			var ms []string
			for _, m := range k.Etcd {
				ms = append(ms, fmt.Sprintf("%s (ready %v)", m.Name, m.Ready))
			}
			fmt.Fprintf(w, "etcd members: %s\n", strings.Join(ms, ", "))
		}
	} else {
		fmt.Fprintf(w, "API: not reachable: %s\n", r.APIErr)
	}
	if len(r.Nodes) > 0 {
		if err := printRows(io, r.Nodes); err != nil {
			return err
		}
	}
	return clicomp.PrintStatus(io, []clicomp.StatusResult{r.K3s})
}
