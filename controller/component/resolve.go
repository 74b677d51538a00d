package component

import (
	"fmt"

	"github.com/foundry-fleet/foundry/controller/config"
	"github.com/foundry-fleet/foundry/messages"
)

// Target is a host component resolved against the stack config and the
// artifact store: which version goes on which hosts, as one service spec.
type Target struct {
	Component Component
	Desired   Desired
	Spec      messages.ServiceSpec
}

// Overrides come from flags and win over the config.
type Overrides struct {
	Version string
	Hosts   []string
}

// Resolve builds the target for c. A version left open (no flag, none in
// the config) is the newest one imported, since hosts have no internet
// to find "latest" on.
func Resolve(cfg *config.Config, c Component, o Overrides, arts []messages.Artifact) (Target, error) {
	if c.Placement == Nodes {
		return Target{}, fmt.Errorf("component %s is installed on the cluster's nodes by foundry cluster init (or foundry stack install)", c.Name)
	}
	if c.Placement == Cluster {
		return Target{}, fmt.Errorf("component %s is a Helm release on the cluster, not a host service; install it with foundry component install %s", c.Name, c.Name)
	}
	if !c.Installable() {
		return Target{}, fmt.Errorf("component %s cannot be installed by Foundry yet", c.Name)
	}
	d, ok := c.Desired(cfg)
	if !ok {
		return Target{}, fmt.Errorf("component %s is not in the stack config; add components.%s to it", c.Name, c.Name)
	}
	if o.Version != "" {
		d.Version = o.Version
	}
	if len(o.Hosts) > 0 {
		d.Hosts = hostIDs(o.Hosts)
	}
	if len(d.Hosts) == 0 {
		return Target{}, fmt.Errorf("component %s has no hosts; list them under components.%s.hosts or pass --host", c.Name, c.Name)
	}
	file := c.ArtifactFile(d)
	if d.Version == "" {
		d.Version = Newest(arts, c.Name, file)
		if d.Version == "" {
			return Target{}, fmt.Errorf("no %s artifact is imported; run foundry artifact import %s <version> <path to %s>", c.Name, c.Name, file)
		}
	}
	if err := messages.ValidVersion(d.Version); err != nil {
		return Target{}, err
	}
	art, err := findArtifact(arts, c.Name, d.Version, file)
	if err != nil {
		return Target{}, err
	}
	spec, err := c.Service(cfg, d, art)
	if err != nil {
		return Target{}, err
	}
	if err := spec.Validate(); err != nil {
		return Target{}, fmt.Errorf("component %s: %w", c.Name, err)
	}
	return Target{Component: c, Desired: d, Spec: spec}, nil
}

func findArtifact(arts []messages.Artifact, component, version, file string) (messages.ArtifactRef, error) {
	for _, a := range arts {
		if a.Component == component && a.Version == version && a.File == file {
			if !a.Verified {
				return messages.ArtifactRef{}, fmt.Errorf("artifact %s is not usable (%s)", a.ObjectName(), a.Problem)
			}
			return a.ArtifactRef, nil
		}
	}
	return messages.ArtifactRef{}, fmt.Errorf("artifact %s is not imported; run foundry artifact import %s %s <path to %s>",
		messages.ArtifactObjectName(component, version, file), component, version, file)
}

// Newest is the highest imported version of component's file, or "".
func Newest(arts []messages.Artifact, component, file string) string {
	best := ""
	for _, a := range arts {
		if a.Component == component && a.File == file && a.Verified && (best == "" || CompareVersions(a.Version, best) > 0) {
			best = a.Version
		}
	}
	return best
}

// CompareVersions orders component versions; see
// messages.CompareVersions, which the agent uses too, so both sides
// agree on what an upgrade is.
func CompareVersions(a, b string) int { return messages.CompareVersions(a, b) }
