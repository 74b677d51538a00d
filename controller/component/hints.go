package component

import "fmt"

// NoHosts explains why a component has no hosts to act on, with the fix
// that fits where it runs: only host services have components.<name>.hosts
// in the schema, so suggesting that key for a cluster component sends the
// user to a config validate error.
func NoHosts(c Component, configured bool) error {
	switch {
	case c.Placement == Cluster && !configured:
		return fmt.Errorf("component %s runs in the Kubernetes cluster and is not in the stack config; add components.%s (no hosts: it runs on the cluster's nodes)", c.Name, c.Name)
	case c.Placement == Cluster:
		return fmt.Errorf("component %s runs in the Kubernetes cluster, not on hosts of its own; see the cluster with foundry cluster status", c.Name)
	case c.Placement == Nodes:
		return fmt.Errorf("component %s runs on the cluster's nodes; list them under cluster.nodes (and add components.%s if it is missing)", c.Name, c.Name)
	case !configured:
		return fmt.Errorf("component %s is not in the stack config; add components.%s with its hosts under components.%s.hosts", c.Name, c.Name, c.Name)
	}
	return fmt.Errorf("component %s has no hosts in the stack config; list them under components.%s.hosts", c.Name, c.Name)
}
