// Package k3s turns the stack config into what each host's agent needs to
// run K3s: which hosts are servers and which agents, who initialises the
// cluster and whom the others join, and the files and service spec for
// each. Everything here is a pure function of its inputs, so a re-run
// renders the same bytes and the agents' check-then-change finds nothing
// to do.
package k3s

import (
	"fmt"
	"net/netip"
	"sort"
	"strings"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

// APIPort is where every K3s server serves the Kubernetes API.
const APIPort = 6443

// Node is one host of the cluster.
type Node struct {
	// Host is the Foundry host id; it is also the Kubernetes node name,
	// so the two views join on it.
	Host    string
	Address string // the address the other nodes reach it on
	Server  bool
	Labels  map[string]string
	Taints  []string
	// Init is set on the first server of an HA cluster (--cluster-init);
	// Join is the server URL every other node joins.
	Init bool
	Join string
}

// Role is "control-plane" or "worker", as the config and the CLI say it.
func (n Node) Role() string {
	if n.Server {
		return config.RoleControlPlane
	}
	return config.RoleWorker
}

// Plan is the whole cluster: servers first (the first one first), then
// agents, in the order they are installed.
type Plan struct {
	Name  string
	HA    bool
	VIP   string
	Nodes []Node
	// APIAddress is where joins and the kubeconfig point: the VIP when
	// there is one, else the first server.
	APIAddress string
	// Settings shared by every server's config.
	TLSSANs     []string
	Disable     []string
	ClusterCIDR string
	ServiceCIDR string
	// Mirror is the stack's registry ("host:port"), or "" when the
	// stack has none.
	Mirror string
}

// Servers and Agents split the plan's nodes.
func (p Plan) Servers() []Node { return p.filter(true) }

// Agents are the worker nodes.
func (p Plan) Agents() []Node { return p.filter(false) }

func (p Plan) filter(server bool) []Node {
	var out []Node
	for _, n := range p.Nodes {
		if n.Server == server {
			out = append(out, n)
		}
	}
	return out
}

// Find returns the node of a host.
func (p Plan) Find(host string) (Node, bool) {
	for _, n := range p.Nodes {
		if n.Host == host {
			return n, true
		}
	}
	return Node{}, false
}

// APIURL is the URL of the API that joins and the kubeconfig use.
func (p Plan) APIURL() string { return ServerURL(p.APIAddress) }

// ServerURL is the K3s API URL of an address.
func ServerURL(addr string) string {
	if a, err := netip.ParseAddr(addr); err == nil && a.Is6() {
		addr = "[" + addr + "]"
	}
	return fmt.Sprintf("https://%s:%d", addr, APIPort)
}

// Options steer NewPlan beyond the config.
type Options struct {
	// SingleNode keeps only the first control-plane node.
	SingleNode bool
	// Addresses maps host ids to the address each was added with (the
	// registry's); a node's configured address wins.
	Addresses map[string]string
	// Mirror is the stack registry's "host:port", or "".
	Mirror string
}

// NewPlan reads the cluster from the stack config. It refuses what k3s
// would refuse later, on a host, half-way: no control-plane node, several
// servers without ha, a node whose address is unknown.
func NewPlan(cfg *config.Config, o Options) (Plan, error) {
	k := cfg.Components.K3s
	if k == nil {
		return Plan{}, fmt.Errorf("the stack config has no components.k3s; add it (an empty k3s: {} takes the defaults)")
	}
	p := Plan{Name: cfg.Cluster.Name, HA: k.HA, VIP: k.VIP, Disable: sorted(k.Disable), ClusterCIDR: k.ClusterCIDR,
		ServiceCIDR: k.ServiceCIDR, Mirror: o.Mirror}
	if p.Name == "" {
		p.Name = "default"
	}
	var servers, agents []Node
	for _, cn := range cfg.Cluster.Nodes {
		id, err := messages.HostIDFromName(cn.Hostname)
		if err != nil {
			return Plan{}, fmt.Errorf("cluster node %q: %w", cn.Hostname, err)
		}
		addr := cn.Address
		if addr == "" {
			addr = o.Addresses[id]
		}
		if addr == "" {
			return Plan{}, fmt.Errorf("host %s has no known address; add it to Foundry first with foundry host add %s, or set its address in cluster.nodes", id, cn.Hostname)
		}
		n := Node{Host: id, Address: addr, Server: cn.Role == config.RoleControlPlane, Labels: cn.Labels, Taints: cn.Taints}
		if n.Server {
			servers = append(servers, n)
		} else {
			agents = append(agents, n)
		}
	}
	if len(servers) == 0 {
		return Plan{}, fmt.Errorf("the stack config has no control-plane node; set role: control-plane on at least one of cluster.nodes")
	}
	if o.SingleNode {
		servers, agents = servers[:1], nil
		p.HA = false
	}
	if len(servers) > 1 && !p.HA {
		return Plan{}, fmt.Errorf("the stack config has %d control-plane nodes but components.k3s.ha is false; set ha: true for several servers, or use --single-node", len(servers))
	}
	p.APIAddress = servers[0].Address
	if p.VIP != "" && !o.SingleNode {
		p.APIAddress = p.VIP
	}
	for i := range servers {
		switch {
		case i == 0:
			servers[i].Init = p.HA
		default:
			servers[i].Join = p.APIURL()
		}
	}
	for i := range agents {
		agents[i].Join = p.APIURL()
	}
	p.Nodes = append(servers, agents...)
	sans := map[string]bool{}
	for _, s := range servers {
		sans[s.Address] = true
		sans[s.Host] = true
	}
	if p.VIP != "" {
		sans[p.VIP] = true
	}
	for _, s := range k.TLSSANs {
		sans[s] = true
	}
	for s := range sans {
		p.TLSSANs = append(p.TLSSANs, s)
	}
	sort.Strings(p.TLSSANs)
	return p, nil
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// labelList renders labels as k3s's node-label list, sorted so the
// rendering is stable.
func labelList(m map[string]string) []string {
	out := make([]string, 0, len(m))
	for k, v := range m {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

// Describe is one line per node for --dry-run and progress.
func (p Plan) Describe() []string {
	var out []string
	for _, n := range p.Nodes {
		how := "joins " + n.Join
		switch {
		case n.Server && n.Init:
			how = "initialises the cluster (--cluster-init)"
		case n.Server && n.Join == "":
			how = "single server"
		}
		out = append(out, fmt.Sprintf("%s (%s, %s): %s", n.Host, n.Address, strings.Replace(n.Role(), "-", " ", 1), how))
	}
	return out
}
