// Package component defines the stack's components as typed values: what
// each needs, where it runs and, for host components, the service an
// agent installs. The catalog is a list, so adding a component is adding
// one constructor to Catalog, never a case to a switch.
package component

import (
	"fmt"
	"sort"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

// Placement says who installs a component.
type Placement string

const (
	// Host components run as native systemd services that agents install.
	Host Placement = "host"
	// Cluster components run on K3s as Helm releases (installer/helm),
	// installed by the CLI with the cluster's kubeconfig.
	Cluster Placement = "cluster"
	// Nodes is K3s itself: a host service on every cluster node, each
	// with its own config, installed by `foundry cluster init`.
	Nodes Placement = "nodes"
)

// Desired is what the stack config asks of a component.
type Desired struct {
	Version string   // "" means the newest imported artifact
	Hosts   []string // host ids
	Flavor  string
}

// Component is one stack component.
type Component struct {
	Name        string
	Description string
	Placement   Placement
	// Requires must be installed first; After only orders the install
	// when both are in the stack (the seed's order).
	Requires []string
	After    []string
	// Desired reads the component's part of the stack config; ok is
	// false when the stack does not configure the component.
	Desired func(cfg *config.Config) (d Desired, ok bool)
	// The rest is for host components. ArtifactFile names the executable
	// to import; Service builds the host service from it.
	ArtifactFile func(d Desired) string
	Service      func(cfg *config.Config, d Desired, art messages.ArtifactRef) (messages.ServiceSpec, error)
	// Health is what status asks on each host.
	Health func(d Desired) messages.ServiceHealth
	// Report reads the component's own view from a host's status (the
	// version it serves, and state such as "sealed"); optional.
	Report func(s messages.ServiceStatus) (version, state string)
}

// Installable reports whether Foundry can install the component today.
func (c Component) Installable() bool {
	return c.Placement == Nodes || c.Placement == Cluster || c.Placement == Host && c.Service != nil
}

// Catalog is every component Foundry knows, host and cluster.
func Catalog() []Component {
	return withObservability(append([]Component{OpenBAO(), K3s(), Registry()}, clusterComponents()...))
}

// Find returns the named component of cs.
func Find(cs []Component, name string) (Component, error) {
	for _, c := range cs {
		if c.Name == name {
			return c, nil
		}
	}
	names := make([]string, 0, len(cs))
	for _, c := range cs {
		names = append(names, c.Name)
	}
	sort.Strings(names)
	return Component{}, fmt.Errorf("there is no component %q; see foundry component list (known: %v)", name, names)
}

// hostIDs turns the host names of the config into agent host ids.
func hostIDs(names []string) []string {
	out := make([]string, 0, len(names))
	for _, n := range names {
		if id, err := messages.HostIDFromName(n); err == nil {
			out = append(out, id)
		}
	}
	return out
}
